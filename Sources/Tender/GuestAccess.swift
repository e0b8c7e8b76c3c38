// How a tender writes into guest memory on the guest's behalf: through `checked`, which each
// tender's GuestMemory defines (where guest memory lies in the tender's address space) and
// which refuses any range outside guest memory; and how it loads the image.

import CSiroccoSPTTender

protocol GuestAccess {
  /// The host pointer for guest range [address, address + length), or nil if any of it lies
  /// outside guest memory.
  func checked(_ address: UInt64, length: UInt64) -> UnsafeMutableRawPointer?
}

extension GuestAccess {
  func write(_ bytes: [UInt8], at address: UInt64) -> Bool {
    guard let target = checked(address, length: UInt64(bytes.count)) else { return false }
    bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    return true
  }

  /// Stores `value` little-endian at `address`.
  func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) -> Bool {
    guard let target = checked(address, length: UInt64(MemoryLayout<T>.size)) else { return false }
    target.storeBytes(of: value.littleEndian, as: T.self)
    return true
  }

  /// Copies every PT_LOAD segment's file bytes into place (the rest is already zero), then
  /// gives its pages the host protection `protection` says (nil: leave them read-write).
  func load(_ image: ELFImage, from file: UnsafeRawBufferPointer, protection: (ELFImage.Segment) -> Int32?) -> String? {
    for segment in image.segments where segment.memorySize != 0 {
      guard let target = checked(segment.virtualAddress, length: segment.memorySize) else {
        return "segment at 0x\(String(segment.virtualAddress, radix: 16)) lies outside guest memory"
      }
      if segment.fileSize > 0 {
        target.copyMemory(from: file.baseAddress! + Int(segment.fileOffset), byteCount: Int(segment.fileSize))
      }
      guard let protection = protection(segment) else { continue }
      let pageEnd = (segment.virtualAddress + segment.memorySize + 0xfff) & ~0xfff
      guard mprotect(target, Int(pageEnd - segment.virtualAddress), protection) == 0 else {
        return "cannot protect segment at 0x\(String(segment.virtualAddress, radix: 16)): \(String(cString: strerror(sirocco_spt_errno())))"
      }
    }
    return nil
  }
}
