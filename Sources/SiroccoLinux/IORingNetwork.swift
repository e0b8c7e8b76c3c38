// A network device's half of the io_uring (IORing.swift): its transmit slots, the receive
// buffers it gave the kernel, and the frames that arrived in them. The platform's device
// (SPTNetworkDevice, TAPDevice) holds one when the ring serves it and takes its frames from
// here and its room to send in; the virtio-net header, when the TAP has one, is the device's
// to read and write.

import CSiroccoLinux
import SiroccoABI

public final class IORingNetwork {
  static let receiveKind: UInt8 = 1
  static let transmitKind: UInt8 = 2
  /// Transmit slots: a frame waits in its own until the kernel has taken it.
  static let transmitSlots = 32
  /// After this many reads in a row end on an error, the device stops receiving rather than
  /// enter the ring again and again (counted in `receiveErrors`).
  static let rearmLimit = 8

  let ring: IORing
  /// Fixed file and buffer group.
  let file: Int
  let bufferRing: UnsafeMutableRawPointer
  /// Bytes per buffer and per slot: the header and the largest frame, rounded up to 64.
  public let bufferSize: Int
  let headerLength: Int
  let receiveArea: UnsafeMutableRawPointer
  let transmitArea: UnsafeMutableRawPointer
  var freeSlots: [Int]
  /// Received frames not yet lent: buffer id and length (header included), oldest first.
  var arrived: [(buffer: Int, length: Int)] = []
  var arrivedNext = 0
  /// The buffer ring's tail (the device's, published after each buffer given back).
  var bufferTail: UInt16 = 0
  /// Whether the multishot read is armed (it ends when the buffers run out, or on an error),
  /// and how many times in a row it ended on an error.
  var armed = false
  var failures = 0
  /// The buffer `arrival` lent, and the slot `slot` gave.
  var lent = 0
  var filling = 0
  /// Writes and reads that failed (a TAP takes a frame whole or not at all).
  var transmitErrors: UInt64 = 0
  var receiveErrors: UInt64 = 0

  /// The half of fixed file `file`, whose frames carry a header of `headerLength` bytes and
  /// are at most `frameCapacity` bytes long.
  public init(ring: IORing, file: Int, headerLength: Int, frameCapacity: Int) {
    precondition(file < ring.devices.count, "no such fixed file in the ring")
    self.ring = ring
    self.file = file
    self.headerLength = headerLength
    bufferRing = ring.bufferRings[file]
    bufferSize = (headerLength + frameCapacity + 63) & ~63
    receiveArea = .allocate(byteCount: bufferSize * SiroccoIORing.bufferRingEntries, alignment: 64)
    transmitArea = .allocate(byteCount: bufferSize * Self.transmitSlots, alignment: 64)
    freeSlots = Array((0..<Self.transmitSlots).reversed())
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

  // The device's calls come in pairs, so that its own code calls the stack's closure once,
  // whichever path serves it (a closure passed in here would be specialized into every
  // caller twice): `arrival` then `release`, `slot` then `send`.

  /// The next frame that arrived, header included, lent until `release`; nil if none waits.
  public func arrival() -> UnsafeRawBufferPointer? {
    if !armed, failures < Self.rearmLimit { arm() }
    guard arrivedNext < arrived.count else { return nil }
    let (buffer, length) = arrived[arrivedNext]
    arrivedNext += 1
    if arrivedNext == arrived.count {
      arrived.removeAll(keepingCapacity: true)
      arrivedNext = 0
    }
    lent = buffer
    return UnsafeRawBufferPointer(start: receiveArea + buffer * bufferSize, count: length)
  }

  /// Gives the buffer `arrival` lent back to the kernel.
  public func release() {
    giveBack(lent)
  }

  /// Room for a frame to send, header first, `bufferSize` bytes (`send` queues it); nil if
  /// every slot still waits on the kernel.
  public func slot() -> UnsafeMutableRawPointer? {
    if freeSlots.isEmpty { ring.enter(waitFor: 0, timeout: nil) }
    guard let slot = freeSlots.popLast() else { return nil }
    filling = slot
    return transmitArea + slot * bufferSize
  }

  /// Queues the first `count` bytes of the slot `slot` gave: they leave at the ring's next
  /// entry.
  public func send(count: Int) {
    precondition(count <= bufferSize, "frame larger than the device's MTU")
    ring.queue(SiroccoIORing.opWrite, file: file, address: transmitArea + filling * bufferSize, length: count,
               userData: UInt64(file) << 24 | UInt64(Self.transmitKind) << 16 | UInt64(filling))
  }
}
