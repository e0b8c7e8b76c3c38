// DHCP against real servers in the test's namespace: dnsmasq (the lease taken with the
// host name, routers and DNS servers, renewed, refused with a NAK by a server that took
// over with another range, and a new one taken) on spt, and busybox udhcpd (a 12-second
// lease run out when the server goes away, then taken again when it is back) on unix.
// LinkDHCPTests.swift has the same paths frame by frame; these run them against servers.

import Foundation
import XCTest

final class DHCPEndToEndTests: XCTestCase {
  /// A line of the guest's log holding `fragment`, waited for at most `seconds` (nil: none).
  func line(in guest: Guest, containing fragment: String, after skipped: Int = 0, seconds: TimeInterval) -> String? {
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
      let lines = guest.output.contents.split(separator: "\n").dropFirst(skipped)
      if let found = lines.first(where: { $0.contains(fragment) }) { return String(found) }
      usleep(100_000)
    } while Date() < deadline
    return nil
  }

  /// The address of a "DHCP lease ADDR/PREFIX from ..." line.
  func leasedAddress(_ line: String) -> String? {
    guard let range = line.range(of: "DHCP lease ") else { return nil }
    return line[range.upperBound...].split(separator: "/").first.map(String.init)
  }

  func dnsmasq(_ namespace: Namespace, range: String, authoritative: Bool = false, leases: String, log: TemporaryFile) throws
    -> Process
  {
    try namespace.background(
      [
        "dnsmasq", "--keep-in-foreground", "--no-daemon", "--log-dhcp", "-C", "/dev/null", "--port=0", "--interface=tap0",
        "--bind-interfaces", "--dhcp-range=\(range),2m", "--dhcp-option=option:T1,3", "--dhcp-option=option:T2,100",
        "--dhcp-option=option:dns-server,10.0.0.53,10.0.0.1", "--dhcp-leasefile=\(leases)", "--pid-file=",
      ] + (authoritative ? ["--dhcp-authoritative"] : []), log: log)
  }

  /// dnsmasq leases an address (logged with its router and DNS servers, which reach the
  /// application; the host name in dnsmasq's lease file) that answers ping and is renewed
  /// every 3 s (T1); a second dnsmasq with another range replaces the first and refuses the
  /// renewal (NAK): the address leaves the link and a new one is taken from the new range.
  func testADnsmasqLeaseIsTakenRenewedRefusedAndTakenAgain() throws {
    try requireTools([("dnsmasq", "dnsmasq")])
    let namespace = try Namespace()
    let leases = try TemporaryFile()
    let firstLog = try TemporaryFile()
    let first = try dnsmasq(namespace, range: "10.0.0.50,10.0.0.59", leases: leases.url.path, log: firstLog)
    defer { if first.isRunning { first.terminate() } }
    let guest = try Guest(
      namespace, example: "ping", target: "spt", parameters: ["--dhcp", "--name=dhcp-e2e", "--ipv4-only"],
      readyLine: "answering ARP and ICMP echo")
    let lease = try XCTUnwrap(
      line(in: guest, containing: "DHCP lease 10.0.0.5", seconds: 30), "no lease in 30 s: \(firstLog.contents)\n\(guest.stop())")
    XCTAssertTrue(lease.hasSuffix("/24 from 10.0.0.1 for 120 s, router 10.0.0.1, DNS 10.0.0.53 10.0.0.1"), lease)
    let address = try XCTUnwrap(leasedAddress(lease))
    XCTAssertNotNil(
      line(in: guest, containing: "ping: answering on \(address); DNS servers 10.0.0.53 10.0.0.1", seconds: 5),
      "the application was not given the address and DNS servers: \(guest.output.contents)")
    XCTAssertTrue(leases.contents.contains("\(address) dhcp-e2e"), "host name: \(leases.contents)")
    XCTAssertTrue(try namespace.waitForPing(address), "\(address) does not answer: \(guest.output.contents)")
    XCTAssertNotNil(line(in: guest, containing: "(renewed)", seconds: 15), "not renewed: \(guest.output.contents)")

    first.terminate()
    first.waitUntilExit()
    let secondLog = try TemporaryFile()
    let second = try dnsmasq(namespace, range: "10.0.0.70,10.0.0.79", authoritative: true, leases: leases.url.path, log: secondLog)
    defer { second.terminate() }
    XCTAssertNotNil(
      line(in: guest, containing: "DHCP lease of \(address)/24 ended", seconds: 20),
      "the NAK was not honoured: \(secondLog.contents)\n\(guest.output.contents)")
    XCTAssertTrue(secondLog.contents.contains("DHCPNAK"), secondLog.contents)
    let again = try XCTUnwrap(
      line(in: guest, containing: "DHCP lease 10.0.0.7", seconds: 30), "no new lease: \(secondLog.contents)\n\(guest.stop())")
    let newAddress = try XCTUnwrap(leasedAddress(again))
    XCTAssertTrue(try namespace.waitForPing(newAddress), "\(newAddress) does not answer")
    XCTAssertNotEqual(try namespace.exec(["ping", "-c", "1", "-W", "1", address]).status, 0, "\(address) still answers")
    guest.stop()
  }

  /// udhcpd gives 12-second leases: with the server gone, renewing and rebinding fail, the
  /// address leaves the link when the lease runs out (and stops answering); with the server
  /// back, a lease is taken again.
  func testALeaseRunsOutWhenTheServerGoesAwayAndIsTakenAgain() throws {
    try requireTools([("udhcpd", "udhcpd")])
    let namespace = try Namespace()
    let leases = try TemporaryFile()
    let configuration = try TemporaryFile()
    try """
      interface tap0
      start 10.0.0.80
      end 10.0.0.90
      lease_file \(leases.url.path)
      pidfile /dev/null
      option subnet 255.255.255.0
      option router 10.0.0.1
      option dns 10.0.0.1
      option lease 12
      """.write(to: configuration.url, atomically: false, encoding: .utf8)
    let serverLog = try TemporaryFile()
    var server = try namespace.background(["udhcpd", "-f", configuration.url.path], log: serverLog)
    defer { server.terminate() }
    let guest = try Guest(
      namespace, example: "ping", target: "unix", parameters: ["--dhcp", "--ipv4-only"], readyLine: "answering ARP and ICMP echo")
    let lease = try XCTUnwrap(
      line(in: guest, containing: "DHCP lease 10.0.0.", seconds: 30), "no lease in 30 s: \(serverLog.contents)\n\(guest.stop())")
    XCTAssertTrue(lease.contains("for 12 s, router 10.0.0.1, DNS 10.0.0.1"), lease)
    let address = try XCTUnwrap(leasedAddress(lease))
    XCTAssertTrue(try namespace.waitForPing(address), "\(address) does not answer")

    server.terminate()
    server.waitUntilExit()
    let lines = guest.output.contents.split(separator: "\n").count
    XCTAssertNotNil(
      line(in: guest, containing: "DHCP lease of \(address)/24 ended", after: lines, seconds: 20),
      "the lease did not run out: \(guest.output.contents)")
    XCTAssertNotNil(line(in: guest, containing: "ping: answering on no address", after: lines, seconds: 5), guest.output.contents)
    XCTAssertNotEqual(try namespace.exec(["ping", "-c", "1", "-W", "1", address]).status, 0, "\(address) still answers")

    let ended = guest.output.contents.split(separator: "\n").count
    server = try namespace.background(["udhcpd", "-f", configuration.url.path], log: serverLog)
    let again = try XCTUnwrap(
      line(in: guest, containing: "DHCP lease 10.0.0.", after: ended, seconds: 70), "not taken again: \(serverLog.contents)\n\(guest.stop())")
    let newAddress = try XCTUnwrap(leasedAddress(again))
    XCTAssertTrue(try namespace.waitForPing(newAddress), "\(newAddress) does not answer")
    guest.stop()
  }
}
