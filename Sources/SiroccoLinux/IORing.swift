// Sirocco's batched I/O on Linux: an io_uring through which a network device sends and
// receives many frames per system call. The spt guest uses the ring its tender made
// (`sirocco-spt --io-uring`, SiroccoNote.Capabilities.ioRing, described by SiroccoIORing);
// the unix platform makes its own the same way (`--io-uring`, sirocco_io_ring_create). Frames
// to send are queued as WRITE entries, each in its own transmit slot, and go out together at
// the next entry into the ring; frames arrive through one multishot READ per device into the
// buffers the device gave its buffer ring, and are reaped from the completion queue without a
// system call. The loop enters the ring once per turn (`wait`): to submit what the turn
// queued, take what arrived, and, when there is nothing to do, sleep until a frame or the
// next deadline (no epoll, no timer descriptor). Each device's half is IORingNetwork.

import CSiroccoLinux
import SiroccoABI

public final class IORing {
  let descriptor: Int32
  let submissionHead: UnsafeRawPointer
  let submissionTail: UnsafeMutableRawPointer
  let submissionMask: UInt32
  let submissionEntries: UInt32
  let entries: UnsafeMutableRawPointer
  let completionHead: UnsafeMutableRawPointer
  let completionTail: UnsafeRawPointer
  let completionMask: UInt32
  let completions: UnsafeRawPointer
  /// Each network device's provided-buffer ring (buffer group i is fixed file i's).
  public let bufferRings: [UnsafeMutableRawPointer]
  /// The submission tail as queued, and as last published to the kernel.
  var tail: UInt32
  var published: UInt32
  /// Writes queued since the last entry: a sleep waits for their completions and one more.
  var queuedWrites: UInt32 = 0
  /// The devices by fixed file (the order of the descriptors the ring was given).
  var devices: [IORingNetwork?]
  /// Completions that named no device.
  var strayCompletions: UInt64 = 0

  /// A ring mapped in this process (addresses as sirocco_io_ring_create returns them).
  public init(
    descriptor: Int32, submissionHead: UnsafeRawPointer, submissionTail: UnsafeMutableRawPointer, submissionMask: UInt32,
    submissionEntries: UInt32, entries: UnsafeMutableRawPointer, completionHead: UnsafeMutableRawPointer,
    completionTail: UnsafeRawPointer, completionMask: UInt32, completions: UnsafeRawPointer, bufferRings: [UnsafeMutableRawPointer]
  ) {
    self.descriptor = descriptor
    self.submissionHead = submissionHead
    self.submissionTail = submissionTail
    self.submissionMask = submissionMask
    self.submissionEntries = submissionEntries
    self.entries = entries
    self.completionHead = completionHead
    self.completionTail = completionTail
    self.completionMask = completionMask
    self.completions = completions
    self.bufferRings = bufferRings
    devices = bufferRings.map { _ in nil }
    tail = submissionTail.load(as: UInt32.self)
    published = tail
  }

  /// The ring `description` tells of (SiroccoIORing's layout, as sirocco-spt writes it), or
  /// nil if it is not one this guest knows.
  public convenience init?(description: UnsafeRawPointer) {
    func address(_ offset: Int) -> UnsafeMutableRawPointer? {
      UnsafeMutableRawPointer(bitPattern: UInt(description.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
    }
    func number(_ offset: Int) -> UInt32 { description.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    guard number(SiroccoIORing.versionOffset) == SiroccoIORing.version,
      let submissionHead = address(SiroccoIORing.submissionHead), let submissionTail = address(SiroccoIORing.submissionTail),
      let entries = address(SiroccoIORing.submissionEntriesAddress), let completionHead = address(SiroccoIORing.completionHead),
      let completionTail = address(SiroccoIORing.completionTail), let completions = address(SiroccoIORing.completionEntriesAddress)
    else { return nil }
    var rings: [UnsafeMutableRawPointer] = []
    for index in 0..<Int(number(SiroccoIORing.networkCount)) {
      guard let ring = address(SiroccoIORing.bufferRing(index)) else { return nil }
      rings.append(ring)
    }
    self.init(
      descriptor: description.loadUnaligned(fromByteOffset: SiroccoIORing.descriptor, as: Int32.self),
      submissionHead: UnsafeRawPointer(submissionHead), submissionTail: submissionTail,
      submissionMask: number(SiroccoIORing.submissionMask), submissionEntries: number(SiroccoIORing.submissionEntries),
      entries: entries, completionHead: completionHead, completionTail: UnsafeRawPointer(completionTail),
      completionMask: number(SiroccoIORing.completionMask), completions: UnsafeRawPointer(completions), bufferRings: rings)
  }

  /// Room for one more entry, entering the ring first if it is full (of entries the kernel
  /// has not consumed: it may leave some, e.g. while its completion queue overflows).
  func reserve() -> UnsafeMutableRawPointer {
    if tail &- sirocco_load_acquire_u32(submissionHead) >= submissionEntries { enter(waitFor: 0, timeout: nil) }
    let entry = entries + Int(tail & submissionMask) * 64
    entry.initializeMemory(as: UInt64.self, repeating: 0, count: 8)
    return entry
  }

  /// Queues an entry on fixed file `file`: READ_MULTISHOT into buffer group `file` when
  /// `address` is nil, else a WRITE of `length` bytes from `address`.
  func queue(_ opcode: UInt8, file: Int, address: UnsafeRawPointer?, length: Int, userData: UInt64) {
    let entry = reserve()
    entry.storeBytes(of: opcode, toByteOffset: 0, as: UInt8.self)
    var flags = SiroccoIORing.flagFixedFile
    if address == nil { flags |= SiroccoIORing.flagBufferSelect }
    entry.storeBytes(of: flags, toByteOffset: 1, as: UInt8.self)
    entry.storeBytes(of: Int32(file), toByteOffset: 4, as: Int32.self)
    entry.storeBytes(of: UInt64(UInt(bitPattern: address)), toByteOffset: 16, as: UInt64.self)
    entry.storeBytes(of: UInt32(length), toByteOffset: 24, as: UInt32.self)
    entry.storeBytes(of: userData, toByteOffset: 32, as: UInt64.self)
    entry.storeBytes(of: UInt16(file), toByteOffset: 40, as: UInt16.self)  // buf_group
    tail &+= 1
    if opcode == SiroccoIORing.opWrite { queuedWrites += 1 }
  }

  /// Submits what is queued and takes every completion. With `waitFor` > 0 it first waits
  /// until that many completions are in (the writes just submitted and one more: a frame),
  /// or `timeout` nanoseconds have passed (nil: no limit).
  func enter(waitFor: UInt32, timeout: Int64?) {
    sirocco_store_release_u32(submissionTail, tail)
    published = tail
    // Everything the kernel has not consumed, not only this turn's.
    let submitted = Int(tail &- sirocco_load_acquire_u32(submissionHead))
    queuedWrites = 0
    var flags = SiroccoIORing.enterGetEvents
    // struct __kernel_timespec, then struct io_uring_getevents_arg (sigmask, sigmask_sz,
    // min_wait_usec, ts).
    var time = (Int64(0), Int64(0))
    var argument = (UInt64(0), UInt32(8), UInt32(0), UInt64(0))
    withUnsafeMutableBytes(of: &time) { time in
      if waitFor > 0, let timeout {
        flags |= SiroccoIORing.enterExtendedArgument
        time.storeBytes(of: timeout / 1_000_000_000, toByteOffset: 0, as: Int64.self)
        time.storeBytes(of: timeout % 1_000_000_000, toByteOffset: 8, as: Int64.self)
        argument.3 = UInt64(UInt(bitPattern: time.baseAddress))
      }
      _ = withUnsafeBytes(of: &argument) { argument in
        let extended = flags & SiroccoIORing.enterExtendedArgument != 0
        return sirocco_syscall6(
          Int(SIROCCO_SYS_IO_URING_ENTER), Int(descriptor), submitted, Int(waitFor), Int(flags),
          extended ? Int(bitPattern: argument.baseAddress) : 0, extended ? 24 : 0)
      }
    }
    reap()
  }

  /// Whether a device holds frames not yet lent.
  public var hasArrivals: Bool {
    for case let device? in devices where device.arrivedNext < device.arrived.count { return true }
    return false
  }

  /// Hands every completion to its device.
  func reap() {
    var head = completionHead.load(as: UInt32.self)
    let end = sirocco_load_acquire_u32(completionTail)
    while head != end {
      let completion = completions + Int(head & completionMask) * 16
      let userData = completion.load(as: UInt64.self)
      let result = completion.load(fromByteOffset: 8, as: Int32.self)
      let flags = completion.load(fromByteOffset: 12, as: UInt32.self)
      let file = Int(userData >> 24 & 0xff)
      if file < devices.count, let device = devices[file] {
        device.complete(kind: UInt8(truncatingIfNeeded: userData >> 16), slot: Int(userData & 0xffff), result: result, flags: flags)
      } else {
        strayCompletions &+= 1
      }
      head &+= 1
    }
    sirocco_store_release_u32(completionHead, head)
  }

  /// One turn of the loop's wait (the platform's `wait(until:)`), times in nanoseconds of the
  /// monotonic clock: `now` as the loop last read it, `clock` to read it again. Within the
  /// busy-poll window (until `busyPollUntil`) it enters the ring without sleeping; then, with
  /// no frame in, it sleeps in the ring until a frame arrives or the deadline passes. True if
  /// frames arrived (the platform then opens its busy-poll window again).
  public func wait(until deadline: Int64?, now: Int64, busyPollUntil: Int64, clock: () -> Int64) -> Bool {
    var now = now
    if let deadline, deadline <= now {
      if tail != published { enter(waitFor: 0, timeout: nil) }
      return false
    }
    while now < busyPollUntil {
      enter(waitFor: 0, timeout: nil)
      if hasArrivals { return true }
      enter(waitFor: 0, timeout: nil)
      if hasArrivals { return true }
      now = clock()
      if let deadline, deadline <= now { return false }
    }
    if !hasArrivals { enter(waitFor: queuedWrites + 1, timeout: deadline.map { $0 &- now }) }
    return hasArrivals
  }

  /// Operations that went wrong on the ring since it started (writes and reads that failed,
  /// completions for no device), for a line at exit.
  public var failedOperations: UInt64 {
    var count = strayCompletions
    for case let device? in devices { count &+= device.transmitErrors &+ device.receiveErrors }
    return count
  }
}
