// The spt target: guests that must abort, images the tender must refuse, and hostile guests
// the sandbox must contain. (The example matrix over unix and spt is in the other files.)

import Foundation
import SiroccoABI
import XCTest

final class SPTTests: XCTestCase {
  static let hostileImage = Paths.testGuest("hostile") + "/_build/spt/hostile.spt"
  nonisolated(unsafe) static var hostileBuilt = false

  override func setUpWithError() throws {
    try Examples.buildAll()
    if !Self.hostileBuilt {
      let outcome = try runCommand([Paths.tool, "build", "--target", "spt", Paths.testGuest("hostile")], timeout: 600)
      XCTAssertEqual(outcome.status, 0, outcome.error)
      Self.hostileBuilt = true
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

  func testTrapsAreReportedAndExit255() throws {
    for (misdeed, report) in [
      ("null", "guest trap: invalid memory access at address 0x8"),
      ("precondition", "guest trap: illegal instruction"),
      ("bounds", "guest trap: illegal instruction"),
      ("overflow", "guest trap: illegal instruction"),
    ] {
      let (outcome, _) = try hostile(misdeed)
      XCTAssertFalse(outcome.signaled, misdeed)
      XCTAssertEqual(outcome.status, 255, "\(misdeed): \(outcome.output)\(outcome.error)")
      XCTAssertTrue(outcome.output.contains(report), "\(misdeed): \(outcome.output)")
      // The function is named from the image's symbol table.
      XCTAssertTrue(outcome.output.contains(" in $e18SiroccoApplication7Hostile"), "\(misdeed): \(outcome.output)")
    }
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

  /// Descriptors and files the guest was not given are out of reach.
  func testGuestReachesNoOtherDescriptorOrFile() throws {
    for misdeed in ["open", "stderr", "stdin", "other-fd"] {
      let (outcome, _) = try hostile(misdeed)
      XCTAssertTrue(outcome.signaled, "\(misdeed) was not stopped: \(outcome.status) \(outcome.output)")
      XCTAssertEqual(outcome.status, SIGSYS, misdeed)
    }
  }

  /// Bad pointers and lengths are refused by the kernel; the guest goes on.
  func testBadPointersFailWithoutHarm() throws {
    let (outcome, _) = try hostile("bad-pointer")
    XCTAssertEqual(outcome.status, 0, outcome.output)
    XCTAssertTrue(outcome.output.contains("bad pointers returned -14 -14 -14"), outcome.output)
  }

  /// No read or write reaches past the block device's capacity, or moves less or more than
  /// one sector; the file is untouched by every refused request.
  func testBlockAccessStaysInsideTheDevice() throws {
    for misdeed in ["block-past-end", "block-straddle", "block-short", "block-long", "block-read-past-end", "block-negative"] {
      let (outcome, disk) = try hostile(misdeed)
      XCTAssertTrue(outcome.signaled, "\(misdeed) was not stopped: \(outcome.status) \(outcome.output)")
      XCTAssertEqual(outcome.status, SIGSYS, misdeed)
      XCTAssertEqual(disk, Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }), "\(misdeed) changed the disk")
    }
    // The last whole sector is the guest's to write.
    let (outcome, disk) = try hostile("block-last-sector")
    XCTAssertEqual(outcome.status, 0, outcome.output)
    XCTAssertEqual(disk.count, 65536)
    XCTAssertEqual(Set(disk.suffix(512)), [0x5a])
    XCTAssertEqual(disk.prefix(65536 - 512), Data((0..<(65536 - 512)).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
  }

  // MARK: Refused images: exit 1 with one line

  func assertRefused(_ image: Data, mentions fragment: String, options: [String] = [],
                     file: StaticString = #filePath, line: UInt = #line) throws {
    let copy = try TemporaryFile()
    try image.write(to: copy.url)
    let outcome = try tender(options + [copy.url.path])
    XCTAssertFalse(outcome.signaled, file: file, line: line)
    XCTAssertEqual(outcome.status, 1, "\(outcome.output)\(outcome.error)", file: file, line: line)
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
    try assertRefused(image.prefix(image.count / 2), mentions: "truncated ELF file")
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
    try assertRefused(ping, mentions: "device 'service' declared by the image is not attached: expected --net:service=TAP")
    try assertRefused(ping, mentions: "the image declares no network device 'uplink'", options: ["--net:uplink=tap0"])
    try assertRefused(ping, mentions: "the image declares no block device 'disk'", options: ["--block:disk=/dev/null"])
    try assertRefused(ping, mentions: "bad device name", options: ["--net:bad_name=tap0"])
    try assertRefused(ping, mentions: "--mem=0: expected --mem=MiB", options: ["--mem=0"])
    try assertRefused(try hello, mentions: "--net-offload: no network device is attached", options: ["--net-offload"])
    try assertRefused(ping, mentions: "unknown option '--frobnicate'", options: ["--frobnicate"])
    try assertRefused(ping, mentions: "cannot use TAP interface 'nosuchtap0'", options: ["--net:service=nosuchtap0"])
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
