// Neighbor Discovery (RFC 4861 4, 6.1, 7.1, 8.1; RFC 8106): the five messages and their
// options, deconstruct, construct, round trip, description, negative vectors, and the
// receiver's validation. The vectors are what Linux sent (captured as IPv6Tests describes),
// and a Router Advertisement and a Redirect written by hand and sent through a raw ICMPv6
// socket, so Linux's kernel computed their checksums and Linux acted on the advertisement.

import XCTest

@testable import SiroccoWire

enum NDPVectors {
  static let sourceA = bytes("0101 525400123456")
  static let sourceB = bytes("0101 525400abcdef")

  /// Duplicate address detection for linkLocalA: from ::, to ff02::1:ff12:3456, with the
  /// nonce option (type 14, RFC 7527) that a parser skips; checksum 0x7e5e.
  static let duplicateAddressDetection = bytes("87 00 7e5e 00000000 fe80000000000000505400fffe123456 0e01 400fba7c3d0f")
  /// Router Solicitation from linkLocalA to ff02::2, its link-layer address; 0x71b5.
  static let routerSolicitation = bytes("85 00 71b5 00000000") + sourceA
  /// Router Advertisement from linkLocalB to ff02::1: hop limit 64, O, lifetime 1800 s,
  /// reachable 30000 ms, retransmit 1000 ms; source link-layer address, MTU 1500, prefix
  /// 2001:db8:1::/64 (L, A, valid 86400 s, preferred 14400 s), RDNSS 2001:db8:1::53 for
  /// 1800 s; 0x2773. Linux configured 2001:db8:1::5054:ff:fe12:3456 from it.
  static let routerAdvertisement = bytes("86 00 2773 40 40 0708 00007530 000003e8") + sourceB
    + bytes("0501 0000 000005dc")
    + bytes("0304 40 c0 00015180 00003840 00000000 20010db8000100000000000000000000")
    + bytes("1903 0000 00000708 20010db8000100000000000000000053")
  /// Address resolution: linkLocalB asks ff02::1:ff12:3456 who has linkLocalA; 0x859a.
  static let neighborSolicitation = bytes("87 00 859a 00000000 fe80000000000000505400fffe123456") + sourceB
  /// Linux's answer: solicited, override, its link-layer address; 0x6dfc.
  static let neighborAdvertisement = bytes("88 00 6dfc 60000000 fe80000000000000505400fffe123456 0201 525400123456")
  /// Reachability confirmation: linkLocalA asks linkLocalB directly (unicast); 0x35ca.
  static let unicastSolicitation = bytes("87 00 35ca 00000000 fe80000000000000505400fffeabcdef") + sourceA
  /// Linux's answer: solicited only, no option; 0x7c8f.
  static let probeAdvertisement = bytes("88 00 7c8f 40000000 fe80000000000000505400fffeabcdef")
  /// Redirect from linkLocalB to linkLocalA: 2001:db8:2::1 through fe80::1, whose link-layer
  /// address is 52:54:00:00:00:01, with a redirected header option (type 4, skipped); 0x3199.
  static let redirect = bytes("89 00 3199 00000000 fe800000000000000000000000000001 20010db8000200000000000000000001")
    + bytes("0201 525400000001")
    + bytes("0408 000000000000 6000000000103a40 fe80000000000000505400fffe123456 20010db8000200000000000000000001")
    + bytes("8000000057260001 0000000000000000")

  static let all: [ICMPv6Vector] = [
    ("duplicate address detection", duplicateAddressDetection, .unspecified, linkLocalA.solicitedNodeMulticast),
    ("router solicitation", routerSolicitation, linkLocalA, .allRouters),
    ("router advertisement", routerAdvertisement, linkLocalB, .allNodes),
    ("neighbor solicitation", neighborSolicitation, linkLocalB, linkLocalA.solicitedNodeMulticast),
    ("neighbor advertisement", neighborAdvertisement, linkLocalA, linkLocalB),
    ("unicast solicitation", unicastSolicitation, linkLocalA, linkLocalB),
    ("probe advertisement", probeAdvertisement, linkLocalB, linkLocalA),
    ("redirect", redirect, linkLocalB, linkLocalA),
  ]
}

final class NDPTests: XCTestCase {
  private func parseNDP(
    _ data: [UInt8], _ source: IPv6Address, _ destination: IPv6Address, verifyChecksum: Bool = true
  ) throws(WireError) -> ICMPv6Message {
    try parse(data) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: source, destination: destination, verifyChecksum: verifyChecksum)
    }
  }

  /// Parses `data` with its checksum repaired (for mutated vectors), from linkLocalB to linkLocalA.
  private func parseRepaired(_ data: [UInt8]) -> Result<ICMPv6Message, WireError> {
    var data = data
    fixChecksum(&data, at: 2, nextHeader: 58, source: linkLocalB, destination: linkLocalA)
    return parsing(data) { raw throws(WireError) in try ICMPv6Message.parse(raw, source: linkLocalB, destination: linkLocalA) }
  }

  static let prefix = NDPPrefixInformation(
    prefix: IPv6Network("2001:db8:1::/64")!, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400)
  static let advertisement = RouterAdvertisement(
    currentHopLimit: 64, otherConfiguration: true, routerLifetime: 1800, reachableTime: 30000, retransmitTimer: 1000,
    options: [.sourceLinkLayerAddress(macB), .mtu(1500), .prefixInformation(prefix),
              .recursiveDNSServers(lifetime: 1800, addresses: [IPv6Address("2001:db8:1::53")!])])

  func testVectorChecksumsAgainstReference() { assertChecksumsVerify(NDPVectors.all) }

  // MARK: Deconstruct

  func testDeconstructSolicitations() throws {
    let dad = try parseNDP(NDPVectors.duplicateAddressDetection, .unspecified, linkLocalA.solicitedNodeMulticast)
    XCTAssertEqual(dad, .neighborSolicitation(NeighborSolicitation(targetAddress: linkLocalA)), "the nonce option is skipped")
    XCTAssertEqual(dad.type, 135)
    XCTAssertEqual(
      try parseNDP(NDPVectors.neighborSolicitation, linkLocalB, linkLocalA.solicitedNodeMulticast),
      .neighborSolicitation(NeighborSolicitation(targetAddress: linkLocalA, options: [.sourceLinkLayerAddress(macB)])))
    XCTAssertEqual(
      try parseNDP(NDPVectors.unicastSolicitation, linkLocalA, linkLocalB),
      .neighborSolicitation(NeighborSolicitation(targetAddress: linkLocalB, options: [.sourceLinkLayerAddress(macA)])))
    let solicitation = try parseNDP(NDPVectors.routerSolicitation, linkLocalA, .allRouters)
    XCTAssertEqual(solicitation, .routerSolicitation(RouterSolicitation(options: [.sourceLinkLayerAddress(macA)])))
    XCTAssertEqual(solicitation.type, 133)
    XCTAssertEqual(solicitation.code, 0)
  }

  func testDeconstructAdvertisements() throws {
    let solicited = try parseNDP(NDPVectors.neighborAdvertisement, linkLocalA, linkLocalB)
    guard case .neighborAdvertisement(let advertisement) = solicited else { return XCTFail("\(solicited)") }
    XCTAssertFalse(advertisement.router)
    XCTAssertTrue(advertisement.solicited)
    XCTAssertTrue(advertisement.override)
    XCTAssertEqual(advertisement.targetAddress, linkLocalA)
    XCTAssertEqual(advertisement.options.targetLinkLayerAddress, macA)
    XCTAssertNil(advertisement.options.sourceLinkLayerAddress)
    XCTAssertEqual(
      try parseNDP(NDPVectors.probeAdvertisement, linkLocalB, linkLocalA),
      .neighborAdvertisement(NeighborAdvertisement(solicited: true, override: false, targetAddress: linkLocalB)))
  }

  func testDeconstructRouterAdvertisement() throws {
    let message = try parseNDP(NDPVectors.routerAdvertisement, linkLocalB, .allNodes)
    guard case .routerAdvertisement(let advertisement) = message else { return XCTFail("\(message)") }
    XCTAssertEqual(advertisement.currentHopLimit, 64)
    XCTAssertFalse(advertisement.managedAddressConfiguration)
    XCTAssertTrue(advertisement.otherConfiguration)
    XCTAssertEqual(advertisement.routerLifetime, 1800)
    XCTAssertEqual(advertisement.reachableTime, 30000)
    XCTAssertEqual(advertisement.retransmitTimer, 1000)
    XCTAssertEqual(advertisement.options.sourceLinkLayerAddress, macB)
    XCTAssertEqual(advertisement.options.mtu, 1500)
    XCTAssertEqual(advertisement.prefixes, [Self.prefix])
    XCTAssertEqual(advertisement, Self.advertisement)
    // The address Linux configured from it (RFC 4862 5.5.3): the prefix and its own identifier.
    let configured = IPv6Address(high: advertisement.prefixes[0].prefix.networkAddress.high, low: macA.modifiedEUI64)
    XCTAssertEqual(configured.description, "2001:db8:1:0:5054:ff:fe12:3456", "RFC 5952 4.2.2: one zero group stays")
  }

  func testDeconstructRedirect() throws {
    let message = try parseNDP(NDPVectors.redirect, linkLocalB, linkLocalA)
    XCTAssertEqual(
      message,
      .redirect(Redirect(targetAddress: IPv6Address("fe80::1")!, destinationAddress: IPv6Address("2001:db8:2::1")!,
                         options: [.targetLinkLayerAddress(MACAddress(0x52, 0x54, 0, 0, 0, 1))])),
      "the redirected header is skipped")
    XCTAssertEqual(message.type, 137)
  }

  // MARK: Construct

  func testConstruct() {
    assertEmits(.routerSolicitation(RouterSolicitation(options: [.sourceLinkLayerAddress(macA)])), linkLocalA, .allRouters,
              matching: NDPVectors.routerSolicitation)
    assertEmits(.routerAdvertisement(Self.advertisement), linkLocalB, .allNodes, matching: NDPVectors.routerAdvertisement)
    assertEmits(.neighborSolicitation(NeighborSolicitation(targetAddress: linkLocalA, options: [.sourceLinkLayerAddress(macB)])),
              linkLocalB, linkLocalA.solicitedNodeMulticast, matching: NDPVectors.neighborSolicitation)
    assertEmits(.neighborAdvertisement(NeighborAdvertisement(solicited: true, override: true, targetAddress: linkLocalA,
                                                           options: [.targetLinkLayerAddress(macA)])),
              linkLocalA, linkLocalB, matching: NDPVectors.neighborAdvertisement)
    assertEmits(.neighborAdvertisement(NeighborAdvertisement(solicited: true, override: false, targetAddress: linkLocalB)),
              linkLocalB, linkLocalA, matching: NDPVectors.probeAdvertisement)
  }

  func testConstructWithoutSkippedOptions() throws {
    // What is skipped on input is not emitted: DAD without the nonce (Linux with enhanced
    // DAD off sends exactly this), the Redirect without its redirected header.
    var dad = Array(NDPVectors.duplicateAddressDetection[0..<24])
    fixChecksum(&dad, at: 2, nextHeader: 58, source: .unspecified, destination: linkLocalA.solicitedNodeMulticast)
    assertEmits(.neighborSolicitation(NeighborSolicitation(targetAddress: linkLocalA)), .unspecified,
              linkLocalA.solicitedNodeMulticast, matching: dad)
    var redirect = Array(NDPVectors.redirect[0..<48])
    fixChecksum(&redirect, at: 2, nextHeader: 58, source: linkLocalB, destination: linkLocalA)
    let parsed = try parseNDP(NDPVectors.redirect, linkLocalB, linkLocalA)
    assertEmits(parsed, linkLocalB, linkLocalA, matching: redirect)
  }

  func testConstructFlagsAndOptions() throws {
    // M and O, R, and every option kind, round trip through bytes checked by hand.
    let advertisement = RouterAdvertisement(
      currentHopLimit: 255, managedAddressConfiguration: true, routerLifetime: 0,
      options: [.prefixInformation(NDPPrefixInformation(prefix: IPv6Network("fd00:1:2::/48")!, onLink: false, autonomous: true,
                                                        validLifetime: NDPOption.infiniteLifetime, preferredLifetime: 0)),
                .recursiveDNSServers(lifetime: 0, addresses: [IPv6Address("2001:db8::53")!, IPv6Address("2001:db8::54")!])])
    let out = emitting(into: filled(advertisement.bufferLength)) {
      ICMPv6Message.routerAdvertisement(advertisement).emit(into: $0, source: linkLocalB, destination: .allNodes)
    }
    assertBytes(Array(out[4...]), bytes(
      """
      ff 80 0000 00000000 00000000
      0304 30 40 ffffffff 00000000 00000000 fd000001000200000000000000000000
      1905 0000 00000000 20010db8000000000000000000000053 20010db8000000000000000000000054
      """))
    XCTAssertEqual(referenceChecksum(pseudoHeader(linkLocalB, .allNodes, nextHeader: 58, length: out.count) + out), 0)
    XCTAssertEqual(try parseNDP(out, linkLocalB, .allNodes), .routerAdvertisement(advertisement))
    let router = NeighborAdvertisement(router: true, solicited: false, override: true, targetAddress: linkLocalB)
    let routerOut = emitting(into: filled(24)) {
      ICMPv6Message.neighborAdvertisement(router).emit(into: $0, source: linkLocalB, destination: .allNodes)
    }
    XCTAssertEqual(Array(routerOut[4..<8]), [0xa0, 0, 0, 0])
    XCTAssertEqual(try parseNDP(routerOut, linkLocalB, .allNodes), .neighborAdvertisement(router))
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    // Not the two with options that are skipped (testConstructWithoutSkippedOptions).
    try assertRoundTrips(NDPVectors.all.filter { $0.name != "duplicate address detection" && $0.name != "redirect" })
  }

  // MARK: Description

  func testDescription() throws {
    XCTAssertEqual(
      try parseNDP(NDPVectors.neighborSolicitation, linkLocalB, linkLocalA.solicitedNodeMulticast).description,
      "ICMP6, neighbor solicitation, who has fe80::5054:ff:fe12:3456, source link-address 52:54:00:ab:cd:ef")
    XCTAssertEqual(
      try parseNDP(NDPVectors.neighborAdvertisement, linkLocalA, linkLocalB).description,
      "ICMP6, neighbor advertisement, tgt is fe80::5054:ff:fe12:3456, solicited, override, target link-address 52:54:00:12:34:56")
    XCTAssertEqual(
      try parseNDP(NDPVectors.routerAdvertisement, linkLocalB, .allNodes).description,
      "ICMP6, router advertisement, hop limit 64, other stateful, router lifetime 1800s, reachable time 30000ms, "
        + "retrans timer 1000ms, source link-address 52:54:00:ab:cd:ef, mtu 1500, "
        + "prefix info 2001:db8:1::/64 onlink auto, valid 86400s, preferred 14400s, rdnss lifetime 1800s 2001:db8:1::53")
    XCTAssertEqual(
      try parseNDP(NDPVectors.routerSolicitation, linkLocalA, .allRouters).description,
      "ICMP6, router solicitation, source link-address 52:54:00:12:34:56")
    XCTAssertEqual(
      try parseNDP(NDPVectors.redirect, linkLocalB, linkLocalA).description,
      "ICMP6, redirect, 2001:db8:2::1 to fe80::1, target link-address 52:54:00:00:00:01")
  }

  // MARK: Negative vectors

  func testTruncatedFixedParts() {
    // Shorter than each type's fixed part (8, 16, 24, 24, 40 bytes; RFC 4861 6.1.1-8.1).
    for (vector, fixed) in [(NDPVectors.routerSolicitation, 8), (NDPVectors.routerAdvertisement, 16),
                            (NDPVectors.neighborSolicitation, 24), (NDPVectors.neighborAdvertisement, 24), (NDPVectors.redirect, 40)] {
      for length in 8..<fixed {
        XCTAssertEqual(parseRepaired(Array(vector[0..<length])), .failure(.truncated), "type \(vector[0]) length \(length)")
      }
      XCTAssertNotEqual(parseRepaired(Array(vector[0..<fixed])), .failure(.truncated), "type \(vector[0])")
    }
  }

  func testTruncatedOptions() {
    // Cut inside an option: its type alone, or fewer bytes than its length says.
    for length in [17, 23, 25, 40, 87] {
      XCTAssertEqual(parseRepaired(Array(NDPVectors.routerAdvertisement[0..<length])), .failure(.truncated), "length \(length)")
    }
    var long = NDPVectors.neighborSolicitation
    long[25] = 2
    XCTAssertEqual(parseRepaired(long), .failure(.truncated))
  }

  func testOptionOfLengthZeroInvalidatesTheMessage() {
    // RFC 4861 4.6: "Nodes MUST silently discard an ND packet that contains an option with
    // length zero" - also when it is unknown, and when it comes last.
    var zero = NDPVectors.neighborSolicitation
    zero[25] = 0
    XCTAssertEqual(parseRepaired(zero), .failure(.malformed))
    XCTAssertEqual(parseRepaired(NDPVectors.probeAdvertisement + [0x0e, 0x00, 1, 2, 3, 4, 5, 6]), .failure(.malformed))
    XCTAssertEqual(parseRepaired(NDPVectors.routerAdvertisement + [0x01, 0x00]), .failure(.malformed))
  }

  func testUnknownOptionsAreSkipped() throws {
    // RFC 4861 4.6: types 4 (redirected header), 14 (nonce), 24 (route information) and 200.
    let unknown = bytes("0401 000000000000 0e01 010203040506 1802 4018 00000708 20010db800020000 c801 000000000000")
    let message = try parseRepaired(NDPVectors.probeAdvertisement + unknown + NDPVectors.sourceB).get()
    XCTAssertEqual(
      message, .neighborAdvertisement(NeighborAdvertisement(solicited: true, override: false, targetAddress: linkLocalB,
                                                            options: [.sourceLinkLayerAddress(macB)])))
  }

  func testMalformedKnownOptions() throws {
    // A link-layer address that is not 6 bytes is not Ethernet's (RFC 2464 8): unsupported.
    XCTAssertEqual(parseRepaired(NDPVectors.probeAdvertisement + bytes("0202 525400123456 00000000 00000000")), .failure(.unsupported))
    // A prefix information option shorter than 32 bytes, or with a prefix over 128 bits, and an
    // RDNSS option with no address or half a one are ignored.
    let ignored = bytes("0301 40c0 00000000") + bytes("0304 81c0 00015180 00003840 00000000 20010db8000100000000000000000000")
      + bytes("1901 0000 00000708") + bytes("1904 0000 00000708 20010db8000100000000000000000053 0000000000000000")
    XCTAssertEqual(
      try parseRepaired(Array(NDPVectors.routerAdvertisement[0..<16]) + ignored + NDPVectors.sourceB).get(),
      .routerAdvertisement(RouterAdvertisement(currentHopLimit: 64, otherConfiguration: true, routerLifetime: 1800,
                                               reachableTime: 30000, retransmitTimer: 1000, options: [.sourceLinkLayerAddress(macB)])))
    // A longer prefix option is read for its first 32 bytes; the bits past the prefix length
    // are ignored (RFC 4861 4.6.2); an MTU option's reserved bytes too.
    let longer = bytes("0305 3d c0 00015180 00003840 00000000 20010db80001ffffffffffffffffffff 0000000000000000")
      + bytes("0501 ffff 000005dc")
    let parsed = try parseRepaired(Array(NDPVectors.routerAdvertisement[0..<16]) + longer).get()
    guard case .routerAdvertisement(let advertisement) = parsed else { return XCTFail("\(parsed)") }
    XCTAssertEqual(advertisement.prefixes.first?.prefix, IPv6Network("2001:db8:1:fff8::/61"))
    XCTAssertEqual(advertisement.options.mtu, 1500)
  }

  func testNonZeroCodeIsNotNeighborDiscovery() throws {
    // RFC 4861 7.1.1 and the others: code 0, or the message is discarded; validate says why.
    var coded = NDPVectors.neighborSolicitation
    coded[1] = 1
    let message = try parseRepaired(coded).get()
    XCTAssertEqual(message, .other(type: 135, code: 1, rest: 0))
    XCTAssertThrowsError(try message.validate(hopLimit: 255, source: linkLocalB, destination: linkLocalA)) {
      XCTAssertEqual($0 as? ICMPv6ValidationError, .nonZeroCode)
    }
  }

  // MARK: Validation

  private func validation(
    _ vector: [UInt8], hopLimit: UInt8 = 255, source: IPv6Address, destination: IPv6Address
  ) throws -> ICMPv6ValidationError? {
    var vector = vector
    fixChecksum(&vector, at: 2, nextHeader: 58, source: source, destination: destination)
    let message = try parseNDP(vector, source, destination)
    return thrown { () throws(ICMPv6ValidationError) in try message.validate(hopLimit: hopLimit, source: source, destination: destination) }
  }

  func testValidVectorsValidate() throws {
    for (name, vector, source, destination) in NDPVectors.all {
      XCTAssertNil(try validation(vector, source: source, destination: destination), name)
    }
  }

  func testHopLimitMustBe255() throws {
    // RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1: anything else may come from off the link.
    for (name, vector, source, destination) in NDPVectors.all {
      for hopLimit: UInt8 in [254, 64, 1, 0] {
        XCTAssertEqual(try validation(vector, hopLimit: hopLimit, source: source, destination: destination), .badHopLimit, name)
      }
    }
  }

  func testRouterSolicitationFromUnspecified() throws {
    // RFC 4861 6.1.1: from :: only without a source link-layer address.
    XCTAssertEqual(try validation(NDPVectors.routerSolicitation, source: .unspecified, destination: .allRouters),
                   .linkLayerAddressFromUnspecifiedSource)
    XCTAssertNil(try validation(Array(NDPVectors.routerSolicitation[0..<8]), source: .unspecified, destination: .allRouters))
  }

  func testRouterAdvertisementSource() throws {
    // RFC 4861 6.1.2: from a link-local address only.
    for source in [IPv6Address("2001:db8:1::1")!, .unspecified, .loopback, IPv6Address("fd00::1")!] {
      XCTAssertEqual(try validation(NDPVectors.routerAdvertisement, source: source, destination: .allNodes), .sourceNotLinkLocal, "\(source)")
    }
  }

  func testNeighborSolicitationRules() throws {
    // RFC 4861 7.1.1: target not multicast; from :: only to a solicited-node address and
    // without a source link-layer address.
    var multicastTarget = NDPVectors.neighborSolicitation
    multicastTarget[8...23] = ArraySlice(bytes("ff020000000000000000000000000001"))
    XCTAssertEqual(try validation(multicastTarget, source: linkLocalB, destination: .allNodes), .multicastTarget)
    XCTAssertEqual(try validation(NDPVectors.duplicateAddressDetection, source: .unspecified, destination: linkLocalA),
                   .unspecifiedSourceNotToSolicitedNode)
    XCTAssertEqual(try validation(NDPVectors.duplicateAddressDetection, source: .unspecified, destination: .allNodes),
                   .unspecifiedSourceNotToSolicitedNode)
    XCTAssertEqual(try validation(NDPVectors.neighborSolicitation, source: .unspecified, destination: linkLocalA.solicitedNodeMulticast),
                   .linkLayerAddressFromUnspecifiedSource)
    // From a unicast source, any destination will do.
    XCTAssertNil(try validation(NDPVectors.neighborSolicitation, source: IPv6Address("2001:db8:1::9")!, destination: .allNodes))
  }

  func testNeighborAdvertisementRules() throws {
    // RFC 4861 7.1.2: target not multicast; Solicited not set on one to a multicast address.
    var multicastTarget = NDPVectors.neighborAdvertisement
    multicastTarget[8] = 0xff
    XCTAssertEqual(try validation(multicastTarget, source: linkLocalA, destination: linkLocalB), .multicastTarget)
    XCTAssertEqual(try validation(NDPVectors.neighborAdvertisement, source: linkLocalA, destination: .allNodes), .solicitedToMulticast)
    var unsolicited = NDPVectors.neighborAdvertisement
    unsolicited[4] = 0x20  // override only: an unsolicited announcement to all nodes
    XCTAssertNil(try validation(unsolicited, source: linkLocalA, destination: .allNodes))
  }

  func testRedirectRules() throws {
    // RFC 4861 8.1: link-local source; target link-local or the destination; destination not
    // multicast.
    XCTAssertEqual(try validation(NDPVectors.redirect, source: IPv6Address("2001:db8::1")!, destination: linkLocalA), .sourceNotLinkLocal)
    var globalTarget = NDPVectors.redirect
    globalTarget[8...23] = ArraySlice(bytes("20010db8000300000000000000000001"))
    XCTAssertEqual(try validation(globalTarget, source: linkLocalB, destination: linkLocalA), .redirectTargetNotLinkLocal)
    var onLink = globalTarget
    onLink[24...39] = onLink[8...23]  // redirected to the destination itself: on the link
    XCTAssertNil(try validation(onLink, source: linkLocalB, destination: linkLocalA))
    var multicast = NDPVectors.redirect
    multicast[24] = 0xff
    XCTAssertEqual(try validation(multicast, source: linkLocalB, destination: linkLocalA), .redirectDestinationIsMulticast)
  }
}
