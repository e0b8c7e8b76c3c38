// The parts of the authoritative server that need no network: zones read from a store,
// serial arithmetic, response-rate limiting, ANY's choice, and how a response is cut when its
// optional sections do not fit. The server itself runs end to end in DNSServerTests.

import SiroccoStore
import SiroccoWire
import XCTest

@testable import SiroccoDNS

final class ServerPartsTests: XCTestCase {
  func name(_ text: String) -> DNSName { try! DNSName(text) }

  let zone = """
    $TTL 300
    @    IN SOA ns1 hostmaster 5 3600 600 86400 60
         IN NS  ns1
    ns1  IN A   10.0.0.1
    """

  func testZonesComeFromEveryZoneFileOfAStore() throws {
    let store = MemoryStore([
      (path: "example.test.zone", bytes: Array(zone.utf8), modified: 1),
      (path: "reverse/2.0.192.in-addr.arpa.zone", bytes: Array(zone.utf8), modified: 2),
      (path: "README", bytes: Array("not a zone".utf8), modified: 3),
    ])
    let sources = try ZoneArchive.loadAll(from: store)
    XCTAssertEqual(sources.map(\.key), ["example.test.zone", "reverse/2.0.192.in-addr.arpa.zone"])
    XCTAssertEqual(sources.map(\.zone.origin), [name("example.test."), name("2.0.192.in-addr.arpa.")],
                   "the file's name is the origin")
    XCTAssertEqual(sources[0].zone.serial, 5)
    XCTAssertEqual(sources[1].modified, 2)
  }

  func testZonesAreLoadedFromADirectoryOfAStoreAndNoneIsNoError() throws {
    let store = MemoryStore([
      (path: "zones/example.test.zone", bytes: Array(zone.utf8), modified: 1),
      (path: "other/a.test.zone", bytes: Array(zone.utf8), modified: 2),
      (path: "index.html", bytes: [], modified: 0),
    ])
    XCTAssertEqual(try ZoneArchive.loadAll(from: store, under: "zones").map(\.key), ["zones/example.test.zone"])
    XCTAssertEqual(try ZoneArchive.loadAll(from: MemoryStore([(path: "index.html", bytes: [], modified: 0)])).count, 0)
    XCTAssertEqual(try ZoneArchive.loadAll(from: MemoryStore([])).count, 0, "an empty archive (a zeroed device)")
  }

  func testZoneFilesThatCannotBeServedAreRefusedByName() {
    func failure(_ files: [(path: String, bytes: [UInt8], modified: Int64)]) -> String {
      do {
        _ = try ZoneArchive.loadAll(from: MemoryStore(files))
        return "loaded"
      } catch {
        return error.message
      }
    }
    XCTAssertEqual(failure([(path: "a.test.zone", bytes: Array((zone + "\nwww IN A 10.0.0.300\n").utf8), modified: 0)]),
                   "a.test.zone:5: A: expected an IPv4 address such as 192.0.2.1")
    XCTAssertEqual(failure([(path: "a.test.zone", bytes: Array("www IN A 10.0.0.1\n".utf8), modified: 0)]),
                   "a.test.zone: the zone has no SOA record")
    XCTAssertEqual(failure([
      (path: "a.test.zone", bytes: Array(zone.utf8), modified: 0),
      (path: "copy/a.test.zone", bytes: Array(zone.utf8), modified: 0),
    ]), "copy/a.test.zone: the zone a.test. is also in a.test.zone")
  }

  func testSerialsCompareAsRFC1982Says() {
    XCTAssertTrue(serialGreater(2, than: 1))
    XCTAssertFalse(serialGreater(1, than: 1))
    XCTAssertFalse(serialGreater(1, than: 2))
    XCTAssertTrue(serialGreater(1, than: 0xffff_fff0), "across the wrap")
    XCTAssertFalse(serialGreater(0x8000_0000, than: 0), "half a circle apart: undefined, not greater")
  }

  func testRateLimitingCountsPerNetworkAndSlips() {
    let limiter = ResponseRateLimiter(configuration: ResponseRateLimiter.Configuration(responsesPerSecond: 5, slip: 2))
    let client = IPAddress.v4(IPv4Address(192, 0, 2, 7))
    let neighbour = IPAddress.v4(IPv4Address(192, 0, 2, 200))
    let elsewhere = IPAddress.v4(IPv4Address(198, 51, 100, 7))
    var decisions: [RateDecision] = []
    for _ in 0..<5 { decisions.append(limiter.decide(client: client, kind: .answer, subject: 1, second: 10)) }
    XCTAssertEqual(decisions, Array(repeating: .send, count: 5))
    XCTAssertEqual(limiter.decide(client: neighbour, kind: .answer, subject: 1, second: 10), .drop, "the same /24")
    XCTAssertEqual(limiter.decide(client: client, kind: .answer, subject: 1, second: 10), .slip, "every second one slips")
    XCTAssertEqual(limiter.decide(client: elsewhere, kind: .answer, subject: 1, second: 10), .send, "another network")
    XCTAssertEqual(limiter.decide(client: client, kind: .answer, subject: 2, second: 10), .send, "another answer")
    XCTAssertEqual(limiter.decide(client: client, kind: .nameError, subject: 1, second: 10), .send, "another kind")
    XCTAssertEqual(limiter.decide(client: client, kind: .answer, subject: 1, second: 11), .send, "a new second")
    XCTAssertEqual(limiter.dropped, 1)
    XCTAssertEqual(limiter.slipped, 1)
    let off = ResponseRateLimiter(configuration: ResponseRateLimiter.Configuration(responsesPerSecond: 0))
    for _ in 0..<100 { XCTAssertEqual(off.decide(client: client, kind: .answer, subject: 1, second: 1), .send) }
    let v6 = ResponseRateLimiter(configuration: ResponseRateLimiter.Configuration(responsesPerSecond: 1, slip: 0))
    XCTAssertEqual(v6.decide(client: .v6(IPv6Address("2001:db8:0:1::1")!), kind: .answer, subject: 1, second: 1), .send)
    XCTAssertEqual(v6.decide(client: .v6(IPv6Address("2001:db8:0:1::2")!), kind: .answer, subject: 1, second: 1), .drop,
                   "the same /64")
    XCTAssertEqual(v6.decide(client: .v6(IPv6Address("2001:db8:0:2::1")!), kind: .answer, subject: 1, second: 1), .send)
  }

  func testTransfersGoOnlyOverTCPToAllowedNetworks() throws {
    let origin = name("example.test.")
    let authority = Authority(zones: [try Zone(origin: origin, records: try ZoneFile.parse(Array(zone.utf8), origin: origin, file: "z"))])
    var configuration = DNSServer.Configuration()
    configuration.transferClients = [IPNetwork("10.0.0.0/24")!]
    let server = DNSServer(udp: [], tcp: nil, authority: authority, configuration: configuration)
    let query = DNSMessage(id: 9, questions: [DNSQuestion(name: origin, type: .axfr)], edns: EDNS()).emit()
    func reply(from client: String, overTCP: Bool) -> DNSServer.Reply {
      query.withUnsafeBytes { server.reply(to: $0, from: IPAddress(client)!, overTCP: overTCP) }
    }
    guard case .transfer(let zone, _) = reply(from: "10.0.0.7", overTCP: true) else { return XCTFail("no transfer") }
    XCTAssertEqual(zone.origin, origin)
    for (client, overTCP) in [("10.0.1.7", true), ("10.0.0.7", false)] {
      guard case .message(let refusal, _) = reply(from: client, overTCP: overTCP) else { return XCTFail("no refusal") }
      XCTAssertEqual(refusal.responseCode, .refused)
      XCTAssertEqual(refusal.edns?.options, [EDNSOption(code: 15, data: [0, 18])], "RFC 8914: prohibited")
    }
    XCTAssertEqual(server.counters.transfers, 1)
    XCTAssertEqual(server.counters.transfersRefused, 2)
  }

  func testANYPicksAnAddressOrElseTheLastRRsetInZoneOrder() throws {
    let text = zone + """

      mixed IN HINFO \\# 4 01410142
            IN TXT "t"
            IN AAAA fd00::1
            IN A 10.0.0.2
      other IN TXT "first"
            IN CAA 0 issue "ca.test"
      """
    let origin = name("example.test.")
    let authority = Authority(zones: [try Zone(origin: origin, records: try ZoneFile.parse(Array(text.utf8), origin: origin, file: "z"))])
    func any(_ owner: String) -> [RecordType] {
      authority.answer(DNSMessage(id: 1, questions: [DNSQuestion(name: name(owner), type: .any)])).answers.map(\.type)
    }
    XCTAssertEqual(any("mixed.example.test."), [.aaaa], "the first address in the zone's order")
    XCTAssertEqual(any("other.example.test."), [.caa], "no address: the last RRset")
    XCTAssertEqual(any("example.test."), [.soa])
  }

  func testOptionalSectionsAreLeftOutWithoutTC() throws {
    let owner = name("www.example.test.")
    var message = DNSMessage(id: 1, questions: [DNSQuestion(name: owner, type: .txt)])
    message.flags.isResponse = true
    message.answers = [ResourceRecord(name: owner, ttl: 1, data: .txt([Array(repeating: 0x61, count: 200)]))]
    message.authority = (1...4).map { index in
      ResourceRecord(name: name("example.test."), ttl: 1, data: .ns(name("ns\(index).a-long-name-to-fill-the-message.example.test.")))
    }
    message.additional = [ResourceRecord(name: name("ns1.example.test."), ttl: 1, data: .a(IPv4Address(10, 0, 0, 1)))]
    // Required authority: it does not fit, so TC.
    var bytes = message.emit(maximumSize: 300)
    var parsed = try bytes.withUnsafeBytes { try DNSMessage.parse($0) }
    XCTAssertTrue(parsed.flags.truncated)
    XCTAssertEqual(parsed.answers.count, 1, "what fitted before stays")
    XCTAssertTrue(parsed.authority.isEmpty)
    // Optional: left out, no TC, and the additional section after it too.
    message.authorityIsOptional = true
    bytes = message.emit(maximumSize: 300)
    parsed = try bytes.withUnsafeBytes { try DNSMessage.parse($0) }
    XCTAssertFalse(parsed.flags.truncated)
    XCTAssertEqual(parsed.answers.count, 1)
    XCTAssertTrue(parsed.authority.isEmpty)
    XCTAssertTrue(parsed.additional.isEmpty, "the sections after a skipped one are left out")
    // A referral whose glue does not fit at all is truncated.
    var referral = DNSMessage(id: 2, questions: [DNSQuestion(name: owner, type: .a)])
    referral.authority = [ResourceRecord(name: name("example.test."), ttl: 1, data: .ns(name("ns1.example.test.")))]
    referral.additional = [ResourceRecord(name: name("ns1.example.test."), ttl: 1, data: .txt([Array(repeating: 0x62, count: 255)]))]
    referral.glueIsRequired = true
    parsed = try referral.emit(maximumSize: 200).withUnsafeBytes { try DNSMessage.parse($0) }
    XCTAssertTrue(parsed.flags.truncated)
    XCTAssertEqual(parsed.authority.count, 1)
  }
}
