// The block device interface: whole sectors, read and written synchronously (as Solo5's
// block API), addressed by sector number.

public enum BlockError: Error, Equatable, Sendable {
  /// The request reaches past the device's capacity.
  case outOfRange
  /// The buffer is not a whole, non-zero number of sectors.
  case badLength
  /// The device reported an error (its code, when it has one).
  case io(Int32)
  /// A write to a device that is read-only.
  case readOnly
}

extension BlockError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .outOfRange: "request past the end of the device"
    case .badLength: "buffer is not a whole number of sectors"
    case .io(let code): "I/O error " + String(code)
    case .readOnly: "the device is read-only"
    }
  }
}

public protocol BlockDevice: AnyObject {
  /// Bytes per sector: a power of two, at least 512.
  var sectorSize: Int { get }
  /// The device's size in bytes: a whole number of sectors.
  var capacity: UInt64 { get }
  /// Reads `buffer.count / sectorSize` sectors starting at `sector`.
  func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError)
  /// Writes `buffer.count / sectorSize` sectors starting at `sector`.
  func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError)
  /// Puts what was written on the medium, past any cache the device has (virtio-blk's
  /// FLUSH, fsync on unix); devices without a cache to flush do nothing (Solo5's block API
  /// has none, so spt's writes are as durable as the tender's pwrite).
  func flush() throws(BlockError)
}

extension BlockDevice {
  public func flush() throws(BlockError) {}

  public var sectorCount: UInt64 { capacity / UInt64(sectorSize) }

  /// Checks a request of `length` bytes at `sector` against the device's geometry; every
  /// implementation calls this before touching the medium.
  public func validate(sector: UInt64, length: Int) throws(BlockError) {
    guard length > 0, length % sectorSize == 0 else { throw .badLength }
    let count = UInt64(length / sectorSize)
    guard sector < sectorCount, count <= sectorCount - sector else { throw .outOfRange }
  }
}

/// A block device in memory, for tests.
public final class MemoryBlockDevice: BlockDevice {
  public let sectorSize: Int
  public var storage: [UInt8]

  public init(sectorSize: Int = 512, sectors: Int) {
    precondition(sectorSize >= 512 && sectorSize & (sectorSize - 1) == 0, "sector size must be a power of two >= 512")
    self.sectorSize = sectorSize
    storage = [UInt8](repeating: 0, count: sectorSize * sectors)
  }

  public var capacity: UInt64 { UInt64(storage.count) }

  public func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    let start = Int(sector) * sectorSize
    storage.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<(start + buffer.count)])) }
  }

  public func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    let start = Int(sector) * sectorSize
    storage.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[start..<(start + buffer.count)]).copyMemory(from: buffer) }
  }
}

/// A read-only block device over bytes that outlive it (the archive of resources compiled
/// into the image): 512-byte sectors, as many whole ones as the bytes hold.
public final class ReadOnlyMemoryBlockDevice: BlockDevice {
  public let sectorSize = 512
  let bytes: UnsafeRawBufferPointer

  public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  public var capacity: UInt64 { UInt64(bytes.count / 512 * 512) }

  public func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    let start = Int(sector) * sectorSize
    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + buffer.count)]))
  }

  public func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockError) {
    try validate(sector: sector, length: buffer.count)
    throw .readOnly
  }
}
