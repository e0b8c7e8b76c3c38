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
    utf8.count == other.utf8.count && utf8HasPrefix(other)
  }

  /// Whether `self` starts with the UTF-8 bytes of `prefix`.
  public func utf8HasPrefix(_ prefix: String) -> Bool {
    var text = self
    var prefix = prefix
    return text.withUTF8 { text in
      prefix.withUTF8 { prefix in
        guard prefix.count <= text.count else { return false }
        for index in 0..<prefix.count where text[index] != prefix[index] { return false }
        return true
      }
    }
  }
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
