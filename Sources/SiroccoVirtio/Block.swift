// The virtio guest's block device: a virtio-blk device (virtio 1.2, 5.2) on one of the
// transports, its one request queue used for one request at a time, as the block interface
// is synchronous (as Solo5's). Each request is a chain of three: the 16-byte header (type,
// sector in 512-byte units), the data, and the status byte the device writes. The data goes
// through the driver's own buffer, never the caller's, so that a device that never answers
// keeps nothing the caller will use again: after a timeout the device is given up (every
// later request fails) rather than trusted with memory it may still write.
//
// Read first: virtio 1.2 5.2.3 (features), 5.2.4 (configuration: capacity always in
// 512-byte sectors, blk_size, size_max), 5.2.6 (requests and statuses).

import Sirocco

public final class VirtioBlockDevice: BlockDevice {
  enum Feature {
    static let sizeMaximum: UInt64 = 1 << 1
    static let readOnly: UInt64 = 1 << 5
    static let blockSize: UInt64 = 1 << 6
    static let flush: UInt64 = 1 << 9
  }

  enum Request {
    static let read: UInt32 = 0
    static let write: UInt32 = 1
    static let flush: UInt32 = 4
  }

  /// The device's answers (5.2.6), and the Linux error numbers `BlockError.io` carries.
  enum Status {
    static let ok: UInt8 = 0
    static let ioError: UInt8 = 1
    static let unsupported: UInt8 = 2
  }

  public enum ErrorNumber {
    /// The device answered IOERR, an unknown status, or broke the queue's rules.
    public static let io: Int32 = 5
    /// A write to a device that offers only reading (VIRTIO_BLK_F_RO).
    public static let readOnly: Int32 = 30
    /// The device answered UNSUPP.
    public static let unsupported: Int32 = 95
    /// The device did not answer within the timeout; it is given up.
    public static let timedOut: Int32 = 110
  }

  /// What the device got wrong, each request counted once.
  public struct Counters: Equatable, Sendable {
    /// Requests the device answered with IOERR or UNSUPP.
    public var errors: UInt64 = 0
    /// Requests whose status byte was not one of the three the specification allows (or
    /// never written), or whose completion the queue refused (a length past the buffer).
    public var badCompletions: UInt64 = 0
    /// Requests not answered within the timeout.
    public var timeouts: UInt64 = 0
  }

  /// How the driver waits for the device: the monotonic clock (nanoseconds), a halt until an
  /// interrupt or the deadline, and the device's interrupt line heard (true) or not.
  public struct Waiting {
    public var now: () -> Int64
    public var halt: (_ deadline: Int64) -> Void
    public var hear: (_ on: Bool) -> Void

    public init(now: @escaping () -> Int64, halt: @escaping (_ deadline: Int64) -> Void, hear: @escaping (_ on: Bool) -> Void) {
      self.now = now
      self.halt = halt
      self.hear = hear
    }
  }

  /// The most a request moves: the driver's buffer.
  static let bufferSize = 65536

  public let sectorSize: Int
  public let capacity: UInt64
  /// Whether the device refuses writes (VIRTIO_BLK_F_RO).
  public let readOnly: Bool
  /// Whether the device has a write cache to flush (VIRTIO_BLK_F_FLUSH).
  public let flushes: Bool
  /// Bytes per request: the buffer, or the device's size_max if smaller, in whole sectors.
  let transferSize: Int
  let transport: any VirtioTransport
  let queue: Virtqueue
  let waiting: Waiting
  let timeout: Int64
  /// The header (16 bytes) and status (at 16) in the first page, the data after it.
  let memory: UnsafeMutableRawPointer
  var data: UnsafeMutableRawPointer { memory + 4096 }
  /// Set when a request timed out: the device may still hold the buffer.
  public private(set) var givenUp = false
  public private(set) var counters = Counters()

  /// Starts the device on `transport`: features, the request queue, DRIVER_OK. A request
  /// not answered within `timeout` nanoseconds fails, and the device with it.
  public init(transport: any VirtioTransport, waiting: Waiting, timeout: Int64 = 30_000_000_000) throws(VirtioStartError) {
    self.transport = transport
    self.waiting = waiting
    self.timeout = timeout
    try transport.negotiate(
      required: 0, wanted: Feature.sizeMaximum | Feature.readOnly | Feature.blockSize | Feature.flush | VirtioFeature.eventIndex)
    let features = transport.features
    let maximum = transport.maximumQueueSize(0)
    // Three descriptors a request; the smallest power of two that holds them.
    guard maximum >= 4 else { throw maximum == 0 ? .missingQueue(0) : .queueTooSmall(index: 0, maximum: maximum) }
    queue = Virtqueue(size: maximum >= 8 ? 8 : 4, eventIndex: features & VirtioFeature.eventIndex != 0)
    try transport.setUp(queue: queue, at: 0)
    let blockSize = features & Feature.blockSize != 0 ? Int(transport.configuration32(20)) : 512
    // A block size that is no power of two of at least 512 is not one the interface can
    // offer: 512, which the device must take (the header counts 512-byte sectors).
    sectorSize = blockSize >= 512 && blockSize <= 65536 && blockSize & (blockSize - 1) == 0 ? blockSize : 512
    let sectors512 = UInt64(transport.configuration32(0)) | UInt64(transport.configuration32(4)) << 32
    let bytes = sectors512.multipliedReportingOverflow(by: 512)
    capacity = (bytes.overflow ? UInt64.max : bytes.partialValue) / UInt64(sectorSize) * UInt64(sectorSize)
    readOnly = features & Feature.readOnly != 0
    flushes = features & Feature.flush != 0
    let sizeMaximum = features & Feature.sizeMaximum != 0 ? Int(transport.configuration32(8)) : Self.bufferSize
    transferSize = max(min(Self.bufferSize, sizeMaximum) / sectorSize, 1) * sectorSize
    memory = .allocate(byteCount: 4096 + max(Self.bufferSize, sectorSize), alignment: 4096)
    memory.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    queue.interrupts(false)
    transport.start()
  }

  deinit { memory.deallocate() }

  public func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    var done = 0
    while done < buffer.count {
      let length = min(transferSize, buffer.count - done)
      try perform(Request.read, at: sector &* UInt64(sectorSize / 512) &+ UInt64(done / 512), length: length)
      (buffer.baseAddress! + done).copyMemory(from: data, byteCount: length)
      done += length
    }
  }

  public func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    guard !readOnly else { throw .io(ErrorNumber.readOnly) }
    var done = 0
    while done < buffer.count {
      let length = min(transferSize, buffer.count - done)
      data.copyMemory(from: buffer.baseAddress! + done, byteCount: length)
      try perform(Request.write, at: sector &* UInt64(sectorSize / 512) &+ UInt64(done / 512), length: length)
      done += length
    }
  }

  /// Asks the device to put what was written on its medium (VIRTIO_BLK_T_FLUSH), when it
  /// offers flushing; else there is no cache to flush.
  public func flush() throws(BlockError) {
    guard flushes else { return }
    try perform(Request.flush, at: 0, length: 0)
  }

  /// Gives the device one request and waits for its answer: the queue first, then halting
  /// with the device's line heard until the answer or the timeout.
  func perform(_ type: UInt32, at sector: UInt64, length: Int) throws(BlockError) {
    guard !givenUp else { throw .io(ErrorNumber.timedOut) }
    memory.storeBytes(of: type.littleEndian, as: UInt32.self)
    memory.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
    memory.storeBytes(of: sector.littleEndian, toByteOffset: 8, as: UInt64.self)
    memory.storeBytes(of: UInt8(0xff), toByteOffset: 16, as: UInt8.self)  // no status yet
    let address = UInt64(UInt(bitPattern: memory))
    var chain = [Virtqueue.Buffer(address: address, length: 16, deviceWrites: false)]
    if length > 0 { chain.append(Virtqueue.Buffer(address: address + 4096, length: UInt32(length), deviceWrites: type == Request.read)) }
    chain.append(Virtqueue.Buffer(address: address + 16, length: 1, deviceWrites: true))
    let faults = queue.faults
    guard let head = queue.add(chain) else {
      // Every descriptor taken: only a device that used chains it was never given leaves
      // the queue so (each is refused); give it up.
      givenUp = true
      counters.badCompletions &+= 1
      throw .io(ErrorNumber.io)
    }
    if queue.kick() { transport.notify(0) }
    let deadline = waiting.now() &+ timeout
    var hearing = false
    defer {
      if hearing {
        queue.interrupts(false)
        waiting.hear(false)
      }
      _ = transport.acknowledgeInterrupt()
    }
    while true {
      if let completion = queue.next() {
        guard completion.head == head else { continue }  // cannot be: one request in flight
        break
      }
      if !hearing {
        // Ask for an interrupt, then look once more before halting: the answer may have
        // come in between.
        hearing = true
        queue.interrupts(true)
        waiting.hear(true)
        continue
      }
      guard waiting.now() < deadline else {
        givenUp = true
        counters.timeouts &+= 1
        throw .io(ErrorNumber.timedOut)
      }
      waiting.halt(deadline)
      _ = transport.acknowledgeInterrupt()
    }
    guard queue.faults.lengthPastBuffer == faults.lengthPastBuffer else {
      counters.badCompletions &+= 1
      throw .io(ErrorNumber.io)
    }
    switch memory.load(fromByteOffset: 16, as: UInt8.self) {
    case Status.ok:
      return
    case Status.ioError:
      counters.errors &+= 1
      throw .io(ErrorNumber.io)
    case Status.unsupported:
      counters.errors &+= 1
      throw .io(ErrorNumber.unsupported)
    default:
      counters.badCompletions &+= 1
      throw .io(ErrorNumber.io)
    }
  }
}
