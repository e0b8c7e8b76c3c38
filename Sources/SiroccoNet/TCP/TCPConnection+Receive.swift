// Segment arrival (RFC 9293 3.10.7), with the RFC 5961 checks against blind resets and
// SYNs, and cumulative-acknowledgment processing with RTT sampling (RFC 6298) and NewReno
// fast retransmit (RFC 5681 3.2, RFC 6582).

import SiroccoDevices
import SiroccoWire

extension TCPConnection {
  /// Handles one segment for this connection. `payload` is the segment's data.
  func receive(_ segment: TCPHeader, payload: UnsafeRawBufferPointer, now: Instant) {
    defer { accountMemory() }
    if state == .synSent { return receiveInSynSent(segment, now: now) }
    let sequence = SequenceNumber(segment.sequenceNumber)
    let length = payload.count + (segment.flags.contains(.syn) ? 1 : 0) + (segment.flags.contains(.fin) ? 1 : 0)

    // The peer's SYN again (our SYN-ACK was lost): send the SYN-ACK again, as Linux does.
    if state == .synReceived, segment.flags.contains(.syn), !segment.flags.contains(.ack), sequence == irs {
      synNeedsSending = true
      context.tcpReady(self)
      return
    }
    // PAWS (RFC 7323 5.3): a timestamp older than the last one seen marks an old duplicate.
    if timestampsEnabled, !segment.flags.contains(.rst), let timestamp = segment.options.timestamp,
      Int32(bitPattern: timestamp.value &- timestampRecent) < 0
    {
      context.counters.tcpPAWSRejected &+= 1
      ackNeeded = true
      context.tcpReady(self)
      return
    }
    // 1. Acceptability (RFC 9293 3.10.7.4, first check).
    guard isAcceptable(sequence, length: length) else {
      if !segment.flags.contains(.rst) {
        // Data we already hold: report it as a duplicate (D-SACK, RFC 2883), so the sender
        // learns its retransmission was spurious.
        if !payload.isEmpty, sequence + payload.count - rcvNxt <= 0 { duplicateData = (sequence, sequence + payload.count) }
        ackNeeded = true
        context.tcpReady(self)
      }
      return
    }
    heardFromPeer(now: now)
    // 2. RST: exactly at rcvNxt resets; elsewhere in the window, a challenge ACK (RFC 5961 3.2).
    if segment.flags.contains(.rst) {
      if sequence == rcvNxt {
        enterClosed(error: state == .synReceived && listener == nil ? .refused : .reset)
      } else {
        sendChallengeACK(now: now)
      }
      return
    }
    // 4. A SYN in a synchronized state: a challenge ACK (RFC 5961 4.2).
    if segment.flags.contains(.syn) {
      sendChallengeACK(now: now)
      return
    }
    // 5. ACK.
    guard segment.flags.contains(.ack) else { return }
    if let timestamp = segment.options.timestamp, timestampsEnabled, sequence - rcvNxt <= 0 {
      timestampRecent = timestamp.value
    }
    let acknowledgment = SequenceNumber(segment.acknowledgmentNumber)
    if state == .synReceived {
      guard sndUna < acknowledgment, acknowledgment - sndMax <= 0 else {
        context.sendReset(for: endpoints, sequence: acknowledgment, acknowledgment: nil)
        return
      }
      handshakeCompleted()
      state = .established
      heardFromPeer(now: now)  // the keep-alive clock starts with the connection
      sndWl1 = sequence
      sndWl2 = acknowledgment
      sndWnd = Int(segment.window) << Int(sendWindowShift)
      if let listener {
        self.listener = nil
        listener.established(self)
      }
    }
    guard processAcknowledgment(segment, acknowledgment: acknowledgment, sequence: sequence, dataLength: payload.count, now: now) else { return }

    // 7. Data.
    if !payload.isEmpty, state == .established || state == .finWait1 || state == .finWait2 {
      receiveData(payload, at: sequence, now: now)
    }
    // 8. FIN, once every byte before it arrived. One out of order is held until then (as
    //    its data is), with a duplicate ACK at once (RFC 5681 4.2).
    if segment.flags.contains(.fin), !finReceived, (sequence + payload.count) - rcvNxt > 0 {
      pendingFIN = sequence + payload.count
      if payload.isEmpty {
        ackNeeded = true
        acksOwed += 1
      }
    }
    if !finReceived, segment.flags.contains(.fin) && sequence + payload.count == rcvNxt || pendingFIN == rcvNxt {
      pendingFIN = nil
      finReceived = true
      rcvNxt += 1
      ackNeeded = true
      switch state {
      case .synReceived, .established: state = .closeWait
      case .finWait1: state = finAcknowledged ? .timeWait : .closing
      case .finWait2: state = .timeWait
      default: break
      }
      if state == .timeWait { timeWaitDeadline = now + configuration.timeWaitDuration }
    }
    if ackNeeded || !sendBuffer.isEmpty || finRequested { context.tcpReady(self) }
  }

  /// RFC 9293's four cases of segment length and receive window.
  func isAcceptable(_ sequence: SequenceNumber, length: Int) -> Bool {
    let window = max(receiveWindow, windowAdvertisedSpace)
    if length == 0 {
      return window == 0 ? sequence == rcvNxt : (sequence - rcvNxt >= 0 && sequence - rcvNxt < window)
    }
    guard window > 0 else { return false }
    let last = sequence + (length - 1)
    let startsInside = sequence - rcvNxt >= 0 && sequence - rcvNxt < window
    let endsInside = last - rcvNxt >= 0 && last - rcvNxt < window
    return startsInside || endsInside
  }

  var finAcknowledged: Bool {
    guard let finSequence else { return false }
    return sndUna - finSequence > 0
  }

  /// RFC 5961 3.2 and 4.2, at most ten a second per connection and the stack's budget
  /// over all of them (section 7).
  func sendChallengeACK(now: Instant) {
    if (now - challengeWindowStart).nanoseconds >= 1_000_000_000 {
      challengeWindowStart = now
      challengeACKs = 0
    }
    guard challengeACKs < 10, context.takeChallengeACK(now: now) else { return }
    challengeACKs += 1
    context.counters.tcpChallengeACKs &+= 1
    ackNeeded = true
    acksOwed += 1
    context.tcpReady(self)
  }

  /// Returns false when the segment must be dropped after the ACK check.
  func processAcknowledgment(
    _ segment: TCPHeader, acknowledgment: SequenceNumber, sequence: SequenceNumber, dataLength: Int, now: Instant
  ) -> Bool {
    // RFC 5961 5.2: an ACK outside [SND.UNA - MAX.SND.WND, SND.NXT], for data never sent
    // or older than any window the peer offered, is dropped (data and all: a blind data
    // injection must guess it) and answered with a challenge ACK.
    maximumSendWindow = max(maximumSendWindow, sndWnd)
    if acknowledgment - sndMax > 0 || sndUna - acknowledgment > max(maximumSendWindow, 1) {
      sendChallengeACK(now: now)
      return false
    }
    let window = Int(segment.window) << Int(sendWindowShift)
    let blocks = segment.options.sackBlocks
    var advanced = false
    if sndUna < acknowledgment {
      let acked = acknowledgment - sndUna
      removeAcknowledged(upTo: acknowledgment, now: now)
      let dataAcked = min(max(acknowledgment - dataStart, 0), sendBuffer.count)
      sendBuffer.discard(dataAcked)
      dataStart += dataAcked
      sndUna = acknowledgment
      if sndNxt < sndUna { sndNxt = sndUna }
      retransmissions = 0
      duplicateAcks = 0
      advanced = true
      if let sample = rttSample, acknowledgment - sample.sequence > 0 {
        updateRTT(now.nanoseconds &- sample.sent.nanoseconds)
        rttSample = nil
      }
      if let point = recoveryPoint {
        if acknowledgment - point >= 0 {
          // Recovery is over (RFC 6582 3.2 step 3, RFC 6675 5).
          recoveryPoint = nil
          isTimeoutRecovery = false
          renoSACKedBytes = 0
        } else if !sackEnabled {
          // A partial ACK without SACK: the next segment is lost too (RFC 6582 3.2 step 4).
          renoSACKedBytes = max(renoSACKedBytes - acked, 0)
          markFirstLost()
          retransmitFirstLost = true
        }
      } else {
        renoSACKedBytes = 0
      }
      if recoveryPoint == nil || isTimeoutRecovery { growCongestionWindow(acked: acked, now: now) }
      rtoDeadline = sndUna == sndMax ? nil : Instant(nanoseconds: now.nanoseconds &+ rto)
    } else if acknowledgment == sndUna, sndUna != sndMax, dataLength == 0,
              window == sndWnd || (sackEnabled && !blocks.isEmpty),
              !segment.flags.contains(.syn), !segment.flags.contains(.fin) {
      // A duplicate ACK (RFC 5681 2); with SACK, one that reports data above a hole counts
      // even if the window moved (receivers such as Linux grow it as they go, RFC 6675).
      duplicateAcks += 1
      if !sackEnabled {
        // Without SACK, each duplicate ACK stands for a segment that left the network.
        renoSACKedBytes = min(renoSACKedBytes + sendMSS, max(sndMax - sndUna - sendMSS, 0))
        if duplicateAcks == 3, recoveryPoint == nil {
          markFirstLost()
          enterRecovery(now: now)
        }
      }
      // Limited transmit (RFC 3042) or, in recovery, room the pipe made.
      context.tcpReady(self)
    }
    // A peer that answers our zero-window probes is alive, however long it stays closed.
    if sndWnd == 0, window == 0 { retransmissions = 0 }
    if sackEnabled {
      // D-SACK (RFC 2883): a first block at or below the cumulative ACK reports a duplicate.
      let duplicateReported = blocks.first.map { SequenceNumber($0.right) - acknowledgment <= 0 } ?? false
      if duplicateReported { self.duplicateReported() }
      if !blocks.isEmpty { recordSACK(blocks, now: now) }
      checkTailProbe(acknowledgment: acknowledgment, duplicateReported: duplicateReported, now: now)
      if sackedBytes > 0 || recoveryPoint != nil || rackDeadline != nil, detectLosses(now: now) {
        if recoveryPoint == nil { enterRecovery(now: now) }
        context.tcpReady(self)
      }
    }
    if advanced { scheduleTailProbe(now: now) }
    // The send window, from the most recent segment (RFC 9293 3.10.7.4, SND.WL1/WL2 rule).
    if sndWl1 < sequence || (sndWl1 == sequence && sndWl2 - acknowledgment <= 0) {
      sndWnd = window
      sndWl1 = sequence
      sndWl2 = acknowledgment
      if window > 0, persistDeadline != nil || persistBackoff > 0 {
        persistDeadline = nil
        persistBackoff = 0
        context.tcpReady(self)
      }
    }
    switch state {
    case .finWait1 where finAcknowledged: state = .finWait2
    case .closing where finAcknowledged:
      state = .timeWait
      timeWaitDeadline = now + configuration.timeWaitDuration
    case .lastAck where finAcknowledged:
      enterClosed(error: nil)
      return false
    case .timeWait:
      ackNeeded = true  // a retransmitted FIN: acknowledge it again, restart the wait
      timeWaitDeadline = now + configuration.timeWaitDuration
    default:
      break
    }
    return true
  }

  /// Puts in-order data in the receive buffer and keeps out-of-order data, bounded.
  func receiveData(_ payload: UnsafeRawBufferPointer, at sequence: SequenceNumber, now: Instant) {
    var bytes = payload
    var start = sequence
    // Trim what was already received.
    if start < rcvNxt {
      let old = rcvNxt - start
      guard old < bytes.count else { return }
      bytes = UnsafeRawBufferPointer(rebasing: bytes[old...])
      start = rcvNxt
    }
    // Trim what lies beyond the window.
    let room = receiveWindow
    let offset = start - rcvNxt
    if offset >= room { return }
    if offset + bytes.count > room { bytes = UnsafeRawBufferPointer(rebasing: bytes[0..<(room - offset)]) }
    if offset > 0 {
      // Out of order: a duplicate ACK at once (RFC 5681 4.2), so the sender learns of the hole.
      ackNeeded = true
      acksOwed += 1
      storeOutOfOrder(bytes, at: start)
      return
    }
    // The stack's bound on all buffers: what does not fit is dropped, to come again.
    if bytes.count > context.tcpMemoryAvailable {
      context.counters.drop(.tcpMemoryLimit)
      bytes = UnsafeRawBufferPointer(rebasing: bytes.prefix(context.tcpMemoryAvailable))
      if bytes.isEmpty { return }
    }
    let hadHoles = !outOfOrder.isEmpty
    let stored = receiveBuffer.append(bytes)
    charge(stored)
    rcvNxt += stored
    // Whatever was waiting and now follows on goes in too.
    var index = 0
    while index < outOfOrder.count {
      let piece = outOfOrder[index]
      if piece.sequence - rcvNxt > 0 {
        index += 1
        continue
      }
      outOfOrder.remove(at: index)
      outOfOrderBytes -= piece.bytes.count
      let skip = rcvNxt - piece.sequence
      if skip < piece.bytes.count {
        let appended = piece.bytes.withUnsafeBytes { receiveBuffer.append(UnsafeRawBufferPointer(rebasing: $0[skip...])) }
      charge(appended - piece.bytes.count)
        rcvNxt += appended
      }
      index = 0
    }
    // RFC 1122 4.2.3.2 / RFC 5681 4.2: acknowledge every second full segment at once, and
    // a segment that fills a hole; otherwise within the delayed-ACK time.
    // A coalesced segment (receive offload) of two full segments or more counts as two.
    unacknowledgedSegments += stored >= 2 * localMSS ? 2 : 1
    if hadHoles || unacknowledgedSegments >= 2 || configuration.delayedACK == .zero {
      ackNeeded = true
    } else if delayedACKDeadline == nil {
      delayedACKDeadline = now + configuration.delayedACK
    }
  }

  func storeOutOfOrder(_ bytes: UnsafeRawBufferPointer, at sequence: SequenceNumber) {
    guard outOfOrderBytes + bytes.count <= configuration.outOfOrderLimit else {
      context.counters.drop(.tcpOutOfOrderLimit)
      return
    }
    guard bytes.count <= context.tcpMemoryAvailable else {
      context.counters.drop(.tcpMemoryLimit)
      return
    }
    if outOfOrder.contains(where: { $0.sequence == sequence && $0.bytes.count >= bytes.count }) {
      duplicateData = (sequence, sequence + bytes.count)
      return
    }
    outOfOrder.append((sequence, [UInt8](bytes)))
    outOfOrderBytes += bytes.count
    charge(bytes.count)
    latestOutOfOrder = sequence
  }

  /// SYN-SENT (RFC 9293 3.10.7.3).
  func receiveInSynSent(_ segment: TCPHeader, now: Instant) {
    let acknowledgment = SequenceNumber(segment.acknowledgmentNumber)
    if segment.flags.contains(.ack), acknowledgment - iss <= 0 || acknowledgment - sndMax > 0 {
      if !segment.flags.contains(.rst) {
        context.sendReset(for: endpoints, sequence: acknowledgment, acknowledgment: nil)
      }
      return
    }
    if segment.flags.contains(.rst) {
      if segment.flags.contains(.ack) { enterClosed(error: .refused) }
      return
    }
    guard segment.flags.contains(.syn) else { return }
    irs = SequenceNumber(segment.sequenceNumber)
    rcvNxt = irs + 1
    advertisedEdge = rcvNxt  // no window advertised from rcvNxt yet
    acceptOptions(of: segment)
    if segment.flags.contains(.ack) {
      sndUna = acknowledgment
      rtoDeadline = sndUna == sndMax ? nil : Instant(nanoseconds: now.nanoseconds &+ rto)
      if let sample = rttSample, acknowledgment - sample.sequence > 0 {
        updateRTT(now.nanoseconds &- sample.sent.nanoseconds)
        rttSample = nil
      }
      handshakeCompleted()
      retransmissions = 0
      state = .established
      heardFromPeer(now: now)
      sndWnd = Int(segment.window)  // never scaled on a SYN (RFC 7323 2.2)
      sndWl1 = irs
      sndWl2 = acknowledgment
      ackNeeded = true
    } else {
      state = .synReceived  // simultaneous open (RFC 9293 3.5, figure 8)
      synNeedsSending = true
      sndNxt = iss
    }
    context.tcpReady(self)
  }

  /// Takes the peer's SYN options: MSS, window scale and timestamps if both sides offer them.
  func acceptOptions(of segment: TCPHeader) {
    if let mss = segment.options.maximumSegmentSize { peerMSS = max(Int(mss), 64) } else { peerMSS = 536 }
    if let scale = segment.options.windowScale {
      windowScalingEnabled = true
      sendWindowShift = min(scale, 14)
    } else {
      windowScalingEnabled = false
      sendWindowShift = 0
      receiveWindowShift = 0
    }
    if let timestamp = segment.options.timestamp {
      timestampsEnabled = true
      timestampRecent = timestamp.value
    }
    sackEnabled = segment.options.sackPermitted
    congestionWindow = initialWindow
  }

  /// RFC 6928's initial window: ten segments, capped by 14,600 bytes... of our send MSS.
  var initialWindow: Int { min(10 * sendMSS, max(2 * sendMSS, 14600)) }
}
