// Sirocco's batched I/O, guest side (`sirocco-spt --io-uring`, SiroccoNote.Capabilities.ioRing):
// the io_uring the tender set up and restricted (Sources/sirocco-spt/IORing.swift), and the
// network device that uses it. Frames to send are queued as WRITE entries, each in its own
// transmit slot, and go out together at the next entry into the ring; frames arrive through
// one multishot READ per device into the buffers the guest gave the device's buffer ring,
// and are reaped from the completion queue without a system call. The loop enters the ring
// once per turn (SPTPlatform.wait): to submit what the turn queued, take what arrived, and,
// when there is nothing to do, sleep until a frame or the next deadline. Under solo5-spt, or
// without --io-uring, the plain device (Net.swift) and epoll serve instead.

import CSiroccoSPT
import Sirocco
import SiroccoABI

final class SPTIORing {
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
  let bufferRings: [UnsafeMutableRawPointer]
  /// The guest's submission tail (published at `enter`), and how many entries were queued
  /// since the last entry into the ring.
  var tail: UInt32
  var queued: UInt32 = 0
  /// Writes queued since the last entry: a sleep waits for their completions and one more.
  var queuedWrites: UInt32 = 0
  /// The devices by fixed file (the ring's order: the network devices in manifest order).
  var devices: [SPTRingNetworkDevice?]
  /// Entries into the ring, and completions that named no device or an unknown kind.
  var enters: UInt64 = 0
  var strayCompletions: UInt64 = 0

  /// The ring `description` tells of (SiroccoIORing's layout), or nil if it is not one this
  /// guest knows.
  init?(description: UnsafeRawPointer) {
    func address(_ offset: Int) -> UnsafeMutableRawPointer? {
      UnsafeMutableRawPointer(bitPattern: UInt(description.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
    }
    guard description.loadUnaligned(fromByteOffset: SiroccoIORing.versionOffset, as: UInt32.self) == SiroccoIORing.version,
      let submissionHead = address(SiroccoIORing.submissionHead), let submissionTail = address(SiroccoIORing.submissionTail), let entries = address(SiroccoIORing.submissionEntriesAddress),
      let completionHead = address(SiroccoIORing.completionHead), let completionTail = address(SiroccoIORing.completionTail),
      let completions = address(SiroccoIORing.completionEntriesAddress)
    else { return nil }
    descriptor = description.loadUnaligned(fromByteOffset: SiroccoIORing.descriptor, as: Int32.self)
    self.submissionHead = UnsafeRawPointer(submissionHead)
    self.submissionTail = submissionTail
    submissionMask = description.loadUnaligned(fromByteOffset: SiroccoIORing.submissionMask, as: UInt32.self)
    submissionEntries = description.loadUnaligned(fromByteOffset: SiroccoIORing.submissionEntries, as: UInt32.self)
    self.entries = entries
    self.completionHead = completionHead
    self.completionTail = UnsafeRawPointer(completionTail)
    completionMask = description.loadUnaligned(fromByteOffset: SiroccoIORing.completionMask, as: UInt32.self)
    self.completions = UnsafeRawPointer(completions)
    let networks = Int(description.loadUnaligned(fromByteOffset: SiroccoIORing.networkCount, as: UInt32.self))
    var rings: [UnsafeMutableRawPointer] = []
    for index in 0..<networks {
      guard let ring = address(SiroccoIORing.bufferRing(index)) else { return nil }
      rings.append(ring)
    }
    bufferRings = rings
    devices = rings.map { _ in nil }
    tail = submissionTail.load(as: UInt32.self)
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
    queued += 1
    if opcode == SiroccoIORing.opWrite { queuedWrites += 1 }
  }

  /// Submits what is queued and takes every completion. With `waitFor` > 0 it first waits
  /// until that many completions are in (the writes just submitted and one more: a frame),
  /// or `timeout` nanoseconds have passed (nil: no limit).
  func enter(waitFor: UInt32, timeout: Int64?) {
    sirocco_store_release_u32(submissionTail, tail)
    // Everything the kernel has not consumed, not only this turn's.
    let submitted = Int(tail &- sirocco_load_acquire_u32(submissionHead))
    queued = 0
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
        sirocco_syscall6(
          SiroccoIORing.systemCallEnter, Int(descriptor), submitted, Int(waitFor), Int(flags),
          flags & SiroccoIORing.enterExtendedArgument != 0 ? Int(bitPattern: argument.baseAddress) : 0,
          flags & SiroccoIORing.enterExtendedArgument != 0 ? 24 : 0)
      }
    }
    enters &+= 1
    reap()
  }

  /// Whether a device holds frames not yet lent.
  var hasArrivals: Bool {
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
}

/// A network device served through the ring: the plain device's frames and offloads, with
/// many frames per system call.
final class SPTRingNetworkDevice: SPTNetworkDevice {
  static let receiveKind: UInt8 = 1
  static let transmitKind: UInt8 = 2
  /// Transmit slots: a frame waits in its own until the kernel has taken it.
  static let transmitSlots = 32

  let ring: SPTIORing
  /// Fixed file and buffer group.
  let file: Int
  let bufferRing: UnsafeMutableRawPointer
  let bufferSize: Int
  let receiveArea: UnsafeMutableRawPointer
  let transmitArea: UnsafeMutableRawPointer
  var freeSlots: [Int]
  /// Received frames not yet lent: buffer id and length (header included), oldest first.
  var arrived: [(buffer: Int, length: Int)] = []
  var arrivedNext = 0
  /// The buffer ring's tail (the guest's, published after each buffer given back).
  var bufferTail: UInt16 = 0
  /// Whether the multishot read is armed (it ends when the buffers run out, or on an error),
  /// and how many times in a row it ended on an error: after `rearmLimit` the device stops
  /// receiving rather than enter the ring again and again (counted in `receiveErrors`).
  var armed = false
  var failures = 0
  static let rearmLimit = 8
  /// Writes the kernel did not take whole, and reads that failed.
  var transmitErrors: UInt64 = 0
  var receiveErrors: UInt64 = 0

  init(handle: Int, fileDescriptor: Int32, macAddress: MACAddress, mtu: Int, offload: Bool, ring: SPTIORing, file: Int) {
    self.ring = ring
    self.file = file
    bufferRing = ring.bufferRings[file]
    let frames = offload ? 65536 + 18 : mtu + 18
    bufferSize = ((offload ? VirtioNetHeader.length : 0) + frames + 63) & ~63
    receiveArea = .allocate(byteCount: bufferSize * SiroccoIORing.bufferRingEntries, alignment: 64)
    transmitArea = .allocate(byteCount: bufferSize * Self.transmitSlots, alignment: 64)
    freeSlots = Array((0..<Self.transmitSlots).reversed())
    super.init(handle: handle, fileDescriptor: fileDescriptor, macAddress: macAddress, mtu: mtu, offload: offload)
    ring.devices[file] = self
    for buffer in 0..<SiroccoIORing.bufferRingEntries { giveBack(buffer) }
    arm()
  }

  /// Puts buffer `buffer` back in the device's buffer ring.
  func giveBack(_ buffer: Int) {
    let entry = bufferRing + Int(bufferTail & UInt16(SiroccoIORing.bufferRingEntries - 1)) * 16
    entry.storeBytes(of: UInt64(UInt(bitPattern: receiveArea + buffer * bufferSize)), as: UInt64.self)
    entry.storeBytes(of: UInt32(bufferSize), toByteOffset: 8, as: UInt32.self)
    entry.storeBytes(of: UInt16(buffer), toByteOffset: 12, as: UInt16.self)
    bufferTail &+= 1
    sirocco_store_release_u16(bufferRing + 14, bufferTail)  // the ring's tail overlays entry 0's last field
  }

  func arm() {
    ring.queue(SiroccoIORing.opReadMultishot, file: file, address: nil, length: 0,
               userData: UInt64(file) << 24 | UInt64(Self.receiveKind) << 16)
    armed = true
  }

  /// A completion for this device.
  func complete(kind: UInt8, slot: Int, result: Int32, flags: UInt32) {
    if kind == Self.transmitKind {
      freeSlots.append(slot)
      if result < 0 { transmitErrors &+= 1 }
      return
    }
    if flags & SiroccoIORing.completionBuffer != 0 {
      let buffer = Int(flags >> 16)
      if result > Int32(headerLength), buffer < SiroccoIORing.bufferRingEntries {
        arrived.append((buffer, Int(result)))
        failures = 0
      } else if buffer < SiroccoIORing.bufferRingEntries {
        giveBack(buffer)
      }
    } else if result < 0, result != -105 {  // ENOBUFS: every buffer is out; re-armed once some come back
      receiveErrors &+= 1
      failures += 1
    }
    if flags & SiroccoIORing.completionMore == 0 { armed = false }
  }

  /// The next frame that arrived, lent for the call; its buffer goes back right after.
  private func next(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) -> Bool {
    if !armed, failures < Self.rearmLimit { arm() }
    guard arrivedNext < arrived.count else { return false }
    let (buffer, length) = arrived[arrivedNext]
    arrivedNext += 1
    if arrivedNext == arrived.count {
      arrived.removeAll(keepingCapacity: true)
      arrivedNext = 0
    }
    let start = receiveArea + buffer * bufferSize
    body(UnsafeRawBufferPointer(start: start, count: headerLength),
         UnsafeRawBufferPointer(start: start + headerLength, count: length - headerLength))
    giveBack(buffer)
    return true
  }

  override func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    next { header, frame in body(frame, headerLength > 0 && VirtioNetHeader.checksumVerified(header)) }
  }

  override func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(length >= 0 && headerLength + length <= bufferSize, "frame larger than the device's MTU")
    precondition(offload == nil || headerLength > 0, "offload asked of a device without it")
    if freeSlots.isEmpty { ring.enter(waitFor: 0, timeout: nil) }
    guard let slot = freeSlots.popLast() else { return false }
    let start = transmitArea + slot * bufferSize
    body(UnsafeMutableRawBufferPointer(start: start + headerLength, count: length))
    if headerLength > 0 {
      VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(start: start, count: headerLength), offload: offload)
    }
    ring.queue(SiroccoIORing.opWrite, file: file, address: start, length: headerLength + length,
               userData: UInt64(file) << 24 | UInt64(Self.transmitKind) << 16 | UInt64(slot))
    return true
  }
}
