// The unix target's block device: a file, read and written with pread/pwrite.

import CSiroccoUnix
import Glibc
import Sirocco

public final class FileBlockDevice: BlockDevice {
  public let path: String
  public let sectorSize: Int
  public let capacity: UInt64
  let fileDescriptor: Int32

  public enum OpenError: Error {
    case system(Int32)
    /// The file's size is not a whole, non-zero number of sectors.
    case badSize(UInt64)
  }

  public init(path: String, sectorSize: Int = 512) throws(OpenError) {
    let fd = open(path, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { throw .system(errno) }
    let end = lseek(fd, 0, SEEK_END)
    guard end >= 0 else {
      let error = errno
      close(fd)
      throw .system(error)
    }
    guard end >= sectorSize, end % sectorSize == 0 else {
      close(fd)
      throw .badSize(UInt64(end))
    }
    self.path = path
    self.sectorSize = sectorSize
    self.capacity = UInt64(end)
    self.fileDescriptor = fd
  }

  deinit { close(fileDescriptor) }

  public func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    try transfer(sector: sector, length: buffer.count) { pread(fileDescriptor, buffer.baseAddress! + $0, $1, $2) }
  }

  public func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    try transfer(sector: sector, length: buffer.count) { pwrite(fileDescriptor, buffer.baseAddress! + $0, $1, $2) }
  }

  public func flush() throws(BlockError) {
    while fsync(fileDescriptor) != 0 {
      guard errno == EINTR else { throw .io(errno) }
    }
  }

  /// Calls `call(done, remaining, fileOffset)` (pread or pwrite) until `length` bytes moved.
  private func transfer(sector: UInt64, length: Int, _ call: (Int, Int, off_t) -> Int) throws(BlockError) {
    var done = 0
    while done < length {
      let moved = call(done, length - done, off_t(sector) * off_t(sectorSize) + off_t(done))
      if moved > 0 { done += moved } else if moved < 0, errno == EINTR { continue } else { throw .io(moved == 0 ? EIO : errno) }
    }
  }
}
