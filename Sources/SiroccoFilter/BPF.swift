// Classic BPF, as Linux sockets (SO_ATTACH_FILTER), libpcap and the BSDs run it: the
// instruction set, a checker (bpf_validate's rules), the interpreter whose results define
// what a filter matches (an out-of-bounds load or a division by zero rejects the packet),
// and the text forms `tcpdump -d`, `-dd` and `-ddd` print.

/// One instruction: `code` (class, size, mode or operation, source), the jump offsets of a
/// conditional jump (instructions to skip when true, when false) and the constant `k`.
public struct BPFInstruction: Equatable, Hashable, Sendable {
  public var code: UInt16
  public var jt: UInt8
  public var jf: UInt8
  public var k: UInt32

  public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32 = 0) {
    self.code = code
    self.jt = jt
    self.jf = jf
    self.k = k
  }
}

/// The parts of an instruction's code.
public enum BPF {
  // Classes.
  public static let ld: UInt16 = 0x00
  public static let ldx: UInt16 = 0x01
  public static let st: UInt16 = 0x02
  public static let stx: UInt16 = 0x03
  public static let alu: UInt16 = 0x04
  public static let jmp: UInt16 = 0x05
  public static let ret: UInt16 = 0x06
  public static let misc: UInt16 = 0x07
  // Load sizes.
  public static let w: UInt16 = 0x00
  public static let h: UInt16 = 0x08
  public static let b: UInt16 = 0x10
  // Load modes.
  public static let imm: UInt16 = 0x00
  public static let abs: UInt16 = 0x20
  public static let ind: UInt16 = 0x40
  public static let mem: UInt16 = 0x60
  public static let len: UInt16 = 0x80
  public static let msh: UInt16 = 0xa0
  // ALU operations.
  public static let add: UInt16 = 0x00
  public static let sub: UInt16 = 0x10
  public static let mul: UInt16 = 0x20
  public static let div: UInt16 = 0x30
  public static let or: UInt16 = 0x40
  public static let and: UInt16 = 0x50
  public static let lsh: UInt16 = 0x60
  public static let rsh: UInt16 = 0x70
  public static let neg: UInt16 = 0x80
  public static let mod: UInt16 = 0x90
  public static let xor: UInt16 = 0xa0
  // Jumps.
  public static let ja: UInt16 = 0x00
  public static let jeq: UInt16 = 0x10
  public static let jgt: UInt16 = 0x20
  public static let jge: UInt16 = 0x30
  public static let jset: UInt16 = 0x40
  // Sources (ALU, jumps) and return values.
  public static let k: UInt16 = 0x00
  public static let x: UInt16 = 0x08
  public static let a: UInt16 = 0x10
  // MISC.
  public static let tax: UInt16 = 0x00
  public static let txa: UInt16 = 0x80
  /// Scratch memory words (M[0] to M[15]).
  public static let memoryWords = 16
  /// The largest program a Linux socket accepts.
  public static let maximumInstructions = 4096

  /// An ALU operation on 32-bit values as bpf_filter computes it (shifts by 32 or more give
  /// 0); nil for a division or modulus by zero, which rejects the packet.
  static func arithmetic(_ operation: UInt16, _ a: UInt32, _ b: UInt32) -> UInt32? {
    switch operation {
    case BPF.add: a &+ b
    case BPF.sub: a &- b
    case BPF.mul: a &* b
    case BPF.div: b == 0 ? nil : a / b
    case BPF.mod: b == 0 ? nil : a % b
    case BPF.and: a & b
    case BPF.or: a | b
    case BPF.xor: a ^ b
    case BPF.lsh: b < 32 ? a << b : 0
    case BPF.rsh: b < 32 ? a >> b : 0
    default: nil
    }
  }
}

/// Why a program was refused by `BPFProgram.init(checking:)`.
public struct BPFError: Error, Equatable, Sendable, CustomStringConvertible {
  public var index: Int
  public var reason: StaticString
  public var description: String { "instruction \(index): \(reason)" }
  public static func == (lhs: BPFError, rhs: BPFError) -> Bool {
    lhs.index == rhs.index && lhs.reason.utf8Start == rhs.reason.utf8Start
  }
}

/// A checked program: every jump lands inside it, every path ends in a return, scratch
/// memory stays within its 16 words, no division by a constant zero.
public struct BPFProgram: Equatable, Sendable {
  public let instructions: [BPFInstruction]
  /// Whether some path reads a scratch word it did not write first (it reads 0).
  public let readsUnwrittenMemory: Bool

  public init(checking instructions: [BPFInstruction]) throws(BPFError) {
    guard !instructions.isEmpty, instructions.count <= BPF.maximumInstructions else {
      throw BPFError(index: 0, reason: "a program has 1 to 4096 instructions")
    }
    for (index, instruction) in instructions.enumerated() {
      let code = instruction.code
      let remaining = instructions.count - index - 1
      switch code & 0x07 {
      case BPF.ld, BPF.ldx:
        switch code & 0xe0 {
        case BPF.mem:
          guard instruction.k < BPF.memoryWords else { throw BPFError(index: index, reason: "scratch memory index past 15") }
        case BPF.imm, BPF.abs, BPF.ind, BPF.len, BPF.msh:
          break
        default:
          throw BPFError(index: index, reason: "unknown load mode")
        }
      case BPF.st, BPF.stx:
        guard instruction.k < BPF.memoryWords else { throw BPFError(index: index, reason: "scratch memory index past 15") }
      case BPF.alu:
        let operation = code & 0xf0
        guard operation <= BPF.xor else { throw BPFError(index: index, reason: "unknown ALU operation") }
        if code & BPF.x == 0, operation == BPF.div || operation == BPF.mod, instruction.k == 0 {
          throw BPFError(index: index, reason: "division by a constant zero")
        }
      case BPF.jmp:
        if code & 0xf0 == BPF.ja {
          guard instruction.k < remaining else { throw BPFError(index: index, reason: "jump past the end") }
        } else {
          guard code & 0xf0 <= BPF.jset else { throw BPFError(index: index, reason: "unknown jump") }
          guard Int(instruction.jt) < remaining, Int(instruction.jf) < remaining else {
            throw BPFError(index: index, reason: "jump past the end")
          }
        }
      case BPF.ret:
        guard code == BPF.ret | BPF.k || code == BPF.ret | BPF.a else {
          throw BPFError(index: index, reason: "unknown return")
        }
      case BPF.misc:
        guard code == BPF.misc | BPF.tax || code == BPF.misc | BPF.txa else {
          throw BPFError(index: index, reason: "unknown miscellaneous instruction")
        }
      default:
        throw BPFError(index: index, reason: "unknown instruction class")
      }
    }
    guard instructions[instructions.count - 1].code & 0x07 == BPF.ret else {
      throw BPFError(index: instructions.count - 1, reason: "the last instruction is not a return")
    }
    // Whether a scratch word may be read before every path to the read wrote it (Linux's
    // checker refuses such a program; libpcap's optimiser very rarely makes one, and its
    // interpreter then reads whatever its stack held: here such a word reads 0).
    var readsUnwritten = false
    var written = [UInt16](repeating: 0xffff, count: instructions.count)
    written[0] = 0
    for (index, instruction) in instructions.enumerated() {
      var valid = written[index]
      let code = instruction.code
      let mode = code & 0xe0
      switch code & 0x07 {
      case BPF.ld, BPF.ldx:
        if mode == BPF.mem, valid & (1 << UInt16(instruction.k)) == 0 { readsUnwritten = true }
      case BPF.st, BPF.stx:
        valid |= 1 << UInt16(instruction.k)
      default:
        break
      }
      func flows(to target: Int) { written[target] &= valid }
      switch code & 0x07 {
      case BPF.ret: continue
      case BPF.jmp:
        if code & 0xf0 == BPF.ja {
          flows(to: index + 1 + Int(instruction.k))
        } else {
          flows(to: index + 1 + Int(instruction.jt))
          flows(to: index + 1 + Int(instruction.jf))
        }
      default:
        flows(to: index + 1)
      }
    }
    self.instructions = instructions
    self.readsUnwrittenMemory = readsUnwritten
  }

  /// What the program returns for a packet of which `packet` was captured and `wireLength`
  /// bytes were on the wire (0: rejected). As libpcap's `bpf_filter` does.
  public func run(_ packet: UnsafeRawBufferPointer, wireLength: Int) -> UInt32 {
    var a: UInt32 = 0
    var x: UInt32 = 0
    var memory = (UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
                  UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0))
    let length = UInt32(truncatingIfNeeded: packet.count)
    return instructions.withUnsafeBufferPointer { program -> UInt32 in
      withUnsafeMutableBytes(of: &memory) { scratch -> UInt32 in
        let m = scratch.bindMemory(to: UInt32.self)
        var pc = 0
        while true {
          let instruction = program[pc]
          pc += 1
          let k = instruction.k
          switch instruction.code {
          case BPF.ret | BPF.k: return k
          case BPF.ret | BPF.a: return a
          case BPF.ld | BPF.w | BPF.abs:
            guard k <= length, length - k >= 4 else { return 0 }
            a = load32(packet, Int(k))
          case BPF.ld | BPF.h | BPF.abs:
            guard k <= length, length - k >= 2 else { return 0 }
            a = load16(packet, Int(k))
          case BPF.ld | BPF.b | BPF.abs:
            guard k < length else { return 0 }
            a = UInt32(packet[Int(k)])
          case BPF.ld | BPF.w | BPF.len: a = UInt32(truncatingIfNeeded: wireLength)
          case BPF.ldx | BPF.w | BPF.len: x = UInt32(truncatingIfNeeded: wireLength)
          case BPF.ld | BPF.w | BPF.ind:
            guard k <= length, x <= length - k, length - (k &+ x) >= 4 else { return 0 }
            a = load32(packet, Int(k &+ x))
          case BPF.ld | BPF.h | BPF.ind:
            guard x <= length, k <= length - x, length - (k &+ x) >= 2 else { return 0 }
            a = load16(packet, Int(k &+ x))
          case BPF.ld | BPF.b | BPF.ind:
            guard k < length, x < length - k else { return 0 }
            a = UInt32(packet[Int(k &+ x)])
          case BPF.ldx | BPF.msh | BPF.b:
            guard k < length else { return 0 }
            x = UInt32(packet[Int(k)] & 0xf) << 2
          case BPF.ld | BPF.imm: a = k
          case BPF.ldx | BPF.imm: x = k
          case BPF.ld | BPF.mem: a = m[Int(k)]
          case BPF.ldx | BPF.mem: x = m[Int(k)]
          case BPF.st: m[Int(k)] = a
          case BPF.stx: m[Int(k)] = x
          case BPF.jmp | BPF.ja: pc += Int(k)
          case BPF.jmp | BPF.jgt | BPF.k: pc += a > k ? Int(instruction.jt) : Int(instruction.jf)
          case BPF.jmp | BPF.jge | BPF.k: pc += a >= k ? Int(instruction.jt) : Int(instruction.jf)
          case BPF.jmp | BPF.jeq | BPF.k: pc += a == k ? Int(instruction.jt) : Int(instruction.jf)
          case BPF.jmp | BPF.jset | BPF.k: pc += a & k != 0 ? Int(instruction.jt) : Int(instruction.jf)
          case BPF.jmp | BPF.jgt | BPF.x: pc += a > x ? Int(instruction.jt) : Int(instruction.jf)
          case BPF.jmp | BPF.jge | BPF.x: pc += a >= x ? Int(instruction.jt) : Int(instruction.jf)
          case BPF.jmp | BPF.jeq | BPF.x: pc += a == x ? Int(instruction.jt) : Int(instruction.jf)
          case BPF.jmp | BPF.jset | BPF.x: pc += a & x != 0 ? Int(instruction.jt) : Int(instruction.jf)
          case BPF.alu | BPF.neg: a = 0 &- a
          case BPF.misc | BPF.tax: x = a
          case BPF.misc | BPF.txa: a = x
          default:
            guard instruction.code & 0x07 == BPF.alu else { return 0 }
            guard let result = BPF.arithmetic(instruction.code & 0xf0, a, instruction.code & BPF.x != 0 ? x : k) else { return 0 }
            a = result
          }
        }
      }
    }
  }

  // MARK: Text forms

  /// `tcpdump -d`: one line an instruction, jumps to absolute instruction numbers.
  public var listing: String {
    var text = ""
    for index in instructions.indices {
      text += Self.image(instructions[index], at: index) + "\n"
    }
    return text
  }

  /// `tcpdump -dd`: a C array initialiser.
  public var cArray: String {
    var text = ""
    for instruction in instructions {
      text += "{ 0x" + hex(UInt32(instruction.code)) + ", " + String(instruction.jt) + ", " + String(instruction.jf) + ", 0x"
      text += padded(hex(instruction.k), 8) + " },\n"
    }
    return text
  }

  /// `tcpdump -ddd`: the count, then `code jt jf k` in decimal, one line an instruction (the
  /// form `iptables -m bpf --bytecode` and `tc` read, with commas for newlines).
  public var decimal: String {
    var text = String(instructions.count) + "\n"
    for instruction in instructions {
      text += String(instruction.code) + " " + String(instruction.jt) + " " + String(instruction.jf) + " " + String(instruction.k) + "\n"
    }
    return text
  }

  static func image(_ instruction: BPFInstruction, at index: Int) -> String {
    let k = instruction.k
    let kInt = String(Int32(bitPattern: k))
    var operation = "unimp"
    var operand = "0x" + hex(UInt32(instruction.code))
    var conditional = false
    switch instruction.code {
    case BPF.ret | BPF.k: (operation, operand) = ("ret", "#" + kInt)
    case BPF.ret | BPF.a: (operation, operand) = ("ret", "a")
    case BPF.ld | BPF.w | BPF.abs: (operation, operand) = ("ld", "[" + kInt + "]")
    case BPF.ld | BPF.h | BPF.abs: (operation, operand) = ("ldh", "[" + kInt + "]")
    case BPF.ld | BPF.b | BPF.abs: (operation, operand) = ("ldb", "[" + kInt + "]")
    case BPF.ld | BPF.w | BPF.len: (operation, operand) = ("ld", "#pktlen")
    case BPF.ldx | BPF.w | BPF.len: (operation, operand) = ("ldx", "#pktlen")
    case BPF.ld | BPF.w | BPF.ind: (operation, operand) = ("ld", "[x + " + kInt + "]")
    case BPF.ld | BPF.h | BPF.ind: (operation, operand) = ("ldh", "[x + " + kInt + "]")
    case BPF.ld | BPF.b | BPF.ind: (operation, operand) = ("ldb", "[x + " + kInt + "]")
    case BPF.ld | BPF.imm: (operation, operand) = ("ld", "#0x" + hex(k))
    case BPF.ldx | BPF.imm: (operation, operand) = ("ldx", "#0x" + hex(k))
    case BPF.ldx | BPF.msh | BPF.b: (operation, operand) = ("ldxb", "4*([" + kInt + "]&0xf)")
    case BPF.ld | BPF.mem: (operation, operand) = ("ld", "M[" + kInt + "]")
    case BPF.ldx | BPF.mem: (operation, operand) = ("ldx", "M[" + kInt + "]")
    case BPF.st: (operation, operand) = ("st", "M[" + kInt + "]")
    case BPF.stx: (operation, operand) = ("stx", "M[" + kInt + "]")
    case BPF.jmp | BPF.ja: (operation, operand) = ("ja", String(index + 1 + Int(k)))
    case BPF.alu | BPF.neg: (operation, operand) = ("neg", "")
    case BPF.misc | BPF.tax: (operation, operand) = ("tax", "")
    case BPF.misc | BPF.txa: (operation, operand) = ("txa", "")
    default:
      let source = instruction.code & BPF.x != 0 ? "x" : "#0x" + hex(k)
      if instruction.code & 0x07 == BPF.jmp {
        let names: [UInt16: String] = [BPF.jgt: "jgt", BPF.jge: "jge", BPF.jeq: "jeq", BPF.jset: "jset"]
        if let name = names[instruction.code & 0xf0] {
          (operation, operand, conditional) = (name, source, true)
        }
      } else if instruction.code & 0x07 == BPF.alu {
        let names: [UInt16: String] = [
          BPF.add: "add", BPF.sub: "sub", BPF.mul: "mul", BPF.div: "div", BPF.mod: "mod", BPF.and: "and",
          BPF.or: "or", BPF.xor: "xor", BPF.lsh: "lsh", BPF.rsh: "rsh",
        ]
        // Arithmetic constants in decimal, bitwise ones in hex, as bpf_image prints them.
        let operationCode = instruction.code & 0xf0
        let bitwise = operationCode == BPF.and || operationCode == BPF.or || operationCode == BPF.xor
        let constant = bitwise ? "#0x" + hex(k) : "#" + kInt
        if let name = names[operationCode] { (operation, operand) = (name, instruction.code & BPF.x != 0 ? "x" : constant) }
      }
    }
    var line = "(" + padded(String(index), 3) + ") " + operation.padding(8) + " "
    if conditional {
      line += operand.padding(16) + " jt " + String(index + 1 + Int(instruction.jt)) + "\tjf " + String(index + 1 + Int(instruction.jf))
    } else {
      line += operand
    }
    return line
  }
}

@inline(__always)
func load32(_ packet: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
  UInt32(packet[offset]) << 24 | UInt32(packet[offset + 1]) << 16 | UInt32(packet[offset + 2]) << 8 | UInt32(packet[offset + 3])
}

@inline(__always)
func load16(_ packet: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
  UInt32(packet[offset]) << 8 | UInt32(packet[offset + 1])
}

func hex(_ value: UInt32) -> String {
  let digits: StaticString = "0123456789abcdef"
  var text: [UInt8] = []
  var rest = value
  repeat {
    text.append(digits.utf8Start[Int(rest & 0xf)])
    rest >>= 4
  } while rest != 0
  return String(decoding: text.reversed(), as: UTF8.self)
}

/// `text` with zeros in front up to `width` characters.
func padded(_ text: String, _ width: Int) -> String {
  String(repeating: "0", count: max(0, width - text.utf8.count)) + text
}

extension String {
  /// The text with spaces after it up to `width` characters.
  func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - utf8.count)) }
}
