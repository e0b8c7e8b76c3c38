// TCP on the interface: listeners, the connection table, demultiplexing, resets for
// segments nobody owns, and the output of connections with something to send.
//
// Read first: RFC 9293 3.10 (event processing), 3.5 (reset generation), RFC 6528 (initial
// sequence numbers), RFC 6056 (ephemeral ports).

import SiroccoDevices
import SiroccoWire

public enum TCPListenError: Error, Equatable, Sendable {
  case portInUse(UInt16)
  /// The host's sockets refused (the socket stack on unix), for this reason.
  case host(String)
}

public enum TCPConnectError: Error, Equatable, Sendable {
  case noPortAvailable
  case invalidDestination
  /// The interface holds `maximumTCPConnections` already.
  case tooManyConnections
  /// The host's sockets refused (the socket stack on unix), for this reason.
  case host(String)
}

extension TCPListenError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .portInUse(let port): "port " + String(port) + " is already listening"
    case .host(let reason): reason
    }
  }
}

extension TCPConnectError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .noPortAvailable: "no ephemeral port is free"
    case .invalidDestination: "not a unicast destination"
    case .tooManyConnections: "the interface holds its maximum of TCP connections"
    case .host(let reason): reason
    }
  }
}

/// A passive open: connections to `port` are accepted here (RFC 9293 LISTEN).
public final class TCPListener {
  public let port: UInt16
  /// Connections established or being established, at most (RFC 9293 3.10.1: a backlog).
  public let backlog: Int
  unowned(unsafe) let interface: Interface
  let configuration: TCPConnection.Configuration
  var ready: BoundedQueue<TCPConnection>
  var embryonic = 0
  public private(set) var isClosed = false

  init(port: UInt16, backlog: Int, interface: Interface, configuration: TCPConnection.Configuration) {
    self.port = port
    self.backlog = backlog
    self.interface = interface
    self.configuration = configuration
    ready = BoundedQueue(capacity: backlog)
  }

  /// The next established connection, if any.
  public func accept() -> TCPConnection? { ready.pop() }

  /// Stops listening; connections already accepted are unaffected.
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    interface.tcpListeners[port] = nil
    while let connection = ready.pop() { connection.abort() }
  }

  var isFull: Bool { ready.count + embryonic >= backlog }

  func established(_ connection: TCPConnection) {
    embryonic -= 1
    if isClosed || !ready.push(connection) { connection.abort() }
  }
}

extension Interface {
  /// Listens on `port` for connections.
  public func listenTCP(
    port: UInt16, backlog: Int = 128, configuration: TCPConnection.Configuration = TCPConnection.Configuration()
  ) throws(TCPListenError) -> TCPListener {
    precondition(port != 0 && backlog > 0, "listen on a port, with room for a connection")
    guard tcpListeners[port] == nil else { throw .portInUse(port) }
    let listener = TCPListener(port: port, backlog: backlog, interface: self, configuration: configuration)
    tcpListeners[port] = listener
    return listener
  }

  /// Opens a connection to `address`:`port` (active open); it becomes established, or fails
  /// with `error`, after later polls.
  public func connectTCP(
    to address: IPv4Address, port: UInt16, now: Instant,
    configuration: TCPConnection.Configuration = TCPConnection.Configuration()
  ) throws(TCPConnectError) -> TCPConnection {
    guard port != 0, !address.isUnspecified, !address.isBroadcast, !address.isMulticast,
      address != ipv4.broadcastAddress || ipv4.prefixLength >= 31
    else { throw .invalidDestination }
    // The bound holds for connections in every state, ours as well as the peers' (found by
    // Scripts/fuzz interface: only passive opens were checked).
    guard tcpConnections.count < self.configuration.maximumTCPConnections else { throw .tooManyConnections }
    let first = UInt16(49152)
    let range = 65536 - Int(first)
    let start = Int(random.next() % UInt64(range))
    var chosen: TCPEndpoints?
    for step in 0..<range {
      let candidate = TCPEndpoints(localPort: first + UInt16((start + step) % range), remoteAddress: address, remotePort: port)
      if tcpConnections[candidate] == nil, tcpListeners[candidate.localPort] == nil {
        chosen = candidate
        break
      }
    }
    guard let endpoints = chosen else { throw .noPortAvailable }
    let connection = TCPConnection(
      endpoints: endpoints, interface: self, configuration: configuration, state: .synSent,
      initialSequence: initialSequence(for: endpoints, now: now))
    connection.congestionWindow = connection.initialWindow
    tcpConnections[endpoints] = connection
    tcpReady(connection)
    return connection
  }

  /// RFC 6528: ISN = M + F(local address, local port, remote address, remote port, secret),
  /// M a 4-microsecond clock, F SipHash-2-4 keyed with a secret drawn at start.
  func initialSequence(for endpoints: TCPEndpoints, now: Instant) -> SequenceNumber {
    var hash = SipHash24(key0: tcpSecret.0, key1: tcpSecret.1)
    hash.append(ipv4.address.rawValue)
    hash.append(endpoints.localPort)
    hash.append(endpoints.remoteAddress.rawValue)
    hash.append(endpoints.remotePort)
    let clock = UInt32(truncatingIfNeeded: now.nanoseconds / 4000)
    return SequenceNumber(clock &+ UInt32(truncatingIfNeeded: hash.finalize()))
  }

  /// Marks a connection as having something to send on the next flush.
  func tcpReady(_ connection: TCPConnection) {
    guard !connection.isQueuedForOutput else { return }
    connection.isQueuedForOutput = true
    tcpTransmitReady.append(connection)
  }

  /// Removes a closed connection from the table.
  func tcpForget(_ connection: TCPConnection) {
    if tcpConnections[connection.endpoints] === connection { tcpConnections[connection.endpoints] = nil }
    if let listener = connection.listener {
      listener.embryonic -= 1
      connection.listener = nil
    }
  }

  func processTCP<Device: NetworkDevice>(
    _ segment: UnsafeRawBufferPointer, header: IPv4Header, isBroadcast: Bool, now: Instant, device: Device
  ) {
    let tcp: TCPHeader
    do {
      tcp = try TCPHeader.parse(
        segment, source: header.source, destination: header.destination, verifyChecksum: verifyTransportChecksum)
    } catch {
      return counters.drop(error == .badChecksum ? .badTCPChecksum : .malformedTCP)
    }
    // RFC 9293 3.10.7.1: nothing for broadcast or multicast destinations.
    guard !isBroadcast, tcp.destinationPort != 0, tcp.sourcePort != 0 else { return counters.drop(.malformedTCP) }
    let payload = segment.suffix(from: tcp.headerLength)
    let endpoints = TCPEndpoints(localPort: tcp.destinationPort, remoteAddress: header.source, remotePort: tcp.sourcePort)
    // A new SYN for a connection in TIME-WAIT reopens it when its sequence number (or its
    // timestamp) is past the old incarnation's (RFC 9293 3.6.1, RFC 6191).
    if let old = tcpConnections[endpoints], old.state == .timeWait, tcp.flags.contains(.syn), !tcp.flags.contains(.ack),
      !tcp.flags.contains(.rst), tcpListeners[tcp.destinationPort] != nil
    {
      let newerSequence = SequenceNumber(tcp.sequenceNumber) - old.rcvNxt > 0
      let newerTimestamp = old.timestampsEnabled
        && tcp.options.timestamp.map { Int32(bitPattern: $0.value &- old.timestampRecent) > 0 } ?? false
      if newerSequence || newerTimestamp { old.enterClosed(error: nil) }
    }
    if let connection = tcpConnections[endpoints] {
      counters.tcpSegmentsReceived &+= 1
      connection.receive(tcp, payload: payload, now: now)
      // A timer the segment started (a delayed ACK) must wake the interface.
      noteDeadline(of: connection)
      return
    }
    // A SYN for a listener (RFC 9293 3.10.7.2).
    if let listener = tcpListeners[tcp.destinationPort], tcp.flags.contains(.syn), !tcp.flags.contains(.ack),
      !tcp.flags.contains(.rst)
    {
      guard !listener.isFull, tcpConnections.count < configuration.maximumTCPConnections else {
        // A flood, or a slow application: answer with a cookie while accepted connections
        // can still be queued (RFC 4987 3.6); otherwise drop.
        guard !listener.ready.isFull else { return counters.drop(.tcpBacklogFull) }
        counters.tcpSegmentsReceived &+= 1
        return sendCookie(for: endpoints, syn: tcp, now: now)
      }
      counters.tcpSegmentsReceived &+= 1
      let connection = TCPConnection(
        endpoints: endpoints, interface: self, configuration: listener.configuration, state: .synReceived,
        initialSequence: initialSequence(for: endpoints, now: now))
      connection.irs = SequenceNumber(tcp.sequenceNumber)
      connection.rcvNxt = connection.irs + 1
      connection.acceptOptions(of: tcp)
      connection.sndWnd = Int(tcp.window)  // never scaled on a SYN (RFC 7323 2.2)
      connection.synNeedsSending = true
      connection.listener = listener
      listener.embryonic += 1
      tcpConnections[endpoints] = connection
      tcpReady(connection)
      return
    }
    // The ACK that completes a cookie handshake.
    if let listener = tcpListeners[tcp.destinationPort],
      let connection = connectionFromCookie(tcp, endpoints: endpoints, listener: listener, now: now)
    {
      counters.tcpSegmentsReceived &+= 1
      if !payload.isEmpty || tcp.flags.contains(.fin) { connection.receive(tcp, payload: payload, now: now) }
      noteDeadline(of: connection)
      return
    }
    // Nobody owns it: a reset (RFC 9293 3.10.7.1), except in answer to a reset.
    counters.drop(.noTCPConnection)
    guard !tcp.flags.contains(.rst) else { return }
    if tcp.flags.contains(.ack) {
      sendReset(for: endpoints, sequence: SequenceNumber(tcp.acknowledgmentNumber), acknowledgment: nil)
    } else {
      let length = payload.count + (tcp.flags.contains(.syn) ? 1 : 0) + (tcp.flags.contains(.fin) ? 1 : 0)
      sendReset(for: endpoints, sequence: SequenceNumber(0), acknowledgment: SequenceNumber(tcp.sequenceNumber) + length)
    }
  }

  /// Takes one challenge ACK from this second's interface-wide budget, if any is left.
  func takeChallengeACK(now: Instant) -> Bool {
    if challengeACKSecond.map({ (now - $0).nanoseconds >= 1_000_000_000 }) ?? true {
      challengeACKSecond = now
      let limit = max(configuration.challengeACKLimit, 1)
      challengeACKsLeft = limit / 2 + Int(random.next() % UInt64(limit))
    }
    guard challengeACKsLeft > 0 else { return false }
    challengeACKsLeft -= 1
    return true
  }

  /// Keeps `nextTCPDeadline` no later than `connection`'s deadline.
  func noteDeadline(of connection: TCPConnection) {
    if let deadline = connection.deadline, nextTCPDeadline.map({ deadline < $0 }) ?? true { nextTCPDeadline = deadline }
  }

  /// Queues a RST (sent on the next flush).
  func sendReset(for endpoints: TCPEndpoints, sequence: SequenceNumber, acknowledgment: SequenceNumber?) {
    guard pendingResets.count < 64 else { return }
    pendingResets.append((endpoints, sequence, acknowledgment))
  }

  /// Sends a segment for `connection`: the header, and `payloadLength` bytes of its send
  /// buffer from `dataOffset`, copied straight into the frame.
  func transmitTCP<Device: NetworkDevice>(
    _ header: TCPHeader, from connection: TCPConnection, payloadLength: Int, dataOffset: Int, device: Device, now: Instant
  ) {
    let length = header.headerLength + payloadLength
    let source = ipv4.address
    let destination = connection.endpoints.remoteAddress
    // With checksum offload the device completes the checksum; a segment longer than the
    // MSS (TSO) it also cuts into MSS-sized segments.
    let checksumOffload = device.offloads.contains(.transmitChecksum)
    let headers = EthernetHeader.minimumLength + IPv4Header.minimumLength
    let offload = checksumOffload
      ? TransmitOffload(
        checksumStart: headers, checksumOffset: TCPHeader.checksumOffset, headerLength: headers + header.headerLength,
        segmentSize: payloadLength > connection.sendMSS ? connection.sendMSS : 0)
      : nil
    let sent = sendIPv4(to: destination, protocol: .tcp, payloadLength: length, now: now, device: device, offload: offload) { segment in
      if payloadLength > 0 {
        _ = connection.sendBuffer.peek(at: dataOffset, into: segment.slice(from: header.headerLength, length: payloadLength))
      }
      header.emit(into: segment, source: source, destination: destination, fillChecksum: !checksumOffload)
    }
    if sent { counters.tcpSegmentsSent &+= 1 }
  }

  /// Sends queued resets, runs expired timers, and lets every connection with something to
  /// say send it.
  func flushTCP<Device: NetworkDevice>(now: Instant, device: Device) {
    if !pendingCookies.isEmpty {
      let cookies = pendingCookies
      pendingCookies = []
      for cookie in cookies {
        let header = TCPHeader(
          sourcePort: cookie.endpoints.localPort, destinationPort: cookie.endpoints.remotePort,
          sequenceNumber: cookie.sequence, acknowledgmentNumber: cookie.acknowledgment, flags: [.syn, .ack],
          window: 65535, options: TCPOptions(maximumSegmentSize: cookie.mss))
        let source = ipv4.address
        sendIPv4(
          to: cookie.endpoints.remoteAddress, protocol: .tcp, payloadLength: header.headerLength, now: now, device: device
        ) { segment in
          header.emit(into: segment, source: source, destination: cookie.endpoints.remoteAddress)
        }
      }
    }
    if !pendingResets.isEmpty {
      let resets = pendingResets
      pendingResets = []
      for reset in resets {
        var flags: TCPFlags = .rst
        if reset.acknowledgment != nil { flags.insert(.ack) }
        let header = TCPHeader(
          sourcePort: reset.endpoints.localPort, destinationPort: reset.endpoints.remotePort,
          sequenceNumber: reset.sequence.rawValue, acknowledgmentNumber: reset.acknowledgment?.rawValue ?? 0,
          flags: flags, window: 0)
        let source = ipv4.address
        let sent = sendIPv4(
          to: reset.endpoints.remoteAddress, protocol: .tcp, payloadLength: header.headerLength, now: now, device: device
        ) { segment in
          header.emit(into: segment, source: source, destination: reset.endpoints.remoteAddress)
        }
        if sent { counters.tcpResetsSent &+= 1 }
      }
    }
    // `nextTCPDeadline` is never later than any connection's deadline: only connections that
    // received or sent can have moved theirs, and they lower it below. It may be earlier (a
    // timer since stopped): then this finds nothing due and scans for the true one. So the
    // connections are scanned once per timer that comes due, not on every flush.
    if let next = nextTCPDeadline, next <= now {
      var earliest: Instant?
      for connection in Array(tcpConnections.values) {
        if connection.deadline.map({ $0 <= now }) ?? false { connection.timersExpired(now: now) }
        if connection.state != .closed, let deadline = connection.deadline, earliest.map({ deadline < $0 }) ?? true {
          earliest = deadline
        }
      }
      nextTCPDeadline = earliest
    }
    while !tcpTransmitReady.isEmpty {
      let ready = tcpTransmitReady
      tcpTransmitReady = []
      for connection in ready {
        connection.isQueuedForOutput = false
        connection.output(now: now, device: device)
        noteDeadline(of: connection)
      }
    }
  }
}
