// The TCP header and its options.
//
// Read first: RFC 9293 3.1 (header format) and 3.2 (options), RFC 7323 (window scale,
// timestamps), RFC 2018 (SACK-permitted, SACK blocks), RFC 6691 (MSS). This file only parses
// and emits; the state machine lives in the network core.

public struct TCPFlags: OptionSet, Hashable, Sendable {
  public var rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }

  public static let fin = TCPFlags(rawValue: 0x001)
  public static let syn = TCPFlags(rawValue: 0x002)
  public static let rst = TCPFlags(rawValue: 0x004)
  public static let psh = TCPFlags(rawValue: 0x008)
  public static let ack = TCPFlags(rawValue: 0x010)
  public static let urg = TCPFlags(rawValue: 0x020)
  public static let ece = TCPFlags(rawValue: 0x040)
  public static let cwr = TCPFlags(rawValue: 0x080)
}

extension TCPFlags: CustomStringConvertible {
  /// tcpdump's letters: S F R P U E W, and `.` for ACK.
  public var description: String {
    var text = ""
    if contains(.syn) { text += "S" }
    if contains(.fin) { text += "F" }
    if contains(.rst) { text += "R" }
    if contains(.psh) { text += "P" }
    if contains(.urg) { text += "U" }
    if contains(.ece) { text += "E" }
    if contains(.cwr) { text += "W" }
    if contains(.ack) { text += "." }
    return text.isEmpty ? "none" : text
  }
}

/// One SACK block: the left edge and the sequence number just past the right edge.
public struct SACKBlock: Hashable, Sendable {
  public var left: UInt32
  public var right: UInt32
  public init(left: UInt32, right: UInt32) {
    self.left = left
    self.right = right
  }
}

/// Up to four SACK blocks, stored inline (no allocation per segment).
public struct SACKBlocks: Hashable, Sendable, RandomAccessCollection {
  public static let capacity = 4
  var storage: (SACKBlock, SACKBlock, SACKBlock, SACKBlock)
  public private(set) var count: Int

  public init() {
    let empty = SACKBlock(left: 0, right: 0)
    storage = (empty, empty, empty, empty)
    count = 0
  }

  public init(_ blocks: [SACKBlock]) {
    self.init()
    for block in blocks { append(block) }
  }

  public var startIndex: Int { 0 }
  public var endIndex: Int { count }

  public subscript(index: Int) -> SACKBlock {
    precondition(index >= 0 && index < count, "SACK block index out of range")
    switch index {
    case 0: return storage.0
    case 1: return storage.1
    case 2: return storage.2
    default: return storage.3
    }
  }

  public mutating func append(_ block: SACKBlock) {
    precondition(count < Self.capacity, "at most four SACK blocks fit in a TCP header")
    switch count {
    case 0: storage.0 = block
    case 1: storage.1 = block
    case 2: storage.2 = block
    default: storage.3 = block
    }
    count += 1
  }

  public static func == (lhs: SACKBlocks, rhs: SACKBlocks) -> Bool {
    lhs.count == rhs.count && lhs.elementsEqual(rhs)
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(count)
    for block in self { hasher.combine(block) }
  }
}

/// The options this stack understands. Unknown options are skipped on input; `emit` writes
/// the ones set here, padded with NOPs to a multiple of four bytes.
public struct TCPOptions: Hashable, Sendable {
  public var maximumSegmentSize: UInt16?
  /// The shift count, 0...14 (RFC 7323 2.3: larger values are used as 14).
  public var windowScale: UInt8?
  public var sackPermitted: Bool
  public var sackBlocks: SACKBlocks
  public var timestamp: Timestamp?

  public struct Timestamp: Hashable, Sendable {
    public var value: UInt32
    public var echoReply: UInt32
    public init(value: UInt32, echoReply: UInt32) {
      self.value = value
      self.echoReply = echoReply
    }
  }

  public init(
    maximumSegmentSize: UInt16? = nil, windowScale: UInt8? = nil, sackPermitted: Bool = false,
    sackBlocks: SACKBlocks = SACKBlocks(), timestamp: Timestamp? = nil
  ) {
    self.maximumSegmentSize = maximumSegmentSize
    self.windowScale = windowScale
    self.sackPermitted = sackPermitted
    self.sackBlocks = sackBlocks
    self.timestamp = timestamp
  }

  enum Kind {
    static let end: UInt8 = 0
    static let noOperation: UInt8 = 1
    static let maximumSegmentSize: UInt8 = 2
    static let windowScale: UInt8 = 3
    static let sackPermitted: UInt8 = 4
    static let sack: UInt8 = 5
    static let timestamp: UInt8 = 8
  }

  /// Bytes `emit` writes: every option NOP-aligned to a four-byte word (RFC 7323 appendix
  /// A's layout), so the total is a multiple of four, and at most 40.
  public var bufferLength: Int {
    let blocks = emittedSACKBlocks
    return fixedLength + (blocks > 0 ? 4 + 8 * blocks : 0)
  }

  /// The options other than SACK blocks, NOP-aligned.
  private var fixedLength: Int {
    (maximumSegmentSize != nil ? 4 : 0) + (windowScale != nil ? 4 : 0) + (sackPermitted ? 4 : 0)
      + (timestamp != nil ? 12 : 0)
  }

  /// How many SACK blocks `emit` writes: those that fit in the 40-byte option space after
  /// the other options (RFC 2018 3: a sender includes as many as fit, the first ones first).
  public var emittedSACKBlocks: Int {
    guard !sackBlocks.isEmpty else { return 0 }
    return min(sackBlocks.count, max(0, (40 - fixedLength - 4) / 8))
  }

  /// Parses the options area. A length byte that is below 2, runs past the area, or does not
  /// match the option's fixed size makes the whole header malformed (RFC 9293 3.1: a segment
  /// with an option length that overruns the header must be rejected).
  static func parse(_ area: UnsafeRawBufferPointer) throws(WireError) -> TCPOptions {
    var options = TCPOptions()
    var index = 0
    while index < area.count {
      let kind = area.readUInt8(at: index)
      if kind == Kind.end { break }
      if kind == Kind.noOperation {
        index += 1
        continue
      }
      guard index + 1 < area.count else { throw .malformed }
      let length = Int(area.readUInt8(at: index + 1))
      guard length >= 2, index + length <= area.count else { throw .malformed }
      switch kind {
      case Kind.maximumSegmentSize:
        guard length == 4 else { throw .malformed }
        options.maximumSegmentSize = area.readUInt16(at: index + 2)
      case Kind.windowScale:
        guard length == 3 else { throw .malformed }
        options.windowScale = min(area.readUInt8(at: index + 2), 14)
      case Kind.sackPermitted:
        guard length == 2 else { throw .malformed }
        options.sackPermitted = true
      case Kind.sack:
        guard (length - 2) % 8 == 0, length > 2 else { throw .malformed }
        var blocks = SACKBlocks()
        var offset = index + 2
        while offset < index + length, blocks.count < SACKBlocks.capacity {
          blocks.append(SACKBlock(left: area.readUInt32(at: offset), right: area.readUInt32(at: offset + 4)))
          offset += 8
        }
        options.sackBlocks = blocks
      case Kind.timestamp:
        guard length == 10 else { throw .malformed }
        options.timestamp = Timestamp(value: area.readUInt32(at: index + 2), echoReply: area.readUInt32(at: index + 6))
      default:
        break  // unknown option: skip by its length
      }
      index += length
    }
    return options
  }

  /// Writes the options at the start of `area` (which must hold `bufferLength` bytes).
  func emit(into area: UnsafeMutableRawBufferPointer) {
    var index = 0
    if let mss = maximumSegmentSize {
      area.writeUInt8(Kind.maximumSegmentSize, at: index)
      area.writeUInt8(4, at: index + 1)
      area.writeUInt16(mss, at: index + 2)
      index += 4
    }
    if let scale = windowScale {
      area.writeUInt8(Kind.noOperation, at: index)  // keeps the shift count's option aligned
      area.writeUInt8(Kind.windowScale, at: index + 1)
      area.writeUInt8(3, at: index + 2)
      area.writeUInt8(scale, at: index + 3)
      index += 4
    }
    if sackPermitted {
      area.writeUInt8(Kind.noOperation, at: index)
      area.writeUInt8(Kind.noOperation, at: index + 1)
      area.writeUInt8(Kind.sackPermitted, at: index + 2)
      area.writeUInt8(2, at: index + 3)
      index += 4
    }
    if let timestamp {
      area.writeUInt8(Kind.noOperation, at: index)
      area.writeUInt8(Kind.noOperation, at: index + 1)
      area.writeUInt8(Kind.timestamp, at: index + 2)
      area.writeUInt8(10, at: index + 3)
      area.writeUInt32(timestamp.value, at: index + 4)
      area.writeUInt32(timestamp.echoReply, at: index + 8)
      index += 12
    }
    let blocks = emittedSACKBlocks
    if blocks > 0 {
      area.writeUInt8(Kind.noOperation, at: index)
      area.writeUInt8(Kind.noOperation, at: index + 1)
      area.writeUInt8(Kind.sack, at: index + 2)
      area.writeUInt8(UInt8(2 + 8 * blocks), at: index + 3)
      index += 4
      for block in sackBlocks.prefix(blocks) {
        area.writeUInt32(block.left, at: index)
        area.writeUInt32(block.right, at: index + 4)
        index += 8
      }
    }
  }

}

public struct TCPHeader: Hashable, Sendable {
  enum Field {
    static let sourcePort = 0
    static let destinationPort = 2
    static let sequenceNumber = 4
    static let acknowledgmentNumber = 8
    static let dataOffsetAndFlags = 12
    static let window = 14
    static let checksum = 16
    static let urgentPointer = 18
  }

  public static let minimumLength = 20
  public static let maximumLength = 60
  /// Where the checksum lies in the header (for a device that completes it).
  public static let checksumOffset = 16

  public var sourcePort: UInt16
  public var destinationPort: UInt16
  public var sequenceNumber: UInt32
  public var acknowledgmentNumber: UInt32
  public var flags: TCPFlags
  /// The window field as sent (not scaled).
  public var window: UInt16
  /// As read by `parse`; written by `emit`.
  public var checksum: UInt16
  public var urgentPointer: UInt16
  public var options: TCPOptions
  /// The received data offset in bytes; for a header built here, what `emit` will write.
  public var headerLength: Int {
    parsedHeaderLength ?? Self.minimumLength + options.bufferLength
  }
  var parsedHeaderLength: Int?

  public init(
    sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: UInt32,
    acknowledgmentNumber: UInt32 = 0, flags: TCPFlags, window: UInt16, urgentPointer: UInt16 = 0,
    options: TCPOptions = TCPOptions()
  ) {
    self.sourcePort = sourcePort
    self.destinationPort = destinationPort
    self.sequenceNumber = sequenceNumber
    self.acknowledgmentNumber = acknowledgmentNumber
    self.flags = flags
    self.window = window
    self.checksum = 0
    self.urgentPointer = urgentPointer
    self.options = options
    self.parsedHeaderLength = nil
  }

  /// Parses the header of the segment that fills `segment` (the whole IPv4 payload: the
  /// checksum covers all of it). Checks the data offset (at least 5 words, within the
  /// segment), the options and, when `verifyChecksum`, the checksum.
  public static func parse(
    _ segment: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address,
    verifyChecksum: Bool = true
  ) throws(WireError) -> TCPHeader {
    try parse(segment, source: .v4(source), destination: .v4(destination), verifyChecksum: verifyChecksum)
  }

  /// Parses as above over either family: the pseudo-header is `source` and `destination`'s
  /// (of one family; over IPv6, RFC 8200 8.1).
  public static func parse(
    _ segment: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress,
    verifyChecksum: Bool = true
  ) throws(WireError) -> TCPHeader {
    guard segment.count >= minimumLength else { throw .truncated }
    let offsetAndFlags = segment.readUInt16(at: Field.dataOffsetAndFlags)
    let headerLength = Int(offsetAndFlags >> 12) * 4
    guard headerLength >= minimumLength else { throw .malformed }
    guard headerLength <= segment.count else { throw .truncated }
    if verifyChecksum {
      var sum = InternetChecksum()
      sum.addPseudoHeader(source: source, destination: destination, protocol: .tcp, length: segment.count)
      sum.add(segment)
      guard sum.value == 0 else { throw .badChecksum }
    }
    let options = try TCPOptions.parse(segment.slice(from: minimumLength, length: headerLength - minimumLength))
    var header = TCPHeader(
      sourcePort: segment.readUInt16(at: Field.sourcePort),
      destinationPort: segment.readUInt16(at: Field.destinationPort),
      sequenceNumber: segment.readUInt32(at: Field.sequenceNumber),
      acknowledgmentNumber: segment.readUInt32(at: Field.acknowledgmentNumber),
      flags: TCPFlags(rawValue: offsetAndFlags & 0x0ff),
      window: segment.readUInt16(at: Field.window),
      urgentPointer: segment.readUInt16(at: Field.urgentPointer),
      options: options)
    header.checksum = segment.readUInt16(at: Field.checksum)
    header.parsedHeaderLength = headerLength
    return header
  }

  /// Writes the header and options at the start of `segment`, whose bytes after
  /// `headerLength` must already hold the payload (all of `segment` is checksummed), then
  /// the checksum unless `fillChecksum` is false (offload: the field then holds the
  /// pseudo-header sum, as a device that completes the checksum expects).
  public func emit(
    into segment: UnsafeMutableRawBufferPointer, source: IPv4Address, destination: IPv4Address,
    fillChecksum: Bool = true
  ) {
    emit(into: segment, source: .v4(source), destination: .v4(destination), fillChecksum: fillChecksum)
  }

  /// Writes the header as above over either family (`source` and `destination` of one).
  public func emit(
    into segment: UnsafeMutableRawBufferPointer, source: IPAddress, destination: IPAddress,
    fillChecksum: Bool = true
  ) {
    let emitted = Self.minimumLength + options.bufferLength
    precondition(emitted <= Self.maximumLength, "TCP options exceed 40 bytes")
    precondition(segment.count >= emitted, "buffer too small for the TCP header")
    segment.writeUInt16(sourcePort, at: Field.sourcePort)
    segment.writeUInt16(destinationPort, at: Field.destinationPort)
    segment.writeUInt32(sequenceNumber, at: Field.sequenceNumber)
    segment.writeUInt32(acknowledgmentNumber, at: Field.acknowledgmentNumber)
    segment.writeUInt16(UInt16(emitted / 4) << 12 | (flags.rawValue & 0x0ff), at: Field.dataOffsetAndFlags)
    segment.writeUInt16(window, at: Field.window)
    segment.writeUInt16(0, at: Field.checksum)
    segment.writeUInt16(urgentPointer, at: Field.urgentPointer)
    let area = segment.slice(from: Self.minimumLength, length: emitted - Self.minimumLength)
    options.emit(into: area)
    var sum = InternetChecksum()
    sum.addPseudoHeader(source: source, destination: destination, protocol: .tcp, length: segment.count)
    if fillChecksum {
      sum.add(UnsafeRawBufferPointer(segment))
      segment.writeUInt16(sum.value, at: Field.checksum)
    } else {
      segment.writeUInt16(~sum.value, at: Field.checksum)
    }
  }
}

extension TCPHeader: CustomStringConvertible {
  public var description: String {
    var text = "TCP \(sourcePort) > \(destinationPort): Flags [\(flags)], seq \(sequenceNumber)"
    if flags.contains(.ack) { text += ", ack \(acknowledgmentNumber)" }
    text += ", win \(window)"
    var parts: [String] = []
    if let mss = options.maximumSegmentSize { parts.append("mss \(mss)") }
    if options.sackPermitted { parts.append("sackOK") }
    if let ts = options.timestamp { parts.append("TS val \(ts.value) ecr \(ts.echoReply)") }
    if let scale = options.windowScale { parts.append("wscale \(scale)") }
    if !options.sackBlocks.isEmpty {
      var sack = "sack \(options.sackBlocks.count)"
      for block in options.sackBlocks { sack += " {\(block.left):\(block.right)}" }
      parts.append(sack)
    }
    if !parts.isEmpty {
      text += ", options [" + parts.joined(separator: ",") + "]"
    }
    return text
  }
}
