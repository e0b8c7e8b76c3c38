// The UDP header (RFC 768, RFC 1122 4.1.3.4; over IPv6 RFC 8200 8.1): deconstruct, construct,
// round trip, description, negative vectors. Checksums in the vectors were computed outside
// Swift.

import XCTest

@testable import SiroccoWire

enum UDPVectors {
  /// The DNS query's payload: `A? example.com.` with an EDNS0 OPT record (id 0x2b6e, RD, AD).
  static let dnsPayload = bytes(
    """
    2b6e 0120 0001 0000 0000 0001
    07 6578616d706c65 03 636f6d 00 0001 0001
    00 0029 1000 00 00 0000 0000
    """)
  /// 10.0.0.1:54321 > 10.0.0.2:53, length 48, checksum 0x0bff.
  static let dnsQuery = bytes("d431 0035 0030 0bff") + dnsPayload

  /// 10.0.0.1:5000 > 10.0.0.2:5001 with a 6-byte payload ("ping" and two bytes chosen so the
  /// one's-complement sum is 0xffff): the computed checksum is 0, sent as 0xffff (RFC 768).
  static let zeroSumPayload = bytes("70696e67 e5ed")
  static let zeroSum = bytes("1388 1389 000e ffff") + zeroSumPayload

  /// linkLocalA:40000 > linkLocalB:9, "hello", checksum 0x810b (tcpdump: "udp sum ok"): Linux
  /// answered with a port unreachable (ICMPv6Vectors.portUnreachable).
  static let ipv6Hello = bytes("9c40 0009 000d 810b 68656c6c6f")
  /// linkLocalA:5000 > linkLocalB:5001, "ping" and two bytes chosen so that the sum with the
  /// IPv6 pseudo-header is 0xffff: the computed checksum is 0, sent as 0xffff (RFC 8200 8.1).
  static let ipv6ZeroSumPayload = bytes("70696e67 5b43")
  static let ipv6ZeroSum = bytes("1388 1389 000e ffff") + ipv6ZeroSumPayload
}

final class UDPTests: XCTestCase {
  private func parseUDP(
    _ data: [UInt8], source: IPAddress = .v4(hostA), destination: IPAddress = .v4(hostB), verifyChecksum: Bool = true
  ) throws(WireError) -> UDPHeader {
    try parse(data) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: source, destination: destination, verifyChecksum: verifyChecksum)
    }
  }

  // MARK: Deconstruct

  func testDeconstruct() throws {
    // The datagram is the IPv4 payload of the DNS query.
    let header = try parseUDP(Array(IPv4Vectors.dnsQuery[20...]))
    XCTAssertEqual(header.sourcePort, 54321)
    XCTAssertEqual(header.destinationPort, 53)
    XCTAssertEqual(header.length, 48)
    XCTAssertEqual(header.payloadLength, 40)
    XCTAssertEqual(header.checksum, 0x0bff)
  }

  func testDeconstructIgnoresTrailingBytes() throws {
    // Bytes past the length field (e.g. link padding the IP layer did not strip) are not
    // part of the datagram nor of its checksum.
    let padded = UDPVectors.dnsQuery + [0xde, 0xad, 0xbe, 0xef]
    let header = try parseUDP(padded)
    XCTAssertEqual(header.length, 48)
    XCTAssertEqual(header, try parseUDP(UDPVectors.dnsQuery))
  }

  func testDeconstructEmptyPayload() throws {
    // 10.0.0.1:5000 > 10.0.0.2:5001, length 8, no payload: checksum 0xc4ca (computed outside Swift).
    let empty = bytes("1388 1389 0008 c4ca")
    let header = try parseUDP(empty)
    XCTAssertEqual(header.payloadLength, 0)
    XCTAssertEqual(header.checksum, 0xc4ca)
  }

  // MARK: Construct

  func testConstruct() {
    let header = UDPHeader(sourcePort: 54321, destinationPort: 53, payloadLength: UDPVectors.dnsPayload.count)
    XCTAssertEqual(header.length, 48)
    let out = emitting(into: filled(header: UDPHeader.length, payload: UDPVectors.dnsPayload)) {
      header.emit(into: $0, source: hostA, destination: hostB)
    }
    assertBytes(out, UDPVectors.dnsQuery)
  }

  func testConstructIntoLargerBuffer() {
    // Only `length` bytes are checksummed; the rest of the buffer is neither read nor written.
    let header = UDPHeader(sourcePort: 54321, destinationPort: 53, payloadLength: UDPVectors.dnsPayload.count)
    let out = emitting(into: filled(header: 8, payload: UDPVectors.dnsPayload) + filled(12)) {
      header.emit(into: $0, source: hostA, destination: hostB)
    }
    assertBytes(out, UDPVectors.dnsQuery + filled(12))
  }

  func testComputedZeroIsSentAsAllOnes() throws {
    let header = UDPHeader(sourcePort: 5000, destinationPort: 5001, payloadLength: 6)
    let out = emitting(into: filled(header: 8, payload: UDPVectors.zeroSumPayload)) {
      header.emit(into: $0, source: hostA, destination: hostB)
    }
    // Check the premise with the reference: the checksum computed with the field zero is 0.
    var zeroed = out
    write(0, into: &zeroed, at: 6)
    XCTAssertEqual(referenceChecksum(pseudoHeader(hostA, hostB, protocol: 17, length: 14) + zeroed), 0)
    XCTAssertEqual(readUInt16(out, at: 6), 0xffff)
    assertBytes(out, UDPVectors.zeroSum)
    // And 0xffff verifies on input.
    XCTAssertEqual(try parseUDP(UDPVectors.zeroSum).checksum, 0xffff)
  }

  func testConstructWithoutChecksum() {
    // fillChecksum: false writes zero: "no checksum" (RFC 768).
    let header = UDPHeader(sourcePort: 54321, destinationPort: 53, payloadLength: UDPVectors.dnsPayload.count)
    let out = emitting(into: filled(header: 8, payload: UDPVectors.dnsPayload)) {
      header.emit(into: $0, source: hostA, destination: hostB, fillChecksum: false)
    }
    var expected = UDPVectors.dnsQuery
    write(0, into: &expected, at: 6)
    assertBytes(out, expected)
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    for vector in [UDPVectors.dnsQuery, UDPVectors.zeroSum] {
      let header = try parseUDP(vector)
      let out = emitting(into: vector) { header.emit(into: $0, source: hostA, destination: hostB) }
      assertBytes(out, vector)
      XCTAssertEqual(try parseUDP(out), header)
    }
  }

  // MARK: Description

  func testDescription() throws {
    let text = try parseUDP(UDPVectors.dnsQuery).description
    XCTAssertEqual(text, "UDP 54321 > 53, length 40")
  }

  // MARK: Negative vectors

  func testTruncated() {
    for length in 0..<UDPHeader.length {
      assertThrows(.truncated, Array(UDPVectors.dnsQuery[0..<length]), "length \(length)") { raw throws(WireError) in
        try UDPHeader.parse(raw, source: hostA, destination: hostB)
      }
    }
  }

  func testLengthBelowHeader() {
    for length: UInt16 in 0..<8 {
      var datagram = UDPVectors.dnsQuery
      write(length, into: &datagram, at: 4)
      assertThrows(.malformed, datagram, "length \(length)") { raw throws(WireError) in
        try UDPHeader.parse(raw, source: hostA, destination: hostB)
      }
      assertThrows(.malformed, datagram, "length \(length)") { raw throws(WireError) in
        try UDPHeader.parse(raw, source: hostA, destination: hostB, verifyChecksum: false)
      }
    }
  }

  func testLengthBeyondBuffer() {
    // Every prefix that holds the header but not the 48 bytes the length field claims.
    for length in 8..<48 {
      assertThrows(.truncated, Array(UDPVectors.dnsQuery[0..<length]), "length \(length)") { raw throws(WireError) in
        try UDPHeader.parse(raw, source: hostA, destination: hostB, verifyChecksum: false)
      }
    }
    var datagram = UDPVectors.dnsQuery
    write(0xffff, into: &datagram, at: 4)
    assertThrows(.truncated, datagram) { raw throws(WireError) in try UDPHeader.parse(raw, source: hostA, destination: hostB) }
  }

  func testBadChecksum() {
    var payload = UDPVectors.dnsQuery
    payload[20] ^= 0x20  // "example" -> "Example"
    assertThrows(.badChecksum, payload) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: hostA, destination: hostB)
    }
    // The pseudo-header is covered: the same bytes from another address do not verify.
    assertThrows(.badChecksum, UDPVectors.dnsQuery) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: IPv4Address(10, 0, 0, 3), destination: hostB)
    }
  }

  func testZeroChecksumMeansNone() throws {
    // Checksum 0: the sender computed none; the datagram is accepted even though its bytes
    // would not verify.
    var datagram = UDPVectors.dnsQuery
    write(0, into: &datagram, at: 6)
    datagram[20] ^= 0x20
    let header = try parseUDP(datagram)
    XCTAssertEqual(header.checksum, 0)
    XCTAssertEqual(header.destinationPort, 53)
  }

  func testVerifyChecksumFalseAcceptsBadChecksum() throws {
    var datagram = UDPVectors.dnsQuery
    write(0x1234, into: &datagram, at: 6)
    let header = try parseUDP(datagram, verifyChecksum: false)
    XCTAssertEqual(header.checksum, 0x1234)
    XCTAssertEqual(header.length, 48)
  }

  // MARK: Over IPv6

  func testIPv6Deconstruct() throws {
    XCTAssertEqual(referenceChecksum(pseudoHeader(linkLocalA, linkLocalB, nextHeader: 17, length: 13) + UDPVectors.ipv6Hello), 0)
    let header = try parseUDP(UDPVectors.ipv6Hello, source: .v6(linkLocalA), destination: .v6(linkLocalB))
    XCTAssertEqual(header.sourcePort, 40000)
    XCTAssertEqual(header.destinationPort, 9)
    XCTAssertEqual(header.payloadLength, 5)
    XCTAssertEqual(header.checksum, 0x810b)
    // The same through the IPv6 entry point.
    XCTAssertEqual(try parse(UDPVectors.ipv6Hello) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: linkLocalA, destination: linkLocalB)
    }, header)
  }

  func testIPv6Construct() {
    let header = UDPHeader(sourcePort: 40000, destinationPort: 9, payloadLength: 5)
    let out = emitting(into: filled(header: 8, payload: Array(UDPVectors.ipv6Hello[8...]))) {
      header.emit(into: $0, source: linkLocalA, destination: linkLocalB)
    }
    assertBytes(out, UDPVectors.ipv6Hello)
    let agnostic = emitting(into: filled(header: 8, payload: Array(UDPVectors.ipv6Hello[8...]))) {
      header.emit(into: $0, source: IPAddress.v6(linkLocalA), destination: .v6(linkLocalB))
    }
    assertBytes(agnostic, UDPVectors.ipv6Hello)
  }

  func testIPv6ComputedZeroIsSentAsAllOnes() throws {
    let header = UDPHeader(sourcePort: 5000, destinationPort: 5001, payloadLength: 6)
    let out = emitting(into: filled(header: 8, payload: UDPVectors.ipv6ZeroSumPayload)) {
      header.emit(into: $0, source: linkLocalA, destination: linkLocalB)
    }
    var zeroed = out
    write(0, into: &zeroed, at: 6)
    XCTAssertEqual(referenceChecksum(pseudoHeader(linkLocalA, linkLocalB, nextHeader: 17, length: 14) + zeroed), 0)
    assertBytes(out, UDPVectors.ipv6ZeroSum)
    XCTAssertEqual(try parseUDP(UDPVectors.ipv6ZeroSum, source: .v6(linkLocalA), destination: .v6(linkLocalB)).checksum, 0xffff)
  }

  func testIPv6ZeroChecksumIsRefused() {
    // RFC 8200 8.1: over IPv6 a zero checksum is never "none"; refused even when not verifying.
    var datagram = UDPVectors.ipv6Hello
    write(0, into: &datagram, at: 6)
    for verify in [true, false] {
      assertThrows(.badChecksum, datagram, "verify \(verify)") { raw throws(WireError) in
        try UDPHeader.parse(raw, source: linkLocalA, destination: linkLocalB, verifyChecksum: verify)
      }
    }
    // Over IPv4 the same bytes are a datagram without a checksum, as before.
    XCTAssertEqual(try parseUDP(datagram).checksum, 0)
  }

  func testIPv6BadChecksum() {
    // The IPv6 pseudo-header is covered: other addresses, or the IPv4 pseudo-header, fail.
    assertThrows(.badChecksum, UDPVectors.ipv6Hello) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: linkLocalB, destination: .allNodes)
    }
    assertThrows(.badChecksum, UDPVectors.ipv6Hello) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: hostA, destination: hostB)
    }
    var payload = UDPVectors.ipv6Hello
    payload[12] ^= 0x20
    assertThrows(.badChecksum, payload) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: linkLocalA, destination: linkLocalB)
    }
    XCTAssertEqual(
      try parseUDP(payload, source: .v6(linkLocalA), destination: .v6(linkLocalB), verifyChecksum: false).destinationPort, 9)
  }
}
