// MACAddress, IPv4Address and IPv4Network: parsing good and bad text, description, the
// predicates, and network arithmetic at /0, /24 and /32.

import XCTest

@testable import SiroccoWire

final class AddressTests: XCTestCase {
  // MARK: MACAddress

  func testMACParsing() {
    XCTAssertEqual(MACAddress("52:54:00:12:34:56"), macA)
    XCTAssertEqual(MACAddress("52:54:00:AB:cd:Ef"), macB)
    XCTAssertEqual(MACAddress("52-54-00-ab-cd-ef"), macB)
    XCTAssertEqual(MACAddress("ff:ff:ff:ff:ff:ff"), .broadcast)
    XCTAssertEqual(MACAddress("0:0:0:0:0:0"), .zero)
    XCTAssertEqual(MACAddress("2:0:0:0:0:1"), MACAddress(2, 0, 0, 0, 0, 1), "one digit per octet")
    XCTAssertEqual(MACAddress("x52:54:00:12:34:56".dropFirst()), macA, "a Substring parses too")
  }

  func testMACParsingRejects() {
    for text in ["", "01:02:03:04:05", "01:02:03:04:05:06:07", "01:02:03:04:05:", ":01:02:03:04:05",
                 "01::02:03:04:05", "001:02:03:04:05:06", "0g:02:03:04:05:06", "01:02:03:04:05:06:",
                 "01 02 03 04 05 06", "010203040506", "01:02:03:04:05:-6", ":", "0x1:02:03:04:05:06"] {
      XCTAssertNil(MACAddress(text), "\"\(text)\" should not parse")
    }
  }

  func testMACDescriptionAndValue() {
    XCTAssertEqual(macA.description, "52:54:00:12:34:56")
    XCTAssertEqual(MACAddress.broadcast.description, "ff:ff:ff:ff:ff:ff")
    XCTAssertEqual(MACAddress(2, 0, 0, 0, 0, 1).description, "02:00:00:00:00:01")
    XCTAssertEqual(macA.rawValue, 0x5254_0012_3456)
    XCTAssertEqual(MACAddress(rawValue: 0xffff_5254_0012_3456), macA, "bits above 48 are dropped")
    for mac in [macA, macB, .broadcast, .zero] {
      XCTAssertEqual(MACAddress(mac.description), mac)
    }
  }

  func testMACPredicates() {
    XCTAssertTrue(MACAddress.broadcast.isBroadcast)
    XCTAssertTrue(MACAddress.broadcast.isMulticast)
    XCTAssertFalse(macA.isMulticast)
    XCTAssertTrue(macA.isUnicast)
    XCTAssertTrue(MACAddress(0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb).isMulticast)
    XCTAssertTrue(macA.isLocallyAdministered, "52 has the U/L bit set")
    XCTAssertFalse(MACAddress(0x00, 0x1b, 0x21, 0x00, 0x00, 0x01).isLocallyAdministered)
    let random = MACAddress.locallyAdministered(random: 0xffff_ffff_ffff_ffff)
    XCTAssertTrue(random.isLocallyAdministered)
    XCTAssertTrue(random.isUnicast)
    XCTAssertEqual(random, MACAddress(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff))
    XCTAssertLessThan(MACAddress.zero, macA)
  }

  func testMACReadWrite() {
    let buffer = emitting(into: filled(8)) { macB.write(to: $0, at: 1) }
    XCTAssertEqual(buffer, [0xa5, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0xa5])
    buffer.withUnsafeBytes { XCTAssertEqual(MACAddress.read(from: $0, at: 1), macB) }
  }

  // MARK: IPv4Address

  func testIPv4Parsing() {
    XCTAssertEqual(IPv4Address("10.0.0.1"), hostA)
    XCTAssertEqual(IPv4Address("0.0.0.0"), .any)
    XCTAssertEqual(IPv4Address("255.255.255.255"), .broadcast)
    XCTAssertEqual(IPv4Address("192.168.100.254")?.rawValue, 0xc0a8_64fe)
    XCTAssertEqual(IPv4Address("010.000.000.001"), hostA, "three digits with leading zeros read as decimal")
  }

  func testIPv4ParsingRejects() {
    for text in ["", "256.0.0.1", "1.2.3", "1.2.3.4.5", "a.b.c.d", "1.2.3.", ".1.2.3", "1..2.3", "1.2.3.256",
                 "1.2.3.1000", "0001.2.3.4", "-1.2.3.4", "+1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/24",
                 "999.999.999.999", "1.2.3.4.", "...", "0x1.2.3.4"] {
      XCTAssertNil(IPv4Address(text), "\"\(text)\" should not parse")
    }
  }

  func testIPv4DescriptionAndPredicates() {
    XCTAssertEqual(hostA.description, "10.0.0.1")
    XCTAssertEqual(IPv4Address.broadcast.description, "255.255.255.255")
    XCTAssertEqual(IPv4Address(192, 168, 100, 254).description, "192.168.100.254")
    XCTAssertEqual(IPv4Address(10, 0, 0, 1).rawValue, 0x0a00_0001)
    XCTAssertTrue(IPv4Address.any.isUnspecified)
    XCTAssertTrue(IPv4Address.broadcast.isBroadcast)
    XCTAssertTrue(IPv4Address(224, 0, 0, 1).isMulticast)
    XCTAssertTrue(IPv4Address(239, 255, 255, 250).isMulticast)
    XCTAssertFalse(IPv4Address(240, 0, 0, 1).isMulticast)
    XCTAssertFalse(IPv4Address(223, 255, 255, 255).isMulticast)
    XCTAssertTrue(IPv4Address(127, 0, 0, 1).isLoopback)
    XCTAssertFalse(hostA.isLoopback)
    XCTAssertLessThan(hostA, hostB)
    for address in [hostA, .any, .broadcast, IPv4Address(172, 16, 5, 9)] {
      XCTAssertEqual(IPv4Address(address.description), address)
    }
  }

  func testIPv4ReadWrite() {
    let buffer = emitting(into: filled(6)) { IPv4Address(192, 0, 2, 7).write(to: $0, at: 1) }
    XCTAssertEqual(buffer, [0xa5, 192, 0, 2, 7, 0xa5])
    buffer.withUnsafeBytes { XCTAssertEqual(IPv4Address.read(from: $0, at: 1), IPv4Address(192, 0, 2, 7)) }
  }

  // MARK: IPv4Network

  func testNetworkParsing() {
    let network = IPv4Network("10.0.0.1/24")
    XCTAssertEqual(network?.address, hostA)
    XCTAssertEqual(network?.prefixLength, 24)
    XCTAssertEqual(IPv4Network("0.0.0.0/0")?.prefixLength, 0)
    XCTAssertEqual(IPv4Network("10.0.0.1/32")?.prefixLength, 32)
    XCTAssertEqual(IPv4Network("10.0.0.1/08")?.prefixLength, 8)
  }

  func testNetworkParsingRejects() {
    for text in ["10.0.0.1/33", "10.0.0.1/", "/24", "10.0.0.1", "10.0.0.1/-1", "10.0.0.1/a", "10.0.0.1/024",
                 "10.0.0.1/100", "10.0.0/24", "256.0.0.1/24", "10.0.0.1/24/8", "10.0.0.1//24", "", "/",
                 "10.0.0.1/ 24", "10.0.0.1/24 "] {
      XCTAssertNil(IPv4Network(text), "\"\(text)\" should not parse")
    }
  }

  func testNetworkDescription() {
    XCTAssertEqual(IPv4Network("10.0.0.1/24")?.description, "10.0.0.1/24")
    XCTAssertEqual(IPv4Network(address: .any, prefixLength: 0).description, "0.0.0.0/0")
  }

  func testNetworkSlash24() throws {
    let network = try XCTUnwrap(IPv4Network("10.0.0.1/24"))
    XCTAssertEqual(network.mask, 0xffff_ff00)
    XCTAssertEqual(network.networkAddress, IPv4Address(10, 0, 0, 0))
    XCTAssertEqual(network.broadcastAddress, IPv4Address(10, 0, 0, 255))
    XCTAssertTrue(network.contains(hostB))
    XCTAssertTrue(network.contains(IPv4Address(10, 0, 0, 0)))
    XCTAssertTrue(network.contains(IPv4Address(10, 0, 0, 255)))
    XCTAssertFalse(network.contains(IPv4Address(10, 0, 1, 1)))
    XCTAssertFalse(network.contains(IPv4Address(9, 255, 255, 255)))
  }

  func testNetworkSlash0() throws {
    let network = try XCTUnwrap(IPv4Network("10.0.0.1/0"))
    XCTAssertEqual(network.mask, 0)
    XCTAssertEqual(network.networkAddress, .any)
    XCTAssertEqual(network.broadcastAddress, .broadcast)
    for address in [IPv4Address.any, .broadcast, hostA, IPv4Address(203, 0, 113, 9)] {
      XCTAssertTrue(network.contains(address), "\(address)")
    }
  }

  func testNetworkSlash32() throws {
    let network = try XCTUnwrap(IPv4Network("10.0.0.1/32"))
    XCTAssertEqual(network.mask, 0xffff_ffff)
    XCTAssertEqual(network.networkAddress, hostA)
    XCTAssertEqual(network.broadcastAddress, hostA)
    XCTAssertTrue(network.contains(hostA))
    XCTAssertFalse(network.contains(hostB))
    XCTAssertFalse(network.contains(IPv4Address(10, 0, 0, 0)))
  }

  func testNetworkOtherPrefixes() {
    let network = IPv4Network(address: IPv4Address(172, 16, 5, 9), prefixLength: 12)
    XCTAssertEqual(network.mask, 0xfff0_0000)
    XCTAssertEqual(network.networkAddress, IPv4Address(172, 16, 0, 0))
    XCTAssertEqual(network.broadcastAddress, IPv4Address(172, 31, 255, 255))
    XCTAssertTrue(network.contains(IPv4Address(172, 31, 0, 1)))
    XCTAssertFalse(network.contains(IPv4Address(172, 32, 0, 1)))
    XCTAssertEqual(IPv4Network(address: hostA, prefixLength: 1).mask, 0x8000_0000)
    XCTAssertEqual(IPv4Network(address: hostA, prefixLength: 31).mask, 0xffff_fffe)
  }
}
