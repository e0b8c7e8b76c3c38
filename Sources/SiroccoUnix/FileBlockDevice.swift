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
    var done = 0
    while done < buffer.count {
      let got = pread(fileDescriptor, buffer.baseAddress! + done, buffer.count - done, off_t(sector) * off_t(sectorSize) + off_t(done))
      if got > 0 { done += got } else if got < 0, errno == EINTR { continue } else { throw .io(got == 0 ? EIO : errno) }
    }
  }

  public func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    var done = 0
    while done < buffer.count {
      let put = pwrite(fileDescriptor, buffer.baseAddress! + done, buffer.count - done, off_t(sector) * off_t(sectorSize) + off_t(done))
      if put > 0 { done += put } else if put < 0, errno == EINTR { continue } else { throw .io(put == 0 ? EIO : errno) }
    }
  }
}
