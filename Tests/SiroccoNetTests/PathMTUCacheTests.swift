// Path MTU estimates: lowered by reports, never below each family's floor, aged out, bounded.

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

final class PathMTUCacheTests: XCTestCase {
  let v6 = IPAddress("2001:db8::1")!
  let v4 = IPAddress("192.0.2.7")!

  func testAReportLowersTheEstimateForItsLifetime() {
    var cache = PathMTUCache()
    XCTAssertEqual(cache.mtu(to: v6, linkMTU: 1500, now: .zero), 1500, "the link's MTU until told otherwise")
    XCTAssertEqual(cache.report(1400, for: v6, linkMTU: 1500, now: at(seconds: 10)), 1400)
    XCTAssertEqual(cache.mtu(to: v6, linkMTU: 1500, now: at(seconds: 11)), 1400)
    XCTAssertEqual(cache.mtu(to: v4, linkMTU: 1500, now: at(seconds: 11)), 1500, "only that destination")
    XCTAssertNil(cache.report(1450, for: v6, linkMTU: 1500, now: at(seconds: 12)), "a report never raises it")
    XCTAssertEqual(cache.report(1300, for: v6, linkMTU: 1500, now: at(seconds: 300)), 1300)
    XCTAssertEqual(cache.mtu(to: v6, linkMTU: 1280, now: at(seconds: 301)), 1280, "never above the link's own")
    XCTAssertEqual(cache.mtu(to: v6, linkMTU: 1500, now: at(seconds: 899.9)), 1300, "ten minutes from the last report")
    XCTAssertEqual(cache.mtu(to: v6, linkMTU: 1500, now: at(seconds: 900)), 1500, "then the link's MTU is tried again")
    cache.expire(now: at(seconds: 900))
    XCTAssertEqual(cache.count, 0)
  }

  func testEachFamilyHasAFloor() {
    var cache = PathMTUCache()
    XCTAssertNil(cache.report(1279, for: v6, linkMTU: 1500, now: .zero), "below 1280: ignored (RFC 8201, 8021)")
    XCTAssertEqual(cache.mtu(to: v6, linkMTU: 1500, now: .zero), 1500)
    XCTAssertEqual(cache.report(68, for: v4, linkMTU: 1500, now: .zero), 576, "IPv4: clamped to 576")
    XCTAssertNil(cache.report(100, for: v4, linkMTU: 1500, now: .zero), "already at the floor")
  }

  func testTheCacheIsBounded() {
    var configuration = PathMTUCache.Configuration()
    configuration.capacity = 2
    var cache = PathMTUCache(configuration: configuration)
    let third = IPAddress("2001:db8::3")!
    cache.report(1400, for: v6, linkMTU: 1500, now: at(seconds: 1))
    cache.report(1400, for: v4, linkMTU: 1500, now: at(seconds: 2))
    cache.report(1400, for: third, linkMTU: 1500, now: at(seconds: 3))
    XCTAssertEqual(cache.count, 2)
    XCTAssertEqual(cache.mtu(to: v6, linkMTU: 1500, now: at(seconds: 4)), 1500, "the entry closest to expiry went")
    XCTAssertEqual(cache.mtu(to: third, linkMTU: 1500, now: at(seconds: 4)), 1400)
  }
}
