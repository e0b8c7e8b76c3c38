// Multicast Listener Discovery (RFC 3810 5, 6.2, 8.1; RFC 2710 3): queries and MLDv2
// reports, deconstruct, construct, round trip, description, negative vectors, validation.
// Linux's reports and an MLDv2 general query sent through a raw socket (the kernel's
// checksums) were captured as IPv6Tests describes; Linux answered the query with the current
// state report. The MLDv1 query, the source-specific query and the two-record report are
// written by hand, their checksums computed outside Swift and confirmed by tcpdump.

import XCTest

@testable import SiroccoWire

enum MLDVectors {
  static let group = "ff0200000000000000000001ff123456"

  /// Linux joining linkLocalA's solicited-node group once the address was usable: from
  /// linkLocalA to ff02::16, one CHANGE_TO_EXCLUDE record with no source; checksum 0xb8e4.
  static let joinReport = bytes("8f 00 b8e4 0000 0001 04 00 0000 \(group)")
  /// The same during duplicate address detection, from ::; 0x3b22.
  static let joinReportFromUnspecified = bytes("8f 00 3b22 0000 0001 04 00 0000 \(group)")
  /// Linux's answer to `generalQuery`: MODE_IS_EXCLUDE, no source; 0xbae4.
  static let currentStateReport = bytes("8f 00 bae4 0000 0001 02 00 0000 \(group)")
  /// A general MLDv2 query from linkLocalB to ff02::1: maximum response code 1000 ms, QRV 2,
  /// QQIC 125 s, no source; 0x5bd0.
  static let generalQuery = bytes("82 00 5bd0 03e8 0000 00000000000000000000000000000000 02 7d 0000")
  /// An MLDv1 query (24 bytes) from linkLocalB for linkLocalA's group, 10000 ms; 0xd552.
  static let version1Query = bytes("82 00 d552 2710 0000 \(group)")
  /// An MLDv2 query from linkLocalB to ff3e::8000:1 for two of its sources: S, QRV 2, maximum
  /// response code 0x8a00 (53248 ms), QQIC 0x8c (224 s); 0x7294.
  static let sourceQuery = bytes(
    """
    82 00 7294 8a00 0000 ff3e0000000000000000000080000001 0a 8c 0002
    20010db8000000000000000000000001 20010db8000000000000000000000002
    """)
  /// A report from linkLocalA: ALLOW_NEW_SOURCES for ff3e::8000:1 from 2001:db8::1 with four
  /// bytes of auxiliary data, BLOCK_OLD_SOURCES for ff3e::8000:2 from 2001:db8::2 and ::3;
  /// 0xbeb3.
  static let twoRecordReport = bytes(
    """
    8f 00 beb3 0000 0002
    05 01 0001 ff3e0000000000000000000080000001 20010db8000000000000000000000001 deadbeef
    06 00 0002 ff3e0000000000000000000080000002 20010db8000000000000000000000002 20010db8000000000000000000000003
    """)

  static let all: [ICMPv6Vector] = [
    ("join", joinReport, linkLocalA, .allMLDv2Routers),
    ("join from ::", joinReportFromUnspecified, .unspecified, .allMLDv2Routers),
    ("current state", currentStateReport, linkLocalA, .allMLDv2Routers),
    ("general query", generalQuery, linkLocalB, .allNodes),
    ("MLDv1 query", version1Query, linkLocalB, linkLocalA.solicitedNodeMulticast),
    ("source query", sourceQuery, linkLocalB, IPv6Address("ff3e::8000:1")!),
    ("two records", twoRecordReport, linkLocalA, .allMLDv2Routers),
  ]
}

final class MLDTests: XCTestCase {
  static let groupA = linkLocalA.solicitedNodeMulticast
  static let sources = [IPv6Address("2001:db8::1")!, IPv6Address("2001:db8::2")!]

  private func parseMLD(_ data: [UInt8], _ source: IPv6Address, _ destination: IPv6Address) throws(WireError) -> ICMPv6Message {
    try parse(data) { raw throws(WireError) in try ICMPv6Message.parse(raw, source: source, destination: destination) }
  }

  private func parseUnverified(_ data: [UInt8]) -> Result<ICMPv6Message, WireError> {
    parsing(data) { raw throws(WireError) in
      try ICMPv6Message.parse(raw, source: linkLocalB, destination: .allNodes, verifyChecksum: false)
    }
  }

  func testVectorChecksumsAgainstReference() { assertChecksumsVerify(MLDVectors.all) }

  // MARK: Deconstruct

  func testDeconstructReports() throws {
    let join = try parseMLD(MLDVectors.joinReport, linkLocalA, .allMLDv2Routers)
    XCTAssertEqual(join, .multicastListenerReport(MulticastListenerReport(records: [
      MulticastAddressRecord(type: .changeToExclude, multicastAddress: Self.groupA)])))
    XCTAssertEqual(join.type, 143)
    XCTAssertEqual(
      try parseMLD(MLDVectors.currentStateReport, linkLocalA, .allMLDv2Routers),
      .multicastListenerReport(MulticastListenerReport(records: [MulticastAddressRecord(type: .modeIsExclude, multicastAddress: Self.groupA)])))
    XCTAssertEqual(
      try parseMLD(MLDVectors.twoRecordReport, linkLocalA, .allMLDv2Routers),
      .multicastListenerReport(MulticastListenerReport(records: [
        MulticastAddressRecord(type: .allowNewSources, multicastAddress: IPv6Address("ff3e::8000:1")!, sources: [Self.sources[0]]),
        MulticastAddressRecord(type: .blockOldSources, multicastAddress: IPv6Address("ff3e::8000:2")!,
                               sources: [Self.sources[1], IPv6Address("2001:db8::3")!]),
      ])), "the auxiliary data is skipped")
  }

  func testDeconstructGeneralQuery() throws {
    let message = try parseMLD(MLDVectors.generalQuery, linkLocalB, .allNodes)
    guard case .multicastListenerQuery(let query) = message else { return XCTFail("\(message)") }
    XCTAssertEqual(message.type, 130)
    XCTAssertTrue(query.isGeneralQuery)
    XCTAssertFalse(query.isVersion1)
    XCTAssertEqual(query.maximumResponseCode, 1000)
    XCTAssertEqual(query.maximumResponseDelay, 1000)
    XCTAssertFalse(query.suppressRouterSideProcessing)
    XCTAssertEqual(query.robustnessVariable, 2)
    XCTAssertEqual(query.queryIntervalCode, 125)
    XCTAssertEqual(query.queryInterval, 125)
    XCTAssertEqual(query.sources, [])
    XCTAssertEqual(query, MulticastListenerQuery(maximumResponseCode: 1000))
  }

  func testDeconstructVersion1Query() throws {
    // RFC 3810 8.1: 24 bytes is an MLDv1 query, whose delay is plain milliseconds.
    XCTAssertEqual(
      try parseMLD(MLDVectors.version1Query, linkLocalB, Self.groupA),
      .multicastListenerQuery(MulticastListenerQuery(
        maximumResponseCode: 10000, multicastAddress: Self.groupA, isVersion1: true, robustnessVariable: 0, queryIntervalCode: 0)))
    let huge = MulticastListenerQuery(maximumResponseCode: 0xffff, isVersion1: true, robustnessVariable: 0, queryIntervalCode: 0)
    XCTAssertEqual(huge.maximumResponseDelay, 65535)
  }

  func testDeconstructSourceQuery() throws {
    let message = try parseMLD(MLDVectors.sourceQuery, linkLocalB, IPv6Address("ff3e::8000:1")!)
    guard case .multicastListenerQuery(let query) = message else { return XCTFail("\(message)") }
    XCTAssertFalse(query.isGeneralQuery)
    XCTAssertTrue(query.suppressRouterSideProcessing)
    XCTAssertEqual(query.robustnessVariable, 2)
    // tcpdump decoded the two codes as 53248 ms and 224 s as well.
    XCTAssertEqual(query.maximumResponseDelay, 53248)
    XCTAssertEqual(query.queryInterval, 224)
    XCTAssertEqual(query.sources, Self.sources)
  }

  func testEncodedTimes() {
    // RFC 3810 5.1.3: (mant | 0x1000) << (exp + 3) from 32768 on; 5.1.9 the same in 8 bits.
    func delay(_ code: UInt16) -> Int { MulticastListenerQuery(maximumResponseCode: code).maximumResponseDelay }
    XCTAssertEqual(delay(0), 0)
    XCTAssertEqual(delay(32767), 32767)
    XCTAssertEqual(delay(0x8000), 0x1000 << 3)
    XCTAssertEqual(delay(0x8001), 0x1001 << 3)
    XCTAssertEqual(delay(0x9000), 0x1000 << 4)
    XCTAssertEqual(delay(0xffff), 0x1fff << 10, "the largest, about 8387 s")
    func interval(_ code: UInt8) -> Int { MulticastListenerQuery(maximumResponseCode: 0, queryIntervalCode: code).queryInterval }
    XCTAssertEqual(interval(0), 0)
    XCTAssertEqual(interval(127), 127)
    XCTAssertEqual(interval(0x80), 0x10 << 3)
    XCTAssertEqual(interval(0xff), 0x1f << 10)
  }

  // MARK: Construct

  func testConstructLinuxReports() {
    // What a node sends on joining a group is what Linux sent, byte for byte.
    let join = ICMPv6Message.multicastListenerReport(.joining([Self.groupA]))
    assertEmits(join, linkLocalA, .allMLDv2Routers, matching: MLDVectors.joinReport)
    assertEmits(join, .unspecified, .allMLDv2Routers, matching: MLDVectors.joinReportFromUnspecified)
    assertEmits(.multicastListenerReport(MulticastListenerReport(records: [MulticastAddressRecord(type: .modeIsExclude, multicastAddress: Self.groupA)])),
              linkLocalA, .allMLDv2Routers, matching: MLDVectors.currentStateReport)
  }

  func testConstructQueries() {
    assertEmits(.multicastListenerQuery(MulticastListenerQuery(maximumResponseCode: 1000)), linkLocalB, .allNodes,
              matching: MLDVectors.generalQuery)
    assertEmits(.multicastListenerQuery(MulticastListenerQuery(
      maximumResponseCode: 10000, multicastAddress: Self.groupA, isVersion1: true, robustnessVariable: 0, queryIntervalCode: 0)),
              linkLocalB, Self.groupA, matching: MLDVectors.version1Query)
    assertEmits(.multicastListenerQuery(MulticastListenerQuery(
      maximumResponseCode: 0x8a00, multicastAddress: IPv6Address("ff3e::8000:1")!, suppressRouterSideProcessing: true,
      queryIntervalCode: 0x8c, sources: Self.sources)),
              linkLocalB, IPv6Address("ff3e::8000:1")!, matching: MLDVectors.sourceQuery)
  }

  func testConstructWithoutAuxiliaryData() throws {
    // Auxiliary data is never emitted: the two-record report comes out four bytes shorter.
    let message = try parseMLD(MLDVectors.twoRecordReport, linkLocalA, .allMLDv2Routers)
    var expected = MLDVectors.twoRecordReport
    expected.removeSubrange(44..<48)
    expected[9] = 0
    fixChecksum(&expected, at: 2, nextHeader: 58, source: linkLocalA, destination: .allMLDv2Routers)
    assertEmits(message, linkLocalA, .allMLDv2Routers, matching: expected)
  }

  func testJoiningSeveralGroups() throws {
    let report = MulticastListenerReport.joining([Self.groupA, IPv6Address("ff05::1:3")!])
    XCTAssertEqual(report.bufferLength, 8 + 2 * 20)
    XCTAssertEqual(report.records.map(\.type), [.changeToExclude, .changeToExclude])
    let out = emitting(into: filled(report.bufferLength)) {
      ICMPv6Message.multicastListenerReport(report).emit(into: $0, source: linkLocalA, destination: .allMLDv2Routers)
    }
    XCTAssertEqual(Array(out[4..<8]), [0, 0, 0, 2])
    XCTAssertEqual(try parseMLD(out, linkLocalA, .allMLDv2Routers), .multicastListenerReport(report))
  }

  // MARK: Round trip

  func testRoundTrip() throws {
    // Not the one with auxiliary data (testConstructWithoutAuxiliaryData).
    try assertRoundTrips(MLDVectors.all.filter { $0.name != "two records" })
  }

  // MARK: Description

  func testDescription() throws {
    XCTAssertEqual(
      try parseMLD(MLDVectors.joinReport, linkLocalA, .allMLDv2Routers).description,
      "ICMP6, multicast listener report v2, 1 group record(s) [gaddr ff02::1:ff12:3456 to_ex { }]")
    XCTAssertEqual(
      try parseMLD(MLDVectors.twoRecordReport, linkLocalA, .allMLDv2Routers).description,
      "ICMP6, multicast listener report v2, 2 group record(s) [gaddr ff3e::8000:1 allow { 2001:db8::1 }]"
        + " [gaddr ff3e::8000:2 block { 2001:db8::2 2001:db8::3 }]")
    XCTAssertEqual(
      try parseMLD(MLDVectors.generalQuery, linkLocalB, .allNodes).description,
      "ICMP6, multicast listener query v2, max resp delay 1000ms, gaddr ::, robustness 2, qqi 125s, 0 source(s)")
    XCTAssertEqual(
      try parseMLD(MLDVectors.version1Query, linkLocalB, Self.groupA).description,
      "ICMP6, multicast listener query v1, max resp delay 10000ms, gaddr ff02::1:ff12:3456")
  }

  // MARK: Negative vectors

  func testQueryLengths() {
    // RFC 3810 8.1: under 24 truncated, 25-27 neither version, 28 and more MLDv2.
    for length in 8..<24 {
      XCTAssertEqual(parseUnverified(Array(MLDVectors.generalQuery[0..<length])), .failure(.truncated), "length \(length)")
    }
    for length in 25..<28 {
      XCTAssertEqual(parseUnverified(Array(MLDVectors.generalQuery[0..<length])), .failure(.malformed), "length \(length)")
    }
    // Sources that do not fit, and bytes after them that are ignored.
    for length in 28..<MLDVectors.sourceQuery.count {
      XCTAssertEqual(parseUnverified(Array(MLDVectors.sourceQuery[0..<length])), .failure(.truncated), "length \(length)")
    }
    XCTAssertEqual(try parseUnverified(MLDVectors.generalQuery + [1, 2, 3, 4]).get(),
                   .multicastListenerQuery(MulticastListenerQuery(maximumResponseCode: 1000)))
  }

  func testTruncatedReports() {
    // Every cut inside a record (a header, a source, the auxiliary data), and a record count
    // past the end.
    for length in 8..<MLDVectors.twoRecordReport.count {
      XCTAssertEqual(parseUnverified(Array(MLDVectors.twoRecordReport[0..<length])), .failure(.truncated), "length \(length)")
    }
    var count = MLDVectors.joinReport
    count[7] = 2
    XCTAssertEqual(parseUnverified(count), .failure(.truncated))
    // Fewer records than the bytes hold: the rest is ignored.
    var fewer = MLDVectors.twoRecordReport
    fewer[7] = 1
    XCTAssertEqual(try parseUnverified(fewer).get(), .multicastListenerReport(MulticastListenerReport(records: [
      MulticastAddressRecord(type: .allowNewSources, multicastAddress: IPv6Address("ff3e::8000:1")!, sources: [Self.sources[0]])])))
    XCTAssertEqual(try parseUnverified(bytes("8f 00 0000 0000 0000")).get(), .multicastListenerReport(MulticastListenerReport(records: [])))
  }

  func testCodeIsIgnored() throws {
    // RFC 3810 5.1.1 and 5.2.1: set to zero, ignored by receivers.
    var coded = MLDVectors.joinReport
    coded[1] = 3
    XCTAssertEqual(try parseUnverified(coded).get().type, 143)
    coded = MLDVectors.generalQuery
    coded[1] = 3
    XCTAssertEqual(try parseUnverified(coded).get(), .multicastListenerQuery(MulticastListenerQuery(maximumResponseCode: 1000)))
  }

  // MARK: Validation

  func testQueryValidation() throws {
    // RFC 3810 5.1.14 and 6.2: a link-local source, hop limit 1, a Router Alert option.
    let query = try parseMLD(MLDVectors.generalQuery, linkLocalB, .allNodes)
    func check(hopLimit: UInt8 = 1, source: IPv6Address = linkLocalB, routerAlert: UInt16? = 0) -> ICMPv6ValidationError? {
      thrown { () throws(ICMPv6ValidationError) in
        try query.validate(hopLimit: hopLimit, source: source, destination: .allNodes, routerAlert: routerAlert)
      }
    }
    XCTAssertNil(check())
    XCTAssertNil(check(routerAlert: 2), "any Router Alert value")
    XCTAssertEqual(check(hopLimit: 255), .badHopLimit)
    XCTAssertEqual(check(hopLimit: 2), .badHopLimit)
    XCTAssertEqual(check(source: .unspecified), .sourceNotLinkLocal)
    XCTAssertEqual(check(source: IPv6Address("2001:db8::1")!), .sourceNotLinkLocal)
    XCTAssertEqual(check(routerAlert: nil), .missingRouterAlert)
    // The query Linux answered came with all three (IPv6Tests walks one like it).
    var packet = IPv6Vectors.header("6006f877 0024 00 01", from: "fe80000000000000505400fffeabcdef", to: "ff020000000000000000000000000001")
    packet += bytes("3a00 0502 0000 0100") + MLDVectors.generalQuery
    let headers = try IPv6Vectors.payload(packet).withUnsafeBytes { raw in
      try IPv6ExtensionHeaders.walk(raw, nextHeader: .hopByHop)
    }
    XCTAssertEqual(headers.routerAlert, 0)
    XCTAssertNil(check(hopLimit: packet[7], routerAlert: headers.routerAlert))
    // Reports are a router's business: not validated here.
    let report = try parseMLD(MLDVectors.joinReport, linkLocalA, .allMLDv2Routers)
    XCTAssertNoThrow(try report.validate(hopLimit: 64, source: .unspecified, destination: linkLocalB))
  }
}
