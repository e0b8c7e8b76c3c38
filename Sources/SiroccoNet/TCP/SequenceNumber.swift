// TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 3.4, RFC 1982).

public struct SequenceNumber: Hashable, Comparable, Sendable {
  public var rawValue: UInt32

  public init(_ rawValue: UInt32) { self.rawValue = rawValue }

  /// `lhs` comes before `rhs` in sequence space (less than half the space apart).
  public static func < (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool {
    Int32(bitPattern: lhs.rawValue &- rhs.rawValue) < 0
  }

  public static func + (lhs: SequenceNumber, rhs: Int) -> SequenceNumber {
    SequenceNumber(lhs.rawValue &+ UInt32(truncatingIfNeeded: rhs))
  }

  public static func += (lhs: inout SequenceNumber, rhs: Int) { lhs = lhs + rhs }

  /// Bytes from `rhs` to `lhs` (negative when `lhs` is before `rhs`).
  public static func - (lhs: SequenceNumber, rhs: SequenceNumber) -> Int {
    Int(Int32(bitPattern: lhs.rawValue &- rhs.rawValue))
  }
}

extension SequenceNumber: CustomStringConvertible {
  public var description: String { String(rawValue) }
}
