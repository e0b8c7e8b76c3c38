// The SNTP client over two stacks back to back, against a server the test plays: the
// offset of a server an hour ahead becomes the corrected clock's; its requests (version 4,
// mode 3, a random transmit time, a fresh port each; a burst at start, then the poll
// interval doubling); a slow reply outdone by a quick one (the clock filter); kiss-of-death (RATE slows it, DENY
// stops it), unsynchronised and implausible replies and wrong origins refused; backoff
// while no server answers; three servers' median outvoting a false one. chronyd comes with
// the end-to-end test (NTPEndToEndTests).

import SiroccoDevices
import SiroccoWire
import XCTest

@testable import SiroccoNet

/// Random bytes from a fixed seed.
final class SeededEntropy: EntropySource {
  var random = SplitMix64(seed: 7)
  func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    for index in buffer.indices { buffer[index] = UInt8(truncatingIfNeeded: random.next()) }
  }
}

final class NTPClientTests: XCTestCase {
  /// The platform's clock: 2027-01-15 plus the monotonic time.
  static let base: Int64 = 1_800_000_000 * 1_000_000_000

  final class Setup {
    let serverStack = Stack<MemoryNetworkDevice>(seed: 1)
    let clientStack = Stack<MemoryNetworkDevice>(seed: 2)
    let server: any UDPEndpoint
    let clock = FixedWallClock(NTPClientTests.base + 1_000_000_000)
    let client: NTPClient
    var now = Instant(nanoseconds: 1_000_000_000)
    /// The requests the server received: when, from which port, what.
    var requests: [(at: Instant, port: UInt16, packet: NTPPacket)] = []
    /// The server's answer to a request (nil: silence).
    var answer: (NTPPacket) -> NTPPacket? = { _ in nil }

    init(servers: [IPAddress] = [.v4(IPv4Address(10, 0, 0, 1))]) throws {
      let link = MemoryLink()
      let serverDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 1), link: link, side: .a)
      let clientDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 2), link: link, side: .b)
      var configuration = Link.Configuration(name: "service", macAddress: serverDevice.macAddress)
      configuration.ipv6 = false
      serverStack.add(IPv4Network(address: IPv4Address(10, 0, 0, 1), prefixLength: 24), to: serverStack.attach(serverDevice, configuration: configuration))
      configuration.macAddress = clientDevice.macAddress
      clientStack.add(IPv4Network(address: IPv4Address(10, 0, 0, 2), prefixLength: 24), to: clientStack.attach(clientDevice, configuration: configuration))
      server = try serverStack.bindUDP(port: 123)
      client = NTPClient(stack: clientStack, configuration: NTPClient.Configuration(servers: servers), clock: clock, entropy: SeededEntropy(),
                         now: now)
    }

    /// The server's clock now, `offset` from the platform's.
    func serverTime(_ offset: Int64) -> NTPTimestamp {
      NTPTimestamp(nanosecondsSinceEpoch: clock.time.nanosecondsSinceEpoch + offset)
    }

    /// A reply as a synchronised stratum-2 server `offset` ahead would send it.
    func reply(to request: NTPPacket, offset: Int64) -> NTPPacket {
      NTPPacket(mode: .server, stratum: 2, poll: 6, precision: -20, rootDelay: 0x100, rootDispersion: 0x100,
                referenceID: 0x0a00_0063, reference: serverTime(offset - 1_000_000_000), origin: request.transmit,
                receive: serverTime(offset), transmit: serverTime(offset))
    }

    /// Runs in steps of 10 ms for `seconds`, or until `condition` holds.
    @discardableResult
    func run(seconds: Int, until condition: () -> Bool = { false }) -> Bool {
      for _ in 0..<(seconds * 100) {
        if condition() { return true }
        clientStack.poll(now: now)
        _ = client.step(now: now)
        clientStack.flush(now: now)
        serverStack.poll(now: now)
        while let datagram = server.receive() {
          guard let request = datagram.payload.withUnsafeBytes({ try? NTPPacket.parse($0) }) else { continue }
          requests.append((now, datagram.sourcePort, request))
          if let reply = answer(request) { try? server.send(reply.bytes, to: datagram.source, port: datagram.sourcePort) }
        }
        serverStack.flush(now: now)
        now = now + .milliseconds(10)
        clock.time = WallTime(nanosecondsSinceEpoch: NTPClientTests.base + now.nanoseconds)
      }
      return condition()
    }
  }

  func testAServerAnHourAheadCorrectsTheClock() throws {
    let setup = try Setup()
    let hour: Int64 = 3_600 * 1_000_000_000
    setup.answer = { setup.reply(to: $0, offset: hour) }
    XCTAssertEqual(setup.client.now(), setup.clock.now(), "uncorrected until a server answers")
    XCTAssertTrue(setup.run(seconds: 5) { setup.client.isSynchronised })
    let offset = try XCTUnwrap(setup.client.offset)
    XCTAssertLessThan(abs(offset - hour), 20_000_000, "the hour, within the round trip")
    XCTAssertEqual(setup.client.now().nanosecondsSinceEpoch, setup.clock.now().nanosecondsSinceEpoch + offset)
    XCTAssertEqual(setup.client.counters.accepted, 1)
    let request = try XCTUnwrap(setup.requests.first?.packet)
    XCTAssertEqual(request.version, 4)
    XCTAssertEqual(request.mode, .client)
    XCTAssertNotEqual(request.transmit, .zero)
    XCTAssertEqual(request.origin, .zero)
    XCTAssertEqual(request.receive, .zero)
    // A burst of four requests 2 s apart, then the minimum interval, then twice it; each from
    // another port, with another transmit time.
    XCTAssertTrue(setup.run(seconds: 10) { setup.requests.count == 4 })
    XCTAssertFalse(setup.run(seconds: 63) { setup.requests.count > 4 })
    XCTAssertTrue(setup.run(seconds: 2) { setup.requests.count == 5 })
    XCTAssertTrue(setup.run(seconds: 130) { setup.requests.count == 6 })
    let times = setup.requests.map { (($0.at - setup.requests[0].at).nanoseconds + 500_000_000) / 1_000_000_000 }
    XCTAssertEqual(times, [0, 2, 4, 6, 70, 198])
    XCTAssertEqual(Set(setup.requests.map { $0.port }).count, 6, "a fresh port each time")
    XCTAssertEqual(Set(setup.requests.map { $0.packet.transmit }).count, 6)
    setup.run(seconds: 1)
    XCTAssertEqual(setup.client.counters.accepted, 6)
  }

  func testTheQuickestOfTheBurstsRepliesSetsTheClock() throws {
    // The first reply waits 1 s in the server's queue (a server starting up): its offset is
    // half a second off; the burst's next replies, answered at once, correct it.
    let setup = try Setup()
    var held: [(until: Instant, request: NTPPacket)] = []
    setup.answer = { request in
      if setup.requests.count == 1 {
        held.append((setup.now + .seconds(1), request))
        return nil
      }
      return setup.reply(to: request, offset: 0)
    }
    // Releases the held reply a second late (the test's server answers from the loop).
    XCTAssertTrue(setup.run(seconds: 2) {
      if let first = held.first, setup.now >= first.until {
        try? setup.server.send(setup.reply(to: first.request, offset: 0).bytes, to: .v4(IPv4Address(10, 0, 0, 2)), port: setup.requests[0].port)
        held = []
      }
      return setup.client.isSynchronised
    })
    XCTAssertGreaterThan(abs(setup.client.offset ?? 0), 400_000_000, "the late reply's offset: half its wait")
    XCTAssertTrue(setup.run(seconds: 5) { setup.client.counters.accepted == 2 })
    XCTAssertLessThan(abs(setup.client.offset ?? .max), 20_000_000, "the quick reply's")
    XCTAssertEqual(setup.client.servers[0].filter.count, 2)
  }

  func testRefusedReplies() throws {
    let setup = try Setup()
    let client = setup.client
    var mode = 0
    setup.answer = { request in
      var reply = setup.reply(to: request, offset: 5_000_000_000)
      switch mode {
      case 0: reply.leap = 3  // unsynchronised
      case 1: reply.stratum = 16
      case 2: reply.origin = NTPTimestamp(rawValue: request.transmit.rawValue ^ 1)  // not our request
      case 3: reply.transmit = NTPTimestamp(nanosecondsSinceEpoch: 631_152_000 * 1_000_000_000)  // 1990
      case 4: reply.transmit = .zero
      case 5: reply.rootDispersion = 2 << 16  // 2 s from the primary source
      case 6: reply.mode = .symmetricPassive
      case 7:  // chronyd without a source: leap indicator 3, stratum 0, no kiss code
        (reply.leap, reply.stratum, reply.referenceID) = (3, 0, 0)
      default: return nil
      }
      return reply
    }
    for (index, expected) in [(0, \NTPClient.Counters.unsynchronised), (1, \.unsynchronised), (2, \.mismatched), (3, \.implausible),
                              (4, \.implausible), (5, \.implausible), (6, \.implausible), (7, \.unsynchronised)] {
      mode = index
      let before = client.counters[keyPath: expected]
      XCTAssertTrue(setup.run(seconds: 70) { client.counters[keyPath: expected] > before }, "case \(index)")
    }
    XCTAssertNil(client.offset, "no refused reply set the clock")
    XCTAssertEqual(client.counters.accepted, 0)
    XCTAssertEqual(client.counters.kissOfDeath, 0)
  }

  func testKissOfDeathRateSlowsDenyStops() throws {
    let setup = try Setup()
    var kiss = NTPPacket.kissRate
    setup.answer = { request in
      NTPPacket(mode: .server, stratum: 0, referenceID: kiss, origin: request.transmit, transmit: setup.serverTime(0))
    }
    XCTAssertTrue(setup.run(seconds: 5) { setup.client.counters.kissOfDeath == 1 })
    XCTAssertEqual(setup.client.servers[0].interval, .seconds(128), "RATE: the interval doubled")
    XCTAssertFalse(setup.run(seconds: 120) { setup.requests.count > 1 }, "and the next request waits for it")
    kiss = NTPPacket.kissDeny
    XCTAssertTrue(setup.run(seconds: 20) { setup.client.counters.kissOfDeath == 2 })
    let asked = setup.requests.count
    setup.run(seconds: 2100)
    XCTAssertEqual(setup.requests.count, asked, "DENY: never asked again")
    XCTAssertNil(setup.client.offset)
    XCTAssertNil(setup.client.step(now: setup.now), "nothing left to wait for")
  }

  func testUnansweredRequestsBackOff() throws {
    let setup = try Setup()
    setup.run(seconds: 60)
    let times = setup.requests.map { (($0.at - setup.requests[0].at).nanoseconds + 500_000_000) / 1_000_000_000 }
    XCTAssertEqual(times, [0, 6, 16, 34], "timeouts of 2 s, then retries after 4, 8, 16 s (no burst without replies)")
    XCTAssertEqual(setup.client.counters.timeouts, 4)
    XCTAssertNil(setup.client.offset)
  }

  func testThreeServersOutvoteAFalseOne() throws {
    let servers: [IPAddress] = [.v4(IPv4Address(10, 0, 0, 1)), .v4(IPv4Address(10, 0, 0, 3)), .v4(IPv4Address(10, 0, 0, 4))]
    let setup = try Setup(servers: servers)
    let client = setup.client
    // Replies handed in as if each had answered its request 4 ms later: two agree on +2 s,
    // one says +500 s.
    let now = setup.now
    for (index, offset) in [Int64(2_000_000_000), 500_000_000_000, 2_001_000_000].enumerated() {
      client.servers[index].nonce = NTPTimestamp(rawValue: UInt64(index + 1))
      client.servers[index].sentWall = NTPClientTests.base
      client.servers[index].sentAt = now
      let server = NTPTimestamp(nanosecondsSinceEpoch: NTPClientTests.base + 2_000_000 + offset)
      client.handle(NTPPacket(mode: .server, stratum: 2, origin: client.servers[index].nonce, receive: server, transmit: server),
                    from: index, now: now + .milliseconds(4))
      if index == 1 { XCTAssertEqual(client.offset, 2_000_000_000, "two samples: the shortest round trip (the first)") }
    }
    XCTAssertEqual(client.offset, 2_001_000_000, "three: the median")
    XCTAssertEqual(client.samples.count, 3)
  }
}
