// Domain names: labels of bytes, compared without regard to ASCII case and kept in the case
// they came in (RFC 4343), read from messages with compression pointers and written with
// them, and read and written in the master-file presentation format.
//
// Read first: RFC 1035 3.1 (names, 63-byte labels, 255-byte names), 4.1.4 (compression),
// 5.1 (presentation: `\X` and `\DDD` escapes); RFC 4343 (case); RFC 6891 5 (the extended
// label type 01 is gone and 10 is reserved: both are refused).

import SiroccoWire

/// A domain name: its labels, as the uncompressed wire form holds them (each a length byte
/// and its bytes, ending with the root's empty label). Two names are equal when their labels
/// are, ASCII letters compared without case; each keeps its own case.
public struct DNSName: Sendable {
  /// The uncompressed wire form: at most 255 bytes, labels of 1-63 bytes, the root last.
  public private(set) var wire: [UInt8]

  /// The root, ".".
  public static let root = DNSName(trustedWire: [0])

  public static let maximumLength = 255
  public static let maximumLabelLength = 63

  init(trustedWire: [UInt8]) { wire = trustedWire }

  /// The name made of `labels`, from the leftmost; nil if a label is empty or longer than 63
  /// bytes, or the name longer than 255 bytes.
  public init?(labels: [[UInt8]]) {
    var wire: [UInt8] = []
    for label in labels {
      guard !label.isEmpty, label.count <= Self.maximumLabelLength else { return nil }
      wire.append(UInt8(label.count))
      wire.append(contentsOf: label)
    }
    wire.append(0)
    guard wire.count <= Self.maximumLength else { return nil }
    self.wire = wire
  }

  /// How many labels, the root's not counted ("www.example." has 2).
  public var labelCount: Int {
    var count = 0
    var offset = 0
    while wire[offset] != 0 {
      count += 1
      offset += Int(wire[offset]) + 1
    }
    return count
  }

  /// The labels, from the leftmost.
  public var labels: [[UInt8]] {
    var labels: [[UInt8]] = []
    var offset = 0
    while wire[offset] != 0 {
      let length = Int(wire[offset])
      labels.append(Array(wire[(offset + 1)..<(offset + 1 + length)]))
      offset += length + 1
    }
    return labels
  }

  public var isRoot: Bool { wire.count == 1 }

  /// The name without its leftmost label (the root's parent is nil).
  public var parent: DNSName? {
    guard !isRoot else { return nil }
    return DNSName(trustedWire: Array(wire[(Int(wire[0]) + 1)...]))
  }

  /// The name without its `count` leftmost labels (at most `labelCount`).
  public func dropping(labels count: Int) -> DNSName {
    var offset = 0
    for _ in 0..<count where wire[offset] != 0 { offset += Int(wire[offset]) + 1 }
    return DNSName(trustedWire: Array(wire[offset...]))
  }

  /// `label` then this name; nil if the result would be too long or the label is not 1-63 bytes.
  public func prepending(_ label: [UInt8]) -> DNSName? {
    guard !label.isEmpty, label.count <= Self.maximumLabelLength, wire.count + label.count + 1 <= Self.maximumLength else { return nil }
    return DNSName(trustedWire: [UInt8(label.count)] + label + wire)
  }

  /// This name's labels then `suffix`'s ("www" + "example." = "www.example."); nil if too long.
  public func appending(_ suffix: DNSName) -> DNSName? {
    guard wire.count - 1 + suffix.wire.count <= Self.maximumLength else { return nil }
    return DNSName(trustedWire: Array(wire.dropLast()) + suffix.wire)
  }

  /// Whether this name is `other` or lies below it ("www.example." is below "example.", and
  /// every name is below the root).
  public func isSubdomain(of other: DNSName) -> Bool {
    let extra = labelCount - other.labelCount
    return extra >= 0 && dropping(labels: extra) == other
  }

  /// The leftmost label is "*" (RFC 4592).
  public var isWildcard: Bool { wire.count >= 3 && wire[0] == 1 && wire[1] == UInt8(ascii: "*") }
}

// MARK: - Equality without case

extension DNSName: Hashable {
  /// Length bytes are below 64, never ASCII letters: comparing the whole wire form without
  /// case compares the labels without case.
  public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
    guard lhs.wire.count == rhs.wire.count else { return false }
    for index in 0..<lhs.wire.count where asciiLowercase(lhs.wire[index]) != asciiLowercase(rhs.wire[index]) { return false }
    return true
  }

  /// One word for the hasher (feeding it every byte was a tenth of a query's time).
  public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }

  /// A 64-bit FNV-1a of the wire form without ASCII case: equal names, equal fingerprints.
  public var fingerprint: UInt64 {
    wire.withUnsafeBufferPointer { bytes in
      var hash: UInt64 = 0xcbf2_9ce4_8422_2325
      for byte in bytes { hash = (hash ^ UInt64(asciiLowercase(byte))) &* 0x100_0000_01b3 }
      return hash
    }
  }

  /// RFC 4034 6.1's canonical order: by labels from the rightmost, each compared as
  /// lower-case bytes, a name before the names below it.
  public static func canonicallyPrecedes(_ lhs: DNSName, _ rhs: DNSName) -> Bool {
    let left = lhs.labels, right = rhs.labels
    var (i, j) = (left.count - 1, right.count - 1)
    while i >= 0, j >= 0 {
      let a = left[i].map(asciiLowercase), b = right[j].map(asciiLowercase)
      if a != b { return a.lexicographicallyPrecedes(b) }
      i -= 1
      j -= 1
    }
    return left.count < right.count
  }
}

// MARK: - The wire form

extension DNSName {
  /// Reads the name at `offset` in `message`, following compression pointers, and moves
  /// `offset` past it (past the first pointer, if any). A pointer must point before the
  /// labels that lead to it, which makes loops impossible; one past the message, a label
  /// type other than 00 and 11, a label past the message or a name longer than 255 bytes is
  /// refused.
  public static func parse(_ message: UnsafeRawBufferPointer, at offset: inout Int) throws(DNSError) -> DNSName {
    var wire: [UInt8] = []
    var position = offset
    var limit = position  // a pointer must point below this
    var jumped = false
    while true {
      guard position < message.count else { throw .truncated }
      let length = message[position]
      switch length & 0xc0 {
      case 0x00:
        if length == 0 {
          wire.append(0)
          if !jumped { offset = position + 1 }
          guard wire.count <= maximumLength else { throw .nameTooLong }
          return DNSName(trustedWire: wire)
        }
        let end = position + 1 + Int(length)
        guard end <= message.count else { throw .truncated }
        guard wire.count + Int(length) + 2 <= maximumLength else { throw .nameTooLong }
        wire.append(length)
        wire.append(contentsOf: message[(position + 1)..<end])
        position = end
      case 0xc0:
        guard position + 2 <= message.count else { throw .truncated }
        let target = Int(message.readUInt16(at: position) & 0x3fff)
        guard target < limit else { throw .badPointer }
        if !jumped { offset = position + 2 }
        jumped = true
        limit = target
        position = target
      default:
        throw .badLabelType
      }
    }
  }
}

// MARK: - Presentation format

extension DNSName {
  /// Why a name's text was refused.
  public enum TextError: Error, Equatable, Sendable {
    case empty
    case emptyLabel
    case labelTooLong
    case nameTooLong
    case badEscape
  }

  /// The name `text` writes in the presentation format: labels separated by dots, `\X` for a
  /// character X taken literally, `\DDD` for a byte in decimal. A name ending with a dot is
  /// absolute; any other is relative and gets `origin` appended (the root if nil). "." alone
  /// is the root.
  public init<Bytes: Collection>(text: Bytes, origin: DNSName? = nil) throws(TextError) where Bytes.Element == UInt8 {
    let bytes = Array(text)
    guard !bytes.isEmpty else { throw .empty }
    if bytes == [UInt8(ascii: ".")] {
      self = .root
      return
    }
    var wire: [UInt8] = []
    var label: [UInt8] = []
    var index = 0
    var absolute = false
    func close() throws(TextError) {
      guard !label.isEmpty else { throw .emptyLabel }
      guard label.count <= Self.maximumLabelLength else { throw .labelTooLong }
      wire.append(UInt8(label.count))
      wire.append(contentsOf: label)
      label.removeAll()
    }
    while index < bytes.count {
      let byte = bytes[index]
      index += 1
      if byte == UInt8(ascii: ".") {
        try close()
        if index == bytes.count { absolute = true }
        continue
      }
      guard byte == UInt8(ascii: "\\") else {
        label.append(byte)
        continue
      }
      guard index < bytes.count else { throw .badEscape }
      if bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
        guard index + 3 <= bytes.count, let value = asciiDecimal(bytes[index..<(index + 3)], maximumDigits: 3), value <= 255 else {
          throw .badEscape
        }
        label.append(UInt8(value))
        index += 3
      } else {
        label.append(bytes[index])
        index += 1
      }
    }
    if !absolute { try close() }
    let suffix = absolute ? DNSName.root : origin ?? .root
    wire.append(contentsOf: suffix.wire)
    guard wire.count <= Self.maximumLength else { throw .nameTooLong }
    self.wire = wire
  }

  /// `init(text:origin:)` for a String.
  public init(_ text: String, origin: DNSName? = nil) throws(TextError) {
    try self.init(text: Array(text.utf8), origin: origin)
  }
}

extension DNSName: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// The absolute presentation form ("www.example.", "." for the root), with `\.`, `\\` and
  /// the characters special in master files escaped, and bytes outside printable ASCII as
  /// `\DDD`.
  public func write(to text: inout Text) {
    guard !isRoot else {
      text.append(byte: UInt8(ascii: "."))
      return
    }
    for label in labels {
      for byte in label {
        switch byte {
        case UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "("), UInt8(ascii: ")"),
          UInt8(ascii: ";"), UInt8(ascii: "@"), UInt8(ascii: "$"):
          text.append(byte: UInt8(ascii: "\\"))
          text.append(byte: byte)
        case 0x21...0x7e:
          text.append(byte: byte)
        default:
          text.append(byte: UInt8(ascii: "\\"))
          text.append(decimal: UInt64(byte), width: 3)
        }
      }
      text.append(byte: UInt8(ascii: "."))
    }
  }
}
