// A split virtqueue (virtio 1.2, 2.7): the descriptor table, the available ring the driver
// writes and the used ring the device writes, in memory both share. This side is the
// driver's, and it trusts nothing the device writes: a used entry naming a descriptor out of
// range or one not given to the device, or a length past the buffer, is refused and counted,
// and the driver's own record of its chains (never the shared table) says what to free.
//
// Read first: virtio 1.2 2.7.5-2.7.8 (the rings), 2.7.10 (EVENT_IDX: notify when the index
// passes the other side's event index), 2.7.13 (the driver's steps and barriers).

import CSiroccoVirtio

public final class Virtqueue {
  /// A buffer to give the device: guest-physical address (identity-mapped here), length,
  /// and whether the device writes it (receive buffers, request status) or reads it.
  public struct Buffer: Sendable {
    public var address: UInt64
    public var length: UInt32
    public var deviceWrites: Bool

    public init(address: UInt64, length: UInt32, deviceWrites: Bool) {
      self.address = address
      self.length = length
      self.deviceWrites = deviceWrites
    }
  }

  /// What the device gave back: the chain's first descriptor and the bytes it wrote.
  public struct Completion: Equatable, Sendable {
    public var head: UInt16
    public var length: UInt32
  }

  /// The device's mistakes, each refused: a used entry for a descriptor out of range or not
  /// in flight, or with a length past what the chain lets the device write.
  public struct Faults: Equatable, Sendable {
    public var descriptorOutOfRange: UInt64 = 0
    public var notInFlight: UInt64 = 0
    public var lengthPastBuffer: UInt64 = 0
    /// The used index moved by more than the queue's size: the device claims more
    /// completions than buffers exist.
    public var usedIndexJump: UInt64 = 0

    public var total: UInt64 { descriptorOutOfRange &+ notInFlight &+ lengthPastBuffer &+ usedIndexJump }
  }

  /// Descriptor flags and ring flags.
  enum Flag {
    static let next: UInt16 = 1
    static let write: UInt16 = 2
    static let noInterrupt: UInt16 = 1
    static let noNotify: UInt16 = 1
  }

  public let size: UInt16
  /// Whether the device and driver use event indices (VIRTIO_F_EVENT_IDX) rather than flags.
  public let eventIndex: Bool
  /// The three parts, each zeroed, in one allocation.
  let memory: UnsafeMutableRawPointer
  let descriptors: UnsafeMutableRawPointer
  let available: UnsafeMutableRawPointer
  let used: UnsafeMutableRawPointer
  /// Free descriptors (a stack) and, for each chain's head, its descriptors and how many
  /// bytes the device may write into it; nil while the head is not in flight.
  var free: [UInt16]
  var chains: [(descriptors: [UInt16], writable: UInt32)?]
  /// The next available index to publish, and the next used index to read.
  var availableIndex: UInt16 = 0
  var lastUsed: UInt16 = 0
  /// The available index when the device was last notified.
  var notifiedIndex: UInt16 = 0
  public private(set) var faults = Faults()

  /// Allocates and zeroes a queue of `size` entries (a power of two, 1...32768).
  public init(size: UInt16, eventIndex: Bool) {
    precondition(size > 0 && size <= 32768 && size & (size - 1) == 0, "a virtqueue's size is a power of two up to 32768")
    self.size = size
    self.eventIndex = eventIndex
    let count = Int(size)
    let descriptorBytes = 16 * count
    let availableBytes = (6 + 2 * count + 3) & ~3
    let usedBytes = 6 + 8 * count
    memory = UnsafeMutableRawPointer.allocate(byteCount: descriptorBytes + availableBytes + usedBytes, alignment: 4096)
    memory.initializeMemory(as: UInt8.self, repeating: 0, count: descriptorBytes + availableBytes + usedBytes)
    descriptors = memory
    available = memory + descriptorBytes
    used = available + availableBytes
    free = (0..<size).reversed().map { $0 }
    chains = Array(repeating: nil, count: count)
  }

  deinit { memory.deallocate() }

  /// The addresses a transport gives the device (QueueDesc, QueueDriver, QueueDevice).
  public var descriptorAddress: UInt64 { UInt64(UInt(bitPattern: descriptors)) }
  public var availableAddress: UInt64 { UInt64(UInt(bitPattern: available)) }
  public var usedAddress: UInt64 { UInt64(UInt(bitPattern: used)) }

  /// How many descriptors are free.
  public var freeCount: Int { free.count }

  /// Puts a chain of `buffers` in the available ring (not yet notified: `kick` says whether
  /// the device wants to hear). Returns the chain's head, or nil when too few descriptors
  /// are free.
  public func add(_ buffers: [Buffer]) -> UInt16? {
    guard !buffers.isEmpty, buffers.count <= free.count else { return nil }
    var taken: [UInt16] = []
    var writable: UInt32 = 0
    for _ in buffers { taken.append(free.removeLast()) }
    for (position, buffer) in buffers.enumerated() {
      let entry = descriptors + Int(taken[position]) * 16
      entry.storeBytes(of: buffer.address.littleEndian, as: UInt64.self)
      entry.storeBytes(of: buffer.length.littleEndian, toByteOffset: 8, as: UInt32.self)
      var flags: UInt16 = buffer.deviceWrites ? Flag.write : 0
      if position + 1 < buffers.count { flags |= Flag.next }
      entry.storeBytes(of: flags.littleEndian, toByteOffset: 12, as: UInt16.self)
      let next = position + 1 < buffers.count ? taken[position + 1] : 0
      entry.storeBytes(of: next.littleEndian, toByteOffset: 14, as: UInt16.self)
      if buffer.deviceWrites { writable &+= buffer.length }
    }
    let head = taken[0]
    chains[Int(head)] = (taken, writable)
    available.storeBytes(of: head.littleEndian, toByteOffset: 4 + 2 * Int(availableIndex % size), as: UInt16.self)
    // The entry before the index that publishes it (x86 keeps stores in order; the
    // barrier keeps the compiler from moving them).
    sirocco_memory_barrier()
    availableIndex &+= 1
    available.storeBytes(of: availableIndex.littleEndian, toByteOffset: 2, as: UInt16.self)
    return head
  }

  /// Whether the device asked to be notified of what was added since the last kick; the
  /// caller then writes the transport's notify register. (With EVENT_IDX: when the new
  /// index passes the device's avail_event; else unless it set NO_NOTIFY.)
  public func kick() -> Bool {
    guard availableIndex != notifiedIndex else { return false }
    sirocco_memory_barrier()  // our index out before their event index in
    let old = notifiedIndex
    notifiedIndex = availableIndex
    if eventIndex {
      let event = UInt16(littleEndian: used.load(fromByteOffset: 4 + 8 * Int(size), as: UInt16.self))
      return availableIndex &- event &- 1 < availableIndex &- old
    }
    return UInt16(littleEndian: used.load(as: UInt16.self)) & Flag.noNotify == 0
  }

  /// The next chain the device has finished with, its descriptors freed; nil when there is
  /// none. Used entries the device got wrong are refused and counted (`faults`): one naming
  /// a descriptor out of range or not in flight is skipped; one with a length past what the
  /// chain lets the device write frees the chain with length 0.
  public func next() -> Completion? {
    while true {
      sirocco_memory_barrier()  // a fresh read of the index each time
      let usedIndex = UInt16(littleEndian: used.load(fromByteOffset: 2, as: UInt16.self))
      guard usedIndex != lastUsed else { return nil }
      guard usedIndex &- lastUsed <= size else {
        // More completions than buffers exist: wait for an index that makes sense.
        faults.usedIndexJump &+= 1
        return nil
      }
      sirocco_memory_barrier()  // the index before the entry it covers
      let entry = used + 4 + 8 * Int(lastUsed % size)
      lastUsed &+= 1
      let id = UInt32(littleEndian: entry.load(as: UInt32.self))
      let length = UInt32(littleEndian: entry.load(fromByteOffset: 4, as: UInt32.self))
      guard id < UInt32(size) else {
        faults.descriptorOutOfRange &+= 1
        continue
      }
      let head = UInt16(id)
      guard let chain = chains[Int(head)] else {
        faults.notInFlight &+= 1
        continue
      }
      chains[Int(head)] = nil
      free.append(contentsOf: chain.descriptors)
      guard length <= chain.writable else {
        faults.lengthPastBuffer &+= 1
        return Completion(head: head, length: 0)
      }
      return Completion(head: head, length: length)
    }
  }

  /// Whether the device has used a chain not yet taken by `next`.
  public var hasCompletions: Bool {
    sirocco_memory_barrier()
    return UInt16(littleEndian: used.load(fromByteOffset: 2, as: UInt16.self)) != lastUsed
  }

  /// Asks the device to interrupt (or not) when it uses buffers: with EVENT_IDX, `on` sets
  /// used_event to the next entry expected, and off leaves it behind, so that the device
  /// stays quiet until the index comes round again; else the NO_INTERRUPT flag. Re-check
  /// `next()` after turning them on: an entry may have come in between.
  public func interrupts(_ on: Bool) {
    if eventIndex {
      if on { available.storeBytes(of: lastUsed.littleEndian, toByteOffset: 4 + 2 * Int(size), as: UInt16.self) }
    } else {
      available.storeBytes(of: (on ? 0 : Flag.noInterrupt).littleEndian, as: UInt16.self)
    }
    sirocco_memory_barrier()
  }
}
