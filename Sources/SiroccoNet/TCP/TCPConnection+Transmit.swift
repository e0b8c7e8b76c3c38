// Output: SYN and SYN-ACK with their options, data within the send and congestion windows,
// FIN after the data, and ACKs (every segment carries the latest).

import SiroccoDevices
import SiroccoWire

extension TCPConnection {
  /// Sends what is due: a SYN, data, a FIN, or an ACK. Called by the stack's flush.
  func output<Sink: TCPSegmentSink>(now: Instant, sink: Sink) {
    switch state {
    case .closed:
      return
    case .synSent, .synReceived:
      // Before the handshake completes, every reply is our SYN (or SYN-ACK) again.
      if synNeedsSending || sndNxt == iss || (ackNeeded && state == .synReceived) {
        sendSYN(now: now, sink: sink)
        synNeedsSending = false
      } else if ackNeeded {
        sendSegment(flags: .ack, sequence: sndNxt, payloadLength: 0, now: now, sink: sink)
      }
      ackNeeded = false
      return
    default:
      break
    }
    var sent = false
    var sentNew = false
    var pipe = self.pipe
    // Limited transmit (RFC 3042): each of the first two duplicate ACKs lets one new segment
    // out, so the ACK clock keeps going and a loss is found without a timeout.
    let limitedTransmit = recoveryPoint == nil && duplicateAcks > 0 && duplicateAcks < 3 ? duplicateAcks * sendMSS : 0
    // 1. Lost segments first, lowest first (RFC 6675 NextSeg rule 1), while the pipe leaves
    //    room; after a timeout this is slow start over what the peer does not hold.
    if lostBytes > 0 {
      var index = 0
      while index < flight.count, lostBytes > 0, retransmitFirstLost || congestionWindow - pipe > 0 {
        if flight[index].isLost {
          retransmit(at: index, now: now, sink: sink)
          pipe += flight[index].length
          retransmitFirstLost = false
          sent = true
        }
        index += 1
      }
    }
    // 2. New data, within the send window from sndUna and the congestion window less the
    //    pipe (RFC 5681 2, RFC 6675 rule 2); a zero-window probe is one byte past a closed
    //    window (RFC 9293 3.8.6.1).
    let largest = largestSegment(sink: sink)
    var sendWindow = sndWnd
    if probeDue {
      probeDue = false
      if sndWnd == 0, sndMax == sndUna { sendWindow = 1 }
    }
    while true {
      let offset = sndMax - dataStart
      let unsent = sendBuffer.count - offset
      // The congestion window counts whole segments, as Linux's does: while it has room at
      // all, a full segment may go (no small segments from a window of odd size).
      let congestionRoom = congestionWindow + limitedTransmit - pipe
      let room = min(sendWindow - (sndMax - sndUna), congestionRoom > 0 ? max(congestionRoom, sendMSS) : 0)
      guard unsent > 0, room > 0 else { break }
      var length = min(unsent, room, largest)
      // A segment the device cuts (TSO) carries whole segments, but for the last bytes.
      if length > sendMSS, length < unsent { length -= length % sendMSS }
      // Nagle (RFC 1122 4.2.3.4): while data is in flight, a less-than-full segment waits,
      // unless the application asked for no delay or is closing.
      if length < sendMSS, sndMax != sndUna, !configuration.noDelay, !finRequested { break }
      sendNew(length: length, now: now, sink: sink)
      pipe += length
      sent = true
      sentNew = true
    }
    // FIN once all data went out.
    if finRequested, finSequence == nil, sndMax == dataStart + sendBuffer.count {
      finSequence = sndMax
      sendSegment(flags: [.ack, .fin], sequence: sndMax, payloadLength: 0, now: now, sink: sink)
      recordSent(start: sndMax, length: 1, isFIN: true, now: now)
      sndMax += 1
      sndNxt = sndMax
      switch state {
      case .established, .synReceived: state = .finWait1
      case .closeWait: state = .lastAck
      default: break
      }
      sent = true
      sentNew = true
    }
    // 3. The tail loss probe, when its timer fired (RFC 8985 7.3).
    if tailProbeDue {
      tailProbeDue = false
      if sendTailProbe(now: now, sink: sink) { sent = true }
    }
    if keepAliveProbeDue {
      // A keep-alive probe: one old sequence number, so the peer answers with an ACK.
      keepAliveProbeDue = false
      if !sent { sendSegment(flags: .ack, sequence: sndUna + -1, payloadLength: 0, now: now, sink: sink) }
      sent = true
    }
    if !sent, ackNeeded {
      for _ in 0..<max(1, min(acksOwed, 16)) {
        sendSegment(flags: .ack, sequence: sndNxt, payloadLength: 0, now: now, sink: sink)
      }
    }
    ackNeeded = false
    acksOwed = 0
    if sndUna != sndMax, rtoDeadline == nil { rtoDeadline = Instant(nanoseconds: now.nanoseconds &+ rto) }
    if sentNew, probeDeadline == nil { scheduleTailProbe(now: now) }
    // Data waits behind a closed window with nothing in flight: probe it (persist timer).
    let unsentData = sendBuffer.count - (sndMax - dataStart) > 0 || (finRequested && finSequence == nil)
    if sndWnd == 0, unsentData, sndMax == sndUna, persistDeadline == nil {
      persistDeadline = Instant(nanoseconds: now.nanoseconds &+ persistInterval())
    }
  }

  /// The most payload one segment carries: the MSS, or with segmentation offload as many
  /// whole MSS-sized segments as fit in a 64 KiB IP packet.
  func largestSegment<Sink: TCPSegmentSink>(sink: Sink) -> Int {
    guard sink.offloads.isSuperset(of: [.transmitChecksum, .tcpSegmentation]) else { return sendMSS }
    let most = 65535 - endpoints.localAddress.headerLength - TCPHeader.maximumLength
    return max(most / sendMSS, 1) * sendMSS
  }

  /// Sends `length` new bytes at sndMax and records them in flight.
  func sendNew<Sink: TCPSegmentSink>(length: Int, now: Instant, sink: Sink) {
    let offset = sndMax - dataStart
    let push = length == sendBuffer.count - offset
    sendSegment(flags: push ? [.ack, .psh] : .ack, sequence: sndMax, payloadLength: length, dataOffset: offset, now: now, sink: sink)
    recordSent(start: sndMax, length: length, isFIN: false, now: now)
    sndMax += length
    sndNxt = sndMax
  }

  func sendSYN<Sink: TCPSegmentSink>(now: Instant, sink: Sink) {
    let isReply = state == .synReceived
    var options = TCPOptions(maximumSegmentSize: UInt16(clamping: localMSS), sackPermitted: !isReply || sackEnabled)
    // Offer (or, answering a SYN, accept) window scaling and timestamps (RFC 7323).
    if !isReply || windowScalingEnabled { options.windowScale = receiveWindowShift }
    if !isReply || timestampsEnabled {
      options.timestamp = TCPOptions.Timestamp(value: timestampClock(now), echoReply: isReply ? timestampRecent : 0)
    }
    let header = TCPHeader(
      sourcePort: endpoints.localPort, destinationPort: endpoints.remotePort, sequenceNumber: iss.rawValue,
      acknowledgmentNumber: isReply ? rcvNxt.rawValue : 0, flags: isReply ? [.syn, .ack] : .syn,
      window: UInt16(clamping: receiveWindow), options: options)
    if rttSample == nil, retransmissions == 0 { rttSample = (iss, now) }
    sink.transmit(header, from: self, payloadLength: 0, dataOffset: 0, now: now)
    sndNxt = iss + 1
    if sndMax < sndNxt { sndMax = sndNxt }
    rtoDeadline = Instant(nanoseconds: now.nanoseconds &+ rto)
    if isReply { advertisedEdge = rcvNxt + receiveWindow }
  }

  /// Sends one segment: `payloadLength` bytes of the send buffer from `dataOffset`.
  func sendSegment<Sink: TCPSegmentSink>(
    flags: TCPFlags, sequence: SequenceNumber, payloadLength: Int, dataOffset: Int = 0, now: Instant, sink: Sink
  ) {
    var options = TCPOptions()
    if timestampsEnabled { options.timestamp = TCPOptions.Timestamp(value: timestampClock(now), echoReply: timestampRecent) }
    if sackEnabled, !outOfOrder.isEmpty || duplicateData != nil {
      // As many blocks as fit beside the payload: a full segment stays within the MSS (RFC
      // 9293 3.7.1). Found by Scripts/fuzz interface: full segments with SACK blocks went up
      // to 36 bytes past the MTU (dropped as oversized, or cut by TSO into frames too long).
      let room = sendMSS - min(payloadLength, sendMSS)
      let fit = min(timestampsEnabled ? 3 : 4, (room - 4) / 8)
      if fit > 0 { options.sackBlocks = sackBlocks(limit: fit) }
    }
    // The window never shrinks below what was advertised (RFC 9293 3.8.6.2.2).
    let window = max(receiveWindow, windowAdvertisedSpace)
    let scaled = min(window >> Int(receiveWindowShift), 65535)
    advertisedEdge = rcvNxt + (scaled << Int(receiveWindowShift))
    let header = TCPHeader(
      sourcePort: endpoints.localPort, destinationPort: endpoints.remotePort, sequenceNumber: sequence.rawValue,
      acknowledgmentNumber: rcvNxt.rawValue, flags: flags, window: UInt16(scaled), options: options)
    if payloadLength > 0, rttSample == nil, retransmissions == 0, sequence == sndMax {
      rttSample = (sequence, now)
    }
    if payloadLength > 0, sequence < sndMax { context.counters.tcpRetransmittedSegments &+= 1 }
    // The segment carries the latest acknowledgment: nothing is owed any more.
    delayedACKDeadline = nil
    unacknowledgedSegments = 0
    sink.transmit(header, from: self, payloadLength: payloadLength, dataOffset: dataOffset, now: now)
  }

  /// Milliseconds, for the timestamp option (RFC 7323 5.4: 1 ms to 1 s per tick).
  func timestampClock(_ now: Instant) -> UInt32 { UInt32(truncatingIfNeeded: now.nanoseconds / 1_000_000) }
}

extension TCPConnection {
  /// SACK blocks for what we hold out of order (RFC 2018 4): the range holding the latest
  /// arrival first, then the others, merged.
  func sackBlocks(limit: Int) -> SACKBlocks {
    var blocks = SACKBlocks()
    // A duplicate goes first, once (D-SACK, RFC 2883 4).
    if let duplicate = duplicateData {
      blocks.append(SACKBlock(left: duplicate.left.rawValue, right: duplicate.right.rawValue))
      duplicateData = nil
    }
    var ranges: [(left: SequenceNumber, right: SequenceNumber)] = []
    for piece in outOfOrder.sorted(by: { $0.sequence < $1.sequence }) {
      let right = piece.sequence + piece.bytes.count
      if let last = ranges.last, piece.sequence - last.right <= 0 {
        if last.right < right { ranges[ranges.count - 1].right = right }
      } else {
        ranges.append((piece.sequence, right))
      }
    }
    if let latest = latestOutOfOrder, let index = ranges.firstIndex(where: { $0.left - latest <= 0 && latest < $0.right }) {
      ranges.insert(ranges.remove(at: index), at: 0)
    }
    for range in ranges.prefix(limit - blocks.count) { blocks.append(SACKBlock(left: range.left.rawValue, right: range.right.rawValue)) }
    return blocks
  }
}
