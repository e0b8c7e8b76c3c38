// A read-only store held in memory: for tests, and for small built-in sites.

import SiroccoWire

public final class MemoryStore: KeyValueStore {
  struct Value {
    var bytes: [UInt8]
    var modified: Int64
  }

  var index = StoreIndex<Value>()

  /// `files`: paths and contents, with when they last changed (seconds since 1970). A path
  /// given twice keeps its last contents; one that climbs out with "..", or that a file's
  /// path already uses as a directory (or the other way round), is left out.
  public init(_ files: [(path: String, bytes: [UInt8], modified: Int64)]) {
    for file in files {
      guard let key = normalizedKey(file.path), !key.isEmpty else { continue }
      let value = Value(bytes: file.bytes, modified: file.modified)
      if index.values[key] != nil { index.values[key] = value } else { _ = index.insertValue(value, at: key) }
    }
  }

  func value(_ key: String) throws(StoreError) -> Value { try index.value(key).value }

  public func exists(_ key: String) -> StoreEntryKind? { index.exists(key) }

  public func get(_ key: String) throws(StoreError) -> [UInt8] { try value(key).bytes }

  public func get(_ key: String, offset: Int, length: Int) throws(StoreError) -> [UInt8] {
    let bytes = try value(key).bytes
    let start = min(max(offset, 0), bytes.count)
    return Array(bytes[start..<min(bytes.count, start + max(length, 0))])
  }

  public func list(_ key: String) throws(StoreError) -> [(name: String, kind: StoreEntryKind)] { try index.list(key) }

  public func size(_ key: String) throws(StoreError) -> Int { try value(key).bytes.count }

  public func lastModified(_ key: String) throws(StoreError) -> Int64 { try value(key).modified }

  public func metadata(_ key: String) -> StoreMetadata? { index.metadata(key) { ($0.bytes.count, $0.modified) } }

  public func digest(_ key: String) throws(StoreError) -> [UInt8] {
    var hash = SHA256()
    hash.update(try value(key).bytes)
    return hash.finalizeBytes()
  }
}
