// The unix target's network device: a Linux TAP interface (IFF_TAP | IFF_NO_PI),
// non-blocking, read and written one frame per system call. With offloads, every frame
// carries a virtio-net header (IFF_VNET_HDR): the kernel completes checksums, cuts TCP
// segments of up to 64 KiB that the stack sends (TSO), and hands over coalesced ones.

import CSiroccoUnix
import Glibc
import Sirocco

public final class TAPDevice: NetworkDevice {
  public let name: String
  public let fileDescriptor: Int32
  public let macAddress: MACAddress
  public let mtu: Int
  public let offloads: NetworkOffloads
  /// The virtio-net header's length before each frame: 10 with offloads, else 0.
  let headerLength: Int
  let receiveBuffer: UnsafeMutableRawBufferPointer
  let transmitBuffer: UnsafeMutableRawBufferPointer

  public enum OpenError: Error {
    case system(Int32)
    /// The interface's MTU is below what the stack needs (`Link.minimumMTU`).
    case mtuTooSmall(Int)
  }

  /// Attaches to the existing TAP interface `name`, with or without offloads; its MTU is
  /// the interface's own.
  public init(name: String, macAddress: MACAddress, offload: Bool = false) throws(OpenError) {
    let mtu = Int(sirocco_interface_mtu(name))
    guard mtu >= 0 else { throw .system(Int32(-mtu)) }
    guard mtu >= Link.minimumMTU else { throw .mtuTooSmall(mtu) }
    let result = sirocco_tap_open(name, offload ? 1 : 0)
    guard result >= 0 else { throw .system(-result) }
    self.name = name
    self.fileDescriptor = result
    self.macAddress = macAddress
    self.mtu = mtu
    offloads = offload ? [.transmitChecksum, .tcpSegmentation, .receiveCoalesced] : []
    headerLength = offload ? VirtioNetHeader.length : 0
    // Room for the largest frame the kernel could hand over (a 64 KiB packet), not just
    // the MTU: an oversized frame is then read whole and dropped by the core, not truncated.
    receiveBuffer = .allocate(byteCount: headerLength + 65536 + 18, alignment: 16)
    transmitBuffer = .allocate(byteCount: headerLength + 65536 + 18, alignment: 16)
  }

  deinit {
    close(fileDescriptor)
    receiveBuffer.deallocate()
    transmitBuffer.deallocate()
  }

  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    receive(offloaded: { frame, _ in body(frame) })
  }

  public func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    while true {
      let count = read(fileDescriptor, receiveBuffer.baseAddress, receiveBuffer.count)
      if count >= headerLength, count > 0 {
        let verified = headerLength > 0 && VirtioNetHeader.checksumVerified(UnsafeRawBufferPointer(receiveBuffer))
        body(UnsafeRawBufferPointer(rebasing: receiveBuffer[headerLength..<count]), verified)
        return true
      }
      if count < 0, errno == EINTR { continue }
      // EAGAIN: nothing waiting. EIO and the like (interface down): nothing to read either.
      return false
    }
  }

  public func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    transmit(length: length, offload: nil, body)
  }

  public func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(length >= 0 && headerLength + length <= transmitBuffer.count, "frame larger than the transmit buffer")
    precondition(offload == nil || headerLength > 0, "offload asked of a TAP device opened without it")
    let frame = UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[headerLength..<(headerLength + length)])
    body(frame)
    if headerLength > 0 {
      VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[0..<headerLength]), offload: offload)
    }
    let total = headerLength + length
    while true {
      let written = write(fileDescriptor, transmitBuffer.baseAddress, total)
      if written == total { return true }
      if written < 0, errno == EINTR { continue }
      return false
    }
  }
}
