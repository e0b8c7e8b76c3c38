// The routing table: the longest prefix wins, then the lowest metric, in each family apart;
// routes that lapse; replacement of a renewed route; the bound.

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

final class RoutingTableTests: XCTestCase {
  func network(_ text: String) -> IPNetwork { IPNetwork(text)! }
  func address(_ text: String) -> IPAddress { IPAddress(text)! }

  func table() throws -> RoutingTable {
    var table = RoutingTable()
    try table.add(Route(destination: network("10.0.0.2/24"), link: 0, origin: .connected))
    try table.add(Route(destination: network("0.0.0.0/0"), gateway: address("10.0.0.254"), link: 0))
    try table.add(Route(destination: network("192.168.7.2/24"), link: 1, origin: .connected))
    try table.add(Route(destination: network("172.16.0.0/12"), gateway: address("192.168.7.1"), link: 1, origin: .dhcp))
    try table.add(Route(destination: network("fd00:1::5/64"), link: 1, origin: .connected))
    try table.add(Route(destination: network("::/0"), gateway: address("fe80::1"), link: 0, origin: .routerAdvertisement))
    return table
  }

  func testTheLongestPrefixWinsInEachFamily() throws {
    let table = try table()
    let now = Instant.zero
    func hop(_ text: String) -> String? {
      table.nextHop(for: address(text), now: now).map { "\($0.link) \($0.address)" }
    }
    XCTAssertEqual(hop("10.0.0.9"), "0 10.0.0.9", "on link 0")
    XCTAssertEqual(hop("192.168.7.40"), "1 192.168.7.40", "on link 1")
    XCTAssertEqual(hop("172.20.1.1"), "1 192.168.7.1", "the /12 through link 1's gateway")
    XCTAssertEqual(hop("8.8.8.8"), "0 10.0.0.254", "the IPv4 default")
    XCTAssertEqual(hop("fd00:1::77"), "1 fd00:1::77", "on link 1")
    XCTAssertEqual(hop("2001:db8::1"), "0 fe80::1", "the IPv6 default, never the IPv4 one")
    XCTAssertEqual(table.lookup(address("10.0.0.9"), now: now)?.destination, network("10.0.0.0/24"), "destinations are normalised")
  }

  /// `route(to:now:)` remembers its last answer: a route added or removed since, or the
  /// remembered route lapsing, gives the answer `lookup` gives.
  func testTheRememberedRouteFollowsEveryChange() throws {
    var table = try table()
    let destination = address("172.20.1.1")
    XCTAssertEqual(table.route(to: destination, now: .zero)?.destination, network("172.16.0.0/12"))
    XCTAssertEqual(table.route(to: destination, now: .zero)?.destination, network("172.16.0.0/12"), "asked again")
    try table.add(Route(destination: network("172.20.0.0/16"), link: 0, expiry: .zero + .seconds(10)))
    XCTAssertEqual(table.route(to: destination, now: .zero)?.destination, network("172.20.0.0/16"), "a longer route added")
    XCTAssertEqual(
      table.route(to: destination, now: .zero + .seconds(10))?.destination, network("172.16.0.0/12"), "the longer one lapsed")
    table.remove { $0.destination == network("172.16.0.0/12") }
    XCTAssertEqual(table.route(to: destination, now: .zero + .seconds(10))?.destination, network("0.0.0.0/0"), "removed")
    var empty = RoutingTable()
    XCTAssertNil(empty.route(to: destination, now: .zero))
    try empty.add(Route(destination: network("0.0.0.0/0"), gateway: address("10.0.0.254"), link: 0))
    XCTAssertEqual(empty.route(to: destination, now: .zero)?.gateway, address("10.0.0.254"), "no route, then one")
    for text in ["10.0.0.9", "fd00:1::77", "2001:db8::1", "8.8.8.8", "10.0.0.9"] {
      XCTAssertEqual(table.route(to: address(text), now: .zero), table.lookup(address(text), now: .zero), text)
    }
  }

  func testWithoutADefaultAnOffLinkDestinationHasNoRoute() throws {
    var table = RoutingTable()
    try table.add(Route(destination: network("10.0.0.2/24"), link: 0, origin: .connected))
    XCTAssertNil(table.nextHop(for: address("10.0.1.1"), now: .zero))
    XCTAssertNil(table.nextHop(for: address("fd00::1"), now: .zero), "no route of the other family")
    try table.add(Route(destination: network("10.0.0.9/32"), gateway: address("10.0.0.254"), link: 0))
    XCTAssertEqual(table.nextHop(for: address("10.0.0.9"), now: .zero)?.address, address("10.0.0.254"), "a host route beats the /24")
  }

  func testTheLowestMetricBreaksATie() throws {
    var table = RoutingTable()
    try table.add(Route(destination: network("0.0.0.0/0"), gateway: address("10.0.0.254"), link: 0, metric: 100))
    try table.add(Route(destination: network("0.0.0.0/0"), gateway: address("192.168.7.1"), link: 1, metric: 10))
    try table.add(Route(destination: network("0.0.0.0/0"), gateway: address("192.168.7.2"), link: 1, metric: 10))
    XCTAssertEqual(table.nextHop(for: address("8.8.8.8"), now: .zero)?.address, address("192.168.7.1"), "lowest metric, then first added")
  }

  func testRoutesLapseAndRenewalsReplaceThem() throws {
    var table = RoutingTable()
    try table.add(Route(destination: network("::/0"), gateway: address("fe80::1"), link: 0, origin: .routerAdvertisement, expiry: at(seconds: 1800)))
    try table.add(Route(destination: network("::/0"), gateway: address("fe80::2"), link: 0, metric: 5, origin: .routerAdvertisement, expiry: at(seconds: 600)))
    XCTAssertEqual(table.nextDeadline, at(seconds: 600))
    XCTAssertEqual(table.nextHop(for: address("2001:db8::1"), now: at(seconds: 599))?.address, address("fe80::1"))
    // A renewed advertisement from fe80::2 replaces its route: metric 0 now, an hour long.
    try table.add(Route(destination: network("::/0"), gateway: address("fe80::2"), link: 0, metric: 0, origin: .routerAdvertisement, expiry: at(seconds: 3600)))
    XCTAssertEqual(table.routes.count, 2)
    XCTAssertEqual(table.nextHop(for: address("2001:db8::1"), now: at(seconds: 1000))?.address, address("fe80::1"), "first added wins the tie")
    XCTAssertEqual(table.nextHop(for: address("2001:db8::1"), now: at(seconds: 1800))?.address, address("fe80::2"), "fe80::1 lapsed")
    XCTAssertEqual(table.expire(now: at(seconds: 1800)).map { $0.gateway }, [address("fe80::1")])
    XCTAssertEqual(table.nextDeadline, at(seconds: 3600))
    XCTAssertEqual(table.remove { $0.origin == .routerAdvertisement }, 1)
    XCTAssertTrue(table.routes.isEmpty)
  }

  func testTheTableIsBoundedAndFamiliesDoNotMix() throws {
    var table = RoutingTable(capacity: 2)
    try table.add(Route(destination: network("10.0.0.0/24"), link: 0))
    try table.add(Route(destination: network("10.0.1.0/24"), link: 0))
    XCTAssertThrowsError(try table.add(Route(destination: network("10.0.2.0/24"), link: 0))) { XCTAssertEqual($0 as? RouteError, .full) }
    try table.add(Route(destination: network("10.0.1.0/24"), link: 0, metric: 3))
    XCTAssertEqual(table.routes.map(\.metric), [0, 3], "a replacement needs no room")
    var mixed = RoutingTable()
    XCTAssertThrowsError(try mixed.add(Route(destination: network("0.0.0.0/0"), gateway: address("fe80::1"), link: 0))) {
      XCTAssertEqual($0 as? RouteError, .mixedFamilies)
    }
  }
}
