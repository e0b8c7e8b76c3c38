// Examples/firewall between two namespaces: its lan is tap0 of `inside` (the host 10.0.0.1,
// fd00:1::1, routed through the firewall at 10.0.0.2, fd00:1::2), its wan a TAP that, once
// the guest holds it, moves to `outside` (the host 192.168.1.1, fd00:2::1; the firewall is
// 192.168.1.2, fd00:2::2). Linux clients cross it: ping, curl and iperf3 (its 64 KiB
// segments forwarded whole, offloads on) through the
// masquerade (the outside server sees the firewall's address), a port forward, IPv6 routed,
// a UDP port unreachable translated back, TTL running out; what the rules deny is dropped
// and counted; a SYN flood and a UDP scan leave the table at its bound with an answered
// connection still crossing, and a rules reload keeps that connection while refusing new
// ones; rules that do not parse are refused with their line and column.

import Foundation
import XCTest

final class FirewallEndToEndTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat"), ("curl", "curl"), ("iperf3", "iperf3"), ("hping3", "hping3")])
  }

  static let rules = """
    # inside: lan; outside: wan
    masquerade out wan
    forward in wan tcp 8080 to 10.0.0.1 port 80
    allow in lan out wan
    allow in wan out lan icmp or icmp6
    """

  /// Writes `text` as a rules device: padded with NUL bytes to a whole number of sectors.
  static func writeRules(_ text: String, to url: URL) throws {
    var bytes = Array(text.utf8)
    bytes += [UInt8](repeating: 0, count: 512 - bytes.count % 512)
    try Data(bytes).write(to: url)
  }

  /// Runs the firewall with `rules` between `inside` and `outside` (made here).
  func withFirewall(
    target: String, rules: String = FirewallEndToEndTests.rules, parameters: [String] = [],
    _ body: (Guest, Namespace, Namespace, URL) throws -> Void
  ) throws {
    let inside = try Namespace()
    let outside = try Namespace()
    let directory = try TemporaryDirectory()
    let rulesFile = directory.url.appendingPathComponent("firewall.rules")
    try Self.writeRules(rules, to: rulesFile)
    for command in [
      ["ip", "-n", outside.name, "link", "del", "tap0"],
      ["ip", "-n", inside.name, "-6", "addr", "add", "fd00:1::1/64", "dev", "tap0", "nodad"],
      ["ip", "-n", inside.name, "route", "add", "default", "via", "10.0.0.2"],
      ["ip", "-n", inside.name, "-6", "route", "add", "default", "via", "fd00:1::2"],
      ["ip", "-n", inside.name, "tuntap", "add", "tap1", "mode", "tap"],
      ["ip", "-n", inside.name, "link", "set", "tap1", "up"],
    ] {
      let outcome = try runCommand(command, timeout: 10)
      XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.error)")
    }
    let guest = try Guest(
      inside, application: Paths.example("firewall"), target: target,
      devices: ["--net:lan=tap0", "--net:wan=tap1", "--block:rules=\(rulesFile.path)"],
      parameters: ["--lan-ipv4=10.0.0.2/24", "--wan-ipv4=192.168.1.2/24", "--lan-ipv6=fd00:1::2/64", "--wan-ipv6=fd00:2::2/64"]
        + parameters, readyLine: "connections at most", addressed: false)
    defer { guest.stop() }
    for command in [
      ["ip", "-n", inside.name, "link", "set", "tap1", "netns", outside.name],
      ["ip", "-n", outside.name, "addr", "add", "192.168.1.1/24", "dev", "tap1"],
      ["ip", "-n", outside.name, "-6", "addr", "add", "fd00:2::1/64", "dev", "tap1", "nodad"],
      ["ip", "-n", outside.name, "link", "set", "tap1", "up"],
      ["ip", "-n", outside.name, "route", "add", "10.0.0.0/24", "via", "192.168.1.2"],
      ["ip", "-n", outside.name, "-6", "route", "add", "fd00:1::/64", "via", "fd00:2::2"],
    ] {
      let outcome = try runCommand(command, timeout: 10)
      XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.error)")
    }
    try body(guest, inside, outside, rulesFile)
  }

  /// The last report line of the firewall's log that starts with `prefix`.
  static func lastReport(_ log: String, _ prefix: String) -> String? {
    log.split(separator: "\n").last { $0.contains("firewall: " + prefix) }.map(String.init)
  }

  func testNATPortForwardsIPv6AndDenialsThroughTheFirewall() throws {
    for target in Examples.targets {
      try withFirewall(target: target, parameters: ["--report-interval=1"]) { guest, inside, outside, _ in
        XCTAssertTrue(try inside.waitForPing("192.168.1.1"), "\(target): no ping through the masquerade: \(guest.stop())")
        // (The addresses are usable once duplicate address detection is done.)
        XCTAssertTrue(try inside.waitForPing("fd00:2::1"), "\(target): no IPv6 ping through the firewall: \(guest.output.contents)")
        // HTTP out through the masquerade: the server sees the firewall's address.
        let outsideLog = try TemporaryFile()
        let outsideServer = try outside.background(["python3", "-m", "http.server", "8000", "--bind", "192.168.1.1"], log: outsideLog)
        defer { outsideServer.terminate() }
        let insideLog = try TemporaryFile()
        let insideServer = try inside.background(["python3", "-m", "http.server", "80"], log: insideLog)
        defer { insideServer.terminate() }
        usleep(800_000)
        let out = try inside.exec(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://192.168.1.1:8000/"], timeout: 20)
        XCTAssertEqual(out.output, "200", "\(target): \(out.error)")
        XCTAssertTrue(outsideLog.contents.contains("192.168.1.2 - - "), "\(target): not masqueraded: \(outsideLog.contents)")
        // The port forward: the wan address's 8080 is the inside server's 80.
        let forwarded = try outside.exec(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://192.168.1.2:8080/"], timeout: 20)
        XCTAssertEqual(forwarded.output, "200", "\(target): \(forwarded.error)")
        XCTAssertTrue(insideLog.contents.contains("192.168.1.1 - - "), "\(target): \(insideLog.contents)")
        // Denied: TCP from outside to the inside host, IPv4 and IPv6.
        for url in ["http://10.0.0.1/", "http://[fd00:1::1]/"] {
          let denied = try outside.exec(["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", url], timeout: 20)
          XCTAssertNotEqual(denied.output, "200", "\(target): \(url) crossed a firewall that denies it")
        }
        // A UDP port unreachable from outside reaches the inside sender translated.
        let refused = try inside.exec([
          "python3", "-c",
          "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(3)\ns.connect(('192.168.1.1', 9))\n"
            + "s.send(b'x')\ntry:\n  s.recv(10)\nexcept ConnectionRefusedError:\n  print('refused')\n",
        ], timeout: 20)
        XCTAssertEqual(refused.output, "refused\n", "\(target): \(refused.output)\(refused.error)")
        // TTL 1: time exceeded from the firewall.
        let expired = try inside.exec(["ping", "-c", "1", "-t", "1", "-W", "2", "192.168.1.1"], timeout: 20)
        XCTAssertTrue(expired.output.contains("From 10.0.0.2") && expired.output.contains("Time to live exceeded"), "\(target): \(expired.output)")
        // iperf3 through the masquerade.
        let iperfLog = try TemporaryFile()
        let iperf = try outside.background(["iperf3", "-s", "-1", "-B", "192.168.1.1"], log: iperfLog)
        defer { iperf.terminate() }
        usleep(500_000)
        let client = try inside.exec(["iperf3", "-c", "192.168.1.1", "-t", "2", "-J"], timeout: 60)
        XCTAssertEqual(client.status, 0, "\(target): \(client.output.suffix(400))\(client.error)")
        let json = try JSONSerialization.jsonObject(with: Data(client.output.utf8)) as? [String: Any]
        let received = ((json?["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bytes"] as? Int ?? 0
        XCTAssertGreaterThan(received, 10_000_000, "\(target): iperf3 moved \(received) bytes")
        // And routed over IPv6 (segments of GSO_TCPV6 whole).
        let iperf6 = try outside.background(["iperf3", "-s", "-1", "-B", "fd00:2::1", "-p", "5202"], log: try TemporaryFile())
        defer { iperf6.terminate() }
        usleep(500_000)
        let client6 = try inside.exec(["iperf3", "-6", "-c", "fd00:2::1", "-p", "5202", "-t", "1", "-J"], timeout: 60)
        XCTAssertEqual(client6.status, 0, "\(target): \(client6.output.suffix(400))\(client6.error)")
        let json6 = try JSONSerialization.jsonObject(with: Data(client6.output.utf8)) as? [String: Any]
        let received6 = ((json6?["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bytes"] as? Int ?? 0
        XCTAssertGreaterThan(received6, 5_000_000, "\(target): iperf3 over IPv6 moved \(received6) bytes")
        usleep(1_500_000)
        let log = guest.stop()
        let policy = Self.lastReport(log, "policy deny: ") ?? ""
        let refusedCount = Int(policy.split(separator: " ").dropFirst(4).first ?? "") ?? 0
        XCTAssertGreaterThanOrEqual(refusedCount, 2, "\(target): denials not counted: \(policy)\n\(log)")
        XCTAssertNotNil(Self.lastReport(log, "rule 4 'allow in lan out wan': "), "\(target): \(log)")
        // With offloads (`sirocco run` gives them), iperf3's 64 KiB segments crossed whole,
        // their partial checksums translated (a wrong one: the server's kernel drops them).
        let totals = Self.lastReport(log, "connections ") ?? ""
        let whole = totals.components(separatedBy: "offloaded segments whole ").last?.split(separator: " ").first.flatMap { Int($0) } ?? 0
        if Examples.siroccoTender(target, checks: "TCP segments forwarded whole by the firewall (offloads)") {
          XCTAssertGreaterThan(whole, 100, "\(target): \(totals)")
        }
      }
    }
  }

  func testTheTableBoundHoldsUnderFloodsAndAReloadKeepsAConnection() throws {
    try withFirewall(target: "spt", parameters: ["--connections=256", "--report-interval=1"]) { guest, inside, outside, rulesFile in
      XCTAssertTrue(try inside.waitForPing("192.168.1.1"), "no ping through the firewall: \(guest.stop())")
      let echoLog = try TemporaryFile()
      let echo = try outside.background(["socat", "TCP-LISTEN:7000,reuseaddr,fork", "EXEC:cat"], log: echoLog)
      defer { echo.terminate() }
      usleep(500_000)
      // A connection that waits for /tmp/…/go between two echoes.
      let directory = try TemporaryDirectory()
      let go = directory.url.appendingPathComponent("go").path
      let clientLog = try TemporaryFile()
      let client = try inside.background([
        "python3", "-c",
        "import socket, os, time\ns = socket.create_connection(('192.168.1.1', 7000), timeout=5)\ns.sendall(b'one')\n"
          + "print(s.recv(10).decode(), flush=True)\nend = time.time() + 90\n"
          + "while not os.path.exists('\(go)') and time.time() < end:\n  time.sleep(0.1)\n"
          + "s.sendall(b'two')\nprint(s.recv(10).decode(), flush=True)\n",
      ], log: clientLog)
      defer { client.terminate() }
      let deadline = Date().addingTimeInterval(10)
      while !clientLog.contents.contains("one"), Date() < deadline { usleep(50_000) }
      XCTAssertTrue(clientLog.contents.contains("one"), "the connection did not open: \(clientLog.contents)")
      // 3,000 SYNs from other ports, then a scan of 3,000 UDP ports.
      let syn = try inside.exec(["hping3", "-q", "-S", "-p", "7000", "-s", "10000", "-c", "3000", "-i", "u200", "192.168.1.1"], timeout: 60)
      XCTAssertTrue(syn.error.contains("3000 packets transmitted"), "\(syn.output)\(syn.error)")
      let scan = try inside.exec(["hping3", "-q", "--udp", "-p", "++1", "-c", "3000", "-i", "u200", "192.168.1.1"], timeout: 60)
      XCTAssertTrue(scan.error.contains("3000 packets transmitted"), "\(scan.output)\(scan.error)")
      usleep(1_500_000)
      // The rules change: nothing new from lan goes out, the connection stays.
      try Self.writeRules("masquerade out wan\nallow in wan out lan icmp\n", to: rulesFile)
      let reloaded = Date().addingTimeInterval(10)
      let reloadLine = "rules reloaded: 1 rules, 0 port forwards; "
      while !guest.output.contents.contains(reloadLine), Date() < reloaded { usleep(100_000) }
      XCTAssertTrue(guest.output.contents.contains(reloadLine), guest.output.contents)
      _ = FileManager.default.createFile(atPath: go, contents: nil)
      client.waitUntilExit()
      XCTAssertEqual(clientLog.contents, "one\ntwo\n", "the connection did not survive the floods and the reload")
      let refused = try inside.exec(["curl", "-s", "-m", "2", "http://192.168.1.1:7000/"], timeout: 20)
      XCTAssertNotEqual(refused.status, 0, "a new connection crossed after the reload denied it")
      // A reload that does not parse keeps the rules in force.
      try Self.writeRules("masquerade out wan\nallow in lan out tcp\n", to: rulesFile)
      let refusedReload = Date().addingTimeInterval(10)
      while !guest.output.contents.contains("(the rules in force stay)"), Date() < refusedReload { usleep(100_000) }
      let log = guest.stop()
      XCTAssertTrue(log.contains("rules not reloaded: line 2, column 18: no interface 'tcp' (there are: lan, wan) (the rules in force stay)"), log)
      // The bound held, by evicting unanswered connections.
      let lines = log.split(separator: "\n").filter { $0.contains("firewall: connections ") }
      XCTAssertFalse(lines.isEmpty, log)
      var evictedMost = 0
      for line in lines {
        let words = line.split(separator: " ")
        guard let index = words.firstIndex(of: "connections"), let count = Int(words[index + 1]) else { continue }
        XCTAssertLessThanOrEqual(count, 256, String(line))
        if let evicted = words.firstIndex(of: "(evicted"), let value = Int(words[evicted + 1].trimmingCharacters(in: .punctuationCharacters)) {
          evictedMost = max(evictedMost, value)
        }
      }
      XCTAssertGreaterThan(evictedMost, 2000, "the floods did not push connections out: \(lines.last ?? "")")
    }
  }

  func testRulesThatDoNotParseAreRefusedWithTheirLineAndColumn() throws {
    let namespace = try Namespace()
    let directory = try TemporaryDirectory()
    let rules = directory.url.appendingPathComponent("bad.rules")
    try Self.writeRules("masquerade out wan\nallow in lan tcp[\n", to: rules)
    XCTAssertEqual(try namespace.exec(["ip", "tuntap", "add", "tap1", "mode", "tap"]).status, 0)
    XCTAssertEqual(try namespace.exec(["ip", "link", "set", "tap1", "up"]).status, 0)
    XCTAssertThrowsError(
      try Guest(
        namespace, application: Paths.example("firewall"), target: "spt",
        devices: ["--net:lan=tap0", "--net:wan=tap1", "--block:rules=\(rules.path)"],
        parameters: ["--lan-ipv4=10.0.0.2/24", "--wan-ipv4=192.168.1.2/24"], readyLine: "connections at most", addressed: false)
    ) { error in
      XCTAssertTrue("\(error)".contains("rules: line 2, column 17: syntax error"), "\(error)")
    }
  }
}
