// Zone files as NSD and BIND read them (RFC 1035 5, RFC 2308 4, RFC 3597 5): directives,
// relative names, blank owners, TTL and class in either order, parentheses and comments,
// quoted strings and escapes, TTL units, the generic form; and malformed files refused with
// the file, the line and what was expected.

import SiroccoWire
import XCTest

@testable import SiroccoDNS

final class ZoneFileTests: XCTestCase {
  let origin = try! DNSName("example.test.")

  func parse(_ text: String) throws(ZoneFileError) -> [ResourceRecord] {
    try ZoneFile.parse(Array(text.utf8), origin: origin, file: "example.test.zone")
  }

  func name(_ text: String) -> DNSName { try! DNSName(text) }

  func testAZoneWithEveryFormReads() throws {
    let records = try parse(
      """
      $ORIGIN example.test.
      $TTL 300
      @   IN SOA ns1 hostmaster ( 2026120201 ; serial
                                  1h         ; refresh
                                  600 1W 60 )
          IN  NS  ns1
      ns1 IN  A   10.94.0.2
      www IN  A   10.1.2.3
          IN  AAAA fd00::123
      mail 3600 IN MX 10 www
      txt IN 60 TXT "v=spf1 -all" plain "semi;colon (paren)" "esc\\"aped\\059\\255"
      _sip._udp SRV 1 2 5060 www.example.test.
      caa CAA 0 issue "ca.example"
      a\\.b.c TXT x
      generic TYPE65280 \\# 3 010203
      hexa A \\# 4 0A000001
      $ORIGIN sub.example.test.
      deep CNAME @
      $TTL 1d2h
      long    PTR  www.example.test.
              TXT  after
      """)
    XCTAssertEqual(records.count, 15)
    let soa = SOAData(
      primaryServer: name("ns1.example.test."), responsible: name("hostmaster.example.test."), serial: 2026120201, refresh: 3600,
      retry: 600, expire: 604800, minimum: 60)
    XCTAssertEqual(records[0], ResourceRecord(name: origin, ttl: 300, data: .soa(soa)))
    XCTAssertEqual(records[1], ResourceRecord(name: origin, ttl: 300, data: .ns(name("ns1.example.test."))), "a blank owner: the SOA's")
    XCTAssertEqual(records[4], ResourceRecord(name: name("www.example.test."), ttl: 300, data: .aaaa(IPv6Address("fd00::123")!)))
    XCTAssertEqual(records[5], ResourceRecord(name: name("mail.example.test."), ttl: 3600, data: .mx(preference: 10, exchange: name("www.example.test."))))
    XCTAssertEqual(
      records[6].data, .txt([Array("v=spf1 -all".utf8), Array("plain".utf8), Array("semi;colon (paren)".utf8), Array("esc\"aped;".utf8) + [255]]))
    XCTAssertEqual(records[6].ttl, 60, "class then TTL")
    XCTAssertEqual(records[7].data, .srv(SRVData(priority: 1, weight: 2, port: 5060, target: name("www.example.test."))))
    XCTAssertEqual(records[7].ttl, 300, "$TTL")
    XCTAssertEqual(records[8].data, .caa(flags: 0, tag: Array("issue".utf8), value: Array("ca.example".utf8)))
    XCTAssertEqual(records[9].name.labels.first, Array("a.b".utf8), "an escaped dot stays in its label")
    XCTAssertEqual(records[10].type, RecordType(rawValue: 65280))
    XCTAssertEqual(records[10].data, .opaque([1, 2, 3]))
    XCTAssertEqual(records[11].data, .a(IPv4Address(10, 0, 0, 1)), "the generic form of a modelled type is read as that type")
    XCTAssertEqual(records[12], ResourceRecord(name: name("deep.sub.example.test."), ttl: 300, data: .cname(name("sub.example.test."))))
    XCTAssertEqual(records[13].ttl, 93600, "$TTL 1d2h")
    XCTAssertEqual(records[14].name, name("long.sub.example.test."), "a blank owner: the last record's")
  }

  func testTTLsTakeUnitsAndStayBelow2To31() {
    XCTAssertEqual(ZoneFile.ttl(Array("3600".utf8)), 3600)
    XCTAssertEqual(ZoneFile.ttl(Array("1h30m".utf8)), 5400)
    XCTAssertEqual(ZoneFile.ttl(Array("1W2d3H4M5S".utf8)), 604800 + 172800 + 10800 + 240 + 5)
    XCTAssertEqual(ZoneFile.ttl(Array("2147483647".utf8)), 2147483647)
    XCTAssertNil(ZoneFile.ttl(Array("2147483648".utf8)))
    XCTAssertNil(ZoneFile.ttl(Array("h".utf8)))
    XCTAssertNil(ZoneFile.ttl(Array("1x".utf8)))
    XCTAssertNil(ZoneFile.ttl(Array("".utf8)))
    XCTAssertNil(ZoneFile.ttl(Array("99999999999".utf8)))
  }

  func testTheTTLLeftOutComesFromTTLThenTheLastThenTheSOA() throws {
    let records = try parse(
      """
      @ 100 SOA ns1 hm 1 2 3 4 55
      a A 10.0.0.1
      b 200 A 10.0.0.2
      c A 10.0.0.3
      """)
    XCTAssertEqual(records.map(\.ttl), [100, 100, 200, 200])
    let fromSOA = try parse("@ SOA ns1 hm 1 2 3 4 55\na A 10.0.0.1\n")
    XCTAssertEqual(fromSOA.map(\.ttl), [55, 55], "without $TTL or a TTL before: the SOA's minimum, for the SOA too (as BIND)")
  }

  func testMalformedFilesAreRefusedWithTheLine() {
    let cases: [(String, Int, String)] = [
      ("@ SOA ns1 hm 1 2 3 4 5\nwww IN A 10.0.0\n", 2, "A: expected an IPv4 address such as 192.0.2.1"),
      ("www IN FOO 1\n", 1, "expected a TTL, a class or a type, found 'FOO'"),
      ("www 300 IN\n", 1, "a record without a type"),
      ("  IN A 10.0.0.1\n", 1, "a record without an owner name, and none before it"),
      ("$INCLUDE other.zone\n", 1, "$INCLUDE is not supported: put the zone in one file"),
      ("$GENERATE 1-2 a$ A 10.0.0.$\n", 1, "unknown directive '$GENERATE' (expected $ORIGIN or $TTL)"),
      ("$TTL forever\n", 1, "expected $TTL and a TTL (seconds, or units as in 1h30m, at most 2147483647)"),
      ("www CH A 10.0.0.1\n", 1, "class CH: only IN is served"),
      ("\n\n@ SOA ( ns1 hm\n 1 2 3 4 5\n", 3, "'(' not closed before the end of the file"),
      ("www TXT \"open\n\n", 1, "a quoted string not closed before the end of the file"),
      ("www A 10.0.0.1 )\n", 1, "')' without '('"),
      ("a..b A 10.0.0.1\n", 1, "'a..b': an empty label"),
      ("www MX 10\n", 1, "MX expects PREFERENCE NAME"),
      ("www MX 70000 mail\n", 1, "MX: expected a preference (0 to 65535), found '70000'"),
      ("x TYPE99 1 2\n", 1, "TYPE99: expected its data in RFC 3597's generic form, \\# LENGTH HEX"),
      ("x A \\# 3 0a0000\n", 1, "\\#: not valid A data: malformed A record data"),
      ("x TYPE99 \\# 2 0a\n", 1, "\\#: 2 bytes announced, 1 given"),
      ("x TXT \"\\256\"\n", 1, "a bad escape in a string (expected \\X or \\DDD with DDD at most 255)"),
      ("x ANY 1\n", 1, "ANY is not a record type for a zone"),
    ]
    for (text, line, message) in cases {
      XCTAssertThrowsError(try parse(text), text) { error in
        XCTAssertEqual(error as? ZoneFileError, ZoneFileError(file: "example.test.zone", line: line, message: message), text)
      }
    }
    XCTAssertEqual(
      ZoneFileError(file: "zones/example.test", line: 7, message: "a record without a type").description,
      "zones/example.test:7: a record without a type")
  }
}
