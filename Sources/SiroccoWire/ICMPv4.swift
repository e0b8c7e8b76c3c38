// ICMP for IPv4: echo, destination unreachable, time exceeded.
//
// Read first: RFC 792 (message formats), RFC 1122 3.2.2 (what a host must send and accept),
// RFC 1812 4.3.2.3 (how much of the original datagram an error quotes).

/// The type and the fields of the first eight bytes of an ICMP message. The rest of the
/// message (echo data, or the quoted datagram of an error) is the payload.
public enum ICMPv4Message: Hashable, Sendable {
  case echoReply(identifier: UInt16, sequenceNumber: UInt16)
  case echoRequest(identifier: UInt16, sequenceNumber: UInt16)
  /// Type 3. `nextHopMTU` is meaningful for code 4 (fragmentation needed, RFC 1191).
  case destinationUnreachable(code: UnreachableCode, nextHopMTU: UInt16)
  /// Type 11: code 0 TTL exceeded in transit, code 1 fragment reassembly time exceeded.
  case timeExceeded(code: UInt8)
  /// Any other type: its code and the four bytes after the checksum.
  case other(type: UInt8, code: UInt8, rest: UInt32)

  public struct UnreachableCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let network = UnreachableCode(rawValue: 0)
    public static let host = UnreachableCode(rawValue: 1)
    public static let `protocol` = UnreachableCode(rawValue: 2)
    public static let port = UnreachableCode(rawValue: 3)
    public static let fragmentationNeeded = UnreachableCode(rawValue: 4)
    public static let administrativelyProhibited = UnreachableCode(rawValue: 13)
  }

  enum Field {
    static let type = 0
    static let code = 1
    static let checksum = 2
    static let rest = 4
  }

  /// Length of the fixed part; the payload starts here.
  public static let headerLength = 8

  public var type: UInt8 {
    switch self {
    case .echoReply: 0
    case .echoRequest: 8
    case .destinationUnreachable: 3
    case .timeExceeded: 11
    case .other(let type, _, _): type
    }
  }

  public var code: UInt8 {
    switch self {
    case .echoReply, .echoRequest: 0
    case .destinationUnreachable(let code, _): code.rawValue
    case .timeExceeded(let code): code
    case .other(_, let code, _): code
    }
  }

  var rest: UInt32 {
    switch self {
    case .echoReply(let id, let seq), .echoRequest(let id, let seq): UInt32(id) << 16 | UInt32(seq)
    case .destinationUnreachable(_, let mtu): UInt32(mtu)
    case .timeExceeded: 0
    case .other(_, _, let rest): rest
    }
  }

  /// Parses the whole ICMP message in `message` (the IPv4 payload, exactly), verifying its
  /// checksum over all of it unless told not to.
  public static func parse(
    _ message: UnsafeRawBufferPointer, verifyChecksum: Bool = true
  ) throws(WireError) -> ICMPv4Message {
    guard message.count >= headerLength else { throw .truncated }
    if verifyChecksum, InternetChecksum.compute(message) != 0 { throw .badChecksum }
    let type = message.readUInt8(at: Field.type)
    let code = message.readUInt8(at: Field.code)
    let rest = message.readUInt32(at: Field.rest)
    switch (type, code) {
    case (0, 0): return .echoReply(identifier: UInt16(rest >> 16), sequenceNumber: UInt16(rest & 0xffff))
    case (8, 0): return .echoRequest(identifier: UInt16(rest >> 16), sequenceNumber: UInt16(rest & 0xffff))
    case (3, _): return .destinationUnreachable(code: UnreachableCode(rawValue: code), nextHopMTU: UInt16(rest & 0xffff))
    case (11, _): return .timeExceeded(code: code)
    default: return .other(type: type, code: code, rest: rest)
    }
  }

  /// Writes the eight-byte header at the start of `message`, whose remaining bytes must
  /// already hold the payload, then the checksum over the whole of `message`.
  public func emit(into message: UnsafeMutableRawBufferPointer, fillChecksum: Bool = true) {
    precondition(message.count >= Self.headerLength, "buffer too small for an ICMP header")
    message.writeUInt8(type, at: Field.type)
    message.writeUInt8(code, at: Field.code)
    message.writeUInt16(0, at: Field.checksum)
    message.writeUInt32(rest, at: Field.rest)
    if fillChecksum {
      message.writeUInt16(InternetChecksum.compute(UnsafeRawBufferPointer(message)), at: Field.checksum)
    }
  }
}

extension ICMPv4Message: CustomStringConvertible {
  public var description: String {
    switch self {
    case .echoReply(let id, let seq): "ICMP echo reply, id \(id), seq \(seq)"
    case .echoRequest(let id, let seq): "ICMP echo request, id \(id), seq \(seq)"
    case .destinationUnreachable(let code, _): "ICMP unreachable, code \(code.rawValue)"
    case .timeExceeded(let code): "ICMP time exceeded, code \(code)"
    case .other(let type, let code, _): "ICMP type \(type), code \(code)"
    }
  }
}
