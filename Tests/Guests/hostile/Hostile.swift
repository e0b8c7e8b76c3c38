// hostile: a guest that misbehaves on purpose, for the spt tender's hostile-guest tests: raw
// system calls the sandbox must refuse or contain. `--do=WHAT` picks the misdeed; the tests
// check how it ends. (CPU traps, on every freestanding target: Tests/Guests/machine.)

import Sirocco

#if canImport(CSiroccoSPT)
import CSiroccoSPT
#endif

@main
struct Hostile: Unikernel {
  static let name = "hostile"
  static var devices: [DeviceDeclaration] { [.block("storage")] }
  static let parameters: [ParameterDeclaration] = [
    .string("do", default: "nothing", help: "the misdeed"),
    .string("range", default: nil, help: "smash: the tender's memory to overwrite, START-END in hex, comma-separated"),
  ]

  var status: Int32 = 0

  init(boot: Boot) throws(BootFailure) {
    let what = boot.parameters.string("do") ?? "nothing"
    let console = boot.console
    let storage = boot.block("storage")
    console.print("hostile: \(what)")
    #if canImport(CSiroccoSPT)
    status = Self.systemCall(what, console: console, storage: storage, range: boot.parameters.string("range"))
    #else
    console.print("hostile: misdeeds need the spt target")
    status = 3
    #endif
  }

  #if canImport(CSiroccoSPT)
  /// Raw system calls, as a hostile guest would make them.
  static func systemCall(_ what: String, console: any Console, storage: any BlockDevice, range: String?) -> Int32 {
    let capacity = Int(storage.capacity)
    let sector = storage.sectorSize
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    defer { buffer.deallocate() }
    for index in 0..<buffer.count { buffer[index] = 0x5a }
    let base = Int(bitPattern: buffer.baseAddress)
    func call(_ number: Int, _ a: Int, _ b: Int, _ c: Int, _ d: Int = 0) -> Int {
      sirocco_syscall6(number, a, b, c, d, 0, 0)
    }
    switch what {
    case "getpid": return Int32(truncatingIfNeeded: call(39, 0, 0, 0))
    case "open":
      let path: StaticString = "/etc/passwd"
      return Int32(truncatingIfNeeded: call(2, Int(bitPattern: path.utf8Start), 0, 0))
    case "stderr": return Int32(truncatingIfNeeded: call(1, 2, base, 4))
    case "stdin": return Int32(truncatingIfNeeded: call(0, 0, base, 4))
    case "other-fd": return Int32(truncatingIfNeeded: call(1, 3, base, 4))
    case "bad-pointer":
      // The kernel refuses the addresses (EFAULT); nothing is read or written, nothing dies.
      let unmapped = call(1, 1, 8, 16)
      let kernel = call(1, 1, Int(bitPattern: 0xffff_8000_0000_0000), 16)
      let wrapping = call(1, 1, base, Int.max)
      console.print("hostile: bad pointers returned \(unmapped) \(kernel) \(wrapping)")
      return unmapped == -14 && kernel == -14 && wrapping < 0 ? 0 : 1
    case "block-last-sector":
      let result = call(18, storageDescriptor(), base, sector, capacity - sector)
      console.print("hostile: wrote the last sector: \(result)")
      return result == sector ? 0 : 1
    case "block-past-end": return Int32(truncatingIfNeeded: call(18, storageDescriptor(), base, sector, capacity))
    case "block-straddle": return Int32(truncatingIfNeeded: call(18, storageDescriptor(), base, sector, capacity - sector + 1))
    case "block-short": return Int32(truncatingIfNeeded: call(18, storageDescriptor(), base, sector / 2, 0))
    case "block-long": return Int32(truncatingIfNeeded: call(18, storageDescriptor(), base, sector * 2, 0))
    case "block-read-past-end": return Int32(truncatingIfNeeded: call(17, storageDescriptor(), base, sector, capacity))
    case "block-negative": return Int32(truncatingIfNeeded: call(17, storageDescriptor(), base, sector, -512))
    case "block-read-many":
      // sirocco-spt lets a read take many sectors (up to 1 MiB): the whole 64 KiB device.
      let result = call(17, storageDescriptor(), base, 65536, 0)
      console.print("hostile: read \(result) bytes at once")
      return result == 65536 ? 0 : 1
    case "block-read-too-long": return Int32(truncatingIfNeeded: call(17, storageDescriptor(), base, (1 << 20) + 512, 0))
    case "nothing": return 0
    case "sleep":
      // Waits (bounded) so that a test can read the tender's memory map.
      let start = sirocco_spt_clock(1)
      while sirocco_spt_clock(1) - start < 20_000_000_000 {}
      return 0
    case "smash":
      // Overwrites the tender's writable memory (what its trap handler might read), then
      // traps: the report must still be right.
      let text = Array((range ?? "").utf8)
      var smashed = 0
      for part in text.split(separator: UInt8(ascii: ",")) {
        let bounds = part.split(separator: UInt8(ascii: "-"))
        guard bounds.count == 2, let start = hex(bounds[0]), let end = hex(bounds[1]), start < end else { return 2 }
        let pointer = UnsafeMutablePointer<UInt8>(bitPattern: start)!
        for offset in 0..<(end - start) { pointer[offset] = 0x5a }
        smashed += end - start
      }
      console.print("hostile: smashed \(smashed) bytes of the tender")
      let null = UnsafePointer<UInt64>(bitPattern: UInt(smashed > 0 ? 8 : 16))!
      return Int32(truncatingIfNeeded: null.pointee)
    default:
      console.print("hostile: unknown misdeed '\(what)'")
      return 2
    }
  }

  /// A hexadecimal number, with or without 0x.
  static func hex(_ bytes: ArraySlice<UInt8>) -> Int? {
    var digits = bytes
    if digits.starts(with: [UInt8(ascii: "0"), UInt8(ascii: "x")]) { digits = digits.dropFirst(2) }
    guard !digits.isEmpty, digits.count <= 16 else { return nil }
    var value: UInt64 = 0
    for byte in digits {
      guard let digit = asciiHexDigit(byte) else { return nil }
      value = value << 4 | UInt64(digit)
    }
    return Int(bitPattern: UInt(value))
  }

  /// The block device's host descriptor, from the manifest the tender filled.
  static func storageDescriptor() -> Int {
    let bootInfo = sirocco_spt_boot_info()!
    let manifest = UnsafeRawPointer(bitPattern: bootInfo.load(fromByteOffset: 24, as: UInt.self))!
    return Int(manifest.load(fromByteOffset: 8 + 104 + 88, as: Int32.self))
  }
  #endif

  mutating func step(now: Instant) -> Step { .exit(status) }
}
