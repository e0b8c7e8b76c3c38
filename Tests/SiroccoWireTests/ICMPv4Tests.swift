// ICMP for IPv4 (RFC 792, RFC 1191, RFC 1812 4.3.2.3): deconstruct, construct, round trip,
// description, negative vectors. Checksums in the vectors were computed outside Swift.

import XCTest

@testable import SiroccoWire

enum ICMPv4Vectors {
  /// iputils ping data on x86_64: a 16-byte struct timeval, then bytes 0x10...0x37.
  static let pingData = bytes("d46a5f6500000000 a1b20c0000000000") + Array(UInt8(0x10)...UInt8(0x37))
  /// Echo request, id 0x0d2f (3375), seq 1, checksum 0x4a7a.
  static let echoRequest = bytes("08 00 4a7a 0d2f 0001") + pingData
  /// Echo reply to it, checksum 0x527a.
  static let echoReply = bytes("00 00 527a 0d2f 0001") + pingData
  /// Port unreachable from 10.0.0.2, quoting the whole DNS query datagram; checksum 0x1141.
  static let portUnreachable = bytes("03 03 1141 00000000") + IPv4Vectors.dnsQuery
  /// Fragmentation needed, next-hop MTU 1400 (RFC 1191), quoting an IPv4 header and the
  /// first 8 bytes of a 1480-byte TCP segment to 192.0.2.7; checksum 0xf8c3.
  static let fragmentationNeeded = bytes(
    """
    03 04 f8c3 0000 0578
    4500 05dc 1234 4000 40 06 56e0 0a000001 c0000207 b26e0050cdec7e14
    """)
  /// TTL exceeded in transit, quoting a traceroute probe (UDP to port 33434, TTL 1) as
  /// header + 8 bytes; checksum 0x044f.
  static let timeExceeded = bytes(
    """
    0b 00 044f 00000000
    4500 003c 8a6f 0000 01 11 1532 0a000001 08080808 acef829a0028c0fe
    """)
  /// A timestamp request (type 13): parsed as `.other`. Checksum 0x3cb5.
  static let timestampRequest = bytes("0d 00 3cb5 1234 0001 0255a1c0 00000000 00000000")
  /// `ping -s 1`: a 9-byte message (odd length), id 0x0d30, seq 7, checksum 0x3fc8.
  static let oddEchoRequest = bytes("08 00 3fc8 0d30 0007 ab")
  /// Type 8 with a non-zero code is not an echo request: `.other`. Checksum 0xeace.
  static let echoCodeOne = bytes("08 01 eace 0d2f 0001")
}

final class ICMPv4Tests: XCTestCase {
  private func parseICMP(_ data: [UInt8], verifyChecksum: Bool = true) throws(WireError) -> ICMPv4Message {
    try parse(data) { raw throws(WireError) in try ICMPv4Message.parse(raw, verifyChecksum: verifyChecksum) }
  }

  // MARK: Deconstruct

  func testDeconstructEchoRequest() throws {
    // The ICMP message is the IPv4 payload of the ping request.
    let message = try parseICMP(Array(IPv4Vectors.pingRequest[20...]))
    XCTAssertEqual(message, .echoRequest(identifier: 0x0d2f, sequenceNumber: 1))
    XCTAssertEqual(message.type, 8)
    XCTAssertEqual(message.code, 0)
  }

  func testDeconstructEchoReply() throws {
    let message = try parseICMP(ICMPv4Vectors.echoReply)
    XCTAssertEqual(message, .echoReply(identifier: 3375, sequenceNumber: 1))
    XCTAssertEqual(message.type, 0)
    XCTAssertEqual(message.code, 0)
  }

  func testDeconstructPortUnreachable() throws {
    let message = try parseICMP(ICMPv4Vectors.portUnreachable)
    XCTAssertEqual(message, .destinationUnreachable(code: .port, nextHopMTU: 0))
    XCTAssertEqual(message.type, 3)
    XCTAssertEqual(message.code, 3)
    // The quoted datagram is the payload: it parses as the original IPv4 + UDP.
    let quoted = Array(ICMPv4Vectors.portUnreachable[ICMPv4Message.headerLength...])
    let inner = try parse(quoted) { raw throws(WireError) in try IPv4Header.parse(raw) }
    XCTAssertEqual(inner.source, hostA)
    XCTAssertEqual(inner.destination, hostB)
    XCTAssertEqual(inner.protocol, .udp)
    let udp = try parse(Array(quoted[20...])) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: inner.source, destination: inner.destination)
    }
    XCTAssertEqual(udp.destinationPort, 53)
  }

  func testDeconstructFragmentationNeeded() throws {
    let message = try parseICMP(ICMPv4Vectors.fragmentationNeeded)
    XCTAssertEqual(message, .destinationUnreachable(code: .fragmentationNeeded, nextHopMTU: 1400))
    XCTAssertEqual(message.code, 4)
  }

  func testDeconstructTimeExceeded() throws {
    let message = try parseICMP(ICMPv4Vectors.timeExceeded)
    XCTAssertEqual(message, .timeExceeded(code: 0))
    XCTAssertEqual(message.type, 11)
    XCTAssertEqual(message.code, 0)
  }

  func testDeconstructOtherTypes() throws {
    let timestamp = try parseICMP(ICMPv4Vectors.timestampRequest)
    XCTAssertEqual(timestamp, .other(type: 13, code: 0, rest: 0x1234_0001))
    XCTAssertEqual(timestamp.type, 13)
    let codeOne = try parseICMP(ICMPv4Vectors.echoCodeOne)
    XCTAssertEqual(codeOne, .other(type: 8, code: 1, rest: 0x0d2f_0001))
  }

  func testDeconstructOddLength() throws {
    XCTAssertEqual(try parseICMP(ICMPv4Vectors.oddEchoRequest), .echoRequest(identifier: 0x0d30, sequenceNumber: 7))
  }

  // MARK: Construct

  private func construct(_ message: ICMPv4Message, matching vector: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
    let payload = Array(vector[ICMPv4Message.headerLength...])
    let out = emitting(into: filled(header: ICMPv4Message.headerLength, payload: payload)) { message.emit(into: $0) }
    assertBytes(out, vector, "\(message)", file: file, line: line)
  }

  func testConstructEchoRequest() {
    construct(.echoRequest(identifier: 0x0d2f, sequenceNumber: 1), matching: ICMPv4Vectors.echoRequest)
    construct(.echoRequest(identifier: 0x0d30, sequenceNumber: 7), matching: ICMPv4Vectors.oddEchoRequest)
  }

  func testConstructEchoReply() {
    construct(.echoReply(identifier: 0x0d2f, sequenceNumber: 1), matching: ICMPv4Vectors.echoReply)
  }

  func testConstructDestinationUnreachable() {
    construct(.destinationUnreachable(code: .port, nextHopMTU: 0), matching: ICMPv4Vectors.portUnreachable)
    construct(
      .destinationUnreachable(code: .fragmentationNeeded, nextHopMTU: 1400),
      matching: ICMPv4Vectors.fragmentationNeeded)
  }

  func testConstructTimeExceeded() {
    construct(.timeExceeded(code: 0), matching: ICMPv4Vectors.timeExceeded)
  }

  func testConstructOther() {
    construct(.other(type: 13, code: 0, rest: 0x1234_0001), matching: ICMPv4Vectors.timestampRequest)
  }

  func testConstructWithoutChecksum() {
    // fillChecksum: false leaves the field zero.
    var expected = ICMPv4Vectors.echoRequest
    expected[2] = 0
    expected[3] = 0
    let out = emitting(into: filled(header: 8, payload: ICMPv4Vectors.pingData)) {
      ICMPv4Message.echoRequest(identifier: 0x0d2f, sequenceNumber: 1).emit(into: $0, fillChecksum: false)
    }
    assertBytes(out, expected)
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    for vector in [ICMPv4Vectors.echoRequest, ICMPv4Vectors.echoReply, ICMPv4Vectors.portUnreachable,
                   ICMPv4Vectors.fragmentationNeeded, ICMPv4Vectors.timeExceeded,
                   ICMPv4Vectors.timestampRequest, ICMPv4Vectors.oddEchoRequest, ICMPv4Vectors.echoCodeOne] {
      let message = try parseICMP(vector)
      let out = emitting(into: vector) { message.emit(into: $0) }
      assertBytes(out, vector, "\(message)")
      XCTAssertEqual(try parseICMP(out), message)
    }
  }

  // MARK: Description

  func testDescription() throws {
    XCTAssertEqual(try parseICMP(ICMPv4Vectors.echoRequest).description, "ICMP echo request, id 3375, seq 1")
    XCTAssertEqual(try parseICMP(ICMPv4Vectors.echoReply).description, "ICMP echo reply, id 3375, seq 1")
    let unreachable = try parseICMP(ICMPv4Vectors.portUnreachable).description
    XCTAssertTrue(unreachable.contains("unreachable"), unreachable)
    XCTAssertTrue(unreachable.contains("code 3"), unreachable)
    let exceeded = try parseICMP(ICMPv4Vectors.timeExceeded).description
    XCTAssertTrue(exceeded.contains("time exceeded"), exceeded)
    XCTAssertTrue(exceeded.contains("code 0"), exceeded)
    let other = try parseICMP(ICMPv4Vectors.timestampRequest).description
    XCTAssertTrue(other.contains("type 13"), other)
  }

  // MARK: Negative vectors

  func testTruncated() {
    for length in 0..<ICMPv4Message.headerLength {
      assertThrows(.truncated, Array(ICMPv4Vectors.echoRequest[0..<length]), "length \(length)") { raw throws(WireError) in
        try ICMPv4Message.parse(raw)
      }
      assertThrows(.truncated, Array(ICMPv4Vectors.echoRequest[0..<length]), "length \(length)") { raw throws(WireError) in
        try ICMPv4Message.parse(raw, verifyChecksum: false)
      }
    }
  }

  func testBadChecksum() {
    // The checksum covers the data too.
    var data = ICMPv4Vectors.echoRequest
    data[40] ^= 0x01
    assertThrows(.badChecksum, data) { raw throws(WireError) in try ICMPv4Message.parse(raw) }

    var field = ICMPv4Vectors.echoReply
    write(0, into: &field, at: 2)
    assertThrows(.badChecksum, field) { raw throws(WireError) in try ICMPv4Message.parse(raw) }

    // The odd trailing byte is covered (as the high half of a padded word).
    var odd = ICMPv4Vectors.oddEchoRequest
    odd[8] = 0xac
    assertThrows(.badChecksum, odd) { raw throws(WireError) in try ICMPv4Message.parse(raw) }

    // A message cut short fails the checksum computed over what is there.
    assertThrows(.badChecksum, Array(ICMPv4Vectors.echoRequest[0..<40])) { raw throws(WireError) in
      try ICMPv4Message.parse(raw)
    }
    // A request turned into a reply without fixing the checksum.
    var turned = ICMPv4Vectors.echoRequest
    turned[0] = 0
    assertThrows(.badChecksum, turned) { raw throws(WireError) in try ICMPv4Message.parse(raw) }
  }

  func testVerifyChecksumFalseAcceptsBadChecksum() throws {
    var turned = ICMPv4Vectors.echoRequest
    turned[0] = 0
    XCTAssertEqual(try parseICMP(turned, verifyChecksum: false), .echoReply(identifier: 0x0d2f, sequenceNumber: 1))
  }
}
