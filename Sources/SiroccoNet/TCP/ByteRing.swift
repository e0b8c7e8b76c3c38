// A ring of bytes with a capacity: a connection's send or receive buffer. The send buffer
// keeps unacknowledged bytes until they are acknowledged (`peek` at an offset re-reads them
// for a retransmission; `discard` drops them once acknowledged).
//
// Memory follows use: the storage starts empty, doubles as data arrives (up to the
// capacity) and is released when the ring empties, so an idle connection holds no buffer.

struct ByteRing {
  private var storage: [UInt8] = []
  private var head = 0
  private(set) var count = 0
  let capacity: Int

  init(capacity: Int) {
    precondition(capacity > 0, "a ring needs room for a byte")
    self.capacity = capacity
  }

  var space: Int { capacity - count }
  var isEmpty: Bool { count == 0 }
  /// Bytes of storage allocated now.
  var allocated: Int { storage.count }

  /// Makes room for `needed` bytes in all, doubling the storage (up to the capacity).
  private mutating func reserve(_ needed: Int) {
    guard needed > storage.count else { return }
    var size = max(storage.count, 2048)
    while size < needed { size *= 2 }
    size = min(size, capacity)
    var grown = [UInt8](repeating: 0, count: size)
    grown.withUnsafeMutableBytes { _ = peek(at: 0, into: $0) }
    storage = grown
    head = 0
  }

  /// Appends as much of `bytes` as fits; returns how much that was.
  mutating func append(_ bytes: UnsafeRawBufferPointer) -> Int {
    let length = min(bytes.count, space)
    guard length > 0 else { return 0 }
    reserve(count + length)
    storage.withUnsafeMutableBytes { ring in
      let tail = (head + count) % ring.count
      let first = min(length, ring.count - tail)
      UnsafeMutableRawBufferPointer(rebasing: ring[tail..<(tail + first)])
        .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<first]))
      if first < length {
        UnsafeMutableRawBufferPointer(rebasing: ring[0..<(length - first)])
          .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[first..<length]))
      }
    }
    count += length
    return length
  }

  /// Copies up to `destination.count` bytes starting `offset` bytes in, without removing them.
  func peek(at offset: Int, into destination: UnsafeMutableRawBufferPointer) -> Int {
    let length = min(destination.count, max(count - offset, 0))
    guard length > 0 else { return 0 }
    storage.withUnsafeBytes { ring in
      let start = (head + offset) % ring.count
      let first = min(length, ring.count - start)
      UnsafeMutableRawBufferPointer(rebasing: destination[0..<first])
        .copyMemory(from: UnsafeRawBufferPointer(rebasing: ring[start..<(start + first)]))
      if first < length {
        UnsafeMutableRawBufferPointer(rebasing: destination[first..<length])
          .copyMemory(from: UnsafeRawBufferPointer(rebasing: ring[0..<(length - first)]))
      }
    }
    return length
  }

  /// Drops the first `length` bytes.
  mutating func discard(_ length: Int) {
    let dropped = min(length, count)
    guard dropped > 0 else { return }
    head = (head + dropped) % storage.count
    count -= dropped
    if count == 0 {
      // Empty: give the memory back, so an idle connection holds no buffer at all.
      storage = []
      head = 0
    }
  }

  /// Removes up to `destination.count` bytes from the front into `destination`.
  mutating func read(into destination: UnsafeMutableRawBufferPointer) -> Int {
    let length = peek(at: 0, into: destination)
    discard(length)
    return length
  }
}
