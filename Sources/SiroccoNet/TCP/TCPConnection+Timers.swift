// Timers: retransmission (RFC 6298) with Karn's rule and exponential backoff; TIME-WAIT;
// congestion control (RFC 5681 slow start and congestion avoidance, NewReno fast
// retransmit and recovery, RFC 6582).

import SiroccoDevices

extension TCPConnection {
  /// The earliest time this connection needs attention.
  var deadline: Instant? {
    var earliest: Instant?
    for candidate in [rtoDeadline, timeWaitDeadline, persistDeadline, delayedACKDeadline, keepAliveDeadline] {
      if let candidate, earliest == nil || candidate < earliest! { earliest = candidate }
    }
    return earliest
  }

  /// Acts on expired timers.
  func timersExpired(now: Instant) {
    if let timeWaitDeadline, timeWaitDeadline <= now {
      enterClosed(error: nil)
      return
    }
    if let delayedACKDeadline, delayedACKDeadline <= now {
      self.delayedACKDeadline = nil
      ackNeeded = true
      interface.tcpReady(self)
    }
    if let persistDeadline, persistDeadline <= now {
      self.persistDeadline = nil
      probeDue = true
      persistBackoff += 1
      interface.tcpReady(self)
    }
    if let keepAliveDeadline, keepAliveDeadline <= now {
      self.keepAliveDeadline = nil
      guard keepAliveProbesSent < configuration.keepAliveProbes else {
        interface.sendReset(for: endpoints, sequence: sndNxt, acknowledgment: nil)
        enterClosed(error: .timedOut)
        return
      }
      keepAliveProbesSent += 1
      keepAliveProbeDue = true
      self.keepAliveDeadline = now + configuration.keepAliveInterval
      interface.tcpReady(self)
    }
    guard let rtoDeadline, rtoDeadline <= now else { return }
    self.rtoDeadline = nil
    retransmissions += 1
    let limit = state == .synSent || state == .synReceived
      ? configuration.maximumSYNRetransmissions : configuration.maximumRetransmissions
    guard retransmissions <= limit else {
      if state != .synSent { interface.sendReset(for: endpoints, sequence: sndNxt, acknowledgment: nil) }
      enterClosed(error: .timedOut)
      return
    }
    // RFC 6298 5.5-5.7: back off, and (RFC 5681 3.1) restart from one segment.
    rto = min(rto * 2, configuration.maximumRTO.nanoseconds)
    rttSample = nil  // Karn: no sample from a retransmitted segment
    sacked = []  // RFC 2018 8: the receiver may have reneged; resend as if nothing was SACKed
    congestionEvent(now: now, timeout: true)
    duplicateAcks = 0
    recoveryPoint = nil
    // Go back to the first unacknowledged byte (and resend a FIN with the data if it was sent).
    if state == .synSent || state == .synReceived {
      synNeedsSending = true
    } else {
      sndNxt = sndUna
      if let finSequence, sndUna - finSequence <= 0 { self.finSequence = nil }
    }
    interface.counters.tcpRetransmissionTimeouts &+= 1
    interface.tcpReady(self)
  }

  /// RFC 6298 2.2-2.3, in nanoseconds (alpha 1/8, beta 1/4, K 4, G 1 ms).
  func updateRTT(_ sample: Int64) {
    if let smoothed = smoothedRTT {
      let difference = smoothed > sample ? smoothed - sample : sample - smoothed
      rttVariance = rttVariance - rttVariance / 4 + difference / 4
      smoothedRTT = smoothed - smoothed / 8 + sample / 8
    } else {
      smoothedRTT = sample
      rttVariance = sample / 2
    }
    let candidate = smoothedRTT! + max(1_000_000, 4 * rttVariance)
    rto = min(max(candidate, configuration.minimumRTO.nanoseconds), configuration.maximumRTO.nanoseconds)
  }

  /// New data acknowledged: slow start below ssthresh, congestion avoidance above (RFC 5681
  /// 3.1), or the end of fast recovery (RFC 6582 3.2 step 3).
  func growCongestionWindow(acked: Int, acknowledgment: SequenceNumber, now: Instant) {
    if let recoveryPoint {
      if acknowledgment - recoveryPoint >= 0 {
        self.recoveryPoint = nil
        congestionWindow = min(slowStartThreshold, max(sndMax - sndUna, sendMSS) + sendMSS)
      } else {
        // A partial ACK: retransmit the next hole at once, deflate by what was acked.
        sndNxt = sndUna
        congestionWindow = max(congestionWindow - acked + sendMSS, sendMSS)
      }
      return
    }
    if congestionWindow < slowStartThreshold {
      congestionWindow += min(acked, sendMSS)  // slow start (RFC 5681 3.1, ABC with L = 1)
    } else {
      congestionWindow += congestionAvoidanceIncrease(acked: acked, now: now)
    }
  }

  /// Three duplicate ACKs: retransmit the first unacknowledged segment and halve the window
  /// (RFC 5681 3.2, RFC 6582).
  func enterFastRecovery(now: Instant) {
    guard recoveryPoint == nil || sndUna - recoveryPoint! > 0 else { return }
    congestionEvent(now: now, timeout: false)
    recoveryPoint = sndMax
    congestionWindow = slowStartThreshold + 3 * sendMSS
    sndNxt = sndUna  // the output resends from the hole
    rttSample = nil
    interface.counters.tcpFastRetransmits &+= 1
    interface.tcpReady(self)
  }
}

extension TCPConnection {
  /// Traffic from the peer: the keep-alive clock starts again.
  func heardFromPeer(now: Instant) {
    keepAliveProbesSent = 0
    if let idle = configuration.keepAlive, state == .established || state == .closeWait {
      keepAliveDeadline = now + idle
    }
  }

  /// The persist timer's interval: the RTO, doubled per unanswered probe, between 200 ms
  /// and 60 s.
  func persistInterval() -> Int64 {
    let base = max(rto, configuration.minimumRTO.nanoseconds)
    let backedOff = base << Int64(min(persistBackoff, 10))
    return min(backedOff, configuration.maximumRTO.nanoseconds)
  }
}
