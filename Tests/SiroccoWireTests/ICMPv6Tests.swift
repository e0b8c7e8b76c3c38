// ICMP for IPv6 (RFC 4443): echo and the four errors, deconstruct, construct, round trip,
// description, negative vectors. The vectors are Linux's (captured as IPv6Tests describes):
// its kernel computed every checksum, and each test checks it again with the reference sum
// over the pseudo-header written out byte by byte.

import XCTest

@testable import SiroccoWire

enum ICMPv6Vectors {
  /// iputils ping data on x86_64: a 16-byte struct timeval, then bytes 0x10...0x37.
  static let pingData = bytes("b3b6106b00000000 1080030000000000") + Array(UInt8(0x10)...UInt8(0x37))
  /// Echo request from linkLocalA to linkLocalB, id 0x5726, seq 1, checksum 0xf33b.
  static let echoRequest = bytes("80 00 f33b 5726 0001") + pingData
  /// The reply from linkLocalB, checksum 0xf23b.
  static let echoReply = bytes("81 00 f23b 5726 0001") + pingData
  /// A UDP datagram from linkLocalA port 40000 to linkLocalB port 9, where nothing listens.
  static let udpToClosedPort = IPv6Vectors.header("60000000 000d 11 40") + UDPVectors.ipv6Hello
  /// Linux's answer (from linkLocalB): port unreachable (code 4) quoting it whole; 0xeea7.
  static let portUnreachable = bytes("01 04 eea7 00000000") + udpToClosedPort
  /// Linux's answer to `IPv6Vectors.unknownDestinationOption`: a Parameter Problem, code 2
  /// (unrecognized option), pointer 42; 0x0691.
  static let unrecognizedOption = bytes("04 02 0691 0000002a") + IPv6Vectors.unknownDestinationOption
  /// To `IPv6Vectors.routingSegmentsLeft`: code 0 (erroneous header field), pointer 42; 0x69ba.
  static let erroneousRoutingType = bytes("04 00 69ba 0000002a") + IPv6Vectors.routingSegmentsLeft
  /// To `IPv6Vectors.hopByHopLate`: code 1 (unrecognized next header), pointer 40; 0x8480.
  static let unrecognizedNextHeader = bytes("04 01 8480 00000028") + IPv6Vectors.hopByHopLate
  /// To `IPv6Vectors.lonelyFragment`, a second later: time exceeded, code 1 (fragment
  /// reassembly); 0xdf0a.
  static let reassemblyTimeExceeded = bytes("03 01 df0a 00000000") + IPv6Vectors.lonelyFragment
  /// Sent by a raw socket on linkLocalB (the kernel filled in the checksum, 0xd772): packet too
  /// big, MTU 1280, quoting the start of a 1456-byte echo request to 2001:db8:2::1.
  static let packetTooBig = bytes("02 00 d772 00000500 600cb993 05b0 3a 40")
    + bytes("fe80000000000000505400fffe123456 20010db8000200000000000000000001 8000a1b257270001 0000000000000000")
  /// Linux's reply to `IPv6Vectors.paddedOptions`: id 0x1234, seq 4, "abcdefgh"; 0x3c3a.
  static let paddedEchoReply = bytes("81 00 3c3a 1234 0004 6162636465666768")
}

/// An ICMPv6 message with the addresses of its IPv6 header.
typealias ICMPv6Vector = (name: String, message: [UInt8], source: IPv6Address, destination: IPv6Address)

/// Parses each vector and emits the value into a buffer of 0xA5 of its `bufferLength` (for
/// Neighbor Discovery and MLD, emit writes the whole message): the bytes must be the vector's.
func assertRoundTrips(_ vectors: [ICMPv6Vector], file: StaticString = #filePath, line: UInt = #line) throws {
  for (_, vector, source, destination) in vectors {
    let message = try parse(vector) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: source, destination: destination)
    }
    assertEmits(message, source, destination, matching: vector, file: file, line: line)
  }
}

/// Emits `message` (Neighbor Discovery or MLD, written whole) into a buffer of 0xA5 of its
/// `bufferLength` and checks the bytes are `vector`.
func assertEmits(
  _ message: ICMPv6Message, _ source: IPv6Address, _ destination: IPv6Address, matching vector: [UInt8],
  file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(message.bufferLength, vector.count, file: file, line: line)
  let out = emitting(into: filled(message.bufferLength)) { message.emit(into: $0, source: source, destination: destination) }
  assertBytes(out, vector, "\(message)", file: file, line: line)
}

/// The premise of every vector: the reference sum over the pseudo-header, written out byte by
/// byte, and the message is zero.
func assertChecksumsVerify(_ vectors: [ICMPv6Vector], file: StaticString = #filePath, line: UInt = #line) {
  for (name, message, source, destination) in vectors {
    XCTAssertEqual(
      referenceChecksum(pseudoHeader(source, destination, nextHeader: 58, length: message.count) + message), 0, name,
      file: file, line: line)
  }
}

final class ICMPv6Tests: XCTestCase {
  static let vectors: [ICMPv6Vector] = [
    ("echo request", ICMPv6Vectors.echoRequest, linkLocalA, linkLocalB),
    ("echo reply", ICMPv6Vectors.echoReply, linkLocalB, linkLocalA),
    ("port unreachable", ICMPv6Vectors.portUnreachable, linkLocalB, linkLocalA),
    ("unrecognized option", ICMPv6Vectors.unrecognizedOption, linkLocalB, linkLocalA),
    ("erroneous routing type", ICMPv6Vectors.erroneousRoutingType, linkLocalB, linkLocalA),
    ("unrecognized next header", ICMPv6Vectors.unrecognizedNextHeader, linkLocalB, linkLocalA),
    ("reassembly time exceeded", ICMPv6Vectors.reassemblyTimeExceeded, linkLocalB, linkLocalA),
    ("packet too big", ICMPv6Vectors.packetTooBig, linkLocalB, linkLocalA),
    ("padded echo reply", ICMPv6Vectors.paddedEchoReply, linkLocalB, linkLocalA),
  ]

  private func parseICMPv6(
    _ data: [UInt8], source: IPv6Address = linkLocalB, destination: IPv6Address = linkLocalA, verifyChecksum: Bool = true
  ) throws(WireError) -> ICMPv6Message {
    try parse(data) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: source, destination: destination, verifyChecksum: verifyChecksum)
    }
  }

  func testVectorChecksumsAgainstReference() { assertChecksumsVerify(Self.vectors) }

  // MARK: Deconstruct

  func testDeconstructEcho() throws {
    let request = try parseICMPv6(IPv6Vectors.payload(IPv6Vectors.pingRequest), source: linkLocalA, destination: linkLocalB)
    XCTAssertEqual(request, .echoRequest(identifier: 0x5726, sequenceNumber: 1))
    XCTAssertEqual(request.type, 128)
    XCTAssertEqual(request.code, 0)
    XCTAssertFalse(request.isError)
    XCTAssertEqual(try parseICMPv6(ICMPv6Vectors.echoReply), .echoReply(identifier: 0x5726, sequenceNumber: 1))
    XCTAssertEqual(try parseICMPv6(ICMPv6Vectors.paddedEchoReply), .echoReply(identifier: 0x1234, sequenceNumber: 4))
  }

  func testDeconstructPortUnreachable() throws {
    let message = try parseICMPv6(ICMPv6Vectors.portUnreachable)
    XCTAssertEqual(message, .destinationUnreachable(code: .port))
    XCTAssertEqual(message.type, 1)
    XCTAssertEqual(message.code, 4)
    XCTAssertTrue(message.isError)
    // The quoted packet is the payload: the original IPv6 header and UDP datagram.
    let quoted = Array(ICMPv6Vectors.portUnreachable[ICMPv6Message.headerLength...])
    let inner = try parse(quoted) { raw throws(WireError) in try IPv6Header.parse(raw) }
    XCTAssertEqual(inner.source, linkLocalA)
    XCTAssertEqual(inner.nextHeader, .udp)
    let udp = try parse(Array(quoted[40...])) { raw throws(WireError) in
      try UDPHeader.parse(raw, source: inner.source, destination: inner.destination)
    }
    XCTAssertEqual(udp.destinationPort, 9)
  }

  func testDeconstructParameterProblems() throws {
    XCTAssertEqual(try parseICMPv6(ICMPv6Vectors.unrecognizedOption), .parameterProblem(code: .unrecognizedOption, pointer: 42))
    XCTAssertEqual(try parseICMPv6(ICMPv6Vectors.erroneousRoutingType), .parameterProblem(code: .erroneousHeaderField, pointer: 42))
    let nextHeader = try parseICMPv6(ICMPv6Vectors.unrecognizedNextHeader)
    XCTAssertEqual(nextHeader, .parameterProblem(code: .unrecognizedNextHeader, pointer: 40))
    XCTAssertEqual(nextHeader.type, 4)
    XCTAssertEqual(nextHeader.code, 1)
  }

  func testDeconstructTimeExceededAndPacketTooBig() throws {
    let exceeded = try parseICMPv6(ICMPv6Vectors.reassemblyTimeExceeded)
    XCTAssertEqual(exceeded, .timeExceeded(code: 1))
    XCTAssertEqual(exceeded.type, 3)
    let tooBig = try parseICMPv6(ICMPv6Vectors.packetTooBig)
    XCTAssertEqual(tooBig, .packetTooBig(mtu: 1280))
    XCTAssertEqual(tooBig.type, 2)
    // RFC 4443 3.2: the code is ignored on input.
    var coded = ICMPv6Vectors.packetTooBig
    coded[1] = 9
    XCTAssertEqual(try parseICMPv6(coded, verifyChecksum: false), .packetTooBig(mtu: 1280))
  }

  func testDeconstructOther() throws {
    // An echo request with code 1 is no echo request (RFC 4443 4.1), nor is type 200 anything.
    var codeOne = ICMPv6Vectors.echoRequest
    codeOne[1] = 1
    fixChecksum(&codeOne, at: 2, nextHeader: 58, source: linkLocalA, destination: linkLocalB)
    XCTAssertEqual(try parseICMPv6(codeOne, source: linkLocalA, destination: linkLocalB), .other(type: 128, code: 1, rest: 0x5726_0001))
    var private200 = bytes("c8 07 0000 01020304")
    fixChecksum(&private200, at: 2, nextHeader: 58, source: linkLocalA, destination: linkLocalB)
    let other = try parseICMPv6(private200, source: linkLocalA, destination: linkLocalB)
    XCTAssertEqual(other, .other(type: 200, code: 7, rest: 0x0102_0304))
    XCTAssertEqual(other.type, 200)
    XCTAssertEqual(other.code, 7)
    XCTAssertFalse(other.isError)
    XCTAssertNoThrow(try other.validate(hopLimit: 1, source: .unspecified, destination: .allNodes))
  }

  // MARK: Construct

  private func construct(
    _ message: ICMPv6Message, matching vector: [UInt8], source: IPv6Address = linkLocalB,
    destination: IPv6Address = linkLocalA, file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertEqual(message.bufferLength, ICMPv6Message.headerLength, file: file, line: line)
    let payload = Array(vector[ICMPv6Message.headerLength...])
    let out = emitting(into: filled(header: ICMPv6Message.headerLength, payload: payload)) {
      message.emit(into: $0, source: source, destination: destination)
    }
    assertBytes(out, vector, "\(message)", file: file, line: line)
  }

  func testConstructEcho() {
    construct(.echoRequest(identifier: 0x5726, sequenceNumber: 1), matching: ICMPv6Vectors.echoRequest, source: linkLocalA, destination: linkLocalB)
    construct(.echoReply(identifier: 0x5726, sequenceNumber: 1), matching: ICMPv6Vectors.echoReply)
    construct(.echoReply(identifier: 0x1234, sequenceNumber: 4), matching: ICMPv6Vectors.paddedEchoReply)
  }

  /// The echo responder's short way: Linux's request is recognised, and the reply made from
  /// it is Linux's reply byte for byte.
  func testEchoReplyMadeFromTheRequestIsLinuxs() throws {
    let request = ICMPv6Vectors.echoRequest
    XCTAssertTrue(try request.withUnsafeBytes { try ICMPv6Message.isEchoRequest($0, source: linkLocalA, destination: linkLocalB) })
    var reply = request
    reply.withUnsafeMutableBytes { ICMPv6Message.makeEchoReply($0, source: linkLocalB, destination: linkLocalA) }
    assertBytes(reply, ICMPv6Vectors.echoReply)
    // Not echo requests: the reply itself, another code, a message shorter than eight bytes.
    var otherCode = request
    otherCode[1] = 1
    for bytes in [ICMPv6Vectors.echoReply, otherCode, Array(request.prefix(7))] {
      XCTAssertFalse(try bytes.withUnsafeBytes { try ICMPv6Message.isEchoRequest($0, source: linkLocalB, destination: linkLocalA, verifyChecksum: false) })
    }
    // A wrong checksum is refused, unless not verifying.
    var corrupted = request
    corrupted[9] ^= 1
    XCTAssertThrowsError(try corrupted.withUnsafeBytes { try ICMPv6Message.isEchoRequest($0, source: linkLocalA, destination: linkLocalB) }) {
      XCTAssertEqual($0 as? WireError, .badChecksum)
    }
    XCTAssertTrue(try corrupted.withUnsafeBytes {
      try ICMPv6Message.isEchoRequest($0, source: linkLocalA, destination: linkLocalB, verifyChecksum: false)
    })
  }

  func testConstructErrors() {
    construct(.destinationUnreachable(code: .port), matching: ICMPv6Vectors.portUnreachable)
    construct(.parameterProblem(code: .unrecognizedOption, pointer: 42), matching: ICMPv6Vectors.unrecognizedOption)
    construct(.parameterProblem(code: .erroneousHeaderField, pointer: 42), matching: ICMPv6Vectors.erroneousRoutingType)
    construct(.parameterProblem(code: .unrecognizedNextHeader, pointer: 40), matching: ICMPv6Vectors.unrecognizedNextHeader)
    construct(.timeExceeded(code: 1), matching: ICMPv6Vectors.reassemblyTimeExceeded)
    construct(.packetTooBig(mtu: 1280), matching: ICMPv6Vectors.packetTooBig)
  }

  func testConstructWithoutChecksum() {
    var expected = ICMPv6Vectors.echoReply
    write(0, into: &expected, at: 2)
    let out = emitting(into: filled(header: 8, payload: ICMPv6Vectors.pingData)) {
      ICMPv6Message.echoReply(identifier: 0x5726, sequenceNumber: 1).emit(into: $0, source: linkLocalB, destination: linkLocalA, fillChecksum: false)
    }
    assertBytes(out, expected)
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    for (name, vector, source, destination) in Self.vectors {
      let message = try parseICMPv6(vector, source: source, destination: destination)
      let out = emitting(into: vector) { message.emit(into: $0, source: source, destination: destination) }
      assertBytes(out, vector, name)
      XCTAssertEqual(try parseICMPv6(out, source: source, destination: destination), message, name)
    }
  }

  // MARK: Description

  func testDescription() throws {
    XCTAssertEqual(try parseICMPv6(ICMPv6Vectors.echoReply).description, "ICMP6, echo reply, id 22310, seq 1")
    XCTAssertEqual(try parseICMPv6(ICMPv6Vectors.portUnreachable).description, "ICMP6, destination unreachable, code 4")
    XCTAssertEqual(
      try parseICMPv6(ICMPv6Vectors.unrecognizedOption).description, "ICMP6, parameter problem, code 2, pointer 42")
    XCTAssertEqual(try parseICMPv6(ICMPv6Vectors.packetTooBig).description, "ICMP6, packet too big, mtu 1280")
    XCTAssertEqual(try parseICMPv6(ICMPv6Vectors.reassemblyTimeExceeded).description, "ICMP6, time exceeded, code 1")
    XCTAssertEqual(ICMPv6Message.other(type: 200, code: 7, rest: 0).description, "ICMP6, type 200, code 7")
  }

  // MARK: Negative vectors

  func testTruncated() {
    for length in 0..<ICMPv6Message.headerLength {
      for verify in [true, false] {
        assertThrows(.truncated, Array(ICMPv6Vectors.echoRequest[0..<length]), "length \(length)") { raw throws(WireError) in
          try ICMPv6Message.parse(raw, source: linkLocalA, destination: linkLocalB, verifyChecksum: verify)
        }
      }
    }
  }

  func testBadChecksum() {
    // The data is covered.
    var data = ICMPv6Vectors.echoRequest
    data[40] ^= 0x01
    assertThrows(.badChecksum, data) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalA, destination: linkLocalB)
    }
    // So is the pseudo-header: the same bytes between other addresses. (Not their order: the
    // sum is the same with source and destination swapped.)
    for (source, destination) in [(linkLocalA, IPv6Address.allNodes), (IPv6Address.unspecified, linkLocalB), (linkLocalA, linkLocalA)] {
      assertThrows(.badChecksum, ICMPv6Vectors.echoRequest, "\(source) > \(destination)") { raw throws(WireError) in
        try ICMPv6Message.parse(raw, source: source, destination: destination)
      }
    }
    // Unlike ICMPv4, a zero checksum field is no exception.
    var zero = ICMPv6Vectors.echoReply
    write(0, into: &zero, at: 2)
    assertThrows(.badChecksum, zero) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalB, destination: linkLocalA)
    }
    // A message cut short fails the checksum over what is there (the length is in the sum).
    assertThrows(.badChecksum, Array(ICMPv6Vectors.echoReply[0..<40])) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalB, destination: linkLocalA)
    }
  }

  func testVerifyChecksumFalseAcceptsBadChecksum() throws {
    var turned = ICMPv6Vectors.echoRequest
    turned[0] = 129
    XCTAssertEqual(
      try parseICMPv6(turned, source: linkLocalA, destination: linkLocalB, verifyChecksum: false),
      .echoReply(identifier: 0x5726, sequenceNumber: 1))
  }
}
