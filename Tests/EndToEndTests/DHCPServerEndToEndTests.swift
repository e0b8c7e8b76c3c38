// Examples/dhcp-server against Linux's DHCP clients in a namespace: busybox udhcpc, ISC
// dhclient and dhcpcd take leases from it (a static lease by hardware address, the pool in
// order, the pool running out), dhclient releases its lease, and the options offered reach
// the client (dhcpcd configures the address and the default route it was given). An address
// the namespace already uses is found by the server's ARP probe and not offered; leases on
// a block device survive a restart (without one, `sirocco run` attaches a scratch file).
// Malformed messages are dropped and counted, and the server goes on serving. udhcpc renews
// its lease (by unicast, from the address it configured) and gets it extended.

import Foundation
import XCTest

final class DHCPServerEndToEndTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("udhcpc", "udhcpc"), ("dhclient", "isc-dhcp-client"), ("dhcpcd", "dhcpcd-base")])
    try Examples.buildAll()
  }

  /// busybox udhcpc on tap0 (four DISCOVERs two seconds apart): what it printed.
  static func udhcpc(in namespace: Namespace, _ extra: [String]) throws -> String {
    let outcome = try namespace.exec(["timeout", "30", "udhcpc", "-i", "tap0", "-n", "-q", "-f", "-s", "/bin/true", "-t", "4", "-T", "2"] + extra,
                                     timeout: 40)
    return outcome.output + outcome.error
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
      func udhcpc(_ extra: [String] = []) throws -> String { try Self.udhcpc(in: namespace, extra) }
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
      let third = try udhcpc(["-x", "0x3d:01020000000003", "-t", "2", "-T", "1"])
      XCTAssertFalse(third.contains("obtained"), "the pool is exhausted: \(third)")
      // dhclient (no client identifier: known by the hardware address, as udhcpc was): the
      // same address again, then released.
      // dhclient stays in the foreground (-d) once bound: stopped as soon as it says so.
      let leases = try TemporaryFile()
      let said = try TemporaryFile()
      let dhclient = try namespace.exec(
        ["timeout", "30", "sh", "-c",
         "dhclient -d -1 -v -sf /bin/true -lf \(leases.url.path) -pf /dev/null tap0 > \(said.url.path) 2>&1 & client=$!; " +
         "i=0; while [ $i -lt 250 ] && ! grep -q 'bound to' \(said.url.path); do sleep 0.1; i=$((i+1)); done; kill $client; wait $client"],
        timeout: 40)
      XCTAssertTrue(said.contents.contains("bound to 10.0.0.100"), said.contents + dhclient.error)
      XCTAssertEqual(try namespace.exec(["ip", "addr", "add", "10.0.0.100/24", "dev", "tap0"]).status, 0)
      _ = try namespace.exec(["timeout", "20", "dhclient", "-r", "-v", "-sf", "/bin/true", "-lf", leases.url.path, "-pf", "/dev/null",
                              "tap0"], timeout: 30)
      usleep(500_000)
      let log = guest.stop()
      XCTAssertTrue(log.contains("block device 'leases' not attached: a scratch file"), log)
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

  func testAnAddressInUseIsNotOfferedAndLeasesSurviveARestart() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let leases = try TemporaryFile()
      XCTAssertEqual(truncate(leases.url.path, 64 << 10), 0)
      func start() throws -> Guest {
        try Guest(namespace, example: "dhcp-server", target: target, devices: ["--net:service=tap0", "--block:leases=\(leases.url.path)"],
                  parameters: ["--ipv4=10.0.0.2/24", "--pool=10.0.0.100-10.0.0.110", "--lease-time=600"], readyLine: "serving DHCP")
      }
      var guest = try start()
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      XCTAssertTrue(guest.stop().contains("0 kept (room for 508)"))
      guest = try start()
      // The namespace holds 10.0.0.100 (configured by hand, as a host outside DHCP would):
      // it answers the probe; udhcpc is offered the next address.
      XCTAssertEqual(try namespace.exec(["ip", "addr", "add", "10.0.0.100/24", "dev", "tap0"]).status, 0)
      func udhcpc(_ extra: [String] = []) throws -> String { try Self.udhcpc(in: namespace, extra) }
      let first = try udhcpc()
      XCTAssertTrue(first.contains("lease of 10.0.0.101 obtained"), "\(target): \(first)")
      let second = try udhcpc(["-x", "0x3d:01020000000003"])
      XCTAssertTrue(second.contains("lease of 10.0.0.102 obtained"), "\(target): \(second)")
      var log = guest.stop()
      XCTAssertTrue(log.contains("10.0.0.100 is in use by"), log)
      // Restarted on the same device with 10.0.0.100 free again: both clients keep their
      // addresses (a server that forgot would offer the first one 10.0.0.100); a new client
      // gets the free 10.0.0.100.
      XCTAssertEqual(try namespace.exec(["ip", "addr", "del", "10.0.0.100/24", "dev", "tap0"]).status, 0)
      guest = try start()
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      XCTAssertTrue(try udhcpc().contains("lease of 10.0.0.101 obtained"), "\(target): \(guest.stop())")
      XCTAssertTrue(try udhcpc(["-x", "0x3d:01020000000003"]).contains("lease of 10.0.0.102 obtained"), "\(target): \(guest.stop())")
      XCTAssertTrue(try udhcpc(["-x", "0x3d:01020000000004"]).contains("lease of 10.0.0.100 obtained"), "\(target): \(guest.stop())")
      log = guest.stop()
      XCTAssertTrue(log.contains("2 kept (room for 508)"), log)
      XCTAssertFalse(log.contains("is in use by"), log)
    }
  }

  /// 64 datagrams to port 67 that are not a client's DHCP message: truncated, a bad op,
  /// hardware or magic cookie, an option past the end, no message type, a BOOTREPLY, a
  /// server's message types, an unknown type, and random bytes.
  static let malformedCorpus = """
    import random, socket, struct, sys
    def message(op=1, htype=1, hlen=6, cookie=b"\\x63\\x82\\x53\\x63", options=b"\\x35\\x01\\x01\\xff"):
        fixed = struct.pack("!BBBBIHH", op, htype, hlen, 0, 0x5151, 0, 0) + bytes(16) + bytes.fromhex("020000000077") + bytes(10)
        return (fixed + bytes(192) + cookie + options).ljust(300, b"\\0")
    good = message()
    corpus = [good[:n] for n in (0, 1, 100, 235, 239)]
    corpus += [message(op=3), message(htype=6), message(hlen=16), message(cookie=b"\\x63\\x82\\x53\\x64"),
               message(options=b"\\x35\\xc8\\x01"), message(options=b"\\x0c\\x03abc\\xff"), message(op=2, options=b"\\x35\\x01\\x02\\xff")]
    corpus += [message(options=bytes([53, 1, kind, 255])) for kind in (2, 5, 6, 19)]
    rng = random.Random(14)
    while len(corpus) < 64:
        corpus.append(bytes(rng.randrange(256) for _ in range(rng.randrange(240, 600))))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("10.0.0.1", 68))
    for datagram in corpus:
        sock.sendto(datagram, ("10.0.0.2", 67))
    print(len(corpus))
    """

  func testMalformedMessagesAreDroppedAndCounted() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "dhcp-server", target: target,
                            parameters: ["--ipv4=10.0.0.2/24", "--pool=10.0.0.100-10.0.0.110"], readyLine: "serving DHCP")
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      let sent = try namespace.exec(["python3", "-c", Self.malformedCorpus], timeout: 30)
      XCTAssertEqual(sent.output.trimmingCharacters(in: .whitespacesAndNewlines), "64", sent.error)
      XCTAssertEqual(try namespace.exec(["ip", "addr", "flush", "dev", "tap0"]).status, 0)
      let lease = try Self.udhcpc(in: namespace, [])
      XCTAssertTrue(lease.contains("lease of 10.0.0.100 obtained"), "\(target): still serving: \(lease)")
      let log = guest.stop()
      XCTAssertTrue(log.contains("dropped a malformed DHCP message (64 so far)"), "\(target): \(log)")
    }
  }

  func testUdhcpcRenewsItsLease() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "dhcp-server", target: target,
                            parameters: ["--ipv4=10.0.0.2/24", "--pool=10.0.0.100-10.0.0.110", "--lease-time=600"], readyLine: "serving DHCP")
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      XCTAssertEqual(try namespace.exec(["ip", "addr", "flush", "dev", "tap0"]).status, 0)
      // The client configures what it is given, as a real one would: a renewal is unicast
      // from that address and answered to it.
      let script = try TemporaryFile()
      try "#!/bin/sh\ncase \"$1\" in bound|renew) ip addr replace \"$ip/24\" dev \"$interface\" ;; esac\n"
        .write(to: script.url, atomically: true, encoding: .utf8)
      XCTAssertEqual(chmod(script.url.path, 0o755), 0)
      let log = try TemporaryFile()
      let client = try namespace.background(["udhcpc", "-i", "tap0", "-f", "-s", script.url.path, "-t", "4", "-T", "2"], log: log)
      defer { client.terminate() }
      func wait(for count: Int, _ text: String) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while log.contents.components(separatedBy: text).count - 1 < count, Date() < deadline { usleep(100_000) }
        return log.contents.components(separatedBy: text).count - 1 >= count
      }
      XCTAssertTrue(wait(for: 1, "lease of 10.0.0.100 obtained"), "\(target): \(log.contents)")
      // SIGUSR1: renew now (RENEWING: unicast, ciaddr set).
      XCTAssertEqual(try namespace.exec(["pkill", "-USR1", "-x", "udhcpc"]).status, 0)
      XCTAssertTrue(wait(for: 2, "lease of 10.0.0.100 obtained"), "\(target): \(log.contents)")
      XCTAssertTrue(log.contents.contains("sending renew to server 10.0.0.2"), log.contents)
      let served = guest.stop()
      // One ACK for every request the client sent: its select, its unicast renew, and a
      // broadcast renew if it missed the unicast ACK (busybox 1.35 sends the renew before it
      // opens its listening socket, so an answer within microseconds can land on the closed
      // sending socket: seen under load in CI 31).
      let requests = ["broadcasting select", "sending renew", "broadcasting renew"]
        .reduce(0) { $0 + log.contents.components(separatedBy: $1).count - 1 }
      XCTAssertGreaterThanOrEqual(requests, 2, log.contents)
      XCTAssertEqual(served.components(separatedBy: "leased 10.0.0.100 to").count - 1, requests,
                     "\(target): one ACK per request: \(served)\nclient:\n\(log.contents)")
    }
  }
}
