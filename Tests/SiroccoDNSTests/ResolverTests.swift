// The stub resolver against Sirocco's own DNS server, two real stacks back to back over an
// in-memory link with a test clock: answers through CNAMEs, NXDOMAIN cached for the SOA's
// negative TTL, TTLs lowered in the cache and expiry, a server that is not there (the next
// one answers), a truncated answer asked again over TCP, and no server at all. The Linux
// servers (dnsmasq, misbehaving ones) are in EndToEndTests/DNSLookupTests.

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

@testable import SiroccoDNS

final class ResolverTests: XCTestCase {
  let zone = """
    $ORIGIN example.test.
    $TTL 300
    @      IN SOA ns1 hostmaster 1 3600 600 86400 60
           IN NS  ns1
    ns1    IN A   10.0.0.1
    www    IN A   192.0.2.10
    alias  IN CNAME www
    short 5 IN A  192.0.2.11
    big    IN TXT "\(String(repeating: "a", count: 250))" "\(String(repeating: "b", count: 250))"
    big    IN TXT "\(String(repeating: "c", count: 250))" "\(String(repeating: "d", count: 250))"
    big    IN TXT "\(String(repeating: "e", count: 250))" "\(String(repeating: "f", count: 250))"
    """

  /// The resolver's stack at 10.0.0.2, the server's at 10.0.0.1.
  final class Pair {
    let link = MemoryLink()
    let client = Stack<MemoryNetworkDevice>(seed: 1)
    let server = Stack<MemoryNetworkDevice>(seed: 2)
    var now = Instant(nanoseconds: 1_000_000_000)
    var dns: DNSServer!
    var resolver: Resolver!

    init(zone: String, servers: [IPAddress]) throws {
      for (stack, side, host) in [(client, MemoryNetworkDevice.Side.a, UInt8(2)), (server, .b, UInt8(1))] {
        let device = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, host), link: link, side: side)
        var configuration = Link.Configuration(name: "service", macAddress: device.macAddress)
        configuration.announcements = 0
        configuration.ipv6 = false
        let attached = stack.attach(device, configuration: configuration)
        stack.add(IPv4Network(address: IPv4Address(10, 0, 0, host), prefixLength: 24), to: attached)
      }
      let origin = try DNSName("example.test.")
      let authority = Authority(zones: [try Zone(origin: origin, records: try ZoneFile.parse(Array(zone.utf8), origin: origin, file: "z"))])
      dns = DNSServer(udp: [try server.bind(udpPort: 53)], tcp: try server.listen(tcpPort: 53), authority: authority)
      var configuration = Resolver.Configuration()
      configuration.servers = servers
      configuration.timeout = .seconds(1)
      resolver = Resolver(stack: client, seed: 7, configuration: configuration)
    }

    /// Runs both sides in steps of a millisecond until `lookup` is done (at most `limit`).
    func run(_ lookup: Resolver.Lookup, limit: Int = 20_000) -> LookupResult? {
      for _ in 0..<limit where lookup.result == nil {
        client.poll(now: now)
        _ = resolver.step(now: now)
        client.flush(now: now)
        server.poll(now: now)
        _ = dns.step(now: now)
        server.flush(now: now)
        now = now + .milliseconds(1)
      }
      return lookup.result
    }

    func lookup(_ name: String, _ type: RecordType = .a) throws -> LookupResult? {
      run(resolver.lookup(try DNSName(name), type: type, now: now))
    }
  }

  func a(_ text: String) -> RecordData { .a(IPv4Address(text)!) }

  func testAnswersFollowCNAMEsAndAreCachedForTheirTTL() throws {
    let pair = try Pair(zone: zone, servers: [.v4(IPv4Address(10, 0, 0, 1))])
    guard case .records(let records)? = try pair.lookup("alias.example.test.") else { return XCTFail("no answer") }
    XCTAssertEqual(records.map(\.data), [a("192.0.2.10")])
    XCTAssertEqual(records.first?.name, try DNSName("www.example.test."), "the records at the end of the CNAME")
    XCTAssertEqual(pair.resolver.counters.queries, 1)
    // From the cache, its TTL lowered by the time spent there.
    pair.now = pair.now + .seconds(100)
    guard case .records(let cached)? = try pair.lookup("alias.example.test.") else { return XCTFail("no cached answer") }
    XCTAssertEqual(cached.first?.ttl, 200)
    XCTAssertEqual(pair.resolver.counters.queries, 1)
    XCTAssertEqual(pair.resolver.counters.cacheHits, 1)
    // A 5-second TTL: asked again once it has run out.
    XCTAssertEqual(try pair.lookup("short.example.test."), .records([ResourceRecord(name: try DNSName("short.example.test."), ttl: 5, data: a("192.0.2.11"))]))
    pair.now = pair.now + .seconds(6)
    _ = try pair.lookup("short.example.test.")
    XCTAssertEqual(pair.resolver.counters.queries, 3)
  }

  func testNegativeAnswersAreCachedForTheSOAsNegativeTTL() throws {
    let pair = try Pair(zone: zone, servers: [.v4(IPv4Address(10, 0, 0, 1))])
    XCTAssertEqual(try pair.lookup("nope.example.test."), .noSuchName)
    XCTAssertEqual(try pair.lookup("www.example.test.", .mx), .noData)
    XCTAssertEqual(try pair.lookup("nope.example.test."), .noSuchName)
    XCTAssertEqual(pair.resolver.counters.queries, 2, "the second NXDOMAIN from the cache")
    pair.now = pair.now + .seconds(61)  // the SOA's minimum: 60
    XCTAssertEqual(try pair.lookup("nope.example.test."), .noSuchName)
    XCTAssertEqual(pair.resolver.counters.queries, 3)
  }

  func testAServerThatIsNotThereIsLeftForTheNext() throws {
    let pair = try Pair(zone: zone, servers: [.v4(IPv4Address(10, 0, 0, 9)), .v4(IPv4Address(10, 0, 0, 1))])
    let start = pair.now
    guard case .records? = try pair.lookup("www.example.test.") else { return XCTFail("no answer") }
    XCTAssertEqual(pair.resolver.counters.retries, 1)
    XCTAssertGreaterThanOrEqual(pair.now - start, .seconds(1), "after the first server's timeout")
    let nobody = try Pair(zone: zone, servers: [.v4(IPv4Address(10, 0, 0, 9))])
    XCTAssertEqual(try nobody.lookup("www.example.test."), .failed(.timedOut))
    XCTAssertEqual(nobody.resolver.counters.queries, 2, "asked twice (attempts), then it fails")
  }

  func testATruncatedAnswerIsAskedAgainOverTCP() throws {
    let pair = try Pair(zone: zone, servers: [.v4(IPv4Address(10, 0, 0, 1))])
    guard case .records(let records)? = try pair.lookup("big.example.test.", .txt) else { return XCTFail("no answer") }
    XCTAssertEqual(records.count, 3, "the whole RRset (over 1232 bytes)")
    XCTAssertEqual(pair.resolver.counters.tcpFallbacks, 1)
    XCTAssertEqual(pair.dns.counters.tcpQueries, 1)
  }

  func testWithoutServersALookupFailsAtOnce() throws {
    let pair = try Pair(zone: zone, servers: [])
    XCTAssertEqual(try pair.lookup("www.example.test."), .failed(.noServers))
  }
}
