// A read-only key-value store, as mirage-kv's RO interface: values under keys that are
// paths ("css/site.css"), dictionaries (directories) implied by them. Implemented by
// `MemoryStore` (tests, and the files compiled into the image) and `TarStore` (a ustar
// archive on a block device).

import SiroccoDevices
import SiroccoWire

/// What a key names.
public enum StoreEntryKind: Equatable, Sendable {
  case value
  case dictionary
}

public enum StoreError: Error, Equatable, Sendable {
  case notFound(String)
  /// The key names a dictionary where a value was expected (or the other way round).
  case notAValue(String)
  case notADictionary(String)
  /// The block device failed under a read.
  case io(BlockError)
}

extension StoreError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .notFound(let key): "no key '" + key + "'"
    case .notAValue(let key): "'" + key + "' is a dictionary, not a value"
    case .notADictionary(let key): "'" + key + "' is a value, not a dictionary"
    case .io(let error): "block device: " + error.description
    }
  }
}

public protocol KeyValueStore: AnyObject {
  /// Whether `key` names a value, a dictionary, or nothing. The root is "".
  func exists(_ key: String) -> StoreEntryKind?
  /// The whole value.
  func get(_ key: String) throws(StoreError) -> [UInt8]
  /// At most `length` bytes of the value from `offset` (fewer past its end).
  func get(_ key: String, offset: Int, length: Int) throws(StoreError) -> [UInt8]
  /// The names (not paths) directly under the dictionary `key`, sorted, with their kinds.
  func list(_ key: String) throws(StoreError) -> [(name: String, kind: StoreEntryKind)]
  /// The value's length in bytes.
  func size(_ key: String) throws(StoreError) -> Int
  /// When the value last changed, in seconds since 1970-01-01 UTC.
  func lastModified(_ key: String) throws(StoreError) -> Int64
  /// The value's SHA-256.
  func digest(_ key: String) throws(StoreError) -> [UInt8]
  /// What `key` names, with a value's size and modification time: `exists`, `size` and
  /// `lastModified` in one lookup (nil: nothing). A server asks this once per request.
  func metadata(_ key: String) -> StoreMetadata?
}

/// What a key names, and what a store knows of a value without reading it.
public enum StoreMetadata: Equatable, Sendable {
  /// A value of `size` bytes, last changed at `lastModified` (seconds since 1970).
  case value(size: Int, lastModified: Int64)
  case dictionary
}

extension KeyValueStore {
  /// From `exists`, `size` and `lastModified`, for a store that has no single lookup.
  public func metadata(_ key: String) -> StoreMetadata? {
    switch exists(key) {
    case .dictionary: return .dictionary
    case .value:
      guard let size = try? size(key), let modified = try? lastModified(key) else { return nil }
      return .value(size: size, lastModified: modified)
    case nil: return nil
    }
  }
}

/// A key as the stores hold it, as UTF-8 bytes (compared byte for byte, see Text.swift):
/// no leading "/" or "./", no empty or "." segments, no trailing "/"; nil for a key that
/// climbs out with "..". A URL path becomes a key the same way ("/" is the root, "").
func normalizedKey(_ key: String) -> [UInt8]? { key.withUTF8Bytes(normalized) }

public func normalizedKey(_ key: [UInt8]) -> [UInt8]? { key.withUnsafeBufferPointer(normalized) }

public func normalizedKey(_ key: ArraySlice<UInt8>) -> [UInt8]? { key.withUnsafeBufferPointer(normalized) }

/// (Over a buffer: one copy of the code for every kind of key, in an Embedded image too.)
func normalized(_ key: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
  // One pass, segment by segment; the result's storage is reserved once, at its first segment.
  let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
  var result: [UInt8] = []
  var start = 0
  while start < key.count {
    var end = start
    while end < key.count, key[end] != slash { end += 1 }
    let length = end - start
    defer { start = end + 1 }
    if length == 0 || (length == 1 && key[start] == dot) { continue }
    if length == 2, key[start] == dot, key[start + 1] == dot { return nil }
    if result.isEmpty { result.reserveCapacity(key.count) } else { result.append(slash) }
    result.append(contentsOf: UnsafeBufferPointer(rebasing: key[start..<end]))
  }
  return result
}

/// The dictionary holding a normalized key, and the key's last segment.
func split(_ key: [UInt8]) -> (parent: [UInt8], name: [UInt8]) {
  guard let slash = key.lastIndex(of: UInt8(ascii: "/")) else { return ([], key) }
  return (Array(key[..<slash]), Array(key[(slash + 1)...]))
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The keys of a store: its values (whatever each store keeps for one) and the dictionaries
/// their paths imply. Shared by `MemoryStore` and `TarStore`.
struct StoreIndex<Value> {
  var values: [[UInt8]: Value] = [:]
  var children: [[UInt8]: [[UInt8]: StoreEntryKind]] = [[]: [:]]

  /// Adds a value at a normalized, non-empty `key`; returns the key that conflicts instead
  /// (the key itself as a dictionary, or a value where a dictionary above it must be).
  mutating func insertValue(_ value: Value, at key: [UInt8]) -> [UInt8]? {
    if values[key] != nil || children[key] != nil { return key }
    if let conflict = addToParents(key, kind: .value) { return conflict }
    values[key] = value
    return nil
  }

  /// Adds an (empty) dictionary at a normalized key; returns the key that conflicts instead.
  mutating func insertDictionary(at key: [UInt8]) -> [UInt8]? {
    guard !key.isEmpty else { return nil }
    if values[key] != nil { return key }
    if children[key] == nil { children[key] = [:] }
    return addToParents(key, kind: .dictionary)
  }

  /// Records `key` in its parent, and the parents in theirs as far as they are new.
  mutating func addToParents(_ key: [UInt8], kind: StoreEntryKind) -> [UInt8]? {
    let (parent, name) = split(key)
    if values[parent] != nil { return parent }
    let known = children[parent] != nil
    children[parent, default: [:]][name] = kind
    return !parent.isEmpty && !known ? addToParents(parent, kind: .dictionary) : nil
  }

  func exists(_ key: String) -> StoreEntryKind? {
    let found = lookUp(key)
    return found.value != nil ? .value : found.isDictionary ? .dictionary : nil
  }

  /// `KeyValueStore.metadata` for a store whose values tell their size and date.
  func metadata(_ key: String, _ describe: (Value) -> (size: Int, modified: Int64)) -> StoreMetadata? {
    let found = lookUp(key)
    if let value = found.value {
      let (size, modified) = describe(value)
      return .value(size: size, lastModified: modified)
    }
    return found.isDictionary ? .dictionary : nil
  }

  /// What `key` names: its value, a dictionary, or nothing; one lookup for a value.
  func lookUp(_ key: String) -> (value: Value?, isDictionary: Bool) {
    guard let normalized = normalizedKey(key) else { return (nil, false) }
    if let value = values[normalized] { return (value, false) }
    return (nil, children[normalized] != nil)
  }

  /// The value at `key`, with the key normalized.
  func value(_ key: String) throws(StoreError) -> (key: [UInt8], value: Value) {
    guard let normalized = normalizedKey(key) else { throw .notFound(key) }
    if let value = values[normalized] { return (normalized, value) }
    throw children[normalized] != nil ? .notAValue(key) : .notFound(key)
  }

  func list(_ key: String) throws(StoreError) -> [(name: String, kind: StoreEntryKind)] {
    guard let normalized = normalizedKey(key) else { throw .notFound(key) }
    guard let entries = children[normalized] else {
      throw values[normalized] != nil ? .notADictionary(key) : .notFound(key)
    }
    return entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { (text($0.key), $0.value) }
  }
}
