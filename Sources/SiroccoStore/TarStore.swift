// A read-only store on a block device holding a ustar archive (POSIX.1-1988 ustar, with the
// GNU long-name and pax extensions that GNU tar writes), made with ordinary `tar`: the
// archive is read and checked once, at start, and every value is then read from the
// device on demand. A corrupt archive is refused at start with what is wrong and where,
// not at the first request.

import SiroccoDevices
import SiroccoWire

public enum TarError: Error, Equatable, Sendable {
  /// A header block whose checksum does not match (not an archive, or damaged).
  case badChecksum(block: UInt64)
  /// A header field that is not what ustar allows.
  case badHeader(block: UInt64, field: String)
  /// An entry whose data runs past the end of the device.
  case truncated(block: UInt64, name: String)
  /// A key twice, or a value where a dictionary is (or the other way round).
  case conflict(name: String)
  case io(BlockError)
}

extension TarError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .badChecksum(let block):
      "not a tar archive, or a damaged one: header checksum mismatch at block " + String(block)
        + " (byte " + String(block * 512) + ")"
    case .badHeader(let block, let field): "bad tar header at block " + String(block) + ": " + field
    case .truncated(let block, let name):
      "truncated tar archive: entry '" + name + "' at block " + String(block) + " runs past the end of the device"
    case .conflict(let name): "tar archive holds '" + name + "' twice, or as both a file and a directory"
    case .io(let error): "reading the archive: " + error.description
    }
  }
}

public final class TarStore: KeyValueStore {
  struct Entry {
    /// Where the value's bytes start on the device, and how many.
    var offset: UInt64
    var size: Int
    var modified: Int64
  }

  let device: any BlockDevice
  var index = StoreIndex<Entry>()
  var digests: [[UInt8]: [UInt8]] = [:]
  /// Values (files) the archive holds.
  public private(set) var valueCount = 0

  /// Reads the whole archive's headers from `device` and checks them.
  public init(device: any BlockDevice) throws(TarError) {
    self.device = device
    try readHeaders()
  }

  // MARK: Reading the archive

  /// Reads `count` bytes at byte `offset` of the device (any alignment).
  func read(at offset: UInt64, count: Int) throws(BlockError) -> [UInt8] {
    guard count > 0 else { return [] }
    let sectorSize = UInt64(device.sectorSize)
    let first = offset / sectorSize
    let end = offset + UInt64(count)
    let last = (end + sectorSize - 1) / sectorSize
    let skip = Int(offset - first * sectorSize)
    let span = Int((last - first) * sectorSize)
    if skip == 0 {
      // From a sector's start (a value's data always begins on one): read straight into the
      // result, the tail of its last sector read and left out.
      var failure: BlockError?
      let bytes = [UInt8](unsafeUninitializedCapacity: span) { storage, initialized in
        do throws(BlockError) {
          try device.read(sector: first, into: UnsafeMutableRawBufferPointer(storage))
          initialized = count
        } catch {
          failure = error
          initialized = 0
        }
      }
      if let failure { throw failure }
      return bytes
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: span, alignment: 16)
    defer { buffer.deallocate() }
    try device.read(sector: first, into: buffer)
    return Array(buffer[skip..<(skip + count)])
  }

  func readHeaders() throws(TarError) {
    let blocks = device.capacity / 512
    var block: UInt64 = 0
    var longName: [UInt8]?
    var paxPath: [UInt8]?
    var paxSize: Int?
    var paxModified: Int64?
    while block < blocks {
      let header: [UInt8]
      do { header = try read(at: block * 512, count: 512) } catch { throw .io(error) }
      // The end: a zero block (tar writes two; anything after them is padding).
      if header.allSatisfy({ $0 == 0 }) { return }
      try Self.checkChecksum(header, block: block)
      let magic = header[257..<262]
      guard magic.elementsEqual("ustar".utf8) else { throw .badHeader(block: block, field: "magic is not 'ustar'") }
      let type = header[156]
      let size: Int
      if let pax = paxSize { size = pax } else { size = try Self.number(header[124..<136], block: block, field: "size") }
      let modified: Int64
      if let pax = paxModified { modified = pax } else { modified = Int64(try Self.number(header[136..<148], block: block, field: "mtime")) }
      let dataOffset = (block + 1) * 512
      let dataBlocks = (UInt64(size) + 511) / 512
      var name = longName ?? paxPath ?? Self.headerName(header)
      guard block + 1 + dataBlocks <= blocks else { throw .truncated(block: block, name: text(normalizedKey(name) ?? name)) }
      switch type {
      case UInt8(ascii: "L"):  // GNU: the next entry's long name
        do { longName = Array(try read(at: dataOffset, count: size).prefix { $0 != 0 }) } catch { throw .io(error) }
      case UInt8(ascii: "x"):  // pax: this entry's path, size, mtime
        let records: [UInt8]
        do { records = try read(at: dataOffset, count: size) } catch { throw .io(error) }
        (paxPath, paxSize, paxModified) = try Self.pax(records, block: block)
      case UInt8(ascii: "g"):  // pax global header: nothing a read-only store needs
        break
      default:
        longName = nil
        paxPath = nil
        paxSize = nil
        paxModified = nil
        if name.last == UInt8(ascii: "/") { name.removeLast() }
        guard let key = normalizedKey(name) else { throw .badHeader(block: block, field: "name climbs out with '..'") }
        // Keys are looked up by text: a name that is not UTF-8 would be listed (decoded) but
        // never found (found by Scripts/fuzz tar).
        guard text(key).utf8.elementsEqual(key) else { throw .badHeader(block: block, field: "name is not UTF-8") }
        switch type {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):  // a regular file (7: contiguous)
          guard !key.isEmpty else { throw .badHeader(block: block, field: "empty file name") }
          if let conflict = index.insertValue(Entry(offset: dataOffset, size: size, modified: modified), at: key) {
            throw .conflict(name: text(conflict))
          }
          valueCount += 1
        case UInt8(ascii: "5"):  // a directory
          if let conflict = index.insertDictionary(at: key) { throw .conflict(name: text(conflict)) }
        default:
          break  // links, devices, FIFOs: not in a key-value store
        }
      }
      block += 1 + dataBlocks
    }
  }

  /// The header checksum (POSIX: the unsigned sum of the block with the checksum field as
  /// eight spaces; historic tars summed signed bytes, accepted too).
  static func checkChecksum(_ header: [UInt8], block: UInt64) throws(TarError) {
    var unsigned = 0
    var signed = 0
    for (index, byte) in header.enumerated() {
      let value = index >= 148 && index < 156 ? 32 : Int(byte)
      unsigned += value
      signed += index >= 148 && index < 156 ? 32 : Int(Int8(bitPattern: byte))
    }
    guard let stored = try? number(header[148..<156], block: block, field: "checksum"), stored == unsigned || stored == signed else {
      throw .badChecksum(block: block)
    }
  }

  /// An octal field (NUL- or space-terminated), or GNU's base-256 for large values.
  static func number(_ field: ArraySlice<UInt8>, block: UInt64, field name: String) throws(TarError) -> Int {
    if let first = field.first, first & 0x80 != 0 {
      var value = Int(first & 0x7f)
      for byte in field.dropFirst() {
        guard value < Int.max >> 8 else { throw .badHeader(block: block, field: name + " too large") }
        value = value << 8 | Int(byte)
      }
      return value
    }
    var value = 0
    var digits = 0
    for byte in field {
      if byte == 0 || byte == UInt8(ascii: " ") {
        if digits > 0 { break }
        continue
      }
      guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7") else {
        throw .badHeader(block: block, field: name + " is not an octal number")
      }
      value = value * 8 + Int(byte - UInt8(ascii: "0"))
      digits += 1
    }
    return value
  }

  /// The name: prefix "/" name, each NUL-terminated in its field.
  static func headerName(_ header: [UInt8]) -> [UInt8] {
    let name = Array(header[0..<100].prefix { $0 != 0 })
    let prefix = Array(header[345..<500].prefix { $0 != 0 })
    return prefix.isEmpty ? name : prefix + [UInt8(ascii: "/")] + name
  }

  /// pax records, "LENGTH KEY=VALUE\n": the path, size and mtime this store uses.
  static func pax(_ records: [UInt8], block: UInt64) throws(TarError) -> ([UInt8]?, Int?, Int64?) {
    var path: [UInt8]?
    var size: Int?
    var modified: Int64?
    var index = 0
    while index < records.count, records[index] != 0 {
      var length = 0
      var cursor = index
      while cursor < records.count, records[cursor] != UInt8(ascii: " ") {
        let digit = records[cursor]
        guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9"), length < 1 << 30 else {
          throw .badHeader(block: block, field: "pax record length")
        }
        length = length * 10 + Int(digit - UInt8(ascii: "0"))
        cursor += 1
      }
      // "<length> <key>=<value>\n": the length counts every byte, the newline included.
      guard length > cursor - index + 1, index + length <= records.count,
        records[index + length - 1] == UInt8(ascii: "\n"),
        let equals = records[cursor..<(index + length - 1)].firstIndex(of: UInt8(ascii: "="))
      else { throw .badHeader(block: block, field: "pax record") }
      let key = Array(records[(cursor + 1)..<equals])
      let value = Array(records[(equals + 1)..<(index + length - 1)])
      if key.elementsEqual("path".utf8) { path = value }
      if key.elementsEqual("size".utf8) { size = asciiDecimal(value) }
      if key.elementsEqual("mtime".utf8) { modified = asciiDecimal(value.prefix { $0 != UInt8(ascii: ".") }).map { Int64($0) } }
      index += length
    }
    return (path, size, modified)
  }

  // MARK: The store

  func entry(_ key: String) throws(StoreError) -> (key: [UInt8], entry: Entry) {
    let found = try index.value(key)
    return (found.key, found.value)
  }

  public func exists(_ key: String) -> StoreEntryKind? { index.exists(key) }

  public func get(_ key: String) throws(StoreError) -> [UInt8] {
    let found = try entry(key)
    return try get(key, offset: 0, length: found.entry.size)
  }

  public func get(_ key: String, offset: Int, length: Int) throws(StoreError) -> [UInt8] {
    let found = try entry(key).entry
    let start = min(max(offset, 0), found.size)
    let count = min(max(length, 0), found.size - start)
    do { return try read(at: found.offset + UInt64(start), count: count) } catch { throw .io(error) }
  }

  public func list(_ key: String) throws(StoreError) -> [(name: String, kind: StoreEntryKind)] { try index.list(key) }

  public func size(_ key: String) throws(StoreError) -> Int { try entry(key).entry.size }

  public func lastModified(_ key: String) throws(StoreError) -> Int64 { try entry(key).entry.modified }

  public func metadata(_ key: String) -> StoreMetadata? { index.metadata(key) { ($0.size, $0.modified) } }

  /// Computed on first use (a whole read of the value), then kept.
  public func digest(_ key: String) throws(StoreError) -> [UInt8] {
    let found = try entry(key)
    if let known = digests[found.key] { return known }
    var hash = SHA256()
    var offset = 0
    while offset < found.entry.size {
      let chunk = try get(key, offset: offset, length: 1 << 20)
      hash.update(chunk)
      offset += chunk.count
    }
    let digest = hash.finalizeBytes()
    digests[found.key] = digest
    return digest
  }
}
