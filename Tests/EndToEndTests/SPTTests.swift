// The spt target: guests that must abort, images the tender must refuse, and hostile guests
// the sandbox must contain. (The example matrix over unix and spt is in the other files.)

import Foundation
import SiroccoABI
import XCTest

final class SPTTests: XCTestCase {
  static let hostileImage = Paths.testGuest("hostile") + "/_build/spt/hostile.spt"
  static let machineImage = Paths.testGuest("machine") + "/_build/spt/machine.spt"
  static let hostileRingImage = Paths.testGuest("hostile-ring") + "/_build/spt/hostile-ring.spt"
  nonisolated(unsafe) static var guestsBuilt = false

  override func setUpWithError() throws {
    try Examples.buildAll()
    if !Self.guestsBuilt {
      // Examples.buildAll built the libraries (and unix first: spt reads the unix build's manifest).
      try buildApplications(["hostile", "machine", "hostile-ring"].map(Paths.testGuest), target: "unix", timeout: 600, librariesBuilt: true)
      try buildApplications(["hostile", "machine", "hostile-ring"].map(Paths.testGuest), target: "spt", timeout: 600, librariesBuilt: true)
      Self.guestsBuilt = true
    }
  }

  func tender(_ arguments: [String]) throws -> Outcome { try runCommand([Paths.tender] + arguments, timeout: 60) }

  /// Runs the hostile guest with a fresh 64 KiB disk; returns the outcome and the disk.
  func hostile(_ misdeed: String) throws -> (Outcome, Data) {
    let disk = try TemporaryFile()
    let original = Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    try original.write(to: disk.url)
    let outcome = try tender(["--block:storage=\(disk.url.path)", Self.hostileImage, "--do=\(misdeed)"])
    return (outcome, try Data(contentsOf: disk.url))
  }

  // MARK: Must abort: exit 255 with a line naming the trap

  /// A boot parameter with spaces and a backslash reaches the guest whole: `sirocco run`
  /// escapes them for the tender, which joins the guest's words with spaces as Solo5's does,
  /// and the guest's BootCommandLine takes them back (the same path as hvt's).
  func testABootParameterWithSpacesArrivesWhole() throws {
    let greeting = "a greeting  with spaces \\ and a backslash"
    let outcome = try runCommand([Paths.tool, "run", "--target", "spt", Paths.example("hello"), "--", "--greeting=" + greeting], timeout: 300)
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    XCTAssertEqual(outcome.output.split(separator: "\n").first.map(String.init), greeting, outcome.output)
  }

  func testTrapsAreReportedAndExit255() throws {
    for (misdeed, report) in [
      ("null", "guest trap: invalid memory access at address 0x8"),
      ("precondition", "guest trap: illegal instruction"),
      ("bounds", "guest trap: illegal instruction"),
      ("overflow", "guest trap: illegal instruction"),
    ] {
      let outcome = try tender([Self.machineImage, "--do=\(misdeed)"])
      XCTAssertFalse(outcome.signaled, misdeed)
      XCTAssertEqual(outcome.status, 255, "\(misdeed): \(outcome.output)\(outcome.error)")
      XCTAssertTrue(outcome.error.contains(report), "\(misdeed): \(outcome.error)")
      // The function is named from the image's symbol table: its plain name, then the symbol.
      XCTAssertTrue(outcome.error.contains(" in SiroccoApplication.Machine.init + 0x"), "\(misdeed): \(outcome.error)")
      XCTAssertTrue(outcome.error.contains(" ($e18SiroccoApplication7Machine"), "\(misdeed): \(outcome.error)")
      XCTAssertEqual(outcome.errorLines.count, 1, "\(misdeed): \(outcome.error)")
    }
  }

  // MARK: Resources compiled into the image

  /// A copy of the machine guest with Resources (text, binary, nested directories, a link,
  /// hidden files left out): the guest lists them as they are on disk, size, date and
  /// SHA-256; a resource changed, added or removed rebuilds the image, and so does the
  /// directory's removal (after which the image has none).
  func testResourcesAreCompiledIntoTheImageAndRebuiltWhenTheyChange() throws {
    let directory = try TemporaryDirectory()
    let application = directory.url.appendingPathComponent("machine")
    let copy = try runCommand(["cp", "-a", Paths.testGuest("machine"), application.path])
    XCTAssertEqual(copy.status, 0, copy.error)
    try? FileManager.default.removeItem(at: application.appendingPathComponent("_build"))
    let resources = application.appendingPathComponent("Resources")
    func listing() throws -> (lines: [String], build: String) {
      let built = try runCommand([Paths.tool, "build", "--target", "spt", application.path], timeout: 600)
      XCTAssertEqual(built.status, 0, built.error)
      let outcome = try tender([application.path + "/_build/spt/machine.spt", "--do=resources"])
      XCTAssertEqual(outcome.status, 0, outcome.error)
      return (outcome.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("resource") }, built.error)
    }
    var (lines, build) = try listing()
    XCTAssertEqual(lines, try machineResourceListing(resources))
    XCTAssertTrue(lines.contains { $0.hasPrefix("resource nested/binary.bin 1282 ") }, "\(lines)")
    XCTAssertTrue(lines.contains { $0.hasPrefix("resource link.txt 42 ") }, "a link is followed: \(lines)")
    XCTAssertFalse(lines.contains { $0.contains("hidden") }, "hidden files are left out: \(lines)")
    XCTAssertTrue(build.contains("compiling Resources into machine"), build)

    try "Hello again, a changed resource.\n".write(to: resources.appendingPathComponent("greeting.txt"), atomically: false, encoding: .utf8)
    try Data([0, 1, 2]).write(to: resources.appendingPathComponent("nested/added.bin"))
    try FileManager.default.removeItem(at: resources.appendingPathComponent("nested/deeper"))
    (lines, build) = try listing()
    XCTAssertTrue(build.contains("compiling Resources into machine"), "rebuilt: \(build)")
    XCTAssertEqual(lines, try machineResourceListing(resources))
    XCTAssertTrue(lines.contains("resource greeting.txt from 6: again, a changed"), "\(lines)")
    XCTAssertFalse(lines.contains { $0.contains("deeper") }, "\(lines)")

    try FileManager.default.removeItem(at: resources)
    (lines, build) = try listing()
    XCTAssertTrue(build.contains("compiling machine for spt"), "rebuilt: \(build)")
    XCTAssertEqual(lines, [], "no Resources, no resources")
  }

  /// In a debug build (`sirocco build --debug`) Embedded Swift keeps the message of a failed
  /// check: the guest prints it, then the tender reports the trap.
  func testDebugBuildPrintsTheFailedCheckBeforeTheTrap() throws {
    let built = try runCommand([Paths.tool, "build", "--debug", "--target", "spt", Paths.testGuest("machine")], timeout: 600)
    XCTAssertEqual(built.status, 0, built.error)
    let image = Paths.testGuest("machine") + "/_build/spt-debug/machine.spt"
    XCTAssertEqual(built.output.trimmingCharacters(in: .whitespacesAndNewlines), image)
    for (misdeed, message) in [("precondition", "Precondition failed: index must be above 100"), ("fatal", "Fatal error: the machine guest gives up")] {
      let outcome = try tender([image, "--do=\(misdeed)"])
      XCTAssertEqual(outcome.status, 255, "\(misdeed): \(outcome.output)\(outcome.error)")
      XCTAssertTrue(outcome.output.contains("Machine.swift:"), "\(misdeed): \(outcome.output)")
      XCTAssertTrue(outcome.output.contains(message), "\(misdeed): \(outcome.output)")
      XCTAssertTrue(outcome.error.contains("guest trap: illegal instruction"), "\(misdeed): \(outcome.error)")
      XCTAssertEqual(outcome.errorLines.count, 1, outcome.error)
    }
    // The release build has no message to print, only the report.
    let release = try tender([Self.machineImage, "--do=fatal"])
    XCTAssertEqual(release.status, 255)
    XCTAssertFalse(release.output.contains("gives up"), release.output)
  }

  func testForbiddenSystemCallIsKilledBySeccompAndReported() throws {
    let (direct, _) = try hostile("getpid")
    XCTAssertTrue(direct.signaled, "getpid was not killed: \(direct.status) \(direct.output)")
    XCTAssertEqual(direct.status, SIGSYS)
    // Through `sirocco run`, which says what happened.
    let disk = try TemporaryFile()
    try disk.handle.truncate(atOffset: 65536)
    let outcome = try runCommand([
      Paths.tool, "run", "--target", "spt", Paths.testGuest("hostile"), "--block:storage=\(disk.url.path)", "--", "--do=getpid",
    ], timeout: 300)
    XCTAssertEqual(outcome.status, 128 + SIGSYS, outcome.error)
    XCTAssertTrue(outcome.error.contains("killed by signal \(SIGSYS)"), outcome.error)
    XCTAssertTrue(outcome.error.contains("system call its seccomp filter forbids"), outcome.error)
  }

  // MARK: Hostile guests

  /// Runs the hostile-ring guest under the tender in a namespace with a TAP, `--io-uring`
  /// unless `ring` is false.
  func hostileRing(_ misdeed: String, ring: Bool = true, in given: Namespace? = nil) throws -> Outcome {
    let namespace = try given ?? Namespace()
    return try namespace.exec([Paths.tender, "--net:service=tap0"] + (ring ? ["--io-uring"] : []) + [Self.hostileRingImage, "--do=\(misdeed)"])
  }

  /// The io_uring of --io-uring reaches what read and write on the TAP reach and nothing
  /// else: a frame written through it goes out (the control), and every other operation,
  /// an allowed one without a fixed file or with another flag, and a fixed file that does
  /// not exist are refused, entry by entry, while the guest runs on.
  func testTheIORingTakesOnlyReadsAndWritesOfTheTAP() throws {
    try requireNamespaces()
    let control = try hostileRing("write-tap")
    XCTAssertEqual(control.status, 0, control.output + control.error)
    XCTAssertTrue(control.output.contains("a frame written through the ring: 64"), control.output)
    let operations = try hostileRing("operations")
    XCTAssertFalse(operations.signaled, operations.output)
    XCTAssertEqual(operations.status, 0, operations.output + operations.error)
    for line in ["OPENAT: -13", "FILES_UPDATE: -13", "SOCKET: -13", "MSG_RING: -13", "WRITE to descriptor 1, not a fixed file: -13",
                 "WRITE with IOSQE_ASYNC: -13", "WRITE to fixed file 1 (none): -9", "23 of 23 entries completed"] {
      XCTAssertTrue(operations.output.contains("hostile-ring: " + line), "\(line): \(operations.output)")
    }
    XCTAssertFalse(operations.output.contains("NOT AS EXPECTED"), operations.output)
    // Without --io-uring the guest is given none (and says so). Run on the same TAP right
    // after a ring's guest exits, while the kernel still tears that ring down and holds the
    // TAP (some 30 ms), it attaches all the same (the attach retries a busy TAP for a second).
    let namespace = try Namespace()
    XCTAssertEqual(try hostileRing("nothing", in: namespace).status, 0)
    let plain = try hostileRing("write-tap", ring: false, in: namespace)
    XCTAssertEqual(plain.status, 3, plain.output + plain.error)
    XCTAssertTrue(plain.output.contains("the tender gave no io_uring"), plain.output)
  }

  /// Beyond entering its ring, io_uring's system calls are the filter's to kill: a
  /// registration (a new fixed file), a new ring, entering another descriptor, or entering
  /// by a registered-ring index the filter could not check.
  func testRingSystemCallsOtherThanEnteringItAreKilled() throws {
    try requireNamespaces()
    for misdeed in ["register", "setup", "enter-other", "enter-registered"] {
      let outcome = try hostileRing(misdeed)
      XCTAssertTrue(outcome.signaled, "\(misdeed) was not stopped: \(outcome.status) \(outcome.output)")
      XCTAssertEqual(outcome.status, SIGSYS, misdeed)
    }
  }

  /// --io-uring is refused, one line and exit 2, for an image without Sirocco's note (it
  /// makes Solo5's system calls) and without a network device to serve.
  func testIOURingIsRefusedWhereNoGuestCouldUseIt() throws {
    try requireNamespaces()
    let image = try Data(contentsOf: URL(fileURLWithPath: Self.hostileRingImage))
    let note = try XCTUnwrap(image.range(of: Data("Sirocco\0".utf8)), "no Sirocco note in the image")
    var solo5Like = image
    solo5Like[note.lowerBound] = UInt8(ascii: "X")
    let copy = try TemporaryFile()
    try solo5Like.write(to: copy.url)
    let namespace = try Namespace()
    let refused = try namespace.exec([Paths.tender, "--net:service=tap0", "--io-uring", copy.url.path])
    XCTAssertEqual(refused.status, 2, refused.output + refused.error)
    XCTAssertTrue(refused.error.contains("--io-uring: \(copy.url.path) is not a Sirocco image"), refused.error)
    XCTAssertEqual(refused.errorLines.count, 1, refused.error)
    let noNetwork = try tender(["--io-uring", Self.machineImage])
    XCTAssertEqual(noNetwork.status, 2, noNetwork.output + noNetwork.error)
    XCTAssertTrue(noNetwork.error.contains("--io-uring: no network device is attached"), noNetwork.error)
  }

  /// Descriptors and files the guest was not given are out of reach.
  func testGuestReachesNoOtherDescriptorOrFile() throws {
    for misdeed in ["open", "stdin", "other-fd"] {
      let (outcome, _) = try hostile(misdeed)
      XCTAssertTrue(outcome.signaled, "\(misdeed) was not stopped: \(outcome.status) \(outcome.output)")
      XCTAssertEqual(outcome.status, SIGSYS, misdeed)
    }
    // Standard error is open to a Sirocco image (its note says so) and to no other.
    let (allowed, _) = try hostile("stderr")
    XCTAssertFalse(allowed.signaled, allowed.output)
    XCTAssertEqual(allowed.status, 4, "the write to fd 2 returned \(allowed.status): \(allowed.output)")
    let image = try Data(contentsOf: URL(fileURLWithPath: Self.hostileImage))
    let note = try XCTUnwrap(image.range(of: Data("Sirocco\0".utf8)), "no Sirocco note in the image")
    var solo5Like = image
    solo5Like[note.lowerBound] = UInt8(ascii: "X")  // the tender no longer sees a Sirocco image
    let copy = try TemporaryFile()
    try solo5Like.write(to: copy.url)
    let disk = try TemporaryFile()
    try disk.handle.truncate(atOffset: 65536)
    let refused = try tender(["--block:storage=\(disk.url.path)", copy.url.path, "--do=stderr"])
    XCTAssertTrue(refused.signaled, "fd 2 was open to an image without the note: \(refused.status) \(refused.output)")
    XCTAssertEqual(refused.status, SIGSYS)
  }

  /// A guest that overwrites every writable byte of the tender it can reach (the tender's
  /// own data and heap, where the trap handler's state used to be) still gets a correct
  /// report and exit 255: the handler reads only memory made read-only before the guest ran.
  func testTrapReportSurvivesAGuestSmashingTheTender() throws {
    try requireTools([("setarch", "util-linux")])
    let disk = try TemporaryFile()
    try disk.handle.truncate(atOffset: 65536)
    // Without address randomization the tender's memory lies at the same place every run:
    // read it from a first run, smash it in a second.
    let noRandomization = ["setarch", "x86_64", "-R", Paths.tender, "--block:storage=\(disk.url.path)", Self.hostileImage]
    let sleeper = Process()
    sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    sleeper.arguments = noRandomization + ["--do=sleep"]
    sleeper.standardOutput = FileHandle.nullDevice
    try sleeper.run()
    defer { if sleeper.isRunning { sleeper.terminate() } }
    var ranges: [String] = []
    let deadline = Date().addingTimeInterval(10)
    while ranges.isEmpty, Date() < deadline {
      usleep(50_000)
      let maps = (try? String(contentsOfFile: "/proc/\(sleeper.processIdentifier)/maps", encoding: .utf8)) ?? ""
      ranges = maps.split(separator: "\n").compactMap { line -> String? in
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6, fields[1] == "rw-p", fields[5].hasSuffix("/sirocco-spt") || fields[5] == "[heap]" else { return nil }
        return String(fields[0])
      }
    }
    sleeper.terminate()
    sleeper.waitUntilExit()
    XCTAssertFalse(ranges.isEmpty, "no writable mapping of the tender found")
    let outcome = try runCommand(noRandomization + ["--do=smash", "--range=" + ranges.joined(separator: ",")], timeout: 60)
    XCTAssertFalse(outcome.signaled, "the tender died: \(outcome.status) \(outcome.output)\(outcome.error)")
    XCTAssertEqual(outcome.status, 255, outcome.output + outcome.error)
    XCTAssertTrue(outcome.output.contains("hostile: smashed "), outcome.output)
    XCTAssertTrue(outcome.error.contains("guest trap: invalid memory access at address 0x8"), outcome.error)
    XCTAssertTrue(outcome.error.contains(" in SiroccoApplication.Hostile"), outcome.error)
    XCTAssertEqual(outcome.errorLines.count, 1, outcome.error)
  }

  /// Bad pointers and lengths are refused by the kernel; the guest goes on.
  func testBadPointersFailWithoutHarm() throws {
    let (outcome, _) = try hostile("bad-pointer")
    XCTAssertEqual(outcome.status, 0, outcome.output)
    XCTAssertTrue(outcome.output.contains("bad pointers returned -14 -14 -14"), outcome.output)
  }

  /// No read or write starts past the block device's last sector; a write moves exactly one
  /// sector, a read at most 1 MiB (sirocco-spt's multi-sector reads); the file is untouched
  /// by every refused request.
  func testBlockAccessStaysInsideTheDevice() throws {
    for misdeed in ["block-past-end", "block-straddle", "block-short", "block-long", "block-read-past-end", "block-negative",
                    "block-read-too-long"] {
      let (outcome, disk) = try hostile(misdeed)
      XCTAssertTrue(outcome.signaled, "\(misdeed) was not stopped: \(outcome.status) \(outcome.output)")
      XCTAssertEqual(outcome.status, SIGSYS, misdeed)
      XCTAssertEqual(disk, Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }), "\(misdeed) changed the disk")
    }
    // A read may take many sectors under sirocco-spt (up to 1 MiB: the one above asked for
    // 1 MiB and a sector), a write only one (block-long).
    let (many, unchanged) = try hostile("block-read-many")
    XCTAssertEqual(many.status, 0, many.output + many.error)
    XCTAssertTrue(many.output.contains("hostile: read 65536 bytes at once"), many.output)
    XCTAssertEqual(unchanged, Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
    // The last whole sector is the guest's to write.
    let (outcome, disk) = try hostile("block-last-sector")
    XCTAssertEqual(outcome.status, 0, outcome.output)
    XCTAssertEqual(disk.count, 65536)
    XCTAssertEqual(Set(disk.suffix(512)), [0x5a])
    XCTAssertEqual(disk.prefix(65536 - 512), Data((0..<(65536 - 512)).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
  }

  // MARK: Refused images: exit 1 with one line

  /// The tender refuses `image` with `options`: `status` (1 for an image, 2 for usage) and
  /// one line on standard error; the guest never runs.
  func assertRefused(_ image: Data, mentions fragment: String, options: [String] = [], status: Int32 = 1,
                     file: StaticString = #filePath, line: UInt = #line) throws {
    let copy = try TemporaryFile()
    try image.write(to: copy.url)
    let outcome = try tender(options + [copy.url.path])
    XCTAssertFalse(outcome.signaled, file: file, line: line)
    XCTAssertEqual(outcome.status, status, "\(outcome.output)\(outcome.error)", file: file, line: line)
    XCTAssertEqual(outcome.errorLines.count, 1, outcome.error, file: file, line: line)
    XCTAssertTrue(outcome.error.contains(fragment), "'\(fragment)' missing from: \(outcome.error)", file: file, line: line)
    XCTAssertEqual(outcome.output, "", "the guest ran", file: file, line: line)
  }

  var hello: Data {
    get throws { try Data(contentsOf: URL(fileURLWithPath: Paths.example("hello") + "/_build/spt/hello.spt")) }
  }

  /// Program headers of an image: (offset of the header, type, flags, vaddr, file offset).
  func programHeaders(_ image: Data) -> [(at: Int, type: UInt32, flags: UInt32, address: UInt64, offset: UInt64)] {
    image.withUnsafeBytes { bytes in
      let table = Int(bytes.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
      let count = Int(bytes.loadUnaligned(fromByteOffset: 56, as: UInt16.self))
      return (0..<count).map { index in
        let at = table + index * 56
        return (at, bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self), bytes.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self),
                bytes.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self))
      }
    }
  }

  func patched(_ image: Data, at offset: Int, _ value: some FixedWidthInteger) -> Data {
    var copy = image
    withUnsafeBytes(of: value.littleEndian) { raw in
      for (index, byte) in raw.enumerated() { copy[offset + index] = byte }
    }
    return copy
  }

  /// The file offset of the descriptor of the first note of the PT_NOTE holding `type`.
  func noteDescriptor(_ image: Data, type: UInt32) -> Int {
    for header in programHeaders(image) where header.type == 4 {
      let note = Int(header.offset)
      let noteType = image.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: note + 8, as: UInt32.self) }
      if noteType == type { return note + 20 }
    }
    XCTFail("no note of type \(type)")
    return 0
  }

  func testTruncatedImagesAreRefused() throws {
    let image = try hello
    try assertRefused(Data(), mentions: "truncated ELF file")
    try assertRefused(image.prefix(40), mentions: "truncated ELF file")
    try assertRefused(image.prefix(64), mentions: "truncated ELF file")
    // Cut inside the code segment (half the file no longer does: past the segments there
    // is only the symbol table, which the tender does not need).
    let code = try XCTUnwrap(programHeaders(image).first { $0.type == 1 && $0.flags & 1 != 0 })
    try assertRefused(image.prefix(Int(code.offset) + 4096), mentions: "truncated ELF file")
    try assertRefused(Data("#!/bin/sh\necho not an image\n".utf8), mentions: "not an ELF file")
  }

  func testWrongABIIsRefused() throws {
    let image = try hello
    let abi = noteDescriptor(image, type: Solo5Note.abiType)
    try assertRefused(patched(image, at: abi, UInt32(1)), mentions: "ABI target is hvt, expected spt")
    try assertRefused(patched(image, at: abi + 4, UInt32(3)), mentions: "ABI version 3, expected 2")
    try assertRefused(patched(image, at: 18, UInt16(183)), mentions: "not x86-64")  // EM_AARCH64
  }

  func testBadSegmentsAreRefused() throws {
    let image = try hello
    let loads = programHeaders(image).filter { $0.type == 1 }
    XCTAssertGreaterThanOrEqual(loads.count, 3)
    // W+X: make the text segment writable too.
    try assertRefused(patched(image, at: loads[0].at + 4, UInt32(7)), mentions: "both writable and executable")
    // Overlap: move the second segment onto the first.
    try assertRefused(patched(image, at: loads[1].at + 16, loads[0].address), mentions: "overlaps")
    // Below the guest's minimum address.
    try assertRefused(patched(image, at: loads[0].at + 16, UInt64(0x1000)), mentions: "below 0x100000")
    // Entry point outside guest memory.
    try assertRefused(patched(image, at: 24, UInt64(0x10)), mentions: "entry point 0x10 outside guest memory")
    // A segment larger than guest memory (512 MiB by default), or guest memory too small.
    try assertRefused(patched(image, at: loads[2].at + 40, UInt64(1) << 30), mentions: "ends past guest memory")
    try assertRefused(image, mentions: "outside guest memory", options: ["--mem=1"])
  }

  func testMalformedManifestsAreRefused() throws {
    let image = try hello
    let manifest = noteDescriptor(image, type: Solo5Note.manifestType) + Solo5Note.manifestPadding
    try assertRefused(patched(image, at: manifest, UInt32(2)), mentions: "invalid manifest: manifest version 2, expected 1")
    try assertRefused(patched(image, at: manifest + 4, UInt32(0)), mentions: "invalid manifest")
    try assertRefused(patched(image, at: manifest + 4, UInt32(65)), mentions: "invalid manifest")
    try assertRefused(patched(image, at: manifest + 8 + Manifest.Field.type, UInt32(2)), mentions: "entry 0 is not the reserved entry")
    try assertRefused(patched(image, at: manifest + 8 + Manifest.Field.attached, UInt8(1)), mentions: "is marked attached")
    // Found by Scripts/fuzz elf: a name that is not letters and digits (here invalid UTF-8).
    let ping = try Data(contentsOf: URL(fileURLWithPath: Paths.example("ping") + "/_build/spt/ping.spt"))
    let service = noteDescriptor(ping, type: Solo5Note.manifestType) + Solo5Note.manifestPadding + 8 + Manifest.entrySize
    try assertRefused(patched(ping, at: service + 1, UInt8(0xff)), mentions: "manifest entry 1 has a bad name")
  }

  func testUnattachedAndUnknownDevicesAreRefused() throws {
    let ping = try Data(contentsOf: URL(fileURLWithPath: Paths.example("ping") + "/_build/spt/ping.spt"))
    try assertRefused(ping, mentions: "network device 'service' is declared but not attached: expected --net:service=TAP", status: 2)
    try assertRefused(ping, mentions: "the image declares no network device 'uplink'", options: ["--net:uplink=tap0"], status: 2)
    try assertRefused(ping, mentions: "the image declares no block device 'disk'", options: ["--block:disk=/dev/null"], status: 2)
    try assertRefused(ping, mentions: "bad device name", options: ["--net:bad_name=tap0"], status: 2)
    try assertRefused(ping, mentions: "--mem=0: expected --mem=MiB", options: ["--mem=0"], status: 2)
    try assertRefused(try hello, mentions: "--net-offload: no network device is attached", options: ["--net-offload"], status: 2)
    try assertRefused(ping, mentions: "unknown option '--frobnicate'", options: ["--frobnicate"], status: 2)
    try assertRefused(ping, mentions: "--net-socket:service=127.0.0.1", options: ["--net-socket:service=127.0.0.1"], status: 2)
    try assertRefused(ping, mentions: "cannot use TAP interface 'nosuchtap0'", options: ["--net:service=nosuchtap0"], status: 2)
  }

  // MARK: Size

  /// hello's stripped image stays within 32 KiB (issue 10; Solo5's C `test_hello.spt` is
  /// about 21 KiB). What keeps it there: lines built as `Text`, never with String's `+` or
  /// interpolation, and strings made with `String(utf8Bytes:)`; either slip links String's
  /// UTF-16 index code, about 10 KB.
  func testHelloImageFitsIn32KiB() throws {
    try requireTools([("strip", "binutils")])
    let size = try strippedSize(of: Paths.example("hello") + "/_build/spt/hello.spt")
    XCTAssertLessThanOrEqual(size, 32768, "hello.spt is \(size) bytes stripped")
    let symbols = try runCommand(["nm", Paths.example("hello") + "/_build/spt/hello.spt"])
    XCTAssertFalse(symbols.output.contains("UTF16View"), "hello.spt links String's UTF-16 index code")
  }

  /// An application whose devices (a computed property) include no network device links
  /// no network core: block-test has a block device only.
  func testAnImageWithoutANetworkDeviceLinksNoNetworkCore() throws {
    let symbols = try runCommand(["nm", Paths.example("block-test") + "/_build/spt/block-test.spt"])
    XCTAssertEqual(symbols.status, 0, symbols.error)
    XCTAssertFalse(symbols.output.contains("TCPConnection"), "block-test.spt links TCP")
    XCTAssertFalse(symbols.output.contains("9Interface"), "block-test.spt links the network interface")
    XCTAssertTrue(symbols.output.contains("SPTBlockDevice"), "the symbol names were not what this test expects")
  }

  // MARK: another tender

  /// `SIROCCO_SPT_TENDER` runs the image with another tender (Solo5's), which gets the same
  /// device options without `--net-offload`, and the TAP with the offloads a unix guest
  /// left on it switched off: a persistent TAP keeps them, and a tender reading plain
  /// frames would be handed 64 KiB TCP segments with unfinished checksums. The stand-in
  /// tender records its arguments and what `ethtool -k` shows of the TAP.
  func testAnotherTenderGetsTheDeviceOptionsAndTheTAPWithItsOffloadsOff() throws {
    try requireNamespaces()
    try requireTools([("ethtool", "ethtool")])
    let namespace = try Namespace()
    let directory = try TemporaryDirectory()
    let features = directory.url.appendingPathComponent("features").path
    let arguments = directory.url.appendingPathComponent("arguments").path
    let tender = directory.url.appendingPathComponent("other-tender")
    try "#!/bin/sh\nethtool -k tap0 > \(features)\necho \"$@\" > \(arguments)\n".write(to: tender, atomically: true, encoding: .utf8)
    XCTAssertEqual(chmod(tender.path, 0o755), 0)
    func offloads() throws -> String {
      let outcome = try namespace.exec(["ethtool", "-k", "tap0"])
      XCTAssertEqual(outcome.status, 0, outcome.error)
      return outcome.output
    }
    // A unix guest with offloads (its default) leaves them on when it exits.
    let guest = try Guest(namespace, example: "ping", target: "unix", readyLine: "answering ARP and ICMP echo")
    XCTAssertTrue(try namespace.waitForPing(namespace.guestAddress), guest.stop())
    guest.stop()
    let left = try offloads()
    XCTAssertTrue(left.contains("tx-checksumming: on") && left.contains("tcp-segmentation-offload: on"), "the unix guest set no offloads: \(left)")
    let outcome = try runCommand(
      ["ip", "netns", "exec", namespace.name, Paths.tool, "run", "--target", "spt", Paths.example("ping"), "--net:service=tap0", "--", "--ipv4=10.0.0.2/24"],
      timeout: 300, environment: ["SIROCCO_SPT_TENDER": tender.path])
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    let seen = (try? String(contentsOfFile: features, encoding: .utf8)) ?? ""
    XCTAssertTrue(seen.contains("tx-checksumming: off"), "the other tender got the TAP with checksum offload on: \(seen)")
    XCTAssertTrue(seen.contains("tcp-segmentation-offload: off"), "the other tender got the TAP with TSO on: \(seen)")
    let given = (try? String(contentsOfFile: arguments, encoding: .utf8)) ?? ""
    XCTAssertEqual(given, "--net:service=tap0 \(Paths.example("ping"))/_build/spt/ping.spt --ipv4=10.0.0.2/24\n")
  }

  // MARK: inspect

  func testInspectPrintsABIAndManifest() throws {
    let outcome = try runCommand([Paths.tool, "inspect", Paths.example("ping") + "/_build/spt/ping.spt"])
    XCTAssertEqual(outcome.status, 0, outcome.error)
    XCTAssertTrue(outcome.output.contains("abi: target spt, version 2"), outcome.output)
    XCTAssertTrue(outcome.output.contains("manifest: 1 device\n  1 service NET_BASIC\n"), outcome.output)
    let block = try runCommand([Paths.tool, "inspect", Self.hostileImage])
    XCTAssertTrue(block.output.contains("1 storage BLOCK_BASIC"), block.output)
    let refused = try runCommand([Paths.tool, "inspect", Paths.root.appendingPathComponent("Package.swift").path])
    XCTAssertEqual(refused.status, 2)
    XCTAssertTrue(refused.error.contains("is not a Solo5 image: not an ELF file"), refused.error)
    let unix = try runCommand([Paths.tool, "inspect", Paths.example("hello") + "/_build/unix/hello"])
    XCTAssertEqual(unix.status, 2)
    XCTAssertTrue(unix.error.contains("is not a Solo5 image"), unix.error)
  }
}
