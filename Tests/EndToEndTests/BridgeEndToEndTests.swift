// Examples/bridge between two namespaces: its port0 is tap0 of `near` (10.0.0.1,
// fd00::1), its port1 a TAP that, once the guest holds it, moves to `far` (10.0.0.3,
// fd00::3). Linux pings across (IPv4, and IPv6 after neighbour discovery through the
// flooded multicast), 100 MB of TCP cross hash-verified, a flood of frames from 20,000
// random source addresses leaves the table at its bound (evictions logged) with traffic
// still crossing, a port filter drops what it does not admit, and a bridge built with three
// ports joins three namespaces. `sirocco run` gives the
// ports offloads (the transfer's 64 KiB segments cross whole) unless --net-offload=false.

import Foundation
import XCTest

final class BridgeEndToEndTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat"), ("sha256sum", "coreutils")])
  }

  /// Runs the bridge with `parameters` between `near` and `far` (made here); gives tap1 back
  /// to `near` after.
  func withBridge(target: String, parameters: [String] = [], offload: Bool = true, _ body: (Guest, Namespace, Namespace) throws -> Void) throws {
    let near = try Namespace()
    let far = try Namespace()
    for command in [["ip", "-n", far.name, "link", "del", "tap0"], ["ip", "-n", near.name, "tuntap", "add", "tap1", "mode", "tap"],
                    ["ip", "-n", near.name, "link", "set", "tap1", "up"],
                    ["ip", "-n", near.name, "-6", "addr", "add", "fd00::1/64", "dev", "tap0", "nodad"]] {
      let outcome = try runCommand(command, timeout: 10)
      XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.error)")
    }
    let guest = try Guest(near, application: Paths.example("bridge"), target: target,
                          devices: ["--net:port0=tap0", "--net:port1=tap1"] + (offload ? [] : ["--net-offload=false"]),
                          parameters: offload || target == "spt" ? parameters : parameters + ["--net-offload=false"],
                          readyLine: "bridging port0", addressed: false)
    for command in [
      ["ip", "-n", near.name, "link", "set", "tap1", "netns", far.name],
      ["ip", "-n", far.name, "addr", "add", "10.0.0.3/24", "dev", "tap1"],
      ["ip", "-n", far.name, "-6", "addr", "add", "fd00::3/64", "dev", "tap1", "nodad"],
      ["ip", "-n", far.name, "link", "set", "tap1", "up"],
    ] {
      let outcome = try runCommand(command, timeout: 10)
      XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.error)")
    }
    defer { guest.stop() }
    try body(guest, near, far)
  }

  func testTwoNamespacesTalkThroughTheBridgeOverIPv4AndIPv6WithATransferAndAFlood() throws {
    for target in Examples.targets {
      try withBridge(target: target, parameters: ["--table-size=1024"]) { guest, near, far in
        XCTAssertTrue(try near.waitForPing("10.0.0.3"), "\(target): no reply through the bridge: \(guest.stop())")
        let ping = try near.exec(["ping", "-q", "-c", "20", "-i", "0.05", "-s", "1400", "-W", "2", "10.0.0.3"], timeout: 30)
        XCTAssertTrue(ping.output.contains("20 received"), "\(target): \(ping.output)\(ping.error)")
        let six = try near.exec(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd00::3"], timeout: 30)
        XCTAssertEqual(six.status, 0, "\(target): IPv6 (neighbour discovery) through the bridge: \(six.output)\(six.error)")
        // 100 MB of TCP, hash-verified at the far end.
        try near.sendAcross(bytes: 100_000_000, to: far, address: "10.0.0.3", label: "\(target): TCP")
        // 20,000 frames from random source addresses: evictions, and traffic still crosses.
        let flood = try near.exec([
          "/usr/bin/python3", "-c",
          "import socket, os\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('tap0', 0))\n"
            + "for i in range(20000):\n  s.send(b'\\xff' * 6 + bytes([2]) + os.urandom(5) + b'\\x88\\xb5' + bytes(46))\n",
        ], timeout: 120)
        XCTAssertEqual(flood.status, 0, "\(target): \(flood.error)")
        XCTAssertTrue(try near.waitForPing("10.0.0.3"), "\(target): nothing crosses after the flood: \(guest.stop())")
        let log = guest.stop()
        XCTAssertTrue(log.contains("table full: 1024 addresses"), "\(target): \(log)")
        if Examples.siroccoTender(target, checks: "TCP segments forwarded whole by the bridge (offloads)") {
          XCTAssertTrue(log.contains("TCP segments of up to 64 KiB forwarded whole"), "\(target): \(log)")
          XCTAssertTrue(log.contains("first frame with offload work pending: forwarded whole"), "\(target): \(log)")
        }
      }
    }
  }

  /// far's address shows up on port0 (a frame from near with far's source address): the
  /// bridge moves it there, so near's frames for far go nowhere; once far speaks again from
  /// port1 it moves back, and they cross again.
  func testAnAddressThatMovesIsLearntAgainEachTime() throws {
    try withBridge(target: "spt") { guest, near, far in
      XCTAssertTrue(try near.waitForPing("10.0.0.3"), "no reply through the bridge: \(guest.stop())")
      let link = try far.exec(["ip", "-o", "link", "show", "tap1"]).output
      let mac = try XCTUnwrap(link.split(separator: " ").drop { $0 != "link/ether" }.dropFirst().first.map(String.init), link)
      let bytes = mac.split(separator: ":").map { "\\x" + $0 }.joined()
      // far says nothing of its own meanwhile (IPv6's router solicitations and MLD reports
      // would move its address back at once).
      XCTAssertEqual(try far.exec(["sysctl", "-qw", "net.ipv6.conf.tap1.disable_ipv6=1"]).status, 0)
      usleep(500_000)
      // Each try: the frame from near with far's address, then one ping, which must go
      // unanswered (near's frames for far now go back to port0); three tries, for a frame far
      // might still send in between.
      var moved = false
      for _ in 0..<3 where !moved {
        let spoof = try near.exec([
          "/usr/bin/python3", "-c",
          "import socket\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('tap0', 0))\n"
            + "s.send(b'\\xff' * 6 + b'\(bytes)' + b'\\x88\\xb5' + bytes(46))\n",
        ], timeout: 30)
        XCTAssertEqual(spoof.status, 0, spoof.error)
        moved = try near.exec(["ping", "-c", "1", "-W", "1", "10.0.0.3"], timeout: 20).status != 0
      }
      XCTAssertTrue(moved, "far's address was not moved to port0")
      // far speaks from port1: its address moves back.
      _ = try far.exec(["ping", "-c", "1", "-W", "1", "10.0.0.1"], timeout: 20)
      XCTAssertTrue(try near.waitForPing("10.0.0.3", seconds: 5), "far's address was not learnt back on port1")
      let log = guest.stop()
      XCTAssertTrue(log.contains("addresses moved between ports: 1 so far"), log)
      XCTAssertTrue(log.contains("addresses moved between ports: 2 so far"), log)
    }
  }

  /// Built with Ports.swift saying 3 (a copy of the example): ports port0 to port2 join
  /// three namespaces, and each reaches both others.
  func testABridgeBuiltWithThreePortsJoinsThreeNamespaces() throws {
    let directory = try TemporaryDirectory()
    let application = directory.url.appendingPathComponent("bridge3")
    try FileManager.default.createDirectory(at: application, withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      at: URL(fileURLWithPath: Paths.example("bridge")).appendingPathComponent("Bridge.swift"),
      to: application.appendingPathComponent("Bridge.swift"))
    try "let portCount = 3\n".write(to: application.appendingPathComponent("Ports.swift"), atomically: true, encoding: .utf8)
    let first = try Namespace()
    let others = [try Namespace(), try Namespace()]
    for (index, other) in others.enumerated() {
      for command in [["ip", "-n", other.name, "link", "del", "tap0"], ["ip", "-n", first.name, "tuntap", "add", "tap\(index + 1)", "mode", "tap"],
                      ["ip", "-n", first.name, "link", "set", "tap\(index + 1)", "up"]] {
        let outcome = try runCommand(command, timeout: 10)
        XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.error)")
      }
    }
    let guest = try Guest(first, application: application.path, target: "unix",
                          devices: ["--net:port0=tap0", "--net:port1=tap1", "--net:port2=tap2"], parameters: [],
                          readyLine: "bridging port0", addressed: false)
    defer { guest.stop() }
    for (index, other) in others.enumerated() {
      for command in [["ip", "-n", first.name, "link", "set", "tap\(index + 1)", "netns", other.name],
                      ["ip", "-n", other.name, "addr", "add", "10.0.0.\(index + 3)/24", "dev", "tap\(index + 1)"],
                      ["ip", "-n", other.name, "link", "set", "tap\(index + 1)", "up"]] {
        let outcome = try runCommand(command, timeout: 10)
        XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.error)")
      }
    }
    XCTAssertTrue(try first.waitForPing("10.0.0.3"), "port0 to port1: \(guest.stop())")
    XCTAssertTrue(try first.waitForPing("10.0.0.4"), "port0 to port2: \(guest.stop())")
    XCTAssertTrue(try others[0].waitForPing("10.0.0.4"), "port1 to port2: \(guest.stop())")
    XCTAssertTrue(try others[1].waitForPing("10.0.0.1"), "port2 to port0: \(guest.stop())")
    let log = guest.stop()
    XCTAssertTrue(log.contains("bridging port0 ") && log.contains(", port1 ") && log.contains(" and port2 "), log)
  }

  func testAPortFilterAdmitsOnlyWhatItMatchesAndABadOneIsRefused() throws {
    // (An expression with spaces: `sirocco run` escapes them for the tender.)
    // Plain frames here (--net-offload=false), as under Solo5's tender.
    try withBridge(target: "spt", parameters: ["--port0-filter=not icmp"], offload: false) { guest, near, _ in
      let ping = try near.exec(["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.3"], timeout: 30)
      XCTAssertNotEqual(ping.status, 0, "ICMP crossed a port that admits 'not icmp'")
      let neighbour = try near.exec(["ip", "neigh", "show", "10.0.0.3", "dev", "tap0"]).output
      XCTAssertTrue(neighbour.contains("lladdr"), "ARP did not cross: \(neighbour)\n\(guest.stop())")
      let log = guest.stop()
      XCTAssertTrue(log.contains("port0 admits only 'not icmp'"), log)
      XCTAssertTrue(log.contains("plain frames"), log)
    }
    let namespace = try Namespace()
    XCTAssertEqual(try namespace.exec(["ip", "tuntap", "add", "tap1", "mode", "tap"]).status, 0)
    XCTAssertEqual(try namespace.exec(["ip", "link", "set", "tap1", "up"]).status, 0)
    XCTAssertThrowsError(
      try Guest(namespace, application: Paths.example("bridge"), target: "spt", devices: ["--net:port0=tap0", "--net:port1=tap1"],
                parameters: ["--port1-filter=tcp["], readyLine: "bridging port0", addressed: false)
    ) { error in
      XCTAssertTrue("\(error)".contains("--port1-filter: column 4: syntax error"), "\(error)")
    }
  }
}
