// The spt guest's block device: pread64/pwrite64 of exactly one sector at a time on the
// descriptor the tender attached (the tender's seccomp filter allows nothing else).

import CSiroccoSPT
import Sirocco

final class SPTBlockDevice: BlockDevice {
  let handle: Int
  let fileDescriptor: Int32
  let sectorSize: Int
  let capacity: UInt64

  init(handle: Int, fileDescriptor: Int32, sectorSize: Int, capacity: UInt64) {
    self.handle = handle
    self.fileDescriptor = fileDescriptor
    self.sectorSize = sectorSize
    self.capacity = capacity
  }

  func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    try transfer(Int(SIROCCO_SYS_PREAD64), sector: sector, buffer: buffer.baseAddress!, length: buffer.count)
  }

  func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    try transfer(Int(SIROCCO_SYS_PWRITE64), sector: sector, buffer: UnsafeMutableRawPointer(mutating: buffer.baseAddress!), length: buffer.count)
  }

  private func transfer(_ call: Int, sector: UInt64, buffer: UnsafeMutableRawPointer, length: Int) throws(BlockError) {
    var offset = 0
    while offset < length {
      let position = Int(sector) * sectorSize + offset
      let result = sirocco_syscall6(call, Int(fileDescriptor), Int(bitPattern: buffer + offset), sectorSize, position, 0, 0)
      guard result == sectorSize else { throw .io(result < 0 ? Int32(-result) : 5) }
      offset += sectorSize
    }
  }
}
