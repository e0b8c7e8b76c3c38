// The virtio target under QEMU (TCG here: this machine's /dev/kvm cannot run SSE code): PVH
// boot to the application and its exit status, boot parameters and the error contract, CPU
// exceptions reported with the function's name, an idle guest that costs the host nothing,
// ping over virtio-net and Examples/block-test over virtio-blk; devices attached by name,
// with the other targets' error lines.

import Foundation
@testable import sirocco
import XCTest

final class VirtioTests: XCTestCase {
  nonisolated(unsafe) static var machineBuilt = false

  override func setUpWithError() throws {
    try requireTools([("qemu-system-x86_64", "qemu-system-x86")])
    if !Self.machineBuilt {
      try buildApplications([Paths.example("hello"), Paths.testGuest("machine"), Paths.example("ping")], target: "virtio")
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

  /// A boot parameter with spaces and a backslash reaches the guest whole: `sirocco run`
  /// escapes them on QEMU's `-append` line and the guest's BootCommandLine takes them back.
  func testABootParameterWithSpacesArrivesWhole() throws {
    let greeting = "a greeting  with spaces \\ and a backslash"
    let outcome = try run(Paths.example("hello"), ["--greeting=" + greeting])
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    XCTAssertEqual(outcome.output.split(separator: "\n").first.map(String.init), greeting, outcome.output)
  }

  /// The machine guest's Resources, compiled into the virtio image, read back in the VM as
  /// they are on disk (the same table and archive as on spt: see SPTTests).
  func testResourcesCompiledIntoTheImageAreReadInTheVM() throws {
    let outcome = try machine(["--do=resources"])
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    let lines = outcome.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    XCTAssertEqual(lines.filter { $0.hasPrefix("resource") },
                   try machineResourceListing(URL(fileURLWithPath: Paths.testGuest("machine")).appendingPathComponent("Resources")))
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
    let size = try strippedSize(of: image)
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

  /// Examples/ping's image, stripped, is at most 1.2 times ping.spt's (issue 12): the
  /// drivers, the boot code and the trap table are what virtio adds.
  func testPingImageIsAtMost1_2TimesTheSPTImage() throws {
    try requireTools([("strip", "binutils")])
    var sizes: [String: Int] = [:]
    for target in ["spt", "virtio"] {
      let built = try runCommand([Paths.tool, "build", "--target", target, Paths.example("ping")], timeout: 900)
      XCTAssertEqual(built.status, 0, built.error)
      sizes[target] = try strippedSize(of: built.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    let (spt, virtio) = (try XCTUnwrap(sizes["spt"]), try XCTUnwrap(sizes["virtio"]))
    XCTAssertLessThanOrEqual(Double(virtio), 1.2 * Double(spt), "ping.virtio \(virtio) bytes, ping.spt \(spt)")
    print("ping.virtio \(virtio) bytes stripped, ping.spt \(spt): \(String(format: "%.3f", Double(virtio) / Double(spt)))x")
  }

  /// The trap table's layout (BuildVirtio.swift; virtio.c reads it): distances and name
  /// indices in address order, a distance past 65535 bytes carried by entries without a
  /// name, names once each, sorted and front-coded, "specialized " dropped.
  func testTrapTableIsCompactAndCarriesLongDistances() throws {
    XCTAssertEqual(Builder.plainName("specialized Stack.apply(_:on:now:)"), "Stack.apply(_:on:now:)")
    let table = try Builder.symbolTableAssembly(
      [(0x100000, "Stack.poll(now:)"), (0x100040, "Stack.apply(_:)"), (0x100080, "Stack.poll(now:)"), (0x120100, "main")],
      textStart: 0x100000)
    let lines = table.split(separator: "\n").filter { !$0.hasPrefix("/*") && !$0.hasPrefix(".section") && !$0.hasPrefix(".p2align") && !$0.hasPrefix(".globl") }
    XCTAssertEqual(lines, [
      "sirocco_symbol_count:", ".long 6", "sirocco_symbol_name_count:", ".long 3",
      "sirocco_symbol_entries:",
      ".short 0, 1", ".short 64, 0", ".short 64, 1", ".short 65535, 65535", ".short 65535, 65535", ".short 130, 2",
      "sirocco_symbol_names:",
      ".byte 0", ".asciz \"Stack.apply(_:)\"", ".byte 6", ".asciz \"poll(now:)\"", ".byte 0", ".asciz \"main\"",
    ])
  }

  /// 1000 pings of 56 and of 1400 bytes, none lost: virtio-net over virtio-mmio (microvm)
  /// and over virtio-pci with MSI-X (q35).
  func testPingAnswersOverVirtioNetOnMicrovmAndQ35() throws {
    try requireNamespaces()
    for machine in ["microvm", "q35"] {
      let namespace = try Namespace()
      let guest = try Guest(
        namespace, example: "ping", target: "virtio", toolOptions: ["--machine=\(machine)"], readyLine: "answering ARP and ICMP echo")
      for size in [56, 1400] {
        let outcome = try namespace.exec(
          ["ping", "-q", "-c", "1000", "-i", "0.001", "-s", "\(size)", "-W", "2", namespace.guestAddress], timeout: 120)
        XCTAssertTrue(outcome.output.contains("1000 packets transmitted, 1000 received, 0% packet loss"),
                      "\(machine), ping -s \(size): \(outcome.output)\(outcome.error)\n\(guest.stop())")
      }
      guest.stop()
    }
  }

  /// The other network examples, unchanged, under QEMU microvm: udp-echo (datagrams up to
  /// the MTU), tcp-echo (a line and 8 MB), and tcp-bulk each way with the SHA-256 checked
  /// on both sides (20 MB in CI; SIROCCO_VIRTIO_BULK_BYTES=100000000 is the issue's full
  /// size, run for BENCHMARKS.md).
  func testNetworkExamplesRunUnchangedUnderQEMU() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat")])
    let namespace = try Namespace()
    do {
      let guest = try Guest(namespace, example: "udp-echo", target: "virtio", parameters: ["--port=5000"], readyLine: "echoing UDP")
      defer { guest.stop() }
      for message in ["a datagram to a VM", String(repeating: "x", count: 1472)] {
        let input = try TemporaryFile()
        try message.write(to: input.url, atomically: true, encoding: .utf8)
        let outcome = try namespace.exec(["socat", "-t", "2", "-", "UDP:\(namespace.guestAddress):5000"], timeout: 20, input: input.url)
        XCTAssertEqual(outcome.output, message, "udp-echo: \(outcome.error)")
      }
    }
    do {
      let guest = try Guest(namespace, example: "tcp-echo", target: "virtio", readyLine: "echoing TCP")
      defer { guest.stop() }
      let input = try TemporaryFile(), output = try TemporaryFile()
      try runCommand(["sh", "-c", "(echo a line to a VM; head -c 8000000 /dev/urandom) > \(input.url.path)"])
      let echoed = try namespace.exec(
        ["socat", "-t", "5", "OPEN:\(input.url.path),rdonly!!OPEN:\(output.url.path),creat,trunc,wronly",
         "TCP:\(namespace.guestAddress):7"], timeout: 120)
      XCTAssertEqual(echoed.status, 0, "tcp-echo: \(echoed.error)")
      XCTAssertEqual(try sha256Digest(output.url.path), try sha256Digest(input.url.path), "tcp-echo: the echoed stream differs")
    }
    let bytes = Int(ProcessInfo.processInfo.environment["SIROCCO_VIRTIO_BULK_BYTES"] ?? "") ?? 20_000_000
    let data = try TemporaryFile()
    try runCommand(["sh", "-c", "head -c \(bytes) /dev/urandom > \(data.url.path)"])
    let expected = try sha256Digest(data.url.path)
    let peer = "TCP:\(namespace.guestAddress):5001"
    let sink = try Guest(
      namespace, example: "tcp-bulk", target: "virtio", parameters: ["--mode=sink", "--log-level=debug"], readyLine: "sink listening")
    var start = Date()
    let sinkReport = try namespace.sendBulk(data.url.path, bytes: bytes, expected: expected, to: sink, peer: peer, timeout: 300, label: "virtio sink")
    let into = Date().timeIntervalSince(start)
    let source = try Guest(
      namespace, example: "tcp-bulk", target: "virtio", parameters: ["--mode=source", "--bytes=\(bytes)", "--log-level=debug"],
      readyLine: "source listening")
    start = Date()
    let sourceReport = try namespace.receiveBulk(bytes: bytes, from: source, peer: peer, timeout: 300, label: "virtio source")
    let out = Date().timeIntervalSince(start)
    print("virtio tcp-bulk: \(bytes) bytes in \(String(format: "%.1f", into)) s, out \(String(format: "%.1f", out)) s")
    // The exchanges the driver counted (`--log-level=debug` prints them at exit): coalesced
    // frames in (fewer than one per 1448 bytes), TSO frames out, at most one notification
    // per frame (plus the first), and no more interrupt status reads than the waits and
    // device interrupts that could have raised the line, plus one per frame.
    for (report, label, inbound) in [(sinkReport, "sink", true), (sourceReport, "source", false)] {
      let driver = try XCTUnwrap(Self.numbers(in: report, after: "service: virtio-net "), "\(label): \(report)")
      let events = try XCTUnwrap(Self.numbers(in: report, after: "sirocco: virtio: "), "\(label): \(report)")
      let (received, sent, notifications, statusReads) = (driver[0], driver[1], driver[2], driver[5])
      XCTAssertEqual(driver[6...].reduce(0, +), 0, "\(label): no frame dropped: \(report)")
      XCTAssertLessThan(inbound ? received : sent, bytes / 1448, "\(label): offloads carry more than a segment a frame: \(report)")
      XCTAssertGreaterThan(notifications, 0, report)
      XCTAssertLessThanOrEqual(notifications, received + sent + 1, "\(label): \(report)")
      XCTAssertGreaterThan(events[0], 0, "\(label): the CPU halted while it waited: \(report)")
      XCTAssertLessThanOrEqual(statusReads, received + events[0] + 1, "\(label): \(report)")
    }
  }

  /// The numbers, in order, on the first line holding `marker`, after it ("rx 12 frames, tx
  /// 3 frames, 4 notifications (3.75 frames each)" gives 12, 3, 4, 3, 75): nil if no line has it.
  static func numbers(in report: String, after marker: String) -> [Int]? {
    guard let line = report.split(separator: "\n").first(where: { $0.contains(marker) }),
      let range = line.range(of: marker) else { return nil }
    return line[range.upperBound...].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
  }

  /// Attachment problems are the tool's to find, in the words the spt tender and the unix
  /// platform use (DeviceOptions.check), before QEMU starts.
  func testDevicesMustBeAttachedByName() throws {
    func refused(_ example: String, _ devices: [String], _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
      let outcome = try runCommand([Paths.tool, "run", "--target", "virtio", Paths.example(example)] + devices, timeout: 600)
      XCTAssertEqual(outcome.status, 2, outcome.error, file: file, line: line)
      XCTAssertEqual(outcome.errorLines.last.map(String.init), expected, file: file, line: line)
    }
    try refused("ping", [], "sirocco: network device 'service' is declared but not attached: expected --net:service=TAP")
    try refused("ping", ["--net:service=lo", "--net:uplink=lo"],
                "sirocco: --net:uplink: the image declares no network device 'uplink'; expected one of: service")
    try refused("ping", ["--net:service=nosuchtap0"],
                "sirocco: --net:service=nosuchtap0: no network interface 'nosuchtap0': expected an existing TAP interface")
    let ragged = try TemporaryFile()
    try Data(count: 1000).write(to: ragged.url)
    try refused("block-test", [], "sirocco: block device 'storage' is declared but not attached: expected --block:storage=FILE")
    try refused("block-test", ["--block:storage=/nonexistent/disk.img"],
                "sirocco: --block:storage=/nonexistent/disk.img: cannot open '/nonexistent/disk.img': No such file or directory")
    try refused("block-test", ["--block:storage=\(ragged.url.path)"],
                "sirocco: --block:storage=\(ragged.url.path): size 1000 bytes is not a whole non-zero number of 512-byte sectors")
    try refused("block-test", ["--block:storage=/dev/null"], "sirocco: --block:storage=/dev/null: '/dev/null' is not a regular file: expected a disk image")
    try refused("block-test", ["--block:storage=\(ragged.url.path)", "--block:disk=\(ragged.url.path)"],
                "sirocco: --block:disk: the image declares no block device 'disk'; expected one of: storage")
  }

  /// Examples/block-test over virtio-blk: every sector written, flushed, read back and
  /// verified, with 512- and 4096-byte sectors (QEMU's logical_block_size, which the
  /// driver reads from the configuration space), on microvm and on q35 (virtio-pci); the
  /// pattern really is in the file.
  func testBlockTestVerifiesEverySectorOverVirtioBlk() throws {
    for (machine, sectorSize) in [("microvm", 512), ("microvm", 4096), ("q35", 4096)] {
      let disk = try TemporaryFile()
      try disk.handle.truncate(atOffset: 1 << 20)
      let outcome = try runCommand(
        [Paths.tool, "run", "--target", "virtio", "--machine=\(machine)", Paths.example("block-test"), "--block:storage=\(disk.url.path)",
         "--block-sector-size:storage=\(sectorSize)"], timeout: 600)
      XCTAssertEqual(outcome.status, 0, "\(machine) \(sectorSize): \(outcome.output)\(outcome.error)")
      XCTAssertTrue(outcome.output.contains("block-test: \((1 << 20) / sectorSize) sectors of \(sectorSize) bytes"), outcome.output)
      XCTAssertTrue(outcome.output.contains("block-test: \((1 << 20) / sectorSize) sectors written, read back and verified"), outcome.output)
      let contents = try Data(contentsOf: disk.url)
      XCTAssertEqual(contents.count, 1 << 20)
      XCTAssertGreaterThan(Set(contents.prefix(4096)).count, 200, "the file does not hold the pattern")
      XCTAssertGreaterThan(Set(contents.suffix(4096)).count, 200, "the last sectors were not written")
    }
  }

  /// Two network devices and two block devices, declared in mixed order: each disk reaches
  /// the name it was attached to (its own size, sector size and first words; the write
  /// lands in its own file), and each network device answers ping on its own TAP with its
  /// own MAC.
  func testTwoNetworkDevicesAndTwoDisksEachReachTheirName() throws {
    try requireNamespaces()
    let namespace = try Namespace()
    for command in [["tuntap", "add", "tap1", "mode", "tap"], ["addr", "add", "10.1.0.1/24", "dev", "tap1"], ["link", "set", "tap1", "up"]] {
      let outcome = try runCommand(["ip", "-n", namespace.name] + command, timeout: 10)
      XCTAssertEqual(outcome.status, 0, outcome.error)
    }
    let first = try TemporaryFile(), second = try TemporaryFile()
    first.handle.write(Data("disk one".utf8))
    try first.handle.truncate(atOffset: 1 << 20)
    second.handle.write(Data("the second disk".utf8))
    try second.handle.truncate(atOffset: 2 << 20)
    let guest = try Guest(
      namespace, application: Paths.testGuest("two-of-each"), target: "virtio",
      devices: ["--net:service=tap0", "--net:uplink=tap1", "--block:first=\(first.url.path)", "--block:second=\(second.url.path)",
                "--block-sector-size:second=4096"],
      parameters: ["--uplink-ipv4=10.1.0.2/24"], readyLine: "answering on 10.0.0.2 and 10.1.0.2")
    defer { guest.stop() }
    let output = guest.output.contents
    XCTAssertTrue(output.contains("first: 2048 sectors of 512 bytes, begins 'disk one'"), output)
    XCTAssertTrue(output.contains("second: 512 sectors of 4096 bytes, begins 'the second disk'"), output)
    for (file, name, sectorSize) in [(first, "first", 512), (second, "second", 4096)] {
      let written = try Data(contentsOf: file.url).dropFirst(sectorSize).prefix(20)
      XCTAssertEqual(String(decoding: written.prefix { $0 != 0 }, as: UTF8.self), "written by \(name)")
    }
    var macs: [String] = []
    for (address, tap) in [(namespace.guestAddress, "tap0"), ("10.1.0.2", "tap1")] {
      let ping = try namespace.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", address])
      XCTAssertEqual(ping.status, 0, "ping \(address): \(ping.output)\(ping.error)")
      let neighbour = try namespace.exec(["ip", "neigh", "show", address, "dev", tap]).output
      XCTAssertTrue(neighbour.contains("lladdr"), "\(address) not resolved on \(tap): \(neighbour)")
      macs.append(neighbour.split(separator: " ").drop { $0 != "lladdr" }.dropFirst().first.map(String.init) ?? "")
    }
    XCTAssertNotEqual(macs[0], macs[1], "one MAC for both devices")
  }

  /// `--vmm=firecracker` prints Firecracker's configuration for the same image and devices
  /// (JSON, read back here): the kernel, the boot parameters as one line, the drives and
  /// interfaces by the manifest's names with absolute paths and the MAC; device options are
  /// checked as for QEMU, and a sector size Firecracker cannot give is refused.
  func testFirecrackerConfigurationForTheSameImageAndDevices() throws {
    let disk = try TemporaryFile()
    try disk.handle.truncate(atOffset: 65536)
    let outcome = try runCommand(
      [Paths.tool, "run", "--target", "virtio", "--vmm=firecracker", "--memory=128", Paths.testGuest("two-of-each"), "--net:service=tap7", "--block:first=\(disk.url.path)", "--net:uplink=tap8", "--net-mac:uplink=02:00:00:00:00:08",
       "--block:second=\(disk.url.path)", "--", "--uplink-ipv4=10.1.0.2/24", "--ipv4=10.0.0.2/24"], timeout: 600)
    XCTAssertEqual(outcome.status, 0, outcome.error)
    let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(outcome.output.utf8)) as? [String: Any], outcome.output)
    let boot = try XCTUnwrap(json["boot-source"] as? [String: String])
    XCTAssertEqual(boot["kernel_image_path"], Paths.testGuest("two-of-each") + "/_build/virtio/two-of-each.virtio")
    XCTAssertEqual(boot["boot_args"], "--uplink-ipv4=10.1.0.2/24 --ipv4=10.0.0.2/24")
    let drives = try XCTUnwrap(json["drives"] as? [[String: Any]])
    XCTAssertEqual(drives.map { $0["drive_id"] as? String }, ["first", "second"])
    XCTAssertEqual(drives.map { $0["path_on_host"] as? String }, [disk.url.path, disk.url.path])
    XCTAssertEqual(drives.map { $0["is_read_only"] as? Bool }, [false, false])
    let interfaces = try XCTUnwrap(json["network-interfaces"] as? [[String: String]])
    XCTAssertEqual(interfaces, [["iface_id": "service", "host_dev_name": "tap7"],
                                ["iface_id": "uplink", "host_dev_name": "tap8", "guest_mac": "02:00:00:00:00:08"]])
    let machine = try XCTUnwrap(json["machine-config"] as? [String: Int])
    XCTAssertEqual(machine, ["vcpu_count": 1, "mem_size_mib": 128])
    let refused = try runCommand(
      [Paths.tool, "run", "--target", "virtio", "--vmm=firecracker", Paths.example("block-test"), "--block:storage=\(disk.url.path)",
       "--block-sector-size:storage=4096"], timeout: 600)
    XCTAssertEqual(refused.status, 2)
    XCTAssertEqual(refused.errorLines.last.map(String.init),
                   "sirocco: --block-sector-size:storage: Firecracker's block devices have 512-byte sectors: expected 512 with --vmm=firecracker")
    let unattached = try runCommand([Paths.tool, "run", "--target", "virtio", "--vmm=firecracker", Paths.example("block-test")], timeout: 600)
    XCTAssertEqual(unattached.status, 2)
    XCTAssertEqual(unattached.output, "", "nothing printed but the one line on standard error")
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
