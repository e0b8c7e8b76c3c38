// DHCPv4 messages: the BOOTP layout and the options a client uses. Parse and emit only; the
// client's states live above this layer.
//
// Read first: RFC 2131 2 (the message, figure 1) and 4.1 (options in `file` and `sname`),
// RFC 2132 (the options; 9.3 overload), RFC 3396 (long options: every instance of a code is
// one value, concatenated), RFC 3442 (classless static routes), RFC 951 and RFC 1542 2.1 (BOOTP,
// and its 300-byte minimum).
//
// Not done: hardware other than Ethernet (htype 1, hlen 6) is refused; `emit` never puts
// options in `file` or `sname` (a client's messages fit in the options field); options other
// than those modelled here are kept as bytes, not interpreted (RFC 4361 client identifiers
// are option 61's bytes like any other).

/// The BOOTP `op` field (RFC 951): clients send requests, servers and relays send replies.
public enum DHCPOperation: UInt8, Hashable, Sendable {
  case bootRequest = 1
  case bootReply = 2
}

/// Option 53 (RFC 2132 9.6): what the message is. The eight types of RFC 2132; later ones
/// (FORCERENEW, the leasequery messages) are not for a client and are refused.
public enum DHCPMessageType: UInt8, Hashable, Sendable {
  case discover = 1
  case offer = 2
  case request = 3
  case decline = 4
  case ack = 5
  case nak = 6
  case release = 7
  case inform = 8
}

extension DHCPMessageType: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// tcpdump's names: `Discover`, `Offer`, `Request`, `Decline`, `ACK`, `NAK`, `Release`, `Inform`.
  public func write(to text: inout Text) {
    let name: StaticString =
      switch self {
      case .discover: "Discover"
      case .offer: "Offer"
      case .request: "Request"
      case .decline: "Decline"
      case .ack: "ACK"
      case .nak: "NAK"
      case .release: "Release"
      case .inform: "Inform"
      }
    text.append(literal: name)
  }
}

/// A DHCP option code: an open set (RFC 2132 and the IANA registry).
public struct DHCPOptionCode: RawRepresentable, Hashable, Sendable {
  public var rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  public static let pad = DHCPOptionCode(rawValue: 0)
  public static let subnetMask = DHCPOptionCode(rawValue: 1)
  public static let routers = DHCPOptionCode(rawValue: 3)
  public static let domainNameServers = DHCPOptionCode(rawValue: 6)
  public static let hostName = DHCPOptionCode(rawValue: 12)
  public static let domainName = DHCPOptionCode(rawValue: 15)
  public static let interfaceMTU = DHCPOptionCode(rawValue: 26)
  public static let broadcastAddress = DHCPOptionCode(rawValue: 28)
  public static let requestedAddress = DHCPOptionCode(rawValue: 50)
  public static let leaseTime = DHCPOptionCode(rawValue: 51)
  public static let overload = DHCPOptionCode(rawValue: 52)
  public static let messageType = DHCPOptionCode(rawValue: 53)
  public static let serverIdentifier = DHCPOptionCode(rawValue: 54)
  public static let parameterRequestList = DHCPOptionCode(rawValue: 55)
  public static let message = DHCPOptionCode(rawValue: 56)
  public static let maximumMessageSize = DHCPOptionCode(rawValue: 57)
  public static let renewalTime = DHCPOptionCode(rawValue: 58)
  public static let rebindingTime = DHCPOptionCode(rawValue: 59)
  public static let clientIdentifier = DHCPOptionCode(rawValue: 61)
  public static let classlessStaticRoutes = DHCPOptionCode(rawValue: 121)
  public static let end = DHCPOptionCode(rawValue: 255)

  /// The RFC's name for the codes this file knows (those `DHCPOptions` models, and pad,
  /// overload and end, which the parser consumes); nil for the others.
  var name: StaticString? {
    switch self {
    case .pad: "pad"
    case .subnetMask: "subnet mask"
    case .routers: "routers"
    case .domainNameServers: "domain name servers"
    case .hostName: "host name"
    case .domainName: "domain name"
    case .interfaceMTU: "interface MTU"
    case .broadcastAddress: "broadcast address"
    case .requestedAddress: "requested address"
    case .leaseTime: "lease time"
    case .overload: "overload"
    case .messageType: "message type"
    case .serverIdentifier: "server identifier"
    case .parameterRequestList: "parameter request list"
    case .message: "message"
    case .maximumMessageSize: "maximum message size"
    case .renewalTime: "renewal time"
    case .rebindingTime: "rebinding time"
    case .clientIdentifier: "client identifier"
    case .classlessStaticRoutes: "classless static routes"
    case .end: "end"
    default: nil
    }
  }
}

extension DHCPOptionCode: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// The number, and the name when the code is known: `1 (subnet mask)`.
  public func write(to text: inout Text) {
    if let name {
      text.append("\(rawValue) (\(Text(stringLiteral: name)))")
    } else {
      text.append(decimal: UInt64(rawValue))
    }
  }
}

/// Where an option was read: the options field, or `file` or `sname` when option 52 lends
/// them (RFC 2132 9.3).
public enum DHCPOptionArea: Hashable, Sendable {
  case options
  case file
  case serverName
}

extension DHCPOptionArea: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    let name: StaticString =
      switch self {
      case .options: "options field"
      case .file: "file field"
      case .serverName: "sname field"
      }
    text.append(literal: name)
  }
}

/// Why bytes were not accepted as a DHCP message. Only input causes these.
public enum DHCPError: Error, Hashable, Sendable {
  /// Shorter than the 236 bytes of BOOTP fields and the 4 of the magic cookie.
  case truncated
  /// `op` is neither BOOTREQUEST (1) nor BOOTREPLY (2).
  case badOperation(UInt8)
  /// A hardware type and address length other than Ethernet's (1, 6).
  case unsupportedHardware(type: UInt8, length: UInt8)
  /// The 4 bytes after `file` are not 99.130.83.99 (RFC 2131 3: not DHCP; a BOOTP message).
  case badMagicCookie(UInt32)
  /// An area holding options ends without the end option (RFC 2131 4.1: each must have one).
  case missingEnd(DHCPOptionArea)
  /// An option's length byte, or its value, lies past the end of its area.
  case optionPastEnd(DHCPOptionCode, DHCPOptionArea)
  /// A known option whose value (all its instances together, RFC 3396) has a length or value
  /// RFC 2132 (or RFC 3442) does not allow, or an overload option outside the options field.
  case malformedOption(DHCPOptionCode)
}

extension DHCPError: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// One line: what was wrong and what was expected.
  public func write(to text: inout Text) {
    switch self {
    case .truncated:
      text.append("DHCP message truncated: shorter than its 240 bytes of fixed fields and magic cookie")
    case .badOperation(let operation):
      text.append("DHCP message with op \(operation): expected 1 (BOOTREQUEST) or 2 (BOOTREPLY)")
    case .unsupportedHardware(let type, let length):
      text.append("DHCP message for hardware type \(type), address length \(length): only Ethernet (1, 6) is supported")
    case .badMagicCookie(let cookie):
      text.append("DHCP magic cookie \(IPv4Address(rawValue: cookie)): expected 99.130.83.99")
    case .missingEnd(let area):
      text.append("DHCP \(area) has no end option")
    case .optionPastEnd(let code, let area):
      text.append("DHCP option \(code) runs past the end of the \(area)")
    case .malformedOption(let code):
      text.append("malformed DHCP option \(code)")
    }
  }
}

/// Option 61 (RFC 2132 9.14): how the server tells clients apart. Type 1 with an Ethernet
/// address is what dhclient and udhcpc send; type 0 is any other identifier (a name).
public struct DHCPClientIdentifier: Hashable, Sendable {
  public var type: UInt8
  /// At least one byte.
  public var identifier: [UInt8]

  public init(type: UInt8, identifier: [UInt8]) {
    self.type = type
    self.identifier = identifier
  }

  /// Type 1 (Ethernet) and the address's six bytes.
  public init(hardwareAddress: MACAddress) {
    type = 1
    identifier = (0..<6).map { UInt8(truncatingIfNeeded: hardwareAddress.rawValue >> UInt64(40 - 8 * $0)) }
  }
}

/// One route of option 121 (RFC 3442): datagrams for `destination` go through `router`.
public struct DHCPClasslessRoute: Hashable, Sendable {
  /// Its address is the network's: bits past the prefix are zero (a parsed route never has
  /// others; `emit` writes only the octets the prefix covers, RFC 3442's encoding).
  public var destination: IPv4Network
  public var router: IPv4Address

  public init(destination: IPv4Network, router: IPv4Address) {
    self.destination = destination
    self.router = router
  }
}

/// An option `DHCPOptions` does not model: its code and its whole value (every instance's
/// bytes concatenated, RFC 3396), kept so that nothing received is lost.
public struct DHCPRawOption: Hashable, Sendable {
  public var code: DHCPOptionCode
  public var value: [UInt8]

  public init(code: DHCPOptionCode, value: [UInt8]) {
    self.code = code
    self.value = value
  }
}

/// The options of a message, each at most once (RFC 3396: a code's instances make one value).
/// An absent option is nil, or empty for lists and text (each of those has a minimum length
/// of 1, RFC 2132, so an empty one never goes on the wire). Times are in seconds
/// (0xffffffff: infinite, RFC 2131 3.3).
public struct DHCPOptions: Hashable, Sendable {
  /// 53: required in every DHCP message (RFC 2131 3); nil in a plain BOOTP one.
  public var messageType: DHCPMessageType?
  /// 54 (RFC 2132 9.7).
  public var serverIdentifier: IPv4Address?
  /// 50 (RFC 2132 9.1).
  public var requestedAddress: IPv4Address?
  /// 51 (RFC 2132 9.2).
  public var leaseTime: UInt32?
  /// 58, T1 (RFC 2132 9.11).
  public var renewalTime: UInt32?
  /// 59, T2 (RFC 2132 9.12).
  public var rebindingTime: UInt32?
  /// 1 (RFC 2132 3.3).
  public var subnetMask: IPv4Address?
  /// 28 (RFC 2132 5.3).
  public var broadcastAddress: IPv4Address?
  /// 3, in order of preference (RFC 2132 3.5). RFC 3442: a client that asked for
  /// `classlessStaticRoutes` and got them ignores these.
  public var routers: [IPv4Address]
  /// 6, in order of preference (RFC 2132 3.8).
  public var domainNameServers: [IPv4Address]
  /// 15 (RFC 2132 3.17), as sent (not checked as a name, no terminating NUL expected).
  public var domainName: [UInt8]
  /// 12 (RFC 2132 3.14), as sent.
  public var hostName: [UInt8]
  /// 26, at least 68 (RFC 2132 5.1).
  public var interfaceMTU: UInt16?
  /// 121 (RFC 3442), in the order sent.
  public var classlessStaticRoutes: [DHCPClasslessRoute]
  /// 61 (RFC 2132 9.14).
  public var clientIdentifier: DHCPClientIdentifier?
  /// 57, at least 576 (RFC 2132 9.10).
  public var maximumMessageSize: UInt16?
  /// 55 (RFC 2132 9.8), in the client's order of preference.
  public var parameterRequestList: [DHCPOptionCode]
  /// 56 (RFC 2132 9.9): an error message, e.g. in a NAK; as sent.
  public var message: [UInt8]
  /// Every option not modelled above (nor pad, end or overload), in the order first met.
  /// `emit` traps on a modelled code here, or a code twice.
  public var unknown: [DHCPRawOption]

  public init() {
    routers = []
    domainNameServers = []
    domainName = []
    hostName = []
    classlessStaticRoutes = []
    parameterRequestList = []
    message = []
    unknown = []
  }

  /// Bytes `emit` writes for the options, without the end option.
  public var bufferLength: Int {
    var length = 0
    forEachOption { _, value in length += Self.encodedLength(value.count) }
    return length
  }

  /// An option of `count` bytes as instances of at most 255 bytes each (RFC 3396 7), each
  /// behind its code and length bytes.
  static func encodedLength(_ count: Int) -> Int { count + 2 * max(1, (count + 254) / 255) }

  /// Whether `code` is one `unknown` must not hold: modelled here, or consumed by the parser.
  static func isModelled(_ code: DHCPOptionCode) -> Bool { code.name != nil }
}

// MARK: - Decoding

extension DHCPOptions {
  /// The options of `instances` (each code once, its instances' bytes concatenated), checked
  /// against RFC 2132's length and value rules; `.malformedOption` names the first that fails.
  init(decoding instances: [DHCPRawOption]) throws(DHCPError) {
    self.init()
    for option in instances { try take(option) }
  }

  private mutating func take(_ option: DHCPRawOption) throws(DHCPError) {
    let value = option.value
    let code = option.code
    switch code {
    case .messageType:
      guard value.count == 1, let type = DHCPMessageType(rawValue: value[0]) else { throw .malformedOption(code) }
      messageType = type
    case .serverIdentifier: serverIdentifier = try Self.address(value, code)
    case .requestedAddress: requestedAddress = try Self.address(value, code)
    case .leaseTime: leaseTime = try Self.seconds(value, code)
    case .renewalTime: renewalTime = try Self.seconds(value, code)
    case .rebindingTime: rebindingTime = try Self.seconds(value, code)
    case .subnetMask: subnetMask = try Self.address(value, code)
    case .broadcastAddress: broadcastAddress = try Self.address(value, code)
    case .routers: routers = try Self.addresses(value, code)
    case .domainNameServers: domainNameServers = try Self.addresses(value, code)
    case .domainName: domainName = try Self.text(value, code)
    case .hostName: hostName = try Self.text(value, code)
    case .interfaceMTU: interfaceMTU = try Self.size(value, code, minimum: 68)
    case .classlessStaticRoutes:
      guard let routes = Self.routes(value) else { throw .malformedOption(code) }
      classlessStaticRoutes = routes
    case .clientIdentifier:
      guard value.count >= 2 else { throw .malformedOption(code) }
      clientIdentifier = DHCPClientIdentifier(type: value[0], identifier: Array(value[1...]))
    case .maximumMessageSize: maximumMessageSize = try Self.size(value, code, minimum: 576)
    case .parameterRequestList:
      parameterRequestList = try Self.text(value, code).map { DHCPOptionCode(rawValue: $0) }
    case .message: message = try Self.text(value, code)
    default: unknown.append(option)
    }
  }

  private static func address(_ value: [UInt8], _ code: DHCPOptionCode) throws(DHCPError) -> IPv4Address {
    guard value.count == 4 else { throw .malformedOption(code) }
    return IPv4Address(rawValue: readUInt32(value, at: 0))
  }

  /// A list of one or more addresses (RFC 2132 3.5, 3.8: a multiple of 4, at least 4).
  private static func addresses(_ value: [UInt8], _ code: DHCPOptionCode) throws(DHCPError) -> [IPv4Address] {
    guard value.count >= 4, value.count % 4 == 0 else { throw .malformedOption(code) }
    return stride(from: 0, to: value.count, by: 4).map { IPv4Address(rawValue: readUInt32(value, at: $0)) }
  }

  private static func seconds(_ value: [UInt8], _ code: DHCPOptionCode) throws(DHCPError) -> UInt32 {
    guard value.count == 4 else { throw .malformedOption(code) }
    return readUInt32(value, at: 0)
  }

  private static func size(_ value: [UInt8], _ code: DHCPOptionCode, minimum: UInt16) throws(DHCPError) -> UInt16 {
    guard value.count == 2 else { throw .malformedOption(code) }
    let size = UInt16(value[0]) << 8 | UInt16(value[1])
    guard size >= minimum else { throw .malformedOption(code) }
    return size
  }

  /// Bytes with RFC 2132's minimum length of 1.
  private static func text(_ value: [UInt8], _ code: DHCPOptionCode) throws(DHCPError) -> [UInt8] {
    guard !value.isEmpty else { throw .malformedOption(code) }
    return value
  }

  /// RFC 3442's descriptors: a prefix length (0-32), the octets it covers (none for 0, one
  /// for 1-8, two for 9-16, three for 17-24, four for 25-32), then the router. nil when a
  /// length is over 32, a descriptor is cut short, or there is none (the minimum is 5 bytes).
  static func routes(_ value: [UInt8]) -> [DHCPClasslessRoute]? {
    var routes: [DHCPClasslessRoute] = []
    var offset = 0
    while offset < value.count {
      let prefixLength = Int(value[offset])
      guard prefixLength <= 32 else { return nil }
      let octets = (prefixLength + 7) / 8
      guard offset + 1 + octets + 4 <= value.count else { return nil }
      var address: UInt32 = 0
      for index in 0..<octets { address |= UInt32(value[offset + 1 + index]) << UInt32(24 - 8 * index) }
      let network = IPv4Network(address: IPv4Address(rawValue: address), prefixLength: prefixLength)
      routes.append(DHCPClasslessRoute(
        destination: IPv4Network(address: network.networkAddress, prefixLength: prefixLength),
        router: IPv4Address(rawValue: readUInt32(value, at: offset + 1 + octets))))
      offset += 1 + octets + 4
    }
    return routes.isEmpty ? nil : routes
  }
}

// MARK: - Encoding

extension DHCPOptions {
  /// Calls `body` with every option `emit` writes and its whole value, in the order written:
  /// message type and server identifier first, then the lease, then the configuration in
  /// dnsmasq's order, then what clients send in dhclient's and udhcpc's, then `unknown`.
  func forEachOption(_ body: (DHCPOptionCode, [UInt8]) -> Void) {
    if let messageType { body(.messageType, [messageType.rawValue]) }
    if let serverIdentifier { body(.serverIdentifier, bigEndianBytes(serverIdentifier.rawValue)) }
    if let requestedAddress { body(.requestedAddress, bigEndianBytes(requestedAddress.rawValue)) }
    if let leaseTime { body(.leaseTime, bigEndianBytes(leaseTime)) }
    if let renewalTime { body(.renewalTime, bigEndianBytes(renewalTime)) }
    if let rebindingTime { body(.rebindingTime, bigEndianBytes(rebindingTime)) }
    if let subnetMask { body(.subnetMask, bigEndianBytes(subnetMask.rawValue)) }
    if let broadcastAddress { body(.broadcastAddress, bigEndianBytes(broadcastAddress.rawValue)) }
    if !routers.isEmpty { body(.routers, routers.flatMap { bigEndianBytes($0.rawValue) }) }
    if !domainNameServers.isEmpty { body(.domainNameServers, domainNameServers.flatMap { bigEndianBytes($0.rawValue) }) }
    if !domainName.isEmpty { body(.domainName, domainName) }
    if !hostName.isEmpty { body(.hostName, hostName) }
    if let interfaceMTU {
      precondition(interfaceMTU >= 68, "DHCP interface MTU below 68 (RFC 2132 5.1)")
      body(.interfaceMTU, bigEndianBytes(interfaceMTU))
    }
    if !classlessStaticRoutes.isEmpty { body(.classlessStaticRoutes, Self.encoded(classlessStaticRoutes)) }
    if let clientIdentifier {
      precondition(!clientIdentifier.identifier.isEmpty, "DHCP client identifier without identifier bytes")
      body(.clientIdentifier, [clientIdentifier.type] + clientIdentifier.identifier)
    }
    if let maximumMessageSize {
      precondition(maximumMessageSize >= 576, "DHCP maximum message size below 576 (RFC 2132 9.10)")
      body(.maximumMessageSize, bigEndianBytes(maximumMessageSize))
    }
    if !parameterRequestList.isEmpty { body(.parameterRequestList, parameterRequestList.map { $0.rawValue }) }
    if !message.isEmpty { body(.message, message) }
    var seen = [Bool](repeating: false, count: 256)
    for option in unknown {
      precondition(!Self.isModelled(option.code), "a modelled DHCP option among the unknown ones")
      precondition(!seen[Int(option.code.rawValue)], "a DHCP option code twice among the unknown ones")
      seen[Int(option.code.rawValue)] = true
      body(option.code, option.value)
    }
  }

  static func encoded(_ routes: [DHCPClasslessRoute]) -> [UInt8] {
    var bytes: [UInt8] = []
    for route in routes {
      let prefixLength = route.destination.prefixLength
      bytes.append(UInt8(prefixLength))
      bytes += bigEndianBytes(route.destination.networkAddress.rawValue).prefix((prefixLength + 7) / 8)
      bytes += bigEndianBytes(route.router.rawValue)
    }
    return bytes
  }

  /// Writes the options at the start of `area` (at least `bufferLength` bytes), each value
  /// longer than 255 bytes as consecutive instances (RFC 3396 7); returns the bytes written.
  func emit(into area: UnsafeMutableRawBufferPointer) -> Int {
    var offset = 0
    forEachOption { code, value in
      var start = 0
      repeat {
        let length = min(255, value.count - start)
        area.writeUInt8(code.rawValue, at: offset)
        area.writeUInt8(UInt8(length), at: offset + 1)
        area.write(value[start..<(start + length)], at: offset + 2)
        offset += 2 + length
        start += length
      } while start < value.count
    }
    return offset
  }
}

// MARK: - The message

/// A DHCP message (RFC 2131 2, figure 1) on Ethernet, the UDP payload between ports 67 and 68.
///
/// `parse` checks the fixed fields' length, `op`, the hardware type and the magic cookie, then
/// reads options from the options field and, when option 52 says so, from `file` then `sname`
/// (RFC 2131 4.1), concatenating every code's instances (RFC 3396), and checks each known
/// option (RFC 2132). Bytes after the options field's end option are ignored. `emit` writes
/// the fixed fields, every option in the options field, an end option, and zeros up to the
/// BOOTP minimum of 300 bytes.
public struct DHCPMessage: Hashable, Sendable {
  enum Field {
    static let operation = 0
    static let hardwareType = 1
    static let hardwareAddressLength = 2
    static let hops = 3
    static let transactionID = 4
    static let secondsElapsed = 8
    static let flags = 10
    static let clientAddress = 12
    static let yourAddress = 16
    static let serverAddress = 20
    static let relayAgentAddress = 24
    static let clientHardwareAddress = 28
    static let serverName = 44
    static let bootFileName = 108
    static let magicCookie = 236
    static let options = 240
  }

  static let clientHardwareAddressLength = 16
  public static let serverNameLength = 64
  public static let bootFileNameLength = 128
  /// 99.130.83.99 (RFC 2131 3, RFC 1497).
  public static let magicCookie: UInt32 = 0x6382_5363
  /// The fixed fields and the magic cookie: the shortest input `parse` reads options from.
  public static let fixedLength = 240
  /// The shortest message `emit` writes (RFC 1542 2.1: BOOTP's 64-byte vendor field; the
  /// Linux kernel's own client and some relays drop anything shorter, so dnsmasq and udhcpc pad).
  public static let minimumLength = 300
  public static let serverPort: UInt16 = 67
  public static let clientPort: UInt16 = 68
  /// The broadcast bit of `flags` (RFC 2131 2, figure 2); the other bits must be zero and are ignored.
  static let broadcastFlag: UInt16 = 0x8000

  public var operation: DHCPOperation
  /// Relay agents count their hops here (RFC 1542 4.1.1); clients send 0.
  public var hops: UInt8
  public var transactionID: UInt32
  /// Seconds since the client began acquiring or renewing an address.
  public var secondsElapsed: UInt16
  /// Asks servers and relays to broadcast their replies (RFC 2131 4.1): for clients that
  /// cannot receive unicast before they have an address.
  public var broadcast: Bool
  /// `ciaddr`: the client's address, when it has one it can answer ARP for (BOUND, RENEWING,
  /// REBINDING, RFC 2131 4.4.1).
  public var clientAddress: IPv4Address
  /// `yiaddr`: the address the server offers or assigns.
  public var yourAddress: IPv4Address
  /// `siaddr`: the next server to use in bootstrap (TFTP), not the DHCP server (that is
  /// option 54).
  public var serverAddress: IPv4Address
  /// `giaddr`: the relay agent's address, 0 when none.
  public var relayAgentAddress: IPv4Address
  /// `chaddr`, whose other 10 bytes are ignored on input and zero on output.
  public var clientHardwareAddress: MACAddress
  /// `sname` up to its first NUL (at most 64 bytes); empty when unused or lent to options.
  public var serverName: [UInt8]
  /// `file` up to its first NUL (at most 128 bytes); empty when unused or lent to options.
  public var bootFileName: [UInt8]
  public var options: DHCPOptions

  public init(
    operation: DHCPOperation, transactionID: UInt32, clientHardwareAddress: MACAddress,
    secondsElapsed: UInt16 = 0, broadcast: Bool = false, hops: UInt8 = 0,
    clientAddress: IPv4Address = .any, yourAddress: IPv4Address = .any, serverAddress: IPv4Address = .any,
    relayAgentAddress: IPv4Address = .any, serverName: [UInt8] = [], bootFileName: [UInt8] = [],
    options: DHCPOptions = DHCPOptions()
  ) {
    self.operation = operation
    self.hops = hops
    self.transactionID = transactionID
    self.secondsElapsed = secondsElapsed
    self.broadcast = broadcast
    self.clientAddress = clientAddress
    self.yourAddress = yourAddress
    self.serverAddress = serverAddress
    self.relayAgentAddress = relayAgentAddress
    self.clientHardwareAddress = clientHardwareAddress
    self.serverName = serverName
    self.bootFileName = bootFileName
    self.options = options
  }

  /// Bytes `emit` writes: the fixed fields, the options and an end option, at least 300.
  public var bufferLength: Int { max(Self.minimumLength, Field.options + options.bufferLength + 1) }

  /// Parses the message in `bytes`, the whole UDP payload. See the type's comment for what is
  /// checked, and `DHCPError` for the refusals (the first found: fixed fields, then each area
  /// in reading order, then each option's value).
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(DHCPError) -> DHCPMessage {
    guard bytes.count >= fixedLength else { throw .truncated }
    let operationValue = bytes.readUInt8(at: Field.operation)
    guard let operation = DHCPOperation(rawValue: operationValue) else { throw .badOperation(operationValue) }
    let hardwareType = bytes.readUInt8(at: Field.hardwareType)
    let hardwareLength = bytes.readUInt8(at: Field.hardwareAddressLength)
    guard hardwareType == 1, hardwareLength == 6 else {
      throw .unsupportedHardware(type: hardwareType, length: hardwareLength)
    }
    let cookie = bytes.readUInt32(at: Field.magicCookie)
    guard cookie == magicCookie else { throw .badMagicCookie(cookie) }

    let serverNameField = bytes.slice(from: Field.serverName, length: serverNameLength)
    let fileField = bytes.slice(from: Field.bootFileName, length: bootFileNameLength)
    var instances = DHCPOptionInstances()
    try instances.scan(bytes.suffix(from: Field.options), .options)
    let overload = try instances.overloadedFields()
    if overload.file { try instances.scan(fileField, .file) }
    if overload.serverName { try instances.scan(serverNameField, .serverName) }
    let options = try DHCPOptions(decoding: instances.options)

    return DHCPMessage(
      operation: operation,
      transactionID: bytes.readUInt32(at: Field.transactionID),
      clientHardwareAddress: .read(from: bytes, at: Field.clientHardwareAddress),
      secondsElapsed: bytes.readUInt16(at: Field.secondsElapsed),
      broadcast: bytes.readUInt16(at: Field.flags) & broadcastFlag != 0,
      hops: bytes.readUInt8(at: Field.hops),
      clientAddress: .read(from: bytes, at: Field.clientAddress),
      yourAddress: .read(from: bytes, at: Field.yourAddress),
      serverAddress: .read(from: bytes, at: Field.serverAddress),
      relayAgentAddress: .read(from: bytes, at: Field.relayAgentAddress),
      serverName: overload.serverName ? [] : Array(serverNameField.prefix { $0 != 0 }),
      bootFileName: overload.file ? [] : Array(fileField.prefix { $0 != 0 }),
      options: options)
  }

  /// Writes `bufferLength` bytes at the start of `bytes` (which must hold them).
  public func emit(into bytes: UnsafeMutableRawBufferPointer) {
    let length = bufferLength
    precondition(bytes.count >= length, "buffer too small for the DHCP message")
    precondition(serverName.count <= Self.serverNameLength, "DHCP server name longer than sname's 64 bytes")
    precondition(bootFileName.count <= Self.bootFileNameLength, "DHCP boot file name longer than file's 128 bytes")
    bytes.writeUInt8(operation.rawValue, at: Field.operation)
    bytes.writeUInt8(1, at: Field.hardwareType)
    bytes.writeUInt8(6, at: Field.hardwareAddressLength)
    bytes.writeUInt8(hops, at: Field.hops)
    bytes.writeUInt32(transactionID, at: Field.transactionID)
    bytes.writeUInt16(secondsElapsed, at: Field.secondsElapsed)
    bytes.writeUInt16(broadcast ? Self.broadcastFlag : 0, at: Field.flags)
    clientAddress.write(to: bytes, at: Field.clientAddress)
    yourAddress.write(to: bytes, at: Field.yourAddress)
    serverAddress.write(to: bytes, at: Field.serverAddress)
    relayAgentAddress.write(to: bytes, at: Field.relayAgentAddress)
    clientHardwareAddress.write(to: bytes, at: Field.clientHardwareAddress)
    bytes.zero(from: Field.clientHardwareAddress + 6, to: Field.serverName)
    bytes.write(serverName[...], at: Field.serverName)
    bytes.zero(from: Field.serverName + serverName.count, to: Field.bootFileName)
    bytes.write(bootFileName[...], at: Field.bootFileName)
    bytes.zero(from: Field.bootFileName + bootFileName.count, to: Field.magicCookie)
    bytes.writeUInt32(Self.magicCookie, at: Field.magicCookie)
    let end = Field.options + options.emit(into: bytes.suffix(from: Field.options))
    bytes.writeUInt8(DHCPOptionCode.end.rawValue, at: end)
    bytes.zero(from: end + 1, to: length)
  }
}

extension DHCPMessage: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// `DHCP Offer, xid 0x3903f326, chaddr 52:54:00:12:34:56, yiaddr 192.168.1.100, server
  /// 192.168.1.1, lease 43200 s`: the type (or `BOOTP request`/`reply`), then what is set.
  public func write(to text: inout Text) {
    if let type = options.messageType {
      text.append("DHCP \(type)")
    } else {
      text.append(operation == .bootRequest ? "BOOTP request" : "BOOTP reply")
    }
    text.append(", xid 0x")
    for shift in stride(from: 24, through: 0, by: -8) {
      text.append(hexByte: UInt8(truncatingIfNeeded: transactionID >> UInt32(shift)))
    }
    text.append(", chaddr \(clientHardwareAddress)")
    if !clientAddress.isUnspecified { text.append(", ciaddr \(clientAddress)") }
    if !yourAddress.isUnspecified { text.append(", yiaddr \(yourAddress)") }
    if let server = options.serverIdentifier { text.append(", server \(server)") }
    if let requested = options.requestedAddress { text.append(", requested \(requested)") }
    if let lease = options.leaseTime { text.append(", lease \(lease) s") }
    if broadcast { text.append(", broadcast") }
  }
}

// MARK: - Reading the option areas

/// Every option instance read so far, in the order RFC 3396 5 concatenates them: the options
/// field, then `file`, then `sname`. Each code's values are one `DHCPRawOption`.
struct DHCPOptionInstances {
  private(set) var options: [DHCPRawOption] = []
  /// Index in `options` of each code, -1 until met.
  private var positions = [Int](repeating: -1, count: 256)
  /// Option 52's value, nil when absent.
  private var overload: [UInt8]?

  /// Reads the options of one area up to its end option (RFC 2131 4.1: each area has one).
  mutating func scan(_ area: UnsafeRawBufferPointer, _ which: DHCPOptionArea) throws(DHCPError) {
    var offset = 0
    while true {
      guard offset < area.count else { throw .missingEnd(which) }
      let code = DHCPOptionCode(rawValue: area.readUInt8(at: offset))
      if code == .end { return }
      if code == .pad {
        offset += 1
        continue
      }
      guard offset + 2 <= area.count else { throw .optionPastEnd(code, which) }
      let length = Int(area.readUInt8(at: offset + 1))
      guard offset + 2 + length <= area.count else { throw .optionPastEnd(code, which) }
      let value = area.slice(from: offset + 2, length: length)
      if code == .overload {
        // RFC 2131 4.1: it must be in the options field; in `file` or `sname` it could only
        // lend them again.
        guard which == .options else { throw .malformedOption(code) }
        overload = (overload ?? []) + value
      } else if positions[Int(code.rawValue)] >= 0 {
        options[positions[Int(code.rawValue)]].value += value
      } else {
        positions[Int(code.rawValue)] = options.count
        options.append(DHCPRawOption(code: code, value: Array(value)))
      }
      offset += 2 + length
    }
  }

  /// Which fields option 52 lends to options (RFC 2132 9.3: 1 `file`, 2 `sname`, 3 both).
  func overloadedFields() throws(DHCPError) -> (file: Bool, serverName: Bool) {
    guard let overload else { return (false, false) }
    guard overload.count == 1, (1...3).contains(overload[0]) else { throw .malformedOption(.overload) }
    return (overload[0] & 1 != 0, overload[0] & 2 != 0)
  }
}

// MARK: - Byte helpers

/// `value`'s bytes, most significant first.
private func bigEndianBytes<Value: FixedWidthInteger & UnsignedInteger>(_ value: Value) -> [UInt8] {
  (0..<Value.bitWidth / 8).map { UInt8(truncatingIfNeeded: value >> (Value.bitWidth - 8 - 8 * $0)) }
}

private func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
  UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

extension UnsafeMutableRawBufferPointer {
  /// Copies `source` to `offset`.
  fileprivate func write(_ source: ArraySlice<UInt8>, at offset: Int) {
    precondition(offset >= 0 && offset + source.count <= count, "wire write past the buffer")
    for (index, byte) in source.enumerated() { storeBytes(of: byte, toByteOffset: offset + index, as: UInt8.self) }
  }

  /// Zeros the bytes from `start` up to `end`.
  fileprivate func zero(from start: Int, to end: Int) {
    precondition(start >= 0 && start <= end && end <= count, "wire write past the buffer")
    for offset in start..<end { storeBytes(of: 0, toByteOffset: offset, as: UInt8.self) }
  }
}
