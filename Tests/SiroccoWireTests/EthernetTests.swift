// Ethernet II and 802.1Q: deconstruct, construct, round trip, description, negative vectors.

import XCTest

@testable import SiroccoWire

enum EthernetVectors {
  /// A broadcast ARP who-has 10.0.0.2 tell 10.0.0.1 from 52:54:00:12:34:56, padded to the
  /// 60-byte minimum as a NIC delivers it (FCS stripped).
  static let arpFrame = bytes(
    """
    ffffffffffff 525400123456 0806
    0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002
    000000000000000000000000000000000000
    """)

  /// The ping request of `IPv4Vectors.pingRequest`, tagged for VLAN 100 with priority 5:
  /// 52:54:00:12:34:56 > 52:54:00:ab:cd:ef, 802.1Q, TCI 0xa064, inner type IPv4.
  static let vlanFrame = bytes("525400abcdef 525400123456 8100 a064 0800") + IPv4Vectors.pingRequest

  /// 802.1Q with priority 3, drop eligible, VLAN 4094 (TCI 0x7ffe), inner type ARP.
  static let vlanDropEligible = bytes("ffffffffffff 525400123456 8100 7ffe 0806") + ARPVectors.whoHas

  /// An LLDP frame (EtherType 0x88cc, to the nearest-bridge group address): a type this stack
  /// does not know still parses.
  static let lldpHeader = bytes("0180c200000e 525400123456 88cc")

  /// Double tagged (QinQ with 0x8100 outer and inner): only the outer tag is parsed.
  static let doubleTagged = bytes("525400abcdef 525400123456 8100 0064 8100 00c8 0800")
}

final class EthernetTests: XCTestCase {
  // MARK: Deconstruct

  func testDeconstructUntagged() throws {
    let frame = EthernetVectors.arpFrame
    let header = try parse(frame) { raw throws(WireError) in try EthernetHeader.parse(raw) }
    XCTAssertEqual(header.destination, .broadcast)
    XCTAssertEqual(header.source, macA)
    XCTAssertEqual(header.etherType, .arp)
    XCTAssertEqual(header.etherType.rawValue, 0x0806)
    XCTAssertNil(header.vlan)
    XCTAssertEqual(header.headerLength, 14)
    XCTAssertEqual(Array(frame[header.headerLength..<(header.headerLength + 28)]), ARPVectors.whoHas)
  }

  func testDeconstructTagged() throws {
    let frame = EthernetVectors.vlanFrame
    let header = try parse(frame) { raw throws(WireError) in try EthernetHeader.parse(raw) }
    XCTAssertEqual(header.destination, macB)
    XCTAssertEqual(header.source, macA)
    XCTAssertEqual(header.etherType, .ipv4, "a tagged frame reports the inner type")
    XCTAssertEqual(header.vlan, VLANTag(priority: 5, dropEligible: false, identifier: 100))
    XCTAssertEqual(header.headerLength, 18)
    XCTAssertEqual(Array(frame[18...]), IPv4Vectors.pingRequest)
  }

  func testDeconstructTaggedDropEligible() throws {
    let header = try parse(EthernetVectors.vlanDropEligible) { raw throws(WireError) in try EthernetHeader.parse(raw) }
    XCTAssertEqual(header.destination, .broadcast)
    XCTAssertEqual(header.etherType, .arp)
    XCTAssertEqual(header.vlan?.priority, 3)
    XCTAssertEqual(header.vlan?.dropEligible, true)
    XCTAssertEqual(header.vlan?.identifier, 4094)
  }

  func testDeconstructUnknownEtherType() throws {
    let header = try parse(EthernetVectors.lldpHeader) { raw throws(WireError) in try EthernetHeader.parse(raw) }
    XCTAssertEqual(header.destination, MACAddress(0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e))
    XCTAssertTrue(header.destination.isMulticast)
    XCTAssertEqual(header.etherType, EtherType(rawValue: 0x88cc))
    XCTAssertNil(header.vlan)
  }

  func testDeconstructDoubleTaggedReadsInnerTagAsType() throws {
    // Documented: stacked tags are not parsed; the inner type reads as .vlan.
    let header = try parse(EthernetVectors.doubleTagged) { raw throws(WireError) in try EthernetHeader.parse(raw) }
    XCTAssertEqual(header.vlan?.identifier, 100)
    XCTAssertEqual(header.etherType, .vlan)
    XCTAssertEqual(header.headerLength, 18)
  }

  // MARK: Construct

  func testConstructUntagged() {
    let header = EthernetHeader(destination: .broadcast, source: macA, etherType: .arp)
    XCTAssertEqual(header.headerLength, 14)
    let out = emitting(into: filled(14)) { header.emit(into: $0) }
    assertBytes(out, Array(EthernetVectors.arpFrame[0..<14]))
    // A larger buffer: only the header's bytes are written.
    let large = emitting(into: filled(60)) { header.emit(into: $0) }
    assertBytes(Array(large[0..<14]), Array(EthernetVectors.arpFrame[0..<14]))
    XCTAssertEqual(Array(large[14...]), filled(46))
  }

  func testConstructTagged() {
    let header = EthernetHeader(
      destination: macB, source: macA, etherType: .ipv4, vlan: VLANTag(priority: 5, identifier: 100))
    XCTAssertEqual(header.headerLength, 18)
    let out = emitting(into: filled(18)) { header.emit(into: $0) }
    assertBytes(out, Array(EthernetVectors.vlanFrame[0..<18]))

    let eligible = EthernetHeader(
      destination: .broadcast, source: macA, etherType: .arp,
      vlan: VLANTag(priority: 3, dropEligible: true, identifier: 4094))
    assertBytes(emitting(into: filled(18)) { eligible.emit(into: $0) }, Array(EthernetVectors.vlanDropEligible[0..<18]))
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    for frame in [EthernetVectors.arpFrame, EthernetVectors.vlanFrame, EthernetVectors.vlanDropEligible,
                  EthernetVectors.lldpHeader, EthernetVectors.doubleTagged] {
      let header = try parse(frame) { raw throws(WireError) in try EthernetHeader.parse(raw) }
      let out = emitting(into: frame) { header.emit(into: $0) }
      assertBytes(out, frame)
      let again = emitting(into: filled(header.headerLength)) { header.emit(into: $0) }
      assertBytes(again, Array(frame[0..<header.headerLength]))
      XCTAssertEqual(try parse(again) { raw throws(WireError) in try EthernetHeader.parse(raw) }, header)
    }
  }

  // MARK: Description

  func testDescription() throws {
    let untagged = try parse(EthernetVectors.arpFrame) { raw throws(WireError) in try EthernetHeader.parse(raw) }
    XCTAssertEqual(untagged.description, "52:54:00:12:34:56 > ff:ff:ff:ff:ff:ff, ethertype ARP")

    let tagged = try parse(EthernetVectors.vlanFrame) { raw throws(WireError) in try EthernetHeader.parse(raw) }
    let text = tagged.description
    XCTAssertTrue(text.contains("52:54:00:12:34:56 > 52:54:00:ab:cd:ef"), text)
    XCTAssertTrue(text.contains("vlan 100"), text)
    XCTAssertTrue(text.contains("p 5"), text)
    XCTAssertTrue(text.contains("ethertype IPv4"), text)

    let lldp = try parse(EthernetVectors.lldpHeader) { raw throws(WireError) in try EthernetHeader.parse(raw) }
    XCTAssertTrue(lldp.description.contains("ethertype 0x88cc"), lldp.description)
    XCTAssertEqual(EtherType.ipv6.description, "IPv6")
    XCTAssertEqual(EtherType.vlan.description, "802.1Q")
  }

  // MARK: Negative vectors

  func testTruncatedUntagged() {
    for length in 0..<EthernetHeader.minimumLength {
      assertThrows(.truncated, Array(EthernetVectors.arpFrame[0..<length]), "length \(length)") { raw throws(WireError) in
        try EthernetHeader.parse(raw)
      }
    }
  }

  func testTruncatedTag() {
    // The EtherType says 802.1Q but the four tag bytes are not all there.
    for length in 14..<18 {
      assertThrows(.truncated, Array(EthernetVectors.vlanFrame[0..<length]), "length \(length)") { raw throws(WireError) in
        try EthernetHeader.parse(raw)
      }
    }
    XCTAssertNoThrow(try parse(Array(EthernetVectors.vlanFrame[0..<18])) { raw throws(WireError) in try EthernetHeader.parse(raw) })
  }
}
