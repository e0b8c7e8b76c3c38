// The IPv6 header and the extension-header walk (RFC 8200 3 and 4): deconstruct, construct,
// round trip, description, negative vectors. The vectors are Linux's own packets, captured by
// tcpdump on a veth pair between two network namespaces (52:54:00:12:34:56 and
// 52:54:00:ab:cd:ef, fe80::5054:ff:fe12:3456 and fe80::5054:ff:feab:cdef), and packets with
// extension headers sent to that Linux, whose answers (ICMPv6Tests) say what it made of them.

import XCTest

@testable import SiroccoWire

enum IPv6Vectors {
  /// The fixed header: the first word (version, class, flow label), payload length, next
  /// header and hop limit, then the two addresses.
  static func header(_ fields: String, from source: String = "fe80000000000000505400fffe123456",
                     to destination: String = "fe80000000000000505400fffeabcdef") -> [UInt8] {
    bytes(fields + source + destination)
  }

  /// `ping -6 -c 1 fe80::5054:ff:feab:cdef%va`: flow label 0xcb993, hop limit 64, 64 bytes.
  static let pingRequest = header("600cb993 0040 3a 40") + ICMPv6Vectors.echoRequest
  /// The reply, flow label 0xb199d.
  static let pingReply = header("600b199d 0040 3a 40", from: "fe80000000000000505400fffeabcdef",
                                to: "fe80000000000000505400fffe123456") + ICMPv6Vectors.echoReply
  /// The MLDv2 report Linux sent on bringing the link up: hop limit 1, a Hop-by-Hop header
  /// with a Router Alert (value 0) and a PadN, to ff02::16.
  static let mldReport = header("60000000 0024 00 01", to: "ff020000000000000000000000000016")
    + bytes("3a 00 0502 0000 0100") + MLDVectors.joinReport

  /// `ping -6 -s 2000`: the ICMPv6 message (2008 bytes, checksum 0x997e) Linux cut in two.
  static let bigEcho = bytes("80 00 997e 5727 0001 b3b6106b00000000 158f030000000000")
    + (0..<1984).map { UInt8(truncatingIfNeeded: 0x10 + $0) }
  /// Its first fragment: identification 0x36eaa2fa, offset 0, M, 1448 bytes of data.
  static let firstFragment = header("600cb993 05b0 2c 40") + bytes("3a 00 0001 36eaa2fa") + bigEcho[0..<1448]
  /// Its second and last: offset 1448 (181 units), 560 bytes.
  static let secondFragment = header("600cb993 0238 2c 40") + bytes("3a 00 05a8 36eaa2fa") + bigEcho[1448...]

  /// Sent to Linux: a Destination Options header with an option of unknown type 0x80 (top bits
  /// 10) and four bytes of data, then an echo request (id 0x1234, seq 1, "abcdefgh").
  static let unknownDestinationOption = header("60000000 0018 3c 40")
    + bytes("3a 00 80 04 00000000") + bytes("80 00 3d3d 1234 0001 6162636465666768")
  /// Sent to Linux: a Routing header of type 0 (RFC 5095: deprecated, so unrecognized) with one
  /// segment left, via 2001:db8::1. The echo's checksum is for the packet's destination, not
  /// the final one (see `ChecksumTests.testRoutingHeaderUsesFinalDestination`).
  static let routingSegmentsLeft = header("60000000 0028 2b 40")
    + bytes("3a 02 00 01 00000000 20010db8000000000000000000000001") + bytes("80 00 3d3c 1234 0002 6162636465666768")
  /// Sent to Linux: a Destination Options header (PadN) naming a Hop-by-Hop header after it.
  static let hopByHopLate = header("60000000 0020 3c 40")
    + bytes("00 00 0104 00000000") + bytes("3a 00 0104 00000000") + bytes("80 00 3d3b 1234 0003 6162636465666768")
  /// Sent to Linux, and answered: Hop-by-Hop (a PadN), Destination Options (six Pad1), echo.
  static let paddedOptions = header("60000000 0020 00 40")
    + bytes("3c 00 0104 00000000") + bytes("3a 00 00 00 00 00 00 00") + bytes("80 00 3d3a 1234 0004 6162636465666768")
  /// Sent to Linux: the first fragment of two (identification 0xdeadbeef, 48 bytes of a
  /// 72-byte echo request) whose second never came: Linux answered with a time exceeded.
  static let lonelyFragment = header("60000000 0038 2c 40") + bytes("3a 00 0001 deadbeef")
    + bytes("80 00 ec94 1234 0005") + Array(0...31) + Array(0...7)

  /// The IPv6 payload of a packet.
  static func payload(_ packet: [UInt8]) -> [UInt8] { Array(packet[40...]) }
}

final class IPv6Tests: XCTestCase {
  private func parseIPv6(_ data: [UInt8]) throws(WireError) -> IPv6Header {
    try parse(data) { raw throws(WireError) in try IPv6Header.parse(raw) }
  }

  private func walk(_ packet: [UInt8]) -> Result<IPv6ExtensionHeaders, IPv6ExtensionHeaderError> {
    let nextHeader = IPProtocol(rawValue: packet[6])
    return IPv6Vectors.payload(packet).withUnsafeBytes { raw in
      Result { () throws(IPv6ExtensionHeaderError) -> IPv6ExtensionHeaders in
        try IPv6ExtensionHeaders.walk(raw, nextHeader: nextHeader)
      }
    }
  }

  // MARK: Deconstruct

  func testDeconstructPingRequest() throws {
    let header = try parseIPv6(IPv6Vectors.pingRequest)
    XCTAssertEqual(header.trafficClass, 0)
    XCTAssertEqual(header.flowLabel, 0xcb993)
    XCTAssertEqual(header.payloadLength, 64)
    XCTAssertEqual(header.totalLength, 104)
    XCTAssertEqual(header.nextHeader, .icmpv6)
    XCTAssertEqual(header.hopLimit, 64)
    XCTAssertEqual(header.source, linkLocalA)
    XCTAssertEqual(header.destination, linkLocalB)
  }

  func testDeconstructMLDReport() throws {
    let header = try parseIPv6(IPv6Vectors.mldReport)
    XCTAssertEqual(header.nextHeader, .hopByHop)
    XCTAssertEqual(header.hopLimit, 1)
    XCTAssertEqual(header.payloadLength, 36)
    XCTAssertEqual(header.destination, .allMLDv2Routers)
    XCTAssertEqual(header.flowLabel, 0)
  }

  func testDeconstructTrafficClass() throws {
    // DSCP EF (46) with ECT(0): traffic class 0xba, flow label 0x12345.
    var packet = IPv6Vectors.pingRequest
    packet[0...3] = [0x6b, 0xa1, 0x23, 0x45]
    let header = try parseIPv6(packet)
    XCTAssertEqual(header.trafficClass, 0xba)
    XCTAssertEqual(header.flowLabel, 0x12345)
  }

  func testDeconstructIgnoresTrailingBytes() throws {
    let padded = IPv6Vectors.pingRequest + [0, 0, 0, 0]
    XCTAssertEqual(try parseIPv6(padded), try parseIPv6(IPv6Vectors.pingRequest))
    // An empty payload (nothing but the header, e.g. No Next Header) is fine.
    var empty = Array(IPv6Vectors.pingRequest[0..<40])
    write(0, into: &empty, at: 4)
    XCTAssertEqual(try parseIPv6(empty).payloadLength, 0)
  }

  // MARK: Construct

  func testConstructPingRequest() {
    let header = IPv6Header(
      flowLabel: 0xcb993, payloadLength: 64, nextHeader: .icmpv6, source: linkLocalA, destination: linkLocalB)
    assertBytes(emitting(into: filled(40)) { header.emit(into: $0) }, Array(IPv6Vectors.pingRequest[0..<40]))
    // In a whole packet buffer, only the 40 header bytes are written.
    let packet = emitting(into: filled(header: 40, payload: ICMPv6Vectors.echoRequest)) { header.emit(into: $0) }
    assertBytes(packet, IPv6Vectors.pingRequest)
  }

  func testConstructMLDReport() {
    let header = IPv6Header(
      payloadLength: 36, nextHeader: .hopByHop, hopLimit: 1, source: .unspecified, destination: .allMLDv2Routers)
    let expected = IPv6Vectors.header("60000000 0024 00 01", from: "00000000000000000000000000000000",
                                      to: "ff020000000000000000000000000016")
    assertBytes(emitting(into: filled(40)) { header.emit(into: $0) }, expected)
  }

  func testConstructTrafficClass() {
    let header = IPv6Header(
      trafficClass: 0xba, flowLabel: 0xfffff, payloadLength: 0, nextHeader: .noNextHeader, hopLimit: 255,
      source: linkLocalB, destination: linkLocalA)
    let expected = IPv6Vectors.header("6bafffff 0000 3b ff", from: "fe80000000000000505400fffeabcdef",
                                      to: "fe80000000000000505400fffe123456")
    assertBytes(emitting(into: filled(40)) { header.emit(into: $0) }, expected)
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    for vector in [IPv6Vectors.pingRequest, IPv6Vectors.pingReply, IPv6Vectors.mldReport, IPv6Vectors.firstFragment,
                   IPv6Vectors.secondFragment, IPv6Vectors.unknownDestinationOption, IPv6Vectors.routingSegmentsLeft,
                   IPv6Vectors.hopByHopLate, IPv6Vectors.paddedOptions, IPv6Vectors.lonelyFragment] {
      let header = try parseIPv6(vector)
      XCTAssertEqual(header.totalLength, vector.count)
      let out = emitting(into: vector) { header.emit(into: $0) }
      assertBytes(out, vector)
      XCTAssertEqual(try parseIPv6(out), header)
    }
  }

  // MARK: Description

  func testDescription() throws {
    XCTAssertEqual(
      try parseIPv6(IPv6Vectors.pingRequest).description,
      "IP6 fe80::5054:ff:fe12:3456 > fe80::5054:ff:feab:cdef: ICMP6, hlim 64, length 64, flowlabel 0xcb993")
    XCTAssertEqual(
      try parseIPv6(IPv6Vectors.mldReport).description, "IP6 fe80::5054:ff:fe12:3456 > ff02::16: HBH, hlim 1, length 36")
    let classy = IPv6Header(trafficClass: 0xb8, payloadLength: 8, nextHeader: .udp, source: .loopback, destination: .loopback)
    XCTAssertEqual(classy.description, "IP6 ::1 > ::1: UDP, hlim 64, length 8, class 0xb8")
    XCTAssertEqual(IPProtocol.ipv6Fragment.description, "frag")
    XCTAssertEqual(IPProtocol.destinationOptions.description, "DSTOPT")
    XCTAssertEqual(IPProtocol.ipv6Route.description, "RT6")
    XCTAssertEqual(IPProtocol.noNextHeader.description, "no next header")
    XCTAssertEqual(IPProtocol(rawValue: 51).description, "proto 51")
    XCTAssertEqual(IPProtocol.tcp.description, "TCP")
  }

  // MARK: Negative vectors

  func testTruncatedBelowHeader() {
    for length in 0..<IPv6Header.length {
      assertThrows(.truncated, Array(IPv6Vectors.pingRequest[0..<length]), "length \(length)") { raw throws(WireError) in
        try IPv6Header.parse(raw)
      }
    }
  }

  func testPayloadLengthPastBuffer() {
    // Every prefix that holds the header but not the whole payload.
    for length in 40..<IPv6Vectors.pingRequest.count {
      assertThrows(.truncated, Array(IPv6Vectors.pingRequest[0..<length]), "length \(length)") { raw throws(WireError) in
        try IPv6Header.parse(raw)
      }
    }
    var packet = IPv6Vectors.pingRequest
    write(0xffff, into: &packet, at: 4)
    assertThrows(.truncated, packet) { raw throws(WireError) in try IPv6Header.parse(raw) }
  }

  func testBadVersion() {
    for version: UInt8 in [0, 4, 5, 7, 15] {
      var packet = IPv6Vectors.pingRequest
      packet[0] = version << 4 | packet[0] & 0xf
      assertThrows(.malformed, packet, "version \(version)") { raw throws(WireError) in try IPv6Header.parse(raw) }
    }
    // An IPv4 packet handed to the IPv6 parser.
    assertThrows(.malformed, IPv4Vectors.pingRequest) { raw throws(WireError) in try IPv6Header.parse(raw) }
  }

  // MARK: Extension headers

  func testWalkWithoutExtensionHeaders() throws {
    let headers = try walk(IPv6Vectors.pingRequest).get()
    XCTAssertEqual(headers, IPv6ExtensionHeaders(upperLayerProtocol: .icmpv6))
    XCTAssertEqual(headers.count, 0)
    XCTAssertNil(headers.fragment)
    XCTAssertNil(headers.routerAlert)
  }

  func testWalkRouterAlert() throws {
    let headers = try walk(IPv6Vectors.mldReport).get()
    XCTAssertEqual(headers.upperLayerProtocol, .icmpv6)
    XCTAssertEqual(headers.upperLayerOffset, 8)
    XCTAssertEqual(headers.routerAlert, 0)
    XCTAssertEqual(headers.count, 1)
    // The MLD message after it parses (its checksum is over the ICMPv6 part only).
    let message = try parse(Array(IPv6Vectors.mldReport[48...])) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalA, destination: .allMLDv2Routers)
    }
    XCTAssertEqual(message, .multicastListenerReport(.joining([linkLocalA.solicitedNodeMulticast])))
  }

  func testWalkPaddingOptions() throws {
    // Linux answered this one: Pad1 and PadN are skipped in both kinds of header.
    let headers = try walk(IPv6Vectors.paddedOptions).get()
    XCTAssertEqual(headers.upperLayerProtocol, .icmpv6)
    XCTAssertEqual(headers.upperLayerOffset, 16)
    XCTAssertEqual(headers.count, 2)
    XCTAssertNil(headers.routerAlert)
  }

  func testWalkSkipsRoutingHeaderWithNoSegmentsLeft() throws {
    // RFC 8200 4.4: with segments left 0, even an unrecognized type is ignored.
    var packet = IPv6Vectors.routingSegmentsLeft
    packet[43] = 0
    let headers = try walk(packet).get()
    XCTAssertEqual(headers.upperLayerProtocol, .icmpv6)
    XCTAssertEqual(headers.upperLayerOffset, 24)
    for type: UInt8 in [2, 3, 4, 253] {
      packet[42] = type
      XCTAssertEqual(try walk(packet).get().upperLayerOffset, 24, "type \(type)")
    }
  }

  func testWalkStopsAtOtherTypes() throws {
    // No Next Header, AH, ESP, anything unknown: returned for the caller to handle.
    for type: UInt8 in [59, 51, 50, 6, 17, 135, 253, 255] {
      var packet = IPv6Vectors.paddedOptions
      packet[48] = type  // the Destination Options header's Next Header
      let headers = try walk(packet).get()
      XCTAssertEqual(headers.upperLayerProtocol, IPProtocol(rawValue: type))
      XCTAssertEqual(headers.upperLayerOffset, 16)
    }
  }

  func testUnrecognizedOptionAsLinuxReportsIt() throws {
    // Linux answered with a Parameter Problem, code 2, pointer 42 (ICMPv6Vectors).
    XCTAssertEqual(walk(IPv6Vectors.unknownDestinationOption), .failure(.unrecognizedOption(pointer: 42, action: .discardAndReport)))
    let expected = try parse(ICMPv6Vectors.unrecognizedOption) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalB, destination: linkLocalA)
    }
    XCTAssertEqual(
      ICMPv6Message.parameterProblem(for: .unrecognizedOption(pointer: 42, action: .discardAndReport), destination: linkLocalB),
      expected)
  }

  func testOptionActions() {
    // RFC 8200 4.2: the top two bits of an unrecognized option's type.
    for (type, action) in [(UInt8(0x40), IPv6OptionAction.discard), (0x80, .discardAndReport),
                           (0xc0, .discardAndReportUnlessMulticast), (0x7f, .discard), (0xc2, .discardAndReportUnlessMulticast)] {
      var packet = IPv6Vectors.unknownDestinationOption
      packet[42] = type
      XCTAssertEqual(walk(packet), .failure(.unrecognizedOption(pointer: 42, action: action)), "type \(type)")
    }
    // 00xxxxxx: skipped, whatever it is (0x1e is RFC 4727's experimental type).
    for type: UInt8 in [0x1e, 0x3f, 0x05, 0x02] {
      var packet = IPv6Vectors.unknownDestinationOption
      packet[42] = type
      XCTAssertEqual(try walk(packet).get().upperLayerOffset, 8, "type \(type)")
    }
    XCTAssertEqual(IPv6OptionAction(optionType: 0x3f), .skip)
  }

  func testJumboPayloadIsUnrecognized() {
    // RFC 2675's option (type 0xc2) in a Hop-by-Hop header: jumbograms are not supported.
    let packet = IPv6Vectors.header("60000000 0010 00 40") + bytes("3b 00 c2 04 00012000") + bytes("0000000000000000")
    XCTAssertEqual(walk(packet), .failure(.unrecognizedOption(pointer: 42, action: .discardAndReportUnlessMulticast)))
  }

  func testRouterAlertOnlyInHopByHop() throws {
    // In a Destination Options header the option (type 5, skippable) is not reported, nor
    // with a length other than 2.
    var destination = IPv6Vectors.paddedOptions
    destination[50...53] = [5, 2, 0, 0]
    destination[48] = 59
    XCTAssertNil(try walk(destination).get().routerAlert)
    var badLength = IPv6Vectors.mldReport
    badLength[43] = 3  // 05 03 0000 01: the option now swallows the PadN's type
    badLength[46] = 0  // and a Pad1 follows
    XCTAssertNil(try walk(badLength).get().routerAlert)
    var value = IPv6Vectors.mldReport
    value[44...45] = [0, 2]  // RFC 2711: 2 is Active Networks
    XCTAssertEqual(try walk(value).get().routerAlert, 2)
  }

  func testUnrecognizedRoutingTypeAsLinuxReportsIt() throws {
    // Linux answered with a Parameter Problem, code 0, pointer 42: the Routing Type.
    XCTAssertEqual(walk(IPv6Vectors.routingSegmentsLeft), .failure(.unrecognizedRoutingType(pointer: 42)))
    let expected = try parse(ICMPv6Vectors.erroneousRoutingType) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalB, destination: linkLocalA)
    }
    XCTAssertEqual(ICMPv6Message.parameterProblem(for: .unrecognizedRoutingType(pointer: 42), destination: linkLocalB), expected)
  }

  func testHopByHopNotFirstAsLinuxReportsIt() throws {
    // Linux answered with a Parameter Problem, code 1, pointer 40: the Destination Options
    // header's Next Header, which named the Hop-by-Hop header.
    XCTAssertEqual(walk(IPv6Vectors.hopByHopLate), .failure(.hopByHopNotFirst(pointer: 40)))
    let expected = try parse(ICMPv6Vectors.unrecognizedNextHeader) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalB, destination: linkLocalA)
    }
    XCTAssertEqual(ICMPv6Message.parameterProblem(for: .hopByHopNotFirst(pointer: 40), destination: linkLocalB), expected)
    // Two Hop-by-Hop headers: the second is not first either, named from offset 40.
    var twice = IPv6Vectors.paddedOptions
    twice[40] = 0
    XCTAssertEqual(walk(twice), .failure(.hopByHopNotFirst(pointer: 40)))
  }

  func testParameterProblemsToMulticast() {
    // RFC 4443 2.4 (e.3): to a multicast destination only an unrecognized option of type
    // 10xxxxxx is reported.
    let cases: [(IPv6ExtensionHeaderError, ICMPv6Message?, ICMPv6Message?)] = [
      (.truncated, nil, nil),
      (.tooManyHeaders, nil, nil),
      (.unrecognizedOption(pointer: 42, action: .discard), nil, nil),
      (.unrecognizedOption(pointer: 42, action: .discardAndReport),
       .parameterProblem(code: .unrecognizedOption, pointer: 42), .parameterProblem(code: .unrecognizedOption, pointer: 42)),
      (.unrecognizedOption(pointer: 50, action: .discardAndReportUnlessMulticast),
       .parameterProblem(code: .unrecognizedOption, pointer: 50), nil),
      (.hopByHopNotFirst(pointer: 48), .parameterProblem(code: .unrecognizedNextHeader, pointer: 48), nil),
      (.unrecognizedRoutingType(pointer: 42), .parameterProblem(code: .erroneousHeaderField, pointer: 42), nil),
      (.fragmentLengthNotMultipleOf8(pointer: 4), .parameterProblem(code: .erroneousHeaderField, pointer: 4), nil),
      (.fragmentPastMaximumLength(pointer: 42), .parameterProblem(code: .erroneousHeaderField, pointer: 42), nil),
    ]
    for (error, unicast, multicast) in cases {
      XCTAssertEqual(ICMPv6Message.parameterProblem(for: error, destination: linkLocalB), unicast, "\(error)")
      XCTAssertEqual(ICMPv6Message.parameterProblem(for: error, destination: .allNodes), multicast, "\(error)")
    }
  }

  func testTooManyHeaders() throws {
    // Eight empty Destination Options headers are accepted; nine are not.
    func chain(_ count: Int) -> [UInt8] {
      var payload: [UInt8] = []
      for index in 0..<count { payload += [index == count - 1 ? 59 : 60, 0, 1, 4, 0, 0, 0, 0] }
      return IPv6Vectors.header("60000000 \(String(payload.count, radix: 16).leftPadded(4)) 3c 40") + payload
    }
    XCTAssertEqual(IPv6ExtensionHeaders.maximumCount, 8)
    let eight = try walk(chain(8)).get()
    XCTAssertEqual(eight.count, 8)
    XCTAssertEqual(eight.upperLayerProtocol, .noNextHeader)
    XCTAssertEqual(eight.upperLayerOffset, 64)
    XCTAssertEqual(walk(chain(9)), .failure(.tooManyHeaders))
    XCTAssertEqual(walk(chain(200)), .failure(.tooManyHeaders))
  }

  func testTruncatedExtensionHeaders() {
    // Every cut of the payload inside the extension headers.
    for vector in [IPv6Vectors.paddedOptions, IPv6Vectors.mldReport, IPv6Vectors.unknownDestinationOption,
                   IPv6Vectors.routingSegmentsLeft] {
      let headers = IPv6Vectors.payload(vector)
      let end = vector == IPv6Vectors.paddedOptions ? 16 : 8
      for length in 0..<end {
        let cut = Array(vector[0..<(40 + length)])
        XCTAssertEqual(walk(cut), .failure(.truncated), "\(hex(Array(headers[0..<length])))")
      }
    }
    // A length field past the payload, and an option whose data runs past its header.
    var long = IPv6Vectors.paddedOptions
    long[41] = 4  // 40 bytes in a 32-byte payload
    XCTAssertEqual(walk(long), .failure(.truncated))
    var option = IPv6Vectors.paddedOptions
    option[43] = 5  // PadN with five bytes of data in a header with four left
    XCTAssertEqual(walk(option), .failure(.truncated))
    var lastByte = IPv6Vectors.paddedOptions
    lastByte[43] = 3
    lastByte[47] = 1  // a PadN's type as the header's last byte: no room for its length
    XCTAssertEqual(walk(lastByte), .failure(.truncated))
    // A Fragment header cut short.
    for length in 0..<8 {
      XCTAssertEqual(walk(Array(IPv6Vectors.lonelyFragment[0..<(40 + length)])), .failure(.truncated), "length \(length)")
    }
  }

  // MARK: Fragments

  func testLinuxFragmentsReassemble() throws {
    let first = try walk(IPv6Vectors.firstFragment).get()
    XCTAssertEqual(first.fragment, IPv6FragmentHeader(nextHeader: .icmpv6, offset: 0, moreFragments: true, identification: 0x36ea_a2fa))
    XCTAssertEqual(first.fragmentHeaderOffset, 0)
    XCTAssertEqual(first.upperLayerProtocol, .icmpv6)
    XCTAssertEqual(first.upperLayerOffset, 8)
    XCTAssertEqual(first.count, 1)
    let second = try walk(IPv6Vectors.secondFragment).get()
    XCTAssertEqual(second.fragment, IPv6FragmentHeader(nextHeader: .icmpv6, offset: 1448, moreFragments: false, identification: 0x36ea_a2fa))
    XCTAssertEqual(second.upperLayerOffset, 8)
    XCTAssertFalse(try XCTUnwrap(second.fragment).isAtomic)
    // The data of the two, in order, is the 2008-byte echo request, whose checksum verifies.
    let whole = Array(IPv6Vectors.firstFragment[48...]) + Array(IPv6Vectors.secondFragment[48...])
    XCTAssertEqual(whole, IPv6Vectors.bigEcho)
    XCTAssertEqual(referenceChecksum(pseudoHeader(linkLocalA, linkLocalB, nextHeader: 58, length: whole.count) + whole), 0)
    let message = try parse(whole) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalA, destination: linkLocalB)
    }
    XCTAssertEqual(message, .echoRequest(identifier: 0x5727, sequenceNumber: 1))
  }

  func testAtomicFragmentIsWalkedThrough() throws {
    // RFC 6946: offset 0 and no M: the walk goes on to what follows.
    var packet = IPv6Vectors.lonelyFragment
    packet[43] = 0  // M cleared
    let headers = try walk(packet).get()
    XCTAssertEqual(headers.fragment?.isAtomic, true)
    XCTAssertEqual(headers.fragment?.identification, 0xdead_beef)
    XCTAssertEqual(headers.upperLayerProtocol, .icmpv6)
    XCTAssertEqual(headers.upperLayerOffset, 8)
    // Behind it, a Destination Options header is walked too.
    let chained = IPv6Vectors.header("60000000 0020 2c 40") + bytes("3c 00 0000 00000007") + bytes("3a 00 0104 00000000")
      + bytes("80 00 0000 1234 0005 0000000000000000")
    let behind = try walk(chained).get()
    XCTAssertEqual(behind.upperLayerOffset, 16)
    XCTAssertEqual(behind.count, 2)
    XCTAssertEqual(behind.fragmentHeaderOffset, 0)
  }

  func testFragmentAfterUnfragmentableHeaders() throws {
    // Hop-by-Hop (Router Alert), then a fragment at offset 8: the unfragmentable part is 8.
    let packet = IPv6Vectors.header("60000000 0020 00 40") + bytes("2c 00 0502 0000 0100") + bytes("3a 00 0009 00000001")
      + [UInt8](repeating: 0x55, count: 16)
    let headers = try walk(packet).get()
    XCTAssertEqual(headers.fragmentHeaderOffset, 8)
    XCTAssertEqual(headers.fragment?.offset, 8)
    XCTAssertEqual(headers.fragment?.moreFragments, true)
    XCTAssertEqual(headers.upperLayerOffset, 16)
    XCTAssertEqual(headers.routerAlert, 0)
    XCTAssertEqual(headers.count, 2)
  }

  func testFragmentLengthNotMultipleOf8() {
    // RFC 8200 4.5: M set and 47 bytes of data. Without M, any length is fine.
    var packet = Array(IPv6Vectors.lonelyFragment.dropLast())
    write(0x37, into: &packet, at: 4)
    XCTAssertEqual(walk(packet), .failure(.fragmentLengthNotMultipleOf8(pointer: 4)))
    packet[43] = 0xa8  // offset 21 units, no M
    XCTAssertEqual(try walk(packet).get().fragment?.offset, 168)
  }

  func testFragmentPastMaximumLength() {
    // RFC 8200 4.5: offset 65528 with 8 bytes of data reaches 65536.
    var packet = IPv6Vectors.header("60000000 0010 2c 40") + bytes("3a 00 fff8 00000001") + [UInt8](repeating: 0, count: 8)
    XCTAssertEqual(walk(packet), .failure(.fragmentPastMaximumLength(pointer: 42)))
    packet[43] = 0xf0  // offset 65520: exactly 65528, fine
    XCTAssertEqual(try walk(packet).get().fragment?.offset, 65520)
    // The unfragmentable part counts.
    let behindOptions = IPv6Vectors.header("60000000 0018 3c 40") + bytes("2c 00 0104 00000000") + bytes("3a 00 fff0 00000001")
      + [UInt8](repeating: 0, count: 8)
    XCTAssertEqual(walk(behindOptions), .failure(.fragmentPastMaximumLength(pointer: 50)))
  }

  func testFragmentHeaderParseAndEmit() throws {
    let header = IPv6FragmentHeader(nextHeader: .icmpv6, offset: 1448, moreFragments: false, identification: 0x36ea_a2fa)
    assertBytes(emitting(into: filled(10)) { header.emit(into: $0) }, bytes("3a 00 05a8 36eaa2fa a5a5"))
    let first = IPv6FragmentHeader(nextHeader: .icmpv6, offset: 0, moreFragments: true, identification: 0x36ea_a2fa)
    assertBytes(emitting(into: filled(8)) { first.emit(into: $0) }, Array(IPv6Vectors.firstFragment[40..<48]))
    // Reserved bits are ignored on input and cleared on output.
    let reserved = bytes("11 ff 05ae 00000009")
    let parsed = try parse(reserved) { raw throws(WireError) in try IPv6FragmentHeader.parse(raw) }
    XCTAssertEqual(parsed, IPv6FragmentHeader(nextHeader: .udp, offset: 1448, moreFragments: false, identification: 9))
    assertBytes(emitting(into: filled(8)) { parsed.emit(into: $0) }, bytes("11 00 05a8 00000009"))
    assertThrows(.truncated, Array(reserved[0..<7])) { raw throws(WireError) in try IPv6FragmentHeader.parse(raw) }
    XCTAssertEqual(first.description, "frag id 0x36eaa2fa, offset 0+, ICMP6")
    XCTAssertEqual(header.description, "frag id 0x36eaa2fa, offset 1448, ICMP6")
  }

  func testRouterAlertHeaderIsLinuxs() {
    // The Hop-by-Hop header of Linux's MLD report, byte for byte.
    assertBytes(emitting(into: filled(9)) { IPv6RouterAlertHeader().emit(into: $0) }, Array(IPv6Vectors.mldReport[40..<48]) + [0xa5])
    let walked = IPv6Vectors.header("60000000 0008 00 01") + emitting(into: filled(8)) {
      IPv6RouterAlertHeader(nextHeader: .noNextHeader, value: 7).emit(into: $0)
    }
    XCTAssertEqual(try walk(walked).get(), IPv6ExtensionHeaders(upperLayerProtocol: .noNextHeader, upperLayerOffset: 8, routerAlert: 7, count: 1))
  }
}

extension String {
  /// `self` with zeros in front up to `width` characters.
  func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
