// HTTP dates (RFC 9110 5.6.7): written as IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
// read in all three forms a recipient must accept (IMF-fixdate, RFC 850, asctime). Seconds
// since 1970-01-01 UTC; the calendar is proleptic Gregorian (days from civil, H. Hinnant).

import SiroccoWire

public enum HTTPDate {
  static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
  static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

  /// IMF-fixdate for `seconds` since the epoch.
  public static func format(_ seconds: Int64) -> String {
    let day = floorDivide(seconds, 86400)
    let time = Int(seconds - day * 86400)
    let (year, month, date) = civil(fromDays: day)
    let weekday = Int((day % 7 + 11) % 7)  // 1970-01-01 was a Thursday
    return days[weekday] + ", " + pad(date, 2) + " " + months[month - 1] + " " + pad(Int(year), 4) + " "
      + pad(time / 3600, 2) + ":" + pad(time / 60 % 60, 2) + ":" + pad(time % 60, 2) + " GMT"
  }

  /// Seconds since the epoch, or nil when `text` is none of the three forms.
  public static func parse(_ text: [UInt8]) -> Int64? {
    let words = text.pieces(separatedBy: UInt8(ascii: " ")).map { Array($0) }
    switch words.count {
    case 6:  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      guard words[0].count == 4, words[0].last == UInt8(ascii: ","), words[5].elementsEqual("GMT".utf8),
        let date = number(words[1]), let month = monthNumber(words[2]), words[3].count == 4, let year = number(words[3])
      else { return nil }
      return seconds(year: year, month: month, day: date, time: words[4])
    case 4:  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
      let parts = words[1].pieces(separatedBy: UInt8(ascii: "-")).map { Array($0) }
      guard words[0].last == UInt8(ascii: ","), words[3].elementsEqual("GMT".utf8), parts.count == 3,
        let date = number(parts[0]), let month = monthNumber(parts[1]), parts[2].count == 2, let short = number(parts[2])
      else { return nil }
      // Two-digit years: the 1900s from 70, else the 2000s (RFC 9110 5.6.7: within 50 years).
      return seconds(year: short >= 70 ? 1900 + short : 2000 + short, month: month, day: date, time: words[2])
    case 5:  // asctime: Sun Nov  6 08:49:37 1994
      guard let month = monthNumber(words[1]), let date = number(words[2]), words[4].count == 4, let year = number(words[4]) else {
        return nil
      }
      return seconds(year: year, month: month, day: date, time: words[3])
    default:
      return nil
    }
  }

  static func seconds(year: Int, month: Int, day: Int, time: [UInt8]) -> Int64? {
    let parts = time.pieces(separatedBy: UInt8(ascii: ":")).map { Array($0) }
    guard parts.count == 3, parts.allSatisfy({ $0.count == 2 }), let hour = number(parts[0]), let minute = number(parts[1]),
      let second = number(parts[2]), hour < 24, minute < 60, second <= 60, day >= 1, day <= 31
    else { return nil }
    return days(fromCivil: Int64(year), month, day) * 86400 + Int64(hour * 3600 + minute * 60 + second)
  }

  static func monthNumber(_ name: [UInt8]) -> Int? {
    months.firstIndex { $0.utf8.elementsEqual(name) }.map { $0 + 1 }
  }

  static func number(_ bytes: [UInt8]) -> Int? { asciiDecimal(bytes, maximumDigits: 4) }

  static func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(width - digits.utf8.count, 0)) + digits
  }

  static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }

  /// Days since 1970-01-01 of a civil date.
  static func days(fromCivil year: Int64, _ month: Int, _ day: Int) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = floorDivide(y, 400)
    let yearOfEra = y - era * 400
    let m = Int64(month)
    let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146097 + dayOfEra - 719468
  }

  /// The civil date of a day since 1970-01-01.
  static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
    let z = days + 719468
    let era = floorDivide(z, 146097)
    let dayOfEra = z - era * 146097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
    let month = Int(mp < 10 ? mp + 3 : mp - 9)
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }
}
