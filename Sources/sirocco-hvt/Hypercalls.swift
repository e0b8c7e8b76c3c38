// The run loop: the vCPU runs until it writes a hypercall port (0x500 + number, the value
// the address of its argument struct), which is served here, or does anything else, which
// is reported with the vCPU's state: exit 255 for a guest fault (a triple fault, a halt with
// interrupts off, a bad port or hypercall, a hypercall argument outside guest memory), and
// exit 1, as solo5-hvt does, when KVM stops the guest (a write to its read-only text or
// data, an access past its memory, an instruction KVM cannot run). Every address, length, handle
// and offset the guest gives is checked before use (GuestMemory.checked, the device's
// bounds): the struct itself, puts' bytes, a block request's range in the file and in
// memory, a frame's buffer, a halt's cookie.
//
// Hypercalls of a device kind exist only when the manifest declares a device of that kind,
// as with solo5-hvt, whose modules register them only then.

import CSiroccoHVTTender
import CSiroccoSPTTender
import CSiroccoUnix

struct RunLoop {
  let memory: GuestMemory
  let devices: AttachedDevices
  /// The POLL hypercall's event set: the timer and every network device (tag: its handle).
  var epoll: Int32 = -1
  var timer: Int32 = -1
  /// --dump-core=DIR: the core written when the guest fails.
  let core: CoreDump?
  /// The cookie of the guest's last HALT (0: none).
  var haltCookie: UInt64 = 0
  /// The net ring's kick eventfd, which its thread reads, when the ring is offered.
  let ringKick: Int32?

  init(memory: GuestMemory, devices: AttachedDevices, core: CoreDump?, ringKick: Int32?) {
    self.memory = memory
    self.devices = devices
    self.core = core
    self.ringKick = ringKick
  }

  /// What went wrong with a hypercall: the guest's fault (exit 255) or the tender's (exit 1).
  enum Stop: Error {
    case guest(String)
    case tender(String)
  }

  mutating func run(_ vm: inout sirocco_hvt) -> Int32 {
    let created = sirocco_poll_create(&epoll, &timer, Solo5Poll.timerTag)
    guard created == 0 else { return Tender.fail("cannot create the event set: \(Tender.describe(-created))") }
    for network in devices.networks {
      let watched = sirocco_poll_add(epoll, network.fileDescriptor, UInt64(network.index))
      guard watched == 0 else { return Tender.fail("cannot watch a TAP interface: \(Tender.describe(-watched))") }
    }
    let sandbox = SeccompRule.install(rules(vcpu: vm.vcpu_fd))
    guard sandbox == 0 else { return Tender.fail("cannot install the seccomp filter: \(Tender.describe(-sandbox))") }
    #if DEBUG
    // A deliberate forbidden call (debug builds only): HVTTests checks the filter kills it.
    if getenv("SIROCCO_HVT_FORBIDDEN_CALL") != nil { _ = getppid() }
    #endif
    var exit = sirocco_hvt_exit()
    while true {
      let ran = sirocco_hvt_run(&vm, &exit)
      guard ran == 0 else { return Tender.fail("KVM_RUN failed: \(Tender.describe(-ran))") }
      switch Int32(exit.kind) {
      case Int32(SIROCCO_HVT_EXIT_HYPERCALL.rawValue):
        let number = exit.port - HVT.hypercallPortBase
        do {
          if let status = try serve(number, at: UInt64(exit.value)) {
            if status & 0xff == 255, let core {  // the guest's abort; a cookie is its trap record
              let trap = haltCookie == 0 ? nil : memory.checked(haltCookie, length: HVT.haltCookieSize).map { UnsafeRawPointer($0) }
              var state = sirocco_hvt_state()
              let read = sirocco_hvt_state(&vm, &state)
              writeCore(core, state, read: read, signal: 6, trap: trap)
            }
            return status & 0xff
          }
        } catch {
          switch error {
          case .guest(let what): return fault(&vm, what)
          case .tender(let what): return Tender.fail(what)
          }
        }
      case Int32(SIROCCO_HVT_EXIT_PORT.rawValue):
        return fault(&vm, "invalid port access: \(exit.out != 0 ? "out" : "in") of \(exit.size) bytes at port 0x\(String(exit.port, radix: 16))")
      case Int32(SIROCCO_HVT_EXIT_FAULT.rawValue):
        return fault(&vm, "host/guest translation fault (a write to read-only memory, or an access past guest memory)", Tender.Status.failure)
      case Int32(SIROCCO_HVT_EXIT_SIGNAL.rawValue):
        return Tender.fail("exiting on signal \(sirocco_hvt_signal())")
      default:
        let (what, stoppedByKVM) = Self.describe(exit.reason, suberror: exit.suberror)
        return fault(&vm, what, stoppedByKVM ? Tender.Status.failure : Tender.Status.guestFault)
      }
    }
  }

  /// What the run loop may do once the guest runs (the filter's default: kill the tender):
  /// write to standard output and error, exit, return from a signal handler, wait and tell
  /// the time, grow its heap (for its own messages), run the vCPU and read its registers,
  /// and the devices' calls (NET_READ, NET_WRITE, BLOCK_READ, BLOCK_WRITE).
  func rules(vcpu: Int32) -> [SeccompRule] {
    var rules = TenderConsole.rules(standardError: true)
    rules += [SeccompRule.allow(SIROCCO_SYSCALL_EXIT_GROUP), .allow(SIROCCO_SYSCALL_RT_SIGRETURN)]
    rules += TenderClocks.rules(epoll: epoll, timer: timer)
    for call in [SIROCCO_SYSCALL_BRK, SIROCCO_SYSCALL_MMAP, SIROCCO_SYSCALL_MUNMAP, SIROCCO_SYSCALL_MREMAP, SIROCCO_SYSCALL_MADVISE] {
      rules.append(.allow(call))
    }
    var requests: (UInt64, UInt64, UInt64) = (0, 0, 0)
    withUnsafeMutableBytes(of: &requests) { sirocco_hvt_requests($0.baseAddress!.assumingMemoryBound(to: UInt64.self)) }
    for request in [requests.0, requests.1, requests.2] {
      rules.append(SeccompRule(call: SIROCCO_SYSCALL_IOCTL, conditions: [.descriptor(UInt64(UInt32(bitPattern: vcpu))), .equal(1, request)]))
    }
    for network in devices.networks { rules += network.rules }
    for block in devices.blocks { rules += block.rules(guestCalls: false) }
    if let core { rules += core.rules }
    if let ringKick {  // the ring's thread: its eventfd, and the lock of a heap two threads share
      rules += [.allow(SIROCCO_SYSCALL_READ, first: UInt64(UInt32(bitPattern: ringKick))), .allow(SIROCCO_SYSCALL_FUTEX)]
    }
    return rules
  }

  /// Reports why the guest stopped, with the vCPU's registers, and writes its core when asked
  /// to; returns `status`.
  func fault(_ vm: inout sirocco_hvt, _ what: String, _ status: Int32 = Tender.Status.guestFault) -> Int32 {
    var state = sirocco_hvt_state()
    let read = sirocco_hvt_state(&vm, &state)
    var line = status == Tender.Status.guestFault ? "guest fault: \(what)" : "guest stopped: \(what)"
    if read == 0 {
      line += "; rip 0x\(String(state.rip, radix: 16)) rsp 0x\(String(state.rsp, radix: 16)) rflags 0x\(String(state.rflags, radix: 16))"
      line += " cr0 0x\(String(state.cr0, radix: 16)) cr2 0x\(String(state.cr2, radix: 16)) cr3 0x\(String(state.cr3, radix: 16))"
      line += " cr4 0x\(String(state.cr4, radix: 16)) efer 0x\(String(state.efer, radix: 16))"
      line += " rax 0x\(String(state.rax, radix: 16)) rdi 0x\(String(state.rdi, radix: 16)) rsi 0x\(String(state.rsi, radix: 16))"
    }
    _ = Tender.fail(line, status)
    if let core { writeCore(core, state, read: read, signal: 11, trap: nil) }
    return status
  }

  /// Writes the core from the vCPU's registers `state`, which `read` (0, or -errno) says were
  /// read, and prints what became of it.
  func writeCore(_ core: CoreDump, _ state: sirocco_hvt_state, read: Int32, signal: Int32, trap: UnsafeRawPointer?) {
    let line = read == 0 ? core.write(state, memory: memory, signal: signal, trap: trap)
      : "core not written: cannot read the vCPU's registers: \(Tender.describe(-read))"
    _ = Tender.fail(line, 0)
  }

  /// What a VM exit other than a port access means, and whether KVM stopped the guest (exit
  /// 1, as solo5-hvt) rather than the guest doing what no guest may (exit 255).
  static func describe(_ reason: UInt32, suberror: UInt32) -> (String, stoppedByKVM: Bool) {
    switch reason {
    case 5: return ("the guest halted the CPU (hlt) with interrupts off", false)  // KVM_EXIT_HLT
    case 8: return ("the guest shut down (a triple fault: an exception it could not take)", false)  // KVM_EXIT_SHUTDOWN
    case 6:  // KVM_EXIT_MMIO: a write to read-only memory, under an emulating KVM, comes as one too
      return ("a write to read-only memory or an access outside guest memory (an MMIO exit)", true)
    case 9: return ("KVM could not enter the guest (hardware reason 0x\(String(suberror, radix: 16)))", true)  // KVM_EXIT_FAIL_ENTRY
    case 17:  // KVM_EXIT_INTERNAL_ERROR
      return ("KVM could not emulate an instruction (internal error, suberror \(suberror): SSE or x87 under an emulating KVM?)", true)
    default: return ("unhandled VM exit \(reason)", false)
    }
  }

  // ---- the hypercalls ----

  /// The host pointer for the guest's argument struct of `size` bytes.
  func argument(_ address: UInt64, size: UInt64) throws(Stop) -> UnsafeMutableRawPointer {
    guard let pointer = memory.checked(address, length: size) else {
      throw .guest("hypercall argument at 0x\(String(address, radix: 16)) (\(size) bytes) lies outside guest memory")
    }
    return pointer
  }

  /// The host pointer for a guest buffer the guest named in a hypercall.
  func buffer(_ address: UInt64, length: UInt64, for call: String) throws(Stop) -> UnsafeMutableRawPointer {
    guard let pointer = memory.checked(address, length: length) else {
      throw .guest("\(call): buffer at 0x\(String(address, radix: 16)) of \(length) bytes lies outside guest memory")
    }
    return pointer
  }

  /// Serves hypercall `number` with its struct at `address`; the exit status when the guest
  /// halts, else nil.
  mutating func serve(_ number: UInt16, at address: UInt64) throws(Stop) -> Int32? {
    switch number {
    case HVT.Hypercall.walltime:
      let call = try argument(address, size: 8)
      var now = timespec()
      clock_gettime(CLOCK_REALTIME, &now)
      call.storeBytes(of: UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec), as: UInt64.self)
    case HVT.Hypercall.puts:
      let call = try argument(address, size: 16)
      let length = call.load(fromByteOffset: 8, as: UInt64.self)
      let bytes = try buffer(call.load(as: UInt64.self), length: length, for: "puts")
      var written = 0
      while written < Int(length) {
        let count = write(1, bytes + written, Int(length) - written)
        if count <= 0 { break }  // as solo5-hvt: what the console does not take is lost
        written += count
      }
    case HVT.Hypercall.poll:
      let call = try argument(address, size: 24)
      var ready: UInt64 = 0
      let count = sirocco_hvt_poll(epoll, timer, Solo5Poll.timerTag, call.load(as: UInt64.self), &ready)
      guard count >= 0 else {
        let signal = sirocco_hvt_signal()
        throw .tender(signal != 0 ? "exiting on signal \(signal)" : "poll: \(Tender.describe(-count))")
      }
      call.storeBytes(of: ready, toByteOffset: 8, as: UInt64.self)
      call.storeBytes(of: count, toByteOffset: 16, as: Int32.self)
    case HVT.Hypercall.blockWrite where !devices.blocks.isEmpty, HVT.Hypercall.blockRead where !devices.blocks.isEmpty:
      let call = try argument(address, size: 40)
      call.storeBytes(of: try block(call, write: number == HVT.Hypercall.blockWrite), toByteOffset: 32, as: Int32.self)
    case HVT.Hypercall.netWrite where !devices.networks.isEmpty:
      let call = try argument(address, size: 32)
      call.storeBytes(of: try netWrite(call), toByteOffset: 24, as: Int32.self)
    case HVT.Hypercall.netRead where !devices.networks.isEmpty:
      let call = try argument(address, size: 32)
      call.storeBytes(of: try netRead(call), toByteOffset: 24, as: Int32.self)
    case HVT.Hypercall.halt:
      let call = try argument(address, size: 16)
      let cookie = call.load(as: UInt64.self)
      if cookie != 0 { _ = try buffer(cookie, length: HVT.haltCookieSize, for: "halt") }
      haltCookie = cookie
      return call.load(fromByteOffset: 8, as: Int32.self)
    default:
      throw .guest("invalid hypercall \(number)")
    }
    return nil
  }

  /// BLOCK_READ and BLOCK_WRITE {handle, offset, data, len, ret}: a block device's handle,
  /// a range of whole sectors within its capacity, a buffer in guest memory; else EINVAL.
  func block(_ call: UnsafeMutableRawPointer, write: Bool) throws(Stop) -> Int32 {
    let handle = call.load(as: UInt64.self)
    let offset = call.load(fromByteOffset: 8, as: UInt64.self)
    let address = call.load(fromByteOffset: 16, as: UInt64.self)
    let length = call.load(fromByteOffset: 24, as: UInt64.self)
    guard let device = devices.block(handle: handle) else { return Solo5Result.invalid }
    let sector = UInt64(device.sectorSize)
    let (end, overflow) = offset.addingReportingOverflow(length)
    guard !overflow, end <= device.capacity, offset % sector == 0, length % sector == 0, length > 0 else {
      return Solo5Result.invalid
    }
    let data = try buffer(address, length: length, for: write ? "block write" : "block read")
    var done: UInt64 = 0
    while done < length {
      let count = write
        ? pwrite(device.fileDescriptor, data + Int(done), Int(length - done), off_t(offset + done))
        : pread(device.fileDescriptor, data + Int(done), Int(length - done), off_t(offset + done))
      if count < 0, sirocco_spt_errno() == EINTR { continue }
      guard count > 0 else { throw .tender("block device \(handle): \(write ? "write" : "read") failed: \(count == 0 ? "end of file" : Tender.describe(sirocco_spt_errno()))") }
      done += UInt64(count)
    }
    return Solo5Result.ok
  }

  /// NET_WRITE {handle, data, len, ret}: one frame, whole, to the TAP device.
  func netWrite(_ call: UnsafeMutableRawPointer) throws(Stop) -> Int32 {
    let handle = call.load(as: UInt64.self)
    let length = call.load(fromByteOffset: 16, as: UInt64.self)
    guard let device = devices.network(handle: handle), length <= 65536 + 18 else { return Solo5Result.invalid }
    let data = try buffer(call.load(fromByteOffset: 8, as: UInt64.self), length: length, for: "net write")
    let count = write(device.fileDescriptor, data, Int(length))
    guard count == Int(length) else {
      throw .tender("network device \(handle): a frame of \(length) bytes was not written whole: \(count < 0 ? Tender.describe(sirocco_spt_errno()) : "\(count) bytes")")
    }
    return Solo5Result.ok
  }

  /// NET_READ {handle, data, len, ret}: one frame into the guest's buffer, its length in
  /// len; AGAIN when none waits.
  func netRead(_ call: UnsafeMutableRawPointer) throws(Stop) -> Int32 {
    let handle = call.load(as: UInt64.self)
    let length = call.load(fromByteOffset: 16, as: UInt64.self)
    guard let device = devices.network(handle: handle) else { return Solo5Result.invalid }
    let data = try buffer(call.load(fromByteOffset: 8, as: UInt64.self), length: length, for: "net read")
    let count = read(device.fileDescriptor, data, Int(length))
    if count < 0 {
      let error = sirocco_spt_errno()
      return error == EAGAIN || error == EINTR ? Solo5Result.again : Solo5Result.invalid
    }
    if count == 0 { return Solo5Result.again }
    call.storeBytes(of: UInt64(count), toByteOffset: 16, as: UInt64.self)
    return Solo5Result.ok
  }
}
