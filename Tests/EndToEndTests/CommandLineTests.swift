// Every bad-input path of `sirocco` and of a unix unikernel: one line saying what was wrong
// and what was expected, and the documented exit status (2 for usage, 1 for failures).

import Foundation
import XCTest

final class CommandLineTests: XCTestCase {
  override func setUpWithError() throws {
    try Examples.buildAll()
  }

  func sirocco(_ arguments: [String]) throws -> Outcome {
    try runCommand([Paths.tool] + arguments, timeout: 300)
  }

  /// Exit 2 and exactly one line on standard error containing every `fragment`.
  func assertRefused(_ arguments: [String], status: Int32 = 2, mentions fragments: [String],
                     file: StaticString = #filePath, line: UInt = #line) throws {
    let outcome = try sirocco(arguments)
    XCTAssertEqual(outcome.status, status, "\(arguments): \(outcome.error)", file: file, line: line)
    let lines = outcome.diagnosticLines.filter { !$0.hasPrefix("[") && !$0.hasPrefix("Build") && !$0.hasPrefix("Building") && !$0.hasPrefix("Compiling") && !$0.hasPrefix("Write") && !$0.hasPrefix("Planning") }
    XCTAssertEqual(lines.count, 1, "expected one line, got: \(outcome.error)", file: file, line: line)
    for fragment in fragments {
      XCTAssertTrue(outcome.error.contains(fragment), "'\(fragment)' missing from: \(outcome.error)", file: file, line: line)
    }
  }

  func testHelloPrintsParametersAndClock() throws {
    for target in Examples.targets {
      let outcome = try sirocco(["run", "--target", target, Paths.example("hello"), "--", "--greeting=bonjour"])
      XCTAssertEqual(outcome.status, 0, outcome.error)
      XCTAssertTrue(outcome.output.hasPrefix("bonjour\n"), outcome.output)
      XCTAssertTrue(outcome.output.contains("target: \(target)"), outcome.output)
      XCTAssertTrue(outcome.output.contains("boot parameters: --log-level=info --greeting=bonjour"), outcome.output)
      let year = Calendar(identifier: .gregorian).component(.year, from: Date())
      XCTAssertTrue(outcome.output.contains("wall clock: \(year)-"), outcome.output)
    }
  }

  /// Examples/block-test writes, reads back and verifies every sector, on each target and
  /// with two sector sizes.
  func testBlockTestVerifiesEverySector() throws {
    for target in Examples.targets {
      for sectorSize in [512, 4096] {
        let disk = try TemporaryFile()
        try disk.handle.truncate(atOffset: 1 << 20)
        let outcome = try sirocco([
          "run", "--target", target, Paths.example("block-test"), "--block:storage=\(disk.url.path)",
          "--block-sector-size:storage=\(sectorSize)",
        ])
        XCTAssertEqual(outcome.status, 0, "\(target) \(sectorSize): \(outcome.output)\(outcome.error)")
        let sectors = (1 << 20) / sectorSize
        XCTAssertTrue(outcome.output.contains("block-test: \(sectors) sectors written, read back and verified"), outcome.output)
        // The pattern really is on the disk, not only in the guest's memory.
        let contents = try Data(contentsOf: disk.url)
        XCTAssertEqual(contents.count, 1 << 20)
        XCTAssertGreaterThan(Set(contents.prefix(4096)).count, 200, "\(target): the disk does not hold the pattern")
      }
    }
  }

  /// `sirocco build` and `sirocco run` leave nothing in the temporary directory: the build
  /// steps' own temporary files (swift build leaves empty folders) go with them. `--force`
  /// makes the build ask SwiftPM even when nothing changed.
  func testBuildAndRunLeaveNothingInTheTemporaryDirectory() throws {
    for target in Examples.targets {
      let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-e2e-tmp-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: temporary) }
      let built = try runCommand(
        [Paths.tool, "build", "--force", "--target", target, Paths.example("hello")], timeout: 600, environment: ["TMPDIR": temporary.path])
      XCTAssertEqual(built.status, 0, "\(target): \(built.error)")
      XCTAssertTrue(built.error.contains("sirocco: building the Sirocco libraries"), "\(target): swift build was not called: \(built.error)")
      let ran = try runCommand(
        [Paths.tool, "run", "--target", target, Paths.example("hello")], timeout: 600, environment: ["TMPDIR": temporary.path])
      XCTAssertEqual(ran.status, 0, "\(target): \(ran.error)")
      let left = try FileManager.default.contentsOfDirectory(atPath: temporary.path)
      XCTAssertEqual(left, [], "\(target): sirocco build and run left \(left) in TMPDIR")
    }
  }

  func testBuildPrintsArtifactPath() throws {
    let outcome = try sirocco(["build", Paths.example("hello")])
    XCTAssertEqual(outcome.status, 0, outcome.error)
    let path = outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
    XCTAssertTrue(path.hasSuffix("Examples/hello/_build/unix/hello"), path)
    XCTAssertTrue(FileManager.default.isExecutableFile(atPath: path))
  }

  func testHelpListsParametersWithTypesAndDefaults() throws {
    let outcome = try sirocco(["run", Paths.example("udp-echo"), "--", "--help"])
    XCTAssertEqual(outcome.status, 0, outcome.error)
    for fragment in [
      "--port=N", "integer 1...65535, default 7", "--ipv4=ADDR/PREFIX", "none given: DHCP", "--dhcp", "default true", "--name=HOST",
      "--ipv4-gateway=ADDR", "--log-level=VALUE", "error|warning|info|debug, default info", "--pcap=FILE",
      "--net:service=TAP",
    ] {
      XCTAssertTrue(outcome.output.contains(fragment), "'\(fragment)' missing from:\n\(outcome.output)")
    }
  }

  func testBadBootParameters() throws {
    let echo = Paths.example("udp-echo")
    let attached = ["run", echo, "--net:service=tap0", "--"]
    try assertRefused(attached + ["--port=70000"], mentions: ["--port", "70000", "expected an integer in 1...65535"])
    try assertRefused(attached + ["--port=seven"], mentions: ["--port", "expected an integer"])
    try assertRefused(attached + ["--port"], mentions: ["--port needs a value"])
    try assertRefused(attached + ["--colour=blue"], mentions: ["unknown boot parameter '--colour'"])
    try assertRefused(attached + ["--ipv4=10.0.0.300/24"], mentions: ["--ipv4", "expected an IPv4 address with a prefix length"])
    try assertRefused(attached + ["--ipv4=10.0.0.3/33"], mentions: ["--ipv4"])
    try assertRefused(attached + ["--ipv4-gateway=gateway"], mentions: ["--ipv4-gateway", "expected an IPv4 address"])
    try assertRefused(attached + ["--log-level=loud"], mentions: ["--log-level", "one of error, warning, info, debug"])
    try assertRefused(attached + ["--port=1", "--port=2"], mentions: ["--port given more than once"])
    try assertRefused(attached + ["stray"], mentions: ["unexpected argument 'stray'"])
  }

  func testBadDeviceOptions() throws {
    let ping = Paths.example("ping")
    try assertRefused(["run", ping], mentions: ["network device 'service' is declared but not attached", "--net:service=TAP"])
    try assertRefused(["run", ping, "--net:uplink=tap0"], mentions: ["no network device 'uplink'", "service"])
    try assertRefused(["run", ping, "--net:service"], mentions: ["expected --net:NAME=TAP"])
    try assertRefused(["run", ping, "--net:bad-name=tap0"], mentions: ["bad device name 'bad-name'"])
    try assertRefused(["run", ping, "--net:service=tap0", "--net:service=tap1"], mentions: ["attached twice"])
    try assertRefused(["run", ping, "--net:service=tap0", "--net-mac:service=zz"], mentions: ["bad MAC address 'zz'"])
    try assertRefused(["run", ping, "--net:service=tap0", "--net-mac:service=01:00:5e:00:00:01"], mentions: ["expected a unicast address"])
    try assertRefused(["run", Paths.example("hello"), "--net:service=tap0"], mentions: ["declares no network device 'service'", "(none)"])
    try assertRefused(["run", "--target", "virtio", ping, "--net:service=tap0", "--io-uring"],
                      mentions: ["--io-uring is for the targets on Linux system calls", "expected --target spt or unix"])
  }

  func testMissingTAPInterfaceIsRefused() throws {
    try requireNamespaces()
    let namespace = try Namespace()
    let outcome = try namespace.exec([Paths.tool, "run", Paths.example("ping"), "--net:service=nosuchtap0"])
    XCTAssertEqual(outcome.status, 2, outcome.error)
    XCTAssertTrue(outcome.error.contains("cannot attach network device 'service' to TAP interface 'nosuchtap0'"), outcome.error)
  }

  func testBadToolUsage() throws {
    try assertRefused(["build", "/nonexistent/app"], mentions: ["no such directory '/nonexistent/app'"])
    try assertRefused(["build", Paths.example("hello/Hello.swift")], mentions: ["is a file"])
    try assertRefused(["build", Paths.root.appendingPathComponent("Sources/CSiroccoUnix/include").path], mentions: ["has no .swift files"])
    try assertRefused(["build", "--target", "vax", Paths.example("hello")], mentions: ["vax"])
    try assertRefused(["run", Paths.example("ping"), "--bogus"], mentions: ["unexpected argument '--bogus'"])
    try assertRefused(["frobnicate"], mentions: ["frobnicate"])
  }

  func testNewCreatesARunnableApplication() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-new-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let app = directory.appendingPathComponent("my-app")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let created = try sirocco(["new", app.path])
    XCTAssertEqual(created.status, 0, created.error)
    let outcome = try sirocco(["run", app.path])
    XCTAssertEqual(outcome.status, 0, outcome.error)
    XCTAssertEqual(outcome.output, "my-app running on unix\n")
    try assertRefused(["new", app.path], mentions: ["already exists"])
    try assertRefused(["new", directory.appendingPathComponent("9lives").path], mentions: ["bad application name '9lives'"])
  }
}
