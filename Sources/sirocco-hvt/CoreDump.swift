// --dump-core=DIR: when the guest fails (exit 255: its abort, a trap it reports, a fault the
// tender sees; or KVM stops it), its memory and vCPU registers are written as an ELF core
// that gdb reads beside the image (`gdb IMAGE DIR/core.sirocco-hvt.PID`), as solo5-hvt's
// --dumpcore does, so that a guest's crash can be looked at after the fact.
//
// The file: an ELF header (ET_CORE, x86-64), a PT_NOTE holding one NT_PRSTATUS (the signal
// and the registers, struct elf_prstatus), and a PT_LOAD of all guest memory at address 0
// (guest physical and virtual addresses are the same: identity paging). Only the pages the
// guest touched are written; the rest stay holes of the sparse file. The file is created
// unnamed before the sandbox and named at the end by a helper (core.c says why).

import CSiroccoHVTTender
import CSiroccoSPTTender

struct CoreDump {
  let directory: String
  var core: sirocco_hvt_core

  static let pageSize = 4096
  /// Where guest memory starts in the file: the headers fit in the first page.
  static let memoryOffset = 4096
  /// struct elf_prstatus on x86-64: 336 bytes, the registers at 112.
  static let prstatusSize = 336
  static let registersOffset = 112

  static func prepare(directory: String) -> Result<CoreDump, TenderError> {
    var core = sirocco_hvt_core()
    var step: UnsafePointer<CChar>? = nil
    let result = sirocco_hvt_core_prepare(directory, &core, &step)
    guard result == 0 else {
      let what = step.map { String(cString: $0) } ?? "failed"
      return .failure(TenderError("--dump-core=\(directory): \(what): \(Tender.describe(-result))"))
    }
    return .success(CoreDump(directory: directory, core: core))
  }

  /// What writing the core needs once the filter is on: the file and the helper's pipes.
  var rules: [SeccompRule] {
    [
      .allow(SIROCCO_SYSCALL_PWRITE64, first: UInt64(UInt32(bitPattern: core.file))),
      .allow(SIROCCO_SYSCALL_WRITE, first: UInt64(UInt32(bitPattern: core.request))),
      .allow(SIROCCO_SYSCALL_READ, first: UInt64(UInt32(bitPattern: core.reply))),
      .allow(SIROCCO_SYSCALL_MINCORE),
    ]
  }

  /// Writes the core of a guest whose vCPU registers are `state`, with `memory`; `trap` is
  /// the guest's own record of a trap (Solo5's struct x86_trap_regs, the halt cookie of an
  /// abort: cr2, error code, rip, cs, rflags, rsp, ss), whose registers replace the vCPU's.
  /// Returns the line to print.
  func write(_ state: sirocco_hvt_state, memory: GuestMemory, signal: Int32, trap: UnsafeRawPointer?) -> String {
    // struct user_regs_struct's order (sys/user.h): r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax
    // rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs.
    var registers: [UInt64] = [
      state.r15, state.r14, state.r13, state.r12, state.rbp, state.rbx, state.r11, state.r10, state.r9, state.r8,
      state.rax, state.rcx, state.rdx, state.rsi, state.rdi, state.rax, state.rip, state.cs, state.rflags, state.rsp,
      state.ss, state.fs_base, state.gs_base, state.ds, state.es, state.fs, state.gs,
    ]
    if let trap {  // rip 16, cs 17, eflags 18, rsp 19, ss 20 in that order
      for (slot, offset) in [(16, 16), (17, 24), (18, 32), (19, 40), (20, 48)] {
        registers[slot] = trap.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
      }
    }
    let headers = Self.headers(memorySize: memory.mapped, registers: registers, signal: signal, pid: core.pid)
    let wrote = headers.withUnsafeBytes { pwrite(core.file, $0.baseAddress, $0.count, 0) }
    guard wrote == headers.count else { return "core not written: \(Tender.describe(sirocco_spt_errno()))" }

    // The pages the guest touched, in runs (all of them if mincore fails).
    let pages = Int(memory.mapped) / Self.pageSize
    var resident = [UInt8](repeating: 0, count: pages)
    let unknown = resident.withUnsafeMutableBufferPointer { sirocco_hvt_resident(memory.base, Int(memory.mapped), $0.baseAddress!) }
    var written = 0
    var page = 0
    while page < pages {
      guard unknown != 0 || resident[page] & 1 != 0 else {
        page += 1
        continue
      }
      var end = page + 1
      while end < pages, unknown != 0 || resident[end] & 1 != 0, end - page < 256 { end += 1 }
      let offset = page * Self.pageSize, length = (end - page) * Self.pageSize
      var done = 0
      while done < length {
        let count = pwrite(core.file, memory.base + offset + done, length - done, off_t(Self.memoryOffset + offset + done))
        if count < 0, sirocco_spt_errno() == EINTR { continue }
        guard count > 0 else { return "core not written: guest memory: \(Tender.describe(sirocco_spt_errno()))" }
        done += count
      }
      written += end - page
      page = end
    }
    var named = core
    let linked = sirocco_hvt_core_link(&named)
    guard linked == 0 else { return "core not written: cannot name it in \(directory): \(Tender.describe(-linked))" }
    return "guest core written to \(directory)/core.sirocco-hvt.\(core.pid) (\(written) of \(pages) pages)"
  }

  /// The ELF header, the two program headers and the note, padded to `memoryOffset`.
  static func headers(memorySize: UInt64, registers: [UInt64], signal: Int32, pid: Int32) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: memoryOffset)
    func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
      withUnsafeBytes(of: value.littleEndian) { for (index, byte) in $0.enumerated() { bytes[offset + index] = byte } }
    }
    let notesOffset = 64 + 2 * 56, notesSize = 12 + 8 + prstatusSize
    // ELF header: 64-bit, little-endian, version 1, ET_CORE, EM_X86_64, two program headers.
    for (index, byte) in [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1].enumerated() { bytes[index] = UInt8(byte) }
    put(UInt16(4), at: 16)
    put(UInt16(62), at: 18)
    put(UInt32(1), at: 20)
    put(UInt64(64), at: 32)  // e_phoff
    put(UInt16(64), at: 52)  // e_ehsize
    put(UInt16(56), at: 54)  // e_phentsize
    put(UInt16(2), at: 56)  // e_phnum
    // PT_NOTE.
    put(UInt32(4), at: 64)
    put(UInt64(notesOffset), at: 64 + 8)
    put(UInt64(notesSize), at: 64 + 32)
    put(UInt64(notesSize), at: 64 + 40)
    put(UInt64(4), at: 64 + 48)
    // PT_LOAD: all guest memory at 0, readable, writable, executable.
    put(UInt32(1), at: 120)
    put(UInt32(7), at: 124)
    put(UInt64(memoryOffset), at: 120 + 8)
    put(memorySize, at: 120 + 32)
    put(memorySize, at: 120 + 40)
    put(UInt64(pageSize), at: 120 + 48)
    // The note: "CORE", NT_PRSTATUS (1), struct elf_prstatus.
    put(UInt32(5), at: notesOffset)
    put(UInt32(prstatusSize), at: notesOffset + 4)
    put(UInt32(1), at: notesOffset + 8)
    for (index, byte) in "CORE".utf8.enumerated() { bytes[notesOffset + 12 + index] = byte }
    let status = notesOffset + 20
    put(signal, at: status)  // pr_info.si_signo
    put(Int16(truncatingIfNeeded: signal), at: status + 12)  // pr_cursig
    put(pid, at: status + 32)  // pr_pid
    for (index, value) in registers.enumerated() { put(value, at: status + registersOffset + index * 8) }
    return bytes
  }
}
