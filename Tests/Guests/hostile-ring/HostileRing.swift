// hostile-ring: a guest that turns the io_uring of `sirocco-spt --io-uring` against the
// sandbox, for the spt tender's tests: entries the ring's restrictions must refuse, and
// system calls on the ring the seccomp filter must kill. `--do=WHAT` picks the misdeed; the
// tests check how it ends. Run without --io-uring it says so and exits 3.

import Sirocco

#if canImport(CSiroccoSPT)
import CSiroccoSPT
import SiroccoABI
#endif

@main
struct HostileRing: Unikernel {
  static let name = "hostile-ring"
  static var devices: [DeviceDeclaration] { [.rawNetwork("service")] }
  static let parameters: [ParameterDeclaration] = [
    .string("do", default: "nothing", help: "the misdeed")
  ]

  var status: Int32 = 0

  init(boot: Boot) throws(BootFailure) {
    let what = boot.parameters.string("do") ?? "nothing"
    boot.console.print("hostile-ring: \(what)")
    #if canImport(CSiroccoSPT)
    status = Self.misdeed(what, console: boot.console)
    #else
    boot.console.print("hostile-ring: misdeeds need the spt target")
    status = 3
    #endif
  }

  #if canImport(CSiroccoSPT)
  /// io_uring opcodes the restrictions must refuse (linux/io_uring.h), with their names.
  static let refusedOperations: [(UInt8, StaticString)] = [
    (18, "OPENAT"), (28, "OPENAT2"), (19, "CLOSE"), (20, "FILES_UPDATE"), (40, "MSG_RING"), (45, "SOCKET"),
    (16, "CONNECT"), (9, "SENDMSG"), (1, "READV"), (2, "WRITEV"), (4, "READ_FIXED"), (5, "WRITE_FIXED"),
    (11, "TIMEOUT"), (6, "POLL_ADD"), (35, "UNLINKAT"), (36, "MKDIRAT"), (31, "PROVIDE_BUFFERS"),
  ]

  /// The misdeeds. Each returns 0 when the sandbox held (an entry refused as it must be), or
  /// is killed by the filter before it returns.
  static func misdeed(_ what: String, console: any Console) -> Int32 {
    guard sirocco_spt_tender_capabilities() & 8 != 0 else {  // SiroccoNote.Capabilities.ioRing
      console.print("hostile-ring: the tender gave no io_uring (run it with --io-uring)")
      return 3
    }
    let description = UnsafeRawPointer(bitPattern: UInt(SiroccoIORing.address))!
    let ring = Int(description.loadUnaligned(fromByteOffset: SiroccoIORing.descriptor, as: Int32.self))
    func enter(_ submit: Int, flags: Int = 1) -> Int {
      sirocco_syscall6(SiroccoIORing.systemCallEnter, ring, submit, 0, flags, 0, 0)
    }
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
    defer { frame.deallocate() }
    for index in 0..<64 { frame[index] = index < 12 ? 0xff : 0x5a }  // a broadcast frame of junk
    let path: StaticString = "/etc/passwd"
    let data = UnsafeRawPointer(frame.baseAddress!)
    switch what {
    case "write-tap":
      // The control: a WRITE on fixed file 0 (the TAP) goes through.
      let results = submit(description, [(SiroccoIORing.opWrite, SiroccoIORing.flagFixedFile, 0, data, 64)], enter: { enter($0) })
      console.print("hostile-ring: a frame written through the ring: \(results[0])")
      return results[0] == 64 ? 0 : 1
    case "operations":
      // Every other operation, on fixed file 0, is refused (EACCES); so are the allowed
      // ones without FIXED_FILE or with another flag; a fixed file that does not exist is
      // none (EBADF).
      typealias Entry = (opcode: UInt8, flags: UInt8, fd: Int32, name: StaticString, expected: Int32)
      let fixed = SiroccoIORing.flagFixedFile
      var entries: [Entry] = refusedOperations.map { ($0.0, fixed, 0, $0.1, -13) }
      entries.append((SiroccoIORing.opWrite, 0, 1, "WRITE to descriptor 1, not a fixed file", -13))
      entries.append((SiroccoIORing.opRead, 0, 0, "READ from descriptor 0, not a fixed file", -13))
      entries.append((SiroccoIORing.opWrite, fixed, 1, "WRITE to fixed file 1 (none)", -9))
      entries.append((SiroccoIORing.opWrite, fixed, 3, "WRITE to fixed file 3 (none)", -9))
      entries.append((SiroccoIORing.opWrite, fixed | 1 << 4, 0, "WRITE with IOSQE_ASYNC", -13))
      entries.append((SiroccoIORing.opWrite, fixed | 1 << 2, 0, "WRITE with IOSQE_IO_LINK", -13))  // last: it links to nothing
      let results = submit(description, entries.map { ($0.opcode, $0.flags, $0.fd, $0.opcode == 18 ? UnsafeRawPointer(path.utf8Start) : data, 64) },
                           enter: { enter($0) })
      var held = results.count == entries.count
      for (index, result) in results.enumerated() {
        let refused = result == entries[index].expected
        if !refused { held = false }
        console.print("hostile-ring: \(entries[index].name): \(result)\(refused ? "" : " (NOT AS EXPECTED: \(entries[index].expected))")")
      }
      console.print("hostile-ring: \(results.count) of \(entries.count) entries completed")
      return held ? 0 : 1
    case "register":
      // Any registration (here: a new fixed file, descriptor 0): the filter kills.
      var descriptors: (Int32, Int32) = (0, 0)
      return Int32(truncatingIfNeeded: withUnsafeMutableBytes(of: &descriptors) {
        sirocco_syscall6(427, ring, 2, Int(bitPattern: $0.baseAddress), 1, 0, 0)  // io_uring_register(FILES)
      })
    case "setup":
      var parameters = [UInt8](repeating: 0, count: 120)
      return Int32(truncatingIfNeeded: parameters.withUnsafeMutableBytes { sirocco_syscall6(425, 8, Int(bitPattern: $0.baseAddress), 0, 0, 0, 0) })
    case "enter-other":
      return Int32(truncatingIfNeeded: sirocco_syscall6(SiroccoIORing.systemCallEnter, 1, 0, 0, 1, 0, 0))  // not the ring
    case "enter-registered":
      return Int32(truncatingIfNeeded: enter(0, flags: 1 | 16))  // IORING_ENTER_REGISTERED_RING
    case "nothing": return 0
    default:
      console.print("hostile-ring: unknown misdeed '\(what)'")
      return 2
    }
  }

  /// Writes `entries` (opcode, flags, fd, address, length) at the ring's submission tail,
  /// enters the ring once, and returns each entry's result, in order.
  static func submit(_ description: UnsafeRawPointer, _ entries: [(UInt8, UInt8, Int32, UnsafeRawPointer, Int)],
                     enter: (Int) -> Int) -> [Int32] {
    func address(_ offset: Int) -> UnsafeMutableRawPointer {
      UnsafeMutableRawPointer(bitPattern: UInt(description.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))!
    }
    let tailAddress = address(SiroccoIORing.submissionTail)
    let mask = description.loadUnaligned(fromByteOffset: SiroccoIORing.submissionMask, as: UInt32.self)
    let completionMask = description.loadUnaligned(fromByteOffset: SiroccoIORing.completionMask, as: UInt32.self)
    var tail = tailAddress.load(as: UInt32.self)
    for (index, entry) in entries.enumerated() {
      let sqe = address(SiroccoIORing.submissionEntriesAddress) + Int(tail & mask) * 64
      sqe.initializeMemory(as: UInt64.self, repeating: 0, count: 8)
      sqe.storeBytes(of: entry.0, toByteOffset: 0, as: UInt8.self)
      sqe.storeBytes(of: entry.1, toByteOffset: 1, as: UInt8.self)
      sqe.storeBytes(of: entry.2, toByteOffset: 4, as: Int32.self)
      sqe.storeBytes(of: UInt64(UInt(bitPattern: entry.3)), toByteOffset: 16, as: UInt64.self)
      sqe.storeBytes(of: UInt32(entry.4), toByteOffset: 24, as: UInt32.self)
      sqe.storeBytes(of: UInt64(index), toByteOffset: 32, as: UInt64.self)
      tail &+= 1
    }
    sirocco_store_release_u32(tailAddress, tail)
    _ = enter(entries.count)
    var results = [Int32](repeating: 0, count: entries.count)
    var found = 0
    let headAddress = address(SiroccoIORing.completionHead)
    var head = headAddress.load(as: UInt32.self)
    let end = sirocco_load_acquire_u32(address(SiroccoIORing.completionTail))
    while head != end {
      let cqe = UnsafeRawPointer(address(SiroccoIORing.completionEntriesAddress)) + Int(head & completionMask) * 16
      let index = Int(cqe.load(as: UInt64.self))
      if index < results.count {
        results[index] = cqe.load(fromByteOffset: 8, as: Int32.self)
        found += 1
      }
      head &+= 1
    }
    sirocco_store_release_u32(headAddress, head)
    return Array(results.prefix(found == entries.count ? entries.count : found))
  }
  #endif

  mutating func step(now: Instant) -> Step { .exit(status) }
}
