// NTP packets (RFC 5905 7.3), as an SNTP client (RFC 4330) sends and reads them: the
// 48-byte header; extension fields and the MAC that may follow are ignored on parsing and
// never sent. Timestamps are 64-bit NTP times (seconds since 1900 and a binary fraction).
//
// Read first: RFC 5905 6 (the timestamp formats and eras) and 7.3 (the header), RFC 4330 4
// and 5 (what an SNTP client fills in and checks), RFC 9109 (a random transmit timestamp).

/// A 64-bit NTP timestamp: seconds since 1900-01-01 (mod 2^32, the era left out) and a
/// fraction of a second in units of 2^-32.
public struct NTPTimestamp: Hashable, Sendable {
  public var rawValue: UInt64

  public init(rawValue: UInt64) { self.rawValue = rawValue }

  public static let zero = NTPTimestamp(rawValue: 0)

  /// Seconds from 1900-01-01 to 1970-01-01.
  public static let unixEpochOffset: Int64 = 2_208_988_800

  /// The timestamp of `nanoseconds` since 1970 (era 0 or 1: 1900-2036 and 2036-2172).
  public init(nanosecondsSinceEpoch nanoseconds: Int64) {
    let (seconds, remainder) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
    let (whole, part) = remainder < 0 ? (seconds - 1, remainder + 1_000_000_000) : (seconds, remainder)
    let fraction = (UInt64(part) << 32) / 1_000_000_000
    rawValue = UInt64(UInt32(truncatingIfNeeded: whole + Self.unixEpochOffset)) << 32 | fraction
  }

  /// Nanoseconds since 1970, the era chosen as RFC 4330 3 does: a timestamp whose top bit
  /// is clear is taken to be in era 1 (from 2036-02-07), one whose top bit is set in era 0
  /// (1968 to 2036).
  public var nanosecondsSinceEpoch: Int64 {
    let seconds = Int64(rawValue >> 32) + (rawValue >> 63 == 0 ? 1 << 32 : 0) - Self.unixEpochOffset
    let nanoseconds = Int64(((rawValue & 0xffff_ffff) * 1_000_000_000 + (1 << 31)) >> 32)
    return seconds * 1_000_000_000 + nanoseconds
  }
}

/// The mode field (RFC 5905 figure 10).
public enum NTPMode: UInt8, Hashable, Sendable {
  case reserved = 0
  case symmetricActive = 1
  case symmetricPassive = 2
  case client = 3
  case server = 4
  case broadcast = 5
  case control = 6
  case privateUse = 7
}

public enum NTPError: Error, Hashable, Sendable {
  /// Shorter than the 48-byte header.
  case truncated(Int)
}

/// The NTP header.
public struct NTPPacket: Hashable, Sendable {
  public static let length = 48
  public static let port: UInt16 = 123

  /// Leap indicator: 0-2 a leap second warning, 3 the server's clock is unsynchronised.
  public var leap: UInt8
  public var version: UInt8
  public var mode: NTPMode
  /// 1 a primary server, 2-15 secondary, 16 unsynchronised; 0 a kiss-of-death message.
  public var stratum: UInt8
  /// log2 of the poll interval in seconds.
  public var poll: Int8
  /// log2 of the clock's precision in seconds.
  public var precision: Int8
  /// Round trip to the primary source, NTP short format (16.16 seconds).
  public var rootDelay: UInt32
  /// Dispersion to the primary source, NTP short format.
  public var rootDispersion: UInt32
  /// The reference clock's code (stratum 1), the server's source (IPv4 address or hash), or
  /// the kiss code (stratum 0), four ASCII bytes: "RATE", "DENY", "RSTR".
  public var referenceID: UInt32
  public var reference: NTPTimestamp
  public var origin: NTPTimestamp
  public var receive: NTPTimestamp
  public var transmit: NTPTimestamp

  public init(leap: UInt8 = 0, version: UInt8 = 4, mode: NTPMode, stratum: UInt8 = 0, poll: Int8 = 0, precision: Int8 = 0,
              rootDelay: UInt32 = 0, rootDispersion: UInt32 = 0, referenceID: UInt32 = 0, reference: NTPTimestamp = .zero,
              origin: NTPTimestamp = .zero, receive: NTPTimestamp = .zero, transmit: NTPTimestamp = .zero) {
    self.leap = leap
    self.version = version
    self.mode = mode
    self.stratum = stratum
    self.poll = poll
    self.precision = precision
    self.rootDelay = rootDelay
    self.rootDispersion = rootDispersion
    self.referenceID = referenceID
    self.reference = reference
    self.origin = origin
    self.receive = receive
    self.transmit = transmit
  }

  /// A client's request (RFC 4330 5, RFC 9109): version 4, mode 3, every field zero but the
  /// transmit timestamp, which the server copies into its reply's origin.
  public static func request(transmit: NTPTimestamp) -> NTPPacket {
    NTPPacket(mode: .client, transmit: transmit)
  }

  /// The kiss code of a kiss-of-death message (stratum 0), as four ASCII bytes.
  public var kissCode: UInt32? { stratum == 0 ? referenceID : nil }

  public static let kissRate = UInt32(0x5241_5445)  // "RATE"
  public static let kissDeny = UInt32(0x4445_4e59)  // "DENY"
  public static let kissRestrict = UInt32(0x5253_5452)  // "RSTR"

  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(NTPError) -> NTPPacket {
    guard bytes.count >= length else { throw .truncated(bytes.count) }
    let first = bytes.readUInt8(at: 0)
    return NTPPacket(
      leap: first >> 6, version: (first >> 3) & 7, mode: NTPMode(rawValue: first & 7)!, stratum: bytes.readUInt8(at: 1),
      poll: Int8(bitPattern: bytes.readUInt8(at: 2)), precision: Int8(bitPattern: bytes.readUInt8(at: 3)),
      rootDelay: bytes.readUInt32(at: 4), rootDispersion: bytes.readUInt32(at: 8), referenceID: bytes.readUInt32(at: 12),
      reference: NTPTimestamp(rawValue: bytes.readUInt64(at: 16)), origin: NTPTimestamp(rawValue: bytes.readUInt64(at: 24)),
      receive: NTPTimestamp(rawValue: bytes.readUInt64(at: 32)), transmit: NTPTimestamp(rawValue: bytes.readUInt64(at: 40)))
  }

  /// Writes the 48-byte header at the start of `bytes`.
  public func emit(into bytes: UnsafeMutableRawBufferPointer) {
    precondition(bytes.count >= Self.length, "an NTP packet needs 48 bytes")
    bytes.writeUInt8(leap << 6 | (version & 7) << 3 | mode.rawValue, at: 0)
    bytes.writeUInt8(stratum, at: 1)
    bytes.writeUInt8(UInt8(bitPattern: poll), at: 2)
    bytes.writeUInt8(UInt8(bitPattern: precision), at: 3)
    bytes.writeUInt32(rootDelay, at: 4)
    bytes.writeUInt32(rootDispersion, at: 8)
    bytes.writeUInt32(referenceID, at: 12)
    bytes.writeUInt64(reference.rawValue, at: 16)
    bytes.writeUInt64(origin.rawValue, at: 24)
    bytes.writeUInt64(receive.rawValue, at: 32)
    bytes.writeUInt64(transmit.rawValue, at: 40)
  }

  /// The packet as 48 bytes.
  public var bytes: [UInt8] {
    var bytes = [UInt8](repeating: 0, count: Self.length)
    bytes.withUnsafeMutableBytes { emit(into: $0) }
    return bytes
  }
}
