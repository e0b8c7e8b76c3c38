// The open number spaces of DNS messages: record types, classes, opcodes, response codes
// (IANA's "Domain Name System (DNS) Parameters"), with their mnemonics for text, and the
// error every parser here throws.

import SiroccoWire

/// A record type (RR TYPE, 16 bits); also the query types (QTYPE: AXFR, ANY).
public struct RecordType: RawRepresentable, Hashable, Sendable, Comparable {
  public var rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }
  public static func < (lhs: RecordType, rhs: RecordType) -> Bool { lhs.rawValue < rhs.rawValue }

  public static let a = RecordType(rawValue: 1)
  public static let ns = RecordType(rawValue: 2)
  public static let cname = RecordType(rawValue: 5)
  public static let soa = RecordType(rawValue: 6)
  public static let ptr = RecordType(rawValue: 12)
  public static let hinfo = RecordType(rawValue: 13)
  public static let mx = RecordType(rawValue: 15)
  public static let txt = RecordType(rawValue: 16)
  public static let aaaa = RecordType(rawValue: 28)
  public static let srv = RecordType(rawValue: 33)
  public static let dname = RecordType(rawValue: 39)
  public static let opt = RecordType(rawValue: 41)
  public static let ds = RecordType(rawValue: 43)
  public static let rrsig = RecordType(rawValue: 46)
  public static let nsec = RecordType(rawValue: 47)
  public static let dnskey = RecordType(rawValue: 48)
  public static let svcb = RecordType(rawValue: 64)
  public static let https = RecordType(rawValue: 65)
  public static let ixfr = RecordType(rawValue: 251)
  public static let axfr = RecordType(rawValue: 252)
  public static let any = RecordType(rawValue: 255)
  public static let caa = RecordType(rawValue: 257)

  static let mnemonics: [(RecordType, StaticString)] = [
    (.a, "A"), (.ns, "NS"), (.cname, "CNAME"), (.soa, "SOA"), (.ptr, "PTR"), (.hinfo, "HINFO"), (.mx, "MX"),
    (.txt, "TXT"), (.aaaa, "AAAA"), (.srv, "SRV"), (.dname, "DNAME"), (.opt, "OPT"), (.ds, "DS"), (.rrsig, "RRSIG"),
    (.nsec, "NSEC"), (.dnskey, "DNSKEY"), (.svcb, "SVCB"), (.https, "HTTPS"), (.ixfr, "IXFR"), (.axfr, "AXFR"),
    (.any, "ANY"), (.caa, "CAA"),
  ]

  /// A mnemonic ("AAAA", any case) or RFC 3597's generic "TYPE123"; nil otherwise.
  public init?<Bytes: Collection>(text: Bytes) where Bytes.Element == UInt8 {
    let upper = text.map(asciiUppercase)
    for (type, name) in Self.mnemonics where name.withUTF8Buffer({ upper.elementsEqual($0) }) {
      self = type
      return
    }
    guard upper.count > 4, upper.starts(with: Array("TYPE".utf8)), let value = asciiDecimal(upper.dropFirst(4), maximumDigits: 5),
      value <= 0xffff
    else { return nil }
    self.init(rawValue: UInt16(value))
  }
}

extension RecordType: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// The mnemonic, or "TYPE" and the number (RFC 3597 5).
  public func write(to text: inout Text) {
    for (type, name) in Self.mnemonics where type == self {
      text.append(literal: name)
      return
    }
    text.append(literal: "TYPE")
    text.append(decimal: UInt64(rawValue))
  }
}

/// A record class (16 bits); IN is the one served.
public struct RecordClass: RawRepresentable, Hashable, Sendable {
  public var rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }

  public static let internet = RecordClass(rawValue: 1)
  public static let chaos = RecordClass(rawValue: 3)
  public static let none = RecordClass(rawValue: 254)
  public static let any = RecordClass(rawValue: 255)
}

extension RecordClass {
  /// "IN", "CH" (or "CHAOS"), "HS", any case, or RFC 3597's generic "CLASS123"; nil otherwise.
  public init?<Bytes: Collection>(text: Bytes) where Bytes.Element == UInt8 {
    let upper = text.map(asciiUppercase)
    switch upper {
    case Array("IN".utf8): self = .internet
    case Array("CH".utf8), Array("CHAOS".utf8): self = .chaos
    case Array("HS".utf8): self.init(rawValue: 4)
    default:
      guard upper.count > 5, upper.starts(with: Array("CLASS".utf8)), let value = asciiDecimal(upper.dropFirst(5), maximumDigits: 5),
        value <= 0xffff
      else { return nil }
      self.init(rawValue: UInt16(value))
    }
  }
}

extension RecordClass: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// "IN", "CH", "NONE", "ANY", or "CLASS" and the number (RFC 3597 5).
  public func write(to text: inout Text) {
    switch self {
    case .internet: text.append(literal: "IN")
    case .chaos: text.append(literal: "CH")
    case .none: text.append(literal: "NONE")
    case .any: text.append(literal: "ANY")
    default:
      text.append(literal: "CLASS")
      text.append(decimal: UInt64(rawValue))
    }
  }
}

/// A message's kind of query (4 bits).
public struct Opcode: RawRepresentable, Hashable, Sendable {
  public var rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue & 15 }

  public static let query = Opcode(rawValue: 0)
  public static let status = Opcode(rawValue: 2)
  public static let notify = Opcode(rawValue: 4)
  public static let update = Opcode(rawValue: 5)
}

/// A response code: 4 bits in the header, 12 with EDNS's extension (RFC 6891 6.1.3).
public struct ResponseCode: RawRepresentable, Hashable, Sendable {
  public var rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue & 0xfff }

  public static let noError = ResponseCode(rawValue: 0)
  public static let formatError = ResponseCode(rawValue: 1)
  public static let serverFailure = ResponseCode(rawValue: 2)
  public static let nameError = ResponseCode(rawValue: 3)
  public static let notImplemented = ResponseCode(rawValue: 4)
  public static let refused = ResponseCode(rawValue: 5)
  public static let notAuthoritative = ResponseCode(rawValue: 9)
  public static let notZone = ResponseCode(rawValue: 10)
  public static let badVersion = ResponseCode(rawValue: 16)
}

extension ResponseCode: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// dig's names: NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, NOTAUTH, NOTZONE,
  /// BADVERS; else RCODE and the number.
  public func write(to text: inout Text) {
    let name: StaticString? =
      switch self {
      case .noError: "NOERROR"
      case .formatError: "FORMERR"
      case .serverFailure: "SERVFAIL"
      case .nameError: "NXDOMAIN"
      case .notImplemented: "NOTIMP"
      case .refused: "REFUSED"
      case .notAuthoritative: "NOTAUTH"
      case .notZone: "NOTZONE"
      case .badVersion: "BADVERS"
      default: nil
      }
    if let name {
      text.append(literal: name)
    } else {
      text.append(literal: "RCODE")
      text.append(decimal: UInt64(rawValue))
    }
  }
}

/// Why a message was refused. A server answers FORMERR to any of these it can answer at all.
public enum DNSError: Error, Equatable, Sendable {
  /// The message ends inside a header, a name, a record or its data.
  case truncated
  /// A compression pointer past the message, or not before the name that leads to it.
  case badPointer
  /// A label type other than 00 (a length) and 11 (a pointer).
  case badLabelType
  /// A name longer than 255 bytes.
  case nameTooLong
  /// A record's data does not hold what its type says, or is longer or shorter than its length.
  case badRecordData(RecordType)
  /// More than one OPT record, or one not at the root or outside the additional section.
  case badOPT
  /// Bytes after the last record the header counts.
  case trailingBytes
}

extension DNSError: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    switch self {
    case .truncated: text.append(literal: "truncated")
    case .badPointer: text.append(literal: "compression pointer outside the message or not backwards")
    case .badLabelType: text.append(literal: "unknown label type")
    case .nameTooLong: text.append(literal: "name longer than 255 bytes")
    case .badRecordData(let type):
      text.append(literal: "malformed ")
      type.write(to: &text)
      text.append(literal: " record data")
    case .badOPT: text.append(literal: "misplaced or repeated OPT record")
    case .trailingBytes: text.append(literal: "bytes after the last record")
    }
  }
}
