// Block devices, tender side: attached as Solo5's tenders attach them (a file opened
// read-write, its size a whole non-zero number of sectors), and the system calls the filter
// allows on them: pread64 and pwrite64 on the file's descriptor. When the guest makes them
// itself (spt), the filter also holds each write to one whole sector within the device, and
// each read to at most SiroccoNote.maximumBlockRead bytes from an offset within it (Solo5's
// tender: one sector; a read past the end comes back short and changes nothing); when the
// tender makes them (hvt), it has checked the range before.

import CSiroccoSPTTender

struct AttachedBlock {
  var index: Int
  var fileDescriptor: Int32
  var sectorSize: Int
  var capacity: UInt64

  static func attach(name: String, path: String, sectorSize: Int, index: Int) -> Result<AttachedBlock, TenderError> {
    let fd = sirocco_spt_open(path, O_RDWR)
    guard fd >= 0 else { return .failure(TenderError("--block:\(name)=\(path): cannot open '\(path)': \(Tender.describe(sirocco_spt_errno()))")) }
    let end = lseek(fd, 0, SEEK_END)
    guard end >= sectorSize, end % sectorSize == 0 else {
      close(fd)
      return .failure(TenderError("--block:\(name)=\(path): size \(end) bytes is not a whole non-zero number of \(sectorSize)-byte sectors"))
    }
    return .success(AttachedBlock(index: index, fileDescriptor: fd, sectorSize: sectorSize, capacity: UInt64(end)))
  }

  /// pread64 and pwrite64 on the file, at an offset within the device (offset <= capacity -
  /// sector) when `guestCalls`: a write of one sector, a read of at most
  /// SiroccoNote.maximumBlockRead bytes (SiroccoNote.Capabilities.multiSectorBlockRead).
  /// Else any the tender makes.
  func rules(guestCalls: Bool) -> [SeccompRule] {
    let fd = UInt64(UInt32(bitPattern: fileDescriptor))
    guard guestCalls else { return [.allow(SIROCCO_SYSCALL_PREAD64, first: fd), .allow(SIROCCO_SYSCALL_PWRITE64, first: fd)] }
    let within = SeccompCondition.atMost(3, capacity - UInt64(sectorSize))
    return [
      SeccompRule(call: SIROCCO_SYSCALL_PREAD64, conditions: [.descriptor(fd), .atMost(2, UInt64(SiroccoNote.maximumBlockRead)), within]),
      SeccompRule(call: SIROCCO_SYSCALL_PWRITE64, conditions: [.descriptor(fd), .equal(2, UInt64(sectorSize)), within]),
    ]
  }
}
