// Text compared as UTF-8 bytes.
//
// String's own `==`, `hasPrefix`, `count`, `split` and `firstIndex(of:)` work on Characters
// under Unicode canonical equivalence: in Embedded Swift they link the normalization and
// grapheme-breaking tables and their code (some 60 KB of an spt image). Sirocco's names and
// keywords (boot parameters, devices, log levels, choices) are ASCII, so the portable modules
// compare text byte for byte instead (and count, search and split it on `utf8`), on every
// target alike. Non-ASCII text compares by its bytes: a precomposed "é" is not equal to "e"
// followed by a combining accent.

extension String {
  /// Whether `self` and `other` are the same UTF-8 bytes.
  @inline(never)  // Called for every name lookup: one call is smaller than its body.
  public func utf8Equals(_ other: String) -> Bool {
    withUTF8Bytes { text in other.withUTF8Bytes { other in text.count == other.count && text.hasPrefix(other) } }
  }

  /// Whether `self` starts with the UTF-8 bytes of `prefix`.
  public func utf8HasPrefix(_ prefix: String) -> Bool {
    withUTF8Bytes { text in prefix.withUTF8Bytes { prefix in text.hasPrefix(prefix) } }
  }

  /// Whether `self` ends with the UTF-8 bytes of `suffix`.
  public func utf8HasSuffix(_ suffix: String) -> Bool {
    withUTF8Bytes { text in
      suffix.withUTF8Bytes { suffix in
        suffix.count <= text.count && UnsafeBufferPointer(rebasing: text[(text.count - suffix.count)...]).hasPrefix(suffix)
      }
    }
  }
}

extension [UInt8] {
  /// The runs of bytes between `separator`s, empty runs left out unless `keepingEmpty`:
  /// what `split(separator:)` gives, as one copy of code however many callers (the generic
  /// `split` is specialized, some 2 KB in an Embedded image, for each collection type split).
  public func pieces(separatedBy separator: UInt8, keepingEmpty: Bool = false) -> [ArraySlice<UInt8>] {
    var pieces: [ArraySlice<UInt8>] = []
    var start = 0
    for index in 0...count where index == count || self[index] == separator {
      if keepingEmpty || index > start { pieces.append(self[start..<index]) }
      start = index + 1
    }
    return pieces
  }
}

extension UnsafeBufferPointer<UInt8> {
  /// Whether these bytes start with `prefix`'s.
  public func hasPrefix(_ prefix: UnsafeBufferPointer<UInt8>) -> Bool {
    guard prefix.count <= count else { return false }
    for index in 0..<prefix.count where self[index] != prefix[index] { return false }
    return true
  }
}

/// `byte` with an ASCII capital made small (other bytes as they are): for the protocols that
/// compare ASCII without case (DNS names, HTTP field names).
@inline(__always)
public func asciiLowercase(_ byte: UInt8) -> UInt8 {
  byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
}

/// `byte` with an ASCII small letter made capital (other bytes as they are).
@inline(__always)
public func asciiUppercase(_ byte: UInt8) -> UInt8 {
  byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
}

/// Solo5's rule for device names (its tenders parse `--net:NAME=` with `%67[A-Za-z0-9]`):
/// 1-67 ASCII letters and digits. Applications' declarations, device options and manifests
/// are all held to it.
public func isSolo5DeviceName<Bytes: Collection>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
  guard !bytes.isEmpty, bytes.count <= 67 else { return false }
  return bytes.allSatisfy { byte in
    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
      || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
  }
}

/// The value of one ASCII hexadecimal digit, either case; nil for anything else.
@inline(__always)
public func asciiHexDigit(_ byte: UInt8) -> UInt8? {
  switch byte {
  case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
  case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
  case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
  default: nil
  }
}

/// The value of ASCII decimal digits, at most `maximumDigits` of them (so it cannot
/// overflow); nil for no digits, too many, or anything else among them.
public func asciiDecimal<Digits: Collection>(_ bytes: Digits, maximumDigits: Int = 18) -> Int? where Digits.Element == UInt8 {
  guard !bytes.isEmpty, bytes.count <= min(maximumDigits, 18) else { return nil }
  var value = 0
  for byte in bytes {
    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
    value = value * 10 + Int(byte - UInt8(ascii: "0"))
  }
  return value
}

/// Text built as UTF-8 bytes: what the console, the log and every error line are made of.
///
/// String's `+` and interpolation go through its general append, which in Embedded Swift
/// links some 8 KB of UTF-16 index and breadcrumb code; an image that builds its lines as
/// `Text` links none of it. Literals are `StaticString`s (copied, never decoded), and
/// interpolation takes `String`s, integers and `TextConvertible` values as bytes:
///
///     console.print("\(name): \(count) frames from \(address)")
public struct Text: Sendable, Equatable, ExpressibleByStringInterpolation {
  public var bytes: [UInt8]

  public init() { bytes = [] }

  public init(stringLiteral literal: StaticString) {
    bytes = []
    append(literal: literal)
  }

  public init(stringInterpolation: StringInterpolation) { self = stringInterpolation.text }

  public init(string: String) {
    bytes = []
    append(string)
  }

  /// The bytes of `value`'s `write(to:)`.
  public init(_ value: some TextConvertible) {
    bytes = []
    value.write(to: &self)
  }

  /// A literal's bytes (what `append("...")` does too, through a `Text` literal).
  @inline(never)  // Every interpolation calls it: one copy.
  public mutating func append(literal: StaticString) {
    literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
  }

  @_disfavoredOverload
  @inline(never)  // Every interpolation calls it: one copy.
  public mutating func append(_ string: String) {
    string.withUTF8Bytes { bytes.append(contentsOf: $0) }
  }

  @inline(never)  // Every interpolation calls it: one copy.
  public mutating func append(_ text: Text) { bytes.append(contentsOf: text.bytes) }

  public mutating func append(byte: UInt8) { bytes.append(byte) }

  /// `value` in decimal, with a `-` when negative.
  @inline(never)  // Every interpolation calls it: one copy.
  public mutating func append(decimal value: Int) {
    if value < 0 { bytes.append(UInt8(ascii: "-")) }
    append(decimal: value.magnitude)
  }

  public mutating func append(decimal value: UInt64) { append(decimal: value, width: 1) }

  /// `value` in decimal, zero-padded on the left to at least `width` digits (at most 20).
  public mutating func append(decimal value: UInt64, width: Int) {
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 20 digits at most, least significant first
    var count = 0
    var rest = value
    withUnsafeMutableBytes(of: &digits) { digits in
      repeat {
        digits[count] = UInt8(truncatingIfNeeded: rest % 10) + UInt8(ascii: "0")
        rest /= 10
        count += 1
      } while rest != 0 || count < min(width, 20)
      while count > 0 {
        count -= 1
        bytes.append(digits[count])
      }
    }
  }

  public mutating func append(decimal value: UInt) { append(decimal: UInt64(value)) }

  /// `value` as two lower-case hexadecimal digits.
  public mutating func append(hexByte value: UInt8) {
    let digits: StaticString = "0123456789abcdef"
    bytes.append(digits.utf8Start[Int(value >> 4)])
    bytes.append(digits.utf8Start[Int(value & 0xf)])
  }

  /// `value` in lower-case hexadecimal without leading zeros (`0` for zero).
  public mutating func append(hexadecimal value: UInt64) {
    let digits: StaticString = "0123456789abcdef"
    var shift: UInt64 = 60
    while shift > 0 && value >> shift == 0 { shift -= 4 }
    while true {
      bytes.append(digits.utf8Start[Int(value >> shift & 0xf)])
      if shift == 0 { break }
      shift -= 4
    }
  }

  /// Spaces up to `column` bytes from the start (none if the text is that long already).
  public mutating func pad(to column: Int) {
    while bytes.count < column { bytes.append(UInt8(ascii: " ")) }
  }

  public struct StringInterpolation: StringInterpolationProtocol, Sendable {
    public var text = Text()

    public init(literalCapacity: Int, interpolationCount: Int) {}

    public mutating func appendLiteral(_ literal: StaticString) { text.append(literal: literal) }
    public mutating func appendInterpolation(_ string: String) { text.append(string) }
    public mutating func appendInterpolation(_ other: Text) { text.append(other) }
    public mutating func appendInterpolation(_ value: Int) { text.append(decimal: value) }
    public mutating func appendInterpolation(_ value: some FixedWidthInteger & UnsignedInteger) {
      text.append(decimal: UInt64(value))
    }
    public mutating func appendInterpolation(_ value: some TextConvertible) { value.write(to: &text) }
    /// Anything else that describes itself (through its `String` description).
    @_disfavoredOverload
    public mutating func appendInterpolation(_ value: some CustomStringConvertible) { text.append(value.description) }
  }
}

extension Text: CustomStringConvertible {
  public var description: String { String(self) }
}

extension String {
  public init(_ text: Text) { self = text.bytes.withUnsafeBufferPointer { String(utf8Bytes: $0) } }

  /// The string of these UTF-8 bytes. Unlike `String(decoding:as:)`, which links String's
  /// general append to repair bad input, text that is not valid UTF-8 comes back with every
  /// non-ASCII byte as `?`.
  @inline(never)
  public init(utf8Bytes bytes: UnsafeBufferPointer<UInt8>) {
    if let valid = String(validating: bytes, as: UTF8.self) {
      self = valid
    } else {
      self = String(validating: bytes.map { $0 < 0x80 ? $0 : UInt8(ascii: "?") }, as: UTF8.self) ?? ""
    }
  }

  /// Calls `body` with the string's UTF-8 bytes, in place.
  ///
  /// Every string is contiguous UTF-8 where there is no Objective-C bridging (Linux and the
  /// freestanding targets): only a lazily bridged NSString is not, and the copy that makes it
  /// contiguous would link String's UTF-16 index code into every image.
  @inline(__always)
  public func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
    #if _runtime(_ObjC)
    var copy = self
    copy.makeContiguousUTF8()
    return copy.utf8.withContiguousStorageIfAvailable(body)!
    #else
    return utf8.withContiguousStorageIfAvailable(body)!
    #endif
  }
}

/// A value that writes itself as text without building a `String` first (addresses,
/// times, parameters): what `Text` interpolation prefers over `description`.
public protocol TextConvertible {
  func write(to text: inout Text)
}
