// Examples/dns-server against real DNS tools in a namespace: kdig over UDP and TCP, IPv4 and
// IPv6, zone transfers allowed and refused; the same zones served by NSD and by Sirocco and
// 1,000+ queries compared answer for answer (dns_checks.py, dnspython); pipelined TCP queries,
// the idle timeout, hostile datagrams and response-rate limiting; a zone reloaded when its
// serial grows; zones compiled into the image. Zones: Tests/EndToEndTests/dns.

import Foundation
import XCTest

final class DNSServerTests: XCTestCase {
  static let zones = Paths.root.appendingPathComponent("Tests/EndToEndTests/dns").path
  static let checks = Paths.root.appendingPathComponent("Tests/EndToEndTests/dns_checks.py").path
  /// Debian's python3-dnspython is installed for the system's Python.
  static let python = "/usr/bin/python3"

  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("kdig", "knot-dnsutils"), ("nsd", "nsd"), ("tar", "tar")])
    guard FileManager.default.isExecutableFile(atPath: Self.python),
      (try? runCommand([Self.python, "-c", "import dns.message"], timeout: 20).status) == 0
    else { throw missing("python3-dnspython (import dns.message with \(Self.python))") }
    try Examples.buildAll()
  }

  func kdig(_ namespace: Namespace, _ arguments: [String]) throws -> String {
    let outcome = try namespace.exec(["kdig", "+time=2", "+retry=1"] + arguments, timeout: 30)
    XCTAssertEqual(outcome.status, 0, "kdig \(arguments): \(outcome.error)")
    return outcome.output
  }

  func server(_ namespace: Namespace, target: String, parameters: [String] = [], devices: [String]? = nil) throws -> Guest {
    try Guest(namespace, example: "dns-server", target: target,
              devices: devices ?? ["--net:service=tap0", "--block:zones=\(Self.zones)"],
              parameters: parameters, readyLine: "answering on UDP and TCP")
  }

  func testAnswersKdigOverUDPAndTCPOnIPv4AndIPv6WithTransfers() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      XCTAssertEqual(try namespace.exec(["ip", "-6", "addr", "add", "fd00::1/64", "dev", "tap0", "nodad"]).status, 0)
      let guest = try server(namespace, target: target,
                             parameters: ["--ipv4=10.0.0.2/24", "--ipv6=fd00::2/64", "--axfr-allow=10.0.0.0/24"])
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      for server in ["10.0.0.2", "fd00::2"] {
        XCTAssertEqual(try kdig(namespace, ["+short", "@\(server)", "www.example.test", "A"]), "192.0.2.10\n", "\(target) \(server)")
        XCTAssertEqual(try kdig(namespace, ["+tcp", "+short", "@\(server)", "www.example.test", "AAAA"]), "2001:db8::10\n",
                       "\(target) \(server)")
        let missing = try kdig(namespace, ["@\(server)", "nope.example.test", "A"])
        XCTAssertTrue(missing.contains("status: NXDOMAIN"), missing)
        XCTAssertTrue(missing.contains("IN\tSOA\tns1.example.test. hostmaster.example.test. 2026120501"), missing)
        // Too big for 512 bytes: TC, and kdig retries over TCP.
        let big = try namespace.exec(["kdig", "+time=2", "+noedns", "@\(server)", "big.example.test", "TXT"], timeout: 30)
        XCTAssertTrue(big.error.contains("truncated reply") && big.output.contains("ANSWER: 4"), big.output + big.error)
      }
      // AXFR over TCP from the allowed network: the SOA first and last, every record between.
      let transfer = try kdig(namespace, ["@10.0.0.2", "example.test", "AXFR"])
      let records = transfer.split(separator: "\n").filter { !$0.hasPrefix(";") && !$0.isEmpty }
      XCTAssertTrue(records.first?.contains("\tSOA\t") == true && records.last?.contains("\tSOA\t") == true, transfer)
      XCTAssertEqual(records.count, 90, "the zone's 89 records and its SOA again, as NSD transfers them: \(transfer)")
      // From IPv6, outside the list: refused.
      let refused = try namespace.exec(["kdig", "+time=2", "@fd00::2", "example.test", "AXFR"], timeout: 30)
      XCTAssertTrue((refused.output + refused.error).contains("REFUSED"), refused.output + refused.error)
      XCTAssertTrue(guest.stop().contains("transfer of example.test. to fd00::1 refused"))
    }
  }

  /// NSD (Debian's) on the host side of the TAP, Sirocco on the guest side, the same zones:
  /// every query of the corpus gets the same response from both.
  func testAnswersAsNSDDoesOnTheSameZones() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let directory = try TemporaryDirectory()
      var configuration = """
        server:
          ip-address: 10.0.0.1
          zonesdir: "\(Self.zones)"
          database: ""
          zonelistfile: "\(directory.path)/zone.list"
          xfrdfile: "\(directory.path)/xfrd.state"
          xfrdir: "\(directory.path)"
          pidfile: "\(directory.path)/nsd.pid"
          username: ""
          chroot: ""
          rrl-ratelimit: 0
          rrl-whitelist-ratelimit: 0
        remote-control:
          control-enable: no

        """
      for file in try FileManager.default.contentsOfDirectory(atPath: Self.zones).sorted() where file.hasSuffix(".zone") {
        configuration += "zone:\n  name: \(file.dropLast(5))\n  zonefile: \(file)\n"
      }
      let conf = directory.url.appendingPathComponent("nsd.conf")
      try configuration.write(to: conf, atomically: true, encoding: .utf8)
      let nsdLog = try TemporaryFile()
      let nsd = try namespace.background(["nsd", "-d", "-c", conf.path], log: nsdLog)
      defer { nsd.terminate() }
      let guest = try server(namespace, target: target, parameters: ["--rate-limit=0"])
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      // NSD is up once it answers.
      _ = try namespace.shell("for i in $(seq 1 40); do kdig +time=1 +short @10.0.0.1 example.test SOA | grep -q . && exit 0; sleep 0.25; done; exit 1",
                              timeout: 30)
      let outcome = try namespace.exec([Self.python, Self.checks, "diff", Self.zones, "10.0.0.1", "10.0.0.2", "53"], timeout: 600)
      XCTAssertEqual(outcome.status, 0, "\(target): \(outcome.output)\(outcome.error)\nNSD: \(nsdLog.contents)\n\(guest.stop())")
      XCTAssertTrue(outcome.output.contains(": 0 differ"), outcome.output)
      print("\(target): \(outcome.output.split(separator: "\n").last ?? "")")
    }
  }

  func testPipelinesTimesOutIdleConnectionsDropsHostileInputAndLimitsRates() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try server(namespace, target: target, parameters: ["--rate-limit=10", "--idle-timeout=3"])
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      for check in [["pipeline", "10.0.0.2", "53", "100"], ["idle", "10.0.0.2", "53", "3"], ["malformed", "10.0.0.2", "53"],
                    ["rrl", "10.0.0.2", "53", "10"]] {
        let outcome = try namespace.exec([Self.python, Self.checks] + check, timeout: 60)
        XCTAssertEqual(outcome.status, 0, "\(target) \(check[0]): \(outcome.output)\(outcome.error)\n\(guest.stop())")
        print("\(target) \(check[0]): \(outcome.output.trimmingCharacters(in: .newlines))")
      }
    }
  }

  /// A zone in a tar file read again every second: a changed zone with the same serial is not
  /// served, one with a greater serial is; a bad file keeps the zone served.
  func testReloadsAZoneWhenItsSerialGrows() throws {
    let namespace = try Namespace()
    let directory = try TemporaryDirectory()
    let archive = directory.url.appendingPathComponent("zones.tar").path
    let file = directory.url.appendingPathComponent("src/example.test.zone")
    try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
    var stamp = 1_700_000_000
    func pack(serial: Int, address: String, extra: String = "") throws {
      let zone = "$TTL 60\n@ IN SOA ns1 admin \(serial) 1h 10m 1w 60\n  IN NS ns1\nns1 IN A 10.0.0.2\nwww IN A \(address)\n\(extra)"
      try zone.write(to: file, atomically: true, encoding: .utf8)
      stamp += 10  // a new date in the archive's header each time
      XCTAssertEqual(try runCommand(["touch", "-d", "@\(stamp)", file.path]).status, 0)
      // Written in place (the tender holds the file open), 10240 bytes each time.
      let outcome = try runCommand(["tar", "-cf", archive, "-C", file.deletingLastPathComponent().path, "example.test.zone"])
      XCTAssertEqual(outcome.status, 0, outcome.error)
    }
    try pack(serial: 1, address: "192.0.2.1")
    let guest = try server(namespace, target: "spt", parameters: ["--reload-interval=1"],
                           devices: ["--net:service=tap0", "--block:zones=\(archive)"])
    XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
    func answer() throws -> String { try kdig(namespace, ["+short", "@10.0.0.2", "www.example.test", "A"]) }
    func waitFor(_ expected: String) throws -> Bool {
      for _ in 0..<40 {
        if try answer() == expected { return true }
        usleep(250_000)
      }
      return false
    }
    XCTAssertEqual(try answer(), "192.0.2.1\n")
    try pack(serial: 1, address: "192.0.2.2")
    sleep(3)
    XCTAssertEqual(try answer(), "192.0.2.1\n", "the same serial: the old zone stays")
    try pack(serial: 2, address: "192.0.2.3", extra: "bad IN A 300.1.1.1\n")
    sleep(3)
    XCTAssertEqual(try answer(), "192.0.2.1\n", "a zone that does not load: the old zone stays")
    try pack(serial: 2, address: "192.0.2.4")
    XCTAssertTrue(try waitFor("192.0.2.4\n"), "a greater serial is served")
    let log = guest.stop()
    XCTAssertTrue(log.contains("its serial 1 is not greater than 1"), log)
    XCTAssertTrue(log.contains("example.test.zone:6: A: expected an IPv4 address"), log)
    XCTAssertTrue(log.contains("reload: serving example.test. serial 2"), log)
  }

  /// The dns-server's code with Resources/zones, built for unix: with no archive attached it
  /// serves the zone compiled into the image; an archive's zone with a greater serial is
  /// served instead (and its other zones beside), one with a smaller serial is set aside.
  func testServesZonesCompiledIntoTheImage() throws {
    let directory = try TemporaryDirectory()
    let application = directory.url.appendingPathComponent("dns-compiled")
    let zones = application.appendingPathComponent("Resources/zones")
    try FileManager.default.createDirectory(at: zones, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: Paths.example("dns-server") + "/NameServer.swift",
                                     toPath: application.appendingPathComponent("NameServer.swift").path)
    try FileManager.default.copyItem(atPath: Self.zones + "/example.test.zone", toPath: zones.appendingPathComponent("example.test.zone").path)
    let built = try runCommand([Paths.tool, "build", application.path], timeout: 600)
    XCTAssertEqual(built.status, 0, built.error)
    XCTAssertTrue(built.error.contains("compiling Resources into dns-compiled"), built.error)
    let archive = directory.url.appendingPathComponent("archive")
    try FileManager.default.createDirectory(at: archive, withIntermediateDirectories: true)
    func archiveZone(_ origin: String, serial: Int, address: String) throws {
      try "$TTL 60\n@ IN SOA ns1 admin \(serial) 1h 10m 1w 60\n  IN NS ns1\nns1 IN A 10.0.0.2\nwww IN A \(address)\n".write(
        to: archive.appendingPathComponent("\(origin).zone"), atomically: true, encoding: .utf8)
    }
    func serve(_ devices: [String], _ check: (Namespace) throws -> Void) throws -> String {
      let namespace = try Namespace()
      let guest = try Guest(namespace, application: application.path, target: "unix", devices: ["--net:service=tap0"] + devices,
                            parameters: [], readyLine: "answering on UDP and TCP")
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      try check(namespace)
      return guest.stop()
    }
    var log = try serve([]) { namespace in
      XCTAssertEqual(try kdig(namespace, ["+short", "@10.0.0.2", "www.example.test", "A"]), "192.0.2.10\n")
      XCTAssertEqual(try kdig(namespace, ["+tcp", "+short", "@10.0.0.2", "www.example.test", "AAAA"]), "2001:db8::10\n")
    }
    XCTAssertTrue(log.contains("serving example.test. (serial 2026120501, 30 names) from the image's Resources/zones/example.test.zone"), log)
    try archiveZone("example.test", serial: 2026120502, address: "192.0.2.99")
    try archiveZone("other.test", serial: 1, address: "192.0.2.7")
    log = try serve(["--block:zones=\(archive.path)"]) { namespace in
      XCTAssertEqual(try kdig(namespace, ["+short", "@10.0.0.2", "www.example.test", "A"]), "192.0.2.99\n", "the archive's greater serial")
      XCTAssertEqual(try kdig(namespace, ["+short", "@10.0.0.2", "www.other.test", "A"]), "192.0.2.7\n")
    }
    XCTAssertTrue(log.contains("serving example.test. (serial 2026120502, ") && log.contains(" names) from the archive's example.test.zone"), log)
    try archiveZone("example.test", serial: 7, address: "192.0.2.98")
    log = try serve(["--block:zones=\(archive.path)"]) { namespace in
      XCTAssertEqual(try kdig(namespace, ["+short", "@10.0.0.2", "www.example.test", "A"]), "192.0.2.10\n", "the image's greater serial")
    }
    XCTAssertTrue(log.contains("serial 7, not greater than 2026120501 compiled into the image: serving the image's"), log)
  }

  /// A zone file that does not load stops the boot with its file and line (exit 1).
  func testRefusesToStartWithABadZoneNamingTheLine() throws {
    let directory = try TemporaryDirectory()
    try "$TTL 60\n@ IN SOA ns1 admin 1 1h 10m 1w 60\nwww IN MX mail\n".write(
      to: directory.url.appendingPathComponent("bad.test.zone"), atomically: true, encoding: .utf8)
    let outcome = try runCommand([Paths.tool, "run", Paths.example("dns-server"), "--net-socket:service=127.0.0.1",
                                  "--block:zones=\(directory.path)", "--", "--port=5399"], timeout: 120)
    XCTAssertEqual(outcome.status, 1, outcome.output + outcome.error)
    XCTAssertTrue((outcome.output + outcome.error).contains("bad.test.zone:3: MX expects PREFERENCE NAME"), outcome.output + outcome.error)
  }

  /// Issue 14's bound: the spt image, stripped, under 512 KiB (Scripts/bench-dns measures its
  /// memory with a 10,000-record zone).
  func testSPTImageIsUnder512KiB() throws {
    try requireTools([("strip", "binutils")])
    let size = try strippedSize(of: Paths.example("dns-server") + "/_build/spt/dns-server.spt")
    XCTAssertLessThan(size, 512 * 1024, "dns-server.spt stripped")
  }
}
