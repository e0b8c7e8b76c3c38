// The spt guest's block device: pread64/pwrite64 on the descriptor the tender attached, of
// exactly one sector at a time (Solo5's seccomp filter allows nothing else), or under
// sirocco-spt reads of many sectors at once (SiroccoNote.Capabilities.multiSectorBlockRead:
// a website's 64 KiB of a large file in one system call instead of 128).

import CSiroccoSPT
import Sirocco
import SiroccoABI

final class SPTBlockDevice: BlockDevice {
  let handle: Int
  let fileDescriptor: Int32
  let sectorSize: Int
  let capacity: UInt64
  /// The most bytes one read may take: one sector, or SiroccoNote.maximumBlockRead.
  let largestRead: Int

  init(handle: Int, fileDescriptor: Int32, sectorSize: Int, capacity: UInt64, multiSectorReads: Bool) {
    self.handle = handle
    self.fileDescriptor = fileDescriptor
    self.sectorSize = sectorSize
    self.capacity = capacity
    largestRead = multiSectorReads ? max(SiroccoNote.maximumBlockRead / sectorSize, 1) * sectorSize : sectorSize
  }

  func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    try transfer(Int(SIROCCO_SYS_PREAD64), sector: sector, buffer: buffer.baseAddress!, length: buffer.count, largest: largestRead)
  }

  func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    try transfer(Int(SIROCCO_SYS_PWRITE64), sector: sector, buffer: UnsafeMutableRawPointer(mutating: buffer.baseAddress!), length: buffer.count,
                 largest: sectorSize)
  }

  /// `length` bytes (whole sectors, inside the device) in calls of at most `largest`.
  private func transfer(_ call: Int, sector: UInt64, buffer: UnsafeMutableRawPointer, length: Int, largest: Int) throws(BlockError) {
    var offset = 0
    while offset < length {
      let position = Int(sector) * sectorSize + offset
      let count = min(largest, length - offset)
      let result = sirocco_syscall6(call, Int(fileDescriptor), Int(bitPattern: buffer + offset), count, position, 0, 0)
      guard result == count else { throw .io(result < 0 ? Int32(-result) : 5) }
      offset += count
    }
  }
}
