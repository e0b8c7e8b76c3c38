// Ethernet II frames, with IEEE 802.1Q VLAN tag parsing.
//
// Read first: IEEE 802.3 clause 3 (frame format), IEEE 802.1Q 9.6 (tag format). The frame
// check sequence is not present: devices hand over frames without it.

/// The EtherType field: an open set, so an unknown value never fails parsing.
public struct EtherType: RawRepresentable, Hashable, Sendable {
  public var rawValue: UInt16
  @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

  @inlinable public static var ipv4: EtherType { EtherType(rawValue: 0x0800) }
  @inlinable public static var arp: EtherType { EtherType(rawValue: 0x0806) }
  @inlinable public static var vlan: EtherType { EtherType(rawValue: 0x8100) }
  @inlinable public static var ipv6: EtherType { EtherType(rawValue: 0x86dd) }
}

extension EtherType: CustomStringConvertible {
  public var description: String {
    switch self {
    case .ipv4: "IPv4"
    case .arp: "ARP"
    case .vlan: "802.1Q"
    case .ipv6: "IPv6"
    default: "0x" + hexByte(UInt8(rawValue >> 8)) + hexByte(UInt8(rawValue & 0xff))
    }
  }
}

/// An 802.1Q tag: priority code point, drop-eligible indicator, VLAN identifier.
public struct VLANTag: Hashable, Sendable {
  public var priority: UInt8
  public var dropEligible: Bool
  public var identifier: UInt16

  public init(priority: UInt8 = 0, dropEligible: Bool = false, identifier: UInt16) {
    precondition(priority < 8 && identifier < 4096, "802.1Q priority is 3 bits, VLAN id 12")
    self.priority = priority
    self.dropEligible = dropEligible
    self.identifier = identifier
  }

  var controlField: UInt16 {
    UInt16(priority) << 13 | (dropEligible ? 0x1000 : 0) | identifier
  }
}

/// The Ethernet II header, possibly with one 802.1Q tag. `etherType` is the type of the
/// payload (the inner type for a tagged frame).
public struct EthernetHeader: Hashable, Sendable {
  enum Field {
    static let destination = 0
    static let source = 6
    static let etherType = 12
    static let tagControl = 14
    static let innerEtherType = 16
  }

  /// Length of an untagged header.
  public static let minimumLength = 14
  /// Smallest frame on the wire without the FCS (IEEE 802.3 4.4.2); shorter frames get padded.
  public static let minimumFrameLength = 60

  public var destination: MACAddress
  public var source: MACAddress
  public var etherType: EtherType
  public var vlan: VLANTag?

  public init(destination: MACAddress, source: MACAddress, etherType: EtherType, vlan: VLANTag? = nil) {
    self.destination = destination
    self.source = source
    self.etherType = etherType
    self.vlan = vlan
  }

  /// Bytes this header occupies: 14, or 18 with a tag. The payload starts here.
  public var headerLength: Int { vlan == nil ? 14 : 18 }

  /// Parses the header at the start of `frame`. Stacked tags (QinQ) are not parsed: the
  /// inner type of a doubly tagged frame reads as `.vlan`.
  public static func parse(_ frame: UnsafeRawBufferPointer) throws(WireError) -> EthernetHeader {
    guard frame.count >= minimumLength else { throw .truncated }
    let destination = MACAddress.read(from: frame, at: Field.destination)
    let source = MACAddress.read(from: frame, at: Field.source)
    let type = EtherType(rawValue: frame.readUInt16(at: Field.etherType))
    guard type == .vlan else {
      return EthernetHeader(destination: destination, source: source, etherType: type)
    }
    guard frame.count >= minimumLength + 4 else { throw .truncated }
    let control = frame.readUInt16(at: Field.tagControl)
    let tag = VLANTag(
      priority: UInt8(control >> 13), dropEligible: control & 0x1000 != 0, identifier: control & 0x0fff)
    let inner = EtherType(rawValue: frame.readUInt16(at: Field.innerEtherType))
    return EthernetHeader(destination: destination, source: source, etherType: inner, vlan: tag)
  }

  /// Writes the header at the start of `frame` (which must hold `headerLength` bytes).
  public func emit(into frame: UnsafeMutableRawBufferPointer) {
    precondition(frame.count >= headerLength, "buffer too small for the Ethernet header")
    destination.write(to: frame, at: Field.destination)
    source.write(to: frame, at: Field.source)
    if let vlan {
      frame.writeUInt16(EtherType.vlan.rawValue, at: Field.etherType)
      frame.writeUInt16(vlan.controlField, at: Field.tagControl)
      frame.writeUInt16(etherType.rawValue, at: Field.innerEtherType)
    } else {
      frame.writeUInt16(etherType.rawValue, at: Field.etherType)
    }
  }
}

extension EthernetHeader: CustomStringConvertible {
  public var description: String {
    var text = "\(source) > \(destination)"
    if let vlan { text += ", vlan \(vlan.identifier), p \(vlan.priority)" }
    return text + ", ethertype \(etherType)"
  }
}
