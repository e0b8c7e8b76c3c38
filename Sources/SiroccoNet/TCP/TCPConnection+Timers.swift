// Timers: retransmission (RFC 6298) with Karn's rule and exponential backoff; RACK's
// reordering timer and the tail loss probe (RFC 8985); TIME-WAIT; persist; delayed ACK;
// keep-alive; window growth (RFC 5681 slow start and congestion avoidance).

import SiroccoDevices

extension TCPConnection {
  /// The earliest time this connection needs attention.
  var deadline: Instant? {
    func earlier(_ a: Instant?, _ b: Instant?) -> Instant? {
      guard let a else { return b }
      guard let b else { return a }
      return a < b ? a : b
    }
    return earlier(
      earlier(earlier(rtoDeadline, timeWaitDeadline), earlier(persistDeadline, delayedACKDeadline)),
      earlier(earlier(keepAliveDeadline, rackDeadline), probeDeadline))
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
      context.tcpReady(self)
    }
    if let persistDeadline, persistDeadline <= now {
      self.persistDeadline = nil
      probeDue = true
      persistBackoff += 1
      context.tcpReady(self)
    }
    if let keepAliveDeadline, keepAliveDeadline <= now {
      self.keepAliveDeadline = nil
      guard keepAliveProbesSent < configuration.keepAliveProbes else {
        context.sendReset(for: endpoints, sequence: sndNxt, acknowledgment: nil)
        enterClosed(error: .timedOut)
        return
      }
      keepAliveProbesSent += 1
      keepAliveProbeDue = true
      self.keepAliveDeadline = now + configuration.keepAliveInterval
      context.tcpReady(self)
    }
    if let rackDeadline, rackDeadline <= now {
      // Segments held back by the reordering window may now count as lost (RFC 8985 6.2).
      if detectLosses(now: now) {
        if recoveryPoint == nil { enterRecovery(now: now) }
        context.tcpReady(self)
      }
    }
    if let probeDeadline, probeDeadline <= now {
      self.probeDeadline = nil
      tailProbeDue = true
      context.tcpReady(self)
    }
    guard let rtoDeadline, rtoDeadline <= now else { return }
    self.rtoDeadline = nil
    retransmissions += 1
    let limit = state == .synSent || state == .synReceived
      ? configuration.maximumSYNRetransmissions : configuration.maximumRetransmissions
    guard retransmissions <= limit else {
      if state != .synSent { context.sendReset(for: endpoints, sequence: sndNxt, acknowledgment: nil) }
      enterClosed(error: .timedOut)
      return
    }
    // RFC 6298 5.5-5.7: back off; RFC 5681 3.1: the threshold is set on the first timeout
    // only, and the window restarts from one segment.
    rto = min(rto * 2, configuration.maximumRTO.nanoseconds)
    rttSample = nil  // Karn: no sample from a retransmitted segment
    if retransmissions == 1 { congestionEvent(now: now, timeout: true) } else { congestionWindow = sendMSS }
    // A second timeout in a row: the peer may have dropped what it SACKed (RFC 2018 8).
    if retransmissions >= 2 { forgetSACK() }
    duplicateAcks = 0
    renoSACKedBytes = 0
    probeDeadline = nil
    tailProbeDue = false
    probeEnd = nil
    if state == .synSent || state == .synReceived {
      synNeedsSending = true
    } else if !flight.isEmpty {
      // Everything the peer does not hold goes again, in slow start (RFC 8985 6.3), and a
      // loss found meanwhile is part of this episode (RFC 6582 4).
      markAllLost()
      recoveryPoint = sndMax
      isTimeoutRecovery = true
    }
    context.counters.tcpRetransmissionTimeouts &+= 1
    context.tcpReady(self)
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

  /// RFC 6298 5.7: when the SYN (or SYN-ACK) timed out and no round trip was measured, an
  /// initial RTO under 3 s is not to be trusted: data transmission starts with 3 s. Called
  /// as the handshake completes, before `retransmissions` is reset.
  func handshakeCompleted() {
    guard retransmissions > 0, smoothedRTT == nil, configuration.initialRTO.nanoseconds < 3_000_000_000 else { return }
    rto = min(max(3_000_000_000, configuration.minimumRTO.nanoseconds), configuration.maximumRTO.nanoseconds)
  }

  /// New data acknowledged outside fast recovery: slow start below ssthresh, congestion
  /// avoidance above (RFC 5681 3.1). In fast recovery the window stays at ssthresh and the
  /// pipe sets the pace (RFC 6675).
  func growCongestionWindow(acked: Int, now: Instant) {
    if congestionWindow < slowStartThreshold {
      congestionWindow += min(acked, sendMSS)  // slow start (RFC 5681 3.1, ABC with L = 1)
    } else {
      congestionWindow += congestionAvoidanceIncrease(acked: acked, now: now)
    }
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
