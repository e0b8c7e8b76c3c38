// Sirocco's batched I/O, tender side (`--io-uring`): the description of the ring the guest
// reads (SiroccoIORing's layout) and the one system call the filter adds for it. The ring
// itself is made and restricted in C (sirocco_io_ring_create); the guest side is
// Sources/SiroccoLinux/IORing.swift.
//
// Why the sandbox stays as tight: the ring is restricted before it is enabled, and a
// restricted ring cannot be unrestricted. It takes READ, WRITE and READ_MULTISHOT only, on
// fixed files only, and its only fixed files are the TAP descriptors: what read(2) and
// write(2) on those descriptors already allow. No registration is allowed once it runs (no
// new files, buffers, personalities or eventfds), and the filter refuses io_uring_setup and
// io_uring_register outright. Buffers may lie anywhere in the process, as read(2)'s may:
// the guest shares the tender's address space in any case. The block devices stay outside
// the ring: a ring cannot bound an offset as the filter bounds pread64 and pwrite64.

import CSiroccoSPTTender
import CSiroccoUnix

extension SiroccoIORing {
  /// The bytes the guest reads at `address` (little-endian, as the guest is x86-64).
  static func describe(ring: sirocco_io_ring, bufferRings: [UInt64]) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: size(networks: bufferRings.count))
    func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
      for index in 0..<(T.bitWidth / 8) { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
    put(version, at: versionOffset)
    put(ring.fd, at: descriptor)
    put(ring.sq_head, at: submissionHead)
    put(ring.sq_tail, at: submissionTail)
    put(ring.sq_mask, at: submissionMask)
    put(ring.sq_entries, at: submissionEntries)
    put(ring.sqes, at: submissionEntriesAddress)
    put(ring.cq_head, at: completionHead)
    put(ring.cq_tail, at: completionTail)
    put(ring.cq_mask, at: completionMask)
    put(ring.cq_entries, at: completionEntries)
    put(ring.cqes, at: completionEntriesAddress)
    put(UInt32(bufferRings.count), at: networkCount)
    put(UInt32(bufferRingEntries), at: bufferRingEntriesOffset)
    for (index, address) in bufferRings.enumerated() { put(address, at: bufferRing(index)) }
    return bytes
  }

  /// io_uring_enter on this ring's descriptor, with no flag beyond GETEVENTS, SQ_WAKEUP,
  /// SQ_WAIT and EXT_ARG (at most 15): not REGISTERED_RING, whose "descriptor" would be an
  /// index the filter cannot check (none are registered, and none can be).
  static func rule(ring descriptor: Int32) -> SeccompRule {
    SeccompRule(call: SIROCCO_SYSCALL_IO_URING_ENTER,
                conditions: [.descriptor(UInt64(UInt32(bitPattern: descriptor))), .atMost(3, 15)])
  }
}
