// Link-layer, IPv4 and IPv6 addresses, IPv4 and IPv6 networks (address/prefix), and IPAddress,
// either family.
//
// Read first for IPv6: RFC 4291 (2.2 text forms, 2.4 types, 2.5.5.2 IPv4-mapped, 2.7 multicast,
// appendix A modified EUI-64), RFC 5952 (how to write one), RFC 2464 7 (multicast over
// Ethernet).

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
    guard let address = DottedQuadParser.parse(text) else { return nil }
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
    guard let (address, length) = DottedQuadParser.parseNetwork(text, maximumLength: 32, maximumDigits: 2) else { return nil }
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

/// Reads an address's text one byte at a time.
protocol AddressTextParser {
  associatedtype Address
  init()
  /// Takes the next byte; false when no address starts this way.
  mutating func take(_ byte: UInt8) -> Bool
  /// The address read, if the bytes so far are a complete one.
  var address: Address? { get }
}

extension AddressTextParser {
  /// The address `text` is, all of it.
  static func parse(_ text: some Sequence<UInt8>) -> Address? {
    var parser = Self()
    for byte in text {
      guard parser.take(byte) else { return nil }
    }
    return parser.address
  }

  /// The address and prefix length `text` is: `address/n`, n in 0...`maximumLength` in one to
  /// `maximumDigits` decimal digits.
  static func parseNetwork(
    _ text: some Sequence<UInt8>, maximumLength: Int, maximumDigits: Int
  ) -> (address: Address, length: Int)? {
    var parser = Self()
    var length: Int?  // nil until the slash
    var lengthDigits = 0
    for byte in text {
      if let value = length {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), lengthDigits < maximumDigits else { return nil }
        length = value * 10 + Int(byte - UInt8(ascii: "0"))
        lengthDigits += 1
      } else if byte == UInt8(ascii: "/") {
        length = 0
      } else {
        guard parser.take(byte) else { return nil }
      }
    }
    guard let address = parser.address, let length, lengthDigits > 0, length <= maximumLength else { return nil }
    return (address, length)
  }
}

/// Reads a dotted-quad address one byte at a time.
struct DottedQuadParser: AddressTextParser {
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


// MARK: - IPv6

/// An IPv6 address: its first eight bytes in `high` and its last eight in `low`, each as a
/// big-endian number (`fe80::1` is `high == 0xfe80_0000_0000_0000`, `low == 1`).
public struct IPv6Address: Hashable, Sendable, Comparable {
  public var high: UInt64
  public var low: UInt64

  public init(high: UInt64, low: UInt64) {
    self.high = high
    self.low = low
  }

  /// The eight 16-bit groups, first group first: `IPv6Address(0xfe80, 0, 0, 0, 0, 0, 0, 1)`.
  public init(_ a: UInt16, _ b: UInt16, _ c: UInt16, _ d: UInt16, _ e: UInt16, _ f: UInt16, _ g: UInt16, _ h: UInt16) {
    high = UInt64(a) << 48 | UInt64(b) << 32 | UInt64(c) << 16 | UInt64(d)
    low = UInt64(e) << 48 | UInt64(f) << 32 | UInt64(g) << 16 | UInt64(h)
  }

  /// The address whose 16 bytes, in network order, are `bytes` (exactly 16 of them).
  public init<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
    precondition(bytes.count == 16, "an IPv6 address is 16 bytes")
    var high: UInt64 = 0
    var low: UInt64 = 0
    for (index, byte) in bytes.enumerated() {
      if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
    }
    self.init(high: high, low: low)
  }

  /// `::`, the unspecified address (RFC 4291 2.5.2).
  public static let unspecified = IPv6Address(high: 0, low: 0)
  /// `::1` (RFC 4291 2.5.3).
  public static let loopback = IPv6Address(high: 0, low: 1)
  /// `ff02::1`, all nodes on the link (RFC 4291 2.7.1).
  public static let allNodes = IPv6Address(0xff02, 0, 0, 0, 0, 0, 0, 1)
  /// `ff02::2`, all routers on the link (RFC 4291 2.7.1).
  public static let allRouters = IPv6Address(0xff02, 0, 0, 0, 0, 0, 0, 2)
  /// `ff02::16`, where MLDv2 reports go (RFC 3810 5.2.14).
  public static let allMLDv2Routers = IPv6Address(0xff02, 0, 0, 0, 0, 0, 0, 0x16)

  /// Group `index` (0 is the first, 7 the last).
  public func group(_ index: Int) -> UInt16 {
    precondition((0..<8).contains(index), "an IPv6 address has groups 0...7")
    let half = index < 4 ? high : low
    return UInt16(truncatingIfNeeded: half >> UInt64(48 - 16 * (index % 4)))
  }

  public var isUnspecified: Bool { high == 0 && low == 0 }
  public var isLoopback: Bool { high == 0 && low == 1 }
  /// ff00::/8 (RFC 4291 2.7).
  public var isMulticast: Bool { high >> 56 == 0xff }
  /// fe80::/10, link-local unicast (RFC 4291 2.5.6).
  public var isLinkLocal: Bool { high >> 54 == 0xfe80 >> 6 }
  /// fc00::/7, unique local (RFC 4193 3.1).
  public var isUniqueLocal: Bool { high >> 57 == 0xfc >> 1 }
  /// ::ffff:0:0/96, an IPv4 address as IPv6 (RFC 4291 2.5.5.2).
  public var isIPv4Mapped: Bool { high == 0 && low >> 32 == 0xffff }
  /// Unicast and reachable beyond the link: RFC 4291 2.4's "everything else" (what is not
  /// unspecified, loopback, multicast or link-local), less IPv4-mapped addresses, which never
  /// appear on the wire. Unique local addresses count (RFC 4193 3: their scope is global), and
  /// so do the deprecated site-local fec0::/10 (RFC 3879 4: treated as global unicast).
  public var isGlobalUnicast: Bool { !isUnspecified && !isLoopback && !isMulticast && !isLinkLocal && !isIPv4Mapped }

  /// The scope of a multicast address (RFC 4291 2.7, RFC 7346); nil for any other address.
  public var multicastScope: IPv6MulticastScope? {
    isMulticast ? IPv6MulticastScope(rawValue: UInt8(truncatingIfNeeded: high >> 48) & 0xf) : nil
  }

  /// ff02::1:ff00:0/104, the solicited-node multicast address of some address (RFC 4291 2.7.1).
  public var isSolicitedNodeMulticast: Bool {
    high == 0xff02_0000_0000_0000 && low >> 24 == 0x0000_0001_ff
  }

  /// The solicited-node multicast address of this address: ff02::1:ff00:0 and its low 24 bits
  /// (RFC 4291 2.7.1), where Neighbor Solicitations for it are sent.
  public var solicitedNodeMulticast: IPv6Address {
    IPv6Address(high: 0xff02_0000_0000_0000, low: 0x0000_0001_ff00_0000 | low & 0xff_ffff)
  }

  /// `::ffff:a.b.c.d` (RFC 4291 2.5.5.2).
  public init(ipv4Mapped address: IPv4Address) {
    self.init(high: 0, low: 0xffff_0000_0000 | UInt64(address.rawValue))
  }

  /// The IPv4 address an IPv4-mapped address holds; nil for any other address.
  public var ipv4Mapped: IPv4Address? {
    isIPv4Mapped ? IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)) : nil
  }

  /// The last 64 bits: the interface identifier of an address in a /64 (RFC 4291 2.5.1).
  public var interfaceIdentifier: UInt64 { low }

  /// fe80::/64 with `interfaceIdentifier` (RFC 4862 5.3), e.g. `mac.modifiedEUI64`.
  public static func linkLocal(interfaceIdentifier: UInt64) -> IPv6Address {
    IPv6Address(high: 0xfe80_0000_0000_0000, low: interfaceIdentifier)
  }

  /// Parses the three text forms of RFC 4291 2.2: eight groups of one to four hex digits
  /// (`2001:db8:0:0:8:800:200c:417a`), one `::` for one or more zero groups (`2001:db8::1`,
  /// `::`), and a dotted-quad IPv4 address as the last 32 bits (`::ffff:192.0.2.1`), read as
  /// `IPv4Address` reads one. Nothing else: no zone (`%eth0`), no brackets, no prefix length,
  /// no leading or trailing single colon, no second `::`, no group of five digits or more.
  public init?(_ text: some StringProtocol) { self.init(utf8: text.utf8) }

  /// `init(_:)` on the text's UTF-8 bytes.
  public init?(utf8 text: some Sequence<UInt8>) {
    guard let address = IPv6TextParser.parse(text) else { return nil }
    self = address
  }

  public func write(to buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
    buffer.writeUInt64(high, at: offset)
    buffer.writeUInt64(low, at: offset + 8)
  }

  public static func read(from buffer: UnsafeRawBufferPointer, at offset: Int) -> IPv6Address {
    IPv6Address(high: buffer.readUInt64(at: offset), low: buffer.readUInt64(at: offset + 8))
  }

  public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
    lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
  }

  /// The address with its groups moved up by one and `group` as the last (the first falls off).
  func appending(group: UInt16) -> IPv6Address {
    IPv6Address(high: high << 16 | low >> 48, low: low << 16 | UInt64(group))
  }

  /// The first `length` bits set (0...128).
  static func mask(prefixLength length: Int) -> IPv6Address {
    // Swift's `<<` gives 0 for a shift of 64 or more.
    IPv6Address(
      high: length == 0 ? 0 : UInt64.max << UInt64(64 - min(length, 64)),
      low: length <= 64 ? 0 : UInt64.max << UInt64(128 - length))
  }
}

extension IPv6Address: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// RFC 5952 4: lower case, no leading zeros, the longest run of two or more zero groups as
  /// `::` (the first of equal runs); an IPv4-mapped address as `::ffff:a.b.c.d` (5).
  public func write(to text: inout Text) {
    if let ipv4 = ipv4Mapped {
      text.append("::ffff:")
      ipv4.write(to: &text)
      return
    }
    var gapStart = -1
    var gapLength = 1  // a run must be longer than this to become the gap
    var runLength = 0
    for index in 0..<8 {
      runLength = group(index) == 0 ? runLength + 1 : 0
      if runLength > gapLength {
        gapStart = index + 1 - runLength
        gapLength = runLength
      }
    }
    var index = 0
    while index < 8 {
      if index == gapStart {
        text.append("::")
        index += gapLength
        continue
      }
      if index > 0 && index != gapStart + gapLength { text.append(byte: UInt8(ascii: ":")) }
      text.append(hexadecimal: UInt64(group(index)))
      index += 1
    }
  }
}

/// The scope field of a multicast address (RFC 4291 2.7, RFC 7346): an open set.
public struct IPv6MulticastScope: RawRepresentable, Hashable, Sendable, Comparable {
  public var rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  public static let interfaceLocal = IPv6MulticastScope(rawValue: 1)
  public static let linkLocal = IPv6MulticastScope(rawValue: 2)
  public static let realmLocal = IPv6MulticastScope(rawValue: 3)
  public static let adminLocal = IPv6MulticastScope(rawValue: 4)
  public static let siteLocal = IPv6MulticastScope(rawValue: 5)
  public static let organizationLocal = IPv6MulticastScope(rawValue: 8)
  public static let global = IPv6MulticastScope(rawValue: 0xe)

  public static func < (lhs: IPv6MulticastScope, rhs: IPv6MulticastScope) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension MACAddress {
  /// The Ethernet destination of IPv6 multicast `address`: 33:33 and its last 32 bits
  /// (RFC 2464 7).
  public init(multicast address: IPv6Address) {
    precondition(address.isMulticast, "only a multicast IPv6 address maps to a multicast MAC address")
    self.init(rawValue: 0x3333_0000_0000 | address.low & 0xffff_ffff)
  }

  /// The modified EUI-64 interface identifier of this address (RFC 4291 appendix A, RFC 2464
  /// 4): ff:fe between its third and fourth bytes, and the universal/local bit inverted.
  public var modifiedEUI64: UInt64 {
    ((rawValue >> 24) << 40 | 0xff_fe00_0000 | rawValue & 0xff_ffff) ^ 0x0200_0000_0000_0000
  }
}

/// An IPv6 address with its prefix length: an interface's address and the prefix it is on.
public struct IPv6Network: Hashable, Sendable {
  public var address: IPv6Address
  public var prefixLength: Int

  public init(address: IPv6Address, prefixLength: Int) {
    precondition((0...128).contains(prefixLength), "IPv6 prefix length must be 0...128")
    self.address = address
    self.prefixLength = prefixLength
  }

  /// Parses `address/n` (the address as `IPv6Address` parses it, n in 0...128, one to three
  /// digits).
  public init?(_ text: some StringProtocol) { self.init(utf8: text.utf8) }

  /// `init(_:)` on the text's UTF-8 bytes.
  public init?(utf8 text: some Sequence<UInt8>) {
    guard let (address, length) = IPv6TextParser.parseNetwork(text, maximumLength: 128, maximumDigits: 3) else { return nil }
    self.init(address: address, prefixLength: length)
  }

  /// The first `prefixLength` bits set.
  public var mask: IPv6Address { IPv6Address.mask(prefixLength: prefixLength) }

  /// The address with every bit past the prefix cleared: the prefix itself.
  public var networkAddress: IPv6Address {
    let mask = mask
    return IPv6Address(high: address.high & mask.high, low: address.low & mask.low)
  }

  public func contains(_ other: IPv6Address) -> Bool {
    let mask = mask
    return (other.high ^ address.high) & mask.high == 0 && (other.low ^ address.low) & mask.low == 0
  }
}

extension IPv6Network: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    address.write(to: &text)
    text.append(byte: UInt8(ascii: "/"))
    text.append(decimal: prefixLength)
  }
}

/// Reads an IPv6 address in RFC 4291 2.2 text one byte at a time: groups before a `::` go to
/// `head`, groups after it to `tail`, and a dotted quad (once a group turns out to be followed
/// by a `.`) to `quad`, which must then take every remaining byte.
struct IPv6TextParser: AddressTextParser {
  var head = IPv6Address.unspecified
  var headCount = 0
  var tail = IPv6Address.unspecified
  var tailCount = 0
  var compressed = false  // a `::` was read
  var group: UInt32 = 0  // the digits of the group being read
  var digits = 0
  var decimalDigits = true  // every digit of the group is 0-9: it may be the IPv4 part's first
  var colons = 0  // colons read since the last digit
  var quad: DottedQuadParser?

  mutating func take(_ byte: UInt8) -> Bool {
    if quad != nil { return quad!.take(byte) }
    if byte == UInt8(ascii: ":") {
      if digits > 0 {
        guard push(UInt16(group)) else { return false }
        group = 0
        digits = 0
        decimalDigits = true
        colons = 1
        return true
      }
      // No digits since the last colon: the first colon of the text, or a `::`.
      guard colons < 2, colons == 0 || !compressed else { return false }
      if colons == 1 { compressed = true }
      colons += 1
      return true
    }
    if byte == UInt8(ascii: ".") {
      // The group read so far is the IPv4 part's first number, in decimal.
      guard digits > 0, decimalDigits, headCount + tailCount <= 6 else { return false }
      var parser = DottedQuadParser()
      for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
        guard parser.take(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: group >> UInt32(shift) & 0xf)) else {
          return false
        }
      }
      guard parser.take(byte) else { return false }
      quad = parser
      return true
    }
    guard let nibble = asciiHexDigit(byte), digits < 4 else { return false }
    // A single colon before the first group: `:1::`.
    if colons == 1 && headCount == 0 && !compressed { return false }
    group = group << 4 | UInt32(nibble)
    digits += 1
    decimalDigits = decimalDigits && nibble < 10
    colons = 0
    return true
  }

  private mutating func push(_ value: UInt16) -> Bool {
    guard headCount + tailCount < 8 else { return false }
    if compressed {
      tail = tail.appending(group: value)
      tailCount += 1
    } else {
      head = head.appending(group: value)
      headCount += 1
    }
    return true
  }

  var address: IPv6Address? {
    var parser = self
    if let quad {
      guard let ipv4 = quad.address, parser.push(UInt16(ipv4.rawValue >> 16)), parser.push(UInt16(ipv4.rawValue & 0xffff))
      else { return nil }
    } else if digits > 0 {
      guard parser.push(UInt16(group)) else { return nil }
    } else if colons != 2 {
      return nil  // nothing, or a single colon at the end
    }
    let count = parser.headCount + parser.tailCount
    guard parser.compressed ? count <= 7 : count == 8 else { return nil }
    var result = parser.head
    for _ in parser.headCount..<8 { result = result.appending(group: 0) }
    return IPv6Address(high: result.high | parser.tail.high, low: result.low | parser.tail.low)
  }
}

// MARK: - Either family

/// An IP address of either family.
public enum IPAddress: Hashable, Sendable {
  case v4(IPv4Address)
  case v6(IPv6Address)

  /// Parses either text form: what `IPv4Address` or `IPv6Address` parses.
  public init?(_ text: some StringProtocol) { self.init(utf8: text.utf8) }

  /// `init(_:)` on the text's UTF-8 bytes (read once, by both parsers side by side).
  public init?(utf8 text: some Sequence<UInt8>) {
    var ipv4: DottedQuadParser? = DottedQuadParser()
    var ipv6: IPv6TextParser? = IPv6TextParser()
    for byte in text {
      if ipv4 != nil, !ipv4!.take(byte) { ipv4 = nil }
      if ipv6 != nil, !ipv6!.take(byte) { ipv6 = nil }
      if ipv4 == nil && ipv6 == nil { return nil }
    }
    if let address = ipv4?.address {
      self = .v4(address)
    } else if let address = ipv6?.address {
      self = .v6(address)
    } else {
      return nil
    }
  }

  public var ipv4: IPv4Address? {
    if case .v4(let address) = self { address } else { nil }
  }

  public var ipv6: IPv6Address? {
    if case .v6(let address) = self { address } else { nil }
  }

  /// The length of this family's fixed IP header: 20 bytes (IPv4 without options) or 40.
  @inlinable
  public var headerLength: Int {
    switch self {
    case .v4: 20
    case .v6: 40
    }
  }

  public var isUnspecified: Bool {
    switch self {
    case .v4(let address): address.isUnspecified
    case .v6(let address): address.isUnspecified
    }
  }

  public var isMulticast: Bool {
    switch self {
    case .v4(let address): address.isMulticast
    case .v6(let address): address.isMulticast
    }
  }

  public var isLoopback: Bool {
    switch self {
    case .v4(let address): address.isLoopback
    case .v6(let address): address.isLoopback
    }
  }

  /// An IPv4-mapped IPv6 address as the IPv4 address it holds; any other address unchanged.
  public var unmapped: IPAddress {
    if case .v6(let address) = self, let ipv4 = address.ipv4Mapped { .v4(ipv4) } else { self }
  }
}

extension IPAddress: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    switch self {
    case .v4(let address): address.write(to: &text)
    case .v6(let address): address.write(to: &text)
    }
  }
}

/// An address with its prefix length, of either family: a route's destination, a link's
/// address and the network it is on.
public enum IPNetwork: Hashable, Sendable {
  case v4(IPv4Network)
  case v6(IPv6Network)

  /// Parses either text form: what `IPv4Network` or `IPv6Network` parses.
  public init?(_ text: some StringProtocol) {
    if let network = IPv4Network(text) {
      self = .v4(network)
    } else if let network = IPv6Network(text) {
      self = .v6(network)
    } else {
      return nil
    }
  }

  /// Everything of `address`'s family: `0.0.0.0/0` or `::/0`, a default route's destination.
  public static func everything(like address: IPAddress) -> IPNetwork {
    switch address {
    case .v4: .v4(IPv4Network(address: .any, prefixLength: 0))
    case .v6: .v6(IPv6Network(address: .unspecified, prefixLength: 0))
    }
  }

  public var address: IPAddress {
    switch self {
    case .v4(let network): .v4(network.address)
    case .v6(let network): .v6(network.address)
    }
  }

  public var prefixLength: Int {
    switch self {
    case .v4(let network): network.prefixLength
    case .v6(let network): network.prefixLength
    }
  }

  /// The network with every bit past the prefix cleared.
  public var normalized: IPNetwork {
    switch self {
    case .v4(let network): .v4(IPv4Network(address: network.networkAddress, prefixLength: network.prefixLength))
    case .v6(let network): .v6(IPv6Network(address: network.networkAddress, prefixLength: network.prefixLength))
    }
  }

  /// Whether `address` is in the network (never for the other family).
  public func contains(_ address: IPAddress) -> Bool {
    switch (self, address) {
    case (.v4(let network), .v4(let address)): network.contains(address)
    case (.v6(let network), .v6(let address)): network.contains(address)
    default: false
    }
  }
}

extension IPNetwork: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    switch self {
    case .v4(let network): network.write(to: &text)
    case .v6(let network): network.write(to: &text)
    }
  }
}
