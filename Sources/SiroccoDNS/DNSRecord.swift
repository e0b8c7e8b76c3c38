// Resource records and their data: the common types modelled (A, AAAA, NS, CNAME, PTR,
// DNAME, SOA, MX, TXT, SRV, CAA), any other kept as its bytes (RFC 3597), read from and
// written to messages, and written in the presentation format.
//
// Read first: RFC 1035 3.2.1 and 3.3 (the record and the original types), 4.1.3; RFC 3596
// (AAAA); RFC 2782 (SRV: its target is never compressed); RFC 6672 (DNAME: nor is its
// target); RFC 8659 (CAA); RFC 3597 (unknown types: opaque data, `\# LENGTH HEX`, and names in
// the data of types later than RFC 1035's are never compressed).

import SiroccoWire

/// One resource record.
public struct ResourceRecord: Hashable, Sendable {
  public var name: DNSName
  public var type: RecordType
  public var recordClass: RecordClass
  public var ttl: UInt32
  public var data: RecordData

  public init(name: DNSName, type: RecordType, recordClass: RecordClass = .internet, ttl: UInt32, data: RecordData) {
    self.name = name
    self.type = type
    self.recordClass = recordClass
    self.ttl = ttl
    self.data = data
  }

  /// A record of one of the modelled types, its type taken from `data`.
  public init(name: DNSName, ttl: UInt32, data: RecordData) {
    self.init(name: name, type: data.type ?? .any, ttl: ttl, data: data)
  }
}

/// SOA data (RFC 1035 3.3.13).
public struct SOAData: Hashable, Sendable {
  public var primaryServer: DNSName
  public var responsible: DNSName
  public var serial: UInt32
  public var refresh: UInt32
  public var retry: UInt32
  public var expire: UInt32
  /// The TTL of negative answers (RFC 2308 4: the smaller of it and the SOA's own TTL).
  public var minimum: UInt32

  public init(
    primaryServer: DNSName, responsible: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
    minimum: UInt32
  ) {
    self.primaryServer = primaryServer
    self.responsible = responsible
    self.serial = serial
    self.refresh = refresh
    self.retry = retry
    self.expire = expire
    self.minimum = minimum
  }
}

/// SRV data (RFC 2782).
public struct SRVData: Hashable, Sendable {
  public var priority: UInt16
  public var weight: UInt16
  public var port: UInt16
  public var target: DNSName

  public init(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName) {
    self.priority = priority
    self.weight = weight
    self.port = port
    self.target = target
  }
}

/// A record's data.
public enum RecordData: Hashable, Sendable {
  case a(IPv4Address)
  case aaaa(IPv6Address)
  case ns(DNSName)
  case cname(DNSName)
  case ptr(DNSName)
  case dname(DNSName)
  case soa(SOAData)
  case mx(preference: UInt16, exchange: DNSName)
  /// One or more character-strings of at most 255 bytes each.
  case txt([[UInt8]])
  case srv(SRVData)
  case caa(flags: UInt8, tag: [UInt8], value: [UInt8])
  /// Any other type's data (or a modelled type's, when made by hand), as bytes.
  case opaque([UInt8])

  /// The type this data is for; nil for opaque data (the record says).
  public var type: RecordType? {
    switch self {
    case .a: .a
    case .aaaa: .aaaa
    case .ns: .ns
    case .cname: .cname
    case .ptr: .ptr
    case .dname: .dname
    case .soa: .soa
    case .mx: .mx
    case .txt: .txt
    case .srv: .srv
    case .caa: .caa
    case .opaque: nil
    }
  }

  /// The names a resolver would look up next (additional-section processing, RFC 1035 3.3):
  /// NS's and MX's targets, SRV's.
  public var targetName: DNSName? {
    switch self {
    case .ns(let name), .mx(_, let name): name
    case .srv(let data): data.target
    default: nil
    }
  }
}

// MARK: - Reading

extension RecordData {
  /// The data of a `type` record at `offset` in `message`, `length` bytes long; names in it
  /// may point back into the message where RFC 1035 allowed it. The data must be exactly
  /// what the type says, filling `length`.
  public static func parse(
    _ message: UnsafeRawBufferPointer, at offset: Int, length: Int, type: RecordType
  ) throws(DNSError) -> RecordData {
    let end = offset + length
    guard end <= message.count else { throw .truncated }
    var position = offset
    func name(compressed: Bool = true) throws(DNSError) -> DNSName {
      let start = position
      let name = try DNSName.parse(message, at: &position)
      guard position <= end else { throw .badRecordData(type) }
      // A type whose names may not be compressed: the name must be whole where it stands.
      if !compressed, position - start != name.wire.count { throw .badRecordData(type) }
      return name
    }
    func need(_ count: Int) throws(DNSError) {
      guard position + count <= end else { throw .badRecordData(type) }
    }
    let data: RecordData
    switch type {
    case .a:
      try need(4)
      data = .a(IPv4Address(rawValue: message.readUInt32(at: position)))
      position += 4
    case .aaaa:
      try need(16)
      data = .aaaa(IPv6Address(bytes: message[position..<(position + 16)]))
      position += 16
    case .ns: data = .ns(try name())
    case .cname: data = .cname(try name())
    case .ptr: data = .ptr(try name())
    case .dname: data = .dname(try name(compressed: false))
    case .soa:
      let primary = try name(), responsible = try name()
      try need(20)
      data = .soa(
        SOAData(
          primaryServer: primary, responsible: responsible, serial: message.readUInt32(at: position),
          refresh: message.readUInt32(at: position + 4), retry: message.readUInt32(at: position + 8),
          expire: message.readUInt32(at: position + 12), minimum: message.readUInt32(at: position + 16)))
      position += 20
    case .mx:
      try need(2)
      let preference = message.readUInt16(at: position)
      position += 2
      data = .mx(preference: preference, exchange: try name())
    case .txt:
      var strings: [[UInt8]] = []
      repeat {
        try need(1)
        let count = Int(message[position])
        try need(1 + count)
        strings.append(Array(message[(position + 1)..<(position + 1 + count)]))
        position += 1 + count
      } while position < end
      data = .txt(strings)
    case .srv:
      try need(6)
      let (priority, weight, port) = (message.readUInt16(at: position), message.readUInt16(at: position + 2), message.readUInt16(at: position + 4))
      position += 6
      data = .srv(SRVData(priority: priority, weight: weight, port: port, target: try name(compressed: false)))
    case .caa:
      try need(2)
      let flags = message[position], tagLength = Int(message[position + 1])
      guard tagLength > 0 else { throw .badRecordData(type) }
      try need(2 + tagLength)
      let tag = Array(message[(position + 2)..<(position + 2 + tagLength)])
      data = .caa(flags: flags, tag: tag, value: Array(message[(position + 2 + tagLength)..<end]))
      position = end
    default:
      data = .opaque(Array(message[offset..<end]))
      position = end
    }
    guard position == end else { throw .badRecordData(type) }
    return data
  }
}

// MARK: - Writing

extension RecordData {
  /// Appends the data to `writer`'s message: names compressed where RFC 1035 allowed it (NS,
  /// CNAME, PTR, SOA, MX), whole elsewhere.
  func emit(into writer: inout DNSWriter) {
    switch self {
    case .a(let address): writer.append(uint32: address.rawValue)
    case .aaaa(let address):
      writer.append(uint32: UInt32(address.high >> 32))
      writer.append(uint32: UInt32(address.high & 0xffff_ffff))
      writer.append(uint32: UInt32(address.low >> 32))
      writer.append(uint32: UInt32(address.low & 0xffff_ffff))
    case .ns(let name), .cname(let name), .ptr(let name): writer.append(name: name, compress: true)
    case .dname(let name): writer.append(name: name, compress: false)
    case .soa(let soa):
      writer.append(name: soa.primaryServer, compress: true)
      writer.append(name: soa.responsible, compress: true)
      for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] { writer.append(uint32: value) }
    case .mx(let preference, let exchange):
      writer.append(uint16: preference)
      writer.append(name: exchange, compress: true)
    case .txt(let strings):
      for string in strings {
        let piece = string.prefix(255)
        writer.bytes.append(UInt8(piece.count))
        writer.bytes.append(contentsOf: piece)
      }
    case .srv(let srv):
      writer.append(uint16: srv.priority)
      writer.append(uint16: srv.weight)
      writer.append(uint16: srv.port)
      writer.append(name: srv.target, compress: false)
    case .caa(let flags, let tag, let value):
      writer.bytes.append(flags)
      writer.bytes.append(UInt8(min(tag.count, 255)))
      writer.bytes.append(contentsOf: tag.prefix(255))
      writer.bytes.append(contentsOf: value)
    case .opaque(let bytes): writer.bytes.append(contentsOf: bytes)
    }
  }
}

// MARK: - Presentation format

extension RecordData: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// As a master file writes it: "10.0.0.1", "10 mail.example.", `"v=spf1" "-all"`, `0 issue
  /// "ca.example"`, and opaque data as RFC 3597's `\# LENGTH HEX`.
  public func write(to text: inout Text) {
    switch self {
    case .a(let address): address.write(to: &text)
    case .aaaa(let address): address.write(to: &text)
    case .ns(let name), .cname(let name), .ptr(let name), .dname(let name): name.write(to: &text)
    case .soa(let soa):
      soa.primaryServer.write(to: &text)
      text.append(byte: UInt8(ascii: " "))
      soa.responsible.write(to: &text)
      for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
        text.append(byte: UInt8(ascii: " "))
        text.append(decimal: UInt64(value))
      }
    case .mx(let preference, let exchange):
      text.append(decimal: UInt64(preference))
      text.append(byte: UInt8(ascii: " "))
      exchange.write(to: &text)
    case .txt(let strings):
      for (index, string) in strings.enumerated() {
        if index > 0 { text.append(byte: UInt8(ascii: " ")) }
        Self.quoted(string, to: &text)
      }
    case .srv(let srv):
      for value in [srv.priority, srv.weight, srv.port] {
        text.append(decimal: UInt64(value))
        text.append(byte: UInt8(ascii: " "))
      }
      srv.target.write(to: &text)
    case .caa(let flags, let tag, let value):
      text.append(decimal: UInt64(flags))
      text.append(byte: UInt8(ascii: " "))
      text.bytes.append(contentsOf: tag)
      text.append(byte: UInt8(ascii: " "))
      Self.quoted(value, to: &text)
    case .opaque(let bytes):
      text.append(literal: "\\# ")
      text.append(decimal: UInt64(bytes.count))
      if !bytes.isEmpty { text.append(byte: UInt8(ascii: " ")) }
      for byte in bytes { text.append(hexByte: byte) }
    }
  }

  /// A character-string in double quotes: `"` and `\` escaped, bytes outside printable
  /// ASCII as `\DDD`.
  static func quoted(_ bytes: [UInt8], to text: inout Text) {
    text.append(byte: UInt8(ascii: "\""))
    for byte in bytes {
      switch byte {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"):
        text.append(byte: UInt8(ascii: "\\"))
        text.append(byte: byte)
      case 0x20...0x7e: text.append(byte: byte)
      default:
        text.append(byte: UInt8(ascii: "\\"))
        text.append(decimal: UInt64(byte), width: 3)
      }
    }
    text.append(byte: UInt8(ascii: "\""))
  }
}
