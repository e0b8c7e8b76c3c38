// Time as devices report it: RFC 3339 wall-clock descriptions, monotonic instants, and
// durations in nanoseconds.

import SiroccoDevices
import XCTest

final class TimeTests: XCTestCase {
  func wall(_ seconds: Int64, nanoseconds: Int64 = 0) -> WallTime {
    WallTime(nanosecondsSinceEpoch: seconds * 1_000_000_000 + nanoseconds)
  }

  func testTheEpoch() {
    XCTAssertEqual(wall(0).description, "1970-01-01T00:00:00.000Z")
    XCTAssertEqual(wall(0).secondsSinceEpoch, 0)
  }

  func testKnownDates() {
    XCTAssertEqual(wall(1_795_237_980, nanoseconds: 123_000_000).description, "2026-11-21T05:13:00.123Z")
    XCTAssertEqual(wall(946_684_800).description, "2000-01-01T00:00:00.000Z")
    XCTAssertEqual(wall(1, nanoseconds: 999_999_999).description, "1970-01-01T00:00:01.999Z", "milliseconds truncate")
    let civil = wall(1_795_237_980).civil
    XCTAssertEqual(civil.year, 2026)
    XCTAssertEqual(civil.month, 11)
    XCTAssertEqual(civil.day, 21)
    XCTAssertEqual(civil.hour, 5)
    XCTAssertEqual(civil.minute, 13)
    XCTAssertEqual(civil.second, 0)
  }

  func testDatesBefore1970() {
    XCTAssertEqual(WallTime(nanosecondsSinceEpoch: -1).description, "1969-12-31T23:59:59.999Z")
    XCTAssertEqual(WallTime(nanosecondsSinceEpoch: -1).secondsSinceEpoch, -1)
    XCTAssertEqual(wall(-1, nanoseconds: 1).secondsSinceEpoch, -1)
    XCTAssertEqual(wall(-86_400).description, "1969-12-31T00:00:00.000Z")
    XCTAssertEqual(wall(-14_182_940).description, "1969-07-20T20:17:40.000Z")
    XCTAssertEqual(wall(-14_182_940, nanoseconds: -250_000_000).description, "1969-07-20T20:17:39.750Z")
    XCTAssertEqual(wall(-2_208_988_800).description, "1900-01-01T00:00:00.000Z")
  }

  func testLeapYears() {
    XCTAssertEqual(wall(1_709_210_096, nanoseconds: 789_000_000).description, "2024-02-29T12:34:56.789Z")
    XCTAssertEqual(wall(1_709_210_096 + 86_400).description, "2024-03-01T12:34:56.000Z")
    XCTAssertEqual(wall(68_169_600).description, "1972-02-29T00:00:00.000Z")
    XCTAssertEqual(wall(951_868_799).description, "2000-02-29T23:59:59.000Z", "divisible by 400: leap")
    XCTAssertEqual(wall(4_107_456_000).description, "2100-02-28T00:00:00.000Z")
    XCTAssertEqual(wall(4_107_456_000 + 86_400).description, "2100-03-01T00:00:00.000Z", "divisible by 100: not leap")
    XCTAssertEqual(wall(4_107_542_400 - 1).description, "2100-02-28T23:59:59.000Z")
  }

  func testTheEndsOfTheRange() {
    XCTAssertEqual(WallTime(nanosecondsSinceEpoch: .max).description, "2262-04-11T23:47:16.854Z")
    XCTAssertEqual(WallTime(nanosecondsSinceEpoch: .min).description, "1677-09-21T00:12:43.145Z")
  }

  func testWallTimeOrder() {
    XCTAssertLessThan(wall(-1), wall(0))
    XCTAssertEqual(wall(5), WallTime(nanosecondsSinceEpoch: 5_000_000_000))
  }

  // MARK: Instant

  func testInstantArithmetic() {
    let start = Instant(nanoseconds: 5_000_000_000)
    XCTAssertEqual(start + .milliseconds(1500), Instant(nanoseconds: 6_500_000_000))
    XCTAssertEqual(start - .milliseconds(1500), Instant(nanoseconds: 3_500_000_000))
    XCTAssertEqual(start + .nanoseconds(-1), Instant(nanoseconds: 4_999_999_999))
    var moving = start
    moving += .seconds(2)
    XCTAssertEqual(moving, Instant(nanoseconds: 7_000_000_000))
    XCTAssertEqual(moving - start, .seconds(2))
    XCTAssertEqual(start - moving, .seconds(-2))
    XCTAssertEqual((start - Instant.zero).nanoseconds, 5_000_000_000)
    XCTAssertLessThan(start, moving)
    XCTAssertEqual(Instant.zero, Instant(nanoseconds: 0))
  }

  func testInstantArithmeticSaturatesInsteadOfWrapping() {
    // A deadline "forever from now" must stay in the future.
    XCTAssertEqual(Instant(nanoseconds: 1) + .seconds(Int64.max), Instant(nanoseconds: .max))
    XCTAssertEqual(Instant(nanoseconds: .max - 5) + .nanoseconds(10), Instant(nanoseconds: .max))
    XCTAssertEqual(Instant(nanoseconds: -10) - .seconds(Int64.max), Instant(nanoseconds: .min))
    XCTAssertEqual(Instant(nanoseconds: -10) + .seconds(Int64.min), Instant(nanoseconds: .min))
    XCTAssertEqual(Instant(nanoseconds: 10) - .seconds(Int64.min), Instant(nanoseconds: .max))
    XCTAssertGreaterThan(at(seconds: 3) + .seconds(1 << 40), at(seconds: 3))
  }

  func testInstantDescription() {
    XCTAssertEqual(Instant(nanoseconds: 12_000_345_678).description, "12.000345")
    XCTAssertEqual(Instant.zero.description, "0.000000")
    XCTAssertEqual(Instant(nanoseconds: 999_999).description, "0.000999")
  }

  // MARK: Duration

  func testDurationNanoseconds() {
    XCTAssertEqual(Duration.seconds(1).nanoseconds, 1_000_000_000)
    XCTAssertEqual(Duration.milliseconds(1500).nanoseconds, 1_500_000_000)
    XCTAssertEqual(Duration.milliseconds(-1500).nanoseconds, -1_500_000_000)
    XCTAssertEqual(Duration.nanoseconds(-1).nanoseconds, -1)
    XCTAssertEqual(Duration.nanoseconds(Int64.max).nanoseconds, .max)
    XCTAssertEqual(Duration.nanoseconds(Int64.min).nanoseconds, .min)
    XCTAssertEqual(Duration.zero.nanoseconds, 0)
  }

  func testDurationNanosecondsSaturates() {
    XCTAssertEqual(Duration.seconds(Int64.max).nanoseconds, .max)
    XCTAssertEqual(Duration.seconds(Int64.min).nanoseconds, .min)
    XCTAssertEqual(Duration.seconds(9_223_372_037).nanoseconds, .max)
    XCTAssertEqual(Duration.seconds(-9_223_372_037).nanoseconds, .min)
    // Just past the edge through the sub-second part.
    XCTAssertEqual((Duration.seconds(9_223_372_036) + .milliseconds(900)).nanoseconds, .max)
    XCTAssertEqual((Duration.seconds(-9_223_372_036) - .milliseconds(900)).nanoseconds, .min)
    // Just inside it.
    XCTAssertEqual((Duration.seconds(9_223_372_036) + .milliseconds(854)).nanoseconds, 9_223_372_036_854_000_000)
  }
}
