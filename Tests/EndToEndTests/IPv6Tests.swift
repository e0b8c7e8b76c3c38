// IPv6 end to end, against Linux in a namespace: ping -6 and ping to the same unikernel,
// curl -6 against the website, socat over UDP6 and TCP6, bulk transfers each way over TCP/IPv6
// with the offloads (25 MB in CI, 100 MB with SIROCCO_TCP6_BYTES), SLAAC from a real radvd, a
// duplicate address found by DAD, and ndisc6 as an NDP client.

import Foundation
import XCTest

final class IPv6EndToEndTests: XCTestCase {
  static let hostAddress = "fd00::1"
  static let guestAddress = "fd00::2"

  override func setUpWithError() throws {
    try requireNamespaces()
    try Examples.buildAll()
  }

  /// The host side of the TAP gets fd00::1/64 (no DAD: it must answer at once).
  func namespaceWithIPv6() throws -> Namespace {
    let namespace = try Namespace()
    let outcome = try namespace.exec(["ip", "-6", "addr", "add", "\(Self.hostAddress)/64", "dev", "tap0", "nodad"])
    XCTAssertEqual(outcome.status, 0, outcome.error)
    return namespace
  }

  func testPingAndPingSixReachTheSameUnikernelOnBothTargets() throws {
    for target in Examples.targets {
      let namespace = try namespaceWithIPv6()
      let guest = try Guest(
        namespace, example: "ping", target: target, parameters: ["--ipv6=\(Self.guestAddress)/64"],
        readyLine: "answering ARP and ICMP echo")
      XCTAssertTrue(try namespace.waitForPing(Self.guestAddress), "\(target): no ping -6 reply once DAD was done\n\(guest.stop())")
      for (address, size) in [(Self.guestAddress, 56), (Self.guestAddress, 1400), (namespace.guestAddress, 56)] {
        let outcome = try namespace.exec(
          ["ping", "-q", "-c", "200", "-i", "0.002", "-s", "\(size)", "-W", "2", address], timeout: 60)
        XCTAssertTrue(
          outcome.output.contains("200 packets transmitted, 200 received, 0% packet loss"),
          "\(target): ping \(address) -s \(size): \(outcome.output)\(outcome.error)")
      }
      // Larger than the MTU: Linux fragments, the unikernel reassembles and fragments its reply.
      let large = try namespace.exec(["ping", "-q", "-c", "5", "-i", "0.2", "-s", "4000", "-W", "2", Self.guestAddress], timeout: 30)
      XCTAssertTrue(large.output.contains("5 packets transmitted, 5 received"), "\(target): ping -s 4000: \(large.output)")
      // The neighbour cache on the Linux side learnt the unikernel's link-layer address.
      let neighbors = try namespace.exec(["ip", "-6", "neigh", "show", "dev", "tap0"]).output
      XCTAssertTrue(neighbors.contains(Self.guestAddress), "\(target): \(neighbors)")
      guest.stop()
    }
  }

  func testTheWebsiteAnswersCurlOverIPv6() throws {
    try requireTools([("curl", "curl")])
    let archive = try TemporaryFile()
    let made = try runCommand(["tar", "--format=ustar", "-cf", archive.url.path, "-C", Paths.example("website") + "/site", "."])
    XCTAssertEqual(made.status, 0, made.error)
    for target in Examples.targets {
      let namespace = try namespaceWithIPv6()
      let guest = try Guest(
        namespace, example: "website", target: target,
        devices: ["--net:service=tap0", "--block:site=\(archive.url.path)"],
        parameters: ["--ipv6=\(Self.guestAddress)/64", "--port=8080"], readyLine: "serving")
      XCTAssertTrue(try namespace.waitForPing(Self.guestAddress), "\(target): \(guest.stop())")
      let page = try namespace.exec(["curl", "-s", "-6", "--max-time", "5", "http://[\(Self.guestAddress)]:8080/"], timeout: 10)
      XCTAssertTrue(page.output.contains("Hello from a Sirocco unikernel"), "\(target): \(page.output)\(page.error)")
      let four = try namespace.exec(["curl", "-s", "-4", "--max-time", "5", "http://\(namespace.guestAddress):8080/"], timeout: 10)
      XCTAssertTrue(four.output.contains("Hello from a Sirocco unikernel"), "\(target): dual stack: \(four.output)")
      guest.stop()
    }
  }

  func testSocatOverUDP6AndTCP6() throws {
    try requireTools([("socat", "socat")])
    let namespace = try namespaceWithIPv6()
    let udp = try Guest(
      namespace, example: "udp-echo", parameters: ["--ipv6=\(Self.guestAddress)/64", "--port=5000"], readyLine: "echoing UDP")
    XCTAssertTrue(try namespace.waitForPing(Self.guestAddress), udp.stop())
    let datagram = try namespace.shell(
      "echo hello-udp6 | timeout 5 socat -t 2 - UDP6:[\(Self.guestAddress)]:5000", timeout: 15)
    XCTAssertEqual(datagram.output, "hello-udp6\n", "\(datagram.error)\n\(udp.stop())")
    udp.stop()
    let tcp = try Guest(
      namespace, example: "tcp-echo", parameters: ["--ipv6=\(Self.guestAddress)/64", "--port=7"], readyLine: "echoing TCP")
    XCTAssertTrue(try namespace.waitForPing(Self.guestAddress), tcp.stop())
    let stream = try namespace.shell(
      "head -c 200000 /dev/urandom > $DIR/in; timeout 20 socat -t 5 TCP6:[\(Self.guestAddress)]:7 - < $DIR/in > $DIR/out;"
        + " cmp $DIR/in $DIR/out && echo same", timeout: 40)
    XCTAssertTrue(stream.output.contains("same"), "\(stream.output)\(stream.error)\n\(tcp.stop())")
    tcp.stop()
  }

  /// CI moves 25 MB each way; SIROCCO_TCP6_BYTES=100000000 is the 100 MB (and
  /// Scripts/bench-tcp moves 100 MB or more each way over IPv6, figures in BENCHMARKS.md).
  static var bulkBytes: Int { Int(ProcessInfo.processInfo.environment["SIROCCO_TCP6_BYTES"] ?? "") ?? 25_000_000 }

  /// 25 MB (or SIROCCO_TCP6_BYTES) each way over TCP/IPv6 on both targets with the virtio-net
  /// offloads (on by default on both targets: Linux coalesces what it
  /// sends into 64 KiB segments, the unikernel hands over 64 KiB segments to cut,
  /// GSO_TCPV6), checked by SHA-256; the unikernel counts no bad checksum and nothing
  /// oversized.
  func testVerifiedBulkTransfersEachWayOverTCP6WithOffloads() throws {
    try requireTools([("socat", "socat")])
    let bytes = Self.bulkBytes
    let data = try TemporaryFile()
    try data.handle.close()
    try runCommand(["sh", "-c", "head -c \(bytes) /dev/urandom > \(data.url.path)"])
    let expected = try sha256Digest(data.url.path)
    let namespace = try namespaceWithIPv6()
    for target in Examples.targets {
      let devices = ["--net:service=tap0"]
      let parameters = ["--ipv6=\(Self.guestAddress)/64", "--ipv6-only", "--log-level=debug"]
      // Linux -> unikernel.
      let sink = try Guest(
        namespace, example: "tcp-bulk", target: target, devices: devices, parameters: ["--mode=sink"] + parameters,
        readyLine: "sink listening")
      XCTAssertTrue(try namespace.waitForPing(Self.guestAddress), "\(target): \(sink.stop())")
      let peer = "TCP6:[\(Self.guestAddress)]:5001"
      let report = try namespace.sendBulk(
        data.url.path, bytes: bytes, expected: expected, to: sink, peer: peer, timeout: 180, label: target)
      // Unikernel -> Linux.
      let source = try Guest(
        namespace, example: "tcp-bulk", target: target, devices: devices,
        parameters: ["--mode=source", "--bytes=\(bytes)"] + parameters, readyLine: "source listening")
      XCTAssertTrue(try namespace.waitForPing(Self.guestAddress), "\(target): \(source.stop())")
      let sourceReport = try namespace.receiveBulk(bytes: bytes, from: source, peer: peer, timeout: 180, label: target)
      // In MSS-sized segments (1,440 bytes) the data is bytes / 1,440 of them; in 64 KiB ones,
      // about 45 times fewer. A quarter of the first is the bound.
      let bound = bytes / 1440 / 4
      let segmentsIn = try XCTUnwrap(Self.tcpSegments(report, "in"), "\(target): no counters: \(report)")
      let segmentsOut = try XCTUnwrap(Self.tcpSegments(sourceReport, "out"), "\(target): no counters: \(sourceReport)")
      if Examples.siroccoTender(target, checks: "64 KiB TCP6 segments each way (offloads)") {
        XCTAssertLessThan(segmentsIn, bound, "\(target): Linux's segments were not coalesced: \(report)")
        XCTAssertLessThan(segmentsOut, bound, "\(target): the unikernel's segments were not cut by the device: \(sourceReport)")
      }
      for report in [report, sourceReport] {
        XCTAssertFalse(report.contains("bad-tcp-checksum"), "\(target): \(report)")
        XCTAssertFalse(report.contains("oversized"), "\(target): \(report)")
      }
    }
  }

  /// The TCP segments counted `direction` ("in" or "out") in the stack's counters line
  /// ("stack: ..., tcp in N out M ...", logged at debug level as the unikernel exits).
  static func tcpSegments(_ report: String, _ direction: String) -> Int? {
    guard let line = report.split(separator: "\n").last(where: { $0.contains("stack: rx ") }),
      let range = line.range(of: ", tcp in ")
    else { return nil }
    let words = line[range.upperBound...].split(separator: " ")
    guard words.count >= 3 else { return nil }
    return Int(direction == "in" ? words[0] : words[2])
  }

  /// radvd advertises fd00:92::/64: the unikernel forms an address in it (logged), passes
  /// DAD and answers on it; ndisc6 resolves it to the unikernel's link-layer address.
  func testSLAACFromRadvdAndNDPClients() throws {
    try requireTools([("radvd", "radvd"), ("ndisc6", "ndisc6")])
    let namespace = try namespaceWithIPv6()
    let setup = try namespace.shell(
      """
      ip -6 addr add fd00:92::1/64 dev tap0 nodad
      sysctl -qw net.ipv6.conf.all.forwarding=1
      cat > $DIR/radvd.conf <<'R'
      interface tap0 { AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 4; prefix fd00:92::/64 { AdvOnLink on; AdvAutonomous on; }; };
      R
      cp $DIR/radvd.conf /tmp/\(namespace.name)-radvd.conf
      """)
    XCTAssertEqual(setup.status, 0, setup.error)
    let guest = try Guest(namespace, example: "ping", readyLine: "answering ARP and ICMP echo")
    // radvd in the foreground (-n), as a child of the test: a daemon would keep the pipes of
    // the shell that started it open.
    let radvd = Process()
    radvd.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    radvd.arguments = [
      "netns", "exec", namespace.name, "radvd", "-n", "-C", "/tmp/\(namespace.name)-radvd.conf", "-p",
      "/tmp/\(namespace.name)-radvd.pid", "-m", "stderr",
    ]
    radvd.standardInput = FileHandle.nullDevice
    radvd.standardOutput = FileHandle.nullDevice
    radvd.standardError = FileHandle.nullDevice
    try radvd.run()
    defer {
      radvd.terminate()
      radvd.waitUntilExit()
      try? FileManager.default.removeItem(atPath: "/tmp/\(namespace.name)-radvd.conf")
      try? FileManager.default.removeItem(atPath: "/tmp/\(namespace.name)-radvd.pid")
    }
    // The unikernel logs its link's line when its addresses change.
    var address: String?
    let deadline = Date().addingTimeInterval(40)
    while address == nil, Date() < deadline {
      usleep(250_000)
      address = guest.output.contents.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("fd00:92:") }
        .map { String($0.split(separator: "/")[0]) }
    }
    let found = try XCTUnwrap(address, "no SLAAC address logged within 40 s: \(guest.output.contents)")
    XCTAssertTrue(try namespace.waitForPing(found), "\(found) does not answer")
    // ndisc6 resolves the address to the unikernel's link-layer address.
    let ndisc = try namespace.exec(["ndisc6", "-1", "-r", "3", found, "tap0"], timeout: 15)
    XCTAssertEqual(ndisc.status, 0, "\(ndisc.output)\(ndisc.error)")
    XCTAssertTrue(ndisc.output.lowercased().contains("target link-layer address"), ndisc.output)
    guest.stop()
  }

  /// The host holds fd00::2 already: the unikernel's DAD finds it, says so, and does not use it.
  func testADuplicateAddressIsDetected() throws {
    let namespace = try Namespace()
    let taken = try namespace.exec(["ip", "-6", "addr", "add", "\(Self.guestAddress)/64", "dev", "tap0", "nodad"])
    XCTAssertEqual(taken.status, 0, taken.error)
    let guest = try Guest(
      namespace, example: "ping", parameters: ["--ipv6=\(Self.guestAddress)/64"], readyLine: "answering ARP and ICMP echo")
    let deadline = Date().addingTimeInterval(15)
    while !guest.error.contents.contains("duplicate address detection"), !guest.output.contents.contains("duplicate address detection"),
      Date() < deadline
    {
      usleep(200_000)
    }
    let log = guest.output.contents + guest.error.contents
    XCTAssertTrue(log.contains("duplicate address detection: an address is in use by another node"), log)
    guest.stop()
  }
}
