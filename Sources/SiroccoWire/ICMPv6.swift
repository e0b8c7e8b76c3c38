// ICMP for IPv6: errors, echo, and the dispatch to Neighbor Discovery (ICMPv6+NDP.swift) and
// Multicast Listener Discovery (ICMPv6+MLD.swift).
//
// Read first: RFC 4443 (2.3 checksum, 2.4 when errors are not sent, 3 error messages, 4 echo),
// RFC 8200 8.1 (the pseudo-header), RFC 4861 4 (NDP formats), RFC 3810 5 (MLDv2 formats).

/// An ICMPv6 message. Errors, echo and unknown types hold the fields of the first eight bytes,
/// and their payload (the invoking packet, the echo data) is the rest of the message; Neighbor
/// Discovery and MLD messages are held whole, options and records included.
public enum ICMPv6Message: Hashable, Sendable {
  /// Type 1 (RFC 4443 3.1). The four bytes after the checksum are unused.
  case destinationUnreachable(code: UnreachableCode)
  /// Type 2 (RFC 4443 3.2): the MTU of the next-hop link. The code is ignored on input.
  case packetTooBig(mtu: UInt32)
  /// Type 3 (RFC 4443 3.3): code 0 hop limit exceeded in transit, 1 fragment reassembly time
  /// exceeded.
  case timeExceeded(code: UInt8)
  /// Type 4 (RFC 4443 3.4): `pointer` is the offset in the invoking packet of the problem.
  case parameterProblem(code: ParameterProblemCode, pointer: UInt32)
  /// Type 128, code 0 (RFC 4443 4.1).
  case echoRequest(identifier: UInt16, sequenceNumber: UInt16)
  /// Type 129, code 0 (RFC 4443 4.2).
  case echoReply(identifier: UInt16, sequenceNumber: UInt16)
  /// Type 130, any code (RFC 3810 5.1, RFC 2710 3).
  case multicastListenerQuery(MulticastListenerQuery)
  /// Type 143, any code (RFC 3810 5.2).
  case multicastListenerReport(MulticastListenerReport)
  /// Type 133, code 0 (RFC 4861 4.1).
  case routerSolicitation(RouterSolicitation)
  /// Type 134, code 0 (RFC 4861 4.2).
  case routerAdvertisement(RouterAdvertisement)
  /// Type 135, code 0 (RFC 4861 4.3).
  case neighborSolicitation(NeighborSolicitation)
  /// Type 136, code 0 (RFC 4861 4.4).
  case neighborAdvertisement(NeighborAdvertisement)
  /// Type 137, code 0 (RFC 4861 4.5).
  case redirect(Redirect)
  /// Any other type, or a Neighbor Discovery or echo type with a code other than 0: its code
  /// and the four bytes after the checksum.
  case other(type: UInt8, code: UInt8, rest: UInt32)

  /// Destination Unreachable codes (RFC 4443 3.1, RFC 8883 3): an open set.
  public struct UnreachableCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let noRoute = UnreachableCode(rawValue: 0)
    public static let administrativelyProhibited = UnreachableCode(rawValue: 1)
    public static let beyondScopeOfSourceAddress = UnreachableCode(rawValue: 2)
    public static let address = UnreachableCode(rawValue: 3)
    public static let port = UnreachableCode(rawValue: 4)
    public static let sourceAddressFailedPolicy = UnreachableCode(rawValue: 5)
    public static let rejectRoute = UnreachableCode(rawValue: 6)
    public static let sourceRoutingHeaderError = UnreachableCode(rawValue: 7)
  }

  /// Parameter Problem codes (RFC 4443 3.4, RFC 7112 5): an open set.
  public struct ParameterProblemCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let erroneousHeaderField = ParameterProblemCode(rawValue: 0)
    public static let unrecognizedNextHeader = ParameterProblemCode(rawValue: 1)
    public static let unrecognizedOption = ParameterProblemCode(rawValue: 2)
    public static let incompleteHeaderChain = ParameterProblemCode(rawValue: 3)
  }

  /// The first eight bytes are laid out as ICMPv4's (RFC 4443 2.1).
  typealias Field = ICMPv4Message.Field

  /// The fixed part of every message; the payload of errors and echo starts here.
  public static let headerLength = ICMPv4Message.headerLength

  public var type: UInt8 {
    switch self {
    case .destinationUnreachable: 1
    case .packetTooBig: 2
    case .timeExceeded: 3
    case .parameterProblem: 4
    case .echoRequest: 128
    case .echoReply: 129
    case .multicastListenerQuery: 130
    case .routerSolicitation: 133
    case .routerAdvertisement: 134
    case .neighborSolicitation: 135
    case .neighborAdvertisement: 136
    case .redirect: 137
    case .multicastListenerReport: 143
    case .other(let type, _, _): type
    }
  }

  public var code: UInt8 {
    switch self {
    case .destinationUnreachable(let code): code.rawValue
    case .timeExceeded(let code): code
    case .parameterProblem(let code, _): code.rawValue
    case .other(_, let code, _): code
    default: 0
    }
  }

  /// An error message (types 0-127, RFC 4443 2.1): never sent in answer to another.
  public var isError: Bool { type < 128 }

  /// The bytes `emit` writes: the eight-byte header for errors, echo and other types (their
  /// payload follows it), the whole message for Neighbor Discovery and MLD.
  public var bufferLength: Int {
    switch self {
    case .multicastListenerQuery(let query): query.bufferLength
    case .multicastListenerReport(let report): report.bufferLength
    case .routerSolicitation(let message): message.bufferLength
    case .routerAdvertisement(let message): message.bufferLength
    case .neighborSolicitation(let message): message.bufferLength
    case .neighborAdvertisement(let message): message.bufferLength
    case .redirect(let message): message.bufferLength
    default: Self.headerLength
    }
  }

  /// Parses the whole ICMPv6 message in `message` (the upper-layer part of the IPv6 payload,
  /// exactly), verifying its checksum over the pseudo-header and all of it unless told not
  /// to. Throws `.truncated` for a message shorter than its type's fixed part, a record or an
  /// option that runs past it; `.malformed` for an option of length 0, which makes a Neighbor
  /// Discovery message invalid (RFC 4861 4.6), or an MLD query of 25-27 bytes (RFC 3810 8.1);
  /// `.unsupported` for a link-layer address option that is not Ethernet's. What a receiver
  /// must check beyond the format is `validate(hopLimit:source:destination:routerAlert:)`.
  public static func parse(
    _ message: UnsafeRawBufferPointer, source: IPv6Address, destination: IPv6Address,
    verifyChecksum: Bool = true
  ) throws(WireError) -> ICMPv6Message {
    guard message.count >= headerLength else { throw .truncated }
    if verifyChecksum, checksum(message, source: source, destination: destination) != 0 { throw .badChecksum }
    let type = message.readUInt8(at: Field.type)
    let code = message.readUInt8(at: Field.code)
    let rest = message.readUInt32(at: Field.rest)
    switch (type, code) {
    case (1, _): return .destinationUnreachable(code: UnreachableCode(rawValue: code))
    case (2, _): return .packetTooBig(mtu: rest)
    case (3, _): return .timeExceeded(code: code)
    case (4, _): return .parameterProblem(code: ParameterProblemCode(rawValue: code), pointer: rest)
    case (128, 0): return .echoRequest(identifier: UInt16(rest >> 16), sequenceNumber: UInt16(rest & 0xffff))
    case (129, 0): return .echoReply(identifier: UInt16(rest >> 16), sequenceNumber: UInt16(rest & 0xffff))
    case (130, _): return .multicastListenerQuery(try MulticastListenerQuery.parse(message))
    case (143, _): return .multicastListenerReport(try MulticastListenerReport.parse(message))
    case (133, 0): return .routerSolicitation(try RouterSolicitation.parse(message))
    case (134, 0): return .routerAdvertisement(try RouterAdvertisement.parse(message))
    case (135, 0): return .neighborSolicitation(try NeighborSolicitation.parse(message))
    case (136, 0): return .neighborAdvertisement(try NeighborAdvertisement.parse(message))
    case (137, 0): return .redirect(try Redirect.parse(message))
    default: return .other(type: type, code: code, rest: rest)
    }
  }

  /// Writes the message at the start of `message`, then the checksum over the pseudo-header
  /// and the whole of `message`. For errors, echo and other types `message` must hold the
  /// payload after the first eight bytes already; for Neighbor Discovery and MLD it must be
  /// exactly `bufferLength` bytes. With `fillChecksum` false the field is zero (offload).
  public func emit(
    into message: UnsafeMutableRawBufferPointer, source: IPv6Address, destination: IPv6Address,
    fillChecksum: Bool = true
  ) {
    precondition(message.count >= bufferLength, "buffer too small for the ICMPv6 message")
    message.writeUInt8(type, at: Field.type)
    message.writeUInt8(code, at: Field.code)
    message.writeUInt16(0, at: Field.checksum)
    switch self {
    case .destinationUnreachable, .timeExceeded: message.writeUInt32(0, at: Field.rest)
    case .packetTooBig(let mtu): message.writeUInt32(mtu, at: Field.rest)
    case .parameterProblem(_, let pointer): message.writeUInt32(pointer, at: Field.rest)
    case .echoRequest(let identifier, let sequenceNumber), .echoReply(let identifier, let sequenceNumber):
      message.writeUInt16(identifier, at: Field.rest)
      message.writeUInt16(sequenceNumber, at: Field.rest + 2)
    case .other(_, _, let rest): message.writeUInt32(rest, at: Field.rest)
    case .multicastListenerQuery(let query): query.emit(into: message)
    case .multicastListenerReport(let report): report.emit(into: message)
    case .routerSolicitation(let solicitation): solicitation.emit(into: message)
    case .routerAdvertisement(let advertisement): advertisement.emit(into: message)
    case .neighborSolicitation(let solicitation): solicitation.emit(into: message)
    case .neighborAdvertisement(let advertisement): advertisement.emit(into: message)
    case .redirect(let redirect): redirect.emit(into: message)
    }
    guard fillChecksum else { return }
    message.writeUInt16(Self.checksum(UnsafeRawBufferPointer(message), source: source, destination: destination), at: Field.checksum)
  }

  /// The checksum over the pseudo-header and all of `message`: 0 for a message whose checksum
  /// field is right, the value to write for one whose field is 0.
  static func checksum(_ message: UnsafeRawBufferPointer, source: IPv6Address, destination: IPv6Address) -> UInt16 {
    var sum = InternetChecksum()
    sum.addPseudoHeader(source: source, destination: destination, protocol: .icmpv6, length: message.count)
    sum.add(message)
    return sum.value
  }

  // MARK: Echo without the enum

  /// Whether `message` is what `parse` returns as `.echoRequest` (type 128, code 0, at least
  /// the eight-byte header), found without building the message: the echo responder's short
  /// way. Throws `.badChecksum` for an echo request whose checksum is wrong, when verifying.
  public static func isEchoRequest(
    _ message: UnsafeRawBufferPointer, source: IPv6Address, destination: IPv6Address, verifyChecksum: Bool = true
  ) throws(WireError) -> Bool {
    guard message.count >= headerLength, message.readUInt8(at: Field.type) == 128, message.readUInt8(at: Field.code) == 0
    else { return false }
    if verifyChecksum, checksum(message, source: source, destination: destination) != 0 { throw .badChecksum }
    return true
  }

  /// Makes the echo reply (RFC 4443 4.2) in `reply`, which holds a copy of the request: type
  /// 129, identifier, sequence number and data unchanged, the checksum over `source` and
  /// `destination`.
  public static func makeEchoReply(_ reply: UnsafeMutableRawBufferPointer, source: IPv6Address, destination: IPv6Address) {
    precondition(reply.count >= headerLength, "an echo reply has an eight-byte header")
    reply.writeUInt8(129, at: Field.type)
    reply.writeUInt16(0, at: Field.checksum)
    reply.writeUInt16(checksum(UnsafeRawBufferPointer(reply), source: source, destination: destination), at: Field.checksum)
  }

  /// The Parameter Problem to send for a packet to `destination` that the extension-header
  /// walk refused (RFC 8200 4), or nil when none is: the walk's errors without a pointer, an
  /// option whose type says to discard silently, and, to a multicast destination, everything
  /// but an unrecognized option of type 10xxxxxx (RFC 4443 2.4 (e.3), RFC 8200 4.2). The
  /// other rules of RFC 4443 2.4 (e) (never in answer to an error, rate limiting) are the
  /// caller's.
  public static func parameterProblem(
    for error: IPv6ExtensionHeaderError, destination: IPv6Address
  ) -> ICMPv6Message? {
    let code: ParameterProblemCode
    let pointer: Int
    switch error {
    case .truncated, .tooManyHeaders: return nil
    case .unrecognizedOption(let at, let action):
      guard action == .discardAndReport || (action == .discardAndReportUnlessMulticast && !destination.isMulticast)
      else { return nil }
      return .parameterProblem(code: .unrecognizedOption, pointer: UInt32(at))
    case .hopByHopNotFirst(let at): (code, pointer) = (.unrecognizedNextHeader, at)
    case .unrecognizedRoutingType(let at), .fragmentLengthNotMultipleOf8(let at), .fragmentPastMaximumLength(let at):
      (code, pointer) = (.erroneousHeaderField, at)
    }
    return destination.isMulticast ? nil : .parameterProblem(code: code, pointer: UInt32(pointer))
  }

  /// What RFC 4861 (6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1) and RFC 3810 (5.1.14, 6.2) require a
  /// receiver to check beyond the format, for the message received with IPv6 `hopLimit`,
  /// `source` and `destination`, and the Hop-by-Hop header's Router Alert (`routerAlert`, from
  /// `IPv6ExtensionHeaders`): see each message's `validate`. A Neighbor Discovery type with a
  /// code other than 0 (parsed as `.other`) is `.nonZeroCode`. Other messages pass.
  public func validate(
    hopLimit: UInt8, source: IPv6Address, destination: IPv6Address, routerAlert: UInt16? = nil
  ) throws(ICMPv6ValidationError) {
    switch self {
    case .routerSolicitation(let message): try message.validate(hopLimit: hopLimit, source: source)
    case .routerAdvertisement(let message): try message.validate(hopLimit: hopLimit, source: source)
    case .neighborSolicitation(let message):
      try message.validate(hopLimit: hopLimit, source: source, destination: destination)
    case .neighborAdvertisement(let message): try message.validate(hopLimit: hopLimit, destination: destination)
    case .redirect(let message): try message.validate(hopLimit: hopLimit, source: source)
    case .multicastListenerQuery(let query):
      try query.validate(hopLimit: hopLimit, source: source, routerAlert: routerAlert)
    case .other(let type, _, _) where (133...137).contains(type): throw .nonZeroCode
    default: break
    }
  }
}

/// Why a well-formed Neighbor Discovery or MLD message must be silently discarded.
public enum ICMPv6ValidationError: Error, Equatable, Sendable {
  /// Neighbor Discovery: the IPv6 hop limit was not 255, so the message may come from off the
  /// link (RFC 4861 6.1, 7.1, 8.1). MLD: it was not 1 (RFC 3810 6.2).
  case badHopLimit
  /// A Neighbor Discovery type with a code other than 0.
  case nonZeroCode
  /// A Router Advertisement or Redirect (RFC 4861 6.1.2, 8.1), or an MLD query (RFC 3810
  /// 5.1.14), from an address that is not link-local.
  case sourceNotLinkLocal
  /// A Neighbor Solicitation or Advertisement for a multicast target (RFC 4861 7.1).
  case multicastTarget
  /// A Router or Neighbor Solicitation from the unspecified address with a source link-layer
  /// address option (RFC 4861 6.1.1, 7.1.1).
  case linkLayerAddressFromUnspecifiedSource
  /// A Neighbor Solicitation from the unspecified address (duplicate address detection) not
  /// sent to a solicited-node multicast address (RFC 4861 7.1.1).
  case unspecifiedSourceNotToSolicitedNode
  /// A Neighbor Advertisement to a multicast address with the Solicited flag (RFC 4861 7.1.2).
  case solicitedToMulticast
  /// A Redirect whose target is neither link-local nor its destination (RFC 4861 8.1).
  case redirectTargetNotLinkLocal
  /// A Redirect whose destination is multicast (RFC 4861 8.1).
  case redirectDestinationIsMulticast
  /// An MLD query without a Router Alert option (RFC 3810 6.2).
  case missingRouterAlert
}

extension ICMPv6Message: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// tcpdump's words.
  public func write(to text: inout Text) {
    text.append("ICMP6, ")
    switch self {
    case .destinationUnreachable(let code): text.append("destination unreachable, code \(code.rawValue)")
    case .packetTooBig(let mtu): text.append("packet too big, mtu \(mtu)")
    case .timeExceeded(let code): text.append("time exceeded, code \(code)")
    case .parameterProblem(let code, let pointer):
      text.append("parameter problem, code \(code.rawValue), pointer \(pointer)")
    case .echoRequest(let id, let seq): text.append("echo request, id \(id), seq \(seq)")
    case .echoReply(let id, let seq): text.append("echo reply, id \(id), seq \(seq)")
    case .multicastListenerQuery(let query): query.write(to: &text)
    case .multicastListenerReport(let report): report.write(to: &text)
    case .routerSolicitation(let message): message.write(to: &text)
    case .routerAdvertisement(let message): message.write(to: &text)
    case .neighborSolicitation(let message): message.write(to: &text)
    case .neighborAdvertisement(let message): message.write(to: &text)
    case .redirect(let message): message.write(to: &text)
    case .other(let type, let code, _): text.append("type \(type), code \(code)")
    }
  }
}
