// The spt guest's network device: read(2) and write(2) on the TAP descriptor the tender
// attached (its number is in the manifest entry), one frame per call. Plain frames, as
// Solo5's ABI has them; when the tender opened the TAP with the virtio-net header
// (`sirocco-spt --net-offload`), a header before each frame and the kernel's offloads.

import CSiroccoSPT
import Sirocco

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

  init(handle: Int, fileDescriptor: Int32, macAddress: MACAddress, mtu: Int, offload: Bool) {
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
  }

  func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    receive(offloaded: { frame, _ in body(frame) })
  }

  func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    let count = sirocco_syscall3(
      Int(SIROCCO_SYS_READ), Int(fileDescriptor), Int(bitPattern: receiveBuffer.baseAddress), receiveBuffer.count)
    guard count > headerLength else { return false }  // -EAGAIN: nothing waiting
    let verified = headerLength > 0 && VirtioNetHeader.checksumVerified(UnsafeRawBufferPointer(receiveBuffer))
    body(UnsafeRawBufferPointer(rebasing: receiveBuffer[headerLength..<count]), verified)
    return true
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
    let total = headerLength + length
    let written = sirocco_syscall3(
      Int(SIROCCO_SYS_WRITE), Int(fileDescriptor), Int(bitPattern: transmitBuffer.baseAddress), total)
    return written == total
  }
}
