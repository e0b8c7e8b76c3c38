// The UDP header, over IPv4 and IPv6.
//
// Read first: RFC 768 (format, pseudo-header, zero checksum), RFC 1122 4.1.3.4 (a host
// must verify a non-zero checksum and silently discard a datagram that fails), RFC 8200 8.1
// (over IPv6: the IPv6 pseudo-header, and a zero checksum is never valid).

public struct UDPHeader: Hashable, Sendable {
  enum Field {
    static let sourcePort = 0
    static let destinationPort = 2
    static let length = 4
    static let checksum = 6
  }

  public static let length = 8

  public var sourcePort: UInt16
  public var destinationPort: UInt16
  /// Header plus payload, in bytes.
  public var length: Int
  /// As read by `parse` (0: the sender computed none); written by `emit`.
  public var checksum: UInt16

  public init(sourcePort: UInt16, destinationPort: UInt16, payloadLength: Int) {
    self.sourcePort = sourcePort
    self.destinationPort = destinationPort
    self.length = Self.length + payloadLength
    self.checksum = 0
  }

  public var payloadLength: Int { length - Self.length }

  /// Parses the header of the datagram in `datagram` (the IPv4 payload). The length field
  /// must be at least 8 and at most the buffer (trailing bytes are ignored). A non-zero
  /// checksum is verified over the pseudo-header and `length` bytes when `verifyChecksum`.
  public static func parse(
    _ datagram: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address,
    verifyChecksum: Bool = true
  ) throws(WireError) -> UDPHeader {
    try parse(datagram, source: .v4(source), destination: .v4(destination), verifyChecksum: verifyChecksum)
  }

  /// Parses the header of the datagram in `datagram` (the IPv6 payload after any extension
  /// headers), as for IPv4 except that a zero checksum is refused as `.badChecksum` even when
  /// not verifying: over IPv6 the checksum is mandatory (RFC 8200 8.1), and no device that
  /// verified checksums for the stack would have passed a zero one as good.
  public static func parse(
    _ datagram: UnsafeRawBufferPointer, source: IPv6Address, destination: IPv6Address,
    verifyChecksum: Bool = true
  ) throws(WireError) -> UDPHeader {
    try parse(datagram, source: .v6(source), destination: .v6(destination), verifyChecksum: verifyChecksum)
  }

  /// Parses over either family, as the two above do (`source` and `destination` of one family).
  public static func parse(
    _ datagram: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress,
    verifyChecksum: Bool = true
  ) throws(WireError) -> UDPHeader {
    guard datagram.count >= Self.length else { throw .truncated }
    let length = Int(datagram.readUInt16(at: Field.length))
    guard length >= Self.length else { throw .malformed }
    guard length <= datagram.count else { throw .truncated }
    let checksum = datagram.readUInt16(at: Field.checksum)
    if checksum == 0, source.ipv6 != nil { throw .badChecksum }
    if verifyChecksum, checksum != 0 {
      var sum = InternetChecksum()
      sum.addPseudoHeader(source: source, destination: destination, protocol: .udp, length: length)
      sum.add(datagram.slice(from: 0, length: length))
      guard sum.value == 0 else { throw .badChecksum }
    }
    var header = UDPHeader(
      sourcePort: datagram.readUInt16(at: Field.sourcePort),
      destinationPort: datagram.readUInt16(at: Field.destinationPort),
      payloadLength: length - Self.length)
    header.checksum = checksum
    return header
  }

  /// Writes the header at the start of `datagram`, whose next `payloadLength` bytes must
  /// already hold the payload, and the checksum (a computed 0 is sent as 0xffff, RFC 768).
  /// With `fillChecksum` false the field is zero: no checksum.
  public func emit(
    into datagram: UnsafeMutableRawBufferPointer, source: IPv4Address, destination: IPv4Address,
    fillChecksum: Bool = true
  ) {
    emit(into: datagram, source: .v4(source), destination: .v4(destination), fillChecksum: fillChecksum)
  }

  /// Writes the header as for IPv4, with the IPv6 pseudo-header (a computed 0 is sent as
  /// 0xffff, RFC 8200 8.1). With `fillChecksum` false the field is zero, which is not a valid
  /// UDP checksum over IPv6: only for a device that fills it in (offload).
  public func emit(
    into datagram: UnsafeMutableRawBufferPointer, source: IPv6Address, destination: IPv6Address,
    fillChecksum: Bool = true
  ) {
    emit(into: datagram, source: .v6(source), destination: .v6(destination), fillChecksum: fillChecksum)
  }

  /// Writes the header over either family, as the two above do.
  public func emit(
    into datagram: UnsafeMutableRawBufferPointer, source: IPAddress, destination: IPAddress,
    fillChecksum: Bool = true
  ) {
    precondition(datagram.count >= length && length >= Self.length && length <= 65535, "bad UDP length")
    datagram.writeUInt16(sourcePort, at: Field.sourcePort)
    datagram.writeUInt16(destinationPort, at: Field.destinationPort)
    datagram.writeUInt16(UInt16(length), at: Field.length)
    datagram.writeUInt16(0, at: Field.checksum)
    guard fillChecksum else { return }
    var sum = InternetChecksum()
    sum.addPseudoHeader(source: source, destination: destination, protocol: .udp, length: length)
    sum.add(UnsafeRawBufferPointer(datagram.slice(from: 0, length: length)))
    let value = sum.value
    datagram.writeUInt16(value == 0 ? 0xffff : value, at: Field.checksum)
  }
}

extension UDPHeader: CustomStringConvertible {
  public var description: String { "UDP \(sourcePort) > \(destinationPort), length \(payloadLength)" }
}
