// The virtio target under QEMU (TCG here: this machine's /dev/kvm cannot run SSE code): PVH
// boot to the application and its exit status, boot parameters and the error contract, CPU
// exceptions reported with the function's name, and an idle guest that costs the host
// nothing.

import Foundation
@testable import sirocco
import XCTest

final class VirtioTests: XCTestCase {
  nonisolated(unsafe) static var machineBuilt = false

  override func setUpWithError() throws {
    try requireTools([("qemu-system-x86_64", "qemu-system-x86")])
    if !Self.machineBuilt {
      for guest in [Paths.example("hello"), Paths.testGuest("machine"), Paths.example("ping")] {
        let outcome = try runCommand([Paths.tool, "build", "--target", "virtio", guest], timeout: 900)
        XCTAssertEqual(outcome.status, 0, outcome.error)
      }
      Self.machineBuilt = true
    }
  }

  func run(_ guest: String, _ parameters: [String], machine: String = "microvm", timeout: TimeInterval = 120) throws -> Outcome {
    try runCommand(
      [Paths.tool, "run", "--target", "virtio", "--accelerator", "tcg", "--machine", machine, guest, "--"] + parameters,
      timeout: timeout)
  }

  func machine(_ parameters: [String]) throws -> Outcome { try run(Paths.testGuest("machine"), parameters) }

  func testHelloBootsAndPrintsItsParametersOnTheSerialConsole() throws {
    for machine in ["microvm", "q35"] {
      let outcome = try run(Paths.example("hello"), ["--greeting=hello-from-a-VM"], machine: machine)
      XCTAssertEqual(outcome.status, 0, "\(machine): \(outcome.output)\(outcome.error)")
      try checkHello(outcome)
    }
  }

  func checkHello(_ outcome: Outcome) throws {
    let lines = outcome.output.split(separator: "\n")
    XCTAssertEqual(lines.first, "hello-from-a-VM", outcome.output)
    XCTAssertTrue(lines.contains("target: virtio"), outcome.output)
    XCTAssertTrue(lines.contains("boot parameters: --log-level=info --greeting=hello-from-a-VM"), outcome.output)
    // The CMOS clock: within a minute of the host's.
    let clock = try XCTUnwrap(lines.first { $0.hasPrefix("wall clock: ") }).dropFirst("wall clock: ".count)
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    let guestTime = try XCTUnwrap(formatter.date(from: String(clock)), String(clock))
    XCTAssertLessThan(abs(guestTime.timeIntervalSinceNow), 60, "guest \(clock), host \(Date())")
  }

  func testTheGuestsExitStatusIsTheTools() throws {
    for (status, expected) in [(0, 0), (3, 3), (125, 125), (126, 255), (200, 255)] {
      let outcome = try machine(["--status=\(status)"])
      XCTAssertEqual(outcome.status, Int32(expected), "--status=\(status): \(outcome.error)")
      XCTAssertEqual(outcome.output.split(separator: "\n").last?.hasPrefix("sirocco: exit status"), expected == 255,
                     outcome.output)
    }
  }

  func testBadBootParametersExit2WithOneLine() throws {
    let spaced = try run(Paths.example("hello"), ["--greeting=two words"])
    XCTAssertEqual(spaced.status, 2, spaced.error)
    XCTAssertEqual(spaced.errorLines.last, "sirocco: boot parameter '--greeting=two words' contains a space: the VM's command line is split at spaces")
    let outcome = try run(Paths.example("hello"), ["--colour=blue"])
    XCTAssertEqual(outcome.status, 2, outcome.output + outcome.error)
    // A VM has one output, the serial console: the line is there, alone.
    XCTAssertEqual(outcome.output.split(separator: "\n"), ["hello: unknown boot parameter '--colour' (run with --help for the list)"], outcome.output)
  }

  func testCPUExceptionsAreReportedWithTheFunctionAndExit255() throws {
    for (misdeed, report) in [
      ("null", "sirocco: guest trap: page fault at address 0x8 (read, not mapped), vector 14, rip 0x"),
      ("precondition", "sirocco: guest trap: invalid opcode (ud2: a Swift runtime check failed, e.g. precondition, bounds or overflow), vector 6, rip 0x"),
      ("recurse", "sirocco: guest trap: page fault (stack overflow) at address 0x"),
      ("write-text", "sirocco: guest trap: page fault at address 0x"),
      ("execute-data", "sirocco: guest trap: page fault at address 0x"),
    ] {
      let outcome = try machine(["--do=\(misdeed)"])
      XCTAssertEqual(outcome.status, 255, "\(misdeed): \(outcome.output)\(outcome.error)")
      let lines = outcome.output.split(separator: "\n")
      guard lines.count == 3 else { return XCTFail("\(misdeed): \(outcome.output)") }
      XCTAssertEqual(lines[0], "machine: \(misdeed)")
      XCTAssertTrue(lines[1].hasPrefix(report), "\(misdeed): \(lines[1])")
      XCTAssertEqual(lines[2], "sirocco: exit status 255")
      switch misdeed {
      case "recurse": XCTAssertTrue(lines[1].contains(" in static Machine.recurse(_:) + 0x"), String(lines[1]))
      case "execute-data": XCTAssertTrue(lines[1].contains("(instruction fetch, not permitted)"), String(lines[1]))
      case "write-text": XCTAssertTrue(lines[1].contains("(write, not permitted)"), String(lines[1]))
      default: XCTAssertTrue(lines[1].contains(" in Machine.init(boot:) + 0x"), String(lines[1]))
      }
    }
  }

  /// Five seconds asleep cost QEMU (run as `sirocco run` runs it, without the tool's own
  /// build checks around it) less than half a second of CPU: the CPU halts between timer
  /// interrupts.
  func testAnIdleGuestUsesNoHostCPU() throws {
    var invocation = QEMUInvocation(image: Paths.testGuest("machine") + "/_build/virtio/machine.virtio")
    invocation.bootParameters = ["--sleeps=5", "--sleep-ms=1000"]
    func seconds(_ usage: rusage) -> Double {
      Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
    var before = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &before)
    let started = Date()
    let outcome = try runCommand(["qemu-system-x86_64"] + invocation.arguments, timeout: 60)
    let elapsed = Date().timeIntervalSince(started)
    var after = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &after)
    XCTAssertEqual(QEMUInvocation.guestStatus(qemuStatus: outcome.status).status, 0, outcome.output + outcome.error)
    XCTAssertEqual(outcome.output.split(separator: "\n").filter { $0.hasPrefix("woke after sleep") }.count, 5, outcome.output)
    XCTAssertGreaterThanOrEqual(elapsed, 5, "the sleeps lasted their time")
    XCTAssertLessThan(seconds(after) - seconds(before), 0.5, "5 s asleep in \(elapsed) s")
  }

  func testHelloImageIsAtMost64KiBAndInspectShowsItsPVHEntry() throws {
    try requireTools([("strip", "binutils")])
    let image = Paths.example("hello") + "/_build/virtio/hello.virtio"
    let stripped = try TemporaryFile()
    let strip = try runCommand(["strip", "-o", stripped.url.path, image])
    XCTAssertEqual(strip.status, 0, strip.error)
    let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: stripped.url.path)[.size] as? Int)
    XCTAssertLessThanOrEqual(size, 65536, "hello.virtio is \(size) bytes stripped")
    let symbols = try runCommand(["nm", image])
    XCTAssertFalse(symbols.output.contains("UTF16View"), "hello.virtio links String's UTF-16 index code")
    let inspect = try runCommand([Paths.tool, "inspect", image])
    XCTAssertEqual(inspect.status, 0, inspect.error)
    XCTAssertEqual(inspect.output, """
      abi: target virtio, version 2
      entry: 0x100000
      pvh entry: 0x100000 (boots by PVH: QEMU -kernel, Firecracker)
      manifest: 0 devices

      """)
  }

  /// Examples/ping under QEMU microvm, its virtio-net device on a TAP in a namespace: a
  /// thousand echo requests of 56 and of 1400 bytes, none lost.
  func testPingAnswersOverVirtioNet() throws {
    try requireNamespaces()
    let namespace = try Namespace()
    let guest = try Guest(namespace, example: "ping", target: "virtio", readyLine: "answering ARP and ICMP echo")
    for size in [56, 1400] {
      let outcome = try namespace.exec(
        ["ping", "-q", "-c", "1000", "-i", "0.001", "-s", "\(size)", "-W", "2", namespace.guestAddress], timeout: 120)
      XCTAssertTrue(outcome.output.contains("1000 packets transmitted, 1000 received, 0% packet loss"),
                    "ping -s \(size): \(outcome.output)\(outcome.error)\n\(guest.stop())")
    }
    guest.stop()
  }

  func testNetworkDevicesMustBeAttachedByName() throws {
    let unattached = try runCommand([Paths.tool, "run", "--target", "virtio", Paths.example("ping")], timeout: 600)
    XCTAssertEqual(unattached.status, 2, unattached.error)
    XCTAssertEqual(unattached.errorLines.last, "sirocco: network device 'service' is not attached: expected --net:service=TAP")
    let unknown = try runCommand(
      [Paths.tool, "run", "--target", "virtio", Paths.example("ping"), "--net:service=lo", "--net:uplink=lo"], timeout: 600)
    XCTAssertEqual(unknown.status, 2, unknown.error)
    XCTAssertEqual(unknown.errorLines.last, "sirocco: --net:uplink=lo: the application declares no network device 'uplink'")
    let missing = try runCommand([Paths.tool, "run", "--target", "virtio", Paths.example("ping"), "--net:service=nosuchtap0"], timeout: 600)
    XCTAssertEqual(missing.status, 2, missing.error)
    XCTAssertEqual(missing.errorLines.last,
                   "sirocco: --net:service=nosuchtap0: no network interface 'nosuchtap0': expected an existing TAP interface")
  }

  func testQEMUStatusesMapBackToTheGuests() {
    XCTAssertEqual(QEMUInvocation.guestStatus(qemuStatus: 3).status, 0)
    XCTAssertEqual(QEMUInvocation.guestStatus(qemuStatus: 5).status, 1)
    XCTAssertEqual(QEMUInvocation.guestStatus(qemuStatus: 253).status, 125)
    XCTAssertEqual(QEMUInvocation.guestStatus(qemuStatus: 255).status, 255)
    XCTAssertNotNil(QEMUInvocation.guestStatus(qemuStatus: 1).problem, "QEMU's own failure is never a guest's 0")
    XCTAssertEqual(QEMUInvocation.guestStatus(qemuStatus: 1).status, 1)
    XCTAssertEqual(QEMUInvocation.guestStatus(qemuStatus: 0).status, 255, "a triple fault")
  }
}
