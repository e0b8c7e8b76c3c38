// DNS messages and names (RFC 1035, RFC 3597, RFC 4343, RFC 6891, RFC 2181 9): names in text
// and on the wire, compression both ways and every hostile pointer, each modelled type and an
// unknown one round trip, records that do not fill their length, counts that cannot fit, the
// OPT record's rules, truncation by whole RRsets, and the extended response code.
//
// The query vector is laid out by hand from RFC 1035 4.1: the header (id, flags, four
// counts), the question (labels, type, class), then RFC 6891 6.1.2's OPT record (root name,
// type 41, the UDP size as its class, the TTL holding extended code, version and DO, no data).

import SiroccoWire
import XCTest

@testable import SiroccoDNS

final class DNSMessageTests: XCTestCase {
  func name(_ text: String) -> DNSName { try! DNSName(text) }

  func parse(_ bytes: [UInt8]) throws(DNSError) -> DNSMessage {
    var result: Result<DNSMessage, DNSError> = .failure(.truncated)
    bytes.withUnsafeBytes { buffer in
      do throws(DNSError) { result = .success(try DNSMessage.parse(buffer)) } catch { result = .failure(error) }
    }
    return try result.get()
  }

  func expect(_ expected: DNSError, _ bytes: [UInt8], _ note: String = "", line: UInt = #line) {
    do throws(DNSError) {
      let message = try parse(bytes)
      XCTFail("parsed \(message), expected \(expected) \(note)", line: line)
    } catch {
      XCTAssertEqual(error, expected, note, line: line)
    }
  }

  // MARK: names

  func testNamesCompareWithoutCaseAndKeepTheirCase() {
    let mixed = name("WWW.Example.COM.")
    XCTAssertEqual(mixed, name("www.example.com."))
    XCTAssertEqual(mixed.hashValue, name("www.example.com.").hashValue)
    XCTAssertEqual(mixed.description, "WWW.Example.COM.", "case kept")
    XCTAssertNotEqual(mixed, name("www.example.org."))
    XCTAssertNotEqual(name("a-b."), name("a\\013b."), "only letters fold: '-' (0x2d) is not '\\r' + 0x20")
    XCTAssertTrue(mixed.isSubdomain(of: name("example.com.")))
    XCTAssertTrue(mixed.isSubdomain(of: .root))
    XCTAssertFalse(name("example.com.").isSubdomain(of: mixed))
    XCTAssertFalse(name("notexample.com.").isSubdomain(of: name("example.com.")))
    XCTAssertEqual(mixed.labelCount, 3)
    XCTAssertEqual(mixed.parent, name("example.com."))
    XCTAssertEqual(DNSName.root.parent, nil)
    XCTAssertTrue(name("*.example.").isWildcard)
    XCTAssertFalse(name("a*.example.").isWildcard)
    XCTAssertTrue(DNSName.canonicallyPrecedes(name("example."), name("a.example.")))
    XCTAssertTrue(DNSName.canonicallyPrecedes(name("Z.a.example."), name("zABC.a.EXAMPLE.")), "RFC 4034 6.1's example order")
  }

  func testNamesInTextWithEscapesOriginsAndLimits() throws {
    let origin = name("example.test.")
    XCTAssertEqual(try DNSName("www", origin: origin), name("www.example.test."))
    XCTAssertEqual(try DNSName("www.", origin: origin), name("www."), "absolute: no origin")
    XCTAssertEqual(try DNSName(".", origin: origin), .root)
    let escaped = try DNSName("a\\.b.c\\065\\\\.")
    XCTAssertEqual(escaped.labels, [Array("a.b".utf8), Array("cA\\".utf8)])
    XCTAssertEqual(escaped.description, "a\\.b.cA\\\\.")
    XCTAssertEqual(try DNSName("x\\000y.").description, "x\\000y.", "a zero byte written back as \\000")
    let sixtyThree = String(repeating: "a", count: 63)
    XCTAssertEqual(try DNSName(sixtyThree + ".").labelCount, 1)
    let cases: [(String, DNSName.TextError)] = [
      ("", .empty), ("a..b.", .emptyLabel), (".a.", .emptyLabel), (sixtyThree + "a.", .labelTooLong),
      ("a\\", .badEscape), ("a\\25", .badEscape), ("a\\256.", .badEscape),
      (Array(repeating: sixtyThree, count: 4).joined(separator: ".") + ".", .nameTooLong),
    ]
    for (text, error) in cases {
      XCTAssertThrowsError(try DNSName(text), text) { XCTAssertEqual($0 as? DNSName.TextError, error, text) }
    }
    // 127 one-byte labels and the root are 255 bytes: the longest name.
    let longest = Array(repeating: "a", count: 127).joined(separator: ".") + "."
    XCTAssertEqual(try DNSName(longest).wire.count, 255)
    XCTAssertThrowsError(try DNSName("b." + longest))
    XCTAssertNil(DNSName(labels: [Array(repeating: 97, count: 64)]))
    XCTAssertNil(DNSName(labels: [[]]))
  }

  // MARK: the wire

  /// www.Example.com A?, id 0x1234, RD, EDNS 4096 with DO.
  let query: [UInt8] = [
    0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    3, 0x77, 0x77, 0x77, 7, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 3, 0x63, 0x6f, 0x6d, 0,
    0x00, 0x01, 0x00, 0x01,
    0, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
  ]

  func testAQueryWithEDNSReadsAndWritesBackByteForByte() throws {
    let message = try parse(query)
    XCTAssertEqual(message.id, 0x1234)
    XCTAssertFalse(message.flags.isResponse)
    XCTAssertTrue(message.flags.recursionDesired)
    XCTAssertEqual(message.flags.opcode, .query)
    XCTAssertEqual(message.questions, [DNSQuestion(name: name("www.example.com."), type: .a)])
    XCTAssertEqual(message.questions[0].name.description, "www.Example.com.", "the asker's case")
    XCTAssertEqual(message.edns, EDNS(udpPayloadSize: 4096, version: 0, dnssecOK: true))
    XCTAssertTrue(message.additional.isEmpty, "the OPT record is `edns`, not an additional record")
    XCTAssertEqual(message.emit(), query)
  }

  func testCompressionPointersMustPointBackIntoTheMessage() throws {
    // Header: one question.
    let header: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    let tail: [UInt8] = [0, 1, 0, 1]
    expect(.badPointer, header + [0xc0, 12] + tail, "a pointer to itself")
    expect(.badPointer, header + [0xc0, 14, 0] + tail, "a pointer forward")
    expect(.badPointer, header + [1, 0x61, 0xc0, 12] + tail, "a loop through its own first label")
    expect(.badPointer, header + [0xff, 0xff] + tail, "past the message")
    expect(.badLabelType, header + [0x40, 0] + tail, "label type 01 (extended)")
    expect(.badLabelType, header + [0x80, 0] + tail, "label type 10")
    expect(.truncated, header + [5, 0x61, 0x62], "a label past the end")
    expect(.truncated, header + [0xc0], "half a pointer")
    expect(.truncated, header + [1, 0x61, 0] + [0, 1], "the question's class missing")
    // Two questions, the second pointing back at the first's "b.c".
    var two = header
    two[5] = 2
    two += [1, 0x61, 1, 0x62, 1, 0x63, 0] + tail + [1, 0x78, 0xc0, 14] + tail
    let message = try parse(two)
    XCTAssertEqual(message.questions.map(\.name), [name("a.b.c."), name("x.b.c.")])
    // Pointers that each go back but assemble more than 255 bytes: refused.
    var long = header
    long[5] = 5
    var previous = -1
    for _ in 0..<5 {
      let start = long.count
      long += [63] + [UInt8](repeating: 0x61, count: 63)
      long += previous < 0 ? [0] : [0xc0 | UInt8(previous >> 8), UInt8(previous & 0xff)]
      long += tail
      previous = start
    }
    expect(.nameTooLong, long, "five 63-byte labels by pointers")
  }

  func testCountsThatCannotFitTrailingBytesAndOPTRules() {
    expect(.truncated, [0, 1, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0], "65535 answers in no bytes")
    expect(.truncated, Array(query.prefix(11)), "half a header")
    expect(.trailingBytes, query + [0], "a byte after the last record")
    var twoOPT = query
    twoOPT[11] = 2
    twoOPT += Array(query.suffix(11))
    expect(.badOPT, twoOPT, "two OPT records")
    var optAnswer = query
    optAnswer[7] = 1
    optAnswer[11] = 0
    expect(.badOPT, optAnswer, "an OPT record in the answer section")
    var namedOPT = Array(query.prefix(33)) + [1, 0x61, 0] + Array(query.suffix(10))
    namedOPT[11] = 1
    expect(.badOPT, namedOPT, "an OPT record not at the root")
    var badOption = query
    badOption[badOption.count - 1] = 3
    badOption += [0, 10, 0]
    expect(.badRecordData(.opt), badOption, "an option cut short")
  }

  let zone = try! DNSName("example.test.")

  func allTypes() -> [ResourceRecord] {
    let www = name("www.example.test.")
    return [
      ResourceRecord(name: zone, ttl: 3600, data: .soa(SOAData(
        primaryServer: name("ns1.example.test."), responsible: name("hostmaster.example.test."), serial: 2026120501,
        refresh: 3600, retry: 600, expire: 86400, minimum: 60))),
      ResourceRecord(name: zone, ttl: 3600, data: .ns(name("ns1.example.test."))),
      ResourceRecord(name: www, ttl: 300, data: .a(IPv4Address(10, 1, 2, 3))),
      ResourceRecord(name: www, ttl: 300, data: .aaaa(IPv6Address("fd00::123")!)),
      ResourceRecord(name: name("alias.example.test."), ttl: 300, data: .cname(www)),
      ResourceRecord(name: name("3.2.1.10.in-addr.arpa."), ttl: 300, data: .ptr(www)),
      ResourceRecord(name: name("old.example.test."), ttl: 300, data: .dname(name("new.example.test."))),
      ResourceRecord(name: zone, ttl: 300, data: .mx(preference: 10, exchange: www)),
      ResourceRecord(name: zone, ttl: 300, data: .txt([Array("v=spf1 -all".utf8), [], [0, 0x22, 0xff]])),
      ResourceRecord(name: name("_sip._udp.example.test."), ttl: 300, data: .srv(SRVData(priority: 1, weight: 2, port: 5060, target: www))),
      ResourceRecord(name: zone, ttl: 300, data: .caa(flags: 128, tag: Array("issue".utf8), value: Array("ca.example".utf8))),
      ResourceRecord(name: zone, type: RecordType(rawValue: 65280), ttl: 300, data: .opaque([1, 2, 3])),
    ]
  }

  func testEveryTypeRoundTripsWithCompressionWhereRFC1035AllowsIt() throws {
    let records = allTypes()
    var response = DNSMessage(id: 7, questions: [DNSQuestion(name: zone, type: .any)], answers: records)
    response.flags.isResponse = true
    response.flags.authoritative = true
    let bytes = response.emit()
    XCTAssertEqual(try parse(bytes), response)
    // Compressed: far shorter than every name written whole.
    let whole = records.reduce(12 + zone.wire.count + 4) { $0 + $1.name.wire.count + 10 + 64 }
    XCTAssertLessThan(bytes.count, whole / 2)
    // SRV's and DNAME's targets are written whole (RFC 2782, RFC 6672), never as a pointer.
    let srvTarget = name("www.example.test.").wire, dnameTarget = name("new.example.test.").wire
    XCTAssertNotNil(bytes.firstRange(of: [0x13, 0xc4] + srvTarget), "SRV's port, then its whole target")
    XCTAssertNotNil(bytes.firstRange(of: dnameTarget), "DNAME's whole target")
    // Unknown types: opaque, in RFC 3597's text form.
    XCTAssertEqual(records.last?.data.description, "\\# 3 010203")
    XCTAssertEqual(records.last?.type.description, "TYPE65280")
    XCTAssertEqual(RecordType(text: Array("type65280".utf8)), RecordType(rawValue: 65280))
    XCTAssertEqual(RecordType(text: Array("aaaa".utf8)), .aaaa)
    XCTAssertNil(RecordType(text: Array("TYPE65536".utf8)))
    XCTAssertNil(RecordType(text: Array("AAA".utf8)))
  }

  func testPresentationOfEachType() {
    let texts = allTypes().map { "\($0.type) \($0.data)" }
    XCTAssertEqual(texts, [
      "SOA ns1.example.test. hostmaster.example.test. 2026120501 3600 600 86400 60",
      "NS ns1.example.test.", "A 10.1.2.3", "AAAA fd00::123", "CNAME www.example.test.", "PTR www.example.test.",
      "DNAME new.example.test.", "MX 10 www.example.test.", "TXT \"v=spf1 -all\" \"\" \"\\000\\\"\\255\"",
      "SRV 1 2 5060 www.example.test.", "CAA 128 issue \"ca.example\"", "TYPE65280 \\# 3 010203",
    ])
  }

  func testRecordDataMustFillItsLengthExactly() {
    // One answer: name = root, type, class IN, TTL 0, then the data.
    func answer(_ type: RecordType, _ data: [UInt8]) -> [UInt8] {
      [0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0] + [UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xff), 0, 1, 0, 0, 0, 0]
        + [UInt8(data.count >> 8), UInt8(data.count & 0xff)] + data
    }
    expect(.badRecordData(.a), answer(.a, [10, 0, 0, 1, 9]), "A of 5 bytes")
    expect(.badRecordData(.a), answer(.a, [10, 0, 0]), "A of 3 bytes")
    expect(.badRecordData(.aaaa), answer(.aaaa, [UInt8](repeating: 0, count: 15)))
    expect(.badRecordData(.ns), answer(.ns, [1, 0x61, 0, 9]), "a byte after NS's name")
    expect(.badRecordData(.txt), answer(.txt, [5, 0x61]), "a string past the data")
    expect(.badRecordData(.txt), answer(.txt, []), "TXT holds at least one string")
    expect(.badRecordData(.mx), answer(.mx, [0]), "half a preference")
    expect(.badRecordData(.soa), answer(.soa, [0, 0, 0, 0, 0, 1]), "SOA without its numbers")
    expect(.badRecordData(.caa), answer(.caa, [0, 0]), "CAA's empty tag")
    expect(.badRecordData(.srv), answer(.srv, [0, 1, 0, 2, 0, 3, 0xc0, 12]), "SRV's target as a pointer")
    XCTAssertNoThrow(try parse(answer(RecordType(rawValue: 4000), [])), "unknown types may be empty")
    var cut = answer(.a, [10, 0, 0, 1])
    cut.removeLast()
    expect(.truncated, cut, "data past the message")
  }

  func testTruncationLeavesOutWholeRRsetsSetsTCAndKeepsOPT() throws {
    let big = name("big.example.test.")
    let addresses = (0..<40).map { ResourceRecord(name: big, ttl: 60, data: .a(IPv4Address(10, 0, 0, UInt8($0)))) }
    var response = DNSMessage(
      id: 9, questions: [DNSQuestion(name: big, type: .a)], answers: addresses,
      additional: [ResourceRecord(name: name("x.example.test."), ttl: 60, data: .a(IPv4Address(10, 9, 9, 9)))],
      edns: EDNS(udpPayloadSize: 512))
    response.flags.isResponse = true
    let fits = response.emit(maximumSize: 1232)
    XCTAssertFalse(try parse(fits).flags.truncated)
    XCTAssertEqual(try parse(fits).answers.count, 40)
    XCTAssertEqual(try parse(fits).additional.count, 1)
    let cut = response.emit(maximumSize: 512)
    XCTAssertLessThanOrEqual(cut.count, 512)
    let parsed = try parse(cut)
    XCTAssertTrue(parsed.flags.truncated)
    XCTAssertEqual(parsed.answers.count, 0, "the 40 A records are one RRset: none of it")
    XCTAssertEqual(parsed.additional.count, 0, "nothing after a truncated answer")
    XCTAssertEqual(parsed.edns?.udpPayloadSize, 512, "the OPT record is kept")
    XCTAssertEqual(parsed.questions.count, 1)
    // A message that says TC itself (a response relayed as it came) is written whole, TC kept.
    var flagged = response
    flagged.flags.truncated = true
    XCTAssertEqual(try parse(flagged.emit(maximumSize: 1232)), flagged, "found by the dns fuzz target")
        // Additional records that do not fit go silently.
    var small = response
    small.answers = Array(addresses.prefix(1))
    small.additional = (0..<40).map { ResourceRecord(name: name("n\($0).example.test."), ttl: 60, data: .a(IPv4Address(10, 0, 1, UInt8($0)))) }
    let trimmed = try parse(small.emit(maximumSize: 512))
    XCTAssertFalse(trimmed.flags.truncated)
    XCTAssertEqual(trimmed.answers.count, 1)
    XCTAssertGreaterThan(trimmed.additional.count, 5)
    XCTAssertLessThan(trimmed.additional.count, 40)
  }

  func testTheExtendedResponseCodeSplitsBetweenHeaderAndOPT() throws {
    var response = DNSMessage(id: 1, edns: EDNS())
    response.flags.isResponse = true
    response.responseCode = .badVersion
    XCTAssertEqual(response.flags.responseCode, 0)
    let parsed = try parse(response.emit())
    XCTAssertEqual(parsed.responseCode, .badVersion)
    XCTAssertEqual(parsed.responseCode.description, "BADVERS")
    var plain = DNSMessage(id: 2)
    plain.responseCode = .nameError
    XCTAssertEqual(try parse(plain.emit()).responseCode.description, "NXDOMAIN")
  }
}
