// Guest memory: one anonymous mapping, guest physical 0 to the guest's size (then the net
// ring's pages), which KVM maps into the VM; and what the guest finds in it at the start,
// as Solo5's tender lays it out: the boot GDT at 0x1000, page tables from 0x2000 mapping the low megabyte's boot
// information read-only (the first 64 KiB not at all) and the rest read-write, identity.
// Every access the tender makes on the guest's behalf goes through `checked`.

import CSiroccoSPTTender

struct GuestMemory: GuestAccess {
  /// The guest's memory: where its image, heap and stack lie, and the only memory a
  /// hypercall's or a ring entry's buffer may name.
  let size: UInt64
  /// Everything mapped into the VM: `size`, then the net ring's pages when the image
  /// declares a network device (Tender.swift).
  let mapped: UInt64
  let base: UnsafeMutableRawPointer

  enum Failure: Error { case map(Int32) }

  init(size: UInt64, reserved: UInt64 = 0) throws(Failure) {
    let mapped = size + reserved
    let address = mmap(nil, Int(mapped), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    guard let address, Int(bitPattern: address) != -1 else { throw .map(sirocco_spt_errno()) }  // MAP_FAILED
    self.size = size
    self.mapped = mapped
    self.base = address
  }

  /// The host pointer for guest range [address, address + length), or nil if any of it lies
  /// outside guest memory (the one check every guest address goes through).
  func checked(_ address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
    guard address <= size, length <= size - address else { return nil }
    return base + Int(address)
  }

  /// The boot GDT and the page tables (../shared/reference/solo5-abi.md 5.5 and 5.6).
  func writeBootTables() {
    _ = store(UInt64(0), at: 0x1000)
    _ = store(UInt64(0x00af_9900_0000_ffff), at: 0x1008)  // 64-bit code
    _ = store(UInt64(0x00cf_9300_0000_ffff), at: 0x1010)  // data
    let present: UInt64 = 1, writable: UInt64 = 2, large: UInt64 = 0x80
    _ = store(UInt64(0x3000) | present | writable, at: 0x2000)  // PML4[0] -> the PDPT
    for gigabyte in 0..<UInt64(4) {  // PDPT[i] -> page directory i
      _ = store(UInt64(0x4000 + gigabyte * 0x1000) | present | writable, at: 0x3000 + gigabyte * 8)
    }
    // The first 2 MiB in 4 KiB pages (PT0 at 0x8000), the rest in 2 MiB pages.
    _ = store(UInt64(0x8000) | present | writable, at: 0x4000)
    var page: UInt64 = 1
    while page * HVT.memoryGranule < mapped {
      _ = store(page * HVT.memoryGranule | present | writable | large, at: 0x4000 + page * 8)
      page += 1
    }
    for frame in UInt64(0x10)..<512 {
      let flags = frame < 0x100 ? present : present | writable  // boot information: read-only
      _ = store(frame << 12 | flags, at: 0x8000 + frame * 8)
    }
  }

  /// Copies the image in; read-only and executable segments become read-only in the host
  /// mapping (execute becomes read: the guest's view follows the host's), so that a guest
  /// cannot write its own text.
  func load(_ image: ELFImage, from file: UnsafeRawBufferPointer) -> String? {
    load(image, from: file) { segment in segment.writable ? nil : PROT_READ }
  }
}
