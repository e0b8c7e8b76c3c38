// DHCP messages (RFC 2131, RFC 2132, RFC 3396, RFC 3442): deconstruct, construct, round trip,
// description, option overload and long options, classless routes, negative vectors, and
// hostile input (every truncation, flipped bytes).
//
// The vectors are written by hand from RFC 2131's figure 1: 236 bytes of fixed fields (op,
// htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file),
// the magic cookie 63825363, the options, the end option and zeros. Each is laid out as the
// implementation it names sends that message (its option order and contents, from its source),
// for a client 52:54:00:12:34:56 ("sirocco") and a dnsmasq server 192.168.1.1 on
// 192.168.1.0/24 (dhcp-range=192.168.1.50,192.168.1.150,12h, domain=lan).

import XCTest

@testable import SiroccoWire

/// A message as laid out by hand: the fixed fields, the options field's options (each its
/// code, length and value), then the end option and `pad` zeros.
struct DHCPVector {
  var fixed: [UInt8]
  var options: [[UInt8]]
  var pad: Int

  var bytes: [UInt8] {
    fixed + DHCPVectors.cookie + options.flatMap { $0 } + [0xff] + [UInt8](repeating: 0, count: pad)
  }

  /// Where the end option is.
  var endOffset: Int { 240 + options.reduce(0) { $0 + $1.count } }
}

enum DHCPVectors {
  static let cookie = bytes("63825363")
  static let xid: UInt32 = 0x3903_f326
  static let server = IPv4Address(192, 168, 1, 1)
  static let offered = IPv4Address(192, 168, 1, 100)
  static let sirocco = Array("sirocco".utf8)

  /// op, htype 1, hlen 6, hops 0, xid 3903f326, secs 0, `flags`, ciaddr 0, `yiaddr`,
  /// `siaddr`, giaddr 0, chaddr 525400123456 and ten zeros; then sname (64) and file (128), zero.
  static func fixed(op: String, flags: String = "0000", yiaddr: String = "00000000", siaddr: String = "00000000")
    -> [UInt8]
  {
    bytes(
      """
      \(op) 01 06 00  3903f326  0000 \(flags)
      00000000 \(yiaddr) \(siaddr) 00000000
      525400123456 00000000000000000000
      """) + [UInt8](repeating: 0, count: 64 + 128)
  }

  /// ISC dhclient 4.4 with Debian's dhclient.conf, after a reboot: DISCOVER asking for the
  /// address it held (50: 192.168.1.100), with its host name (12: "sirocco") and 13 requested
  /// options (55: subnet mask, broadcast, time offset, routers, domain name, DNS, domain
  /// search, host name, NetBIOS name servers and scope, MTU, classless routes, NTP). No
  /// broadcast flag; 26 zeros pad it to 300 bytes.
  static let dhclientDiscover = DHCPVector(
    fixed: fixed(op: "01"),
    options: [
      bytes("35 01 01"),
      bytes("32 04 c0a80164"),
      bytes("0c 07 7369726f63636f"),
      bytes("37 0d 01 1c 02 03 0f 06 77 0c 2c 2f 1a 79 2a"),
    ],
    pad: 26)

  /// busybox 1.36 udhcpc: DISCOVER with the message type from its header, maximum message
  /// size 576 (57), its OPTION_REQ options in code order (55: subnet mask, routers, DNS, host
  /// name, domain name, broadcast, NTP), then its option list in code order: vendor class
  /// "udhcp 1.36.1" (60, not modelled) and client identifier type 1 and its MAC (61). 20 zeros
  /// pad it to 300 bytes.
  static let udhcpcDiscover = DHCPVector(
    fixed: fixed(op: "01"),
    options: [
      bytes("35 01 01"),
      bytes("39 02 0240"),
      bytes("37 07 01 03 06 0c 0f 1c 2a"),
      bytes("3c 0c 7564686370 20 312e33362e31"),
      bytes("3d 07 01 525400123456"),
    ],
    pad: 20)

  /// dnsmasq's OFFER to dhclient's DISCOVER: yiaddr 192.168.1.100, siaddr its own address
  /// (next server); message type, server identifier, lease 43200 s, T1 21600 s and T2 37800 s
  /// (half and seven eighths), then what do_options adds in its order: subnet mask, broadcast,
  /// router, DNS server (itself), domain name "lan", and the client's host name back. 306
  /// bytes: past 300, so no padding.
  static let dnsmasqOptions: [[UInt8]] = [
    bytes("36 04 c0a80101"),
    bytes("33 04 0000a8c0"),
    bytes("3a 04 00005460"),
    bytes("3b 04 000093a8"),
    bytes("01 04 ffffff00"),
    bytes("1c 04 c0a801ff"),
    bytes("03 04 c0a80101"),
    bytes("06 04 c0a80101"),
    bytes("0f 03 6c616e"),
    bytes("0c 07 7369726f63636f"),
  ]
  static let dnsmasqOffer = DHCPVector(
    fixed: fixed(op: "02", yiaddr: "c0a80164", siaddr: "c0a80101"),
    options: [bytes("35 01 02")] + dnsmasqOptions,
    pad: 0)

  /// dnsmasq's ACK to the REQUEST that follows: the OFFER's options, then two configured
  /// with dhcp-option: MTU 1500 (26) and classless routes (121) 10.0.0.0/8 via
  /// 192.168.1.254 and the default route via 192.168.1.1 (RFC 3442: with 121 the client
  /// ignores option 3, so the default route is repeated here). 323 bytes.
  static let dnsmasqAck = DHCPVector(
    fixed: fixed(op: "02", yiaddr: "c0a80164", siaddr: "c0a80101"),
    options: [bytes("35 01 05")] + dnsmasqOptions + [
      bytes("1a 02 05dc"),
      bytes("79 0b 08 0a c0a801fe 00 c0a80101"),
    ],
    pad: 0)

  /// dnsmasq's NAK to a client that asked for broadcast replies (flags 8000, echoed) and an
  /// address outside the range: message type, server identifier and the reason (56:
  /// "address not available"), yiaddr and siaddr zero. 27 zeros pad it to 300 bytes.
  static let dnsmasqNak = DHCPVector(
    fixed: fixed(op: "02", flags: "8000"),
    options: [
      bytes("35 01 06"),
      bytes("36 04 c0a80101"),
      bytes("38 15 61646472657373 20 6e6f74 20 617661696c61626c65"),
    ],
    pad: 27)

  static let all = [dhclientDiscover, udhcpcDiscover, dnsmasqOffer, dnsmasqAck, dnsmasqNak]

  /// Not from an implementation: an ACK whose options use `file` and `sname` too (52: 3) and
  /// split three of them across the areas (RFC 3396). Options field: message type, overload,
  /// server identifier, domain name "ex", router 192.168.1.1, end, 37 zeros (300 bytes).
  /// `file`: lease 3600 s, domain name "ample", router 192.168.1.2, two pads, end, zeros.
  /// `sname`: subnet mask, domain name ".org", end, zeros. So: "example.org" and two routers,
  /// concatenated in the order options field, file, sname.
  static var overloaded: [UInt8] {
    let sname = bytes("01 04 ffffff00  0f 04 2e6f7267  ff")
    let file = bytes("33 04 00000e10  0f 05 616d706c65  03 04 c0a80102  00 00  ff")
    return bytes(
      """
      02 01 06 00  3903f326  0000 0000
      00000000 c0a80164 00000000 00000000
      525400123456 00000000000000000000
      """)
      + sname + [UInt8](repeating: 0, count: 64 - sname.count)
      + file + [UInt8](repeating: 0, count: 128 - file.count)
      + cookie
      + bytes("35 01 05  34 01 03  36 04 c0a80101  0f 02 6578  03 04 c0a80101  ff")
      + [UInt8](repeating: 0, count: 37)
  }

  /// A dhclient DISCOVER whose options field holds `options` (hex) and an end option.
  static func discover(options: String) -> [UInt8] {
    fixed(op: "01") + cookie + bytes(options) + [0xff] + [UInt8](repeating: 0, count: 60)
  }
}

final class DHCPTests: XCTestCase {
  typealias Vectors = DHCPVectors

  private func parseDHCP(_ data: [UInt8]) throws(DHCPError) -> DHCPMessage {
    try data.withUnsafeBytes { raw in Result { () throws(DHCPError) in try DHCPMessage.parse(raw) } }.get()
  }

  private func emitted(_ message: DHCPMessage, into buffer: [UInt8]? = nil) -> [UInt8] {
    emitting(into: buffer ?? filled(message.bufferLength)) { message.emit(into: $0) }
  }

  /// Asserts that parsing `data` fails with exactly `expected`.
  private func assertRefused(
    _ expected: DHCPError, _ data: [UInt8], _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line
  ) {
    do {
      let parsed = try parseDHCP(data)
      XCTFail("expected \(expected), parsed \(parsed) \(message())", file: file, line: line)
    } catch {
      XCTAssertEqual(error, expected, message(), file: file, line: line)
    }
  }

  // MARK: Models of the vectors

  static var discover: DHCPMessage {
    var options = DHCPOptions()
    options.messageType = .discover
    options.requestedAddress = Vectors.offered
    options.hostName = Vectors.sirocco
    options.parameterRequestList = [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42].map { DHCPOptionCode(rawValue: $0) }
    return DHCPMessage(operation: .bootRequest, transactionID: Vectors.xid, clientHardwareAddress: macA, options: options)
  }

  static var offer: DHCPMessage {
    var options = DHCPOptions()
    options.messageType = .offer
    options.serverIdentifier = Vectors.server
    options.leaseTime = 43200
    options.renewalTime = 21600
    options.rebindingTime = 37800
    options.subnetMask = IPv4Address(255, 255, 255, 0)
    options.broadcastAddress = IPv4Address(192, 168, 1, 255)
    options.routers = [Vectors.server]
    options.domainNameServers = [Vectors.server]
    options.domainName = Array("lan".utf8)
    options.hostName = Vectors.sirocco
    return DHCPMessage(
      operation: .bootReply, transactionID: Vectors.xid, clientHardwareAddress: macA, yourAddress: Vectors.offered,
      serverAddress: Vectors.server, options: options)
  }

  static var ack: DHCPMessage {
    var message = offer
    message.options.messageType = .ack
    message.options.interfaceMTU = 1500
    message.options.classlessStaticRoutes = [
      DHCPClasslessRoute(destination: IPv4Network("10.0.0.0/8")!, router: IPv4Address(192, 168, 1, 254)),
      DHCPClasslessRoute(destination: IPv4Network("0.0.0.0/0")!, router: Vectors.server),
    ]
    return message
  }

  static var nak: DHCPMessage {
    var options = DHCPOptions()
    options.messageType = .nak
    options.serverIdentifier = Vectors.server
    options.message = Array("address not available".utf8)
    return DHCPMessage(
      operation: .bootReply, transactionID: Vectors.xid, clientHardwareAddress: macA, broadcast: true, options: options)
  }

  // MARK: Deconstruct

  func testVectorLengths() {
    // The premise of the padding tests: what each vector's comment says.
    XCTAssertEqual(Vectors.all.map { $0.bytes.count }, [300, 300, 306, 323, 300])
    XCTAssertEqual(Vectors.overloaded.count, 300)
  }

  func testDeconstructDhclientDiscover() throws {
    let message = try parseDHCP(Vectors.dhclientDiscover.bytes)
    XCTAssertEqual(message.operation, .bootRequest)
    XCTAssertEqual(message.hops, 0)
    XCTAssertEqual(message.transactionID, 0x3903_f326)
    XCTAssertEqual(message.secondsElapsed, 0)
    XCTAssertFalse(message.broadcast)
    XCTAssertEqual(message.clientAddress, .any)
    XCTAssertEqual(message.yourAddress, .any)
    XCTAssertEqual(message.serverAddress, .any)
    XCTAssertEqual(message.relayAgentAddress, .any)
    XCTAssertEqual(message.clientHardwareAddress, macA)
    XCTAssertEqual(message.serverName, [])
    XCTAssertEqual(message.bootFileName, [])
    XCTAssertEqual(message.options.messageType, .discover)
    XCTAssertEqual(message.options.requestedAddress, Vectors.offered)
    XCTAssertEqual(message.options.hostName, Vectors.sirocco)
    XCTAssertEqual(
      message.options.parameterRequestList.map(\.rawValue), [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42])
    XCTAssertEqual(message.options.unknown, [])
    XCTAssertEqual(message, Self.discover)
  }

  func testDeconstructUdhcpcDiscover() throws {
    let message = try parseDHCP(Vectors.udhcpcDiscover.bytes)
    XCTAssertEqual(message.options.messageType, .discover)
    XCTAssertEqual(message.options.maximumMessageSize, 576)
    XCTAssertEqual(message.options.parameterRequestList, [.subnetMask, .routers, .domainNameServers, .hostName, .domainName, .broadcastAddress, DHCPOptionCode(rawValue: 42)])
    XCTAssertEqual(message.options.clientIdentifier, DHCPClientIdentifier(hardwareAddress: macA))
    XCTAssertEqual(message.options.clientIdentifier?.type, 1)
    XCTAssertEqual(message.options.clientIdentifier?.identifier, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
    // The vendor class is not modelled: kept as bytes.
    XCTAssertEqual(message.options.unknown, [DHCPRawOption(code: DHCPOptionCode(rawValue: 60), value: Array("udhcp 1.36.1".utf8))])
    XCTAssertNil(message.options.requestedAddress)
    XCTAssertEqual(message.options.hostName, [])
  }

  func testDeconstructDnsmasqOffer() throws {
    let message = try parseDHCP(Vectors.dnsmasqOffer.bytes)
    XCTAssertEqual(message.operation, .bootReply)
    XCTAssertEqual(message.yourAddress, Vectors.offered)
    XCTAssertEqual(message.serverAddress, Vectors.server)
    XCTAssertEqual(message.clientHardwareAddress, macA)
    let options = message.options
    XCTAssertEqual(options.messageType, .offer)
    XCTAssertEqual(options.serverIdentifier, Vectors.server)
    XCTAssertEqual(options.leaseTime, 43200)
    XCTAssertEqual(options.renewalTime, 21600)
    XCTAssertEqual(options.rebindingTime, 37800)
    XCTAssertEqual(options.subnetMask, IPv4Address(255, 255, 255, 0))
    XCTAssertEqual(options.broadcastAddress, IPv4Address(192, 168, 1, 255))
    XCTAssertEqual(options.routers, [Vectors.server])
    XCTAssertEqual(options.domainNameServers, [Vectors.server])
    XCTAssertEqual(options.domainName, Array("lan".utf8))
    XCTAssertEqual(options.hostName, Vectors.sirocco)
    XCTAssertEqual(options.classlessStaticRoutes, [])
    XCTAssertNil(options.interfaceMTU)
    XCTAssertEqual(message, Self.offer)
  }

  func testDeconstructDnsmasqAck() throws {
    let message = try parseDHCP(Vectors.dnsmasqAck.bytes)
    XCTAssertEqual(message.options.messageType, .ack)
    XCTAssertEqual(message.options.interfaceMTU, 1500)
    XCTAssertEqual(message.options.classlessStaticRoutes.map(\.destination), [IPv4Network("10.0.0.0/8")!, IPv4Network("0.0.0.0/0")!])
    XCTAssertEqual(message.options.classlessStaticRoutes.map(\.router), [IPv4Address(192, 168, 1, 254), Vectors.server])
    XCTAssertEqual(message.options.routers, [Vectors.server], "option 3 is parsed too; ignoring it is the client's choice")
    XCTAssertEqual(message, Self.ack)
  }

  func testDeconstructDnsmasqNak() throws {
    let message = try parseDHCP(Vectors.dnsmasqNak.bytes)
    XCTAssertEqual(message.options.messageType, .nak)
    XCTAssertTrue(message.broadcast)
    XCTAssertEqual(message.yourAddress, .any)
    XCTAssertEqual(message.options.message, Array("address not available".utf8))
    XCTAssertEqual(message, Self.nak)
  }

  func testDeconstructIgnoresReservedFlagsAndChaddrPadding() throws {
    // RFC 2131 2: the flags other than broadcast must be zero and are ignored; chaddr past
    // hlen bytes is not the address.
    var data = Vectors.dnsmasqNak.bytes
    data[10] = 0xff
    data[11] = 0xff
    data[34] = 0xaa
    data[43] = 0xbb
    let message = try parseDHCP(data)
    XCTAssertTrue(message.broadcast)
    XCTAssertEqual(message.clientHardwareAddress, macA)
    XCTAssertEqual(message, Self.nak)
    data[10] = 0x7f
    XCTAssertFalse(try parseDHCP(data).broadcast)
  }

  func testDeconstructServerNameAndFile() throws {
    // sname and file, not lent to options, are names up to their first NUL (or the whole field).
    var data = Vectors.dnsmasqOffer.bytes
    data.replaceSubrange(44..<(44 + 9), with: Array("tftp.lan\0".utf8))
    data.replaceSubrange(53..<56, with: Array("xyz".utf8))  // after the NUL: not part of the name
    data.replaceSubrange(108..<236, with: [UInt8](repeating: UInt8(ascii: "f"), count: 128))
    let message = try parseDHCP(data)
    XCTAssertEqual(message.serverName, Array("tftp.lan".utf8))
    XCTAssertEqual(message.bootFileName, [UInt8](repeating: UInt8(ascii: "f"), count: 128))
    XCTAssertEqual(message.options, Self.offer.options)
  }

  func testDeconstructIgnoresBytesAfterTheEndOption() throws {
    // Padding need not be zeros, and every prefix that keeps the end option parses the same.
    for vector in Vectors.all {
      let expected = try parseDHCP(vector.bytes)
      var data = vector.bytes + [0x01, 0x04, 0xde, 0xad]
      for index in (vector.endOffset + 1)..<data.count { data[index] = 0x63 }
      XCTAssertEqual(try parseDHCP(data), expected)
      for length in (vector.endOffset + 1)...vector.bytes.count {
        XCTAssertEqual(try parseDHCP(Array(vector.bytes[0..<length])), expected, "length \(length)")
      }
    }
  }

  // MARK: Construct

  func testConstruct() {
    for (model, vector) in [(Self.discover, Vectors.dhclientDiscover), (Self.offer, Vectors.dnsmasqOffer),
                            (Self.ack, Vectors.dnsmasqAck), (Self.nak, Vectors.dnsmasqNak)] {
      XCTAssertEqual(model.bufferLength, vector.bytes.count, "\(model)")
      assertBytes(emitted(model), vector.bytes, "\(model)")
    }
  }

  func testConstructPadsToTheBOOTPMinimum() throws {
    // RFC 1542 2.1: at least 300 bytes, zeros after the end option (written, not left as
    // they were in the buffer); a longer buffer is not touched past the message.
    var options = DHCPOptions()
    options.messageType = .release
    options.serverIdentifier = Vectors.server
    let release = DHCPMessage(
      operation: .bootRequest, transactionID: 7, clientHardwareAddress: macA, clientAddress: Vectors.offered,
      options: options)
    XCTAssertEqual(release.bufferLength, 300)
    let out = emitted(release, into: filled(340))
    XCTAssertEqual(Array(out[240..<250]), bytes("35 01 07 36 04 c0a80101 ff"))
    XCTAssertEqual(Array(out[250..<300]), [UInt8](repeating: 0, count: 50))
    XCTAssertEqual(Array(out[300...]), filled(40))
    XCTAssertEqual(try parseDHCP(out), release)
    // A BOOTP message without options is still 300 bytes, with just an end option.
    let bare = DHCPMessage(operation: .bootRequest, transactionID: 1, clientHardwareAddress: macB)
    XCTAssertEqual(bare.bufferLength, 300)
    let empty = emitted(bare)
    XCTAssertEqual(empty[240], 0xff)
    XCTAssertEqual(try parseDHCP(empty), bare)
  }

  func testConstructWritesEveryFixedField() throws {
    var message = Self.discover
    message.hops = 3
    message.secondsElapsed = 0x1234
    message.broadcast = true
    message.clientAddress = IPv4Address(10, 0, 0, 1)
    message.yourAddress = IPv4Address(10, 0, 0, 2)
    message.serverAddress = IPv4Address(10, 0, 0, 3)
    message.relayAgentAddress = IPv4Address(10, 0, 0, 4)
    message.serverName = Array("boot.lan".utf8)
    message.bootFileName = [UInt8](repeating: 0x41, count: 128)
    let out = emitted(message)
    assertBytes(
      Array(out[0..<44]),
      bytes("01 01 06 03 3903f326 1234 8000 0a000001 0a000002 0a000003 0a000004 525400123456 00000000000000000000"))
    assertBytes(Array(out[44..<108]), Array("boot.lan".utf8) + [UInt8](repeating: 0, count: 56))
    assertBytes(Array(out[108..<236]), [UInt8](repeating: 0x41, count: 128))
    assertBytes(Array(out[236..<240]), Vectors.cookie)
    XCTAssertEqual(try parseDHCP(out), message)
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    for vector in Vectors.all {
      let message = try parseDHCP(vector.bytes)
      let out = emitted(message)
      XCTAssertEqual(try parseDHCP(out), message, "\(message)")
      if vector.bytes != Vectors.udhcpcDiscover.bytes {
        assertBytes(out, vector.bytes, "\(message)")
      }
    }
  }

  func testRoundTripReordersToTheEmitOrder() throws {
    // udhcpc puts the client identifier and the unmodelled vendor class after its request
    // list; emit writes modelled options first, then the others in the order received.
    let message = try parseDHCP(Vectors.udhcpcDiscover.bytes)
    let out = emitted(message)
    assertBytes(
      Array(out[240..<280]),
      bytes("35 01 01  3d 07 01 525400123456  39 02 0240  37 07 01 03 06 0c 0f 1c 2a  3c 0c 7564686370 20 312e33362e31 ff"))
    XCTAssertEqual(out.count, 300)
  }

  // MARK: Description

  func testDescription() throws {
    XCTAssertEqual(
      try parseDHCP(Vectors.dhclientDiscover.bytes).description,
      "DHCP Discover, xid 0x3903f326, chaddr 52:54:00:12:34:56, requested 192.168.1.100")
    XCTAssertEqual(
      try parseDHCP(Vectors.dnsmasqOffer.bytes).description,
      "DHCP Offer, xid 0x3903f326, chaddr 52:54:00:12:34:56, yiaddr 192.168.1.100, server 192.168.1.1, lease 43200 s")
    XCTAssertEqual(
      try parseDHCP(Vectors.dnsmasqNak.bytes).description,
      "DHCP NAK, xid 0x3903f326, chaddr 52:54:00:12:34:56, server 192.168.1.1, broadcast")
    let bootp = DHCPMessage(
      operation: .bootReply, transactionID: 0xab, clientHardwareAddress: macB, clientAddress: IPv4Address(10, 0, 0, 9))
    XCTAssertEqual(bootp.description, "BOOTP reply, xid 0x000000ab, chaddr 52:54:00:ab:cd:ef, ciaddr 10.0.0.9")
    XCTAssertEqual(
      [DHCPMessageType.discover, .offer, .request, .decline, .ack, .nak, .release, .inform].map(\.description),
      ["Discover", "Offer", "Request", "Decline", "ACK", "NAK", "Release", "Inform"])
  }

  func testRefusalsDescribeThemselves() {
    let cases: [(DHCPError, String)] = [
      (.truncated, "DHCP message truncated: shorter than its 240 bytes of fixed fields and magic cookie"),
      (.badOperation(3), "DHCP message with op 3: expected 1 (BOOTREQUEST) or 2 (BOOTREPLY)"),
      (.unsupportedHardware(type: 6, length: 6),
       "DHCP message for hardware type 6, address length 6: only Ethernet (1, 6) is supported"),
      (.badMagicCookie(0), "DHCP magic cookie 0.0.0.0: expected 99.130.83.99"),
      (.missingEnd(.serverName), "DHCP sname field has no end option"),
      (.optionPastEnd(.routers, .file), "DHCP option 3 (routers) runs past the end of the file field"),
      (.optionPastEnd(DHCPOptionCode(rawValue: 200), .options), "DHCP option 200 runs past the end of the options field"),
      (.malformedOption(.classlessStaticRoutes), "malformed DHCP option 121 (classless static routes)"),
    ]
    for (error, text) in cases { XCTAssertEqual(error.description, text) }
  }

  // MARK: Option overload (RFC 2132 9.3, RFC 2131 4.1)

  func testOverloadReadsFileThenServerName() throws {
    let message = try parseDHCP(Vectors.overloaded)
    XCTAssertEqual(message.options.messageType, .ack)
    XCTAssertEqual(message.options.serverIdentifier, Vectors.server)
    XCTAssertEqual(message.options.leaseTime, 3600)
    XCTAssertEqual(message.options.subnetMask, IPv4Address(255, 255, 255, 0))
    // RFC 3396: concatenated in the order options field, file, sname.
    XCTAssertEqual(message.options.domainName, Array("example.org".utf8))
    XCTAssertEqual(message.options.routers, [Vectors.server, IPv4Address(192, 168, 1, 2)])
    // Lent to options, they are no names.
    XCTAssertEqual(message.serverName, [])
    XCTAssertEqual(message.bootFileName, [])
    XCTAssertEqual(message.options.unknown, [], "option 52 is consumed, not kept")
    // Emitted, everything is in the options field.
    let out = emitted(message)
    XCTAssertEqual(Array(out[44..<236]), [UInt8](repeating: 0, count: 192))
    XCTAssertEqual(try parseDHCP(out), message)
  }

  func testOverloadOfOneFieldKeepsTheOther() throws {
    // 52: 1 lends only file, 2 only sname. The other field holds a name that, read as
    // options, would be refused ("tftp.lan" runs past sname's end, "pxelinux.0" has no end).
    let mask = IPv4Address(255, 255, 255, 0)
    let cases: [(overload: UInt8, name: String, field: Range<Int>, domain: String, routers: [IPv4Address],
                 lease: UInt32?, mask: IPv4Address?)] = [
      (1, "tftp.lan", 44..<108, "example", [Vectors.server, IPv4Address(192, 168, 1, 2)], 3600, nil),
      (2, "pxelinux.0", 108..<236, "ex.org", [Vectors.server], nil, mask),
    ]
    for test in cases {
      var data = Vectors.overloaded
      data[245] = test.overload
      let name = Array(test.name.utf8)
      data.replaceSubrange(test.field, with: name + [UInt8](repeating: 0, count: test.field.count - name.count))
      let message = try parseDHCP(data)
      XCTAssertEqual(test.overload == 1 ? message.serverName : message.bootFileName, name)
      XCTAssertEqual(test.overload == 1 ? message.bootFileName : message.serverName, [])
      XCTAssertEqual(message.options.domainName, Array(test.domain.utf8))
      XCTAssertEqual(message.options.routers, test.routers)
      XCTAssertEqual(message.options.leaseTime, test.lease)
      XCTAssertEqual(message.options.subnetMask, test.mask)
      XCTAssertEqual(try parseDHCP(emitted(message)), message)
    }
  }

  func testWithoutOverloadFileAndServerNameAreNotOptions() throws {
    // The same bytes with option 52 replaced by a pad: file and sname are left alone (and
    // read as names up to their first NUL: here the option bytes themselves).
    var data = Vectors.overloaded
    data.replaceSubrange(243..<246, with: [0, 0, 0])
    let message = try parseDHCP(data)
    XCTAssertEqual(message.options.domainName, Array("ex".utf8))
    XCTAssertNil(message.options.leaseTime)
    XCTAssertEqual(message.serverName, [0x01, 0x04, 0xff, 0xff, 0xff])
    XCTAssertEqual(message.bootFileName, [0x33, 0x04])
  }

  func testOverloadedAreasMustEndAndHoldTheirOptions() {
    // RFC 2131 4.1: each lent field ends with an end option; an option may not run from one
    // field into the next.
    var noEnd = Vectors.overloaded
    noEnd.replaceSubrange(44..<108, with: bytes("01 04 ffffff00") + [UInt8](repeating: 0, count: 58))
    assertRefused(.missingEnd(.serverName), noEnd)
    var fileNoEnd = Vectors.overloaded
    fileNoEnd[108 + 21] = 0  // the end option becomes a pad; zeros to the end of file
    assertRefused(.missingEnd(.file), fileNoEnd)
    var across = Vectors.overloaded
    across.replaceSubrange(230..<236, with: bytes("0f 08 616263 00"))
    across[108 + 21] = 0
    assertRefused(.optionPastEnd(.domainName, .file), across)
    var codeOnly = Vectors.overloaded
    codeOnly[108 + 21] = 0
    codeOnly[235] = 0x0f
    assertRefused(.optionPastEnd(.domainName, .file), codeOnly)
  }

  func testMalformedOverload() {
    // Value 1-3 only, one byte, and only in the options field.
    for value: UInt8 in [0, 4, 0xff] {
      var data = Vectors.overloaded
      data[245] = value
      assertRefused(.malformedOption(.overload), data, "overload \(value)")
    }
    assertRefused(.malformedOption(.overload), Vectors.discover(options: "35 01 01 34 00"))
    assertRefused(.malformedOption(.overload), Vectors.discover(options: "35 01 01 34 02 0300"))
    // Two instances concatenate to two bytes: malformed too (RFC 3396).
    assertRefused(.malformedOption(.overload), Vectors.discover(options: "34 01 01 35 01 01 34 01 02"))
    // In file, where its two pads and end option were, with the end option after it.
    var inFile = Vectors.overloaded
    inFile.replaceSubrange((108 + 19)..<(108 + 23), with: bytes("34 01 02 ff"))
    assertRefused(.malformedOption(.overload), inFile)
  }

  // MARK: Long options (RFC 3396)

  func testSplitOptionsAreConcatenated() throws {
    // The subnet mask in two halves, the host name in three pieces, the routers with other
    // options between their instances, and an unknown option in two.
    let data = Vectors.discover(options: """
      35 01 05  01 02 ffff  0c 03 736972  03 04 c0a80101  01 02 ff00
      0c 02 6f63  4d 01 aa  0c 02 636f  03 08 c0a80102 c0a80103  4d 02 bbcc
      """)
    let options = try parseDHCP(data).options
    XCTAssertEqual(options.subnetMask, IPv4Address(255, 255, 255, 0))
    XCTAssertEqual(options.hostName, Vectors.sirocco)
    XCTAssertEqual(options.routers, [IPv4Address(192, 168, 1, 1), IPv4Address(192, 168, 1, 2), IPv4Address(192, 168, 1, 3)])
    XCTAssertEqual(options.unknown, [DHCPRawOption(code: DHCPOptionCode(rawValue: 77), value: [0xaa, 0xbb, 0xcc])])
    // A split known option is malformed only by its whole length: two 2-byte lease times
    // make one, three make six bytes.
    XCTAssertEqual(try parseDHCP(Vectors.discover(options: "33 02 0000 33 02 0e10")).options.leaseTime, 3600)
    assertRefused(.malformedOption(.leaseTime), Vectors.discover(options: "33 02 0000 33 02 0e10 33 02 0000"))
  }

  func testLongOptionsAreSplitOnEmit() throws {
    // 40 routes of 8 bytes: 320 bytes, written as 255 then 65 (RFC 3396 7); an unknown option
    // of 600 bytes as 255, 255 and 90; an empty one (rapid commit, RFC 4039) as length 0.
    var options = DHCPOptions()
    options.messageType = .ack
    options.classlessStaticRoutes = (0..<40).map {
      DHCPClasslessRoute(
        destination: IPv4Network(address: IPv4Address(10, 0, UInt8($0), 0), prefixLength: 24),
        router: IPv4Address(192, 168, 1, UInt8($0)))
    }
    let long = (0..<600).map { UInt8(truncatingIfNeeded: $0) }
    options.unknown = [
      DHCPRawOption(code: DHCPOptionCode(rawValue: 224), value: long),
      DHCPRawOption(code: DHCPOptionCode(rawValue: 80), value: []),
    ]
    XCTAssertEqual(options.bufferLength, 3 + (320 + 4) + (600 + 6) + 2)
    let message = DHCPMessage(operation: .bootReply, transactionID: 1, clientHardwareAddress: macA, options: options)
    XCTAssertEqual(message.bufferLength, 240 + options.bufferLength + 1)
    let out = emitted(message)
    XCTAssertEqual(Array(out[243..<245]), [121, 255])
    XCTAssertEqual(Array(out[(245 + 255)..<(247 + 255)]), [121, 65])
    var offset = 247 + 255 + 65
    for length in [255, 255, 90] {
      XCTAssertEqual(Array(out[offset..<(offset + 2)]), [224, UInt8(length)], "at \(offset)")
      offset += 2 + length
    }
    XCTAssertEqual(Array(out[offset...]), [80, 0, 0xff])
    XCTAssertEqual(try parseDHCP(out), message)
  }

  // MARK: Classless static routes (RFC 3442)

  func testClasslessRoutesOfRFC3442() throws {
    // RFC 3442's table of destination descriptors, each with router 192.168.1.254.
    let cases: [(String, String)] = [
      ("00", "0.0.0.0/0"),
      ("08 0a", "10.0.0.0/8"),
      ("18 0a0000", "10.0.0.0/24"),
      ("10 0a11", "10.17.0.0/16"),
      ("18 0a1b81", "10.27.129.0/24"),
      ("19 0ae50080", "10.229.0.128/25"),
      ("20 0ac67a2f", "10.198.122.47/32"),
    ]
    for (descriptor, network) in cases {
      let data = Vectors.discover(options: "79 \(hex([UInt8(bytes(descriptor).count + 4)])) \(descriptor) c0a801fe")
      let routes = try parseDHCP(data).options.classlessStaticRoutes
      XCTAssertEqual(routes, [DHCPClasslessRoute(destination: IPv4Network(network)!, router: IPv4Address(192, 168, 1, 254))], network)
      XCTAssertEqual(DHCPOptions.encoded(routes), bytes(descriptor + "c0a801fe"), network)
    }
  }

  func testClasslessRoutesOfEveryPrefixLength() throws {
    // 0: no octets; 1-8: one; 9-16: two; 17-24: three; 25-32: four. All 33 in one option,
    // each destination the octets of 10.20.30.40 its prefix covers, router 192.168.0.<length>.
    // Bits past the prefix in the last octet are cleared on parse, so emit writes them zero.
    var value: [UInt8] = []
    var canonical: [UInt8] = []
    var expected: [DHCPClasslessRoute] = []
    for length in 0...32 {
      let octets = length == 0 ? 0 : length <= 8 ? 1 : length <= 16 ? 2 : length <= 24 ? 3 : 4
      let router: [UInt8] = [192, 168, 0, UInt8(length)]
      value += [UInt8(length)] + [10, 20, 30, 40].prefix(octets) + router
      let mask = length == 0 ? 0 : UInt32.max << UInt32(32 - length)
      let network = 0x0a14_1e28 & mask
      let networkOctets = [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: network >> UInt32($0)) }
      canonical += [UInt8(length)] + networkOctets.prefix(octets) + router
      expected.append(DHCPClasslessRoute(
        destination: IPv4Network(address: IPv4Address(rawValue: network), prefixLength: length),
        router: IPv4Address(192, 168, 0, UInt8(length))))
    }
    XCTAssertEqual(value.count, 33 * 5 + 8 * (1 + 2 + 3 + 4))
    XCTAssertEqual(DHCPOptions.routes(value), expected)
    XCTAssertEqual(DHCPOptions.encoded(expected), canonical)
    XCTAssertEqual(expected[9].destination, IPv4Network("10.0.0.0/9")!)
    XCTAssertEqual(expected[28].destination, IPv4Network("10.20.30.32/28")!)
    XCTAssertEqual(expected[32].destination, IPv4Network("10.20.30.40/32")!)
    // Through a whole message, split into two instances mid-descriptor (RFC 3396 lets a
    // sender cut anywhere).
    let data = Vectors.discover(
      options: "79 64 \(hex(Array(value[0..<100]))) 35 01 01 79 \(hex([UInt8(value.count - 100)])) \(hex(Array(value[100...])))")
    XCTAssertEqual(try parseDHCP(data).options.classlessStaticRoutes, expected)
    var options = DHCPOptions()
    options.classlessStaticRoutes = expected
    let message = DHCPMessage(operation: .bootReply, transactionID: 2, clientHardwareAddress: macA, options: options)
    XCTAssertEqual(try parseDHCP(emitted(message)).options.classlessStaticRoutes, expected)
  }

  func testClasslessRoutesEncodeOnlyTheNetwork() {
    // A destination given with host bits emits only the octets its prefix covers, masked.
    let route = DHCPClasslessRoute(destination: IPv4Network("10.1.2.3/12")!, router: IPv4Address(10, 0, 0, 1))
    XCTAssertEqual(DHCPOptions.encoded([route]), bytes("0c 0a00 0a000001"))
  }

  func testMalformedClasslessRoutes() {
    let cases = [
      "21 0a000000 0a000000 c0a80101",  // prefix length 33
      "ff c0a80101",  // prefix length 255
      "18 0a0000 c0a801",  // router cut short
      "18 0a00",  // descriptor cut short
      "00 c0a801",  // four bytes: under the minimum of five
      "08 0a c0a80101 10",  // a second route cut after its prefix length
    ]
    for value in cases {
      let length = hex([UInt8(bytes(value).count)])
      assertRefused(.malformedOption(.classlessStaticRoutes), Vectors.discover(options: "79 \(length) \(value)"), value)
      XCTAssertNil(DHCPOptions.routes(bytes(value)), value)
    }
    assertRefused(.malformedOption(.classlessStaticRoutes), Vectors.discover(options: "79 00"))
  }

  // MARK: Malformed options (RFC 2132 lengths and values)

  func testMalformedKnownOptions() {
    let cases: [(DHCPOptionCode, [String])] = [
      (.subnetMask, ["", "ffffff", "ffffff0000"]),
      (.routers, ["", "c0a801", "c0a80101c0a8"]),
      (.domainNameServers, ["", "0808", "0808080801"]),
      (.hostName, [""]),
      (.domainName, [""]),
      (.interfaceMTU, ["", "05", "05dc00", "0043", "0000"]),
      (.broadcastAddress, ["c0a801", "c0a801ff00"]),
      (.requestedAddress, ["", "c0a80164c0a80164"]),
      (.leaseTime, ["", "0e10", "000e100000"]),
      (.messageType, ["", "0101", "00", "09", "12", "ff"]),
      (.serverIdentifier, ["c0a801"]),
      (.parameterRequestList, [""]),
      (.message, [""]),
      (.maximumMessageSize, ["02", "023f", "0000", "024000"]),
      (.renewalTime, ["00005460aa"]),
      (.rebindingTime, ["000093"]),
      (.clientIdentifier, ["", "01"]),
    ]
    for (code, values) in cases {
      for value in values {
        let length = hex([UInt8(bytes(value).count)])
        let data = Vectors.discover(options: "\(hex([code.rawValue])) \(length) \(value)")
        assertRefused(.malformedOption(code), data, "\(code): \(value)")
      }
    }
  }

  func testSmallestValidValues() throws {
    // The boundaries of the checks above, accepted.
    let options = try parseDHCP(Vectors.discover(options: """
      1a 02 0044  39 02 0240  0c 01 61  0f 01 62  38 01 63  37 01 00  3d 02 00 ff  35 01 08
      """)).options
    XCTAssertEqual(options.interfaceMTU, 68)
    XCTAssertEqual(options.maximumMessageSize, 576)
    XCTAssertEqual(options.hostName, [0x61])
    XCTAssertEqual(options.domainName, [0x62])
    XCTAssertEqual(options.message, [0x63])
    XCTAssertEqual(options.parameterRequestList, [.pad])
    XCTAssertEqual(options.clientIdentifier, DHCPClientIdentifier(type: 0, identifier: [0xff]))
    XCTAssertEqual(options.messageType, .inform)
  }

  func testEveryCodeIsModelledOrKeptAsBytes() throws {
    // What `emit` refuses in `unknown` (isModelled) is exactly what parse does not put there.
    for code in 1...254 {
      let option = DHCPOptionCode(rawValue: UInt8(code))
      var keptAsBytes = false
      for value in ["0101", "01020304"] {
        let data = Vectors.discover(options: "\(hex([UInt8(code)])) \(hex([UInt8(bytes(value).count)])) \(value)")
        if case .success(let message) = data.withUnsafeBytes({ raw in
          Result { () throws(DHCPError) in try DHCPMessage.parse(raw) }
        }) {
          keptAsBytes = keptAsBytes || message.options.unknown.contains { $0.code == option }
        }
      }
      XCTAssertEqual(DHCPOptions.isModelled(option), !keptAsBytes, "\(option)")
    }
  }

  // MARK: Negative vectors

  func testTruncatedFixedFields() {
    for length in 0..<DHCPMessage.fixedLength {
      assertRefused(.truncated, Array(Vectors.dnsmasqOffer.bytes[0..<length]), "length \(length)")
    }
  }

  func testEveryTruncationIsRefused() {
    // Every prefix that cuts the options field before its end option: at an option's first
    // byte the field has no end; inside an option, that option runs past it.
    for vector in Vectors.all {
      let data = vector.bytes
      var starts: [(offset: Int, code: UInt8)] = []
      var offset = 240
      for option in vector.options {
        starts.append((offset, option[0]))
        offset += option.count
      }
      for length in 240...vector.endOffset {
        let cut = Array(data[0..<length])
        if let cutOption = starts.last(where: { $0.offset < length && length < $0.offset + Int(data[$0.offset + 1]) + 2 }) {
          assertRefused(.optionPastEnd(DHCPOptionCode(rawValue: cutOption.code), .options), cut, "length \(length)")
        } else {
          assertRefused(.missingEnd(.options), cut, "length \(length)")
        }
      }
    }
  }

  func testBadOperation() {
    for op: UInt8 in [0, 3, 0x81, 0xff] {
      var data = Vectors.dhclientDiscover.bytes
      data[0] = op
      assertRefused(.badOperation(op), data)
    }
  }

  func testUnsupportedHardware() {
    // IEEE 802 (6), InfiniBand (32, RFC 4390: hlen 0), and Ethernet with a wrong length.
    let pairs: [(UInt8, UInt8)] = [(6, 6), (32, 0), (1, 0), (1, 8), (1, 16), (0, 6)]
    for (type, length) in pairs {
      var data = Vectors.dhclientDiscover.bytes
      data[1] = type
      data[2] = length
      assertRefused(.unsupportedHardware(type: type, length: length), data)
    }
  }

  func testBadMagicCookie() {
    // A plain BOOTP message (RFC 951: vend zero), RFC 1048's cookie mistyped, and the
    // cookie little-endian.
    for cookie: UInt32 in [0, 0x6382_5364, 0x6353_8263] {
      var data = Vectors.dhclientDiscover.bytes
      write(UInt16(cookie >> 16), into: &data, at: 236)
      write(UInt16(cookie & 0xffff), into: &data, at: 238)
      assertRefused(.badMagicCookie(cookie), data)
    }
  }

  func testErrorsInReadingOrder() {
    // The fixed fields first, then the options.
    var data = Vectors.discover(options: "01 03 ffffff")
    data[236] = 0
    assertRefused(.badMagicCookie(0x0082_5363), data)
    data[0] = 9
    assertRefused(.badOperation(9), data)
    // The areas are read before any value is checked.
    let both = Vectors.discover(options: "01 03 ffffff 34 01 01")  // file is all zeros: pads, no end
    assertRefused(.missingEnd(.file), both)
  }

  func testOptionsPastTheEnd() {
    // A length past the end of the message; a code with no length byte.
    assertRefused(.optionPastEnd(.routers, .options), Vectors.fixed(op: "01") + Vectors.cookie + bytes("35 01 01 03 08 c0a80101 ff"))
    assertRefused(.optionPastEnd(DHCPOptionCode(rawValue: 77), .options), Vectors.fixed(op: "01") + Vectors.cookie + bytes("35 01 01 4d"))
    assertRefused(.missingEnd(.options), Vectors.fixed(op: "01") + Vectors.cookie)
    assertRefused(.missingEnd(.options), Vectors.fixed(op: "01") + Vectors.cookie + bytes("35 01 01 00 00 00"))
  }

  // MARK: Hostile input

  /// Parses `data`; when accepted, the message must re-emit and parse back equal.
  private func checkRoundTrip(_ data: [UInt8]) -> Bool {
    guard let message = try? parseDHCP(data) else { return false }
    let out = emitted(message)
    XCTAssertEqual(try? parseDHCP(out), message, "\(hex(data))")
    XCTAssertEqual(emitted(try! parseDHCP(out)), out)
    return true
  }

  func testEveryByteFlipped() {
    var accepted = 0
    for data in Vectors.all.map(\.bytes) + [Vectors.overloaded] {
      for index in data.indices {
        for replacement in [0x00, 0xff, data[index] &+ 1, data[index] &- 1, data[index] ^ 0x80] {
          var mutated = data
          mutated[index] = replacement
          if checkRoundTrip(mutated) { accepted += 1 }
        }
      }
    }
    XCTAssertGreaterThan(accepted, 1000)
  }

  func testRandomOptions() {
    // Random options behind valid fixed fields: codes biased toward the modelled ones,
    // lengths toward theirs, usually an end option; sometimes file and sname hold options too.
    var random = SplitMix64(seed: 0x5eed_d4c9)
    let codes: [UInt8] = [0, 1, 3, 6, 12, 15, 26, 28, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 61, 121, 255]
    func area(_ capacity: Int) -> [UInt8] {
      var area: [UInt8] = []
      for _ in 0..<random.next(upTo: 6) {
        let code = random.next(upTo: 3) == 0 ? UInt8(truncatingIfNeeded: random.next()) : codes[random.next(upTo: codes.count - 1)]
        let length = random.next(upTo: 3) == 0 ? random.next(upTo: 40) : [0, 1, 2, 4, 5, 8][random.next(upTo: 5)]
        var value = random.bytes(length)
        if code == 52, !value.isEmpty { value[0] = UInt8(random.next(upTo: 4)) }
        if code == 53, !value.isEmpty { value[0] = UInt8(random.next(upTo: 9)) }
        if code == 121, !value.isEmpty { value[0] = UInt8(random.next(upTo: 33)) }
        area += [code, UInt8(length)] + value
      }
      if random.next(upTo: 9) != 0 { area.append(0xff) }
      return Array((area + random.bytes(capacity)).prefix(capacity))
    }
    var accepted = 0
    for _ in 0..<5_000 {
      var data = Vectors.fixed(op: "02") + Vectors.cookie + area(40 + random.next(upTo: 300))
      if random.next(upTo: 2) == 0 {
        data.replaceSubrange(44..<108, with: area(64))
        data.replaceSubrange(108..<236, with: area(128))
      }
      if checkRoundTrip(data) { accepted += 1 }
    }
    XCTAssertGreaterThan(accepted, 500)
  }
}
