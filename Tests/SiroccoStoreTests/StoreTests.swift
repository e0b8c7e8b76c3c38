// The read-only stores: in memory, and ustar archives made by the system's own `tar` (GNU,
// pax and plain ustar formats) on an in-memory block device; corrupt archives refused at
// start, saying where.

import Foundation
import SiroccoDevices
@testable import SiroccoStore
import SiroccoWire
import XCTest

final class StoreTests: XCTestCase {
  /// The files of the test site: paths, contents, modification times.
  static let longName = String(repeating: "a-rather-long-directory-name/", count: 4) + "and-a-long-file-name.html"
  static let files: [(path: String, bytes: [UInt8], modified: Int64)] = [
    ("index.html", Array("<h1>hello</h1>\n".utf8), 1_700_000_000),
    ("css/site.css", Array("body { color: black }\n".utf8), 1_700_000_100),
    ("media/big.bin", (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }, 1_700_000_200),
    ("empty.txt", [], 1_700_000_300),
    (longName, Array("deep\n".utf8), 1_700_000_400),
  ]

  /// An archive of `files` made by `tar --format=FORMAT`, on a block device of `sectorSize`.
  func archive(format: String, sectorSize: Int = 512) throws -> MemoryBlockDevice {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-store-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    for file in Self.files {
      let url = directory.appendingPathComponent(file.path)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try Data(file.bytes).write(to: url)
      try FileManager.default.setAttributes(
        [.modificationDate: Date(timeIntervalSince1970: TimeInterval(file.modified))], ofItemAtPath: url.path)
    }
    let tarball = directory.appendingPathExtension("tar")
    defer { try? FileManager.default.removeItem(at: tarball) }
    let tar = Process()
    tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
    tar.arguments = ["--format=\(format)", "-cf", tarball.path, "-C", directory.path, "."]
    try tar.run()
    tar.waitUntilExit()
    XCTAssertEqual(tar.terminationStatus, 0)
    return device(try [UInt8](Data(contentsOf: tarball)), sectorSize: sectorSize)
  }

  func device(_ bytes: [UInt8], sectorSize: Int = 512) -> MemoryBlockDevice {
    let device = MemoryBlockDevice(sectorSize: sectorSize, sectors: (bytes.count + sectorSize - 1) / sectorSize)
    device.storage.replaceSubrange(0..<bytes.count, with: bytes)
    return device
  }

  func sha256(_ bytes: [UInt8]) -> [UInt8] {
    var hash = SHA256()
    hash.update(bytes)
    return hash.finalizeBytes()
  }

  /// What every store must answer about the test site.
  func check(_ store: any KeyValueStore, file: StaticString = #filePath, line: UInt = #line) throws {
    for entry in Self.files {
      XCTAssertEqual(store.exists(entry.path), .value, entry.path, file: file, line: line)
      XCTAssertEqual(try store.get(entry.path), entry.bytes, entry.path, file: file, line: line)
      XCTAssertEqual(try store.size(entry.path), entry.bytes.count, file: file, line: line)
      XCTAssertEqual(try store.lastModified(entry.path), entry.modified, entry.path, file: file, line: line)
      XCTAssertEqual(try store.digest(entry.path), sha256(entry.bytes), file: file, line: line)
      XCTAssertEqual(try store.get("/" + entry.path), entry.bytes, "a leading slash", file: file, line: line)
    }
    let big = Self.files[2].bytes
    XCTAssertEqual(try store.get("media/big.bin", offset: 1000, length: 5000), Array(big[1000..<6000]), file: file, line: line)
    XCTAssertEqual(try store.get("media/big.bin", offset: 299_990, length: 100), Array(big[299_990...]), file: file, line: line)
    XCTAssertEqual(try store.get("media/big.bin", offset: 400_000, length: 10), [], file: file, line: line)
    XCTAssertEqual(store.exists(""), .dictionary, file: file, line: line)
    XCTAssertEqual(store.exists("css"), .dictionary, file: file, line: line)
    XCTAssertEqual(store.exists("css/"), .dictionary, file: file, line: line)
    XCTAssertNil(store.exists("missing.html"), file: file, line: line)
    XCTAssertNil(store.exists("../index.html"), file: file, line: line)
    XCTAssertEqual(try store.list("").map(\.name), ["a-rather-long-directory-name", "css", "empty.txt", "index.html", "media"], file: file, line: line)
    XCTAssertEqual(try store.list("").map(\.kind), [.dictionary, .dictionary, .value, .value, .dictionary], file: file, line: line)
    XCTAssertEqual(try store.list("css").map(\.name), ["site.css"], file: file, line: line)
    XCTAssertThrowsError(try store.get("css"), file: file, line: line) { XCTAssertEqual($0 as? StoreError, .notAValue("css")) }
    XCTAssertThrowsError(try store.list("index.html"), file: file, line: line) {
      XCTAssertEqual($0 as? StoreError, .notADictionary("index.html"))
    }
    XCTAssertThrowsError(try store.get("nope"), file: file, line: line) { XCTAssertEqual($0 as? StoreError, .notFound("nope")) }
  }

  func testMemoryStore() throws {
    try check(MemoryStore(Self.files))
  }

  func testArchivesInEveryFormatTarWrites() throws {
    for format in ["gnu", "pax"] {
      try check(try TarStore(device: try archive(format: format)))
    }
    for sectorSize in [512, 4096] {
      try check(try TarStore(device: try archive(format: "pax", sectorSize: sectorSize)))
    }
  }

  /// Plain ustar cannot hold a 100-character name unless it splits at a "/" into prefix and
  /// name: the long path here does split, so it is stored that way.
  func testPlainUstarSplitsLongPathsIntoPrefixAndName() throws {
    try check(try TarStore(device: try archive(format: "ustar")))
  }

  // MARK: Corrupt archives

  func refuse(_ bytes: [UInt8], _ expected: TarError, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try TarStore(device: device(bytes)), file: file, line: line) { error in
      XCTAssertEqual(error as? TarError, expected, file: file, line: line)
    }
  }

  /// Writes `value` into a header field and fixes the header's checksum, as a crafted (not
  /// damaged) archive would have it.
  func patched(_ bytes: [UInt8], block: Int, at offset: Int, _ value: [UInt8]) -> [UInt8] {
    var bytes = bytes
    let start = block * 512
    bytes.replaceSubrange((start + offset)..<(start + offset + value.count), with: value)
    var sum = 0
    for index in 0..<512 { sum += (148..<156).contains(index) ? 32 : Int(bytes[start + index]) }
    let octal = Array(String(sum, radix: 8).utf8)
    let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - octal.count) + octal + [0, 32]
    bytes.replaceSubrange((start + 148)..<(start + 156), with: field)
    return bytes
  }

  func testCorruptArchivesAreRefusedAtStartSayingWhere() throws {
    let good = try archive(format: "ustar").storage
    var damaged = good
    damaged[100] ^= 0x01  // the first header's mode field
    refuse(damaged, .badChecksum(block: 0))
    refuse((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }, .badChecksum(block: 0))
    refuse(patched(good, block: 0, at: 257, Array("xstar".utf8)), .badHeader(block: 0, field: "magic is not 'ustar'"))
    refuse(patched(good, block: 0, at: 124, Array("0000000009x\0".utf8)), .badHeader(block: 0, field: "size is not an octal number"))
    refuse(patched(good, block: 0, at: 0, Array("../evil\0".utf8)), .badHeader(block: 0, field: "name climbs out with '..'"))
    // Found by Scripts/fuzz tar: a Latin-1 name was listed, decoded, but could not be found.
    refuse(patched(good, block: 0, at: 0, [0x63, 0x61, 0x66, 0xe9, 0]), .badHeader(block: 0, field: "name is not UTF-8"))
    // Found by Scripts/fuzz tar in CI: a record whose '=' was its last byte (no newline) crashed.
    XCTAssertThrowsError(try TarStore.pax(Array("8 abcde=".utf8), block: 4)) { error in
      XCTAssertEqual(error as? TarError, .badHeader(block: 4, field: "pax record"))
    }
    XCTAssertThrowsError(try TarStore.pax(Array("10 path=ab".utf8) + [0], block: 4))
    XCTAssertEqual(try TarStore.pax(Array("12 path=abc\n14 size=12345\n".utf8), block: 4).0, Array("abc".utf8))
    XCTAssertEqual(try TarStore.pax(Array("12 path=abc\n13 size=1234\n".utf8), block: 4).1, 1234)
    // A size past the end of the device.
    let huge = patched(good, block: 0, at: 124, Array("77777777777\0".utf8))
    XCTAssertThrowsError(try TarStore(device: device(huge))) { error in
      guard case .truncated(block: 0, _)? = error as? TarError else { return XCTFail("\(error)") }
      XCTAssertTrue("\(error)".contains("runs past the end of the device"), "\(error)")
    }
    // Cut in the middle of the big file's data.
    let cut = Array(good.prefix(200_000))
    XCTAssertThrowsError(try TarStore(device: device(cut))) { error in
      guard case .truncated(_, let name)? = error as? TarError else { return XCTFail("\(error)") }
      XCTAssertEqual(name, "media/big.bin")
    }
    // Every message names the block and the byte.
    XCTAssertEqual("\(TarError.badChecksum(block: 3))", "not a tar archive, or a damaged one: header checksum mismatch at block 3 (byte 1536)")
  }

  /// An archive in read-only memory, as `sirocco build` compiles Resources into an image:
  /// read like any other, never written; a binary built without one has an empty store.
  func testAnArchiveInReadOnlyMemoryIsAStoreAndABinaryWithoutOneHasNone() throws {
    let bytes = try archive(format: "ustar").storage + [1, 2, 3]  // a tail short of a sector
    try bytes.withUnsafeBytes { memory in
      let device = ReadOnlyMemoryBlockDevice(memory)
      XCTAssertEqual(device.capacity, UInt64((bytes.count - 3)))
      try check(try TarStore(device: device))
      let sector = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 16)
      defer { sector.deallocate() }
      XCTAssertThrowsError(try device.write(sector: 0, from: UnsafeRawBufferPointer(sector))) {
        XCTAssertEqual($0 as? BlockError, .readOnly)
      }
      XCTAssertThrowsError(try device.read(sector: device.capacity / 512, into: sector)) {
        XCTAssertEqual($0 as? BlockError, .outOfRange)
      }
    }
    XCTAssertEqual(try TarStore.image.list("").count, 0, "no resources table linked into the test binary")
    XCTAssertEqual(TarStore.image.exists("zones"), nil)
  }

  func testAnEmptyDeviceIsAnEmptyStore() throws {
    let store = try TarStore(device: MemoryBlockDevice(sectors: 4))
    XCTAssertEqual(try store.list("").count, 0)
    XCTAssertEqual(store.valueCount, 0)
  }
}
