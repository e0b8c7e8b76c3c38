// A bounded cache in front of a store on a block device: a value small enough is kept in
// memory after its first read, the least recently used evicted first once the bound would be
// passed, so a hot page costs no device read at all. What is kept is the device's content as
// it was read: a disk rewritten under a running unikernel is seen again after a restart
// (values too large to keep are read afresh each time). Everything but values (kinds, lists,
// sizes, dates, digests, metadata) comes from the store, whose index is in memory already.

public final class CachedStore: KeyValueStore {
  public let store: any KeyValueStore
  /// Bytes the kept values may hold together; 0 keeps none.
  public let capacity: Int
  /// The largest value kept; larger ones are read from the store every time.
  public let largestValue: Int
  /// Bytes the kept values hold now (never more than `capacity`).
  public private(set) var heldBytes = 0
  /// Reads answered from memory, values read from the store to be kept, values evicted.
  public private(set) var hits = 0
  public private(set) var misses = 0
  public private(set) var evictions = 0
  var entries: [[UInt8]: (bytes: [UInt8], lastUse: UInt64)] = [:]
  var uses: UInt64 = 0

  /// `largestValue` defaults to a sixteenth of `capacity`.
  public init(_ store: any KeyValueStore, capacity: Int, largestValue: Int? = nil) {
    self.store = store
    self.capacity = max(capacity, 0)
    self.largestValue = min(max(largestValue ?? capacity / 16, 0), self.capacity)
  }

  /// How many values are kept.
  public var valueCount: Int { entries.count }

  /// The whole value from memory, read and kept if it may be; nil for one too large to keep
  /// (or a key the store does not hold: the store's own call then says so).
  func kept(_ key: String) throws(StoreError) -> [UInt8]? {
    guard capacity > 0, let normalized = normalizedKey(key) else { return nil }
    uses &+= 1
    if let index = entries.index(forKey: normalized) {
      entries.values[index].lastUse = uses
      hits += 1
      return entries.values[index].bytes
    }
    guard case .value(let size, _) = store.metadata(key), size <= largestValue else { return nil }
    let bytes = try store.get(key)
    misses += 1
    while heldBytes + bytes.count > capacity, let victim = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
      heldBytes -= victim.value.bytes.count
      entries[victim.key] = nil
      evictions += 1
    }
    entries[normalized] = (bytes, uses)
    heldBytes += bytes.count
    return bytes
  }

  public func exists(_ key: String) -> StoreEntryKind? { store.exists(key) }

  public func get(_ key: String) throws(StoreError) -> [UInt8] {
    if let bytes = try kept(key) { return bytes }
    return try store.get(key)
  }

  public func get(_ key: String, offset: Int, length: Int) throws(StoreError) -> [UInt8] {
    guard let bytes = try kept(key) else { return try store.get(key, offset: offset, length: length) }
    let start = min(max(offset, 0), bytes.count)
    return Array(bytes[start..<(start + min(max(length, 0), bytes.count - start))])
  }

  public func list(_ key: String) throws(StoreError) -> [(name: String, kind: StoreEntryKind)] { try store.list(key) }
  public func size(_ key: String) throws(StoreError) -> Int { try store.size(key) }
  public func lastModified(_ key: String) throws(StoreError) -> Int64 { try store.lastModified(key) }
  public func digest(_ key: String) throws(StoreError) -> [UInt8] { try store.digest(key) }
  public func metadata(_ key: String) -> StoreMetadata? { store.metadata(key) }
}
