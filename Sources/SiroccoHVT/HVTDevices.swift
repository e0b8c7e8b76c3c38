// The hvt guest's console, clocks, network and block devices: hypercalls (CSiroccoHVT).
// Plain frames and whole sectors, as Solo5's ABI has them. (Entropy is RDRAND,
// SiroccoFreestanding's.)

import CSiroccoHVT
import Sirocco

final class HVTConsole: Console {
  func write(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    sirocco_hvt_console_write(base, bytes.count)
  }
}

final class HVTMonotonicClock: MonotonicClock {
  func now() -> Instant { Instant(nanoseconds: sirocco_hvt_monotonic()) }
}

final class HVTWallClock: WallClock {
  func now() -> WallTime { WallTime(nanosecondsSinceEpoch: sirocco_hvt_wall()) }
}

/// NET_READ and NET_WRITE on the device's handle, one frame per hypercall.
final class HVTNetworkDevice: NetworkDevice {
  let handle: UInt64
  let macAddress: MACAddress
  let mtu: Int
  let offloads: NetworkOffloads = []
  let receiveBuffer: UnsafeMutableRawBufferPointer
  let transmitBuffer: UnsafeMutableRawBufferPointer

  init(handle: UInt64, macAddress: MACAddress, mtu: Int) {
    self.handle = handle
    self.macAddress = macAddress
    self.mtu = mtu
    receiveBuffer = .allocate(byteCount: mtu + 18, alignment: 16)
    transmitBuffer = .allocate(byteCount: mtu + 18, alignment: 16)
  }

  func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    var length = receiveBuffer.count
    guard sirocco_hvt_net_read(handle, receiveBuffer.baseAddress, &length) == 0, length <= receiveBuffer.count else {
      return false  // AGAIN: nothing waiting
    }
    body(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<length]))
    return true
  }

  func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(length >= 0 && length <= transmitBuffer.count, "frame larger than the device's MTU")
    body(UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[0..<length]))
    return sirocco_hvt_net_write(handle, transmitBuffer.baseAddress, length) == 0
  }
}

/// BLOCK_READ and BLOCK_WRITE on the device's handle, a sector at a time (Solo5's tender
/// takes one block per hypercall).
final class HVTBlockDevice: BlockDevice {
  let handle: UInt64
  let sectorSize: Int
  let capacity: UInt64

  init(handle: UInt64, sectorSize: Int, capacity: UInt64) {
    self.handle = handle
    self.sectorSize = sectorSize
    self.capacity = capacity
  }

  func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    try transfer(writing: false, sector: sector, buffer: buffer.baseAddress!, length: buffer.count)
  }

  func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    try transfer(writing: true, sector: sector, buffer: UnsafeMutableRawPointer(mutating: buffer.baseAddress!), length: buffer.count)
  }

  private func transfer(writing: Bool, sector: UInt64, buffer: UnsafeMutableRawPointer, length: Int) throws(BlockError) {
    var offset = 0
    while offset < length {
      let position = sector * UInt64(sectorSize) + UInt64(offset)
      let result =
        writing
        ? sirocco_hvt_block_write(handle, position, buffer + offset, sectorSize)
        : sirocco_hvt_block_read(handle, position, buffer + offset, sectorSize)
      guard result == 0 else { throw .io(5) }
      offset += sectorSize
    }
  }
}
