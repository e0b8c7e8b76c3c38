// The spt guest's network device: read(2) and write(2) on the TAP descriptor the tender
// attached (its number is in the manifest entry), one frame per call. Plain frames, as
// Solo5's ABI has them; when the tender opened the TAP with the virtio-net header
// (`sirocco-spt --net-offload`), a header before each frame and the kernel's offloads:
// checksums and 64 KiB TCP segments, handed to the stack as they are, to a forwarder with
// the work pending (`receive(forwarding:)`), and finished here for a plain `receive`.

import CSiroccoSPT
import Sirocco

/// Where the SPT network devices receive: a frame lent from one of these buffers has the
/// room for a virtio-net header before it, so another device sends it from there (a
/// forwarder's frame crosses without a copy in the guest).
final class SPTReceiveBuffers {
  var starts: [UnsafeMutableRawPointer] = []
}

final class SPTNetworkDevice: NetworkDevice {
  let handle: Int
  let fileDescriptor: Int32
  let macAddress: MACAddress
  let mtu: Int
  let offloads: NetworkOffloads
  /// The virtio-net header's length before each frame: 10 with offloads, else 0.
  let headerLength: Int
  let receiveBuffer: UnsafeMutableRawBufferPointer
  let transmitBuffer: UnsafeMutableRawBufferPointer
  let receiveBuffers: SPTReceiveBuffers

  init(handle: Int, fileDescriptor: Int32, macAddress: MACAddress, mtu: Int, offload: Bool, receiveBuffers: SPTReceiveBuffers) {
    self.handle = handle
    self.fileDescriptor = fileDescriptor
    self.macAddress = macAddress
    self.mtu = mtu
    offloads = offload ? [.transmitChecksum, .tcpSegmentation, .receiveCoalesced] : []
    headerLength = offload ? VirtioNetHeader.length : 0
    // With offloads the kernel hands over and takes TCP segments of up to 64 KiB.
    let frames = offload ? 65536 + 18 : mtu + 18
    receiveBuffer = .allocate(byteCount: headerLength + frames, alignment: 16)
    transmitBuffer = .allocate(byteCount: headerLength + frames, alignment: 16)
    self.receiveBuffers = receiveBuffers
    receiveBuffers.starts.append(receiveBuffer.baseAddress!)
  }

  /// Final frames: with offloads, what the kernel left to do is done here.
  func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    receive(forwarding: { frame, pending in
      guard let pending else { return body(frame) }
      SoftwareOffload.finish(frame, pending, body)
    })
  }

  func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    guard let count = read() else { return false }
    let verified = headerLength > 0 && VirtioNetHeader.checksumVerified(UnsafeRawBufferPointer(receiveBuffer))
    body(UnsafeRawBufferPointer(rebasing: receiveBuffer[headerLength..<count]), verified)
    return true
  }

  func receive(forwarding body: (UnsafeRawBufferPointer, _ pending: TransmitOffload?) -> Void) -> Bool {
    guard let count = read() else { return false }
    let frame = UnsafeRawBufferPointer(rebasing: receiveBuffer[headerLength..<count])
    body(frame, headerLength > 0 ? VirtioNetHeader.pending(UnsafeRawBufferPointer(receiveBuffer), frame: frame) : nil)
    return true
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
    precondition(length >= 0 && headerLength + length <= transmitBuffer.count, "frame larger than the device's MTU")
    precondition(offload == nil || headerLength > 0, "offload asked of a device without it")
    body(UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[headerLength..<(headerLength + length)]))
    if headerLength > 0 {
      VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[0..<headerLength]), offload: offload)
    }
    return write(UnsafeRawPointer(transmitBuffer.baseAddress!), headerLength + length)
  }

  /// A frame another SPT device lent is sent from its receive buffer, this device's header
  /// written in the room before it (plain frames need none); any other is copied.
  func transmit(_ frame: UnsafeRawBufferPointer, offload: TransmitOffload?) -> Bool {
    precondition(offload == nil || headerLength > 0, "offload asked of a device without it")
    guard let start = frame.baseAddress, headerLength + frame.count <= transmitBuffer.count else {
      return transmit(length: frame.count, offload: offload) { $0.copyMemory(from: frame) }
    }
    guard headerLength > 0 else { return write(start, frame.count) }
    let header = UnsafeMutableRawPointer(mutating: start - headerLength)
    guard receiveBuffers.starts.contains(header) else {
      return transmit(length: frame.count, offload: offload) { $0.copyMemory(from: frame) }
    }
    VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(start: header, count: headerLength), offload: offload)
    return write(UnsafeRawPointer(header), headerLength + frame.count)
  }

  /// One write(2) of `count` bytes from `start` to the TAP: whether all were taken.
  func write(_ start: UnsafeRawPointer, _ count: Int) -> Bool {
    sirocco_syscall3(Int(SIROCCO_SYS_WRITE), Int(fileDescriptor), Int(bitPattern: start), count) == count
  }
}
