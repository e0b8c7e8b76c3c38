// The IPv4 header.
//
// Read first: RFC 791 3.1 (header format), RFC 1122 3.2.1 (what a host must check), RFC 6864
// (the identification field). Options are skipped on input and never emitted.

/// The IP protocol number: an open set.
public struct IPProtocol: RawRepresentable, Hashable, Sendable {
  public var rawValue: UInt8
  @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

  @inlinable public static var icmp: IPProtocol { IPProtocol(rawValue: 1) }
  @inlinable public static var tcp: IPProtocol { IPProtocol(rawValue: 6) }
  @inlinable public static var udp: IPProtocol { IPProtocol(rawValue: 17) }
}

extension IPProtocol: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// tcpdump's names.
  public func write(to text: inout Text) {
    switch self {
    case .icmp: text.append("ICMP")
    case .tcp: text.append("TCP")
    case .udp: text.append("UDP")
    case .icmpv6: text.append("ICMP6")
    case .hopByHop: text.append("HBH")
    case .ipv6Route: text.append("RT6")
    case .ipv6Fragment: text.append("frag")
    case .destinationOptions: text.append("DSTOPT")
    case .noNextHeader: text.append("no next header")
    default: text.append("proto \(rawValue)")
    }
  }
}

public struct IPv4Header: Hashable, Sendable {
  enum Field {
    static let versionAndLength = 0
    static let typeOfService = 1
    static let totalLength = 2
    static let identification = 4
    static let flagsAndFragmentOffset = 6
    static let timeToLive = 8
    static let `protocol` = 9
    static let checksum = 10
    static let source = 12
    static let destination = 16
  }

  /// Length of a header without options; the only length `emit` writes.
  public static let minimumLength = 20

  /// The source address of a packet built here (nil if it is too short to hold one), read
  /// without parsing the rest: what queues of outgoing packets check.
  public static func source(of packet: UnsafeRawBufferPointer) -> IPv4Address? {
    packet.count >= minimumLength ? IPv4Address.read(from: packet, at: Field.source) : nil
  }

  /// DSCP (upper six bits) and ECN (lower two), RFC 2474 and RFC 3168.
  public var typeOfService: UInt8
  /// Header plus payload, in bytes.
  public var totalLength: Int
  public var identification: UInt16
  public var dontFragment: Bool
  public var moreFragments: Bool
  /// In bytes (the field counts 8-byte units).
  public var fragmentOffset: Int
  public var timeToLive: UInt8
  public var `protocol`: IPProtocol
  /// As read from the wire by `parse`; recomputed by `emit`.
  public var checksum: UInt16
  public var source: IPv4Address
  public var destination: IPv4Address
  /// The received header's length including options; 20 for a header built here.
  public private(set) var headerLength: Int

  public init(
    typeOfService: UInt8 = 0, totalLength: Int, identification: UInt16 = 0,
    dontFragment: Bool = true, moreFragments: Bool = false, fragmentOffset: Int = 0,
    timeToLive: UInt8 = 64, protocol: IPProtocol, source: IPv4Address, destination: IPv4Address
  ) {
    self.typeOfService = typeOfService
    self.totalLength = totalLength
    self.identification = identification
    self.dontFragment = dontFragment
    self.moreFragments = moreFragments
    self.fragmentOffset = fragmentOffset
    self.timeToLive = timeToLive
    self.protocol = `protocol`
    self.checksum = 0
    self.source = source
    self.destination = destination
    self.headerLength = Self.minimumLength
  }

  /// True for any piece of a fragmented datagram (RFC 791: MF set or a non-zero offset).
  public var isFragment: Bool { moreFragments || fragmentOffset != 0 }

  /// Payload length according to the header.
  public var payloadLength: Int { totalLength - headerLength }

  /// Parses and validates the header at the start of `packet`: version 4, IHL at least 5,
  /// IHL and total length within `packet` (trailing bytes, e.g. Ethernet padding, are
  /// allowed), and, when `verifyChecksum`, the header checksum.
  public static func parse(
    _ packet: UnsafeRawBufferPointer, verifyChecksum: Bool = true
  ) throws(WireError) -> IPv4Header {
    guard packet.count >= minimumLength else { throw .truncated }
    let versionAndLength = packet.readUInt8(at: Field.versionAndLength)
    guard versionAndLength >> 4 == 4 else { throw .malformed }
    let headerLength = Int(versionAndLength & 0xf) * 4
    guard headerLength >= minimumLength else { throw .malformed }
    guard packet.count >= headerLength else { throw .truncated }
    let totalLength = Int(packet.readUInt16(at: Field.totalLength))
    guard totalLength >= headerLength else { throw .malformed }
    guard packet.count >= totalLength else { throw .truncated }
    if verifyChecksum, InternetChecksum.compute(packet.slice(from: 0, length: headerLength)) != 0 {
      throw .badChecksum
    }
    let flags = packet.readUInt16(at: Field.flagsAndFragmentOffset)
    var header = IPv4Header(
      typeOfService: packet.readUInt8(at: Field.typeOfService),
      totalLength: totalLength,
      identification: packet.readUInt16(at: Field.identification),
      dontFragment: flags & 0x4000 != 0,
      moreFragments: flags & 0x2000 != 0,
      fragmentOffset: Int(flags & 0x1fff) * 8,
      timeToLive: packet.readUInt8(at: Field.timeToLive),
      protocol: IPProtocol(rawValue: packet.readUInt8(at: Field.protocol)),
      source: .read(from: packet, at: Field.source),
      destination: .read(from: packet, at: Field.destination))
    header.checksum = packet.readUInt16(at: Field.checksum)
    header.headerLength = headerLength
    return header
  }

  /// Writes a 20-byte header (no options) at the start of `packet`, with its checksum
  /// unless `fillChecksum` is false (the field is then zero, for offload).
  public func emit(into packet: UnsafeMutableRawBufferPointer, fillChecksum: Bool = true) {
    precondition(packet.count >= Self.minimumLength, "buffer too small for an IPv4 header")
    precondition(fragmentOffset % 8 == 0 && fragmentOffset < 65536, "fragment offset is in 8-byte units")
    precondition(totalLength >= Self.minimumLength && totalLength <= 65535, "IPv4 total length out of range")
    packet.writeUInt8(0x45, at: Field.versionAndLength)
    packet.writeUInt8(typeOfService, at: Field.typeOfService)
    packet.writeUInt16(UInt16(totalLength), at: Field.totalLength)
    packet.writeUInt16(identification, at: Field.identification)
    let flags: UInt16 = (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0)
    packet.writeUInt16(flags | UInt16(fragmentOffset / 8), at: Field.flagsAndFragmentOffset)
    packet.writeUInt8(timeToLive, at: Field.timeToLive)
    packet.writeUInt8(`protocol`.rawValue, at: Field.protocol)
    packet.writeUInt16(0, at: Field.checksum)
    source.write(to: packet, at: Field.source)
    destination.write(to: packet, at: Field.destination)
    if fillChecksum {
      let sum = InternetChecksum.compute(UnsafeRawBufferPointer(packet.slice(from: 0, length: Self.minimumLength)))
      packet.writeUInt16(sum, at: Field.checksum)
    }
  }
}

extension IPv4Header: CustomStringConvertible {
  public var description: String {
    var text = "IP \(source) > \(destination): \(`protocol`), ttl \(timeToLive), id \(identification), length \(totalLength)"
    if isFragment { text += ", frag offset \(fragmentOffset)\(moreFragments ? "+" : "")" }
    if dontFragment { text += ", DF" }
    return text
  }
}
