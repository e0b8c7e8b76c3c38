// A read-only key-value store, as mirage-kv's RO interface: values under keys that are
// paths ("css/site.css"), dictionaries (directories) implied by them. Implemented by
// `MemoryStore` (tests) and `TarStore` (a ustar archive on a block device).

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
}

/// A key as the stores hold it, as UTF-8 bytes (compared byte for byte, see Text.swift):
/// no leading "/" or "./", no empty or "." segments, no trailing "/"; nil for a key that
/// climbs out with "..".
func normalizedKey(_ key: String) -> [UInt8]? { normalizedKey(Array(key.utf8)) }

func normalizedKey(_ key: [UInt8]) -> [UInt8]? {
  var result: [UInt8] = []
  for segment in key.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
    if segment.count == 1, segment.first == UInt8(ascii: ".") { continue }
    if segment.count == 2, segment.allSatisfy({ $0 == UInt8(ascii: ".") }) { return nil }
    if !result.isEmpty { result.append(UInt8(ascii: "/")) }
    result.append(contentsOf: segment)
  }
  return result
}

/// The dictionaries above a normalized key: "a/b/c" has "", "a", "a/b".
func parents(of key: [UInt8]) -> [[UInt8]] {
  var result: [[UInt8]] = [[]]
  for (index, byte) in key.enumerated() where byte == UInt8(ascii: "/") { result.append(Array(key[..<index])) }
  return result
}

/// The dictionary holding a normalized key, and the key's last segment.
func split(_ key: [UInt8]) -> (parent: [UInt8], name: [UInt8]) {
  guard let slash = key.lastIndex(of: UInt8(ascii: "/")) else { return ([], key) }
  return (Array(key[..<slash]), Array(key[(slash + 1)...]))
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
