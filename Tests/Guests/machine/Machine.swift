// machine: a guest without devices for the freestanding targets' tests (spt, virtio): CPU
// traps (`--do=` null, precondition, fatal, bounds, overflow, recurse, write-text,
// execute-data), the files compiled into it from Resources (`--do=resources`: each one's
// path, size, date and SHA-256), and
// sleeping (`--sleeps=N` waits of `--sleep-ms` each, printing when it woke) before exiting
// with `--status`.

import Sirocco

@main
struct Machine: Unikernel {
  static let name = "machine"
  static let parameters: [ParameterDeclaration] = [
    .string("do", default: "nothing", help: "the misdeed: null, precondition, fatal, bounds, overflow, recurse, write-text, execute-data; or resources"),
    .integer("index", default: 7, range: 0...1000, help: "an index the compiler cannot see through"),
    .integer("sleeps", default: 0, range: 0...1000, help: "how many times to sleep before exiting"),
    .integer("sleep-ms", default: 100, range: 1...600_000, help: "how long each sleep lasts"),
    .integer("status", default: 0, range: 0...255, help: "the exit status"),
  ]

  let console: any Console
  let sleeps: Int
  let sleep: Duration
  let status: Int32
  var slept = 0
  var until: Instant?

  init(boot: Boot) throws(BootFailure) {
    console = boot.console
    let parameters = boot.parameters
    sleeps = parameters.integer("sleeps") ?? 0
    sleep = .milliseconds(Int64(parameters.integer("sleep-ms") ?? 100))
    status = Int32(parameters.integer("status") ?? 0)
    let index = parameters.integer("index") ?? 7
    let what = parameters.string("do") ?? "nothing"
    console.print("machine: \(what)")
    switch what {
    case "null":
      let pointer = UnsafePointer<UInt64>(bitPattern: UInt(index / 7 * 8))!
      console.print("read \(pointer.pointee)")
    case "precondition":
      precondition(index > 100, "index must be above 100")
    case "fatal":
      if index < 100 { fatalError("the machine guest gives up") }
    case "bounds":
      let array = [1, 2, 3]
      console.print("element \(array[index])")
    case "overflow":
      let big = Int.max - 3 + index / 7
      console.print("sum \(big + index)")
    case "recurse":
      console.print("depth \(Self.recurse(index))")
    case "write-text":
      // 1 MiB, where every freestanding image's code starts (index 7: the compiler cannot
      // know the address, so the store stays).
      let text = UnsafeMutablePointer<UInt8>(bitPattern: UInt(index / 7) << 20)!
      text.pointee = 0xcc
      console.print("wrote over the code")
    case "execute-data":
      // ud2 in heap memory, called: data is never executable.
      let code = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
      code.storeBytes(of: 0x0b0f, as: UInt16.self)
      unsafeBitCast(code, to: (@convention(c) () -> Void).self)()
    case "resources":
      Self.list(boot.resources, "", console)
    default:
      break
    }
  }

  /// Prints every value under `directory` of `store`, depth first: "resource PATH SIZE
  /// DATE SHA256", then "resource PATH/ dictionary" for each dictionary, and the first 16
  /// bytes of `greeting.txt` read from offset 6.
  static func list(_ store: TarStore, _ directory: String, _ console: any Console) {
    guard let entries = try? store.list(directory) else { return console.print("resource \(directory): cannot list") }
    for entry in entries {
      let key = directory.isEmpty ? entry.name : directory + "/" + entry.name
      guard entry.kind == .value else {
        console.print("resource \(key)/ dictionary")
        list(store, key, console)
        continue
      }
      guard let size = try? store.size(key), let date = try? store.lastModified(key), let digest = try? store.digest(key) else {
        console.print("resource \(key): cannot read")
        continue
      }
      var hex = ""
      for byte in digest {
        let digits: StaticString = "0123456789abcdef"
        hex.unicodeScalars.append(Unicode.Scalar(digits.utf8Start[Int(byte >> 4)]))
        hex.unicodeScalars.append(Unicode.Scalar(digits.utf8Start[Int(byte & 15)]))
      }
      console.print("resource \(key) \(size) \(date) \(hex)")
    }
    if directory.isEmpty, let part = try? store.get("greeting.txt", offset: 6, length: 16) {
      console.print("resource greeting.txt from 6: " + String(decoding: part, as: UTF8.self))
    }
  }

  /// Never returns: each call goes one deeper until the stack runs out (the checked `+`
  /// keeps the optimiser from turning it into a loop).
  static func recurse(_ depth: Int) -> Int { depth == 0 ? 0 : 1 + recurse(depth &+ 1) }

  mutating func step(now: Instant) -> Step {
    if let until {
      if now < until { return .wait(until: until) }
      console.print("woke after sleep \(slept)")
    }
    guard slept < sleeps else { return .exit(status) }
    slept += 1
    until = now + sleep
    return .wait(until: until)
  }
}
