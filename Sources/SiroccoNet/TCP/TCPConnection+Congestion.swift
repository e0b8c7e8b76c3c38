// Congestion control, chosen per connection: CUBIC (RFC 9438, the default) or NewReno
// (RFC 5681, RFC 6582). Both share slow start, fast retransmit and the response to a
// retransmission timeout; they differ in congestion avoidance and in how much a loss
// shrinks the window. Integer arithmetic only (Embedded Swift, no libm).

import SiroccoDevices

public enum CongestionControl: Sendable, Equatable {
  case cubic
  case newReno
}

/// CUBIC's state (RFC 9438 4): the window before the last reduction and when it happened.
struct CubicState {
  /// W_max, in bytes.
  var windowMaximum = 0
  /// The start of the current congestion-avoidance epoch, or nil before the first one.
  var epochStart: Instant?
  /// K, in milliseconds: when the cubic curve climbs back to W_max.
  var k: Int64 = 0
  /// W_est (the Reno-friendly estimate, RFC 9438 4.3), in bytes.
  var renoEstimate = 0
  /// The window at the start of the epoch, in bytes.
  var origin = 0
}

extension TCPConnection {
  /// CUBIC's beta (0.7) and C (0.4), as fractions of 1000.
  static let cubicBeta = 700
  static let cubicC = 400

  /// A loss detected by duplicate ACKs (`timeout` false) or by the retransmission timer:
  /// the new slow-start threshold, and for CUBIC a new epoch (RFC 9438 4.6, 4.7, 4.8).
  func congestionEvent(now: Instant, timeout: Bool) {
    let flight = max(sndMax - sndUna, sendMSS)
    switch configuration.congestionControl {
    case .newReno:
      slowStartThreshold = max(flight / 2, 2 * sendMSS)
    case .cubic:
      var maximum = congestionWindow
      // Fast convergence (RFC 9438 4.7): give room to a newer flow.
      if maximum < cubic.windowMaximum { maximum = maximum * (1000 + Self.cubicBeta) / 2000 }
      cubic.windowMaximum = maximum
      slowStartThreshold = max(congestionWindow * Self.cubicBeta / 1000, 2 * sendMSS)
      cubic.epochStart = nil
    }
    if timeout { congestionWindow = sendMSS }
  }

  /// Congestion avoidance: how much the window grows for `acked` new bytes at `now`.
  func congestionAvoidanceIncrease(acked: Int, now: Instant) -> Int {
    let window = max(congestionWindow, sendMSS)
    switch configuration.congestionControl {
    case .newReno:
      return max(sendMSS * acked / window, 1)  // about one MSS per round trip (RFC 5681 3.1)
    case .cubic:
      if cubic.epochStart == nil {
        cubic.epochStart = now
        cubic.origin = window
        cubic.renoEstimate = window
        if cubic.windowMaximum <= window {
          cubic.k = 0
          cubic.windowMaximum = window
        } else {
          // K = cbrt((W_max - cwnd_epoch) / C) seconds, in segments (RFC 9438 4.2).
          let segments = Int64((cubic.windowMaximum - window) / sendMSS)
          cubic.k = Self.cubeRoot(segments * 1_000_000_000_000 / Int64(Self.cubicC))  // ms^3 from s^3 * 1e9 / (C/1000)
        }
      }
      let rtt = (smoothedRTT ?? 100_000_000) / 1_000_000  // ms
      let elapsed = (now.nanoseconds - cubic.epochStart!.nanoseconds) / 1_000_000 + rtt  // t + RTT, ms
      // W_cubic(t) = C (t - K)^3 + W_max, in bytes.
      let offset = max(min(elapsed - cubic.k, 100_000), -100_000)
      let cube = offset * offset * offset  // ms^3
      // C (t - K)^3 segments = cube ms^3 / 1e9 * C / 1000, times the MSS in bytes; |cube| <= 1e15.
      let growth = (cube / 1000) * Int64(Self.cubicC * sendMSS) / 1_000_000_000
      let target = max(min(Int64(cubic.windowMaximum) + growth, Int64(window) * 3 / 2), Int64(window))
      // The Reno-friendly estimate (RFC 9438 4.3): alpha = 3 (1 - beta) / (1 + beta).
      let alpha = 3 * (1000 - Self.cubicBeta) * 1000 / (1000 + Self.cubicBeta)  // per mille
      cubic.renoEstimate += max(alpha * sendMSS / 1000 * acked / window, 1)
      if Int64(cubic.renoEstimate) > target { return max(cubic.renoEstimate - window, 0) }
      return max(Int((target - Int64(window)) * Int64(acked) / Int64(window)), 0)
    }
  }

  /// The integer cube root of `value` (Newton's method).
  static func cubeRoot(_ value: Int64) -> Int64 {
    guard value > 0 else { return 0 }
    var root = Int64(1) << ((64 - value.leadingZeroBitCount) / 3 + 1)
    while true {
      let next = (2 * root + value / (root * root)) / 3
      if next >= root { break }
      root = next
    }
    while (root + 1) * (root + 1) * (root + 1) <= value { root += 1 }
    while root * root * root > value { root -= 1 }
    return root
  }
}
