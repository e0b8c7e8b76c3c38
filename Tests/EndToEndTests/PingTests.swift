// Examples/ping on the unix target, through `sirocco run`, answered to the real Linux ping.

import Foundation
import XCTest

final class PingTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try Examples.buildAll()
  }

  /// 1000 echo requests of 56 bytes and 1000 of 1400 bytes: no loss.
  func testThousandEchoRequestsWithoutLoss() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "ping", target: target, readyLine: "answering ARP and ICMP echo")
      for size in [56, 1400] {
        let outcome = try namespace.exec(
          ["ping", "-q", "-c", "1000", "-i", "0.001", "-s", "\(size)", "-W", "2", namespace.guestAddress], timeout: 120)
        XCTAssertEqual(outcome.status, 0, "\(target): ping -s \(size) failed: \(outcome.output)\(outcome.error)\n\(guest.stop())")
        XCTAssertTrue(outcome.output.contains("1000 packets transmitted, 1000 received, 0% packet loss"), "\(target): \(outcome.output)")
      }
    }
  }

  /// Echo requests larger than the MTU: Linux sends them in fragments, the unikernel puts
  /// them together and answers in fragments, which Linux puts together (tcpdump on the TAP
  /// sees the unikernel's fragments).
  func testEchoRequestsLargerThanTheMTUAreAnsweredInFragments() throws {
    try requireTools([("tcpdump", "tcpdump")])
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "ping", target: target, readyLine: "answering ARP and ICMP echo")
      let capture = try namespace.shell(
        "timeout 20 tcpdump -n -l -i tap0 -c 30 'ip src \(namespace.guestAddress) and (ip[6:2] & 0x3fff) != 0' > $DIR/dump 2>/dev/null &"
          + " sleep 1; ping -c 10 -i 0.1 -s 8000 -W 2 \(namespace.guestAddress); status=$?; wait; cat $DIR/dump; exit $status",
        timeout: 60)
      XCTAssertEqual(capture.status, 0, "\(target): \(capture.output)\(capture.error)\n\(guest.stop())")
      XCTAssertTrue(capture.output.contains("10 packets transmitted, 10 received, 0% packet loss"), "\(target): \(capture.output)")
      // 8,008 bytes of ICMP: six fragments per reply (1,480 bytes of payload each).
      let fragments = capture.output.split(separator: "\n").filter { $0.contains("IP \(namespace.guestAddress)") }
      XCTAssertGreaterThanOrEqual(fragments.count, 30, "\(target): the replies were not fragmented: \(capture.output)")
      guest.stop()
    }
  }

  /// The pcap file holds the ARP and ICMP traffic, readable by tcpdump.
  func testPcapRecordsEveryFrame() throws {
    try requireTools([("tcpdump", "tcpdump")])
    let namespace = try Namespace()
    let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-e2e-\(UUID().uuidString).pcap")
    defer { try? FileManager.default.removeItem(at: pcap) }
    let guest = try Guest(namespace, example: "ping", parameters: ["--pcap=\(pcap.path)"], readyLine: "answering ARP")
    let ping = try namespace.exec(["ping", "-c", "5", "-i", "0.05", "-W", "2", namespace.guestAddress])
    XCTAssertEqual(ping.status, 0, ping.output)
    guest.stop()
    let dump = try runCommand(["tcpdump", "-n", "-r", pcap.path], timeout: 30)
    XCTAssertEqual(dump.status, 0, dump.error)
    let lines = dump.output.split(separator: "\n")
    XCTAssertEqual(lines.filter { $0.contains("ICMP echo request") }.count, 5, dump.output)
    XCTAssertEqual(lines.filter { $0.contains("ICMP echo reply") }.count, 5, dump.output)
    XCTAssertTrue(lines.contains { $0.contains("ARP, Request who-has 10.0.0.2 tell 10.0.0.2") }, "no gratuitous ARP:\n\(dump.output)")
  }

  /// --pcap and --fault-loss together: the pcap writer records the wire (every request
  /// Linux sent arrives there), the fault injector above it loses frames both ways, so the
  /// pcap holds fewer replies than requests, and exactly the replies ping received.
  func testPcapRecordsTheWireUnderFaultInjection() throws {
    try requireTools([("tcpdump", "tcpdump")])
    let namespace = try Namespace()
    let pcap = try TemporaryFile()
    let guest = try Guest(
      namespace, example: "ping", parameters: ["--pcap=\(pcap.url.path)", "--fault-loss=300"], readyLine: "answering ARP")
    let ping = try namespace.exec(["ping", "-c", "20", "-i", "0.1", "-W", "1", namespace.guestAddress], timeout: 60)
    let log = guest.stop()
    XCTAssertTrue(log.contains("fault injection on: loss 300"), log)
    let received = try XCTUnwrap(
      ping.output.split(separator: "\n").first { $0.contains("packets transmitted") }.flatMap {
        $0.split(separator: ",").dropFirst().first?.split(separator: " ").first.flatMap { Int($0) }
      }, ping.output)
    let dump = try runCommand(["tcpdump", "-n", "-r", pcap.url.path], timeout: 30)
    XCTAssertEqual(dump.status, 0, dump.error)
    let lines = dump.output.split(separator: "\n")
    let requests = lines.filter { $0.contains("ICMP echo request") }.count
    let replies = lines.filter { $0.contains("ICMP echo reply") }.count
    XCTAssertEqual(replies, received, "the pcap's replies are those that reached Linux:\n\(ping.output)\n\(dump.output)")
    XCTAssertGreaterThan(requests, replies, "30% loss each way lost no echo:\n\(dump.output)")
  }

  /// A guest with two network devices on two TAPs: each answers ARP and ping for its own
  /// address on its own TAP (the second device's address from `--uplink-ipv4`).
  func testTwoNetworkDevicesAnswerEachOnItsOwnTAP() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      for command in [["tuntap", "add", "tap1", "mode", "tap"], ["addr", "add", "10.1.0.1/24", "dev", "tap1"], ["link", "set", "tap1", "up"]] {
        let outcome = try runCommand(["ip", "-n", namespace.name] + command, timeout: 10)
        XCTAssertEqual(outcome.status, 0, outcome.error)
      }
      let guest = try Guest(
        namespace, application: Paths.testGuest("two-links"), target: target, devices: ["--net:service=tap0", "--net:uplink=tap1"],
        parameters: ["--uplink-ipv4=10.1.0.2/24"], readyLine: "answering on 10.0.0.2 and 10.1.0.2")
      for (address, tap) in [(namespace.guestAddress, "tap0"), ("10.1.0.2", "tap1")] {
        let ping = try namespace.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", address])
        XCTAssertEqual(ping.status, 0, "\(target): ping \(address): \(ping.output)\(ping.error)")
        let neighbour = try namespace.exec(["ip", "neigh", "show", address, "dev", tap])
        XCTAssertTrue(neighbour.output.contains("lladdr"), "\(target): \(address) not resolved on \(tap): \(neighbour.output)")
      }
      let first = try namespace.exec(["ip", "neigh", "show", namespace.guestAddress]).output
      let second = try namespace.exec(["ip", "neigh", "show", "10.1.0.2"]).output
      XCTAssertNotEqual(
        first.split(separator: " ").drop { $0 != "lladdr" }.dropFirst().first,
        second.split(separator: " ").drop { $0 != "lladdr" }.dropFirst().first, "\(target): one MAC for both devices")
      guest.stop()
    }
  }

  /// --net-mac sets the device's MAC: Linux's neighbour table shows it after a ping.
  func testMACAddressOption() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(
        namespace, example: "ping", target: target, devices: ["--net:service=tap0", "--net-mac:service=02:00:00:00:00:42"],
        readyLine: "answering ARP")
      XCTAssertEqual(try namespace.exec(["ping", "-c", "1", "-W", "2", namespace.guestAddress]).status, 0, target)
      let neighbours = try namespace.exec(["ip", "neigh", "show", namespace.guestAddress])
      XCTAssertTrue(neighbours.output.contains("02:00:00:00:00:42"), "\(target): \(neighbours.output)" + guest.stop())
    }
  }

  /// `--io-uring` on unix and spt: the unikernel's process holds an io_uring, answers 500
  /// echo requests without loss through it, and sleeps in it when idle; without the option
  /// (outside Scripts/test's ring pass, which adds it everywhere) there is no ring. On unix
  /// the host's sockets are refused with it: they do not go through a ring.
  func testIORingCarriesTheFramesOnlyWhenAsked() throws {
    func rings(_ pid: pid_t) -> Int {
      let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
      return descriptors.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == "anon_inode:[io_uring]" }.count
    }
    func cpuTicks(_ pid: pid_t) throws -> Int {
      let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
      let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
      return Int(fields[11])! + Int(fields[12])!
    }
    for target in Examples.targets where Examples.siroccoTender(target, checks: "--io-uring") {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "ping", target: target, devices: ["--net:service=tap0", "--io-uring"], readyLine: "answering ARP")
      let pid = guest.unikernelProcess(target: target)
      XCTAssertEqual(rings(pid), 1, "\(target): the unikernel holds no io_uring")
      let outcome = try namespace.exec(["ping", "-q", "-c", "500", "-i", "0.001", "-s", "1400", "-W", "2", namespace.guestAddress], timeout: 60)
      XCTAssertTrue(outcome.output.contains("500 packets transmitted, 500 received, 0% packet loss"), "\(target): \(outcome.output)")
      let before = try cpuTicks(pid)
      sleep(1)
      let used = try cpuTicks(pid) - before
      XCTAssertLessThanOrEqual(used, 3, "\(target): the idle unikernel used \(used) clock ticks in 1 s on the ring")
      guest.stop()
      guard !Examples.ringPass else { continue }
      let plain = try Guest(namespace, example: "ping", target: target, readyLine: "answering ARP")
      XCTAssertEqual(rings(plain.unikernelProcess(target: target)), 0, "\(target): an io_uring without --io-uring")
      plain.stop()
    }
    let sockets = try runCommand(
      [Paths.example("ping") + "/_build/unix/ping", "--net-socket:service=127.0.0.1", "--io-uring"], timeout: 10)
    XCTAssertEqual(sockets.status, 2, sockets.error)
    XCTAssertTrue(sockets.error.contains("--io-uring: the host's sockets (--net-socket) do not go through an io_uring"), sockets.error)
  }

  /// A guest address set with --ipv4 answers; the default one then does not.
  func testIPv4Parameter() throws {
    let namespace = try Namespace()
    let guest = try Guest(namespace, example: "ping", parameters: ["--ipv4=10.0.0.77/24"], readyLine: "answering ARP")
    XCTAssertEqual(try namespace.exec(["ping", "-c", "2", "-i", "0.1", "-W", "2", "10.0.0.77"]).status, 0, guest.stop())
    XCTAssertNotEqual(try namespace.exec(["ping", "-c", "1", "-W", "1", namespace.guestAddress]).status, 0)
  }

  /// An idle unikernel sleeps in epoll: over two idle seconds it uses almost no CPU time
  /// (busy polling would use all 200 ticks).
  func testIdleUnikernelDoesNotSpin() throws {
    let tender = Examples.otherSPTTender.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "sirocco-spt"
    for (target, command) in [("unix", "ping"), ("spt", String(tender.prefix(15)))] {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "ping", target: target, readyLine: "answering ARP")
      let pid = guest.unikernelProcess(target: target)
      func cpuTicks() throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!  // utime + stime (fields 14 and 15 of stat)
      }
      let comm = try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
      XCTAssertEqual(comm.trimmingCharacters(in: .whitespacesAndNewlines), command, "not the unikernel's process")
      let before = try cpuTicks()
      sleep(2)
      let used = try cpuTicks() - before
      XCTAssertLessThanOrEqual(used, 5, "\(target): the idle unikernel used \(used) clock ticks in 2 s")
    }
  }
}
