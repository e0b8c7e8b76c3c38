// The IPv6 header, the extension-header chain behind it, and the Fragment header.
//
// Read first: RFC 8200 3 (header format) and 4 (extension headers: order 4.1, options 4.2,
// Hop-by-Hop 4.3, Routing 4.4, Fragment 4.5, Destination Options 4.6, No Next Header 4.7),
// RFC 6946 (atomic fragments), RFC 2711 (Router Alert), RFC 4443 3.4 (the Parameter Problem a
// bad header calls for). Parse and emit only: reassembly, and sending the ICMPv6 errors the
// walk's errors call for, are the network core's. Not supported: jumbograms (RFC 2675; the
// Jumbo Payload option is an unrecognized option here) and routing as an intermediate node
// (every Routing header with segments left is refused, as RFC 8200 4.4 says for a type the
// node does not recognize).

extension IPProtocol {
  /// IPv6 Hop-by-Hop Options (RFC 8200 4.3).
  @inlinable public static var hopByHop: IPProtocol { IPProtocol(rawValue: 0) }
  /// Routing header for IPv6 (RFC 8200 4.4).
  @inlinable public static var ipv6Route: IPProtocol { IPProtocol(rawValue: 43) }
  /// Fragment header for IPv6 (RFC 8200 4.5).
  @inlinable public static var ipv6Fragment: IPProtocol { IPProtocol(rawValue: 44) }
  @inlinable public static var icmpv6: IPProtocol { IPProtocol(rawValue: 58) }
  /// Nothing follows (RFC 8200 4.7).
  @inlinable public static var noNextHeader: IPProtocol { IPProtocol(rawValue: 59) }
  /// Destination Options for IPv6 (RFC 8200 4.6).
  @inlinable public static var destinationOptions: IPProtocol { IPProtocol(rawValue: 60) }
}

public struct IPv6Header: Hashable, Sendable {
  enum Field {
    static let versionClassAndFlow = 0
    static let payloadLength = 4
    static let nextHeader = 6
    static let hopLimit = 7
    static let source = 8
    static let destination = 24
  }

  /// The fixed header: the payload (extension headers first) starts here.
  public static let length = 40

  /// The source address of a packet built here (nil if it is too short to hold one), read
  /// without parsing the rest: what queues of outgoing packets check.
  public static func source(of packet: UnsafeRawBufferPointer) -> IPv6Address? {
    packet.count >= length ? IPv6Address.read(from: packet, at: Field.source) : nil
  }
  /// The MTU every IPv6 link has at least (RFC 8200 5).
  public static let minimumMTU = 1280

  /// DSCP (upper six bits) and ECN (lower two), RFC 2474 and RFC 3168.
  public var trafficClass: UInt8
  /// 20 bits (RFC 6437).
  public var flowLabel: UInt32
  /// Bytes after the fixed header, extension headers included.
  public var payloadLength: Int
  /// The first extension header's type, or the upper-layer protocol when there is none.
  public var nextHeader: IPProtocol
  public var hopLimit: UInt8
  public var source: IPv6Address
  public var destination: IPv6Address

  public init(
    trafficClass: UInt8 = 0, flowLabel: UInt32 = 0, payloadLength: Int, nextHeader: IPProtocol,
    hopLimit: UInt8 = 64, source: IPv6Address, destination: IPv6Address
  ) {
    self.trafficClass = trafficClass
    self.flowLabel = flowLabel
    self.payloadLength = payloadLength
    self.nextHeader = nextHeader
    self.hopLimit = hopLimit
    self.source = source
    self.destination = destination
  }

  /// Header plus payload, in bytes.
  public var totalLength: Int { Self.length + payloadLength }

  /// Parses the fixed header at the start of `packet`: version 6 (`.malformed` otherwise), and
  /// the payload length within `packet` (`.truncated` otherwise; trailing bytes, e.g.
  /// Ethernet padding, are allowed). A payload length of 0 is an empty payload: jumbograms are
  /// not supported. Extension headers are left to `IPv6ExtensionHeaders.walk`.
  public static func parse(_ packet: UnsafeRawBufferPointer) throws(WireError) -> IPv6Header {
    guard packet.count >= length else { throw .truncated }
    let first = packet.readUInt32(at: Field.versionClassAndFlow)
    guard first >> 28 == 6 else { throw .malformed }
    let payloadLength = Int(packet.readUInt16(at: Field.payloadLength))
    guard packet.count - length >= payloadLength else { throw .truncated }
    return IPv6Header(
      trafficClass: UInt8(truncatingIfNeeded: first >> 20),
      flowLabel: first & 0xf_ffff,
      payloadLength: payloadLength,
      nextHeader: IPProtocol(rawValue: packet.readUInt8(at: Field.nextHeader)),
      hopLimit: packet.readUInt8(at: Field.hopLimit),
      source: .read(from: packet, at: Field.source),
      destination: .read(from: packet, at: Field.destination))
  }

  /// Writes the 40-byte header at the start of `packet`.
  public func emit(into packet: UnsafeMutableRawBufferPointer) {
    precondition(packet.count >= Self.length, "buffer too small for an IPv6 header")
    precondition(flowLabel <= 0xf_ffff, "the flow label is 20 bits")
    precondition((0...65535).contains(payloadLength), "IPv6 payload length out of range (no jumbograms)")
    packet.writeUInt32(6 << 28 | UInt32(trafficClass) << 20 | flowLabel, at: Field.versionClassAndFlow)
    packet.writeUInt16(UInt16(payloadLength), at: Field.payloadLength)
    packet.writeUInt8(nextHeader.rawValue, at: Field.nextHeader)
    packet.writeUInt8(hopLimit, at: Field.hopLimit)
    source.write(to: packet, at: Field.source)
    destination.write(to: packet, at: Field.destination)
  }
}

extension IPv6Header: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("IP6 \(source) > \(destination): \(nextHeader), hlim \(hopLimit), length \(payloadLength)")
    if trafficClass != 0 {
      text.append(", class 0x")
      text.append(hexByte: trafficClass)
    }
    if flowLabel != 0 {
      text.append(", flowlabel 0x")
      text.append(hexadecimal: UInt64(flowLabel))
    }
  }
}

// MARK: - Fragment header

/// The Fragment header (RFC 8200 4.5).
public struct IPv6FragmentHeader: Hashable, Sendable {
  enum Field {
    static let nextHeader = 0
    static let offsetAndFlags = 2
    static let identification = 4
  }

  public static let length = 8

  /// The type of the first header of the fragmentable part.
  public var nextHeader: IPProtocol
  /// Where this fragment's data goes in the fragmentable part, in bytes (the field counts
  /// 8-byte units).
  public var offset: Int
  /// The M flag: more fragments follow.
  public var moreFragments: Bool
  public var identification: UInt32

  public init(nextHeader: IPProtocol, offset: Int, moreFragments: Bool, identification: UInt32) {
    self.nextHeader = nextHeader
    self.offset = offset
    self.moreFragments = moreFragments
    self.identification = identification
  }

  /// Offset 0 and no more fragments: a whole packet in one "fragment", processed on its own
  /// (RFC 6946 4).
  public var isAtomic: Bool { offset == 0 && !moreFragments }

  /// Parses the 8-byte header at the start of `bytes`. The reserved fields are ignored.
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> IPv6FragmentHeader {
    guard bytes.count >= length else { throw .truncated }
    let offsetAndFlags = bytes.readUInt16(at: Field.offsetAndFlags)
    return IPv6FragmentHeader(
      nextHeader: IPProtocol(rawValue: bytes.readUInt8(at: Field.nextHeader)),
      offset: Int(offsetAndFlags & 0xfff8),
      moreFragments: offsetAndFlags & 1 != 0,
      identification: bytes.readUInt32(at: Field.identification))
  }

  /// Writes the 8-byte header at the start of `bytes`, reserved fields zero.
  public func emit(into bytes: UnsafeMutableRawBufferPointer) {
    precondition(bytes.count >= Self.length, "buffer too small for a Fragment header")
    precondition(offset % 8 == 0 && (0..<65536).contains(offset), "fragment offset is in 8-byte units")
    bytes.writeUInt8(nextHeader.rawValue, at: Field.nextHeader)
    bytes.writeUInt8(0, at: Field.nextHeader + 1)
    bytes.writeUInt16(UInt16(offset) | (moreFragments ? 1 : 0), at: Field.offsetAndFlags)
    bytes.writeUInt32(identification, at: Field.identification)
  }
}

extension IPv6FragmentHeader: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("frag id 0x")
    text.append(hexadecimal: UInt64(identification))
    text.append(", offset \(offset)")
    if moreFragments { text.append(byte: UInt8(ascii: "+")) }
    text.append(", \(nextHeader)")
  }
}

// MARK: - Router Alert

/// A Hop-by-Hop Options header holding a Router Alert option (RFC 2711) and two bytes of
/// padding: what every MLD message carries (RFC 3810 5), laid out as Linux sends it.
public struct IPv6RouterAlertHeader: Hashable, Sendable {
  public static let length = 8
  /// Router Alert value 0: the datagram holds a Multicast Listener Discovery message.
  public static let multicastListenerDiscovery: UInt16 = 0

  public var nextHeader: IPProtocol
  public var value: UInt16

  public init(nextHeader: IPProtocol = .icmpv6, value: UInt16 = Self.multicastListenerDiscovery) {
    self.nextHeader = nextHeader
    self.value = value
  }

  public func emit(into bytes: UnsafeMutableRawBufferPointer) {
    precondition(bytes.count >= Self.length, "buffer too small for a Hop-by-Hop header")
    bytes.writeUInt8(nextHeader.rawValue, at: 0)
    bytes.writeUInt8(0, at: 1)  // (0 + 1) * 8 bytes
    bytes.writeUInt8(IPv6ExtensionHeaders.OptionType.routerAlert, at: 2)
    bytes.writeUInt8(2, at: 3)
    bytes.writeUInt16(value, at: 4)
    bytes.writeUInt8(IPv6ExtensionHeaders.OptionType.padN, at: 6)
    bytes.writeUInt8(0, at: 7)
  }
}

// MARK: - The extension-header walk

/// What an unrecognized option's type asks of the node (its top two bits, RFC 8200 4.2).
public enum IPv6OptionAction: UInt8, Hashable, Sendable {
  /// 00: skip the option and go on.
  case skip = 0
  /// 01: discard the packet.
  case discard = 1
  /// 10: discard the packet and send a Parameter Problem, code 2, even to a multicast
  /// destination.
  case discardAndReport = 2
  /// 11: discard the packet and send a Parameter Problem, code 2, unless the destination was
  /// multicast.
  case discardAndReportUnlessMulticast = 3

  public init(optionType: UInt8) {
    switch optionType >> 6 {
    case 0: self = .skip
    case 1: self = .discard
    case 2: self = .discardAndReport
    default: self = .discardAndReportUnlessMulticast
    }
  }
}

/// Why the extension-header walk refused a packet. The `pointer`s count from the start of the
/// IPv6 header: they are the Parameter Problem's pointer (RFC 4443 3.4).
/// `ICMPv6Message.parameterProblem(for:destination:)` says which error, if any, to send.
public enum IPv6ExtensionHeaderError: Error, Equatable, Sendable {
  /// A header, or an option in one, runs past the payload or past its own header: discard.
  case truncated
  /// More than `IPv6ExtensionHeaders.maximumCount` extension headers: discard.
  case tooManyHeaders
  /// A Hop-by-Hop Options header other than first (RFC 8200 4.1): discard, and a Parameter
  /// Problem code 1 (unrecognized Next Header, as Linux sends) at the Next Header field that
  /// named it.
  case hopByHopNotFirst(pointer: Int)
  /// A Routing header with segments left, of a type this node does not recognize (RFC 8200
  /// 4.4): discard, and a Parameter Problem code 0 at its Routing Type field.
  case unrecognizedRoutingType(pointer: Int)
  /// An option of a type this node does not recognize whose top two bits say not to skip it
  /// (RFC 8200 4.2): `action` says whether to report it, with a Parameter Problem code 2 at the
  /// option's type.
  case unrecognizedOption(pointer: Int, action: IPv6OptionAction)
  /// A fragment with more to follow whose length is not a multiple of 8 (RFC 8200 4.5):
  /// discard, and a Parameter Problem code 0 at the Payload Length field.
  case fragmentLengthNotMultipleOf8(pointer: Int)
  /// A fragment that would make the reassembled payload longer than 65,535 bytes (RFC 8200
  /// 4.5): discard, and a Parameter Problem code 0 at the Fragment Offset field.
  case fragmentPastMaximumLength(pointer: Int)
}

/// The extension headers of one packet, as `walk` found them.
public struct IPv6ExtensionHeaders: Hashable, Sendable {
  /// The most extension headers `walk` accepts in one packet. RFC 8200 sets no limit; RFC
  /// 8504 5.3 lets a node set one. A packet legitimately carries at most Hop-by-Hop, two
  /// Destination Options, Routing, Fragment, AH and ESP (RFC 8200 4.1): eight leaves room
  /// for all of them and stops a packet made of hundreds of empty headers.
  public static let maximumCount = 8

  enum OptionType {
    static let pad1: UInt8 = 0
    static let padN: UInt8 = 1
    static let routerAlert: UInt8 = 5
  }

  /// What follows the headers walked: the upper-layer protocol (or `.noNextHeader`, or any
  /// type the walk does not know, such as AH or ESP, for the caller to handle or refuse with
  /// a Parameter Problem code 1). After a fragment that is not atomic, the type of the
  /// fragmentable part's first header.
  public var upperLayerProtocol: IPProtocol
  /// Where that starts in the bytes walked (for a fragment: where its data starts).
  public var upperLayerOffset: Int
  /// The Fragment header, if one was met. The walk stops at one that is not atomic: its data
  /// is a piece of a packet, to reassemble and then walk again (whole, from the IPv6 header's
  /// Next Header, with the Fragment header taken out as RFC 8200 4.5 reassembles); it goes on
  /// past an atomic one (RFC 6946).
  public var fragment: IPv6FragmentHeader?
  /// Where the Fragment header starts in the bytes walked: the length of the unfragmentable
  /// extension headers. Meaningful when `fragment` is not nil.
  public var fragmentHeaderOffset: Int
  /// The value of the Hop-by-Hop header's Router Alert option (RFC 2711; 0 for MLD), nil
  /// without one. MLD queries must carry one (RFC 3810 6.2).
  public var routerAlert: UInt16?
  /// Extension headers walked.
  public var count: Int

  public init(
    upperLayerProtocol: IPProtocol, upperLayerOffset: Int = 0, fragment: IPv6FragmentHeader? = nil,
    fragmentHeaderOffset: Int = 0, routerAlert: UInt16? = nil, count: Int = 0
  ) {
    self.upperLayerProtocol = upperLayerProtocol
    self.upperLayerOffset = upperLayerOffset
    self.fragment = fragment
    self.fragmentHeaderOffset = fragmentHeaderOffset
    self.routerAlert = routerAlert
    self.count = count
  }

  /// Walks the extension headers at the start of `payload`, which must be exactly the IPv6
  /// payload (`payloadLength` bytes after the fixed header), the first of type `nextHeader`:
  /// Hop-by-Hop (first only), Destination Options and Routing headers (segments left 0) are
  /// skipped, their options checked (RFC 8200 4.2), and a Fragment header is reported. Stops
  /// at the first type that is none of these. Does not verify what follows.
  public static func walk(
    _ payload: UnsafeRawBufferPointer, nextHeader: IPProtocol
  ) throws(IPv6ExtensionHeaderError) -> IPv6ExtensionHeaders {
    var result = IPv6ExtensionHeaders(upperLayerProtocol: nextHeader)
    var nextHeaderField = IPv6Header.Field.nextHeader  // where the type being walked was named
    while true {
      let type = result.upperLayerProtocol
      let start = result.upperLayerOffset
      switch type {
      case .hopByHop, .destinationOptions, .ipv6Route, .ipv6Fragment: break
      default: return result
      }
      if type == .hopByHop && result.count > 0 { throw .hopByHopNotFirst(pointer: nextHeaderField) }
      guard result.count < maximumCount else { throw .tooManyHeaders }
      result.count += 1
      let length: Int
      if type == .ipv6Fragment {
        guard let fragment = try? IPv6FragmentHeader.parse(payload.suffix(from: start)) else { throw .truncated }
        result.fragment = fragment
        result.fragmentHeaderOffset = start
        length = IPv6FragmentHeader.length
        if !fragment.isAtomic {
          try checkFragmentLength(fragment, dataLength: payload.count - start - length, headerOffset: start)
          result.upperLayerProtocol = fragment.nextHeader
          result.upperLayerOffset = start + length
          return result
        }
      } else {
        guard payload.count - start >= 2 else { throw .truncated }
        length = (Int(payload.readUInt8(at: start + 1)) + 1) * 8
        guard payload.count - start >= length else { throw .truncated }
        if type == .ipv6Route {
          // RFC 8200 4.4: with no segments left, an unrecognized type is ignored.
          if payload.readUInt8(at: start + 3) != 0 {
            throw .unrecognizedRoutingType(pointer: IPv6Header.length + start + 2)
          }
        } else {
          let routerAlert = try walkOptions(payload.slice(from: start, length: length), at: start)
          if type == .hopByHop { result.routerAlert = routerAlert }
        }
      }
      nextHeaderField = IPv6Header.length + start
      result.upperLayerProtocol = IPProtocol(rawValue: payload.readUInt8(at: start))
      result.upperLayerOffset = start + length
    }
  }

  /// Checks the options of the Hop-by-Hop or Destination Options header `header` (which
  /// starts at `offset` in the payload), returning the value of a Router Alert option if one
  /// is among them.
  static func walkOptions(
    _ header: UnsafeRawBufferPointer, at offset: Int
  ) throws(IPv6ExtensionHeaderError) -> UInt16? {
    var routerAlert: UInt16?
    var index = 2
    while index < header.count {
      let type = header.readUInt8(at: index)
      if type == OptionType.pad1 {
        index += 1
        continue
      }
      guard header.count - index >= 2 else { throw .truncated }
      let dataLength = Int(header.readUInt8(at: index + 1))
      guard header.count - index - 2 >= dataLength else { throw .truncated }
      switch type {
      case OptionType.padN: break
      case OptionType.routerAlert where dataLength == 2: routerAlert = header.readUInt16(at: index + 2)
      default:
        let action = IPv6OptionAction(optionType: type)
        if action != .skip {
          throw .unrecognizedOption(pointer: IPv6Header.length + offset + index, action: action)
        }
      }
      index += 2 + dataLength
    }
    return routerAlert
  }

  /// RFC 8200 4.5's two checks on a fragment that is not atomic.
  static func checkFragmentLength(
    _ fragment: IPv6FragmentHeader, dataLength: Int, headerOffset: Int
  ) throws(IPv6ExtensionHeaderError) {
    if fragment.moreFragments && dataLength % 8 != 0 {
      throw .fragmentLengthNotMultipleOf8(pointer: IPv6Header.Field.payloadLength)
    }
    if headerOffset + fragment.offset + dataLength > 65535 {
      throw .fragmentPastMaximumLength(pointer: IPv6Header.length + headerOffset + IPv6FragmentHeader.Field.offsetAndFlags)
    }
  }
}
