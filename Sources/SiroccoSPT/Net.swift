// The spt guest's network device: read(2) and write(2) on the TAP descriptor the tender
// attached (its number is in the manifest entry), one frame per call. Plain frames, as
// Solo5's ABI has them; when the tender opened the TAP with the virtio-net header
// (`sirocco-spt --net-offload`), a header before each frame and the kernel's offloads:
// checksums and 64 KiB TCP segments, handed to the stack as they are and to a forwarder with
// the work pending (`receive(forwarding:)`). Under `sirocco-spt --io-uring` a host's devices
// send and receive through the tender's io_uring instead (`ring`, SiroccoLinux's
// IORingNetwork): many frames per system call.

import CSiroccoSPT
import Sirocco
import SiroccoLinux

class SPTNetworkDevice: NetworkDevice {
  let handle: Int
  let fileDescriptor: Int32
  let macAddress: MACAddress
  let mtu: Int
  let offloads: NetworkOffloads
  /// The virtio-net header's length before each frame: 10 with offloads, else 0.
  let headerLength: Int
  let receiveBuffer: UnsafeMutableRawBufferPointer
  let transmitBuffer: UnsafeMutableRawBufferPointer
  /// The device's half of the io_uring, when the ring serves it (then the two buffers above
  /// are empty: the ring's own buffers and slots hold the frames).
  let ring: IORingNetwork?

  init(handle: Int, fileDescriptor: Int32, macAddress: MACAddress, mtu: Int, offload: Bool, ring: IORing? = nil, file: Int = 0) {
    self.handle = handle
    self.fileDescriptor = fileDescriptor
    self.macAddress = macAddress
    self.mtu = mtu
    offloads = offload ? [.transmitChecksum, .tcpSegmentation, .receiveCoalesced] : []
    let header = offload ? VirtioNetHeader.length : 0
    headerLength = header
    // With offloads the kernel hands over and takes TCP segments of up to 64 KiB.
    let frames = offload ? 65536 + 18 : mtu + 18
    self.ring = ring.map { IORingNetwork(ring: $0, file: file, headerLength: header, frameCapacity: frames) }
    let own = ring == nil ? header + frames : 0
    receiveBuffer = .allocate(byteCount: own, alignment: 16)
    transmitBuffer = .allocate(byteCount: own, alignment: 16)
  }

  /// Frames as the kernel hands them (with offloads, perhaps with work pending: the stack
  /// takes them by `receive(offloaded:)`, a forwarder by `receive(forwarding:)`, and
  /// `Boot.rawNetwork` wraps the device in `FinishedFrames` for an application).
  func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    receive(offloaded: { frame, _ in body(frame) })
  }

  func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    guard let arrived = take() else { return false }
    body(UnsafeRawBufferPointer(rebasing: arrived[headerLength...]), headerLength > 0 && VirtioNetHeader.checksumVerified(arrived))
    ring?.release()
    return true
  }

  /// The next frame, header included: from the ring (lent until `ring.release()`), the one a
  /// busy poll read ahead, or one read(2) into the receive buffer. Nil when nothing waits.
  func take() -> UnsafeRawBufferPointer? {
    if let ring { return ring.arrival() }
    if held > 0 {
      defer { held = 0 }
      return UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<held])
    }
    return read().map { UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<$0]) }
  }

  /// The length of a frame `readAhead` left in the receive buffer for `take`, 0 if none.
  private(set) var held = 0

  /// A busy poll's look at the device (SPTPlatform.wait): one read(2), the frame kept for the
  /// loop's next `take`. Where epoll_pwait would say "ready" and a read follow, this is the
  /// read alone. True if a frame came.
  func readAhead() -> Bool {
    guard held == 0 else { return true }
    held = read() ?? 0
    return held > 0
  }

  /// A host's device lends no work pending (its stack reads `receive(offloaded:)`); a
  /// forwarding application's (`SPTForwardingNetworkDevice`) does.
  func receive(forwarding body: (UnsafeRawBufferPointer, _ pending: TransmitOffload?) -> Void) -> Bool {
    receive { body($0, nil) }
  }

  /// One read(2) into the receive buffer: its length (header included), or nil when nothing
  /// waits (-EAGAIN).
  func read() -> Int? {
    let count = sirocco_syscall3(
      Int(SIROCCO_SYS_READ), Int(fileDescriptor), Int(bitPattern: receiveBuffer.baseAddress), receiveBuffer.count)
    return count > headerLength ? count : nil
  }

  func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    transmit(length: length, offload: nil, body)
  }

  func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    guard let start = room(length: length, offload: offload) else { return false }
    body(UnsafeMutableRawBufferPointer(start: start + headerLength, count: length))
    return send(start, length: length, offload: offload)
  }

  // The stack's every send inlines `transmit`: what is not the closure stays out of line, in
  // these two (an image carries one copy of them, not one per kind of frame).

  /// Where a frame of `length` bytes goes, header first: a slot of the ring (nil: none free),
  /// or the device's own buffer.
  @inline(never)
  func room(length: Int, offload: TransmitOffload?) -> UnsafeMutableRawPointer? {
    precondition(offload == nil || headerLength > 0, "offload asked of a device without it")
    precondition(length >= 0 && headerLength + length <= (ring?.bufferSize ?? transmitBuffer.count), "frame larger than the device's MTU")
    return ring.map { $0.slot() } ?? transmitBuffer.baseAddress
  }

  /// Writes the header before the frame at `start` and sends it: queued in the ring, or one
  /// write(2).
  @inline(never)
  func send(_ start: UnsafeMutableRawPointer, length: Int, offload: TransmitOffload?) -> Bool {
    if headerLength > 0 {
      VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(start: start, count: headerLength), offload: offload)
    }
    guard let ring else { return write(start, headerLength + length) }
    ring.send(count: headerLength + length)
    return true
  }

  func transmit(_ frame: UnsafeRawBufferPointer, offload: TransmitOffload?) -> Bool {
    transmit(length: frame.count, offload: offload) { $0.copyMemory(from: frame) }
  }

  /// One write(2) of `count` bytes from `start` to the TAP: whether all were taken.
  func write(_ start: UnsafeRawPointer, _ count: Int) -> Bool {
    sirocco_syscall3(Int(SIROCCO_SYS_WRITE), Int(fileDescriptor), Int(bitPattern: start), count) == count
  }
}

/// Where the devices of a forwarding application receive: a frame lent from one of these
/// buffers has the room for a virtio-net header before it, so another device sends it from
/// there (a forwarder's frame crosses without a copy in the guest).
final class SPTReceiveBuffers {
  var starts: [UnsafeMutableRawPointer] = []
}

/// A forwarding application's device (`Unikernel.forwardsPackets`: the bridge, the
/// firewall): frames lent with their offload work pending, and sent from where another
/// device lent them. Its own class, so that a host's image links none of it.
final class SPTForwardingNetworkDevice: SPTNetworkDevice {
  let receiveBuffers: SPTReceiveBuffers

  init(handle: Int, fileDescriptor: Int32, macAddress: MACAddress, mtu: Int, offload: Bool, receiveBuffers: SPTReceiveBuffers) {
    self.receiveBuffers = receiveBuffers
    super.init(handle: handle, fileDescriptor: fileDescriptor, macAddress: macAddress, mtu: mtu, offload: offload)
    receiveBuffers.starts.append(receiveBuffer.baseAddress!)
  }

  override func receive(forwarding body: (UnsafeRawBufferPointer, _ pending: TransmitOffload?) -> Void) -> Bool {
    guard let count = read() else { return false }
    let frame = UnsafeRawBufferPointer(rebasing: receiveBuffer[headerLength..<count])
    body(frame, headerLength > 0 ? VirtioNetHeader.pending(UnsafeRawBufferPointer(receiveBuffer), frame: frame) : nil)
    return true
  }

  /// A frame another such device lent is sent from its receive buffer, this device's header
  /// written in the room before it (a plain frame needs none); any other is copied.
  override func transmit(_ frame: UnsafeRawBufferPointer, offload: TransmitOffload?) -> Bool {
    precondition(offload == nil || headerLength > 0, "offload asked of a device without it")
    precondition(headerLength + frame.count <= transmitBuffer.count, "frame larger than the device's MTU")
    guard let lent = frame.baseAddress else { return false }
    var start = UnsafeMutableRawPointer(mutating: lent) - headerLength
    if headerLength > 0 {
      if !receiveBuffers.starts.contains(start) {
        start = transmitBuffer.baseAddress!
        (start + headerLength).copyMemory(from: lent, byteCount: frame.count)
      }
      VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(start: start, count: headerLength), offload: offload)
    }
    return write(start, headerLength + frame.count)
  }
}
