// DNS messages: the header, the questions, the three record sections and EDNS(0), read
// whole (every count, length and name checked against the message) and written with name
// compression, cut to the size the client can take.
//
// Read first: RFC 1035 4.1 (the message) and 4.1.4 (compression); RFC 6891 6 (the OPT record:
// the client's UDP size in its class, the extended response code, version and DO flag in its
// TTL, options in its data); RFC 2181 9 (TC: set only when the answer itself did not fit);
// RFC 6840 5.7 and RFC 4035 3.2.3 (AD, CD).

import SiroccoWire

/// The header's flags and codes (RFC 1035 4.1.1; AD and CD from RFC 4035).
public struct DNSFlags: Hashable, Sendable {
  public var isResponse = false
  public var opcode = Opcode.query
  public var authoritative = false
  public var truncated = false
  public var recursionDesired = false
  public var recursionAvailable = false
  public var authenticData = false
  public var checkingDisabled = false
  /// The header's 4 bits of the response code (EDNS holds the rest).
  public var responseCode: UInt8 = 0

  public init() {}

  init(rawValue: UInt16) {
    isResponse = rawValue & 0x8000 != 0
    opcode = Opcode(rawValue: UInt8(rawValue >> 11 & 15))
    authoritative = rawValue & 0x0400 != 0
    truncated = rawValue & 0x0200 != 0
    recursionDesired = rawValue & 0x0100 != 0
    recursionAvailable = rawValue & 0x0080 != 0
    authenticData = rawValue & 0x0020 != 0
    checkingDisabled = rawValue & 0x0010 != 0
    responseCode = UInt8(rawValue & 15)
  }

  var rawValue: UInt16 {
    var value = UInt16(opcode.rawValue) << 11 | UInt16(responseCode & 15)
    if isResponse { value |= 0x8000 }
    if authoritative { value |= 0x0400 }
    if truncated { value |= 0x0200 }
    if recursionDesired { value |= 0x0100 }
    if recursionAvailable { value |= 0x0080 }
    if authenticData { value |= 0x0020 }
    if checkingDisabled { value |= 0x0010 }
    return value
  }
}

/// A question: a name, the type wanted (or AXFR, ANY) and the class.
public struct DNSQuestion: Hashable, Sendable {
  public var name: DNSName
  public var type: RecordType
  public var recordClass: RecordClass

  public init(name: DNSName, type: RecordType, recordClass: RecordClass = .internet) {
    self.name = name
    self.type = type
    self.recordClass = recordClass
  }
}

/// EDNS(0): what the OPT pseudo-record carries (RFC 6891 6.1).
public struct EDNS: Hashable, Sendable {
  /// The largest UDP payload the sender can take; below 512 counts as 512 (6.2.3).
  public var udpPayloadSize: UInt16 = 1232
  /// The response code's upper 8 bits (the message holds the whole code: `DNSMessage.responseCode`).
  var extendedResponseCode: UInt8 = 0
  public var version: UInt8 = 0
  /// DNSSEC OK (RFC 3225).
  public var dnssecOK = false
  /// The options, each a code and its data, as they came.
  public var options: [EDNSOption] = []

  public init(udpPayloadSize: UInt16 = 1232, version: UInt8 = 0, dnssecOK: Bool = false, options: [EDNSOption] = []) {
    self.udpPayloadSize = udpPayloadSize
    self.version = version
    self.dnssecOK = dnssecOK
    self.options = options
  }
}

public struct EDNSOption: Hashable, Sendable {
  public var code: UInt16
  public var data: [UInt8]

  public init(code: UInt16, data: [UInt8]) {
    self.code = code
    self.data = data
  }
}

/// A whole message.
public struct DNSMessage: Hashable, Sendable {
  public var id: UInt16
  public var flags: DNSFlags
  public var questions: [DNSQuestion]
  public var answers: [ResourceRecord]
  public var authority: [ResourceRecord]
  /// The additional section without the OPT record (see `edns`).
  public var additional: [ResourceRecord]
  public var edns: EDNS?
  /// How `emit` cuts the message, not part of it: the authority section is advisory (a
  /// positive answer's NS records), left out without TC when it does not fit, as the
  /// additional section always is.
  public var authorityIsOptional = false
  /// The additional section holds a referral's glue: if none of it fits, TC is set.
  public var glueIsRequired = false

  public static let headerLength = 12
  /// What a client without EDNS can take over UDP (RFC 1035 4.2.1).
  public static let classicUDPSize = 512

  public init(
    id: UInt16, flags: DNSFlags = DNSFlags(), questions: [DNSQuestion] = [], answers: [ResourceRecord] = [],
    authority: [ResourceRecord] = [], additional: [ResourceRecord] = [], edns: EDNS? = nil
  ) {
    self.id = id
    self.flags = flags
    self.questions = questions
    self.answers = answers
    self.authority = authority
    self.additional = additional
    self.edns = edns
  }

  /// The whole response code: the header's 4 bits and, with EDNS, the OPT record's 8 above them.
  public var responseCode: ResponseCode {
    get { ResponseCode(rawValue: UInt16(edns?.extendedResponseCode ?? 0) << 4 | UInt16(flags.responseCode)) }
    set {
      flags.responseCode = UInt8(newValue.rawValue & 15)
      edns?.extendedResponseCode = UInt8(newValue.rawValue >> 4)
    }
  }
}

// MARK: - Reading

extension DNSMessage {
  /// Reads the message in `bytes`: the header's counts must match what follows exactly (no
  /// trailing bytes), every name and record must lie inside, and at most one OPT record, at
  /// the root, in the additional section.
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(DNSError) -> DNSMessage {
    guard bytes.count >= headerLength else { throw .truncated }
    var message = DNSMessage(id: bytes.readUInt16(at: 0), flags: DNSFlags(rawValue: bytes.readUInt16(at: 2)))
    let counts = (Int(bytes.readUInt16(at: 4)), Int(bytes.readUInt16(at: 6)), Int(bytes.readUInt16(at: 8)), Int(bytes.readUInt16(at: 10)))
    var offset = headerLength
    // Each question takes at least 5 bytes, each record 11: counts that cannot fit are refused
    // before anything is reserved for them.
    guard counts.0 * 5 + (counts.1 + counts.2 + counts.3) * 11 <= bytes.count - offset else { throw .truncated }
    message.questions.reserveCapacity(counts.0)
    for _ in 0..<counts.0 {
      let name = try DNSName.parse(bytes, at: &offset)
      guard offset + 4 <= bytes.count else { throw .truncated }
      message.questions.append(
        DNSQuestion(name: name, type: RecordType(rawValue: bytes.readUInt16(at: offset)), recordClass: RecordClass(rawValue: bytes.readUInt16(at: offset + 2))))
      offset += 4
    }
    for _ in 0..<counts.1 { message.answers.append(try record(bytes, at: &offset, optAllowed: false, message: &message)) }
    for _ in 0..<counts.2 { message.authority.append(try record(bytes, at: &offset, optAllowed: false, message: &message)) }
    for _ in 0..<counts.3 {
      let record = try record(bytes, at: &offset, optAllowed: true, message: &message)
      if record.type != .opt { message.additional.append(record) }
    }
    guard offset == bytes.count else { throw .trailingBytes }
    return message
  }

  /// One record; an OPT record becomes `message.edns` (and is returned with type OPT).
  static func record(
    _ bytes: UnsafeRawBufferPointer, at offset: inout Int, optAllowed: Bool, message: inout DNSMessage
  ) throws(DNSError) -> ResourceRecord {
    let name = try DNSName.parse(bytes, at: &offset)
    guard offset + 10 <= bytes.count else { throw .truncated }
    let type = RecordType(rawValue: bytes.readUInt16(at: offset))
    let classField = bytes.readUInt16(at: offset + 2)
    let ttl = bytes.readUInt32(at: offset + 4)
    let length = Int(bytes.readUInt16(at: offset + 8))
    offset += 10
    guard offset + length <= bytes.count else { throw .truncated }
    if type == .opt {
      guard optAllowed, message.edns == nil, name.isRoot else { throw .badOPT }
      var edns = EDNS(udpPayloadSize: classField, version: UInt8(ttl >> 16 & 0xff), dnssecOK: ttl & 0x8000 != 0)
      edns.extendedResponseCode = UInt8(ttl >> 24)
      var position = offset
      while position < offset + length {
        guard position + 4 <= offset + length else { throw .badRecordData(.opt) }
        let code = bytes.readUInt16(at: position), size = Int(bytes.readUInt16(at: position + 2))
        guard position + 4 + size <= offset + length else { throw .badRecordData(.opt) }
        edns.options.append(EDNSOption(code: code, data: Array(bytes[(position + 4)..<(position + 4 + size)])))
        position += 4 + size
      }
      message.edns = edns
      offset += length
      return ResourceRecord(name: name, type: .opt, recordClass: RecordClass(rawValue: classField), ttl: ttl, data: .opaque([]))
    }
    let data = try RecordData.parse(bytes, at: offset, length: length, type: type)
    offset += length
    return ResourceRecord(name: name, type: type, recordClass: RecordClass(rawValue: classField), ttl: ttl, data: data)
  }
}

// MARK: - Writing

/// A message being written: its bytes, and where each name (and each of its suffixes) first
/// appeared, for compression pointers (offsets below 16 KiB only, as a pointer holds 14 bits).
struct DNSWriter {
  var bytes: [UInt8] = []
  /// The suffixes written out whole, where a later name may point: the name's wire form (a
  /// reference, not a copy), where the suffix starts in it, and where it is in the message.
  /// Searched in order (a response has a few dozen at most: cheaper than hashing each).
  var suffixes: [(wire: [UInt8], start: Int, position: Int)] = []

  mutating func append(uint16 value: UInt16) {
    bytes.append(UInt8(value >> 8))
    bytes.append(UInt8(value & 0xff))
  }

  mutating func append(uint32 value: UInt32) {
    append(uint16: UInt16(value >> 16))
    append(uint16: UInt16(value & 0xffff))
  }

  /// Where the suffix of `wire` from `start` was written out whole first, if it was.
  func position(of wire: [UInt8], from start: Int) -> Int? {
    let length = wire.count - start
    for entry in suffixes where entry.wire.count - entry.start == length {
      var index = 0
      while index < length, asciiLowercase(entry.wire[entry.start + index]) == asciiLowercase(wire[start + index]) {
        index += 1
      }
      if index == length { return entry.position }
    }
    return nil
  }

  /// `name`, its longest suffix already written replaced by a pointer when `compress`; the
  /// suffixes written out whole are remembered either way (a later compressible name may
  /// point into them).
  mutating func append(name: DNSName, compress: Bool) {
    let wire = name.wire
    var offset = 0
    while wire[offset] != 0 {
      if compress, let target = position(of: wire, from: offset) {
        append(uint16: 0xc000 | UInt16(target))
        return
      }
      let length = Int(wire[offset])
      if bytes.count < 0x4000 { suffixes.append((wire, offset, bytes.count)) }
      bytes.append(contentsOf: wire[offset..<(offset + 1 + length)])
      offset += 1 + length
    }
    bytes.append(0)
  }

  /// The record; false (the caller rolls back) if its data is longer than 65535 bytes.
  mutating func append(_ record: ResourceRecord) -> Bool {
    append(name: record.name, compress: true)
    append(uint16: record.type.rawValue)
    append(uint16: record.recordClass.rawValue)
    append(uint32: record.ttl)
    let lengthAt = bytes.count
    append(uint16: 0)
    record.data.emit(into: &self)
    let length = bytes.count - lengthAt - 2
    guard length <= 0xffff else { return false }
    bytes[lengthAt] = UInt8(length >> 8)
    bytes[lengthAt + 1] = UInt8(length & 0xff)
    return true
  }

  /// Forgets everything from `count` bytes on (what did not fit).
  mutating func rollBack(to count: Int) {
    bytes.removeSubrange(count...)
    while let last = suffixes.last, last.position >= count { suffixes.removeLast() }
  }
}

extension DNSMessage {
  /// The OPT record's size: a root name, ten bytes of fields, the options.
  var optLength: Int { edns.map { 11 + $0.options.reduce(0) { $0 + 4 + $1.data.count } } ?? 0 }

  /// The message's bytes, at most `maximumSize` long (512 for plain UDP, the client's EDNS
  /// size, 65535 over TCP). What does not fit is left out by whole RRsets: in the additional
  /// section silently (the rest of it too), and if an answer or authority RRset does not
  /// fit, it and everything after it, with TC set (RFC 2181 9). The OPT record is always
  /// kept. A record whose data would be longer than 65535 bytes is left out the same way.
  public func emit(maximumSize: Int = 65535) -> [UInt8] {
    let limit = max(min(maximumSize, 65535), Self.headerLength) - optLength
    var writer = DNSWriter()
    writer.bytes.reserveCapacity(min(limit + optLength, 4096))
    var flags = self.flags
    var cut = false  // something did not fit (the message's own TC aside)
    writer.append(uint16: id)
    writer.append(uint16: 0)  // the flags, once TC is known
    for _ in 0..<4 { writer.append(uint16: 0) }  // the counts, once known
    var counts = [0, 0, 0, 0]
    for question in questions {
      let mark = writer.bytes.count
      writer.append(name: question.name, compress: true)
      writer.append(uint16: question.type.rawValue)
      writer.append(uint16: question.recordClass.rawValue)
      if writer.bytes.count > limit {
        writer.rollBack(to: mark)
        cut = true
        break
      }
      counts[0] += 1
    }
    // Records go in whole RRsets (consecutive records of one name, type and class): a set
    // that does not fit is left out whole, as a resolver must not use part of one. One of the
    // answer or a required authority section ends the message there, with TC; an optional
    // one is skipped, the section's later sets tried, and the sections after it left out.
    sections: for (section, records) in [(1, answers), (2, authority), (3, additional)] {
      guard !cut else { break }
      let optional = section == 3 || (section == 2 && authorityIsOptional)
      var skipped = false
      var index = 0
      rrsets: while index < records.count {
        var end = index + 1
        while end < records.count, records[end].name == records[index].name, records[end].type == records[index].type,
          records[end].recordClass == records[index].recordClass
        {
          end += 1
        }
        let mark = writer.bytes.count
        for record in records[index..<end] {
          guard writer.append(record), writer.bytes.count <= limit else {
            writer.rollBack(to: mark)
            guard optional else {
              cut = true
              continue sections
            }
            skipped = true
            index = end
            continue rrsets
          }
        }
        counts[section] += end - index
        index = end
      }
      if skipped { break }
    }
    if glueIsRequired, !additional.isEmpty, counts[3] == 0 { cut = true }
    if let edns {
      writer.bytes.append(0)  // the root
      writer.append(uint16: RecordType.opt.rawValue)
      writer.append(uint16: edns.udpPayloadSize)
      writer.append(uint32: UInt32(edns.extendedResponseCode) << 24 | UInt32(edns.version) << 16 | (edns.dnssecOK ? 0x8000 : 0))
      writer.append(uint16: UInt16(optLength - 11))
      for option in edns.options {
        writer.append(uint16: option.code)
        writer.append(uint16: UInt16(option.data.count))
        writer.bytes.append(contentsOf: option.data)
      }
      counts[3] += 1
    }
    if cut { flags.truncated = true }
    let rawFlags = flags.rawValue
    writer.bytes[2] = UInt8(rawFlags >> 8)
    writer.bytes[3] = UInt8(rawFlags & 0xff)
    for (index, count) in counts.enumerated() {
      writer.bytes[4 + 2 * index] = UInt8(count >> 8)
      writer.bytes[5 + 2 * index] = UInt8(count & 0xff)
    }
    return writer.bytes
  }
}
