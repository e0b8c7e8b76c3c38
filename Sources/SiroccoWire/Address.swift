// Link-layer and IPv4 addresses, and IPv4 networks (address/prefix).

/// An IEEE 802 MAC address, kept in the low 48 bits of a `UInt64` (first octet highest).
public struct MACAddress: Hashable, Sendable, Comparable {
  public var rawValue: UInt64

  public init(rawValue: UInt64) { self.rawValue = rawValue & 0xffff_ffff_ffff }

  public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) {
    rawValue = UInt64(a) << 40 | UInt64(b) << 32 | UInt64(c) << 24 | UInt64(d) << 16
      | UInt64(e) << 8 | UInt64(f)
  }

  public static let broadcast = MACAddress(rawValue: 0xffff_ffff_ffff)
  public static let zero = MACAddress(rawValue: 0)

  public var isBroadcast: Bool { rawValue == 0xffff_ffff_ffff }
  /// The group bit (I/G) of the first octet: multicast and broadcast.
  public var isMulticast: Bool { rawValue & (1 << 40) != 0 }
  public var isUnicast: Bool { !isMulticast }
  /// The U/L bit: set on addresses that are not vendor-assigned.
  public var isLocallyAdministered: Bool { rawValue & (2 << 40) != 0 }

  /// A unicast, locally administered address made from six random bytes.
  public static func locallyAdministered(random: UInt64) -> MACAddress {
    MACAddress(rawValue: (random & 0xfcff_ffff_ffff) | (2 << 40))
  }

  /// Parses `aa:bb:cc:dd:ee:ff` (hex, one or two digits per octet; `-` also accepted).
  public init?(_ text: some StringProtocol) {
    var value: UInt64 = 0
    var octets = 0
    var digits = 0
    var current: UInt64 = 0
    for byte in text.utf8 {
      if byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-") {
        guard digits > 0 else { return nil }
        value = value << 8 | current
        octets += 1
        digits = 0
        current = 0
        continue
      }
      guard let nibble = asciiHexDigit(byte), digits < 2 else { return nil }
      current = current << 4 | UInt64(nibble)
      digits += 1
    }
    guard digits > 0, octets == 5 else { return nil }
    rawValue = value << 8 | current
  }

  public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
    buffer.writeUInt16(UInt16(truncatingIfNeeded: rawValue >> 32), at: offset)
    buffer.writeUInt32(UInt32(truncatingIfNeeded: rawValue), at: offset + 2)
  }

  public static func read(from buffer: UnsafeRawBufferPointer, at offset: Int) -> MACAddress {
    MACAddress(rawValue: UInt64(buffer.readUInt16(at: offset)) << 32 | UInt64(buffer.readUInt32(at: offset + 2)))
  }

  public static func < (lhs: MACAddress, rhs: MACAddress) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension MACAddress: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    for shift in stride(from: 40, through: 0, by: -8) {
      if shift != 40 { text.append(byte: UInt8(ascii: ":")) }
      text.append(hexByte: UInt8(truncatingIfNeeded: rawValue >> UInt64(shift)))
    }
  }
}

/// An IPv4 address in host order (`10.0.0.1` is `0x0a000001`).
public struct IPv4Address: Hashable, Sendable, Comparable {
  public var rawValue: UInt32

  public init(rawValue: UInt32) { self.rawValue = rawValue }

  public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
    rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
  }

  public static let any = IPv4Address(rawValue: 0)
  public static let broadcast = IPv4Address(rawValue: 0xffff_ffff)

  public var isUnspecified: Bool { rawValue == 0 }
  public var isBroadcast: Bool { rawValue == 0xffff_ffff }
  /// 224.0.0.0/4 (RFC 5771).
  public var isMulticast: Bool { rawValue >> 28 == 0xe }
  /// 127.0.0.0/8 (RFC 1122 3.2.1.3).
  public var isLoopback: Bool { rawValue >> 24 == 127 }

  /// Parses dotted-quad `a.b.c.d`, each part a decimal 0-255 without sign or leading `+`.
  public init?(_ text: some StringProtocol) { self.init(utf8: text.utf8) }

  /// `init(_:)` on the text's UTF-8 bytes.
  public init?(utf8 text: some Sequence<UInt8>) {
    var parser = DottedQuadParser()
    for byte in text {
      guard parser.take(byte) else { return nil }
    }
    guard let address = parser.address else { return nil }
    self = address
  }

  public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
    buffer.writeUInt32(rawValue, at: offset)
  }

  public static func read(from buffer: UnsafeRawBufferPointer, at offset: Int) -> IPv4Address {
    IPv4Address(rawValue: buffer.readUInt32(at: offset))
  }

  public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension IPv4Address: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    for shift in stride(from: 24, through: 0, by: -8) {
      if shift != 24 { text.append(byte: UInt8(ascii: ".")) }
      text.append(decimal: UInt64(rawValue >> UInt32(shift) & 0xff))
    }
  }
}

/// An address with its prefix length: the interface's own address and the network it is on.
public struct IPv4Network: Hashable, Sendable {
  public var address: IPv4Address
  public var prefixLength: Int

  public init(address: IPv4Address, prefixLength: Int) {
    precondition((0...32).contains(prefixLength), "IPv4 prefix length must be 0...32")
    self.address = address
    self.prefixLength = prefixLength
  }

  /// Parses `a.b.c.d/n` with n in 0...32 (one or two digits).
  public init?(_ text: some StringProtocol) { self.init(utf8: text.utf8) }

  /// `init(_:)` on the text's UTF-8 bytes.
  public init?(utf8 text: some Sequence<UInt8>) {
    var parser = DottedQuadParser()
    var length: Int?  // nil until the slash
    var lengthDigits = 0
    for byte in text {
      if let value = length {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), lengthDigits < 2 else { return nil }
        length = value * 10 + Int(byte - UInt8(ascii: "0"))
        lengthDigits += 1
      } else if byte == UInt8(ascii: "/") {
        length = 0
      } else {
        guard parser.take(byte) else { return nil }
      }
    }
    guard let address = parser.address, let length, lengthDigits > 0, length <= 32 else { return nil }
    self.init(address: address, prefixLength: length)
  }

  public var mask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength) }
  public var networkAddress: IPv4Address { IPv4Address(rawValue: address.rawValue & mask) }
  /// The directed broadcast address of the network (all host bits set).
  public var broadcastAddress: IPv4Address { IPv4Address(rawValue: address.rawValue | ~mask) }

  public func contains(_ other: IPv4Address) -> Bool {
    other.rawValue & mask == address.rawValue & mask
  }
}

extension IPv4Network: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    address.write(to: &text)
    text.append(byte: UInt8(ascii: "/"))
    text.append(decimal: prefixLength)
  }
}

/// Reads a dotted-quad address one byte at a time.
struct DottedQuadParser {
  var value: UInt32 = 0
  var parts = 0
  var digits = 0
  var current: UInt32 = 0

  /// Takes the next byte; false when no address starts this way.
  mutating func take(_ byte: UInt8) -> Bool {
    if byte == UInt8(ascii: ".") {
      guard digits > 0, parts < 3 else { return false }
      value = value << 8 | current
      parts += 1
      digits = 0
      current = 0
      return true
    }
    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 3 else { return false }
    current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
    guard current <= 255 else { return false }
    digits += 1
    return true
  }

  /// The address read, if the bytes so far are a complete one.
  var address: IPv4Address? {
    digits > 0 && parts == 3 ? IPv4Address(rawValue: value << 8 | current) : nil
  }
}

