// Examples/dhcp-server against Linux's DHCP clients in a namespace: busybox udhcpc, ISC
// dhclient and dhcpcd take leases from it (a static lease by hardware address, the pool in
// order, the pool running out), dhclient releases its lease, and the options offered reach
// the client (dhcpcd configures the address and the default route it was given).

import Foundation
import XCTest

final class DHCPServerEndToEndTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("udhcpc", "udhcpc"), ("dhclient", "isc-dhcp-client"), ("dhcpcd", "dhcpcd-base")])
    try Examples.buildAll()
  }

  func testLinuxClientsTakeLeasesStaticPoolAndExhaustion() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let mac = try namespace.exec(["cat", "/sys/class/net/tap0/address"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
      var guest = try Guest(namespace, example: "dhcp-server", target: target,
                            parameters: ["--ipv4=10.0.0.2/24", "--pool=10.0.0.100-10.0.0.101", "--routers=10.0.0.1",
                                         "--dns-servers=10.0.0.53", "--lease-time=600"],
                            readyLine: "serving DHCP")
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      XCTAssertEqual(try namespace.exec(["ip", "addr", "flush", "dev", "tap0"]).status, 0)
      func udhcpc(_ extra: [String] = []) throws -> String {
        let outcome = try namespace.exec(["timeout", "30", "udhcpc", "-i", "tap0", "-n", "-q", "-f", "-s", "/bin/true", "-t", "3", "-T", "1"] + extra,
                                         timeout: 40)
        return outcome.output + outcome.error
      }
      // udhcpc (client identifier 01 and the hardware address): the pool's first address.
      let first = try udhcpc()
      XCTAssertTrue(first.contains("lease of 10.0.0.100 obtained from 10.0.0.2, lease time 600"), "\(target): \(first)")
      // dhcpcd (its DUID as client identifier: another client): the second address; it
      // configures the address and the default route offered.
      _ = try namespace.shell("rm -f /var/lib/dhcpcd/tap0.lease")
      let dhcpcd = try namespace.exec(["timeout", "40", "dhcpcd", "-4", "-1", "-B", "-d", "-c", "/bin/true", "--nobackground", "tap0"],
                                      timeout: 50)
      let dhcpcdOutput = dhcpcd.output + dhcpcd.error
      XCTAssertTrue(dhcpcdOutput.contains("leased 10.0.0.101 for 600 seconds"), "\(target): \(dhcpcdOutput)")
      XCTAssertTrue(dhcpcdOutput.contains("adding default route via 10.0.0.1"), dhcpcdOutput)
      XCTAssertEqual(try namespace.exec(["ip", "addr", "flush", "dev", "tap0"]).status, 0)
      _ = try namespace.exec(["ip", "route", "flush", "dev", "tap0"])
      // A third client: nothing left.
      let third = try udhcpc(["-x", "0x3d:01020000000003"])
      XCTAssertFalse(third.contains("obtained"), "the pool is exhausted: \(third)")
      // dhclient (no client identifier: known by the hardware address, as udhcpc was): the
      // same address again, then released.
      let leases = try TemporaryFile()
      let dhclient = try namespace.exec(["timeout", "30", "dhclient", "-d", "-1", "-v", "-sf", "/bin/true", "-lf", leases.url.path,
                                         "-pf", "/dev/null", "tap0"], timeout: 40)
      XCTAssertTrue((dhclient.output + dhclient.error).contains("bound to 10.0.0.100"), dhclient.output + dhclient.error)
      XCTAssertEqual(try namespace.exec(["ip", "addr", "add", "10.0.0.100/24", "dev", "tap0"]).status, 0)
      _ = try namespace.exec(["timeout", "20", "dhclient", "-r", "-v", "-sf", "/bin/true", "-lf", leases.url.path, "-pf", "/dev/null",
                              "tap0"], timeout: 30)
      usleep(500_000)
      let log = guest.stop()
      XCTAssertTrue(log.contains("released 10.0.0.100"), log)
      XCTAssertTrue(log.contains("the pool is exhausted"), log)
      // A static lease by hardware address, outside the pool.
      XCTAssertEqual(try namespace.exec(["ip", "addr", "replace", "10.0.0.1/24", "dev", "tap0"]).status, 0)
      guest = try Guest(namespace, example: "dhcp-server", target: target,
                        parameters: ["--ipv4=10.0.0.2/24", "--pool=10.0.0.100-10.0.0.101", "--static=\(mac)=10.0.0.50"],
                        readyLine: "serving DHCP")
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      XCTAssertEqual(try namespace.exec(["ip", "addr", "flush", "dev", "tap0"]).status, 0)
      let fixed = try udhcpc()
      XCTAssertTrue(fixed.contains("lease of 10.0.0.50 obtained"), "\(target): \(fixed)\(guest.stop())")
    }
  }
}
