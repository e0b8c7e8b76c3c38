// A program as Swift source (`sirocco filter --swift NAME EXPRESSION`): for a filter known when
// the unikernel is built, a function the compiler turns into native code, with no dispatch
// per instruction. BPF jumps only forward, so each jump is a `break` out of a labelled `do`
// that ends where its target block begins (block k follows the `do` labelled `bk`, which
// holds every block before it): direct branches, in the program's order. The function
// returns what BPFProgram.run returns for the same frame (GeneratedFilterTests compile
// generated functions and check them against the interpreter).

extension BPFProgram {
  /// `public func NAME(_ frame: UnsafeRawBufferPointer, wireLength: Int) -> UInt32`, and
  /// `NAMEMatches(_:)` for the frame as captured, with `expression` in their comment.
  public func swiftSource(name: String, expression: String) -> String {
    let count = instructions.count
    // Where blocks start: the first instruction, jump targets, after a jump or return.
    var leaders = Set([0])
    var registerXWritten = false
    var registerXRead = false
    var memoryWritten = Set<UInt32>()
    var memoryRead = Set<UInt32>()
    var wireRead = false
    var packetRead = false
    for (index, instruction) in instructions.enumerated() {
      let code = instruction.code
      let next = index + 1
      if code & 0x07 == BPF.jmp {
        if code & 0xf0 == BPF.ja {
          leaders.insert(next + Int(instruction.k))
        } else {
          leaders.insert(next + Int(instruction.jt))
          leaders.insert(next + Int(instruction.jf))
        }
        leaders.insert(next)
        if code & BPF.x != 0, code & 0xf0 != BPF.ja { registerXRead = true }
      }
      if code & 0x07 == BPF.ret { leaders.insert(next) }
      switch code {
      case BPF.ldx | BPF.w | BPF.len, BPF.ldx | BPF.msh | BPF.b, BPF.ldx | BPF.imm, BPF.ldx | BPF.mem, BPF.misc | BPF.tax:
        registerXWritten = true
      case BPF.ld | BPF.w | BPF.ind, BPF.ld | BPF.h | BPF.ind, BPF.ld | BPF.b | BPF.ind, BPF.stx, BPF.misc | BPF.txa:
        registerXRead = true
      default:
        if code & 0x07 == BPF.alu, code & BPF.x != 0 { registerXRead = true }
      }
      if code == BPF.st || code == BPF.stx { memoryWritten.insert(instruction.k) }
      if code == BPF.ld | BPF.mem || code == BPF.ldx | BPF.mem { memoryRead.insert(instruction.k) }
      if code == BPF.ld | BPF.w | BPF.len || code == BPF.ldx | BPF.w | BPF.len { wireRead = true }
      if code & 0x07 <= BPF.ldx, [BPF.abs, BPF.ind, BPF.msh].contains(code & 0xe0) { packetRead = true }
    }
    let starts = leaders.filter { $0 < count }.sorted()
    func block(of target: Int) -> Int { starts.firstIndex(of: target)! }
    var out = "/// `" + expression + "`, compiled by `sirocco filter --swift " + name + "`: what the BPF\n"
    out += "/// program returns for `frame` (0: rejected), `wireLength` its length on the wire.\n"
    out += "public func " + name + "(_ frame: UnsafeRawBufferPointer, wireLength: Int) -> UInt32 {\n"
    if packetRead {
      out += "  // Never read when the frame is empty: every load is checked against the length first.\n"
      out += "  let base = frame.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!\n"
      out += "  let length = UInt32(truncatingIfNeeded: frame.count)\n"
    } else {
      out += "  _ = frame\n"
    }
    out += wireRead ? "  let wire = UInt32(truncatingIfNeeded: wireLength)\n" : "  _ = wireLength\n"
    out += "  var a: UInt32 = 0\n"
    if registerXWritten { out += "  var x: UInt32 = 0\n" } else if registerXRead { out += "  let x: UInt32 = 0\n" }
    for slot in memoryRead.union(memoryWritten).sorted() {
      out += (memoryWritten.contains(slot) ? "  var" : "  let") + " m" + String(slot) + ": UInt32 = 0\n"
    }
    for number in stride(from: starts.count - 1, to: 0, by: -1) { out += "  b" + String(number) + ": do {\n" }
    for (number, start) in starts.enumerated() {
      if number > 0 { out += "  }\n" }
      var index = start
      while true {
        let instruction = instructions[index]
        out += "  " + statement(instruction, at: index, block: block) + "\n"
        let code = instruction.code
        if code & 0x07 == BPF.jmp || code & 0x07 == BPF.ret { break }
        index += 1
        if leaders.contains(index) { break }  // on into the next block
      }
    }
    out += "}\n\n"
    out += "/// Whether `frame` (as captured) matches `" + expression + "`.\n"
    out += "@inline(__always) public func " + name + "Matches(_ frame: UnsafeRawBufferPointer) -> Bool {\n"
    out += "  " + name + "(frame, wireLength: frame.count) != 0\n}\n"
    return out
  }

  /// One instruction as a Swift statement (the checks BPFProgram.run makes, with the
  /// constants folded in).
  func statement(_ instruction: BPFInstruction, at index: Int, block: (Int) -> Int) -> String {
    let k = instruction.k
    let kText = String(k)
    let next = index + 1
    /// The big-endian value of `size` bytes at `offset` (Swift for an Int), as a UInt32.
    func read(_ size: UInt32, at offset: String) -> String {
      switch size {
      case 4: "UInt32(bigEndian: base.loadUnaligned(fromByteOffset: " + offset + ", as: UInt32.self))"
      case 2: "UInt32(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: " + offset + ", as: UInt16.self)))"
      default: "UInt32(base.load(fromByteOffset: " + offset + ", as: UInt8.self))"
      }
    }
    /// A load of `size` bytes at the constant offset k.
    func load(_ size: UInt32, into register: String) -> String {
      let end = UInt64(k) + UInt64(size)
      guard end <= UInt64(UInt32.max) else { return "return 0" }
      return "guard length >= " + String(end) + " else { return 0 }; " + register + " = " + read(size, at: kText)
    }
    func indexed(_ size: UInt32) -> String {
      // As BPFProgram.run: k + x within the frame, without wrapping.
      "guard " + kText + " <= length, x <= length - " + kText + ", length - (" + kText + " &+ x) >= " + String(size)
        + " else { return 0 }; a = " + read(size, at: "Int(" + kText + " &+ x)")
    }
    func jump(_ condition: String) -> String {
      "if " + condition + " { break b" + String(block(next + Int(instruction.jt))) + " } else { break b"
        + String(block(next + Int(instruction.jf))) + " }"
    }
    switch instruction.code {
    case BPF.ret | BPF.k: return "return " + kText
    case BPF.ret | BPF.a: return "return a"
    case BPF.ld | BPF.w | BPF.abs: return load(4, into: "a")
    case BPF.ld | BPF.h | BPF.abs: return load(2, into: "a")
    case BPF.ld | BPF.b | BPF.abs: return load(1, into: "a")
    case BPF.ld | BPF.w | BPF.ind: return indexed(4)
    case BPF.ld | BPF.h | BPF.ind: return indexed(2)
    case BPF.ld | BPF.b | BPF.ind: return indexed(1)
    case BPF.ld | BPF.w | BPF.len: return "a = wire"
    case BPF.ldx | BPF.w | BPF.len: return "x = wire"
    case BPF.ldx | BPF.msh | BPF.b:
      return load(1, into: "x") + "; x = (x & 0xf) << 2"
    case BPF.ld | BPF.imm: return "a = " + kText
    case BPF.ldx | BPF.imm: return "x = " + kText
    case BPF.ld | BPF.mem: return "a = m" + kText
    case BPF.ldx | BPF.mem: return "x = m" + kText
    case BPF.st: return "m" + kText + " = a"
    case BPF.stx: return "m" + kText + " = x"
    case BPF.jmp | BPF.ja: return "break b" + String(block(next + Int(k)))
    case BPF.jmp | BPF.jgt | BPF.k: return jump("a > " + kText)
    case BPF.jmp | BPF.jge | BPF.k: return jump("a >= " + kText)
    case BPF.jmp | BPF.jeq | BPF.k: return jump("a == " + kText)
    case BPF.jmp | BPF.jset | BPF.k: return jump("a & " + kText + " != 0")
    case BPF.jmp | BPF.jgt | BPF.x: return jump("a > x")
    case BPF.jmp | BPF.jge | BPF.x: return jump("a >= x")
    case BPF.jmp | BPF.jeq | BPF.x: return jump("a == x")
    case BPF.jmp | BPF.jset | BPF.x: return jump("a & x != 0")
    case BPF.alu | BPF.neg: return "a = 0 &- a"
    case BPF.misc | BPF.tax: return "x = a"
    case BPF.misc | BPF.txa: return "a = x"
    default:
      let x = instruction.code & BPF.x != 0
      let operand = x ? "x" : kText
      switch instruction.code & 0xf0 {
      case BPF.add: return "a = a &+ " + operand
      case BPF.sub: return "a = a &- " + operand
      case BPF.mul: return "a = a &* " + operand
      case BPF.div: return x ? "guard x != 0 else { return 0 }; a /= x" : (k == 0 ? "return 0" : "a /= " + kText)
      case BPF.mod: return x ? "guard x != 0 else { return 0 }; a %= x" : (k == 0 ? "return 0" : "a %= " + kText)
      case BPF.and: return "a &= " + operand
      case BPF.or: return "a |= " + operand
      case BPF.xor: return "a ^= " + operand
      case BPF.lsh: return x ? "a = x < 32 ? a << x : 0" : (k < 32 ? "a <<= " + kText : "a = 0")
      case BPF.rsh: return x ? "a = x < 32 ? a >> x : 0" : (k < 32 ? "a >>= " + kText : "a = 0")
      default: return "return 0"
      }
    }
  }
}
