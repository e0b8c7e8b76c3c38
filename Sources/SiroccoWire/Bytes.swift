// Big-endian field access on raw buffers, and the one error type every parser throws.
//
// Every parser checks the buffer's length once, up front (smoltcp's `check_len` contract);
// the accessors below then trap only on a programmer error (an offset the parser never
// checked), never on input.

/// Why a buffer was not accepted as a header. Parsers throw only this, and only for input.
public enum WireError: Error, Equatable, Sendable {
  /// The buffer is shorter than the header, or than a length field inside it claims.
  case truncated
  /// A field holds a value the format does not allow (bad version, length below minimum...).
  case malformed
  /// The checksum does not verify.
  case badChecksum
  /// A well-formed value this implementation does not handle (e.g. ARP for non-IPv4).
  case unsupported
}

extension WireError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .truncated: "truncated"
    case .malformed: "malformed"
    case .badChecksum: "bad checksum"
    case .unsupported: "unsupported"
    }
  }
}

extension UnsafeRawBufferPointer {
  @inline(__always)
  public func readUInt8(at offset: Int) -> UInt8 {
    precondition(offset >= 0 && offset < count, "wire read past the checked length")
    return load(fromByteOffset: offset, as: UInt8.self)
  }

  @inline(__always)
  public func readUInt16(at offset: Int) -> UInt16 {
    precondition(offset >= 0 && offset + 2 <= count, "wire read past the checked length")
    return UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
  }

  @inline(__always)
  public func readUInt32(at offset: Int) -> UInt32 {
    precondition(offset >= 0 && offset + 4 <= count, "wire read past the checked length")
    return UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }

  @inline(__always)
  public func readUInt64(at offset: Int) -> UInt64 {
    precondition(offset >= 0 && offset + 8 <= count, "wire read past the checked length")
    return UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }

  /// The bytes from `offset` to the end (empty when `offset == count`).
  @inline(__always)
  public func suffix(from offset: Int) -> UnsafeRawBufferPointer {
    precondition(offset >= 0 && offset <= count, "wire slice past the checked length")
    return UnsafeRawBufferPointer(rebasing: self[offset...])
  }

  /// `length` bytes from `offset`.
  @inline(__always)
  public func slice(from offset: Int, length: Int) -> UnsafeRawBufferPointer {
    precondition(offset >= 0 && length >= 0 && offset + length <= count, "wire slice past the checked length")
    return UnsafeRawBufferPointer(rebasing: self[offset..<(offset + length)])
  }
}

extension UnsafeMutableRawBufferPointer {
  @inline(__always)
  public func writeUInt8(_ value: UInt8, at offset: Int) {
    precondition(offset >= 0 && offset < count, "wire write past the buffer")
    storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
  }

  @inline(__always)
  public func writeUInt16(_ value: UInt16, at offset: Int) {
    precondition(offset >= 0 && offset + 2 <= count, "wire write past the buffer")
    storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
  }

  @inline(__always)
  public func writeUInt32(_ value: UInt32, at offset: Int) {
    precondition(offset >= 0 && offset + 4 <= count, "wire write past the buffer")
    storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
  }

  @inline(__always)
  public func writeUInt64(_ value: UInt64, at offset: Int) {
    precondition(offset >= 0 && offset + 8 <= count, "wire write past the buffer")
    storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
  }

  @inline(__always)
  public func suffix(from offset: Int) -> UnsafeMutableRawBufferPointer {
    precondition(offset >= 0 && offset <= count, "wire slice past the buffer")
    return UnsafeMutableRawBufferPointer(rebasing: self[offset...])
  }

  @inline(__always)
  public func slice(from offset: Int, length: Int) -> UnsafeMutableRawBufferPointer {
    precondition(offset >= 0 && length >= 0 && offset + length <= count, "wire slice past the buffer")
    return UnsafeMutableRawBufferPointer(rebasing: self[offset..<(offset + length)])
  }
}

/// Two lowercase hex digits per byte, for descriptions (no Foundation, no String(format:)).
@usableFromInline
func hexByte(_ byte: UInt8) -> String {
  let digits: StaticString = "0123456789abcdef"
  let base = digits.utf8Start
  return String(decoding: [base[Int(byte >> 4)], base[Int(byte & 0xf)]], as: UTF8.self)
}
