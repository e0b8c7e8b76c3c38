// Multicast Listener Discovery messages, carried in ICMPv6: queries (MLDv1 and MLDv2) and
// MLDv2 reports.
//
// Read first: RFC 3810 5.1 (query format, and 5.1.3 and 5.1.9 the two encoded times), 5.2
// (report format and record types), 6.2 and 5.1.14 (what a host checks on a query), 8.1
// (telling MLDv1 and MLDv2 queries apart by length); RFC 2710 3 (the MLDv1 format). Sent with
// a link-local source, hop limit 1 and a Router Alert (`IPv6RouterAlertHeader`). MLDv1 reports
// and done messages (types 131 and 132) parse as `ICMPv6Message.other`.

/// A Multicast Listener Query (type 130): general (for every address) when `multicastAddress`
/// is unspecified, else for one address (and, in MLDv2, for some of its sources).
public struct MulticastListenerQuery: Hashable, Sendable {
  enum Field {
    static let maximumResponseCode = 4
    static let multicastAddress = 8
    static let flags = 24
    static let queryIntervalCode = 25
    static let numberOfSources = 26
    static let sources = 28
  }

  /// The length of an MLDv1 query (RFC 2710 3), and the bytes every query starts with.
  static let version1Length = 24

  /// RFC 3810 5.1.3: milliseconds, or from 32768 a floating-point code
  /// (`maximumResponseDelay` decodes it). In an MLDv1 query, plain milliseconds.
  public var maximumResponseCode: UInt16
  public var multicastAddress: IPv6Address
  /// A 24-byte MLDv1 query (RFC 2710): the four fields below are then false, 0, 0 and empty.
  public var isVersion1: Bool
  /// S (RFC 3810 5.1.7): routers are not to update their timers.
  public var suppressRouterSideProcessing: Bool
  /// QRV (RFC 3810 5.1.8), 0...7: the querier's robustness variable, 0 when above 7.
  public var robustnessVariable: UInt8
  /// QQIC (RFC 3810 5.1.9): seconds, or from 128 a floating-point code (`queryInterval`).
  public var queryIntervalCode: UInt8
  public var sources: [IPv6Address]

  public init(
    maximumResponseCode: UInt16, multicastAddress: IPv6Address = .unspecified, isVersion1: Bool = false,
    suppressRouterSideProcessing: Bool = false, robustnessVariable: UInt8 = 2, queryIntervalCode: UInt8 = 125,
    sources: [IPv6Address] = []
  ) {
    precondition(robustnessVariable < 8, "QRV is 3 bits")
    precondition(
      !isVersion1 || (!suppressRouterSideProcessing && robustnessVariable == 0 && queryIntervalCode == 0 && sources.isEmpty),
      "an MLDv1 query has no MLDv2 fields")
    self.maximumResponseCode = maximumResponseCode
    self.multicastAddress = multicastAddress
    self.isVersion1 = isVersion1
    self.suppressRouterSideProcessing = suppressRouterSideProcessing
    self.robustnessVariable = robustnessVariable
    self.queryIntervalCode = queryIntervalCode
    self.sources = sources
  }

  public var isGeneralQuery: Bool { multicastAddress.isUnspecified }

  /// The longest a listener may wait before reporting, in milliseconds (RFC 3810 5.1.3).
  public var maximumResponseDelay: Int {
    let code = Int(maximumResponseCode)
    guard !isVersion1, code >= 0x8000 else { return code }
    return (code & 0xfff | 0x1000) << ((code >> 12 & 7) + 3)
  }

  /// The querier's query interval, in seconds (RFC 3810 5.1.9).
  public var queryInterval: Int {
    let code = Int(queryIntervalCode)
    guard code >= 0x80 else { return code }
    return (code & 0xf | 0x10) << ((code >> 4 & 7) + 3)
  }

  public var bufferLength: Int { isVersion1 ? Self.version1Length : Field.sources + 16 * sources.count }

  /// RFC 3810 8.1: 24 bytes is MLDv1, 28 or more MLDv2, anything between is refused
  /// (`.malformed`). Bytes past the sources are ignored.
  static func parse(_ message: UnsafeRawBufferPointer) throws(WireError) -> MulticastListenerQuery {
    guard message.count >= version1Length else { throw .truncated }
    let maximumResponseCode = message.readUInt16(at: Field.maximumResponseCode)
    let multicastAddress = IPv6Address.read(from: message, at: Field.multicastAddress)
    if message.count == version1Length {
      return MulticastListenerQuery(
        maximumResponseCode: maximumResponseCode, multicastAddress: multicastAddress, isVersion1: true,
        robustnessVariable: 0, queryIntervalCode: 0)
    }
    guard message.count >= Field.sources else { throw .malformed }
    let count = Int(message.readUInt16(at: Field.numberOfSources))
    guard (message.count - Field.sources) / 16 >= count else { throw .truncated }
    var sources: [IPv6Address] = []
    for index in 0..<count { sources.append(.read(from: message, at: Field.sources + 16 * index)) }
    let flags = message.readUInt8(at: Field.flags)
    return MulticastListenerQuery(
      maximumResponseCode: maximumResponseCode, multicastAddress: multicastAddress,
      suppressRouterSideProcessing: flags & 0x08 != 0, robustnessVariable: flags & 0x07,
      queryIntervalCode: message.readUInt8(at: Field.queryIntervalCode), sources: sources)
  }

  func emit(into message: UnsafeMutableRawBufferPointer) {
    precondition(sources.count <= 65535, "too many sources for one query")
    message.writeUInt16(maximumResponseCode, at: Field.maximumResponseCode)
    message.writeUInt16(0, at: Field.maximumResponseCode + 2)
    multicastAddress.write(to: message, at: Field.multicastAddress)
    guard !isVersion1 else { return }
    message.writeUInt8((suppressRouterSideProcessing ? 0x08 : 0) | robustnessVariable, at: Field.flags)
    message.writeUInt8(queryIntervalCode, at: Field.queryIntervalCode)
    message.writeUInt16(UInt16(sources.count), at: Field.numberOfSources)
    for (index, source) in sources.enumerated() { source.write(to: message, at: Field.sources + 16 * index) }
  }

  /// RFC 3810 5.1.14 and 6.2 (RFC 2710 5 for MLDv1): a link-local source, hop limit 1, and a
  /// Router Alert option in a Hop-by-Hop header (`routerAlert`, from `IPv6ExtensionHeaders`).
  /// Which destinations to accept a query on is the caller's (5.1.15: any of the interface's).
  public func validate(hopLimit: UInt8, source: IPv6Address, routerAlert: UInt16?) throws(ICMPv6ValidationError) {
    guard source.isLinkLocal else { throw .sourceNotLinkLocal }
    guard hopLimit == 1 else { throw .badHopLimit }
    guard routerAlert != nil else { throw .missingRouterAlert }
  }
}

extension MulticastListenerQuery: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("multicast listener query v\(isVersion1 ? 1 : 2), max resp delay \(maximumResponseDelay)ms")
    text.append(", gaddr \(multicastAddress)")
    guard !isVersion1 else { return }
    text.append(", robustness \(robustnessVariable), qqi \(queryInterval)s, \(sources.count) source(s)")
  }
}

/// One record of an MLDv2 report (RFC 3810 5.2.4): the listening state, or a change to it, of
/// one multicast address. Auxiliary data is skipped on input and never emitted (RFC 3810
/// 5.2.10: none is defined).
public struct MulticastAddressRecord: Hashable, Sendable {
  /// The record type (RFC 3810 5.2.12): an open set.
  public struct RecordType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Current state: listening to the sources listed (a reply to a query).
    public static let modeIsInclude = RecordType(rawValue: 1)
    /// Current state: listening to every source but those listed (a reply to a query; with no
    /// sources, listening to the address).
    public static let modeIsExclude = RecordType(rawValue: 2)
    /// Change: now only the sources listed (with none: leaving the address).
    public static let changeToInclude = RecordType(rawValue: 3)
    /// Change: now every source but those listed (with none: joining the address).
    public static let changeToExclude = RecordType(rawValue: 4)
    public static let allowNewSources = RecordType(rawValue: 5)
    public static let blockOldSources = RecordType(rawValue: 6)
  }

  static let headerLength = 20

  public var type: RecordType
  public var multicastAddress: IPv6Address
  public var sources: [IPv6Address]

  public init(type: RecordType, multicastAddress: IPv6Address, sources: [IPv6Address] = []) {
    self.type = type
    self.multicastAddress = multicastAddress
    self.sources = sources
  }

  public var bufferLength: Int { Self.headerLength + 16 * sources.count }
}

/// An MLDv2 Multicast Listener Report (type 143, RFC 3810 5.2), sent to `allMLDv2Routers`.
public struct MulticastListenerReport: Hashable, Sendable {
  enum Field {
    static let numberOfRecords = 6
    static let records = 8
  }

  public var records: [MulticastAddressRecord]

  public init(records: [MulticastAddressRecord]) { self.records = records }

  /// The report a node sends on joining `addresses`: a CHANGE_TO_EXCLUDE record with no
  /// sources for each (RFC 3810 6.1).
  public static func joining(_ addresses: [IPv6Address]) -> MulticastListenerReport {
    MulticastListenerReport(records: addresses.map { MulticastAddressRecord(type: .changeToExclude, multicastAddress: $0) })
  }

  public var bufferLength: Int { Field.records + records.reduce(0) { $0 + $1.bufferLength } }

  /// Every record must lie within the message (`.truncated`); bytes after the last are ignored.
  static func parse(_ message: UnsafeRawBufferPointer) throws(WireError) -> MulticastListenerReport {
    guard message.count >= Field.records else { throw .truncated }
    let count = Int(message.readUInt16(at: Field.numberOfRecords))
    var records: [MulticastAddressRecord] = []
    var offset = Field.records
    for _ in 0..<count {
      guard message.count - offset >= MulticastAddressRecord.headerLength else { throw .truncated }
      let auxiliaryLength = Int(message.readUInt8(at: offset + 1)) * 4
      let sourceCount = Int(message.readUInt16(at: offset + 2))
      let length = MulticastAddressRecord.headerLength + 16 * sourceCount + auxiliaryLength
      guard message.count - offset >= length else { throw .truncated }
      var sources: [IPv6Address] = []
      for index in 0..<sourceCount { sources.append(.read(from: message, at: offset + 20 + 16 * index)) }
      records.append(
        MulticastAddressRecord(
          type: MulticastAddressRecord.RecordType(rawValue: message.readUInt8(at: offset)),
          multicastAddress: .read(from: message, at: offset + 4), sources: sources))
      offset += length
    }
    return MulticastListenerReport(records: records)
  }

  func emit(into message: UnsafeMutableRawBufferPointer) {
    precondition(records.count <= 65535, "too many records for one report")
    message.writeUInt16(0, at: ICMPv6Message.Field.rest)
    message.writeUInt16(UInt16(records.count), at: Field.numberOfRecords)
    var offset = Field.records
    for record in records {
      precondition(record.sources.count <= 65535, "too many sources for one record")
      message.writeUInt8(record.type.rawValue, at: offset)
      message.writeUInt8(0, at: offset + 1)
      message.writeUInt16(UInt16(record.sources.count), at: offset + 2)
      record.multicastAddress.write(to: message, at: offset + 4)
      for (index, source) in record.sources.enumerated() { source.write(to: message, at: offset + 20 + 16 * index) }
      offset += record.bufferLength
    }
  }
}

extension MulticastListenerReport: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// tcpdump's words for the record types: is_in, is_ex, to_in, to_ex, allow, block.
  public func write(to text: inout Text) {
    text.append("multicast listener report v2, \(records.count) group record(s)")
    for record in records {
      text.append(" [gaddr \(record.multicastAddress) ")
      switch record.type {
      case .modeIsInclude: text.append("is_in")
      case .modeIsExclude: text.append("is_ex")
      case .changeToInclude: text.append("to_in")
      case .changeToExclude: text.append("to_ex")
      case .allowNewSources: text.append("allow")
      case .blockOldSources: text.append("block")
      default: text.append("type \(record.type.rawValue)")
      }
      text.append(" {")
      for source in record.sources { text.append(" \(source)") }
      text.append(" }]")
    }
  }
}
