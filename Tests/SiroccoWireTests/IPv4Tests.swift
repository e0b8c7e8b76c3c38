// The IPv4 header (RFC 791 3.1, RFC 1122 3.2.1): deconstruct, construct, round trip,
// description, negative vectors. Checksums in the vectors were computed outside Swift.

import XCTest

@testable import SiroccoWire

enum IPv4Vectors {
  /// `ping 10.0.0.2` from 10.0.0.1 (Linux): DF, TTL 64, id 0x5b3a, 84 bytes, checksum 0xcb6c.
  static let pingRequest = bytes("4500 0054 5b3a 4000 40 01 cb6c 0a000001 0a000002") + ICMPv4Vectors.echoRequest
  /// The reply from 10.0.0.2 (Linux replies without DF): id 0x9c41, checksum 0xca65.
  static let pingReply = bytes("4500 0054 9c41 0000 40 01 ca65 0a000002 0a000001") + ICMPv4Vectors.echoReply
  /// A DNS query for example.com from 10.0.0.1:54321 to 10.0.0.2:53 (no DF), checksum 0x2786.
  static let dnsQuery = bytes("4500 0044 3f21 0000 40 11 2786 0a000001 0a000002") + UDPVectors.dnsQuery
  /// An IGMPv3 membership report to 224.0.0.22 with the Router Alert option (RFC 2113):
  /// IHL 6, TOS 0xc0, TTL 1, protocol 2, checksum 0xf9f8.
  static let igmpWithRouterAlert = bytes(
    """
    46c0 0028 0000 4000 01 02 f9f8 0a000001 e0000016 94040000
    2200 f902 0000 0001 04000000 e00000fb
    """)
  /// A non-first fragment: MF set, offset 185 units = 1480 bytes, 8 bytes of UDP payload.
  static let fragment = bytes("4500 001c abcd 20b9 40 11 9a48 0a000001 0a000002 0001020304050607")
}

final class IPv4Tests: XCTestCase {
  private func parseIPv4(_ data: [UInt8], verifyChecksum: Bool = true) throws(WireError) -> IPv4Header {
    try parse(data) { raw throws(WireError) in try IPv4Header.parse(raw, verifyChecksum: verifyChecksum) }
  }

  // MARK: Deconstruct

  func testDeconstructPingRequest() throws {
    let header = try parseIPv4(IPv4Vectors.pingRequest)
    XCTAssertEqual(header.typeOfService, 0)
    XCTAssertEqual(header.totalLength, 84)
    XCTAssertEqual(header.identification, 0x5b3a)
    XCTAssertTrue(header.dontFragment)
    XCTAssertFalse(header.moreFragments)
    XCTAssertEqual(header.fragmentOffset, 0)
    XCTAssertFalse(header.isFragment)
    XCTAssertEqual(header.timeToLive, 64)
    XCTAssertEqual(header.protocol, .icmp)
    XCTAssertEqual(header.checksum, 0xcb6c)
    XCTAssertEqual(header.source, hostA)
    XCTAssertEqual(header.destination, hostB)
    XCTAssertEqual(header.headerLength, 20)
    XCTAssertEqual(header.payloadLength, 64)
  }

  func testDeconstructPingReply() throws {
    let header = try parseIPv4(IPv4Vectors.pingReply)
    XCTAssertEqual(header.identification, 0x9c41)
    XCTAssertFalse(header.dontFragment)
    XCTAssertFalse(header.isFragment)
    XCTAssertEqual(header.checksum, 0xca65)
    XCTAssertEqual(header.source, hostB)
    XCTAssertEqual(header.destination, hostA)
    XCTAssertEqual(header.protocol.rawValue, 1)
  }

  func testDeconstructWithOptions() throws {
    let header = try parseIPv4(IPv4Vectors.igmpWithRouterAlert)
    XCTAssertEqual(header.headerLength, 24)
    XCTAssertEqual(header.totalLength, 40)
    XCTAssertEqual(header.payloadLength, 16)
    XCTAssertEqual(header.typeOfService, 0xc0)
    XCTAssertEqual(header.timeToLive, 1)
    XCTAssertEqual(header.protocol, IPProtocol(rawValue: 2))
    XCTAssertEqual(header.destination, IPv4Address(224, 0, 0, 22))
    XCTAssertTrue(header.destination.isMulticast)
    XCTAssertEqual(header.checksum, 0xf9f8)
  }

  func testDeconstructFragment() throws {
    let header = try parseIPv4(IPv4Vectors.fragment)
    XCTAssertTrue(header.moreFragments)
    XCTAssertFalse(header.dontFragment)
    XCTAssertEqual(header.fragmentOffset, 1480)
    XCTAssertTrue(header.isFragment)
    XCTAssertEqual(header.identification, 0xabcd)
    XCTAssertEqual(header.protocol, .udp)
    XCTAssertEqual(header.payloadLength, 8)
  }

  func testDeconstructIgnoresTrailingPadding() throws {
    // A 28-byte datagram arrives in a 60-byte Ethernet frame: 32 bytes of padding follow.
    let padded = IPv4Vectors.fragment + [UInt8](repeating: 0, count: 32)
    let header = try parseIPv4(padded)
    XCTAssertEqual(header.totalLength, 28)
    XCTAssertEqual(header, try parseIPv4(IPv4Vectors.fragment))
  }

  // MARK: Construct

  func testConstructPingRequest() {
    let header = IPv4Header(
      totalLength: 84, identification: 0x5b3a, protocol: .icmp, source: hostA, destination: hostB)
    XCTAssertEqual(header.headerLength, 20)
    assertBytes(emitting(into: filled(20)) { header.emit(into: $0) }, Array(IPv4Vectors.pingRequest[0..<20]))
    // In a whole packet buffer, only the 20 header bytes are written.
    let packet = emitting(into: filled(header: 20, payload: ICMPv4Vectors.echoRequest)) { header.emit(into: $0) }
    assertBytes(packet, IPv4Vectors.pingRequest)
  }

  func testConstructPingReply() {
    let header = IPv4Header(
      totalLength: 84, identification: 0x9c41, dontFragment: false, protocol: .icmp,
      source: hostB, destination: hostA)
    assertBytes(emitting(into: filled(20)) { header.emit(into: $0) }, Array(IPv4Vectors.pingReply[0..<20]))
  }

  func testConstructFragment() {
    let header = IPv4Header(
      totalLength: 28, identification: 0xabcd, dontFragment: false, moreFragments: true,
      fragmentOffset: 1480, protocol: .udp, source: hostA, destination: hostB)
    assertBytes(emitting(into: filled(20)) { header.emit(into: $0) }, Array(IPv4Vectors.fragment[0..<20]))
  }

  func testConstructWithoutChecksum() {
    // fillChecksum: false leaves the field zero (offload).
    let header = IPv4Header(
      totalLength: 84, identification: 0x5b3a, protocol: .icmp, source: hostA, destination: hostB)
    var expected = Array(IPv4Vectors.pingRequest[0..<20])
    expected[10] = 0
    expected[11] = 0
    assertBytes(emitting(into: filled(20)) { header.emit(into: $0, fillChecksum: false) }, expected)
  }

  func testEmitIgnoresStoredChecksum() throws {
    // `checksum` is what parse read; emit recomputes it.
    var header = try parseIPv4(IPv4Vectors.pingRequest)
    header.checksum = 0x1234
    assertBytes(emitting(into: filled(20)) { header.emit(into: $0) }, Array(IPv4Vectors.pingRequest[0..<20]))
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    for vector in [IPv4Vectors.pingRequest, IPv4Vectors.pingReply, IPv4Vectors.dnsQuery, IPv4Vectors.fragment] {
      let header = try parseIPv4(vector)
      assertBytes(emitting(into: vector) { header.emit(into: $0) }, vector)
      let reparsed = try parseIPv4(emitting(into: vector) { header.emit(into: $0) })
      XCTAssertEqual(reparsed, header)
    }
  }

  func testRoundTripDropsOptions() throws {
    // Options are skipped on input and never emitted: the re-emitted header is 20 bytes with
    // the same total length, and parses back with every other field intact.
    let header = try parseIPv4(IPv4Vectors.igmpWithRouterAlert)
    let out = emitting(into: IPv4Vectors.igmpWithRouterAlert) { header.emit(into: $0) }
    XCTAssertEqual(out[0], 0x45)
    let reparsed = try parseIPv4(out)
    XCTAssertEqual(reparsed.headerLength, 20)
    XCTAssertEqual(reparsed.totalLength, header.totalLength)
    XCTAssertEqual(reparsed.typeOfService, header.typeOfService)
    XCTAssertEqual(reparsed.timeToLive, header.timeToLive)
    XCTAssertEqual(reparsed.protocol, header.protocol)
    XCTAssertEqual(reparsed.source, header.source)
    XCTAssertEqual(reparsed.destination, header.destination)
    XCTAssertEqual(reparsed.dontFragment, header.dontFragment)
  }

  // MARK: Description

  func testDescription() throws {
    let request = try parseIPv4(IPv4Vectors.pingRequest).description
    for part in ["10.0.0.1 > 10.0.0.2", "ICMP", "ttl 64", "id 23354", "length 84", "DF"] {
      XCTAssertTrue(request.contains(part), "\(request) lacks \(part)")
    }
    XCTAssertTrue(request.hasPrefix("IP "), request)

    let reply = try parseIPv4(IPv4Vectors.pingReply).description
    XCTAssertTrue(reply.contains("10.0.0.2 > 10.0.0.1"), reply)
    XCTAssertFalse(reply.contains("DF"), reply)

    let fragment = try parseIPv4(IPv4Vectors.fragment).description
    XCTAssertTrue(fragment.contains("UDP"), fragment)
    XCTAssertTrue(fragment.contains("frag offset 1480+"), fragment)

    let igmp = try parseIPv4(IPv4Vectors.igmpWithRouterAlert).description
    XCTAssertTrue(igmp.contains("proto 2"), igmp)
    XCTAssertTrue(igmp.contains("10.0.0.1 > 224.0.0.22"), igmp)
  }

  // MARK: Negative vectors

  func testTruncatedBelowMinimum() {
    for length in 0..<IPv4Header.minimumLength {
      assertThrows(.truncated, Array(IPv4Vectors.pingRequest[0..<length]), "length \(length)") { raw throws(WireError) in
        try IPv4Header.parse(raw)
      }
    }
  }

  func testTotalLengthLargerThanBuffer() {
    // Every prefix that holds the header but not the whole datagram.
    for length in 20..<84 {
      assertThrows(.truncated, Array(IPv4Vectors.pingRequest[0..<length]), "length \(length)") { raw throws(WireError) in
        try IPv4Header.parse(raw)
      }
    }
    // A valid checksum over a total length one past the buffer.
    var packet = IPv4Vectors.pingRequest
    write(85, into: &packet, at: 2)
    fixIPv4Checksum(&packet)
    assertThrows(.truncated, packet) { raw throws(WireError) in try IPv4Header.parse(raw) }
    write(0xffff, into: &packet, at: 2)
    fixIPv4Checksum(&packet)
    assertThrows(.truncated, packet) { raw throws(WireError) in try IPv4Header.parse(raw) }
  }

  func testTotalLengthSmallerThanHeader() {
    for total: UInt16 in [0, 1, 19] {
      var packet = IPv4Vectors.pingRequest
      write(total, into: &packet, at: 2)
      fixIPv4Checksum(&packet)
      assertThrows(.malformed, packet, "total \(total)") { raw throws(WireError) in try IPv4Header.parse(raw) }
    }
    // With options: 20 and 23 are below the 24-byte header.
    for total: UInt16 in [20, 23] {
      var packet = IPv4Vectors.igmpWithRouterAlert
      write(total, into: &packet, at: 2)
      fixIPv4Checksum(&packet)
      assertThrows(.malformed, packet, "total \(total)") { raw throws(WireError) in try IPv4Header.parse(raw) }
    }
    // Exactly the header: an empty payload is fine.
    var empty = Array(IPv4Vectors.pingRequest[0..<20])
    write(20, into: &empty, at: 2)
    fixIPv4Checksum(&empty)
    XCTAssertEqual(try parseIPv4(empty).payloadLength, 0)
  }

  func testBadVersion() {
    for version: UInt8 in [0, 3, 5, 6, 15] {
      var packet = IPv4Vectors.pingRequest
      packet[0] = version << 4 | 5
      fixIPv4Checksum(&packet)
      assertThrows(.malformed, packet, "version \(version)") { raw throws(WireError) in try IPv4Header.parse(raw) }
      assertThrows(.malformed, packet, "version \(version)") { raw throws(WireError) in
        try IPv4Header.parse(raw, verifyChecksum: false)
      }
    }
    // An IPv6 header handed to the IPv4 parser.
    let ipv6 = bytes("6000000000083a40 fe800000000000000000000000000001 fe800000000000000000000000000002")
    assertThrows(.malformed, ipv6) { raw throws(WireError) in try IPv4Header.parse(raw) }
  }

  func testBadHeaderLength() {
    for ihl: UInt8 in 0..<5 {
      var packet = IPv4Vectors.pingRequest
      packet[0] = 0x40 | ihl
      assertThrows(.malformed, packet, "ihl \(ihl)") { raw throws(WireError) in
        try IPv4Header.parse(raw, verifyChecksum: false)
      }
    }
    // IHL larger than the buffer.
    var short = Array(IPv4Vectors.pingRequest[0..<20])
    short[0] = 0x46
    write(20, into: &short, at: 2)
    assertThrows(.truncated, short) { raw throws(WireError) in try IPv4Header.parse(raw, verifyChecksum: false) }
    var fifteen = IPv4Vectors.igmpWithRouterAlert  // 40 bytes; IHL 15 claims 60
    fifteen[0] = 0x4f
    assertThrows(.truncated, fifteen) { raw throws(WireError) in try IPv4Header.parse(raw, verifyChecksum: false) }
  }

  func testBadChecksum() {
    var ttl = IPv4Vectors.pingRequest
    ttl[8] = 63  // a router decremented the TTL but did not update the checksum
    assertThrows(.badChecksum, ttl) { raw throws(WireError) in try IPv4Header.parse(raw) }

    var field = IPv4Vectors.pingRequest
    write(0xcb6d, into: &field, at: 10)
    assertThrows(.badChecksum, field) { raw throws(WireError) in try IPv4Header.parse(raw) }

    var zero = IPv4Vectors.pingRequest
    write(0, into: &zero, at: 10)
    assertThrows(.badChecksum, zero) { raw throws(WireError) in try IPv4Header.parse(raw) }

    // The checksum covers the options.
    var option = IPv4Vectors.igmpWithRouterAlert
    option[22] = 1
    assertThrows(.badChecksum, option) { raw throws(WireError) in try IPv4Header.parse(raw) }

    // Only the header is covered: a damaged payload does not matter to IPv4.
    var payload = IPv4Vectors.pingRequest
    payload[40] ^= 0xff
    XCTAssertNoThrow(try parseIPv4(payload))
  }

  func testVerifyChecksumFalseAcceptsBadChecksum() throws {
    var packet = IPv4Vectors.pingRequest
    write(0xdead, into: &packet, at: 10)
    let header = try parseIPv4(packet, verifyChecksum: false)
    XCTAssertEqual(header.checksum, 0xdead, "checksum is reported as read")
    XCTAssertEqual(header.identification, 0x5b3a)
    XCTAssertEqual(header.totalLength, 84)
  }
}
