// Raw network devices: a guest that declares its devices raw (Tests/Guests/repeater) gets
// their Ethernet frames and the stack none. It repeats frames between two TAPs that end in
// two namespaces, so Linux in one pings Linux in the other through the unikernel; with
// IPv4 dropped by the application, ARP still crosses and ping does not; 20 MB of TCP cross
// hash-verified (on unix the TAPs have offloads: `Boot.rawNetwork`'s `FinishedFrames` cuts
// the kernel's 64 KiB segments for the repeater's plain `receive`). A raw device on the
// host's sockets, or with spt's offloads asked for in an application that does not forward
// (`Unikernel.forwardsPackets`), is refused with one line and status 2; `sirocco run` asks
// for none on spt when a device is raw.

import Foundation
import XCTest

final class RawFramesTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat"), ("sha256sum", "coreutils")])
  }

  /// Runs the repeater between `near`'s tap0 (10.0.0.1) and a tap1 that, once the guest
  /// holds it, moves to `far` with 10.0.0.3; gives it back to `near` after.
  func withRepeater(
    target: String, parameters: [String], near: Namespace, far: Namespace, _ body: (Guest) throws -> Void
  ) throws {
    let guest = try Guest(
      near, application: Paths.testGuest("repeater"), target: target, devices: ["--net:left=tap0", "--net:right=tap1"],
      parameters: parameters, readyLine: "repeating between", addressed: false)
    for command in [
      ["ip", "-n", near.name, "link", "set", "tap1", "netns", far.name],
      ["ip", "-n", far.name, "addr", "add", "10.0.0.3/24", "dev", "tap1"],
      ["ip", "-n", far.name, "link", "set", "tap1", "up"],
    ] {
      let outcome = try runCommand(command, timeout: 10)
      XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.error)")
    }
    defer {
      guest.stop()
      _ = try? runCommand(["ip", "-n", far.name, "link", "set", "tap1", "netns", near.name], timeout: 10)
      _ = try? runCommand(["ip", "-n", near.name, "link", "set", "tap1", "up"], timeout: 10)
    }
    try body(guest)
  }

  func testARepeaterOfRawFramesJoinsTwoNamespaces() throws {
    for target in Examples.targets {
      let near = try Namespace()
      let far = try Namespace()
      // The far namespace keeps only the TAP it is given.
      for command in [["ip", "-n", far.name, "link", "del", "tap0"], ["ip", "-n", near.name, "tuntap", "add", "tap1", "mode", "tap"],
                      ["ip", "-n", near.name, "link", "set", "tap1", "up"]] {
        let outcome = try runCommand(command, timeout: 10)
        XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.error)")
      }
      try withRepeater(target: target, parameters: [], near: near, far: far) { guest in
        XCTAssertTrue(try near.waitForPing("10.0.0.3"), "\(target): no reply through the repeater: \(guest.stop())")
        // `sirocco run` gives spt's devices offloads by default, but not a raw device's.
        if target == "spt" { XCTAssertFalse(guest.tenderArguments.contains("--net-offload"), "\(guest.tenderArguments)") }
        let ping = try near.exec(["ping", "-q", "-c", "20", "-i", "0.05", "-s", "1400", "-W", "2", "10.0.0.3"], timeout: 30)
        XCTAssertTrue(ping.output.contains("20 received"), "\(target): \(ping.output)\(ping.error)")
        let back = try far.exec(["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.1"], timeout: 30)
        XCTAssertEqual(back.status, 0, "\(target): far -> near: \(back.output)")
        // The stack has no link on a raw device: nothing answers for an address of its own.
        let log = guest.output.contents
        XCTAssertTrue(log.contains("left: ") && log.contains(" raw"), "\(target): \(log)")
        XCTAssertFalse(log.contains("dhcp") || log.contains("fe80::"), "\(target): a link was made on a raw device: \(log)")
        // TCP: on unix the sender's kernel hands over segments of up to 64 KiB, which
        // FinishedFrames cuts for the repeater's plain receive.
        try near.sendAcross(bytes: 20_000_000, to: far, address: "10.0.0.3", label: "\(target): TCP")
      }
      try withRepeater(target: target, parameters: ["--drop-ipv4=true"], near: near, far: far) { guest in
        let ping = try near.exec(["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.3"], timeout: 30)
        XCTAssertNotEqual(ping.status, 0, "\(target): IPv4 crossed an application that drops it")
        let neighbour = try near.exec(["ip", "neigh", "show", "10.0.0.3", "dev", "tap0"]).output
        XCTAssertTrue(neighbour.contains("lladdr"), "\(target): ARP did not cross: \(neighbour)\n\(guest.stop())")
      }
    }
  }

  func testRawDevicesRefuseTheHostsSocketsAndSPTOffloadsUnlessTheApplicationForwards() throws {
    let namespace = try Namespace()
    for command in [["tuntap", "add", "tap1", "mode", "tap"], ["link", "set", "tap1", "up"]] {
      let outcome = try runCommand(["ip", "-n", namespace.name] + command, timeout: 10)
      XCTAssertEqual(outcome.status, 0, outcome.error)
    }
    for (target, devices, fragment) in [
      ("unix", ["--net-socket:left=127.0.0.1", "--net-socket:right=127.0.0.1"],
       "--net-socket:left: network device 'left' is declared raw: expected a TAP (--net:left=TAP)"),
      ("spt", ["--net:left=tap0", "--net:right=tap1", "--net-offload"],
       "network device 'left' is declared raw: expected plain frames (run the tender without --net-offload)"),
    ] where Examples.siroccoTender(target, checks: "the tender's refusal of --net-offload for a raw device") {
      XCTAssertThrowsError(
        try Guest(
          namespace, application: Paths.testGuest("repeater"), target: target, devices: devices, parameters: [],
          readyLine: "repeating between", addressed: false)
      ) { error in
        let text = "\(error)"
        XCTAssertTrue(text.contains("guest exited (2)"), "\(target): \(text)")
        XCTAssertTrue(text.contains(fragment), "\(target): \(text)")
      }
    }
  }
}
