// Zone files: RFC 1035's master format as NSD and BIND read it. `$ORIGIN`, `$TTL`, relative
// names and `@`, an owner left blank for the previous one, TTL and class in either order,
// parentheses across lines, `;` comments, quoted strings, `\X` and `\DDD` escapes, TTL units
// (`1h30m`), RFC 3597's `\# LENGTH HEX` for any type; each error names the file, the line and
// what was expected.
//
// Read first: RFC 1035 5.1 (the format) and 5.2 (`$ORIGIN`, `$INCLUDE`); RFC 2308 4 (`$TTL`);
// RFC 3597 5 (unknown types and classes); the records' own RFCs for their text forms (RFC 3596,
// RFC 2782, RFC 8659). A TTL left out is `$TTL`'s, else the last one given, else the SOA's
// minimum (the SOA's own too, as BIND does), else 3600 (NSD's default). Only class IN is read. Not read: `$INCLUDE` (a zone is
// one file here) and BIND's `$GENERATE`: both are refused with their line.

import SiroccoWire

/// Why a zone file was refused: where, and what was expected.
public struct ZoneFileError: Error, Equatable, Sendable {
  public var file: String
  public var line: Int
  public var message: String

  public init(file: String, line: Int, message: String) {
    self.file = file
    self.line = line
    self.message = message
  }
}

extension ZoneFileError: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// "FILE:LINE: MESSAGE", as compilers say it.
  public func write(to text: inout Text) {
    text.append(file)
    text.append(byte: UInt8(ascii: ":"))
    text.append(decimal: line)
    text.append(literal: ": ")
    text.append(message)
  }
}

public enum ZoneFile {
  /// The records of the zone file `text` (named `file` in errors), names relative to
  /// `origin` until a `$ORIGIN` says otherwise.
  public static func parse(_ text: [UInt8], origin: DNSName, file: String) throws(ZoneFileError) -> [ResourceRecord] {
    var reader = ZoneReader(text: text, origin: origin, file: file)
    return try reader.records()
  }

  /// A TTL: seconds, or numbers each followed by a unit (`s`, `m`, `h`, `d`, `w`, either
  /// case: "1h30m"), at most 2^31 - 1 (RFC 2181 8); nil otherwise.
  public static func ttl<Bytes: Collection>(_ bytes: Bytes) -> UInt32? where Bytes.Element == UInt8 {
    guard !bytes.isEmpty else { return nil }
    var total: UInt64 = 0
    var number: UInt64 = 0
    var digits = 0
    for byte in bytes {
      if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
        number = number * 10 + UInt64(byte - UInt8(ascii: "0"))
        digits += 1
        guard digits <= 10 else { return nil }
        continue
      }
      let scale: UInt64
      switch asciiLowercase(byte) {
      case UInt8(ascii: "s"): scale = 1
      case UInt8(ascii: "m"): scale = 60
      case UInt8(ascii: "h"): scale = 3600
      case UInt8(ascii: "d"): scale = 86400
      case UInt8(ascii: "w"): scale = 604800
      default: return nil
      }
      guard digits > 0 else { return nil }
      total += number * scale
      number = 0
      digits = 0
      guard total <= 0x7fff_ffff else { return nil }
    }
    total += number  // seconds after the last unit ("1h30"), or plain seconds
    guard total <= 0x7fff_ffff else { return nil }
    return UInt32(total)
  }
}

/// One token of a zone file: its bytes as written (escapes kept), and whether it was quoted.
struct ZoneToken {
  var bytes: [UInt8]
  var quoted: Bool
}

/// Reads entries (a logical line: tokens up to a newline outside parentheses) and turns them
/// into records.
struct ZoneReader {
  let text: [UInt8]
  let file: String
  var origin: DNSName
  var position = 0
  var line = 1
  var defaultTTL: UInt32? = nil
  var lastTTL: UInt32? = nil
  var soaMinimum: UInt32? = nil
  var previousOwner: DNSName? = nil

  init(text: [UInt8], origin: DNSName, file: String) {
    self.text = text
    self.origin = origin
    self.file = file
  }

  func error(_ message: String, line: Int? = nil) -> ZoneFileError {
    ZoneFileError(file: file, line: line ?? self.line, message: message)
  }

  static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") }

  /// The next entry: the line it starts on, whether it starts with a blank (the previous
  /// owner), and its tokens; nil at the end. Empty and comment-only lines are skipped.
  mutating func entry() throws(ZoneFileError) -> (line: Int, blankOwner: Bool, tokens: [ZoneToken])? {
    while position < text.count {
      let start = line
      let blankOwner = Self.isBlank(text[position])
      var tokens: [ZoneToken] = []
      var depth = 0
      var opened = line
      scan: while position < text.count {
        let byte = text[position]
        switch byte {
        case UInt8(ascii: "\n"):
          position += 1
          line += 1
          if depth == 0 { break scan }
        case UInt8(ascii: ";"):
          while position < text.count, text[position] != UInt8(ascii: "\n") { position += 1 }
        case UInt8(ascii: "("):
          if depth == 0 { opened = line }
          depth += 1
          position += 1
        case UInt8(ascii: ")"):
          guard depth > 0 else { throw error("')' without '('") }
          depth -= 1
          position += 1
        case UInt8(ascii: "\""):
          position += 1
          var bytes: [UInt8] = []
          while true {
            guard position < text.count else { throw error("a quoted string not closed before the end of the file", line: start) }
            let character = text[position]
            if character == UInt8(ascii: "\"") { break }
            if character == UInt8(ascii: "\n") { line += 1 }
            bytes.append(character)
            position += 1
            if character == UInt8(ascii: "\\"), position < text.count {
              bytes.append(text[position])
              position += 1
            }
          }
          position += 1
          tokens.append(ZoneToken(bytes: bytes, quoted: true))
        default:
          if Self.isBlank(byte) {
            position += 1
            continue
          }
          var bytes: [UInt8] = []
          while position < text.count {
            let character = text[position]
            if Self.isBlank(character) || character == UInt8(ascii: "\n") || character == UInt8(ascii: ";")
              || character == UInt8(ascii: "(") || character == UInt8(ascii: ")") || character == UInt8(ascii: "\"")
            {
              break
            }
            bytes.append(character)
            position += 1
            if character == UInt8(ascii: "\\"), position < text.count {
              bytes.append(text[position])
              position += 1
            }
          }
          tokens.append(ZoneToken(bytes: bytes, quoted: false))
        }
      }
      guard depth == 0 else { throw error("'(' not closed before the end of the file", line: opened) }
      if !tokens.isEmpty { return (start, blankOwner, tokens) }
    }
    return nil
  }

  mutating func records() throws(ZoneFileError) -> [ResourceRecord] {
    var records: [ResourceRecord] = []
    while let (entryLine, blankOwner, tokens) = try entry() {
      if let directive = tokens.first, !blankOwner, directive.bytes.first == UInt8(ascii: "$") {
        try self.directive(tokens, line: entryLine)
        continue
      }
      records.append(try record(tokens, blankOwner: blankOwner, line: entryLine))
    }
    return records
  }

  mutating func directive(_ tokens: [ZoneToken], line: Int) throws(ZoneFileError) {
    let name = tokens[0].bytes.map(asciiUppercase)
    if name == Array("$ORIGIN".utf8) {
      guard tokens.count == 2 else { throw error("expected $ORIGIN NAME", line: line) }
      origin = try self.name(tokens[1], line: line)
    } else if name == Array("$TTL".utf8) {
      guard tokens.count == 2, let ttl = ZoneFile.ttl(tokens[1].bytes) else {
        throw error("expected $TTL and a TTL (seconds, or units as in 1h30m, at most 2147483647)", line: line)
      }
      defaultTTL = ttl
    } else if name == Array("$INCLUDE".utf8) {
      throw error("$INCLUDE is not supported: put the zone in one file", line: line)
    } else {
      throw error("unknown directive '\(String(decoding: tokens[0].bytes, as: UTF8.self))' (expected $ORIGIN or $TTL)", line: line)
    }
  }

  func name(_ token: ZoneToken, line: Int) throws(ZoneFileError) -> DNSName {
    if token.bytes == [UInt8(ascii: "@")] { return origin }
    do {
      return try DNSName(text: token.bytes, origin: origin)
    } catch {
      let what: String =
        switch error {
        case .empty: "an empty name"
        case .emptyLabel: "an empty label"
        case .labelTooLong: "a label longer than 63 bytes"
        case .nameTooLong: "a name longer than 255 bytes"
        case .badEscape: "a bad escape (expected \\X or \\DDD with DDD at most 255)"
        }
      throw self.error("'\(String(decoding: token.bytes, as: UTF8.self))': \(what)", line: line)
    }
  }

  mutating func record(_ tokens: [ZoneToken], blankOwner: Bool, line: Int) throws(ZoneFileError) -> ResourceRecord {
    var index = 0
    let owner: DNSName
    if blankOwner {
      guard let previousOwner else { throw error("a record without an owner name, and none before it", line: line) }
      owner = previousOwner
    } else {
      owner = try name(tokens[0], line: line)
      index = 1
    }
    var ttl: UInt32? = nil
    var sawClass = false
    var type: RecordType? = nil
    while index < tokens.count, type == nil {
      let token = tokens[index]
      index += 1
      if ttl == nil, let value = ZoneFile.ttl(token.bytes) {
        ttl = value
      } else if !sawClass, let recordClass = RecordClass(text: token.bytes) {
        guard recordClass == .internet else { throw error("class \(recordClass): only IN is served", line: line) }
        sawClass = true
      } else if let recordType = RecordType(text: token.bytes) {
        type = recordType
      } else {
        throw error("expected a TTL, a class or a type, found '\(String(decoding: token.bytes, as: UTF8.self))'", line: line)
      }
    }
    guard let type else { throw error("a record without a type", line: line) }
    guard type != .opt, type != .any, type != .axfr, type != .ixfr else { throw error("\(type) is not a record type for a zone", line: line) }
    let data = try self.data(type, Array(tokens[index...]), line: line)
    if let ttl { lastTTL = ttl }
    if case .soa(let soa) = data { soaMinimum = soa.minimum }
    let effective = ttl ?? defaultTTL ?? lastTTL ?? soaMinimum ?? 3600
    previousOwner = owner
    return ResourceRecord(name: owner, type: type, ttl: effective, data: data)
  }

  // MARK: record data

  func data(_ type: RecordType, _ tokens: [ZoneToken], line: Int) throws(ZoneFileError) -> RecordData {
    if let first = tokens.first, !first.quoted, first.bytes == Array("\\#".utf8) { return try generic(type, tokens, line: line) }
    func count(_ wanted: Int, _ form: String) throws(ZoneFileError) {
      guard tokens.count == wanted else { throw error("\(type) expects \(form)", line: line) }
    }
    func number(_ token: ZoneToken, maximum: UInt64, _ what: String) throws(ZoneFileError) -> UInt64 {
      guard !token.quoted, let value = asciiDecimal(token.bytes, maximumDigits: 10), UInt64(value) <= maximum else {
        throw error("\(type): expected \(what) (0 to \(maximum)), found '\(String(decoding: token.bytes, as: UTF8.self))'", line: line)
      }
      return UInt64(value)
    }
    switch type {
    case .a:
      try count(1, "an IPv4 address")
      guard let address = IPv4Address(utf8: tokens[0].bytes) else { throw error("A: expected an IPv4 address such as 192.0.2.1", line: line) }
      return .a(address)
    case .aaaa:
      try count(1, "an IPv6 address")
      guard let address = IPv6Address(utf8: tokens[0].bytes) else { throw error("AAAA: expected an IPv6 address such as 2001:db8::1", line: line) }
      return .aaaa(address)
    case .ns:
      try count(1, "a name")
      return .ns(try name(tokens[0], line: line))
    case .cname:
      try count(1, "a name")
      return .cname(try name(tokens[0], line: line))
    case .ptr:
      try count(1, "a name")
      return .ptr(try name(tokens[0], line: line))
    case .dname:
      try count(1, "a name")
      return .dname(try name(tokens[0], line: line))
    case .soa:
      try count(7, "PRIMARY RESPONSIBLE SERIAL REFRESH RETRY EXPIRE MINIMUM")
      var times: [UInt32] = []
      for token in tokens[3...] {
        guard let value = ZoneFile.ttl(token.bytes) else {
          throw error("SOA: expected a time (seconds, or units as in 1h30m), found '\(String(decoding: token.bytes, as: UTF8.self))'", line: line)
        }
        times.append(value)
      }
      return .soa(
        SOAData(
          primaryServer: try name(tokens[0], line: line), responsible: try name(tokens[1], line: line),
          serial: UInt32(try number(tokens[2], maximum: 0xffff_ffff, "a serial")), refresh: times[0], retry: times[1],
          expire: times[2], minimum: times[3]))
    case .mx:
      try count(2, "PREFERENCE NAME")
      return .mx(preference: UInt16(try number(tokens[0], maximum: 0xffff, "a preference")), exchange: try name(tokens[1], line: line))
    case .txt:
      guard !tokens.isEmpty else { throw error("TXT expects one or more strings", line: line) }
      var strings: [[UInt8]] = []
      for token in tokens { strings.append(try characterString(token, line: line)) }
      return .txt(strings)
    case .srv:
      try count(4, "PRIORITY WEIGHT PORT TARGET")
      return .srv(
        SRVData(
          priority: UInt16(try number(tokens[0], maximum: 0xffff, "a priority")),
          weight: UInt16(try number(tokens[1], maximum: 0xffff, "a weight")),
          port: UInt16(try number(tokens[2], maximum: 0xffff, "a port")), target: try name(tokens[3], line: line)))
    case .caa:
      try count(3, "FLAGS TAG VALUE")
      let tag = tokens[1].bytes
      guard !tag.isEmpty, tag.count <= 255, tag.allSatisfy({ isAlphanumeric($0) }) else {
        throw error("CAA: expected a tag of letters and digits (issue, issuewild, iodef)", line: line)
      }
      return .caa(flags: UInt8(try number(tokens[0], maximum: 255, "flags")), tag: tag, value: try characterString(tokens[2], line: line, limit: 65535))
    default:
      throw error("\(type): expected its data in RFC 3597's generic form, \\# LENGTH HEX", line: line)
    }
  }

  /// A character-string: the token's bytes with `\X` and `\DDD` undone, at most `limit` bytes.
  func characterString(_ token: ZoneToken, line: Int, limit: Int = 255) throws(ZoneFileError) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = 0
    let raw = token.bytes
    while index < raw.count {
      let byte = raw[index]
      index += 1
      guard byte == UInt8(ascii: "\\") else {
        bytes.append(byte)
        continue
      }
      guard index < raw.count else { throw error("a string ends with a lone '\\'", line: line) }
      if raw[index] >= UInt8(ascii: "0"), raw[index] <= UInt8(ascii: "9") {
        guard index + 3 <= raw.count, let value = asciiDecimal(raw[index..<(index + 3)], maximumDigits: 3), value <= 255 else {
          throw error("a bad escape in a string (expected \\X or \\DDD with DDD at most 255)", line: line)
        }
        bytes.append(UInt8(value))
        index += 3
      } else {
        bytes.append(raw[index])
        index += 1
      }
    }
    guard bytes.count <= limit else { throw error("a string of \(bytes.count) bytes (at most \(limit))", line: line) }
    return bytes
  }

  /// RFC 3597's `\# LENGTH HEX...`; a modelled type's data is then read as that type.
  func generic(_ type: RecordType, _ tokens: [ZoneToken], line: Int) throws(ZoneFileError) -> RecordData {
    guard tokens.count >= 2, let length = asciiDecimal(tokens[1].bytes, maximumDigits: 5), length <= 65535 else {
      throw error("expected \\# LENGTH HEX (LENGTH at most 65535)", line: line)
    }
    var bytes: [UInt8] = []
    for token in tokens[2...] {
      guard token.bytes.count % 2 == 0 else { throw error("\\#: hex digits come in pairs", line: line) }
      var index = 0
      while index < token.bytes.count {
        guard let high = asciiHexDigit(token.bytes[index]), let low = asciiHexDigit(token.bytes[index + 1]) else {
          throw error("\\#: expected hex digits, found '\(String(decoding: token.bytes, as: UTF8.self))'", line: line)
        }
        bytes.append(high << 4 | low)
        index += 2
      }
    }
    guard bytes.count == length else { throw error("\\#: \(length) bytes announced, \(bytes.count) given", line: line) }
    // Read as a message of just this data (names in it cannot be pointers): a modelled type's
    // as that type, any other's kept as bytes.
    var result: Result<RecordData, DNSError> = .failure(.truncated)
    bytes.withUnsafeBytes { buffer in
      result = Result { () throws(DNSError) in try RecordData.parse(buffer, at: 0, length: buffer.count, type: type) }
    }
    switch result {
    case .success(let data): return data
    case .failure(let problem): throw error("\\#: not valid \(type) data: \(problem)", line: line)
    }
  }
}

@inline(__always)
func isAlphanumeric(_ byte: UInt8) -> Bool {
  (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
}
