// ARP (RFC 826, RFC 5227): deconstruct, construct, round trip, description, negative vectors.

import XCTest

@testable import SiroccoWire

enum ARPVectors {
  /// `arp who-has 10.0.0.2 tell 10.0.0.1` from 52:54:00:12:34:56 (target hardware zero).
  static let whoHas = bytes("0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002")
  /// `arp reply 10.0.0.2 is-at 52:54:00:ab:cd:ef` to 52:54:00:12:34:56.
  static let reply = bytes("0001 0800 06 04 0002 525400abcdef 0a000002 525400123456 0a000001")
  /// A gratuitous ARP (RFC 5227 2.3): who-has 10.0.0.1 tell 10.0.0.1.
  static let announcement = bytes("0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000001")
  /// RARP-style opcode 3 (request reverse), to exercise the unnamed-operation path.
  static let opcode3 = bytes("0001 0800 06 04 0003 525400123456 0a000001 525400123456 00000000")
}

final class ARPTests: XCTestCase {
  private func parseARP(_ data: [UInt8]) throws(WireError) -> ARPPacket {
    try parse(data) { raw throws(WireError) in try ARPPacket.parse(raw) }
  }

  // MARK: Deconstruct

  func testDeconstructRequest() throws {
    let packet = try parseARP(ARPVectors.whoHas)
    XCTAssertEqual(packet.operation, .request)
    XCTAssertEqual(packet.senderHardwareAddress, macA)
    XCTAssertEqual(packet.senderProtocolAddress, hostA)
    XCTAssertEqual(packet.targetHardwareAddress, .zero)
    XCTAssertEqual(packet.targetProtocolAddress, hostB)
    XCTAssertEqual(packet.bufferLength, 28)
  }

  func testDeconstructReply() throws {
    let packet = try parseARP(ARPVectors.reply)
    XCTAssertEqual(packet.operation, .reply)
    XCTAssertEqual(packet.operation.rawValue, 2)
    XCTAssertEqual(packet.senderHardwareAddress, macB)
    XCTAssertEqual(packet.senderProtocolAddress, hostB)
    XCTAssertEqual(packet.targetHardwareAddress, macA)
    XCTAssertEqual(packet.targetProtocolAddress, hostA)
  }

  func testDeconstructIgnoresEthernetPadding() throws {
    let padded = ARPVectors.whoHas + [UInt8](repeating: 0, count: 18)
    XCTAssertEqual(try parseARP(padded), try parseARP(ARPVectors.whoHas))
  }

  func testDeconstructUnknownOperation() throws {
    let packet = try parseARP(ARPVectors.opcode3)
    XCTAssertEqual(packet.operation, ARPOperation(rawValue: 3))
  }

  // MARK: Construct

  func testConstructRequest() {
    let packet = ARPPacket(
      operation: .request, senderHardwareAddress: macA, senderProtocolAddress: hostA,
      targetHardwareAddress: .zero, targetProtocolAddress: hostB)
    assertBytes(emitting(into: filled(28)) { packet.emit(into: $0) }, ARPVectors.whoHas)
    // Into a padded frame body: the padding is left alone.
    let large = emitting(into: filled(46)) { packet.emit(into: $0) }
    assertBytes(Array(large[0..<28]), ARPVectors.whoHas)
    XCTAssertEqual(Array(large[28...]), filled(18))
  }

  func testConstructReply() {
    let packet = ARPPacket(
      operation: .reply, senderHardwareAddress: macB, senderProtocolAddress: hostB,
      targetHardwareAddress: macA, targetProtocolAddress: hostA)
    assertBytes(emitting(into: filled(28)) { packet.emit(into: $0) }, ARPVectors.reply)
  }

  func testConstructAnnouncement() {
    let packet = ARPPacket.announcement(of: hostA, from: macA)
    XCTAssertEqual(packet.operation, .request)
    XCTAssertEqual(packet.senderProtocolAddress, packet.targetProtocolAddress)
    assertBytes(emitting(into: filled(28)) { packet.emit(into: $0) }, ARPVectors.announcement)
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    for vector in [ARPVectors.whoHas, ARPVectors.reply, ARPVectors.announcement, ARPVectors.opcode3] {
      let packet = try parseARP(vector)
      assertBytes(emitting(into: filled(28)) { packet.emit(into: $0) }, vector)
      XCTAssertEqual(try parseARP(emitting(into: filled(28)) { packet.emit(into: $0) }), packet)
    }
  }

  // MARK: Description

  func testDescription() throws {
    XCTAssertEqual(try parseARP(ARPVectors.whoHas).description, "ARP, Request who-has 10.0.0.2 tell 10.0.0.1")
    XCTAssertEqual(try parseARP(ARPVectors.reply).description, "ARP, Reply 10.0.0.2 is-at 52:54:00:ab:cd:ef")
    let other = try parseARP(ARPVectors.opcode3).description
    XCTAssertTrue(other.contains("op 3"), other)
    XCTAssertTrue(other.contains("10.0.0.1"), other)
  }

  // MARK: Negative vectors

  func testTruncated() {
    for length in 0..<ARPPacket.length {
      assertThrows(.truncated, Array(ARPVectors.whoHas[0..<length]), "length \(length)") { raw throws(WireError) in
        try ARPPacket.parse(raw)
      }
    }
  }

  func testUnsupportedHardwareType() {
    // Hardware type 6 (IEEE 802 networks) and 0: well formed, not handled.
    for hardwareType: UInt16 in [0, 6, 0x0100, 0xffff] {
      var packet = ARPVectors.whoHas
      write(hardwareType, into: &packet, at: 0)
      assertThrows(.unsupported, packet, "htype \(hardwareType)") { raw throws(WireError) in try ARPPacket.parse(raw) }
    }
  }

  func testUnsupportedProtocolType() {
    for protocolType: UInt16 in [0x86dd, 0x0806, 0x0000, 0x0008] {
      var packet = ARPVectors.whoHas
      write(protocolType, into: &packet, at: 2)
      assertThrows(.unsupported, packet, "ptype \(protocolType)") { raw throws(WireError) in try ARPPacket.parse(raw) }
    }
  }

  func testMalformedLengths() {
    let lengths: [(UInt8, UInt8)] = [(8, 4), (0, 4), (5, 4), (6, 16), (6, 0), (6, 6), (4, 6)]
    for (hardwareLength, protocolLength) in lengths {
      var packet = ARPVectors.whoHas
      packet[4] = hardwareLength
      packet[5] = protocolLength
      assertThrows(.malformed, packet, "hlen \(hardwareLength) plen \(protocolLength)") { raw throws(WireError) in
        try ARPPacket.parse(raw)
      }
    }
  }

  func testUnsupportedIsReportedBeforeLengths() {
    // Hardware type 6 with 802 lengths is unsupported, not malformed.
    var packet = ARPVectors.whoHas
    write(6, into: &packet, at: 0)
    packet[4] = 8
    assertThrows(.unsupported, packet) { raw throws(WireError) in try ARPPacket.parse(raw) }
  }
}
