// Guest memory: one private anonymous mapping at SPT.hostMemoryBase up to the guest's size,
// so guest addresses are tender addresses (the spt ABI). Every access the tender makes on
// the guest's behalf goes through `checked`, which refuses ranges outside guest memory.

import CSiroccoSPTTender

struct GuestMemory: GuestAccess {
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

  /// Copies the image in and gives each segment its protection: read-only, read+execute,
  /// or read+write.
  func load(_ image: ELFImage, from file: UnsafeRawBufferPointer) -> String? {
    load(image, from: file) { segment in
      PROT_READ | (segment.writable ? PROT_WRITE : 0) | (segment.executable ? PROT_EXEC : 0)
    }
  }
}
