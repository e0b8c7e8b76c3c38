// MACAddress, IPv4Address, IPv4Network, IPv6Address, IPv6Network and IPAddress: parsing good
// and bad text (RFC 4291 2.2 for IPv6), description (RFC 5952 for IPv6), the predicates, and
// network arithmetic at the edges.

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

  // MARK: IPv6Address

  func testIPv6Construction() {
    let address = IPv6Address(0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a)
    XCTAssertEqual(address.high, 0x2001_0db8_0000_0000)
    XCTAssertEqual(address.low, 0x0008_0800_200c_417a)
    XCTAssertEqual((0..<8).map { address.group($0) }, [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a])
    XCTAssertEqual(
      IPv6Address(bytes: bytes("20010db8 00000000 00080800 200c417a")), address, "bytes in network order")
    XCTAssertEqual(IPv6Address(bytes: [UInt8](repeating: 0, count: 16)), .unspecified)
    XCTAssertEqual(IPv6Address(high: 0, low: 1), .loopback)
    XCTAssertEqual(IPv6Address.allNodes, IPv6Address(0xff02, 0, 0, 0, 0, 0, 0, 1))
    XCTAssertEqual(IPv6Address.allRouters.low, 2)
    XCTAssertEqual(IPv6Address.allMLDv2Routers.low, 0x16)
  }

  func testIPv6ParsingRFC4291Forms() {
    // RFC 4291 2.2, item 1: the preferred form (leading zeros optional, either case).
    let documentation = IPv6Address(0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a)
    XCTAssertEqual(IPv6Address("2001:DB8:0:0:8:800:200C:417A"), documentation)
    XCTAssertEqual(IPv6Address("2001:0db8:0000:0000:0008:0800:200c:417a"), documentation)
    XCTAssertEqual(IPv6Address("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789"),
                   IPv6Address(0xabcd, 0xef01, 0x2345, 0x6789, 0xabcd, 0xef01, 0x2345, 0x6789))
    XCTAssertEqual(IPv6Address("FF01:0:0:0:0:0:0:101"), IPv6Address(0xff01, 0, 0, 0, 0, 0, 0, 0x101))
    XCTAssertEqual(IPv6Address("0:0:0:0:0:0:0:1"), .loopback)
    XCTAssertEqual(IPv6Address("0:0:0:0:0:0:0:0"), .unspecified)
    // Item 2: `::` for one or more groups of zeros, anywhere, once.
    XCTAssertEqual(IPv6Address("2001:DB8::8:800:200C:417A"), documentation)
    XCTAssertEqual(IPv6Address("FF01::101"), IPv6Address(0xff01, 0, 0, 0, 0, 0, 0, 0x101))
    XCTAssertEqual(IPv6Address("::1"), .loopback)
    XCTAssertEqual(IPv6Address("::"), .unspecified)
    XCTAssertEqual(IPv6Address("1::"), IPv6Address(1, 0, 0, 0, 0, 0, 0, 0))
    XCTAssertEqual(IPv6Address("1:2:3:4:5:6:7::"), IPv6Address(1, 2, 3, 4, 5, 6, 7, 0), "`::` for a single group")
    XCTAssertEqual(IPv6Address("::2:3:4:5:6:7:8"), IPv6Address(0, 2, 3, 4, 5, 6, 7, 8))
    XCTAssertEqual(IPv6Address("1:2:3::6:7:8"), IPv6Address(1, 2, 3, 0, 0, 6, 7, 8))
    // Item 3: the last 32 bits as a dotted quad.
    XCTAssertEqual(IPv6Address("0:0:0:0:0:0:13.1.68.3"), IPv6Address(0, 0, 0, 0, 0, 0, 0x0d01, 0x4403))
    XCTAssertEqual(IPv6Address("0:0:0:0:0:FFFF:129.144.52.38"), IPv6Address(0, 0, 0, 0, 0, 0xffff, 0x8190, 0x3426))
    XCTAssertEqual(IPv6Address("::13.1.68.3"), IPv6Address(0, 0, 0, 0, 0, 0, 0x0d01, 0x4403))
    XCTAssertEqual(IPv6Address("::FFFF:129.144.52.38"), IPv6Address(ipv4Mapped: IPv4Address(129, 144, 52, 38)))
    XCTAssertEqual(IPv6Address("64:ff9b::192.0.2.33"), IPv6Address(0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221))
    XCTAssertEqual(IPv6Address("1:2:3:4:5:6:1.2.3.4"), IPv6Address(1, 2, 3, 4, 5, 6, 0x0102, 0x0304))
    XCTAssertEqual(IPv6Address("1:2:3:4:5::1.2.3.4"), IPv6Address(1, 2, 3, 4, 5, 0, 0x0102, 0x0304))
    XCTAssertEqual(IPv6Address("x::1".dropFirst()), .loopback, "a Substring parses too")
  }

  func testIPv6ParsingRejects() {
    for text in [
      "", ":", ":::", "1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
      "1::2::3", "::1::", "1:::2", ":1::2", "1::2:", ":1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:", "1:2:3:4:5:6:7:",
      "12345::", "::12345", "0:0:0:0:0:0:0:00001", "fe80::1%eth0", "fe80::1%1", "[::1]", "::1/128", " ::1",
      "::1 ", "::g", "g::", "1:2:3:4:5:6:7:8.", "::1.2.3", "::1.2.3.4.5", "::1.2.3.256", "::1.2.3.4:5",
      "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5:6::7:1.2.3.4", "::ffff:1.2.3.4.", "::a.2.3.4", "::1234.1.2.3",
      "::1.2.3.0x4", "1.2.3.4", "::.1.2.3", "::ffff:.1.2.3.4", "-1::", "+1::", "0x1::", "::1.2..3",
    ] {
      XCTAssertNil(IPv6Address(text), "\"\(text)\" should not parse")
    }
  }

  func testIPv6DescriptionRFC5952() {
    func text(_ value: String) -> String? { IPv6Address(value)?.description }
    // 4.1: no leading zeros.
    XCTAssertEqual(text("2001:0db8::0001"), "2001:db8::1")
    // 4.2.1: the longest run; 4.2.2: never a single zero group.
    XCTAssertEqual(text("2001:db8:0:0:0:0:2:1"), "2001:db8::2:1")
    XCTAssertEqual(text("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1")
    XCTAssertEqual(text("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0")
    // 4.2.3: the longest run, and the first of equal runs.
    XCTAssertEqual(text("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1")
    XCTAssertEqual(text("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1")
    // 4.3: lower case. Section 2's variants of one address all write the same.
    for variant in ["2001:db8:0:0:1:0:0:1", "2001:0db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "2001:db8::0:1:0:0:1",
                    "2001:0db8::1:0:0:1", "2001:db8:0:0:1::1", "2001:db8:0000:0:1::1", "2001:DB8:0:0:1::1"] {
      XCTAssertEqual(text(variant), "2001:db8::1:0:0:1", variant)
    }
    XCTAssertEqual(text("::"), "::")
    XCTAssertEqual(text("::1"), "::1")
    XCTAssertEqual(text("1::"), "1::")
    XCTAssertEqual(text("fe80::5054:ff:fe12:3456"), "fe80::5054:ff:fe12:3456")
    XCTAssertEqual(text("ff02::1:ff12:3456"), "ff02::1:ff12:3456")
    XCTAssertEqual(text("0:0:1:0:0:0:0:0"), "0:0:1::")
    XCTAssertEqual(text("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4")
    // 5: IPv4-mapped addresses end in dotted decimal; others (IPv4-compatible, NAT64) do not.
    XCTAssertEqual(text("::ffff:192.0.2.1"), "::ffff:192.0.2.1")
    XCTAssertEqual(text("::ffff:c000:201"), "::ffff:192.0.2.1")
    XCTAssertEqual(text("::ffff:0:0"), "::ffff:0.0.0.0")
    XCTAssertEqual(text("::192.0.2.1"), "::c000:201")
    XCTAssertEqual(text("64:ff9b::192.0.2.33"), "64:ff9b::c000:221")
    XCTAssertEqual(text("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    XCTAssertEqual(String(Text("\(IPv6Address.allMLDv2Routers) and \(IPv6Address.allNodes)")), "ff02::16 and ff02::1")
  }

  func testIPv6DescriptionParsesBack() {
    // Every zero/non-zero pattern of the eight groups, with varied values.
    for pattern in 0..<256 {
      let groups = (0..<8).map { pattern >> $0 & 1 == 0 ? UInt16(0) : UInt16(truncatingIfNeeded: 0x1f3 * ($0 + 1) * (pattern + 1)) | 1 }
      let address = IPv6Address(groups[0], groups[1], groups[2], groups[3], groups[4], groups[5], groups[6], groups[7])
      XCTAssertEqual(IPv6Address(address.description), address, address.description)
      XCTAssertFalse(address.description.contains(":::"), address.description)
    }
    var random = SplitMix64(seed: 6)
    for _ in 0..<1000 {
      let address = IPv6Address(high: random.next(), low: random.next() & (random.next(upTo: 1) == 0 ? 0xffff_ffff : .max))
      XCTAssertEqual(IPv6Address(address.description), address, address.description)
    }
  }

  func testIPv6Predicates() throws {
    let linkLocal = try XCTUnwrap(IPv6Address("fe80::5054:ff:fe12:3456"))
    let global = try XCTUnwrap(IPv6Address("2001:db8:1::5054:ff:fe12:3456"))
    let uniqueLocal = try XCTUnwrap(IPv6Address("fd12:3456:789a::1"))
    XCTAssertTrue(IPv6Address.unspecified.isUnspecified)
    XCTAssertFalse(IPv6Address.loopback.isUnspecified)
    XCTAssertTrue(IPv6Address.loopback.isLoopback)
    XCTAssertFalse(IPv6Address(ipv4Mapped: IPv4Address(127, 0, 0, 1)).isLoopback)
    XCTAssertTrue(IPv6Address.allNodes.isMulticast)
    XCTAssertTrue(IPv6Address("ff0e::101")!.isMulticast)
    XCTAssertFalse(IPv6Address("fe80::1")!.isMulticast)
    // fe80::/10: febf:: is in, fec0:: (site-local) and fe7f:: are not.
    XCTAssertTrue(linkLocal.isLinkLocal)
    XCTAssertTrue(IPv6Address("febf:ffff::1")!.isLinkLocal)
    XCTAssertFalse(IPv6Address("fec0::1")!.isLinkLocal)
    XCTAssertFalse(IPv6Address("fe7f::1")!.isLinkLocal)
    XCTAssertFalse(IPv6Address.allNodes.isLinkLocal, "ff02::1 is link-scope multicast, not link-local unicast")
    // fc00::/7.
    XCTAssertTrue(uniqueLocal.isUniqueLocal)
    XCTAssertTrue(IPv6Address("fc00::")!.isUniqueLocal)
    XCTAssertFalse(IPv6Address("fe00::")!.isUniqueLocal)
    XCTAssertFalse(IPv6Address("fb00::")!.isUniqueLocal)
    // Global unicast: RFC 4291 2.4's everything else.
    XCTAssertTrue(global.isGlobalUnicast)
    XCTAssertTrue(uniqueLocal.isGlobalUnicast)
    XCTAssertTrue(IPv6Address("fec0::1")!.isGlobalUnicast)
    for address in [IPv6Address.unspecified, .loopback, .allNodes, linkLocal, IPv6Address(ipv4Mapped: hostA)] {
      XCTAssertFalse(address.isGlobalUnicast, "\(address)")
    }
    // IPv4-mapped.
    XCTAssertEqual(IPv6Address(ipv4Mapped: hostA).ipv4Mapped, hostA)
    XCTAssertTrue(IPv6Address("::ffff:10.0.0.1")!.isIPv4Mapped)
    XCTAssertNil(IPv6Address("::10.0.0.1")!.ipv4Mapped)
    XCTAssertNil(IPv6Address("1::ffff:10.0.0.1")!.ipv4Mapped)
    XCTAssertEqual(global.interfaceIdentifier, 0x5054_00ff_fe12_3456)
    // Order: by the 128-bit number.
    XCTAssertLessThan(IPv6Address.unspecified, .loopback)
    XCTAssertLessThan(IPv6Address(high: 1, low: .max), IPv6Address(high: 2, low: 0))
    XCTAssertLessThan(global, linkLocal)
  }

  func testIPv6MulticastScope() {
    XCTAssertEqual(IPv6Address.allNodes.multicastScope, .linkLocal)
    XCTAssertEqual(IPv6Address("ff01::1")?.multicastScope, .interfaceLocal)
    XCTAssertEqual(IPv6Address("ff05::1:3")?.multicastScope, .siteLocal)
    XCTAssertEqual(IPv6Address("ff0e::101")?.multicastScope, .global)
    XCTAssertEqual(IPv6Address("ff38::1")?.multicastScope, .organizationLocal, "the flags nibble is not the scope")
    XCTAssertEqual(IPv6Address("ff1f::1")?.multicastScope, IPv6MulticastScope(rawValue: 0xf))
    XCTAssertNil(IPv6Address.loopback.multicastScope)
    XCTAssertLessThan(IPv6MulticastScope.linkLocal, .global)
  }

  func testSolicitedNodeMulticast() throws {
    // RFC 4291 2.7.1's example.
    let address = try XCTUnwrap(IPv6Address("4037::01:800:200E:8C6C"))
    XCTAssertEqual(address.solicitedNodeMulticast, IPv6Address("FF02::1:FF0E:8C6C"))
    // What Linux solicited for its link-local address (the capture in ICMPv6Tests).
    XCTAssertEqual(linkLocalA.solicitedNodeMulticast.description, "ff02::1:ff12:3456")
    XCTAssertEqual(IPv6Address("2001:db8:1::5054:ff:fe12:3456")?.solicitedNodeMulticast, linkLocalA.solicitedNodeMulticast)
    XCTAssertTrue(linkLocalA.solicitedNodeMulticast.isSolicitedNodeMulticast)
    XCTAssertTrue(IPv6Address("ff02::1:ff00:0")!.isSolicitedNodeMulticast)
    XCTAssertTrue(IPv6Address("ff02::1:ffff:ffff")!.isSolicitedNodeMulticast)
    for other in ["ff02::1", "ff02::2:ff12:3456", "ff02::1:fe12:3456", "ff05::1:ff12:3456", "ff02:0:0:1::1:ff12:3456"] {
      XCTAssertFalse(IPv6Address(other)!.isSolicitedNodeMulticast, other)
    }
  }

  func testMulticastMACAddress() throws {
    // RFC 2464 7: 33:33 and the last four bytes; what Linux sent the MLD report and the DAD
    // solicitation to (the captures in ICMPv6Tests).
    XCTAssertEqual(MACAddress(multicast: .allMLDv2Routers), MACAddress("33:33:00:00:00:16"))
    XCTAssertEqual(MACAddress(multicast: linkLocalA.solicitedNodeMulticast), MACAddress("33:33:ff:12:34:56"))
    XCTAssertEqual(MACAddress(multicast: .allNodes), MACAddress("33:33:00:00:00:01"))
    XCTAssertEqual(MACAddress(multicast: try XCTUnwrap(IPv6Address("ff0e::89ab:cdef"))), MACAddress("33:33:89:ab:cd:ef"))
    XCTAssertTrue(MACAddress(multicast: .allNodes).isMulticast)
  }

  func testModifiedEUI64AndLinkLocal() {
    // RFC 4291 appendix A: ff:fe in the middle, the universal/local bit inverted. Linux made
    // fe80::5054:ff:fe12:3456 for 52:54:00:12:34:56 (the captures in ICMPv6Tests).
    XCTAssertEqual(macA.modifiedEUI64, 0x5054_00ff_fe12_3456)
    XCTAssertEqual(IPv6Address.linkLocal(interfaceIdentifier: macA.modifiedEUI64), linkLocalA)
    XCTAssertEqual(IPv6Address.linkLocal(interfaceIdentifier: macB.modifiedEUI64).description, "fe80::5054:ff:feab:cdef")
    // A universal address gets the bit set: 00:1b:21:... becomes 021b:21ff:fe...
    XCTAssertEqual(MACAddress(0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c).modifiedEUI64, 0x021b_21ff_fe0a_0b0c)
    XCTAssertEqual(MACAddress.zero.modifiedEUI64, 0x0200_00ff_fe00_0000)
    XCTAssertEqual(MACAddress.broadcast.modifiedEUI64, 0xfdff_ffff_feff_ffff)
    XCTAssertTrue(IPv6Address.linkLocal(interfaceIdentifier: 1).isLinkLocal)
  }

  func testIPv6ReadWrite() throws {
    let address = try XCTUnwrap(IPv6Address("2001:db8::8:800:200c:417a"))
    let buffer = emitting(into: filled(18)) { address.write(to: $0, at: 1) }
    assertBytes(buffer, bytes("a5 20010db8000000000008 0800200c417a a5"))
    buffer.withUnsafeBytes { XCTAssertEqual(IPv6Address.read(from: $0, at: 1), address) }
  }

  // MARK: IPv6Network

  func testIPv6NetworkParsing() throws {
    // RFC 4291 2.3: three legal ways to write 2001:db8:0:cd30::/60.
    let expected = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 0, 0xcd30, 0, 0, 0, 0), prefixLength: 60)
    XCTAssertEqual(IPv6Network("2001:0DB8:0000:CD30:0000:0000:0000:0000/60"), expected)
    XCTAssertEqual(IPv6Network("2001:0DB8::CD30:0:0:0:0/60"), expected)
    XCTAssertEqual(IPv6Network("2001:0DB8:0:CD30::/60"), expected)
    // And its examples of what is not it: one does not parse, two are other addresses.
    XCTAssertNil(IPv6Network("2001:0DB8:0:CD3/60"))
    XCTAssertNotEqual(IPv6Network("2001:0DB8::CD30/60"), expected)
    XCTAssertNotEqual(IPv6Network("2001:0DB8::CD3/60"), expected)
    XCTAssertEqual(IPv6Network("::/0")?.prefixLength, 0)
    XCTAssertEqual(IPv6Network("::1/128")?.prefixLength, 128)
    XCTAssertEqual(IPv6Network("fe80::1/064")?.prefixLength, 64)
    XCTAssertEqual(IPv6Network("::ffff:10.0.0.1/96")?.address, IPv6Address(ipv4Mapped: hostA))
  }

  func testIPv6NetworkParsingRejects() {
    for text in ["::1/129", "::1/", "/64", "::1", "::1/-1", "::1/a", "::1/0064", "::1/1000", "::1/64/8", "::1//64",
                 "", "/", "::1/ 64", "::1/64 ", "fe80::1%eth0/64", "1::2::3/64", "10.0.0.1/24"] {
      XCTAssertNil(IPv6Network(text), "\"\(text)\" should not parse")
    }
  }

  func testIPv6NetworkArithmetic() throws {
    let slash64 = try XCTUnwrap(IPv6Network("2001:db8:1::5054:ff:fe12:3456/64"))
    XCTAssertEqual(slash64.mask, IPv6Address(high: .max, low: 0))
    XCTAssertEqual(slash64.networkAddress, IPv6Address("2001:db8:1::"))
    XCTAssertTrue(slash64.contains(IPv6Address("2001:db8:1::1")!))
    XCTAssertTrue(slash64.contains(IPv6Address("2001:db8:1:0:ffff:ffff:ffff:ffff")!))
    XCTAssertFalse(slash64.contains(IPv6Address("2001:db8:1:1::1")!))
    XCTAssertFalse(slash64.contains(linkLocalA))

    let slash60 = try XCTUnwrap(IPv6Network("2001:db8:0:cd3f::1/60"))
    XCTAssertEqual(slash60.mask, IPv6Address(0xffff, 0xffff, 0xffff, 0xfff0, 0, 0, 0, 0))
    XCTAssertEqual(slash60.networkAddress, IPv6Address("2001:db8:0:cd30::"))
    XCTAssertTrue(slash60.contains(IPv6Address("2001:db8:0:cd30::9")!))
    XCTAssertFalse(slash60.contains(IPv6Address("2001:db8:0:cd40::")!))

    let everything = IPv6Network(address: linkLocalA, prefixLength: 0)
    XCTAssertEqual(everything.mask, .unspecified)
    XCTAssertEqual(everything.networkAddress, .unspecified)
    for address in [IPv6Address.unspecified, .loopback, .allNodes, IPv6Address(high: .max, low: .max)] {
      XCTAssertTrue(everything.contains(address), "\(address)")
    }

    let host = IPv6Network(address: linkLocalA, prefixLength: 128)
    XCTAssertEqual(host.mask, IPv6Address(high: .max, low: .max))
    XCTAssertEqual(host.networkAddress, linkLocalA)
    XCTAssertTrue(host.contains(linkLocalA))
    XCTAssertFalse(host.contains(IPv6Address(high: linkLocalA.high, low: linkLocalA.low ^ 1)))

    XCTAssertEqual(IPv6Network(address: .loopback, prefixLength: 1).mask, IPv6Address(0x8000, 0, 0, 0, 0, 0, 0, 0))
    XCTAssertEqual(IPv6Network(address: .loopback, prefixLength: 65).mask, IPv6Address(high: .max, low: 1 << 63))
    XCTAssertEqual(IPv6Network(address: .loopback, prefixLength: 127).mask, IPv6Address(high: .max, low: .max - 1))
    XCTAssertEqual(IPv6Network(address: .loopback, prefixLength: 10).networkAddress, .unspecified)
    XCTAssertTrue(IPv6Network("fe80::/10")!.contains(IPv6Address("febf::1")!))
  }

  func testIPv6NetworkDescription() {
    XCTAssertEqual(IPv6Network("2001:0DB8:0:CD30::/60")?.description, "2001:db8:0:cd30::/60")
    XCTAssertEqual(IPv6Network(address: linkLocalA, prefixLength: 64).description, "fe80::5054:ff:fe12:3456/64")
    XCTAssertEqual(IPv6Network(address: .unspecified, prefixLength: 0).description, "::/0")
  }

  // MARK: IPAddress

  func testIPAddressParsing() {
    XCTAssertEqual(IPAddress("10.0.0.1"), .v4(hostA))
    XCTAssertEqual(IPAddress("fe80::5054:ff:fe12:3456"), .v6(linkLocalA))
    XCTAssertEqual(IPAddress("::ffff:10.0.0.1"), .v6(IPv6Address(ipv4Mapped: hostA)), "a mapped address stays IPv6")
    XCTAssertEqual(IPAddress("::"), .v6(.unspecified))
    XCTAssertEqual(IPAddress("0.0.0.0"), .v4(.any))
    XCTAssertEqual(IPAddress("1:2:3:4:5:6:7:8"), .v6(IPv6Address(1, 2, 3, 4, 5, 6, 7, 8)))
    XCTAssertEqual(IPAddress("x10.0.0.1".dropFirst()), .v4(hostA))
    for text in ["", "1", "1.2.3", "1.2.3.4.5", "256.0.0.1", ":", ":::", "1::2::3", "::1%lo", "1.2.3.4::",
                 "10.0.0.1/24", "::1/128", "localhost", " 10.0.0.1"] {
      XCTAssertNil(IPAddress(text), "\"\(text)\" should not parse")
    }
  }

  func testIPAddressDescriptionAndPredicates() {
    XCTAssertEqual(IPAddress.v4(hostA).description, "10.0.0.1")
    XCTAssertEqual(IPAddress.v6(linkLocalA).description, "fe80::5054:ff:fe12:3456")
    XCTAssertEqual(String(Text("\(IPAddress.v6(.loopback))")), "::1")
    for address in [IPAddress.v4(hostA), .v4(.broadcast), .v6(.allNodes), .v6(IPv6Address(ipv4Mapped: hostB))] {
      XCTAssertEqual(IPAddress(address.description), address)
    }
    XCTAssertTrue(IPAddress.v4(.any).isUnspecified)
    XCTAssertTrue(IPAddress.v6(.unspecified).isUnspecified)
    XCTAssertFalse(IPAddress.v4(hostA).isUnspecified)
    XCTAssertTrue(IPAddress.v4(IPv4Address(224, 0, 0, 251)).isMulticast)
    XCTAssertTrue(IPAddress.v6(.allRouters).isMulticast)
    XCTAssertFalse(IPAddress.v6(linkLocalA).isMulticast)
    XCTAssertTrue(IPAddress.v4(IPv4Address(127, 0, 0, 1)).isLoopback)
    XCTAssertTrue(IPAddress.v6(.loopback).isLoopback)
    XCTAssertFalse(IPAddress.v6(.unspecified).isLoopback)
    XCTAssertEqual(IPAddress.v4(hostA).ipv4, hostA)
    XCTAssertNil(IPAddress.v4(hostA).ipv6)
    XCTAssertEqual(IPAddress.v6(linkLocalA).ipv6, linkLocalA)
    XCTAssertNil(IPAddress.v6(linkLocalA).ipv4)
    XCTAssertEqual(IPAddress.v6(IPv6Address(ipv4Mapped: hostA)).unmapped, .v4(hostA))
    XCTAssertEqual(IPAddress.v6(linkLocalA).unmapped, .v6(linkLocalA))
    XCTAssertEqual(IPAddress.v4(hostB).unmapped, .v4(hostB))
    XCTAssertNotEqual(IPAddress.v4(.any), IPAddress.v6(.unspecified))
  }
}

final class IPNetworkTests: XCTestCase {
  func testEitherFamily() throws {
    let v4 = try XCTUnwrap(IPNetwork("10.1.2.3/16"))
    let v6 = try XCTUnwrap(IPNetwork("fd00:1:2::3/48"))
    XCTAssertEqual(v4.prefixLength, 16)
    XCTAssertEqual(v6.prefixLength, 48)
    XCTAssertEqual(v4.normalized.description, "10.1.0.0/16")
    XCTAssertEqual(v6.normalized.description, "fd00:1:2::/48")
    XCTAssertTrue(v4.contains(IPAddress("10.1.200.1")!))
    XCTAssertFalse(v4.contains(IPAddress("10.2.0.1")!))
    XCTAssertFalse(v4.contains(IPAddress("::ffff:10.1.0.1")!), "never the other family")
    XCTAssertTrue(v6.contains(IPAddress("fd00:1:2:ffff::1")!))
    XCTAssertEqual(IPNetwork.everything(like: IPAddress("1.2.3.4")!).description, "0.0.0.0/0")
    XCTAssertEqual(IPNetwork.everything(like: IPAddress("::1")!).description, "::/0")
    XCTAssertNil(IPNetwork("10.1.2.3"))
    XCTAssertNil(IPNetwork("10.1.2.3/33"))
    XCTAssertNil(IPNetwork("fd00::/129"))
  }
}
