// Neighbor Discovery messages and options, carried in ICMPv6.
//
// Read first: RFC 4861 4 (message formats: 4.1 Router Solicitation, 4.2 Router Advertisement,
// 4.3 Neighbor Solicitation, 4.4 Neighbor Advertisement, 4.5 Redirect, 4.6 options), 6.1 and
// 7.1 and 8.1 (what a receiver validates), RFC 8106 5.1 (the RDNSS option), RFC 2464 8 (the
// link-layer address option on Ethernet). Each message is parsed from, and emitted into, the
// whole ICMPv6 message: `ICMPv6Message` writes the type, the code and the checksum.

/// A Neighbor Discovery option (RFC 4861 4.6). Options of other types are skipped on input
/// (RFC 4861 4.6: "silently ignore any options they do not recognize"), as are an RDNSS
/// option too short for one address or of even length, and a prefix information option
/// shorter than 32 bytes or with a prefix length over 128.
public enum NDPOption: Hashable, Sendable {
  /// Type 1 (RFC 4861 4.6.1): the sender's link-layer address.
  case sourceLinkLayerAddress(MACAddress)
  /// Type 2 (RFC 4861 4.6.1): the target's link-layer address.
  case targetLinkLayerAddress(MACAddress)
  /// Type 3 (RFC 4861 4.6.2).
  case prefixInformation(NDPPrefixInformation)
  /// Type 5 (RFC 4861 4.6.4): the link's MTU.
  case mtu(UInt32)
  /// Type 25 (RFC 8106 5.1): recursive DNS servers, usable for `lifetime` seconds.
  case recursiveDNSServers(lifetime: UInt32, addresses: [IPv6Address])

  enum Kind {
    static let sourceLinkLayerAddress: UInt8 = 1
    static let targetLinkLayerAddress: UInt8 = 2
    static let prefixInformation: UInt8 = 3
    static let mtu: UInt8 = 5
    static let recursiveDNSServers: UInt8 = 25
  }

  /// A lifetime of all ones: forever (RFC 4861 4.6.2, RFC 8106 5.1).
  public static let infiniteLifetime: UInt32 = 0xffff_ffff

  var kind: UInt8 {
    switch self {
    case .sourceLinkLayerAddress: Kind.sourceLinkLayerAddress
    case .targetLinkLayerAddress: Kind.targetLinkLayerAddress
    case .prefixInformation: Kind.prefixInformation
    case .mtu: Kind.mtu
    case .recursiveDNSServers: Kind.recursiveDNSServers
    }
  }

  /// Bytes `emit` writes: a multiple of 8.
  public var bufferLength: Int {
    switch self {
    case .sourceLinkLayerAddress, .targetLinkLayerAddress, .mtu: 8
    case .prefixInformation: 32
    case .recursiveDNSServers(_, let addresses): 8 + 16 * addresses.count
    }
  }

  /// Parses the options from `offset` to the end of `message`.
  static func parseList(_ message: UnsafeRawBufferPointer, from offset: Int) throws(WireError) -> [NDPOption] {
    var options: [NDPOption] = []
    var index = offset
    while index < message.count {
      guard message.count - index >= 2 else { throw .truncated }
      let length = Int(message.readUInt8(at: index + 1)) * 8
      guard length > 0 else { throw .malformed }  // RFC 4861 4.6: the whole message is invalid
      guard message.count - index >= length else { throw .truncated }
      if let option = try parse(message.slice(from: index, length: length)) { options.append(option) }
      index += length
    }
    return options
  }

  /// One option, `option.count` (a non-zero multiple of 8) bytes; nil for one to skip.
  static func parse(_ option: UnsafeRawBufferPointer) throws(WireError) -> NDPOption? {
    switch option.readUInt8(at: 0) {
    case Kind.sourceLinkLayerAddress, Kind.targetLinkLayerAddress:
      guard option.count == 8 else { throw .unsupported }  // not a 6-byte address (RFC 2464 8)
      let address = MACAddress.read(from: option, at: 2)
      return option.readUInt8(at: 0) == Kind.sourceLinkLayerAddress
        ? .sourceLinkLayerAddress(address) : .targetLinkLayerAddress(address)
    case Kind.prefixInformation:
      guard option.count >= 32 else { return nil }
      let prefixLength = Int(option.readUInt8(at: 2))
      guard prefixLength <= 128 else { return nil }
      let flags = option.readUInt8(at: 3)
      // RFC 4861 4.6.2: the bits after the prefix length are ignored.
      let prefix = IPv6Network(address: .read(from: option, at: 16), prefixLength: prefixLength)
      return .prefixInformation(
        NDPPrefixInformation(
          prefix: IPv6Network(address: prefix.networkAddress, prefixLength: prefixLength),
          onLink: flags & 0x80 != 0, autonomous: flags & 0x40 != 0,
          validLifetime: option.readUInt32(at: 4), preferredLifetime: option.readUInt32(at: 8)))
    case Kind.mtu:
      return .mtu(option.readUInt32(at: 4))
    case Kind.recursiveDNSServers:
      // RFC 8106 5.1: length 1 + 2 per address.
      guard option.count >= 24, option.count % 16 == 8 else { return nil }
      var addresses: [IPv6Address] = []
      for offset in stride(from: 8, to: option.count, by: 16) { addresses.append(.read(from: option, at: offset)) }
      return .recursiveDNSServers(lifetime: option.readUInt32(at: 4), addresses: addresses)
    default:
      return nil
    }
  }

  /// Writes the option at `offset` in `message` (which must hold `bufferLength` bytes there).
  func emit(into message: UnsafeMutableRawBufferPointer, at offset: Int) {
    let option = message.slice(from: offset, length: bufferLength)
    option.writeUInt8(kind, at: 0)
    option.writeUInt8(UInt8(bufferLength / 8), at: 1)
    switch self {
    case .sourceLinkLayerAddress(let address), .targetLinkLayerAddress(let address):
      address.write(to: option, at: 2)
    case .prefixInformation(let information):
      option.writeUInt8(UInt8(information.prefix.prefixLength), at: 2)
      option.writeUInt8((information.onLink ? 0x80 : 0) | (information.autonomous ? 0x40 : 0), at: 3)
      option.writeUInt32(information.validLifetime, at: 4)
      option.writeUInt32(information.preferredLifetime, at: 8)
      option.writeUInt32(0, at: 12)
      information.prefix.networkAddress.write(to: option, at: 16)
    case .mtu(let mtu):
      option.writeUInt16(0, at: 2)
      option.writeUInt32(mtu, at: 4)
    case .recursiveDNSServers(let lifetime, let addresses):
      precondition((1...127).contains(addresses.count), "an RDNSS option holds 1...127 addresses")
      option.writeUInt16(0, at: 2)
      option.writeUInt32(lifetime, at: 4)
      for (index, address) in addresses.enumerated() { address.write(to: option, at: 8 + 16 * index) }
    }
  }
}

extension NDPOption: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    switch self {
    case .sourceLinkLayerAddress(let address): text.append("source link-address \(address)")
    case .targetLinkLayerAddress(let address): text.append("target link-address \(address)")
    case .prefixInformation(let information):
      text.append("prefix info \(information.prefix)")
      if information.onLink { text.append(" onlink") }
      if information.autonomous { text.append(" auto") }
      text.append(", valid \(information.validLifetime)s, preferred \(information.preferredLifetime)s")
    case .mtu(let mtu): text.append("mtu \(mtu)")
    case .recursiveDNSServers(let lifetime, let addresses):
      text.append("rdnss lifetime \(lifetime)s")
      for address in addresses { text.append(" \(address)") }
    }
  }
}

/// The prefix information option's fields (RFC 4861 4.6.2).
public struct NDPPrefixInformation: Hashable, Sendable {
  /// The prefix, with the bits after its length zero.
  public var prefix: IPv6Network
  /// L: the prefix is on the link.
  public var onLink: Bool
  /// A: the prefix may be used for stateless address autoconfiguration (RFC 4862).
  public var autonomous: Bool
  /// Seconds (`NDPOption.infiniteLifetime`: forever).
  public var validLifetime: UInt32
  public var preferredLifetime: UInt32

  public init(prefix: IPv6Network, onLink: Bool, autonomous: Bool, validLifetime: UInt32, preferredLifetime: UInt32) {
    self.prefix = prefix
    self.onLink = onLink
    self.autonomous = autonomous
    self.validLifetime = validLifetime
    self.preferredLifetime = preferredLifetime
  }
}

extension [NDPOption] {
  /// The first source link-layer address option's address.
  public var sourceLinkLayerAddress: MACAddress? {
    for case .sourceLinkLayerAddress(let address) in self { return address }
    return nil
  }

  /// The first target link-layer address option's address.
  public var targetLinkLayerAddress: MACAddress? {
    for case .targetLinkLayerAddress(let address) in self { return address }
    return nil
  }

  /// The first MTU option's MTU.
  public var mtu: UInt32? {
    for case .mtu(let mtu) in self { return mtu }
    return nil
  }

  var bufferLength: Int { reduce(0) { $0 + $1.bufferLength } }

  func emit(into message: UnsafeMutableRawBufferPointer, at offset: Int) {
    var index = offset
    for option in self {
      option.emit(into: message, at: index)
      index += option.bufferLength
    }
  }

  func write(to text: inout Text) {
    for option in self { text.append(", \(option)") }
  }
}

/// A Router Solicitation (RFC 4861 4.1).
public struct RouterSolicitation: Hashable, Sendable {
  static let optionsOffset = 8

  public var options: [NDPOption]

  public init(options: [NDPOption] = []) { self.options = options }

  public var bufferLength: Int { Self.optionsOffset + options.bufferLength }

  static func parse(_ message: UnsafeRawBufferPointer) throws(WireError) -> RouterSolicitation {
    guard message.count >= optionsOffset else { throw .truncated }
    return RouterSolicitation(options: try NDPOption.parseList(message, from: optionsOffset))
  }

  func emit(into message: UnsafeMutableRawBufferPointer) {
    message.writeUInt32(0, at: ICMPv6Message.Field.rest)
    options.emit(into: message, at: Self.optionsOffset)
  }

  /// RFC 4861 6.1.1: hop limit 255, and no source link-layer address from the unspecified
  /// address. (Code 0, length and options were checked by `parse`.)
  public func validate(hopLimit: UInt8, source: IPv6Address) throws(ICMPv6ValidationError) {
    guard hopLimit == 255 else { throw .badHopLimit }
    if source.isUnspecified, options.sourceLinkLayerAddress != nil { throw .linkLayerAddressFromUnspecifiedSource }
  }
}

extension RouterSolicitation: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("router solicitation")
    options.write(to: &text)
  }
}

/// A Router Advertisement (RFC 4861 4.2). The flags other than M and O (RFC 4191's router
/// preference, RFC 5175's extension) are not kept.
public struct RouterAdvertisement: Hashable, Sendable {
  enum Field {
    static let currentHopLimit = 4
    static let flags = 5
    static let routerLifetime = 6
    static let reachableTime = 8
    static let retransmitTimer = 12
  }

  static let optionsOffset = 16

  /// The hop limit to use, 0 when the router leaves it unspecified.
  public var currentHopLimit: UInt8
  /// M: addresses are available from DHCPv6.
  public var managedAddressConfiguration: Bool
  /// O: other configuration is available from DHCPv6.
  public var otherConfiguration: Bool
  /// Seconds this router may be the default router; 0: it is not one.
  public var routerLifetime: UInt16
  /// Milliseconds, 0 when unspecified.
  public var reachableTime: UInt32
  /// Milliseconds between retransmitted Neighbor Solicitations, 0 when unspecified.
  public var retransmitTimer: UInt32
  public var options: [NDPOption]

  public init(
    currentHopLimit: UInt8, managedAddressConfiguration: Bool = false, otherConfiguration: Bool = false,
    routerLifetime: UInt16, reachableTime: UInt32 = 0, retransmitTimer: UInt32 = 0, options: [NDPOption] = []
  ) {
    self.currentHopLimit = currentHopLimit
    self.managedAddressConfiguration = managedAddressConfiguration
    self.otherConfiguration = otherConfiguration
    self.routerLifetime = routerLifetime
    self.reachableTime = reachableTime
    self.retransmitTimer = retransmitTimer
    self.options = options
  }

  public var bufferLength: Int { Self.optionsOffset + options.bufferLength }

  /// The prefix information options.
  public var prefixes: [NDPPrefixInformation] {
    options.compactMap { if case .prefixInformation(let information) = $0 { information } else { nil } }
  }

  static func parse(_ message: UnsafeRawBufferPointer) throws(WireError) -> RouterAdvertisement {
    guard message.count >= optionsOffset else { throw .truncated }
    let flags = message.readUInt8(at: Field.flags)
    return RouterAdvertisement(
      currentHopLimit: message.readUInt8(at: Field.currentHopLimit),
      managedAddressConfiguration: flags & 0x80 != 0, otherConfiguration: flags & 0x40 != 0,
      routerLifetime: message.readUInt16(at: Field.routerLifetime),
      reachableTime: message.readUInt32(at: Field.reachableTime),
      retransmitTimer: message.readUInt32(at: Field.retransmitTimer),
      options: try NDPOption.parseList(message, from: optionsOffset))
  }

  func emit(into message: UnsafeMutableRawBufferPointer) {
    message.writeUInt8(currentHopLimit, at: Field.currentHopLimit)
    message.writeUInt8((managedAddressConfiguration ? 0x80 : 0) | (otherConfiguration ? 0x40 : 0), at: Field.flags)
    message.writeUInt16(routerLifetime, at: Field.routerLifetime)
    message.writeUInt32(reachableTime, at: Field.reachableTime)
    message.writeUInt32(retransmitTimer, at: Field.retransmitTimer)
    options.emit(into: message, at: Self.optionsOffset)
  }

  /// RFC 4861 6.1.2: a link-local source and hop limit 255. (Code 0, length and options were
  /// checked by `parse`.)
  public func validate(hopLimit: UInt8, source: IPv6Address) throws(ICMPv6ValidationError) {
    guard hopLimit == 255 else { throw .badHopLimit }
    guard source.isLinkLocal else { throw .sourceNotLinkLocal }
  }
}

extension RouterAdvertisement: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("router advertisement, hop limit \(currentHopLimit)")
    if managedAddressConfiguration { text.append(", managed") }
    if otherConfiguration { text.append(", other stateful") }
    text.append(", router lifetime \(routerLifetime)s, reachable time \(reachableTime)ms")
    text.append(", retrans timer \(retransmitTimer)ms")
    options.write(to: &text)
  }
}

/// A Neighbor Solicitation (RFC 4861 4.3).
public struct NeighborSolicitation: Hashable, Sendable {
  static let targetOffset = 8
  static let optionsOffset = 24

  /// The address whose link-layer address is asked for (or that is being checked, from the
  /// unspecified address, by duplicate address detection).
  public var targetAddress: IPv6Address
  public var options: [NDPOption]

  public init(targetAddress: IPv6Address, options: [NDPOption] = []) {
    self.targetAddress = targetAddress
    self.options = options
  }

  public var bufferLength: Int { Self.optionsOffset + options.bufferLength }

  static func parse(_ message: UnsafeRawBufferPointer) throws(WireError) -> NeighborSolicitation {
    guard message.count >= optionsOffset else { throw .truncated }
    return NeighborSolicitation(
      targetAddress: .read(from: message, at: targetOffset), options: try NDPOption.parseList(message, from: optionsOffset))
  }

  func emit(into message: UnsafeMutableRawBufferPointer) {
    message.writeUInt32(0, at: ICMPv6Message.Field.rest)
    targetAddress.write(to: message, at: Self.targetOffset)
    options.emit(into: message, at: Self.optionsOffset)
  }

  /// RFC 4861 7.1.1: hop limit 255, a target that is not multicast, and from the unspecified
  /// address only to a solicited-node multicast address and without a source link-layer
  /// address. (Code 0, length and options were checked by `parse`.)
  public func validate(hopLimit: UInt8, source: IPv6Address, destination: IPv6Address) throws(ICMPv6ValidationError) {
    guard hopLimit == 255 else { throw .badHopLimit }
    guard !targetAddress.isMulticast else { throw .multicastTarget }
    guard source.isUnspecified else { return }
    guard destination.isSolicitedNodeMulticast else { throw .unspecifiedSourceNotToSolicitedNode }
    if options.sourceLinkLayerAddress != nil { throw .linkLayerAddressFromUnspecifiedSource }
  }
}

extension NeighborSolicitation: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("neighbor solicitation, who has \(targetAddress)")
    options.write(to: &text)
  }
}

/// A Neighbor Advertisement (RFC 4861 4.4).
public struct NeighborAdvertisement: Hashable, Sendable {
  static let targetOffset = 8
  static let optionsOffset = 24

  /// R: the sender is a router.
  public var router: Bool
  /// S: an answer to a Neighbor Solicitation.
  public var solicited: Bool
  /// O: the advertisement should override a cached link-layer address.
  public var override: Bool
  public var targetAddress: IPv6Address
  public var options: [NDPOption]

  public init(router: Bool = false, solicited: Bool, override: Bool, targetAddress: IPv6Address, options: [NDPOption] = []) {
    self.router = router
    self.solicited = solicited
    self.override = override
    self.targetAddress = targetAddress
    self.options = options
  }

  public var bufferLength: Int { Self.optionsOffset + options.bufferLength }

  static func parse(_ message: UnsafeRawBufferPointer) throws(WireError) -> NeighborAdvertisement {
    guard message.count >= optionsOffset else { throw .truncated }
    let flags = message.readUInt8(at: ICMPv6Message.Field.rest)
    return NeighborAdvertisement(
      router: flags & 0x80 != 0, solicited: flags & 0x40 != 0, override: flags & 0x20 != 0,
      targetAddress: .read(from: message, at: targetOffset), options: try NDPOption.parseList(message, from: optionsOffset))
  }

  func emit(into message: UnsafeMutableRawBufferPointer) {
    let flags: UInt32 = (router ? 0x8000_0000 : 0) | (solicited ? 0x4000_0000 : 0) | (override ? 0x2000_0000 : 0)
    message.writeUInt32(flags, at: ICMPv6Message.Field.rest)
    targetAddress.write(to: message, at: Self.targetOffset)
    options.emit(into: message, at: Self.optionsOffset)
  }

  /// RFC 4861 7.1.2: hop limit 255, a target that is not multicast, and no Solicited flag to a
  /// multicast destination. (Code 0, length and options were checked by `parse`.)
  public func validate(hopLimit: UInt8, destination: IPv6Address) throws(ICMPv6ValidationError) {
    guard hopLimit == 255 else { throw .badHopLimit }
    guard !targetAddress.isMulticast else { throw .multicastTarget }
    if destination.isMulticast && solicited { throw .solicitedToMulticast }
  }
}

extension NeighborAdvertisement: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("neighbor advertisement, tgt is \(targetAddress)")
    if router { text.append(", router") }
    if solicited { text.append(", solicited") }
    if override { text.append(", override") }
    options.write(to: &text)
  }
}

/// A Redirect (RFC 4861 4.5). The redirected header option (type 4) is skipped on input and
/// never emitted.
public struct Redirect: Hashable, Sendable {
  static let targetOffset = 8
  static let destinationOffset = 24
  static let optionsOffset = 40

  /// The better first hop: a router's link-local address, or the destination itself when it
  /// is on the link.
  public var targetAddress: IPv6Address
  /// The destination being redirected.
  public var destinationAddress: IPv6Address
  public var options: [NDPOption]

  public init(targetAddress: IPv6Address, destinationAddress: IPv6Address, options: [NDPOption] = []) {
    self.targetAddress = targetAddress
    self.destinationAddress = destinationAddress
    self.options = options
  }

  public var bufferLength: Int { Self.optionsOffset + options.bufferLength }

  static func parse(_ message: UnsafeRawBufferPointer) throws(WireError) -> Redirect {
    guard message.count >= optionsOffset else { throw .truncated }
    return Redirect(
      targetAddress: .read(from: message, at: targetOffset),
      destinationAddress: .read(from: message, at: destinationOffset),
      options: try NDPOption.parseList(message, from: optionsOffset))
  }

  func emit(into message: UnsafeMutableRawBufferPointer) {
    message.writeUInt32(0, at: ICMPv6Message.Field.rest)
    targetAddress.write(to: message, at: Self.targetOffset)
    destinationAddress.write(to: message, at: Self.destinationOffset)
    options.emit(into: message, at: Self.optionsOffset)
  }

  /// RFC 4861 8.1: a link-local source, hop limit 255, a target that is link-local or the
  /// destination, and a destination that is not multicast. (Code 0, length and options were
  /// checked by `parse`; that the source is the current first hop for the destination is the
  /// caller's to check.)
  public func validate(hopLimit: UInt8, source: IPv6Address) throws(ICMPv6ValidationError) {
    guard hopLimit == 255 else { throw .badHopLimit }
    guard source.isLinkLocal else { throw .sourceNotLinkLocal }
    guard targetAddress.isLinkLocal || targetAddress == destinationAddress else { throw .redirectTargetNotLinkLocal }
    guard !destinationAddress.isMulticast else { throw .redirectDestinationIsMulticast }
  }
}

extension Redirect: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("redirect, \(destinationAddress) to \(targetAddress)")
    options.write(to: &text)
  }
}
