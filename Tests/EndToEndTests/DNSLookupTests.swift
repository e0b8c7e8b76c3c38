// Examples/dns-lookup (the stub resolver) against real and misbehaving servers in a
// namespace: dnsmasq answering names, CNAMEs and NXDOMAIN, its answers cached for their TTL;
// the DNS server a DHCP lease names; a server that never answers, one that truncates every
// UDP answer, and one that sends forged answers before the real one (dns_checks.py serve).

import Foundation
import XCTest

final class DNSLookupTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("dnsmasq", "dnsmasq")])
    guard (try? runCommand([DNSServerTests.python, "-c", "import dns.message"], timeout: 20).status) == 0 else {
      throw missing("python3-dnspython (import dns.message with \(DNSServerTests.python))")
    }
    try Examples.buildAll()
  }

  /// Runs dns-lookup to its end in `namespace` with `parameters` (no address given: DHCP).
  func lookup(_ namespace: Namespace, target: String, _ parameters: [String]) throws -> Outcome {
    try namespace.exec([Paths.tool, "run", "--target", target, Paths.example("dns-lookup"), "--net:service=tap0", "--"] + parameters,
                       timeout: 120)
  }

  func dnsmasq(_ namespace: Namespace, log: TemporaryFile, dhcp: Bool = false) throws -> Process {
    var arguments = ["dnsmasq", "-d", "-C", "/dev/null", "--port=53", "--listen-address=10.0.0.1", "--bind-interfaces",
                     "--no-resolv", "--no-hosts", "--log-queries", "--local=/example.test/",
                     "--host-record=www.example.test,192.0.2.10,2001:db8::10", "--cname=alias.example.test,www.example.test",
                     "--local-ttl=300"]
    if dhcp { arguments += ["--interface=tap0", "--dhcp-range=10.0.0.50,10.0.0.99,1h", "--dhcp-leasefile=/dev/null"] }
    let process = try namespace.background(arguments, log: log)
    _ = try namespace.shell("for i in $(seq 1 40); do grep -q 'started' \(log.url.path) && exit 0; sleep 0.25; done; exit 1", timeout: 30)
    return process
  }

  func testResolvesThroughDnsmasqAndAnswersFromItsCache() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let log = try TemporaryFile()
      let server = try dnsmasq(namespace, log: log)
      defer { server.terminate() }
      let names = "www.example.test,alias.example.test,nope.example.test"
      let outcome = try lookup(namespace, target: target, ["--ipv4=10.0.0.2/24", "--dns-server=10.0.0.1", "--names=\(names)",
                                                           "--rounds=2", "--interval=1"])
      let output = outcome.output + outcome.error
      XCTAssertEqual(outcome.status, 0, output)
      XCTAssertTrue(output.contains("www.example.test. A 192.0.2.10 ttl 300"), output)
      XCTAssertTrue(output.contains("alias.example.test. A 192.0.2.10"), "the records at the end of the CNAME: \(output)")
      XCTAssertTrue(output.contains("nope.example.test. A: no such name"), output)
      // The second round takes www and alias from the cache, their TTLs lowered.
      XCTAssertTrue(output.contains("from the cache 2"), output)
      let asked = log.contents.components(separatedBy: "query[A] www.example.test").count - 1
      XCTAssertEqual(asked, 1, "dnsmasq asked once for www: \(log.contents)")
      let six = try lookup(namespace, target: target, ["--ipv4=10.0.0.2/24", "--dns-server=10.0.0.1", "--names=www.example.test",
                                                       "--type=AAAA"])
      XCTAssertTrue(six.output.contains("www.example.test. AAAA 2001:db8::10"), six.output + six.error)
    }
  }

  func testAsksTheDNSServerOfItsDHCPLease() throws {
    let namespace = try Namespace()
    let log = try TemporaryFile()
    let server = try dnsmasq(namespace, log: log, dhcp: true)
    defer { server.terminate() }
    let outcome = try lookup(namespace, target: "spt", ["--names=www.example.test"])
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error + log.contents)
    XCTAssertTrue(outcome.output.contains("DNS 10.0.0.1"), outcome.output)
    XCTAssertTrue(outcome.output.contains("www.example.test. A 192.0.2.10"), outcome.output)
  }

  /// A silent server is left for the next; a truncating one is asked again over TCP; forged
  /// answers (another ID, another question, another source port) are dropped and counted;
  /// with only silent servers the lookup fails, in bounded time, with exit status 1.
  func testSurvivesSilentTruncatingAndSpoofingServers() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let log = try TemporaryFile()
      let good = try dnsmasq(namespace, log: log)
      defer { good.terminate() }
      var fakes: [Process] = []
      defer { for fake in fakes { fake.terminate() } }
      for (index, kind) in ["silent", "truncating", "spoofing"].enumerated() {
        let address = "10.0.0.\(index + 3)"
        XCTAssertEqual(try namespace.exec(["ip", "addr", "add", "\(address)/32", "dev", "tap0"]).status, 0)
        let fakeLog = try TemporaryFile()
        fakes.append(try namespace.background([DNSServerTests.python, DNSServerTests.checks, "serve", kind, address, "90"], log: fakeLog))
        _ = try namespace.shell("for i in $(seq 1 40); do grep -q serving \(fakeLog.url.path) && exit 0; sleep 0.25; done; exit 1",
                                timeout: 30)
      }
      let base = ["--ipv4=10.0.0.2/24", "--names=www.example.test", "--timeout=1"]
      let silent = try lookup(namespace, target: target, base + ["--dns-server=10.0.0.3,10.0.0.1"])
      XCTAssertEqual(silent.status, 0, silent.output + silent.error)
      XCTAssertTrue(silent.output.contains("A 192.0.2.10") && silent.output.contains("retries 1,"), silent.output)
      let truncating = try lookup(namespace, target: target, base + ["--dns-server=10.0.0.4"])
      XCTAssertEqual(truncating.status, 0, truncating.output + truncating.error)
      XCTAssertTrue(truncating.output.contains("A 192.0.2.10") && truncating.output.contains("over TCP 1,"), truncating.output)
      let spoofing = try lookup(namespace, target: target, base + ["--dns-server=10.0.0.5"])
      XCTAssertEqual(spoofing.status, 0, spoofing.output + spoofing.error)
      XCTAssertTrue(spoofing.output.contains("A 192.0.2.10"), spoofing.output)
      XCTAssertFalse(spoofing.output.contains("203.0.113.66"), "a forged answer was taken: \(spoofing.output)")
      XCTAssertTrue(spoofing.output.contains("mismatched 3,"), spoofing.output)
      let start = Date()
      let nobody = try lookup(namespace, target: target, base + ["--dns-server=10.0.0.3", "--attempts=2"])
      XCTAssertEqual(nobody.status, 1, nobody.output + nobody.error)
      XCTAssertTrue(nobody.output.contains("no DNS server answered in time"), nobody.output)
      XCTAssertLessThan(Date().timeIntervalSince(start), 30, "two attempts of one second, and the start")
    }
  }

  func testRefusesBadNamesAndTypes() throws {
    let namespace = try Namespace()
    for (parameters, expected) in [(["--names=a..b"], "--names: 'a..b' is not a domain name"),
                                   (["--names=example.test", "--type=BOGUS"], "--type: 'BOGUS' is not a record type")] {
      let outcome = try lookup(namespace, target: "unix", ["--ipv4=10.0.0.2/24"] + parameters)
      XCTAssertEqual(outcome.status, 1, outcome.output + outcome.error)
      XCTAssertTrue((outcome.output + outcome.error).contains(expected), outcome.output + outcome.error)
    }
  }
}
