// Authoritative answers (RFC 1034 4.3.2, RFC 4592, RFC 2308, RFC 8482) from a zone read from
// its file: answers with the addresses of their targets, NODATA and NXDOMAIN with the SOA at
// the negative TTL, empty non-terminals, wildcards (and none below an existing name), CNAME
// chains in the zone and their loops, referrals with glue, ANY, and what is refused.

import SiroccoWire
import XCTest

@testable import SiroccoDNS

final class AuthorityTests: XCTestCase {
  func name(_ text: String) -> DNSName { try! DNSName(text) }

  let zoneText = """
    $ORIGIN example.test.
    $TTL 300
    @        IN SOA ns1 hostmaster ( 2026120201 3600 600 86400 60 )
             IN NS  ns1
             IN MX  10 mail
    ns1      IN A   10.94.0.2
    mail     IN A   10.1.2.4
    www      IN A   10.1.2.3
             IN AAAA fd00::123
    alias    IN CNAME www
    far      IN CNAME www.elsewhere.example.
    loop1    IN CNAME loop2
    loop2    IN CNAME loop1
    a.b.c    IN TXT "deep"
    *.wild   IN A   10.9.9.9
    x.wild   IN TXT "exists"
    sub      IN NS  ns.sub
    ns.sub   IN A   10.5.5.5
    """

  func authority() throws -> Authority {
    let origin = name("example.test.")
    let records = try ZoneFile.parse(Array(zoneText.utf8), origin: origin, file: "example.test.zone")
    return Authority(zones: [try Zone(origin: origin, records: records)])
  }

  func ask(_ text: String, _ type: RecordType, edns: EDNS? = nil) throws -> DNSMessage {
    var query = DNSMessage(id: 42, questions: [DNSQuestion(name: name(text), type: type)], edns: edns)
    query.flags.recursionDesired = true
    let response = try authority().answer(query)
    XCTAssertEqual(response.id, 42)
    XCTAssertTrue(response.flags.isResponse)
    XCTAssertTrue(response.flags.recursionDesired, "RD copied")
    XCTAssertFalse(response.flags.recursionAvailable)
    return response
  }

  func testAnswersCarryTheAddressesOfTheirTargets() throws {
    let www = try ask("WWW.example.test.", .aaaa)
    XCTAssertEqual(www.responseCode, .noError)
    XCTAssertTrue(www.flags.authoritative)
    XCTAssertEqual(www.answers.map(\.data), [.aaaa(IPv6Address("fd00::123")!)])
    XCTAssertEqual(www.questions[0].name.description, "WWW.example.test.", "the question as asked")
    let mx = try ask("example.test.", .mx)
    XCTAssertEqual(mx.answers.map(\.data), [.mx(preference: 10, exchange: name("mail.example.test."))])
    XCTAssertEqual(mx.authority.map(\.type), [.ns], "the zone's NS records, as NSD adds them")
    XCTAssertTrue(mx.authorityIsOptional, "left out without TC when they do not fit")
    XCTAssertEqual(mx.additional.map(\.data), [.a(IPv4Address(10, 1, 2, 4)), .a(IPv4Address(10, 94, 0, 2))],
                   "the exchange's address, then the name server's")
    let ns = try ask("example.test.", .ns)
    XCTAssertTrue(ns.authority.isEmpty, "the NS records are the answer already")
    XCTAssertEqual(ns.additional.map(\.data), [.a(IPv4Address(10, 94, 0, 2))])
    let server = try ask("ns1.example.test.", .a)
    XCTAssertEqual(server.answers.map(\.data), [.a(IPv4Address(10, 94, 0, 2))])
    XCTAssertTrue(server.additional.isEmpty, "an address already in the answer is not repeated")
  }

  func testNegativeAnswersCarryTheSOAAtTheNegativeTTL() throws {
    let missing = try ask("nope.example.test.", .a)
    XCTAssertEqual(missing.responseCode, .nameError)
    XCTAssertTrue(missing.flags.authoritative)
    XCTAssertTrue(missing.answers.isEmpty)
    XCTAssertEqual(missing.authority.map(\.type), [.soa])
    XCTAssertEqual(missing.authority.first?.ttl, 60, "min(300, the SOA's minimum 60)")
    let noData = try ask("www.example.test.", .txt)
    XCTAssertEqual(noData.responseCode, .noError)
    XCTAssertTrue(noData.answers.isEmpty)
    XCTAssertEqual(noData.authority.map(\.type), [.soa])
    let emptyNonTerminal = try ask("b.c.example.test.", .a)
    XCTAssertEqual(emptyNonTerminal.responseCode, .noError, "b.c exists: a.b.c is below it")
    XCTAssertEqual(emptyNonTerminal.authority.map(\.type), [.soa])
  }

  func testWildcardsSynthesizeForMissingNamesOnly() throws {
    let synthesized = try ask("anything.wild.example.test.", .a)
    XCTAssertEqual(synthesized.answers, [ResourceRecord(name: name("anything.wild.example.test."), ttl: 300, data: .a(IPv4Address(10, 9, 9, 9)))])
    let deeper = try ask("a.b.wild.example.test.", .a)
    XCTAssertEqual(deeper.answers.first?.name, name("a.b.wild.example.test."), "the closest encloser is wild: its wildcard applies")
    let existing = try ask("x.wild.example.test.", .a)
    XCTAssertEqual(existing.responseCode, .noError)
    XCTAssertTrue(existing.answers.isEmpty, "x.wild exists (TXT): no synthesis for it, NODATA")
    let belowExisting = try ask("y.x.wild.example.test.", .a)
    XCTAssertEqual(belowExisting.responseCode, .nameError, "the closest encloser is x.wild, which has no wildcard")
    let noType = try ask("other.wild.example.test.", .mx)
    XCTAssertEqual(noType.responseCode, .noError)
    XCTAssertEqual(noType.authority.map(\.type), [.soa])
  }

  func testCNAMEChainsAreFollowedInTheZoneAndLoopsEnd() throws {
    let alias = try ask("alias.example.test.", .a)
    XCTAssertEqual(alias.answers.map(\.type), [.cname, .a])
    XCTAssertEqual(alias.answers.last?.name, name("www.example.test."))
    let direct = try ask("alias.example.test.", .cname)
    XCTAssertEqual(direct.answers.map(\.type), [.cname], "asked for the CNAME itself")
    let far = try ask("far.example.test.", .a)
    XCTAssertEqual(far.answers.map(\.type), [.cname], "a target outside the zone is left to the resolver")
    XCTAssertTrue(far.authority.isEmpty, "nothing of ours at the end of the chain: no NS")
    let loop = try ask("loop1.example.test.", .a)
    XCTAssertEqual(loop.answers.map(\.name), [name("loop1.example.test."), name("loop2.example.test.")],
                   "each CNAME of the loop once, then it stops")
    XCTAssertEqual(loop.responseCode, .noError)
  }

  func testReferralsBelowAZoneCutWithGlue() throws {
    for asked in ["host.sub.example.test.", "sub.example.test."] {
      let referral = try ask(asked, .a)
      XCTAssertEqual(referral.responseCode, .noError)
      XCTAssertFalse(referral.flags.authoritative, "below a cut the server is not authoritative")
      XCTAssertTrue(referral.answers.isEmpty)
      XCTAssertEqual(referral.authority.map(\.data), [.ns(name("ns.sub.example.test."))])
      XCTAssertEqual(referral.additional.map(\.data), [.a(IPv4Address(10, 5, 5, 5))], "the glue")
    }
  }

  func testANYGetsOneRRsetAndWhatIsNotOursIsRefused() throws {
    let any = try ask("www.example.test.", .any)
    XCTAssertEqual(any.answers.map(\.type), [.a], "RFC 8482: one RRset")
    let outside = try ask("www.example.org.", .a, edns: EDNS())
    XCTAssertEqual(outside.responseCode, .refused)
    XCTAssertFalse(outside.flags.authoritative)
    XCTAssertEqual(outside.edns?.options, [EDNSOption(code: 15, data: [0, 20])], "RFC 8914: not authoritative")
    var notify = DNSMessage(id: 1, questions: [DNSQuestion(name: name("example.test."), type: .soa)])
    notify.flags.opcode = .notify
    XCTAssertEqual(try authority().answer(notify).responseCode, .refused, "no NOTIFY is accepted for a zone served")
    var update = notify
    update.flags.opcode = .update
    let notImplemented = try authority().answer(update)
    XCTAssertEqual(notImplemented.responseCode, .notImplemented)
    XCTAssertTrue(notImplemented.questions.isEmpty)
    let two = DNSMessage(id: 2, questions: [DNSQuestion(name: name("example.test."), type: .soa), DNSQuestion(name: name("www.example.test."), type: .a)])
    XCTAssertEqual(try authority().answer(two).responseCode, .formatError)
    XCTAssertTrue(try authority().answer(two).questions.isEmpty)
    let version1 = try ask("www.example.test.", .a, edns: EDNS(version: 1))
    XCTAssertEqual(version1.responseCode, .badVersion)
    XCTAssertEqual(version1.questions.count, 1, "the question kept")
    XCTAssertEqual(version1.edns?.version, 0)
    var classAny = try authority().answer(DNSMessage(id: 4, questions: [DNSQuestion(name: name("www.example.test."), type: .a, recordClass: .any)]))
    XCTAssertEqual(classAny.answers.count, 1)
    XCTAssertFalse(classAny.flags.authoritative, "class ANY: not authoritative")
    XCTAssertTrue(classAny.authority.isEmpty)
    classAny = try authority().answer(DNSMessage(id: 5, questions: [DNSQuestion(name: name("nope.example.test."), type: .a, recordClass: .any)]))
    XCTAssertEqual(classAny.responseCode, .nameError)
    XCTAssertTrue(classAny.authority.isEmpty, "no SOA for class ANY")
    let chaos = DNSMessage(id: 3, questions: [DNSQuestion(name: name("example.test."), type: .txt, recordClass: .chaos)])
    XCTAssertEqual(try authority().answer(chaos).responseCode, .refused)
  }

  func testZonesThatCannotBeServedAreRefused() {
    let origin = name("example.test.")
    let soa = ResourceRecord(name: origin, ttl: 300, data: .soa(SOAData(
      primaryServer: name("ns1.example.test."), responsible: name("h.example.test."), serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1)))
    let cases: [([ResourceRecord], String)] = [
      ([], "the zone example.test. has no SOA record"),
      ([soa, soa], "example.test.: one SOA only, at the zone's origin example.test."),
      ([soa, ResourceRecord(name: name("www.example.org."), ttl: 1, data: .a(IPv4Address(1, 2, 3, 4)))], "www.example.org. is outside the zone example.test."),
      ([soa, ResourceRecord(name: name("d.example.test."), ttl: 1, data: .dname(name("x.")))], "d.example.test.: DNAME is not served (no RFC 6672 substitution)"),
      ([soa, ResourceRecord(name: name("c.example.test."), ttl: 1, data: .cname(name("x."))),
        ResourceRecord(name: name("c.example.test."), ttl: 1, data: .a(IPv4Address(1, 2, 3, 4)))],
       "c.example.test.: a CNAME shares its name with other records (RFC 1034 3.6.2)"),
    ]
    for (records, message) in cases {
      XCTAssertThrowsError(try Zone(origin: origin, records: records), message) { XCTAssertEqual(($0 as? ZoneError)?.message, message) }
    }
  }
}
