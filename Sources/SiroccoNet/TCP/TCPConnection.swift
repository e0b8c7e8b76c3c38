// One TCP connection: its control block (RFC 9293 3.3.1), buffers, and the application's
// side of it (read, write, close). Segment arrival is in TCPConnection+Receive.swift, output
// in +Transmit, timers in +Timers; the stack demultiplexes (Stack+TCP.swift).
//
// Read first: RFC 9293 (the protocol), RFC 6298 (retransmission timer), RFC 5681
// (congestion control), RFC 7323 (window scale, timestamps), RFC 5961 (blind attacks).

import SiroccoDevices
import SiroccoWire

public enum TCPState: Equatable, Sendable {
  case synSent, synReceived, established, finWait1, finWait2, closeWait, closing, lastAck, timeWait, closed
}

extension TCPState: CustomStringConvertible {
  public var description: String {
    switch self {
    case .synSent: "SYN-SENT"
    case .synReceived: "SYN-RECEIVED"
    case .established: "ESTABLISHED"
    case .finWait1: "FIN-WAIT-1"
    case .finWait2: "FIN-WAIT-2"
    case .closeWait: "CLOSE-WAIT"
    case .closing: "CLOSING"
    case .lastAck: "LAST-ACK"
    case .timeWait: "TIME-WAIT"
    case .closed: "CLOSED"
    }
  }
}

/// Why a connection ended other than by an orderly close.
public enum TCPError: Error, Equatable, Sendable {
  /// The peer answered the SYN with a reset: nothing listens there.
  case refused
  /// The peer reset the connection.
  case reset
  /// Retransmissions went unanswered for too long.
  case timedOut
  /// The application aborted it.
  case aborted
  /// Our address on the connection was removed from its link (a lease that ended).
  case addressRemoved
}

extension TCPError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .refused: "connection refused"
    case .reset: "connection reset by peer"
    case .timedOut: "connection timed out"
    case .aborted: "connection aborted"
    case .addressRemoved: "local address removed"
    }
  }
}

/// The four numbers that name a connection, from our side.
struct TCPEndpoints: Hashable {
  var localAddress: IPAddress
  var localPort: UInt16
  var remoteAddress: IPAddress
  var remotePort: UInt16
}

public final class TCPConnection {
  public struct Configuration: Sendable {
    public var receiveBufferSize = 256 * 1024
    public var sendBufferSize = 256 * 1024
    /// Retransmission timer bounds (RFC 6298 2.4: at least 1 s is the conservative minimum;
    /// 200 ms, as Linux, keeps recovery quick on a LAN).
    public var minimumRTO: Duration = .milliseconds(200)
    public var maximumRTO: Duration = .seconds(60)
    public var initialRTO: Duration = .seconds(1)
    /// Retransmissions of one segment before the connection is given up.
    public var maximumRetransmissions = 12
    public var maximumSYNRetransmissions = 6
    /// Time in TIME-WAIT (2 MSL).
    public var timeWaitDuration: Duration = .seconds(60)
    /// Out-of-order bytes held beyond `rcvNxt` at most (bounded reassembly memory).
    public var outOfOrderLimit = 256 * 1024
    /// Send small segments at once instead of coalescing them while data is in flight
    /// (turns Nagle's algorithm, RFC 896 / RFC 1122 4.2.3.4, off: TCP_NODELAY).
    public var noDelay = false
    /// Longest delay of an ACK for in-order data (RFC 1122 4.2.3.2: under 500 ms; every
    /// second full segment is acknowledged at once).
    public var delayedACK: Duration = .milliseconds(40)
    /// Keep-alive probes after this long without traffic (RFC 1122 4.2.3.6: off by default).
    public var keepAlive: Duration?
    public var keepAliveInterval: Duration = .seconds(75)
    public var keepAliveProbes = 9
    /// CUBIC by default (RFC 9438), or NewReno.
    public var congestionControl = CongestionControl.cubic
    public init() {}
  }

  let endpoints: TCPEndpoints
  /// What the connection shares with its stack: it marks itself ready to send there, and the
  /// stack's next flush lets it hand its segments over (`TCPSegmentSink`).
  let context: SocketContext
  /// The MTU of the link the connection's route leaves by, when it was made.
  let mtu: Int
  let configuration: Configuration
  public internal(set) var state: TCPState
  public internal(set) var error: TCPError?

  // Send sequence variables (RFC 9293 3.3.1).
  var iss: SequenceNumber
  var sndUna: SequenceNumber
  var sndNxt: SequenceNumber
  /// The highest sequence number sent so far. Once the handshake is done it equals sndNxt:
  /// retransmissions come from the scoreboard (`flight`), not by moving sndNxt back.
  var sndMax: SequenceNumber
  var sndWnd = 0
  /// The largest window the peer ever offered (MAX.SND.WND, RFC 5961 5.2).
  var maximumSendWindow = 0
  var sndWl1 = SequenceNumber(0)
  var sndWl2 = SequenceNumber(0)
  var sendWindowShift: UInt8 = 0
  /// Bytes written and not yet acknowledged; the first is sequence number `dataStart`.
  var sendBuffer: ByteRing
  var dataStart: SequenceNumber
  var finRequested = false
  var finSequence: SequenceNumber?

  // Receive sequence variables.
  var irs = SequenceNumber(0)
  var rcvNxt = SequenceNumber(0)
  var receiveWindowShift: UInt8 = 0
  var receiveBuffer: ByteRing
  var outOfOrder: [(sequence: SequenceNumber, bytes: [UInt8])] = []
  var outOfOrderBytes = 0
  var finReceived = false
  /// Where the peer's FIN lies when it came before all the data ahead of it.
  var pendingFIN: SequenceNumber?
  /// The right edge of the window we last advertised (never moved left, RFC 9293 3.8.6.2.2).
  var advertisedEdge = SequenceNumber(0)

  // Options negotiated on the SYN.
  var peerMSS = 536
  var timestampsEnabled = false
  var timestampRecent: UInt32 = 0
  var windowScalingEnabled = false
  /// Both sides sent SACK-permitted (RFC 2018).
  var sackEnabled = false
  /// Data that arrived twice, reported once in the next ACK (D-SACK, RFC 2883).
  var duplicateData: (left: SequenceNumber, right: SequenceNumber)?
  /// The out-of-order range that changed last: it goes first in our SACK blocks.
  var latestOutOfOrder: SequenceNumber?

  // The scoreboard (TCPConnection+Recovery.swift): segments from sndUna to sndMax, and the
  // bytes among them the peer SACKed, that are lost, and (without SACK) that duplicate ACKs
  // say have left the network.
  var flight = SentSegments()
  var sackedBytes = 0
  var lostBytes = 0
  var renoSACKedBytes = 0
  var rack = RACKState()
  /// RACK's reordering timer: when a segment not yet lost would become so.
  var rackDeadline: Instant?
  /// The tail loss probe's timer, the probe's end while it is unanswered, and whether it
  /// resent data (RFC 8985 7).
  var probeDeadline: Instant?
  var tailProbeDue = false
  var probeEnd: SequenceNumber?
  var probeWasRetransmission = false
  /// Recovery began with a retransmission timeout (slow start), not a fast retransmit.
  var isTimeoutRecovery = false
  var retransmitFirstLost = false

  // Retransmission (RFC 6298) and congestion control (RFC 5681, NewReno RFC 6582).
  // In nanoseconds: Duration arithmetic would link 128-bit division into spt images.
  var rto: Int64
  var smoothedRTT: Int64?
  var rttVariance: Int64 = 0
  var rtoDeadline: Instant?
  var retransmissions = 0
  var rttSample: (sequence: SequenceNumber, sent: Instant)?
  var congestionWindow = 0
  var slowStartThreshold = Int.max
  var duplicateAcks = 0
  var recoveryPoint: SequenceNumber?
  var cubic = CubicState()

  var timeWaitDeadline: Instant?
  /// Zero-window probing (RFC 9293 3.8.6.1): when the next probe is due, and its backoff.
  var persistDeadline: Instant?
  var persistBackoff = 0
  var probeDue = false
  /// Delayed acknowledgment: when the ACK must leave at the latest, and full segments not
  /// yet acknowledged.
  var delayedACKDeadline: Instant?
  /// ACKs owed since the last output, each a segment of its own: a duplicate ACK per
  /// out-of-order segment (RFC 5681 4.2), a challenge ACK per blind RST or SYN (RFC 5961),
  /// even when several arrived in one poll.
  var acksOwed = 0
  /// Challenge ACKs sent in the current second (RFC 5961 7: rate-limited per connection).
  var challengeACKs = 0
  var challengeWindowStart = Instant.zero
  var unacknowledgedSegments = 0
  /// Keep-alive: when the next probe is due, and probes unanswered so far.
  var keepAliveDeadline: Instant?
  var keepAliveProbesSent = 0
  var keepAliveProbeDue = false
  /// Something must be sent on the next output: an ACK, a window update, a SYN-ACK.
  var ackNeeded = false
  var synNeedsSending = false
  /// The listener this connection will be handed to once established.
  var listener: TCPListener?
  /// Already in the stack's list of connections to output.
  var isQueuedForOutput = false
  /// Where the stack's timer wheel has this connection (TimerWheel.swift; the wheel's).
  var wheelDeadline: Instant?
  var wheelSlot = 0
  unowned(unsafe) var wheelNext: TCPConnection?
  unowned(unsafe) var wheelPrevious: TCPConnection?
  /// This connection's share of the stack's `tcpBufferedBytes` at the last count.
  var accountedBytes = 0

  init(
    endpoints: TCPEndpoints, context: SocketContext, mtu: Int, configuration: Configuration, state: TCPState,
    initialSequence: SequenceNumber
  ) {
    self.endpoints = endpoints
    self.context = context
    self.mtu = mtu
    self.configuration = configuration
    self.state = state
    iss = initialSequence
    sndUna = initialSequence
    sndNxt = initialSequence
    sndMax = initialSequence
    dataStart = initialSequence + 1
    sendBuffer = ByteRing(capacity: configuration.sendBufferSize)
    receiveBuffer = ByteRing(capacity: configuration.receiveBufferSize)
    rto = configuration.initialRTO.nanoseconds
    var shift: UInt8 = 0
    while shift < 14, (configuration.receiveBufferSize >> Int(shift)) > 65535 { shift += 1 }
    receiveWindowShift = shift
  }

  public var localAddress: IPAddress { endpoints.localAddress }
  public var localPort: UInt16 { endpoints.localPort }
  public var remoteAddress: IPAddress { endpoints.remoteAddress }
  public var remotePort: UInt16 { endpoints.remotePort }

  /// Our maximum segment size: the MTU less the IP header of the connection's family and
  /// the TCP header (RFC 9293 3.7.1; RFC 8200 8.3).
  var localMSS: Int { mtu - endpoints.localAddress.headerLength - TCPHeader.minimumLength }
  /// The payload of a full segment we send: the peer's MSS, less the options we carry.
  var sendMSS: Int { min(peerMSS, localMSS) - (timestampsEnabled ? 12 : 0) }

  // MARK: The application's side

  /// Bytes received and not yet read.
  public var availableBytes: Int { receiveBuffer.count }

  /// The peer has sent FIN and every byte before it has been read: reads return 0 from now on.
  public var isReceiveFinished: Bool { finReceived && receiveBuffer.isEmpty }

  /// Bytes `write` accepts now.
  public var writableBytes: Int {
    guard state == .established || state == .closeWait || state == .synSent || state == .synReceived, !finRequested else { return 0 }
    return min(sendBuffer.space, context.tcpMemoryAvailable)
  }

  /// Whether the connection can carry data both ways.
  public var isEstablished: Bool { state == .established }

  /// Moves up to `buffer.count` received bytes into `buffer`; returns how many.
  public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    let wasFull = receiveWindow == 0
    let count = receiveBuffer.read(into: buffer)
    accountMemory()
    // A window that opened from zero (or by a lot) is announced at once (RFC 9293 3.8.6.2.2).
    if count > 0, wasFull || receiveWindow >= min(receiveBuffer.capacity / 2, 2 * localMSS) + windowAdvertisedSpace {
      ackNeeded = true
      context.tcpReady(self)
    }
    return count
  }

  /// Up to `maximum` received bytes.
  public func read(maximum: Int = .max) -> [UInt8] {
    let count = min(maximum, receiveBuffer.count)
    guard count > 0 else { return [] }
    var bytes = [UInt8](repeating: 0, count: count)
    _ = bytes.withUnsafeMutableBytes { read(into: $0) }
    return bytes
  }

  /// Queues as much of `bytes` as the send buffer takes; returns how much (0: full, try
  /// again after the peer acknowledges; also 0 once the connection is closing or closed).
  @discardableResult
  public func write(_ bytes: UnsafeRawBufferPointer) -> Int {
    let allowed = writableBytes
    guard allowed > 0 else { return 0 }
    let count = sendBuffer.append(UnsafeRawBufferPointer(rebasing: bytes.prefix(allowed)))
    if count > 0 { context.tcpReady(self) }
    accountMemory()
    return count
  }

  @discardableResult
  public func write(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBytes { write($0) } }

  /// Half-closes: sends FIN after the data already written. Reading goes on until the peer
  /// closes too.
  public func close() {
    switch state {
    case .synSent:
      enterClosed(error: nil)
    case .synReceived, .established, .closeWait:
      if !finRequested {
        finRequested = true
        context.tcpReady(self)
      }
    default:
      break
    }
  }

  /// Resets the connection at once (RFC 9293 3.10.5 ABORT), discarding queued data.
  public func abort() {
    switch state {
    case .synReceived, .established, .finWait1, .finWait2, .closeWait:
      context.sendReset(for: endpoints, sequence: sndNxt, acknowledgment: nil)
    default:
      break
    }
    enterClosed(error: .aborted)
  }

  /// Brings the stack's count of buffered TCP bytes up to date with this connection's
  /// buffers (none once closed).
  func accountMemory() {
    let held = state == .closed ? 0 : receiveBuffer.count + sendBuffer.count + outOfOrderBytes
    context.tcpBufferedBytes += held - accountedBytes
    accountedBytes = held
  }

  /// Counts bytes just stored at once, so the next segment of the same poll sees them.
  func charge(_ bytes: Int) {
    context.tcpBufferedBytes += bytes
    accountedBytes += bytes
  }

  /// Bytes the receive window offers now: the room in the receive buffer from rcvNxt.
  /// Out-of-order data lies inside this window (held apart, bounded by `outOfOrderLimit`),
  /// so it does not shrink it: the window stays put while a hole is repaired, and the
  /// sender's duplicate-ACK count works (RFC 5681 2: an unchanged window).
  var receiveWindow: Int { receiveBuffer.space }

  /// Space we last told the peer about.
  var windowAdvertisedSpace: Int { max(advertisedEdge - rcvNxt, 0) }

  func enterClosed(error: TCPError?) {
    if self.error == nil { self.error = error }
    state = .closed
    accountMemory()
    rtoDeadline = nil
    timeWaitDeadline = nil
    rackDeadline = nil
    probeDeadline = nil
    context.closed(self)
  }
}

extension TCPConnection: CustomStringConvertible {
  public var description: String {
    "TCP \(localAddress):\(localPort) > \(remoteAddress):\(remotePort) \(state)"
  }
}
