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
      XCTAssertEqual(store.metadata(entry.path), .value(size: entry.bytes.count, lastModified: entry.modified), entry.path,
                     file: file, line: line)
      XCTAssertEqual(store.metadata("./" + entry.path), store.metadata(entry.path), file: file, line: line)
    }
    XCTAssertEqual(store.metadata("css/"), .dictionary, file: file, line: line)
    XCTAssertNil(store.metadata("missing.html"), file: file, line: line)
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

/// A store that counts the reads of values that reach it.
final class CountingStore: KeyValueStore {
  let inner: MemoryStore
  var reads = 0
  init(_ inner: MemoryStore) { self.inner = inner }
  func exists(_ key: String) -> StoreEntryKind? { inner.exists(key) }
  func get(_ key: String) throws(StoreError) -> [UInt8] {
    reads += 1
    return try inner.get(key)
  }
  func get(_ key: String, offset: Int, length: Int) throws(StoreError) -> [UInt8] {
    reads += 1
    return try inner.get(key, offset: offset, length: length)
  }
  func list(_ key: String) throws(StoreError) -> [(name: String, kind: StoreEntryKind)] { try inner.list(key) }
  func size(_ key: String) throws(StoreError) -> Int { try inner.size(key) }
  func lastModified(_ key: String) throws(StoreError) -> Int64 { try inner.lastModified(key) }
  func digest(_ key: String) throws(StoreError) -> [UInt8] { try inner.digest(key) }
}

final class StoreMetadataTests: XCTestCase {
  /// `metadata` answers in one lookup what `exists`, `size` and `lastModified` answer, on
  /// every store (a store without its own gets the default made of those three).
  func testMetadataAgreesWithTheSeparateCalls() throws {
    let memory = MemoryStore([("index.html", Array(repeating: 1, count: 333), 1_700_000_000), ("css/site.css", [2, 3], 5)])
    let stores: [any KeyValueStore] = [memory, CachedStore(memory, capacity: 1 << 20), CountingStore(memory)]
    for store in stores {
      XCTAssertEqual(store.metadata("index.html"), .value(size: 333, lastModified: 1_700_000_000))
      XCTAssertEqual(store.metadata("/css//site.css"), .value(size: 2, lastModified: 5))
      XCTAssertEqual(store.metadata(""), .dictionary)
      XCTAssertEqual(store.metadata("css/"), .dictionary)
      XCTAssertNil(store.metadata("missing"))
      XCTAssertNil(store.metadata("../index.html"))
    }
  }
}

final class CachedStoreTests: XCTestCase {
  static func bytes(_ count: Int, _ seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0) &+ seed } }

  func testAHotValueIsReadFromTheStoreOnceAndServedWholeOrInPieces() throws {
    let page = Self.bytes(3000, 7)
    let counting = CountingStore(MemoryStore([("index.html", page, 1), ("css/site.css", Self.bytes(10, 1), 2)]))
    let cache = CachedStore(counting, capacity: 1 << 20)
    XCTAssertEqual(cache.largestValue, 65536)
    for _ in 0..<5 {
      XCTAssertEqual(try cache.get("index.html"), page)
      XCTAssertEqual(try cache.get("/./index.html", offset: 1000, length: 500), Array(page[1000..<1500]))
      XCTAssertEqual(try cache.get("index.html", offset: 2900, length: Int.max), Array(page[2900...]))
      XCTAssertEqual(try cache.get("index.html", offset: 5000, length: 10), [])
    }
    XCTAssertEqual(counting.reads, 1, "one read of the store for fifteen answers")
    XCTAssertEqual([cache.hits, cache.misses, cache.heldBytes, cache.valueCount], [19, 1, 3000, 1])
    // What the store says of values, and its errors, come through unchanged.
    XCTAssertEqual(try cache.size("css/site.css"), 10)
    XCTAssertEqual(try cache.lastModified("css/site.css"), 2)
    XCTAssertEqual(cache.exists("css"), .dictionary)
    XCTAssertEqual(try cache.list("").map(\.name), ["css", "index.html"])
    XCTAssertThrowsError(try cache.get("missing.html")) { XCTAssertEqual($0 as? StoreError, .notFound("missing.html")) }
    XCTAssertThrowsError(try cache.get("css")) { XCTAssertEqual($0 as? StoreError, .notAValue("css")) }
    XCTAssertThrowsError(try cache.get("../etc/passwd", offset: 0, length: 10))
    XCTAssertEqual(cache.heldBytes, 3000)
  }

  /// Whatever the order of requests, the kept values never hold more than the bound; the
  /// least recently used goes first; a value over the largest kept is read every time.
  func testTheBoundHoldsTheLeastRecentlyUsedGoesAndLargeValuesAreNotKept() throws {
    var files: [(path: String, bytes: [UInt8], modified: Int64)] = []
    for index in 0..<40 { files.append(("f\(index)", Self.bytes(100 + index * 37, UInt8(index)), Int64(index))) }
    files.append(("large", Self.bytes(5000, 9), 0))
    let counting = CountingStore(MemoryStore(files))
    let cache = CachedStore(counting, capacity: 4096, largestValue: 2048)
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
      let index = Int.random(in: 0..<40, using: &generator)
      XCTAssertEqual(try cache.get("f\(index)", offset: 0, length: 1 << 20), files[index].bytes)
      XCTAssertLessThanOrEqual(cache.heldBytes, 4096)
      XCTAssertEqual(cache.heldBytes, cache.entries.values.reduce(0) { $0 + $1.bytes.count })
    }
    XCTAssertGreaterThan(cache.evictions, 0)
    XCTAssertEqual(cache.hits + cache.misses, 2000)
    // LRU: after a, b, c (filling the bound), using a then adding d evicts b.
    let lru = CachedStore(CountingStore(MemoryStore([("a", Self.bytes(1000, 1), 0), ("b", Self.bytes(1000, 2), 0),
                                                      ("c", Self.bytes(1000, 3), 0), ("d", Self.bytes(1000, 4), 0)])),
                          capacity: 3000, largestValue: 1000)
    for key in ["a", "b", "c", "a", "d"] { _ = try lru.get(key) }
    XCTAssertEqual(Set(lru.entries.keys.map { String(decoding: $0, as: UTF8.self) }), ["a", "c", "d"])
    XCTAssertEqual(lru.evictions, 1)
    // Too large to keep: read from the store each time, nothing held.
    let before = counting.reads
    for _ in 0..<3 { XCTAssertEqual(try cache.get("large"), files[40].bytes) }
    XCTAssertEqual(counting.reads, before + 3)
    XCTAssertNil(cache.entries[Array("large".utf8)])
    // A cache of 0 bytes keeps nothing.
    let none = CachedStore(counting, capacity: 0)
    _ = try none.get("f1")
    _ = try none.get("f1")
    XCTAssertEqual([none.heldBytes, none.valueCount, none.hits], [0, 0, 0])
  }
}
