// The unix target's network device: a Linux TAP interface (IFF_TAP | IFF_NO_PI),
// non-blocking, read and written one frame per system call.

import CSiroccoUnix
import Glibc
import Sirocco

public final class TAPDevice: NetworkDevice {
  public let name: String
  public let fileDescriptor: Int32
  public let macAddress: MACAddress
  public let mtu: Int
  let receiveBuffer: UnsafeMutableRawBufferPointer
  let transmitBuffer: UnsafeMutableRawBufferPointer

  public enum OpenError: Error {
    case system(Int32)
  }

  /// Attaches to the existing TAP interface `name`.
  public init(name: String, macAddress: MACAddress, mtu: Int = 1500) throws(OpenError) {
    let result = sirocco_tap_open(name)
    guard result >= 0 else { throw .system(-result) }
    self.name = name
    self.fileDescriptor = result
    self.macAddress = macAddress
    self.mtu = mtu
    // Room for the largest frame the kernel could hand over (a 64 KiB packet), not just
    // the MTU: an oversized frame is then read whole and dropped by the core, not truncated.
    receiveBuffer = .allocate(byteCount: 65536 + 18, alignment: 16)
    transmitBuffer = .allocate(byteCount: 65536 + 18, alignment: 16)
  }

  deinit {
    close(fileDescriptor)
    receiveBuffer.deallocate()
    transmitBuffer.deallocate()
  }

  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    while true {
      let count = read(fileDescriptor, receiveBuffer.baseAddress, receiveBuffer.count)
      if count > 0 {
        body(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count]))
        return true
      }
      if count < 0, errno == EINTR { continue }
      // EAGAIN: nothing waiting. EIO and the like (interface down): nothing to read either.
      return false
    }
  }

  public func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(length >= 0 && length <= transmitBuffer.count, "frame larger than the transmit buffer")
    let frame = UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[0..<length])
    body(frame)
    while true {
      let written = write(fileDescriptor, frame.baseAddress, length)
      if written == length { return true }
      if written < 0, errno == EINTR { continue }
      return false
    }
  }
}
