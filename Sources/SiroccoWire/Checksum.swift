// The Internet checksum (RFC 1071), with the IPv4 pseudo-header (RFC 768, RFC 9293 3.1) and
// the IPv6 one (RFC 8200 8.1).

/// A running one's-complement sum. Add 16-bit-aligned pieces (only the last piece may have an
/// odd length), then read `value`.
public struct InternetChecksum: Sendable {
  @usableFromInline var sum: UInt64 = 0

  @inlinable public init() {}

  /// Adds bytes that start at an even offset of the checksummed data.
  @inlinable
  public mutating func add(_ bytes: UnsafeRawBufferPointer) {
    var index = 0
    let count = bytes.count
    var accumulator = sum
    // Eight bytes at a time: a big-endian 64-bit word folds to the same 16-bit sum.
    while index + 8 <= count {
      let word = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
      let (partial, overflow) = accumulator.addingReportingOverflow(word)
      accumulator = partial &+ (overflow ? 1 : 0)
      index += 8
    }
    var tail: UInt64 = 0
    while index + 2 <= count {
      tail &+= UInt64(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt16.self)))
      index += 2
    }
    if index < count { tail &+= UInt64(bytes.load(fromByteOffset: index, as: UInt8.self)) << 8 }
    let (partial, overflow) = accumulator.addingReportingOverflow(tail)
    sum = partial &+ (overflow ? 1 : 0)
  }

  @inlinable
  public mutating func add(_ value: UInt16) {
    let (partial, overflow) = sum.addingReportingOverflow(UInt64(value))
    sum = partial &+ (overflow ? 1 : 0)
  }

  @inlinable
  public mutating func add(_ value: UInt32) { add(UInt64(value)) }

  /// Adds a big-endian 64-bit word: 2^16 = 1 modulo 2^16 - 1, so the word's sum with an
  /// end-around carry folds to the sum of its four 16-bit groups.
  @inlinable
  public mutating func add(_ value: UInt64) {
    let (partial, overflow) = sum.addingReportingOverflow(value)
    sum = partial &+ (overflow ? 1 : 0)
  }

  /// Adds the IPv4 pseudo-header used by UDP and TCP.
  @inlinable
  public mutating func addPseudoHeader(
    source: IPv4Address, destination: IPv4Address, protocol: IPProtocol, length: Int
  ) {
    add(source.rawValue)
    add(destination.rawValue)
    add(UInt16(`protocol`.rawValue))
    add(UInt16(truncatingIfNeeded: length))
  }

  /// Adds the IPv6 pseudo-header (RFC 8200 8.1) used by ICMPv6, UDP and TCP: both addresses,
  /// the upper-layer length as 32 bits, three zero bytes and the upper-layer protocol (the
  /// last Next Header, not the first). With a Routing header, `destination` is the final
  /// destination, not the packet's Destination Address.
  @inlinable
  public mutating func addPseudoHeader(
    source: IPv6Address, destination: IPv6Address, protocol: IPProtocol, length: Int
  ) {
    add(source.high)
    add(source.low)
    add(destination.high)
    add(destination.low)
    add(UInt32(truncatingIfNeeded: length))
    add(UInt16(`protocol`.rawValue))
  }

  /// Adds the pseudo-header of the family of `source` and `destination` (which must be of the
  /// same family).
  @inlinable
  public mutating func addPseudoHeader(
    source: IPAddress, destination: IPAddress, protocol: IPProtocol, length: Int
  ) {
    switch (source, destination) {
    case (.v4(let source), .v4(let destination)):
      addPseudoHeader(source: source, destination: destination, protocol: `protocol`, length: length)
    case (.v6(let source), .v6(let destination)):
      addPseudoHeader(source: source, destination: destination, protocol: `protocol`, length: length)
    default:
      preconditionFailure("a pseudo-header's addresses are of one family")
    }
  }

  /// The folded, complemented checksum to put in a header.
  @inlinable
  public var value: UInt16 {
    var folded = sum
    while folded >> 16 != 0 { folded = (folded & 0xffff) + (folded >> 16) }
    return ~UInt16(truncatingIfNeeded: folded)
  }

  /// Checksum of one buffer.
  @inlinable
  public static func compute(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
    var checksum = InternetChecksum()
    checksum.add(bytes)
    return checksum.value
  }

  /// Completes a checksum left to the device (offload): sums `buffer` from `start`, whose
  /// checksum field at `start + offset` holds the pseudo-header sum, and writes the result
  /// there. What a device without checksum offload does for the stack.
  public static func complete(in buffer: UnsafeMutableRawBufferPointer, start: Int, offset: Int) {
    let value = compute(UnsafeRawBufferPointer(rebasing: buffer[start...]))
    buffer.writeUInt16(value, at: start + offset)
  }
}
