// The retransmission timer (RFC 6298) against a scripted peer with a test clock: SRTT,
// RTTVAR and RTO after each measured round trip, the bounds, backoff, and Karn's rule.

@testable import SiroccoNet
import SiroccoDevices
import SiroccoWire
import XCTest

final class TCPRetransmissionTimerTests: XCTestCase {
  let peerISN: UInt32 = 0x2000_0000

  /// RFC 6298 2.2-2.4 written out again, in nanoseconds as doubles (alpha 1/8, beta 1/4,
  /// K 4, G the stack's 1 ms clock granularity).
  struct ReferenceEstimator {
    var smoothed: Double?
    var variance = 0.0
    let minimum: Double
    let maximum: Double

    mutating func sample(_ rtt: Double) -> Double {
      if let previous = smoothed {
        variance = 0.75 * variance + 0.25 * abs(previous - rtt)
        smoothed = 0.875 * previous + 0.125 * rtt
      } else {
        smoothed = rtt
        variance = rtt / 2
      }
      return min(max(smoothed! + max(1_000_000, 4 * variance), minimum), maximum)
    }
  }

  /// Opens a connection to the peer whose SYN-ACK comes `handshakeRTT` after our SYN (no
  /// SACK, so no tail loss probe or RACK timer runs). Returns it and its next sequence number.
  func activeOpen(_ harness: Harness, handshakeRTT: Duration, configuration: TCPConnection.Configuration = .init()) throws
    -> (TCPConnection, UInt32)
  {
    harness.learn()
    let connection = try harness.stack.connectTCP(to: .v4(peerIP), port: 5000, now: harness.now, configuration: configuration)
    harness.poll()
    let syn = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(syn.flags, .syn)
    harness.now = harness.now + handshakeRTT
    harness.inject(tcpFrame(
      sourcePort: 5000, port: syn.sourcePort, sequence: peerISN, acknowledgment: syn.sequenceNumber &+ 1, flags: [.syn, .ack],
      options: TCPOptions(maximumSegmentSize: 1460)))
    harness.poll()
    _ = harness.sent()
    XCTAssertEqual(connection.state, .established)
    return (connection, syn.sequenceNumber &+ 1)
  }

  /// Sends 100 bytes at `next` and has the peer acknowledge them `rtt` later.
  func roundTrip(_ harness: Harness, _ connection: TCPConnection, next: inout UInt32, rtt: Duration) throws {
    XCTAssertEqual(connection.write(pattern(100)), 100)
    harness.poll()
    let segment = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(segment.sequenceNumber, next)
    next &+= 100
    // The clock moves without a poll: the ACK is processed before any timer that fell due.
    harness.now = harness.now + rtt
    harness.inject(tcpFrame(sourcePort: 5000, port: connection.localPort, sequence: peerISN &+ 1, acknowledgment: next, flags: .ack))
    harness.poll()
    _ = harness.sent()
  }

  func assertEstimator(
    _ connection: TCPConnection, _ reference: ReferenceEstimator, rto: Double, _ label: String,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    // The stack divides in integers: a few nanoseconds of truncation per sample at most.
    XCTAssertEqual(Double(connection.smoothedRTT ?? -1), reference.smoothed!, accuracy: 16, "SRTT \(label)", file: file, line: line)
    XCTAssertEqual(Double(connection.rttVariance), reference.variance, accuracy: 16, "RTTVAR \(label)", file: file, line: line)
    XCTAssertEqual(Double(connection.rto), rto, accuracy: 64, "RTO \(label)", file: file, line: line)
  }

  /// Measures `samples` (the first on the handshake) and checks SRTT, RTTVAR and RTO after
  /// each against the reference. Returns the RTO after each.
  @discardableResult
  func checkSamples(_ samples: [Duration], configuration: TCPConnection.Configuration = .init()) throws -> [Int64] {
    let harness = Harness()
    var reference = ReferenceEstimator(
      minimum: Double(configuration.minimumRTO.nanoseconds), maximum: Double(configuration.maximumRTO.nanoseconds))
    let (connection, first) = try activeOpen(harness, handshakeRTT: samples[0], configuration: configuration)
    var next = first
    var rto = reference.sample(Double(samples[0].nanoseconds))
    assertEstimator(connection, reference, rto: rto, "after the handshake's \(samples[0])")
    var rtos = [connection.rto]
    for (index, sample) in samples.enumerated().dropFirst() {
      try roundTrip(harness, connection, next: &next, rtt: sample)
      rto = reference.sample(Double(sample.nanoseconds))
      assertEstimator(connection, reference, rto: rto, "after sample \(index), \(sample)")
      rtos.append(connection.rto)
    }
    return rtos
  }

  /// RFC 6298 2.2 and 2.3 sample by sample, including RTTs that put RTO under the 200 ms
  /// minimum (2.4) and one far above the mean.
  func testEstimatorFollowsRFC6298SampleBySample() throws {
    let harness = Harness()
    let (connection, _) = try activeOpen(harness, handshakeRTT: .milliseconds(100))
    // 2.2, the first measurement: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4 RTTVAR).
    XCTAssertEqual(connection.smoothedRTT, 100_000_000)
    XCTAssertEqual(connection.rttVariance, 50_000_000)
    XCTAssertEqual(connection.rto, 300_000_000)
    let rtos = try checkSamples(([100, 20, 20, 300] + Array(repeating: 5, count: 16) + [900, 1]).map { .milliseconds($0) })
    XCTAssertTrue(rtos.contains(200_000_000), "the 5 ms samples bring RTO down to the minimum: \(rtos)")
  }

  /// G, the clock granularity, is the floor of the variance term: with the minimum RTO at
  /// zero, RTO = SRTT + 1 ms for sub-millisecond round trips.
  func testClockGranularityBoundsTheVarianceTerm() throws {
    var configuration = TCPConnection.Configuration()
    configuration.minimumRTO = .zero
    let rtos = try checkSamples([100, 100, 40, 100, 100].map { .microseconds($0) }, configuration: configuration)
    XCTAssertEqual(rtos.first, 1_100_000, "100 us + max(1 ms, 4 x 50 us)")
  }

  /// 2.5: a computed RTO above the maximum is held to it.
  func testRTOIsHeldToTheMaximum() throws {
    var configuration = TCPConnection.Configuration()
    configuration.maximumRTO = .milliseconds(900)
    let rtos = try checkSamples([500, 500, 100].map { .milliseconds($0) }, configuration: configuration)
    XCTAssertEqual(rtos.first, 900_000_000, "500 ms + 4 x 250 ms, held to 900 ms")
  }

  /// 5.5: each expiry doubles RTO (up to the maximum) and resends the oldest segment when
  /// the timer fires, not before. Karn (RFC 6298 3): the ACK of the retransmitted segment
  /// is no sample and RTO stays backed off; the ACK of the next, fresh segment is a sample
  /// and RTO is computed from SRTT and RTTVAR again (5.7's note: the backoff ends).
  func testBackoffDoublesAndKarnsRuleIgnoresRetransmittedSegments() throws {
    var configuration = TCPConnection.Configuration()
    configuration.maximumRTO = .seconds(5)
    let harness = Harness()
    let (connection, first) = try activeOpen(harness, handshakeRTT: .milliseconds(100), configuration: configuration)
    var next = first
    try roundTrip(harness, connection, next: &next, rtt: .milliseconds(20))
    let smoothed = try XCTUnwrap(connection.smoothedRTT)
    let variance = connection.rttVariance
    var rto = connection.rto
    XCTAssertEqual(rto, 320_000_000, "SRTT 90 ms + 4 x RTTVAR 57.5 ms")

    XCTAssertEqual(connection.write(pattern(100)), 100)
    harness.poll()
    let original = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(original.sequenceNumber, next)
    var expected: [Int64] = []
    var doubled: [Int64] = []
    for _ in 0..<6 {
      harness.advance(.nanoseconds(rto - 1_000_000))
      XCTAssertTrue(harness.sent().isEmpty, "resent before the RTO of \(rto) ns")
      harness.advance(.milliseconds(1))
      let resent = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
      XCTAssertEqual(resent.sequenceNumber, original.sequenceNumber, "the oldest segment goes again")
      expected.append(min(rto * 2, 5_000_000_000))
      rto = connection.rto
      doubled.append(rto)
      harness.learn()  // keep the peer's ARP entry fresh over the backoff
    }
    XCTAssertEqual(doubled, expected)
    XCTAssertEqual(doubled, [640, 1280, 2560, 5000, 5000, 5000].map { Int64($0) * 1_000_000 })
    XCTAssertEqual(harness.counters.tcpRetransmissionTimeouts, 6)

    // The peer acknowledges the (retransmitted) data 10 ms after the last copy: no sample.
    harness.now = harness.now + .milliseconds(10)
    next &+= 100
    harness.inject(tcpFrame(sourcePort: 5000, port: connection.localPort, sequence: peerISN &+ 1, acknowledgment: next, flags: .ack))
    harness.poll()
    XCTAssertEqual(connection.smoothedRTT, smoothed, "Karn: an ACK of a retransmitted segment is no RTT sample")
    XCTAssertEqual(connection.rttVariance, variance)
    XCTAssertEqual(connection.rto, 5_000_000_000, "the backed-off RTO is kept until a valid sample")

    // A fresh segment acknowledged after 40 ms: a sample, and RTO from the estimator again.
    var reference = ReferenceEstimator(smoothed: Double(smoothed), variance: Double(variance), minimum: 200_000_000, maximum: 5_000_000_000)
    try roundTrip(harness, connection, next: &next, rtt: .milliseconds(40))
    let computed = reference.sample(40_000_000)
    assertEstimator(connection, reference, rto: computed, "after the fresh sample")
    XCTAssertLessThan(connection.rto, 1_000_000_000)
  }

  /// Karn on the handshake: a SYN that timed out gives no sample from its SYN-ACK, and
  /// with an initial RTO under 3 s data transmission starts with an RTO of 3 s (RFC 6298 5.7).
  func testATimedOutSYNGivesNoSampleAndAThreeSecondRTO() throws {
    let harness = Harness()
    harness.learn()
    let connection = try harness.stack.connectTCP(to: .v4(peerIP), port: 5000, now: harness.now)
    harness.poll()
    let syn = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    harness.advance(.seconds(1))
    let again = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(again.flags, .syn)
    XCTAssertEqual(again.sequenceNumber, syn.sequenceNumber)
    XCTAssertEqual(connection.rto, 2_000_000_000)
    harness.now = harness.now + .milliseconds(50)
    harness.inject(tcpFrame(
      sourcePort: 5000, port: syn.sourcePort, sequence: peerISN, acknowledgment: syn.sequenceNumber &+ 1, flags: [.syn, .ack],
      options: TCPOptions(maximumSegmentSize: 1460)))
    harness.poll()
    XCTAssertEqual(connection.state, .established)
    XCTAssertNil(connection.smoothedRTT, "no sample from the SYN-ACK of a retransmitted SYN")
    XCTAssertEqual(connection.rto, 3_000_000_000)
  }

  /// The same on the passive side: a SYN-ACK that timed out, then the handshake's ACK.
  func testATimedOutSYNACKGivesNoSampleAndAThreeSecondRTO() throws {
    let harness = Harness()
    harness.learn()
    let listener = try harness.stack.listenTCP(port: 80)
    harness.inject(tcpFrame(port: 80, sequence: peerISN, flags: .syn, options: TCPOptions(maximumSegmentSize: 1460)))
    harness.poll()
    let synACK = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    harness.advance(.seconds(1))
    XCTAssertEqual(try parseTCPFrame(try XCTUnwrap(harness.sent().last)).flags, [.syn, .ack])
    harness.now = harness.now + .milliseconds(50)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: synACK.sequenceNumber &+ 1, flags: .ack))
    harness.poll()
    let connection = try XCTUnwrap(listener.accept())
    XCTAssertNil(connection.smoothedRTT, "no sample from the ACK of a retransmitted SYN-ACK")
    XCTAssertEqual(connection.rto, 3_000_000_000)
  }
}
