// Guest memory: one private anonymous mapping at SPT.hostMemoryBase up to the guest's size,
// so guest addresses are tender addresses (the spt ABI). Every access the tender makes on
// the guest's behalf goes through `checked`, which refuses ranges outside guest memory.

import CSiroccoSPTTender

struct GuestMemory {
  let size: UInt64
  let base: UnsafeMutableRawPointer

  enum Failure: Error { case map(Int32) }

  /// Maps [0x10000, size). Fails if anything already lives there (MAP_FIXED_NOREPLACE).
  init(size: UInt64) throws(Failure) {
    let length = Int(size - SPT.hostMemoryBase)
    let address = mmap(
      UnsafeMutableRawPointer(bitPattern: UInt(SPT.hostMemoryBase)), length, PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | 0x100000 /* MAP_FIXED_NOREPLACE */, -1, 0)
    guard let address, UInt(bitPattern: address) == UInt(SPT.hostMemoryBase) else {  // MAP_FAILED is -1
      throw .map(sirocco_spt_errno())
    }
    self.size = size
    self.base = address
  }

  /// The host pointer for guest range [address, address + length), or nil if any of it lies
  /// outside guest memory (the one check every guest address goes through).
  func checked(_ address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
    guard address >= SPT.hostMemoryBase, address <= size, length <= size - address else { return nil }
    return UnsafeMutableRawPointer(bitPattern: UInt(address))
  }

  func write(_ bytes: [UInt8], at address: UInt64) -> Bool {
    guard let target = checked(address, length: UInt64(bytes.count)) else { return false }
    bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    return true
  }

  func store<T>(_ value: T, at address: UInt64) -> Bool {
    guard let target = checked(address, length: UInt64(MemoryLayout<T>.size)) else { return false }
    target.storeBytes(of: value, as: T.self)
    return true
  }

  /// Copies every PT_LOAD segment's file bytes into place (the rest is already zero) and
  /// applies its protection: read-only, read+execute, or read+write.
  func load(_ image: ELFImage, from file: UnsafeRawBufferPointer) -> String? {
    for segment in image.segments where segment.memorySize != 0 {
      guard let target = checked(segment.virtualAddress, length: segment.memorySize) else {
        return "segment at 0x\(String(segment.virtualAddress, radix: 16)) lies outside guest memory"
      }
      if segment.fileSize > 0 {
        target.copyMemory(from: file.baseAddress! + Int(segment.fileOffset), byteCount: Int(segment.fileSize))
      }
      let pageEnd = (segment.virtualAddress + segment.memorySize + 0xfff) & ~0xfff
      var protection = PROT_READ
      if segment.writable { protection |= PROT_WRITE }
      if segment.executable { protection |= PROT_EXEC }
      guard mprotect(target, Int(pageEnd - segment.virtualAddress), protection) == 0 else {
        return "cannot protect segment at 0x\(String(segment.virtualAddress, radix: 16)): sirocco_spt_errno() \(sirocco_spt_errno())"
      }
    }
    return nil
  }
}
