// One error contract on every target: a bad boot parameter, an unknown or unattached device
// and every bad block option exit 2 with one line on standard error, on unix and on spt,
// through `sirocco run` and through the unikernel or the spt tender directly.

import Foundation
import XCTest

final class ErrorContractTests: XCTestCase {
  override func setUpWithError() throws {
    try Examples.buildAll()
  }

  /// The ways to start an example, each a command line before its device options and
  /// boot parameters are added.
  enum Launcher: CaseIterable {
    case toolUnix, toolSPT, unikernel, tender

    /// `devices` then `parameters`, as this launcher takes them.
    func command(_ example: String, devices: [String], parameters: [String]) -> [String] {
      switch self {
      case .toolUnix: [Paths.tool, "run", "--target", "unix", Paths.example(example)] + devices + ["--"] + parameters
      case .toolSPT: [Paths.tool, "run", "--target", "spt", Paths.example(example)] + devices + ["--"] + parameters
      case .unikernel: [Paths.example(example) + "/_build/unix/" + example] + devices + parameters
      case .tender: [Paths.tender] + devices + [Paths.example(example) + "/_build/spt/" + example + ".spt"] + parameters
      }
    }
  }

  /// Exit 2, nothing on standard output, and one line on standard error (after the tool's
  /// build progress) containing every fragment. `guestSide`: the guest refuses it, not the
  /// tender; under another spt tender (Solo5's, `SIROCCO_SPT_TENDER`) `sirocco run`'s spt
  /// refusals are then checked on standard output, that tender's one console for the guest,
  /// and the tender's own refusals are its own (left unchecked).
  func assertUsageError(_ launcher: Launcher, _ example: String, devices: [String] = [], parameters: [String] = [],
                        mentions fragments: [String], guestSide: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
    let siroccoTender = launcher != .toolSPT || Examples.siroccoTender("spt", checks: guestSide
      ? "\(parameters): the guest's refusal on standard error (checked on standard output, the tender's one console)"
      : "\(devices) \(parameters): the tender's refusal (its own wording and exit status)")
    guard siroccoTender || guestSide else { return }
    let outcome = try runCommand(launcher.command(example, devices: devices, parameters: parameters), timeout: 300)
    let label = "\(launcher) \(devices) \(parameters)"
    XCTAssertFalse(outcome.signaled, label, file: file, line: line)
    XCTAssertEqual(outcome.status, 2, "\(label): \(outcome.output)\(outcome.error)", file: file, line: line)
    let errors = outcome.diagnosticLines
    let (stream, lines, other) = siroccoTender ? (outcome.error, errors, outcome.output) : (outcome.output, outcome.outputLines, errors.joined())
    XCTAssertEqual(other, "", "\(label): the other stream", file: file, line: line)
    XCTAssertEqual(lines.count, 1, "\(label): expected one line, got: \(stream)", file: file, line: line)
    for fragment in fragments {
      XCTAssertTrue(stream.contains(fragment), "\(label): '\(fragment)' missing from: \(stream)", file: file, line: line)
    }
  }

  func testBadBootParameterOnEveryTarget() throws {
    for launcher in Launcher.allCases {
      try assertUsageError(launcher, "hello", parameters: ["--colour=blue"], mentions: ["unknown boot parameter '--colour'"], guestSide: true)
      try assertUsageError(launcher, "hello", parameters: ["stray"], mentions: ["unexpected argument 'stray'"], guestSide: true)
    }
  }

  func testUnattachedAndUnknownDevicesOnEveryTarget() throws {
    for launcher in Launcher.allCases {
      try assertUsageError(launcher, "ping", mentions: ["network device 'service' is declared but not attached", "--net:service=TAP"])
      try assertUsageError(launcher, "hello", devices: ["--net:service=tap0"], mentions: ["declares no network device 'service'", "(none)"])
    }
  }

  /// Every bad `--block:`/`--block-sector-size:` path on every launcher.
  func testBadBlockOptionsOnEveryTarget() throws {
    let ragged = try TemporaryFile()  // not a whole number of sectors
    try Data(count: 1000).write(to: ragged.url)
    let empty = try TemporaryFile()
    let disk = try TemporaryFile()
    try disk.handle.truncate(atOffset: 65536)
    let good = "--block:storage=\(disk.url.path)"
    for launcher in Launcher.allCases {
      try assertUsageError(launcher, "block-test", devices: ["--block:storage=/nonexistent/disk.img"],
                           mentions: ["'/nonexistent/disk.img'", "No such file or directory"])
      try assertUsageError(launcher, "block-test", devices: ["--block:storage=\(ragged.url.path)"],
                           mentions: ["1000 bytes", "not a whole non-zero number of 512-byte sectors"])
      try assertUsageError(launcher, "block-test", devices: ["--block:storage=\(empty.url.path)"],
                           mentions: ["0 bytes", "not a whole non-zero number of 512-byte sectors"])
      for size in ["256", "65536", "131072", "3000", "big", ""] {
        try assertUsageError(launcher, "block-test", devices: [good, "--block-sector-size:storage=\(size)"],
                             mentions: ["bad sector size '\(size)'", "expected a power of two from 512 to 32768"])
      }
      try assertUsageError(launcher, "block-test", devices: ["--block:storage=\(ragged.url.path)", "--block-sector-size:storage=4096"],
                           mentions: ["1000 bytes", "not a whole non-zero number of 4096-byte sectors"])
      try assertUsageError(launcher, "block-test", mentions: ["block device 'storage' is declared but not attached", "--block:storage=FILE"])
      try assertUsageError(launcher, "block-test", devices: [good, "--block-sector-size:other=512"],
                           mentions: ["--block-sector-size:other", "block device 'other' is not attached"])
      try assertUsageError(launcher, "block-test", devices: [good, "--block:disk=\(disk.url.path)"],
                           mentions: ["declares no block device 'disk'", "expected one of: storage"])
      try assertUsageError(launcher, "block-test", devices: [good, good], mentions: ["block device 'storage' attached twice"])
      try assertUsageError(launcher, "block-test", devices: ["--block:storage="], mentions: ["expected --block:storage=FILE"])
    }
  }

  /// A block file its user may not open: the unikernel and the tender run as nobody.
  func testUnreadableBlockFileOnEveryTarget() throws {
    guard getuid() == 0 else { throw missing("running as another user needs root (setpriv)") }
    try requireTools([("setpriv", "util-linux")])
    let locked = try TemporaryFile()
    try locked.handle.truncate(atOffset: 65536)
    try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: locked.url.path)
    for launcher in [Launcher.unikernel, .tender] {
      let command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        + launcher.command("block-test", devices: ["--block:storage=\(locked.url.path)"], parameters: [])
      let outcome = try runCommand(command, timeout: 60)
      XCTAssertEqual(outcome.status, 2, "\(launcher): \(outcome.output)\(outcome.error)")
      XCTAssertEqual(outcome.errorLines.count, 1, "\(launcher): \(outcome.error)")
      XCTAssertTrue(outcome.error.contains("Permission denied"), "\(launcher): \(outcome.error)")
    }
  }

  /// The tool, the unix platform and the tender hold device options to one set of limits.
  func testDeviceOptionLimitsAgree() throws {
    let disk = try TemporaryFile()
    try disk.handle.truncate(atOffset: 65536)
    for launcher in [Launcher.toolUnix, .unikernel, .tender] {
      try assertUsageError(launcher, "ping", devices: ["--net:service=tap0", "--net-mac:service=01:00:5e:00:00:01"],
                           mentions: ["bad MAC address '01:00:5e:00:00:01'", "expected a unicast address"])
      try assertUsageError(launcher, "ping", devices: ["--net:service=a-very-long-tap-name0"],
                           mentions: ["bad TAP interface name", "expected 1-15 characters"])
      try assertUsageError(launcher, "ping", devices: ["--net:service=tap0", "--net-mac:uplink=02:00:00:00:00:01"],
                           mentions: ["network device 'uplink' is not attached"])
    }
  }

  /// A TAP device whose MTU is below the 576 bytes IPv4 needs is refused with one line, on
  /// both targets (on spt by the guest, which reads the MTU the tender put in its manifest).
  func testSmallMTUIsRefused() throws {
    try requireNamespaces()
    let namespace = try Namespace()
    let lowered = try namespace.exec(["ip", "link", "set", "tap0", "mtu", "500"])
    XCTAssertEqual(lowered.status, 0, lowered.error)
    for (launcher, fragment) in [(Launcher.unikernel, "its MTU is 500: expected at least 576"), (.tender, "has an MTU of 500: expected at least 576")] {
      let outcome = try namespace.exec(launcher.command("ping", devices: ["--net:service=tap0"], parameters: []))
      XCTAssertFalse(outcome.signaled, "\(launcher)")
      XCTAssertEqual(outcome.status, 2, "\(launcher): \(outcome.output)\(outcome.error)")
      XCTAssertEqual(outcome.errorLines.count, 1, "\(launcher): \(outcome.error)")
      XCTAssertTrue(outcome.error.contains(fragment), "\(launcher): \(outcome.error)")
    }
  }
}
