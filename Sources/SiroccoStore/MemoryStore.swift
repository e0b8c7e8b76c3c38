// A read-only store held in memory: for tests, and for small built-in sites.

import SiroccoWire

public final class MemoryStore: KeyValueStore {
  struct Value {
    var bytes: [UInt8]
    var modified: Int64
  }

  var values: [[UInt8]: Value] = [:]
  var children: [[UInt8]: [[UInt8]: StoreEntryKind]] = [[]: [:]]

  /// `files`: paths and contents, with when they last changed (seconds since 1970). A path
  /// that climbs out with ".." is left out.
  public init(_ files: [(path: String, bytes: [UInt8], modified: Int64)]) {
    for file in files {
      guard let key = normalizedKey(file.path), !key.isEmpty else { continue }
      values[key] = Value(bytes: file.bytes, modified: file.modified)
      addToParents(key, kind: .value)
    }
  }

  func addToParents(_ key: [UInt8], kind: StoreEntryKind) {
    let (parent, name) = split(key)
    let known = children[parent] != nil
    children[parent, default: [:]][name] = kind
    if !parent.isEmpty, !known { addToParents(parent, kind: .dictionary) }
  }

  func value(_ key: String) throws(StoreError) -> Value {
    guard let normalized = normalizedKey(key) else { throw .notFound(key) }
    if let value = values[normalized] { return value }
    throw children[normalized] != nil ? .notAValue(key) : .notFound(key)
  }

  public func exists(_ key: String) -> StoreEntryKind? {
    guard let normalized = normalizedKey(key) else { return nil }
    if values[normalized] != nil { return .value }
    return children[normalized] != nil ? .dictionary : nil
  }

  public func get(_ key: String) throws(StoreError) -> [UInt8] { try value(key).bytes }

  public func get(_ key: String, offset: Int, length: Int) throws(StoreError) -> [UInt8] {
    let bytes = try value(key).bytes
    let start = min(max(offset, 0), bytes.count)
    return Array(bytes[start..<min(bytes.count, start + max(length, 0))])
  }

  public func list(_ key: String) throws(StoreError) -> [(name: String, kind: StoreEntryKind)] {
    guard let normalized = normalizedKey(key) else { throw .notFound(key) }
    guard let entries = children[normalized] else {
      throw values[normalized] != nil ? .notADictionary(key) : .notFound(key)
    }
    return entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { (text($0.key), $0.value) }
  }

  public func size(_ key: String) throws(StoreError) -> Int { try value(key).bytes.count }

  public func lastModified(_ key: String) throws(StoreError) -> Int64 { try value(key).modified }

  public func digest(_ key: String) throws(StoreError) -> [UInt8] {
    var hash = SHA256()
    hash.update(try value(key).bytes)
    return hash.finalizeBytes()
  }
}
