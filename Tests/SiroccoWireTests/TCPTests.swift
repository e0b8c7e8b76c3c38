// The TCP header and options (RFC 9293 3.1, RFC 7323, RFC 2018): deconstruct, construct,
// round trip, description, negative vectors. Checksums in the vectors were computed outside Swift.

import XCTest

@testable import SiroccoWire

enum TCPVectors {
  /// Linux `connect()` to 10.0.0.2:80 from 10.0.0.1:45678: Flags [S], seq 3456789012,
  /// win 64240, options [mss 1460,sackOK,TS val 2216538 ecr 0,nop,wscale 7]; checksum 0x7bb3.
  static let linuxSYN = bytes(
    """
    b26e 0050 ce0a6a14 00000000 a002 faf0 7bb3 0000
    020405b4 0402 080a 0021d25a 00000000 01 030307
    """)

  /// Windows 10 SYN from 10.0.0.1:50123 to 10.0.0.2:443: Flags [S], seq 0x8c2e4f11, win 64240,
  /// options [mss 1460,nop,wscale 8,nop,nop,sackOK] (emit's own layout); checksum 0xbf56.
  static let windowsSYN = bytes(
    """
    c3cb 01bb 8c2e4f11 00000000 8002 faf0 bf56 0000
    020405b4 01 030308 0101 0402
    """)

  /// SYN-ACK from 10.0.0.2:80 to the Linux SYN: Flags [S.], seq 489438026, ack 3456789013,
  /// win 65160, options [mss 1460,nop,wscale 7,nop,nop,sackOK,nop,nop,TS val 1000 ecr 2216538]
  /// (emit's layout); checksum 0x09a6.
  static let synAck = bytes(
    """
    0050 b26e 1d2c3b4a ce0a6a15 b012 fe88 09a6 0000
    020405b4 01 030307 0101 0402 0101 080a 000003e8 0021d25a
    """)

  /// A Linux duplicate ACK with two SACK blocks, 10.0.0.1:45678 > 10.0.0.2:80: Flags [.],
  /// ack 489439050, win 501, options [nop,nop,TS val 2216600 ecr 1050,nop,nop,
  /// sack 2 {489443072:489444520}{489445968:489447416}]; checksum 0x19d4.
  static let sackAck = bytes(
    """
    b26e 0050 ce0a6a15 1d2c3f4a d010 01f5 19d4 0000
    0101 080a 0021d298 0000041a
    0101 0512 1d2c4f00 1d2c54a8 1d2c5a50 1d2c5ff8
    """)

  /// `GET / HTTP/1.1` from curl: Flags [P.], seq 3456789013, ack 489438027, win 502,
  /// options [nop,nop,TS val 2216541 ecr 1000], 34 bytes of payload; checksum 0xa96c.
  static let httpPayload = Array("GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n".utf8)
  static let httpGet = bytes(
    """
    b26e 0050 ce0a6a15 1d2c3b4b 8018 01f6 a96c 0000
    0101 080a 0021d25d 000003e8
    """) + httpPayload

  /// The folded pseudo-header sum for a 66-byte segment 10.0.0.1 > 10.0.0.2 (computed
  /// outside Swift): what `emit(fillChecksum: false)` leaves in the checksum field.
  static let httpGetPseudoHeaderSum: UInt16 = 0x144b

  /// A 20-byte header (from the Windows SYN's fields) followed by `options`, with the data
  /// offset set to cover them and a valid checksum from the reference implementation.
  static func segment(options: [UInt8], payload: [UInt8] = []) -> [UInt8] {
    precondition(options.count % 4 == 0 && options.count <= 40)
    var segment = Array(windowsSYN[0..<20]) + options + payload
    segment[12] = UInt8((20 + options.count) / 4) << 4
    fixTransportChecksum(&segment, at: 16, protocol: 6, source: hostA, destination: hostB)
    return segment
  }
}

final class TCPTests: XCTestCase {
  private func parseTCP(
    _ data: [UInt8], source: IPv4Address = hostA, destination: IPv4Address = hostB, verifyChecksum: Bool = true
  ) throws(WireError) -> TCPHeader {
    try parse(data) { raw throws(WireError) in
      try TCPHeader.parse(raw, source: source, destination: destination, verifyChecksum: verifyChecksum)
    }
  }

  private func emitTCP(_ header: TCPHeader, into template: [UInt8], source: IPv4Address = hostA,
                       destination: IPv4Address = hostB, fillChecksum: Bool = true) -> [UInt8] {
    emitting(into: template) {
      header.emit(into: $0, source: source, destination: destination, fillChecksum: fillChecksum)
    }
  }

  // MARK: Deconstruct

  func testDeconstructLinuxSYN() throws {
    let header = try parseTCP(TCPVectors.linuxSYN)
    XCTAssertEqual(header.sourcePort, 45678)
    XCTAssertEqual(header.destinationPort, 80)
    XCTAssertEqual(header.sequenceNumber, 3_456_789_012)
    XCTAssertEqual(header.acknowledgmentNumber, 0)
    XCTAssertEqual(header.flags, .syn)
    XCTAssertEqual(header.window, 64240)
    XCTAssertEqual(header.checksum, 0x7bb3)
    XCTAssertEqual(header.urgentPointer, 0)
    XCTAssertEqual(header.headerLength, 40)
    XCTAssertEqual(header.options.maximumSegmentSize, 1460)
    XCTAssertEqual(header.options.windowScale, 7)
    XCTAssertTrue(header.options.sackPermitted)
    XCTAssertEqual(header.options.timestamp, TCPOptions.Timestamp(value: 2_216_538, echoReply: 0))
    XCTAssertTrue(header.options.sackBlocks.isEmpty)
  }

  func testDeconstructWindowsSYN() throws {
    let header = try parseTCP(TCPVectors.windowsSYN)
    XCTAssertEqual(header.sourcePort, 50123)
    XCTAssertEqual(header.destinationPort, 443)
    XCTAssertEqual(header.sequenceNumber, 0x8c2e_4f11)
    XCTAssertEqual(header.flags, .syn)
    XCTAssertEqual(header.headerLength, 32)
    XCTAssertEqual(header.checksum, 0xbf56)
    XCTAssertEqual(
      header.options, TCPOptions(maximumSegmentSize: 1460, windowScale: 8, sackPermitted: true))
  }

  func testDeconstructSYNACK() throws {
    let header = try parseTCP(TCPVectors.synAck, source: hostB, destination: hostA)
    XCTAssertEqual(header.sourcePort, 80)
    XCTAssertEqual(header.destinationPort, 45678)
    XCTAssertEqual(header.sequenceNumber, 489_438_026)
    XCTAssertEqual(header.acknowledgmentNumber, 3_456_789_013)
    XCTAssertEqual(header.flags, [.syn, .ack])
    XCTAssertEqual(header.window, 65160)
    XCTAssertEqual(header.headerLength, 44)
    XCTAssertEqual(header.checksum, 0x09a6)
    XCTAssertEqual(header.options.maximumSegmentSize, 1460)
    XCTAssertEqual(header.options.windowScale, 7)
    XCTAssertTrue(header.options.sackPermitted)
    XCTAssertEqual(header.options.timestamp, TCPOptions.Timestamp(value: 1000, echoReply: 2_216_538))
  }

  func testDeconstructSACKBlocks() throws {
    let header = try parseTCP(TCPVectors.sackAck)
    XCTAssertEqual(header.flags, .ack)
    XCTAssertEqual(header.acknowledgmentNumber, 489_439_050)
    XCTAssertEqual(header.window, 501)
    XCTAssertEqual(header.headerLength, 52)
    XCTAssertNil(header.options.maximumSegmentSize)
    XCTAssertNil(header.options.windowScale)
    XCTAssertFalse(header.options.sackPermitted)
    XCTAssertEqual(header.options.timestamp, TCPOptions.Timestamp(value: 2_216_600, echoReply: 1050))
    XCTAssertEqual(header.options.sackBlocks.count, 2)
    XCTAssertEqual(
      Array(header.options.sackBlocks),
      [SACKBlock(left: 489_443_072, right: 489_444_520), SACKBlock(left: 489_445_968, right: 489_447_416)])
  }

  func testDeconstructWithPayload() throws {
    let header = try parseTCP(TCPVectors.httpGet)
    XCTAssertEqual(header.flags, [.psh, .ack])
    XCTAssertEqual(header.sequenceNumber, 3_456_789_013)
    XCTAssertEqual(header.acknowledgmentNumber, 489_438_027)
    XCTAssertEqual(header.window, 502)
    XCTAssertEqual(header.headerLength, 32)
    XCTAssertEqual(header.options, TCPOptions(timestamp: .init(value: 2_216_541, echoReply: 1000)))
    XCTAssertEqual(Array(TCPVectors.httpGet[header.headerLength...]), TCPVectors.httpPayload)
  }

  func testDeconstructMaximumSACKBlocks() throws {
    // Four blocks (a 34-byte option) behind two NOPs: a 36-byte option area, data offset 14.
    var options = bytes("0101 0522")
    for index in 0..<4 {
      let left = UInt32(1_000_000 + index * 3000)
      for value in [left, left + 1448] {
        options += [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
      }
    }
    let header = try parseTCP(TCPVectors.segment(options: options))
    XCTAssertEqual(header.options.sackBlocks.count, 4)
    XCTAssertEqual(header.options.sackBlocks[3], SACKBlock(left: 1_009_000, right: 1_010_448))
    XCTAssertEqual(header.headerLength, 56)
  }

  func testDeconstructOptionEdgeCases() throws {
    // End of option list: what follows is not parsed.
    let end = try parseTCP(TCPVectors.segment(options: bytes("020405b4 00 ffffff")))
    XCTAssertEqual(end.options, TCPOptions(maximumSegmentSize: 1460))
    // An unknown option (TFO cookie, kind 34) is skipped by its length.
    let unknown = try parseTCP(TCPVectors.segment(options: bytes("22 0a 0102030405060708 0101 020405b4")))
    XCTAssertEqual(unknown.options, TCPOptions(maximumSegmentSize: 1460))
    // RFC 7323 2.3: a shift count above 14 is used as 14.
    let scale = try parseTCP(TCPVectors.segment(options: bytes("01 03030f")))
    XCTAssertEqual(scale.options.windowScale, 14)
    // Only padding.
    let nops = try parseTCP(TCPVectors.segment(options: bytes("01010101 00000000")))
    XCTAssertEqual(nops.options, TCPOptions())
    XCTAssertEqual(nops.headerLength, 28)
  }

  // MARK: Construct

  func testConstructWindowsSYN() {
    let header = TCPHeader(
      sourcePort: 50123, destinationPort: 443, sequenceNumber: 0x8c2e_4f11, flags: .syn, window: 64240,
      options: TCPOptions(maximumSegmentSize: 1460, windowScale: 8, sackPermitted: true))
    XCTAssertEqual(header.headerLength, 32)
    assertBytes(emitTCP(header, into: filled(32)), TCPVectors.windowsSYN)
  }

  func testConstructSYNACK() {
    let header = TCPHeader(
      sourcePort: 80, destinationPort: 45678, sequenceNumber: 489_438_026, acknowledgmentNumber: 3_456_789_013,
      flags: [.syn, .ack], window: 65160,
      options: TCPOptions(
        maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true,
        timestamp: .init(value: 1000, echoReply: 2_216_538)))
    XCTAssertEqual(header.headerLength, 44)
    assertBytes(emitTCP(header, into: filled(44), source: hostB, destination: hostA), TCPVectors.synAck)
  }

  func testConstructSACKBlocks() {
    let header = TCPHeader(
      sourcePort: 45678, destinationPort: 80, sequenceNumber: 3_456_789_013, acknowledgmentNumber: 489_439_050,
      flags: .ack, window: 501,
      options: TCPOptions(
        sackBlocks: SACKBlocks([
          SACKBlock(left: 489_443_072, right: 489_444_520), SACKBlock(left: 489_445_968, right: 489_447_416),
        ]),
        timestamp: .init(value: 2_216_600, echoReply: 1050)))
    XCTAssertEqual(header.headerLength, 52)
    assertBytes(emitTCP(header, into: filled(52)), TCPVectors.sackAck)
  }

  func testConstructWithPayload() {
    let header = TCPHeader(
      sourcePort: 45678, destinationPort: 80, sequenceNumber: 3_456_789_013, acknowledgmentNumber: 489_438_027,
      flags: [.psh, .ack], window: 502,
      options: TCPOptions(timestamp: .init(value: 2_216_541, echoReply: 1000)))
    assertBytes(emitTCP(header, into: filled(header: 32, payload: TCPVectors.httpPayload)), TCPVectors.httpGet)
  }

  func testConstructWithoutChecksum() throws {
    // fillChecksum: false leaves the folded pseudo-header sum (not complemented) for a device
    // that completes the checksum.
    let header = try parseTCP(TCPVectors.httpGet)
    let out = emitTCP(header, into: TCPVectors.httpGet, fillChecksum: false)
    var expected = TCPVectors.httpGet
    write(TCPVectors.httpGetPseudoHeaderSum, into: &expected, at: 16)
    assertBytes(out, expected)
    // Completing it the way a NIC does (sum from the TCP header on, complement) gives the
    // real checksum.
    XCTAssertEqual(referenceChecksum(out), 0xa96c)
  }

  func testConstructNoOptions() throws {
    // An RST: 20 bytes, data offset 5, checksum from the reference implementation.
    let header = TCPHeader(sourcePort: 80, destinationPort: 45678, sequenceNumber: 489_438_027, flags: .rst, window: 0)
    XCTAssertEqual(header.headerLength, 20)
    let out = emitTCP(header, into: filled(20), source: hostB, destination: hostA)
    XCTAssertEqual(out[12], 0x50)
    XCTAssertEqual(out[13], 0x04)
    var zeroed = out
    write(0, into: &zeroed, at: 16)
    XCTAssertEqual(readUInt16(out, at: 16), referenceChecksum(pseudoHeader(hostB, hostA, protocol: 6, length: 20) + zeroed))
    XCTAssertEqual(try parseTCP(out, source: hostB, destination: hostA).flags, .rst)
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    let vectors: [([UInt8], IPv4Address, IPv4Address)] = [
      (TCPVectors.windowsSYN, hostA, hostB), (TCPVectors.synAck, hostB, hostA),
      (TCPVectors.sackAck, hostA, hostB), (TCPVectors.httpGet, hostA, hostB),
    ]
    for (vector, source, destination) in vectors {
      let header = try parseTCP(vector, source: source, destination: destination)
      let out = emitTCP(header, into: vector, source: source, destination: destination)
      assertBytes(out, vector)
      XCTAssertEqual(try parseTCP(out, source: source, destination: destination), header)
    }
  }

  func testRoundTripReordersLinuxOptions() throws {
    // emit lays options out in its own NOP-aligned order, so Linux's compact 20-byte SYN
    // option area comes back as 24 bytes; every option survives.
    let header = try parseTCP(TCPVectors.linuxSYN)
    let emittedLength = TCPHeader.minimumLength + header.options.bufferLength
    XCTAssertEqual(emittedLength, 44)
    let out = emitTCP(header, into: filled(emittedLength))
    assertBytes(
      out,
      bytes(
        """
        b26e 0050 ce0a6a14 00000000 b002 faf0 \(hex([out[16], out[17]])) 0000
        020405b4 01030307 01010402 0101080a 0021d25a 00000000
        """))
    let reparsed = try parseTCP(out)
    XCTAssertEqual(reparsed.options, header.options)
    XCTAssertEqual(reparsed.sequenceNumber, header.sequenceNumber)
    XCTAssertEqual(reparsed.flags, header.flags)
    XCTAssertEqual(reparsed.window, header.window)
  }

  // MARK: Description

  func testDescription() throws {
    XCTAssertEqual(
      try parseTCP(TCPVectors.linuxSYN).description,
      "TCP 45678 > 80: Flags [S], seq 3456789012, win 64240, options [mss 1460,sackOK,TS val 2216538 ecr 0,wscale 7]")

    let synAck = try parseTCP(TCPVectors.synAck, source: hostB, destination: hostA).description
    for part in ["80 > 45678", "Flags [S.]", "seq 489438026", "ack 3456789013", "win 65160", "mss 1460",
                 "wscale 7", "sackOK", "TS val 1000 ecr 2216538"] {
      XCTAssertTrue(synAck.contains(part), "\(synAck) lacks \(part)")
    }

    let sack = try parseTCP(TCPVectors.sackAck).description
    XCTAssertTrue(sack.contains("Flags [.]"), sack)
    XCTAssertTrue(sack.contains("sack 2 {489443072:489444520} {489445968:489447416}"), sack)

    let get = try parseTCP(TCPVectors.httpGet).description
    XCTAssertTrue(get.contains("Flags [P.]"), get)
    XCTAssertTrue(get.contains("ack 489438027"), get)

    XCTAssertEqual(TCPFlags([.fin, .ack]).description, "F.")
    XCTAssertEqual(TCPFlags([.rst]).description, "R")
    XCTAssertEqual(TCPFlags([]).description, "none")
  }

  // MARK: Negative vectors

  func testTruncated() {
    for length in 0..<TCPHeader.minimumLength {
      assertThrows(.truncated, Array(TCPVectors.linuxSYN[0..<length]), "length \(length)") { raw throws(WireError) in
        try TCPHeader.parse(raw, source: hostA, destination: hostB)
      }
    }
  }

  func testDataOffsetBelowMinimum() {
    for offset: UInt8 in 0..<5 {
      var segment = TCPVectors.windowsSYN
      segment[12] = offset << 4
      fixTransportChecksum(&segment, at: 16, protocol: 6, source: hostA, destination: hostB)
      assertThrows(.malformed, segment, "data offset \(offset)") { raw throws(WireError) in
        try TCPHeader.parse(raw, source: hostA, destination: hostB)
      }
    }
  }

  func testDataOffsetPastSegment() {
    // Prefixes that hold the fixed header but not the 40 bytes the data offset claims.
    for length in 20..<40 {
      assertThrows(.truncated, Array(TCPVectors.linuxSYN[0..<length]), "length \(length)") { raw throws(WireError) in
        try TCPHeader.parse(raw, source: hostA, destination: hostB, verifyChecksum: false)
      }
    }
    for offset: UInt8 in [11, 15] {
      var segment = TCPVectors.linuxSYN
      segment[12] = offset << 4
      fixTransportChecksum(&segment, at: 16, protocol: 6, source: hostA, destination: hostB)
      assertThrows(.truncated, segment, "data offset \(offset)") { raw throws(WireError) in
        try TCPHeader.parse(raw, source: hostA, destination: hostB)
      }
    }
  }

  func testBadChecksum() {
    var payload = TCPVectors.httpGet
    payload[40] ^= 0x01
    assertThrows(.badChecksum, payload) { raw throws(WireError) in try TCPHeader.parse(raw, source: hostA, destination: hostB) }

    var field = TCPVectors.linuxSYN
    write(0x7bb4, into: &field, at: 16)
    assertThrows(.badChecksum, field) { raw throws(WireError) in try TCPHeader.parse(raw, source: hostA, destination: hostB) }

    // Pseudo-header: another destination, or a different segment length.
    assertThrows(.badChecksum, TCPVectors.linuxSYN) { raw throws(WireError) in
      try TCPHeader.parse(raw, source: hostA, destination: IPv4Address(10, 0, 0, 3))
    }
    assertThrows(.badChecksum, TCPVectors.httpGet + [0]) { raw throws(WireError) in
      try TCPHeader.parse(raw, source: hostA, destination: hostB)
    }
    // An option damaged in flight (MSS 1460 -> 1461) fails the checksum before option parsing.
    var option = TCPVectors.linuxSYN
    option[23] = 0xb5
    assertThrows(.badChecksum, option) { raw throws(WireError) in try TCPHeader.parse(raw, source: hostA, destination: hostB) }
  }

  func testVerifyChecksumFalseAcceptsBadChecksum() throws {
    var segment = TCPVectors.linuxSYN
    write(0, into: &segment, at: 16)
    let header = try parseTCP(segment, verifyChecksum: false)
    XCTAssertEqual(header.checksum, 0)
    XCTAssertEqual(header.options.maximumSegmentSize, 1460)
  }

  /// Option areas that must make the header `.malformed`, each in a segment with a valid
  /// checksum (and checked without verification too).
  func testMalformedOptions() {
    let cases: [(String, String)] = [
      ("length 0", "0200 0000"),
      ("length 1", "0201 0000"),
      ("unknown kind, length 0", "2200 0101"),
      ("unknown kind, length 1", "fe01 0101"),
      ("kind without a length byte", "010101 02"),
      ("MSS overruns the area", "0101 0204"),
      ("timestamp overruns the area", "0101 080a 00000001"),
      ("unknown option overruns the area", "1e0c 00000000 0000"),
      ("SACK block overruns the area", "0101 050a 00000001"),
      ("MSS length 3", "020305 01"),
      ("MSS length 5", "020505b4 00010101"),
      ("MSS length 2", "0202 0101"),
      ("window scale length 2", "0302 0101"),
      ("window scale length 4", "03040700"),
      ("SACK-permitted length 3", "040300 01"),
      ("SACK-permitted length 4", "04040000"),
      ("timestamp length 8", "0101 0808 000000010000 0101"),
      ("timestamp length 12", "0101 080c 00000001 00000002 0000 0101"),
      ("SACK length 2", "0502 0101"),
      ("SACK length 9", "0101 0509 00000001 00000002 0101 0101"),
      ("SACK length 11", "0101 050b 00000001 00000002 00 010101"),
      ("valid MSS then length 0", "020405b4 0800 0000"),
    ]
    for (name, area) in cases {
      let segment = TCPVectors.segment(options: bytes(area))
      assertThrows(.malformed, segment, name) { raw throws(WireError) in
        try TCPHeader.parse(raw, source: hostA, destination: hostB)
      }
      assertThrows(.malformed, segment, name) { raw throws(WireError) in
        try TCPHeader.parse(raw, source: hostA, destination: hostB, verifyChecksum: false)
      }
    }
  }

  func testOptionsEndAtDataOffsetNotAtPayload() {
    // An MSS option whose value lies in the payload (data offset 6, option at the last two
    // bytes of the area) overruns the option area even though the segment has more bytes.
    let segment = TCPVectors.segment(options: bytes("0101 0204"), payload: bytes("05b4 0000"))
    assertThrows(.malformed, segment) { raw throws(WireError) in try TCPHeader.parse(raw, source: hostA, destination: hostB) }
  }

  // MARK: SACK blocks storage

  func testSACKBlocksCollection() {
    var blocks = SACKBlocks()
    XCTAssertTrue(blocks.isEmpty)
    for index in 0..<SACKBlocks.capacity {
      blocks.append(SACKBlock(left: UInt32(index), right: UInt32(index + 1)))
    }
    XCTAssertEqual(blocks.count, 4)
    XCTAssertEqual(blocks.map(\.left), [0, 1, 2, 3])
    XCTAssertEqual(blocks, SACKBlocks((0..<4).map { SACKBlock(left: UInt32($0), right: UInt32($0 + 1)) }))
    XCTAssertNotEqual(blocks, SACKBlocks([SACKBlock(left: 0, right: 1)]))
  }
}
