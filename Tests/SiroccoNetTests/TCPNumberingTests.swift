// The numbers a connection starts with: initial sequence numbers (RFC 6528) and ephemeral
// ports (RFC 6056), each checked for what an off-path attacker must not be able to guess.

@testable import SiroccoNet
import SiroccoDevices
import SiroccoWire
import XCTest

final class TCPNumberingTests: XCTestCase {
  // MARK: RFC 6528 initial sequence numbers

  /// The 4-tuples of connections from `count` ports of one peer, and of other peers.
  func endpoints(_ count: Int) -> [TCPEndpoints] {
    (0..<count).map { (index: Int) -> TCPEndpoints in
      let address = IPv4Address(10, 0, UInt8(index / 250), UInt8(index % 250 + 1))
      return TCPEndpoints(localAddress: .v4(ourIP), localPort: 80, remoteAddress: .v4(address), remotePort: UInt16(40000 + index % 7))
    }
  }

  /// ISNs of different 4-tuples at one instant (so the clock adds nothing) are all different,
  /// their differences are not a pattern, and they cover the 32-bit space evenly.
  func testInitialSequenceNumbersOfDifferentConnectionsAreUnpredictable() {
    let harness = Harness()
    let now = at(seconds: 12.5)
    let isns = endpoints(4096).map { harness.stack.initialSequence(for: $0, now: now).rawValue }
    XCTAssertEqual(Set(isns).count, isns.count, "two 4-tuples got the same ISN")
    let differences = zip(isns, isns.dropFirst()).map { $1 &- $0 }
    XCTAssertGreaterThan(Set(differences).count, isns.count - 16, "ISN differences repeat: a guessable increment")
    // Every sixteenth of the space and every value of the low byte's top nibble is used.
    for shift in [28, 4] as [UInt32] {
      var buckets = [Int](repeating: 0, count: 16)
      for isn in isns { buckets[Int(isn >> shift & 0xf)] += 1 }
      XCTAssertGreaterThan(buckets.min()!, 4096 / 16 / 2, "bits \(shift)-\(shift + 3) unevenly spread: \(buckets)")
    }
    // Each bit is set about half the time.
    for bit in 0..<32 {
      let ones = isns.filter { $0 >> UInt32(bit) & 1 == 1 }.count
      XCTAssertTrue((1700...2400).contains(ones), "bit \(bit) set in \(ones) of 4096 ISNs")
    }
  }

  /// The secret is the interface's own: the same 4-tuple at the same instant gets unrelated
  /// ISNs on interfaces started with different seeds.
  func testInitialSequenceNumbersDependOnTheInterfacesSecret() {
    let first = Harness(seed: 1), second = Harness(seed: 2)
    let now = at(seconds: 3)
    let pairs = endpoints(64).map {
      (first.stack.initialSequence(for: $0, now: now).rawValue, second.stack.initialSequence(for: $0, now: now).rawValue)
    }
    XCTAssertTrue(pairs.allSatisfy { $0.0 != $0.1 })
    XCTAssertGreaterThan(Set(pairs.map { $0.1 &- $0.0 }).count, 60, "the two secrets differ by a constant offset")
  }

  /// For one 4-tuple the ISN is the same function plus a clock ticking every 4 us: later
  /// connections get higher ISNs, by exactly the elapsed ticks, wrapping modulo 2^32.
  func testInitialSequenceNumbersOfOneFourTupleAdvanceWithAFourMicrosecondClock() {
    let harness = Harness()
    for tuple in endpoints(8) {
      let base = harness.stack.initialSequence(for: tuple, now: .zero)
      var previous = base
      var elapsed: Int64 = 0
      for step: Int64 in [4_000, 3_999, 1, 1_000_000, 7_777_777, 1_000_000_000, 3_600_000_000_000] {
        elapsed += step
        let isn = harness.stack.initialSequence(for: tuple, now: Instant(nanoseconds: elapsed))
        XCTAssertEqual(isn.rawValue &- base.rawValue, UInt32(truncatingIfNeeded: elapsed / 4000), "after \(elapsed) ns")
        XCTAssertGreaterThanOrEqual(isn - previous, 0, "the ISN went back after \(elapsed) ns")
        previous = isn
      }
      XCTAssertEqual(harness.stack.initialSequence(for: tuple, now: Instant(nanoseconds: 3_999)), base, "one tick is 4 us")
      // 2^32 ticks (about 4.77 hours) later, the clock has wrapped round.
      XCTAssertEqual(harness.stack.initialSequence(for: tuple, now: Instant(nanoseconds: 4000 << 32)), base)
    }
  }

  /// The SYN of an active open carries exactly that ISN.
  func testActiveOpenSendsTheRFC6528InitialSequenceNumber() throws {
    let harness = Harness(start: at(seconds: 7.25))
    harness.learn()
    let connection = try harness.stack.connectTCP(to: .v4(peerIP), port: 5000, now: harness.now)
    harness.poll()
    let syn = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    let tuple = TCPEndpoints(localAddress: .v4(ourIP), localPort: connection.localPort, remoteAddress: .v4(peerIP), remotePort: 5000)
    XCTAssertEqual(syn.sequenceNumber, harness.stack.initialSequence(for: tuple, now: at(seconds: 7.25)).rawValue)
  }

  // MARK: RFC 6056 ephemeral ports

  /// Ports for many connections to one destination: all in 49152-65535 (RFC 6056 2.1), all
  /// different, spread over the range, and not one after the other (Algorithm 1).
  func testEphemeralPortsAreRandomDistinctAndInTheDynamicRange() throws {
    let harness = Harness()
    var ports: [UInt16] = []
    for _ in 0..<2048 {
      ports.append(try harness.stack.connectTCP(to: .v4(peerIP), port: 80, now: harness.now).localPort)
    }
    XCTAssertTrue(ports.allSatisfy { $0 >= 49152 }, "\(ports.filter { $0 < 49152 })")
    XCTAssertEqual(Set(ports).count, ports.count, "two connections to one destination share a port")
    let sequential = zip(ports, ports.dropFirst()).filter { $1 == $0 &+ 1 }.count
    XCTAssertLessThan(sequential, 20, "\(sequential) ports followed the previous one")
    var buckets = [Int](repeating: 0, count: 16)
    for port in ports { buckets[Int(port - 49152) / 1024] += 1 }
    XCTAssertGreaterThan(buckets.min()!, 2048 / 16 / 2, "ports unevenly spread: \(buckets)")
    // Another interface, another seed: another sequence of ports.
    let other = Harness(seed: 99)
    let otherPorts = try (0..<16).map { _ in try other.stack.connectTCP(to: .v4(peerIP), port: 80, now: other.now).localPort }
    XCTAssertNotEqual(otherPorts, Array(ports.prefix(16)))
  }

  /// A port in use is never chosen: not a listener's, nor one a connection to the same
  /// destination holds. When none is left for a destination, `noPortAvailable`; a port
  /// held for one destination may still serve another (the 4-tuple is what must be unique).
  func testEphemeralPortsAvoidPortsInUseAndRunOut() throws {
    let harness = Harness()
    let free: Set<UInt16> = [49152, 50000, 57005, 65000, 65535]
    for port in UInt16(49152)...UInt16(65535) where !free.contains(port) {
      _ = try harness.stack.listenTCP(port: port, backlog: 1)
    }
    var chosen: Set<UInt16> = []
    for _ in free {
      chosen.insert(try harness.stack.connectTCP(to: .v4(peerIP), port: 80, now: harness.now).localPort)
    }
    XCTAssertEqual(chosen, free)
    XCTAssertThrowsError(try harness.stack.connectTCP(to: .v4(peerIP), port: 80, now: harness.now)) { error in
      XCTAssertEqual(error as? TCPConnectError, .noPortAvailable)
    }
    let elsewhere = try harness.stack.connectTCP(to: .v4(peerIP), port: 81, now: harness.now)
    XCTAssertTrue(free.contains(elsewhere.localPort))
    let otherHost = try harness.stack.connectTCP(to: .v4(otherIP), port: 80, now: harness.now)
    XCTAssertTrue(free.contains(otherHost.localPort))
  }
}
