// The unix target's network device: a Linux TAP interface (IFF_TAP | IFF_NO_PI),
// non-blocking, read and written one frame per system call. With offloads, every frame
// carries a virtio-net header (IFF_VNET_HDR): the kernel completes checksums, cuts TCP
// segments of up to 64 KiB that the stack sends (TSO), and hands over coalesced ones. With
// `--io-uring` the frames go through the platform's io_uring instead (`ring`, SiroccoLinux's
// IORingNetwork): many frames per system call.

import CSiroccoUnix
import Glibc
import Sirocco
import SiroccoLinux

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
  /// The device's half of the platform's io_uring, when the ring serves it.
  var ring: IORingNetwork?

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

  /// Frames as the kernel hands them (with offloads, perhaps with work pending: the stack
  /// takes them by `receive(offloaded:)`, a forwarder by `receive(forwarding:)`, and
  /// `Boot.rawNetwork` wraps the device in `FinishedFrames` for an application).
  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    receive(offloaded: { frame, _ in body(frame) })
  }

  public func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    guard let arrived = take() else { return false }
    body(UnsafeRawBufferPointer(rebasing: arrived[headerLength...]), headerLength > 0 && VirtioNetHeader.checksumVerified(arrived))
    ring?.release()
    return true
  }

  public func receive(forwarding body: (UnsafeRawBufferPointer, _ pending: TransmitOffload?) -> Void) -> Bool {
    guard let arrived = take() else { return false }
    let frame = UnsafeRawBufferPointer(rebasing: arrived[headerLength...])
    body(frame, headerLength > 0 ? VirtioNetHeader.pending(arrived, frame: frame) : nil)
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
    return readFrame().map { UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<$0]) }
  }

  /// The length of a frame `readAhead` left in the receive buffer for `take`, 0 if none.
  private(set) var held = 0

  /// A busy poll's look at the device (UnixPlatform.wait): one read(2), the frame kept for
  /// the loop's next `take`, where epoll_wait would say "ready" and a read follow. True if a
  /// frame came.
  func readAhead() -> Bool {
    guard held == 0 else { return true }
    held = readFrame() ?? 0
    return held > 0
  }

  /// One read(2) into the receive buffer: its length (header included), or nil when nothing
  /// waits.
  func readFrame() -> Int? {
    while true {
      let count = read(fileDescriptor, receiveBuffer.baseAddress, receiveBuffer.count)
      if count >= headerLength, count > 0 { return count }
      if count < 0, errno == EINTR { continue }
      // EAGAIN: nothing waiting. EIO and the like (interface down): nothing to read either.
      return nil
    }
  }

  public func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    transmit(length: length, offload: nil, body)
  }

  /// Sent from where it lies: the header from the transmit buffer and the frame, in one
  /// writev(2) (through the ring: copied to a transmit slot).
  public func transmit(_ frame: UnsafeRawBufferPointer, offload: TransmitOffload?) -> Bool {
    precondition(headerLength + frame.count <= transmitBuffer.count, "frame larger than the transmit buffer")
    precondition(offload == nil || headerLength > 0, "offload asked of a TAP device opened without it")
    if ring != nil { return transmit(length: frame.count, offload: offload) { $0.copyMemory(from: frame) } }
    if headerLength > 0 {
      VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[0..<headerLength]), offload: offload)
    }
    let total = headerLength + frame.count
    return withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors in
      vectors[0] = iovec(iov_base: transmitBuffer.baseAddress, iov_len: headerLength)
      vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: frame.baseAddress), iov_len: frame.count)
      while true {
        let written = writev(fileDescriptor, vectors.baseAddress, 2)
        if written == total { return true }
        if written < 0, errno == EINTR { continue }
        return false
      }
    }
  }

  public func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(length >= 0 && headerLength + length <= transmitBuffer.count, "frame larger than the transmit buffer")
    precondition(offload == nil || headerLength > 0, "offload asked of a TAP device opened without it")
    // A slot of the ring (none free: nothing sent), or the device's own buffer.
    guard let start = ring.map({ $0.slot() }) ?? transmitBuffer.baseAddress else { return false }
    body(UnsafeMutableRawBufferPointer(start: start + headerLength, count: length))
    if headerLength > 0 {
      VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(start: start, count: headerLength), offload: offload)
    }
    let total = headerLength + length
    if let ring {
      ring.send(count: total)
      return true
    }
    while true {
      let written = write(fileDescriptor, start, total)
      if written == total { return true }
      if written < 0, errno == EINTR { continue }
      return false
    }
  }
}
