// The spt guest's network device: read(2) and write(2) on the TAP descriptor the tender
// attached (its number is in the manifest entry), one frame per call.

import CSiroccoSPT
import Sirocco

final class SPTNetworkDevice: NetworkDevice {
  let handle: Int
  let fileDescriptor: Int32
  let macAddress: MACAddress
  let mtu: Int
  let receiveBuffer: UnsafeMutableRawBufferPointer
  let transmitBuffer: UnsafeMutableRawBufferPointer

  init(handle: Int, fileDescriptor: Int32, macAddress: MACAddress, mtu: Int) {
    self.handle = handle
    self.fileDescriptor = fileDescriptor
    self.macAddress = macAddress
    self.mtu = mtu
    receiveBuffer = .allocate(byteCount: mtu + 18, alignment: 16)
    transmitBuffer = .allocate(byteCount: mtu + 18, alignment: 16)
  }

  func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    let count = sirocco_syscall3(
      Int(SIROCCO_SYS_READ), Int(fileDescriptor), Int(bitPattern: receiveBuffer.baseAddress), receiveBuffer.count)
    guard count > 0 else { return false }  // -EAGAIN: nothing waiting
    body(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count]))
    return true
  }

  func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(length >= 0 && length <= transmitBuffer.count, "frame larger than the device's MTU")
    let frame = UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[0..<length])
    body(frame)
    let written = sirocco_syscall3(
      Int(SIROCCO_SYS_WRITE), Int(fileDescriptor), Int(bitPattern: transmitBuffer.baseAddress), length)
    return written == length
  }
}
