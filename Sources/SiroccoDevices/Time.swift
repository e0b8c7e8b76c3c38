// Time as the devices report it: monotonic instants and wall-clock times.

import SiroccoWire

/// A point on the monotonic clock, in nanoseconds since an arbitrary origin (boot). Never
/// goes backwards; unrelated to the date.
public struct Instant: Hashable, Comparable, Sendable {
  public var nanoseconds: Int64

  public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

  public static let zero = Instant(nanoseconds: 0)

  public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

  /// Saturates at the ends of the range: a deadline "forever" from now stays in the future.
  public static func + (lhs: Instant, rhs: Duration) -> Instant {
    let offset = rhs.nanoseconds
    let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(offset)
    return Instant(nanoseconds: overflow ? (offset < 0 ? .min : .max) : sum)
  }

  /// Saturates at the ends of the range.
  public static func - (lhs: Instant, rhs: Duration) -> Instant {
    let offset = rhs.nanoseconds
    let (difference, overflow) = lhs.nanoseconds.subtractingReportingOverflow(offset)
    return Instant(nanoseconds: overflow ? (offset < 0 ? .max : .min) : difference)
  }

  public static func += (lhs: inout Instant, rhs: Duration) { lhs = lhs + rhs }

  /// The time from `other` to `self` (negative when `other` is later).
  public static func - (lhs: Instant, rhs: Instant) -> Duration {
    .nanoseconds(lhs.nanoseconds &- rhs.nanoseconds)
  }
}

extension Instant: CustomStringConvertible, TextConvertible {
  /// Seconds with microseconds, as a log prefix would show them: `12.000345`.
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    let micros = nanoseconds / 1000
    text.append(decimal: Int(micros / 1_000_000))
    text.append(byte: UInt8(ascii: "."))
    text.append(decimal: UInt64((micros % 1_000_000).magnitude), width: 6)
  }
}

extension Duration {
  /// This duration in whole nanoseconds, saturating at the bounds of `Int64`.
  public var nanoseconds: Int64 {
    let (seconds, attoseconds) = components
    let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if overflow { return seconds < 0 ? .min : .max }
    let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
    if overflow2 { return seconds < 0 ? .min : .max }
    return sum
  }
}

/// A wall-clock time: nanoseconds since 1970-01-01T00:00:00Z, ignoring leap seconds.
public struct WallTime: Hashable, Comparable, Sendable {
  public var nanosecondsSinceEpoch: Int64

  public init(nanosecondsSinceEpoch: Int64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }

  public static func < (lhs: WallTime, rhs: WallTime) -> Bool {
    lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
  }

  public var secondsSinceEpoch: Int64 {
    let (quotient, remainder) = nanosecondsSinceEpoch.quotientAndRemainder(dividingBy: 1_000_000_000)
    return remainder < 0 ? quotient - 1 : quotient
  }

  /// The UTC calendar date and time: (year, month 1-12, day 1-31, hour, minute, second).
  public var civil: (year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
    let seconds = secondsSinceEpoch
    var days = seconds / 86_400
    var secondOfDay = seconds % 86_400
    if secondOfDay < 0 {
      secondOfDay += 86_400
      days -= 1
    }
    // Days to civil date: Howard Hinnant's algorithm (proleptic Gregorian calendar).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthPrime = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
    let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (year, Int(month), Int(day), Int(secondOfDay / 3600), Int(secondOfDay / 60 % 60), Int(secondOfDay % 60))
  }
}

extension WallTime: CustomStringConvertible, TextConvertible {
  /// RFC 3339 in UTC with milliseconds: `2026-11-21T05:13:00.123Z`.
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    let date = civil
    // From the remainder: `secondsSinceEpoch * 1e9` overflows in the last second before .min.
    let remainder = nanosecondsSinceEpoch % 1_000_000_000
    let millis = (remainder < 0 ? remainder + 1_000_000_000 : remainder) / 1_000_000
    // The years representable (1677...2262) are all positive.
    let fields: [(value: UInt64, width: Int, separator: UInt8)] = [
      (UInt64(date.year), 4, UInt8(ascii: "-")), (UInt64(date.month), 2, UInt8(ascii: "-")),
      (UInt64(date.day), 2, UInt8(ascii: "T")), (UInt64(date.hour), 2, UInt8(ascii: ":")),
      (UInt64(date.minute), 2, UInt8(ascii: ":")), (UInt64(date.second), 2, UInt8(ascii: ".")),
      (UInt64(millis), 3, UInt8(ascii: "Z")),
    ]
    for field in fields {
      text.append(decimal: field.value, width: field.width)
      text.append(byte: field.separator)
    }
  }
}
