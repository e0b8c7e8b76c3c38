// The program run fast: each instruction decoded once into an operation with absolute jump
// targets, and a load followed by a conditional jump against a constant (most of what the
// optimiser leaves: `ldh [12]; jeq #0x800`) fused into one operation. Jumps still land on
// the plain jump, so the program's meaning is the interpreter's (BPFProgram.run), checked
// against it by the tests and the fuzz target; frames are read in place, without allocating.

struct Operation {
  enum Kind: UInt8 {
    case returnConstant, returnA
    case loadWord, loadHalf, loadByte, loadWordIndexed, loadHalfIndexed, loadByteIndexed
    case loadLength, loadXLength, loadHeaderLength, loadImmediate, loadXImmediate, loadMemory, loadXMemory
    case store, storeX, jump
    case jumpGreater, jumpGreaterOrEqual, jumpEqual, jumpSet
    case jumpGreaterX, jumpGreaterOrEqualX, jumpEqualX, jumpSetX
    /// A load at a constant offset of 4, 2 or 1 bytes, then a jump against a constant.
    case wordEqual, wordGreater, wordGreaterOrEqual, wordSet
    case halfEqual, halfGreater, halfGreaterOrEqual, halfSet
    case byteEqual, byteGreater, byteGreaterOrEqual, byteSet
    case add, subtract, multiply, divide, modulo, and, or, xor, shiftLeft, shiftRight
    case addX, subtractX, multiplyX, divideX, moduloX, andX, orX, xorX, shiftLeftX, shiftRightX
    case negate, tax, txa
  }

  var kind: Kind
  /// Absolute operation indices when the jump is taken and when not.
  var whenTrue: UInt16 = 0
  var whenFalse: UInt16 = 0
  var k: UInt32 = 0
  /// For fused operations: the constant compared with.
  var operand: UInt32 = 0
}

/// A decoded program; `run` runs it.
public struct Matcher: Sendable {
  /// The operations, in memory that lives as long as the matcher (no array access checks
  /// or retains on the hot path).
  final class Storage: @unchecked Sendable {
    let operations: UnsafeMutableBufferPointer<Operation>
    init(_ operations: [Operation]) {
      self.operations = .allocate(capacity: operations.count)
      _ = self.operations.initialize(from: operations)
    }
    deinit { operations.deallocate() }
  }

  let storage: Storage
  /// Whether scratch memory must start cleared (see BPFProgram.readsUnwrittenMemory).
  let clearsMemory: Bool

  public init(_ program: BPFProgram) {
    let instructions = program.instructions
    var operations: [Operation] = []
    operations.reserveCapacity(instructions.count)
    for (index, instruction) in instructions.enumerated() {
      operations.append(Self.decode(instruction, at: index))
    }
    // Fuse a constant-offset load with the conditional jump after it.
    for index in 0..<(instructions.count - 1) {
      let load = operations[index]
      let jump = operations[index + 1]
      let comparisons: [Operation.Kind]
      switch load.kind {
      case .loadWord: comparisons = [.wordEqual, .wordGreater, .wordGreaterOrEqual, .wordSet]
      case .loadHalf: comparisons = [.halfEqual, .halfGreater, .halfGreaterOrEqual, .halfSet]
      case .loadByte: comparisons = [.byteEqual, .byteGreater, .byteGreaterOrEqual, .byteSet]
      default: continue
      }
      let fused: Operation.Kind
      switch jump.kind {
      case .jumpEqual: fused = comparisons[0]
      case .jumpGreater: fused = comparisons[1]
      case .jumpGreaterOrEqual: fused = comparisons[2]
      case .jumpSet: fused = comparisons[3]
      default: continue
      }
      operations[index] = Operation(kind: fused, whenTrue: jump.whenTrue, whenFalse: jump.whenFalse, k: load.k, operand: jump.k)
    }
    storage = Storage(operations)
    clearsMemory = program.readsUnwrittenMemory
  }

  static func decode(_ instruction: BPFInstruction, at index: Int) -> Operation {
    let k = instruction.k
    let next = index + 1
    func jump(_ kind: Operation.Kind) -> Operation {
      Operation(kind: kind, whenTrue: UInt16(next + Int(instruction.jt)), whenFalse: UInt16(next + Int(instruction.jf)), k: k)
    }
    switch instruction.code {
    case BPF.ret | BPF.k: return Operation(kind: .returnConstant, k: k)
    case BPF.ret | BPF.a: return Operation(kind: .returnA)
    case BPF.ld | BPF.w | BPF.abs: return Operation(kind: .loadWord, k: k)
    case BPF.ld | BPF.h | BPF.abs: return Operation(kind: .loadHalf, k: k)
    case BPF.ld | BPF.b | BPF.abs: return Operation(kind: .loadByte, k: k)
    case BPF.ld | BPF.w | BPF.ind: return Operation(kind: .loadWordIndexed, k: k)
    case BPF.ld | BPF.h | BPF.ind: return Operation(kind: .loadHalfIndexed, k: k)
    case BPF.ld | BPF.b | BPF.ind: return Operation(kind: .loadByteIndexed, k: k)
    case BPF.ld | BPF.w | BPF.len: return Operation(kind: .loadLength)
    case BPF.ldx | BPF.w | BPF.len: return Operation(kind: .loadXLength)
    case BPF.ldx | BPF.msh | BPF.b: return Operation(kind: .loadHeaderLength, k: k)
    case BPF.ld | BPF.imm: return Operation(kind: .loadImmediate, k: k)
    case BPF.ldx | BPF.imm: return Operation(kind: .loadXImmediate, k: k)
    case BPF.ld | BPF.mem: return Operation(kind: .loadMemory, k: k)
    case BPF.ldx | BPF.mem: return Operation(kind: .loadXMemory, k: k)
    case BPF.st: return Operation(kind: .store, k: k)
    case BPF.stx: return Operation(kind: .storeX, k: k)
    case BPF.jmp | BPF.ja: return Operation(kind: .jump, whenTrue: UInt16(next + Int(k)), k: k)
    case BPF.jmp | BPF.jgt | BPF.k: return jump(.jumpGreater)
    case BPF.jmp | BPF.jge | BPF.k: return jump(.jumpGreaterOrEqual)
    case BPF.jmp | BPF.jeq | BPF.k: return jump(.jumpEqual)
    case BPF.jmp | BPF.jset | BPF.k: return jump(.jumpSet)
    case BPF.jmp | BPF.jgt | BPF.x: return jump(.jumpGreaterX)
    case BPF.jmp | BPF.jge | BPF.x: return jump(.jumpGreaterOrEqualX)
    case BPF.jmp | BPF.jeq | BPF.x: return jump(.jumpEqualX)
    case BPF.jmp | BPF.jset | BPF.x: return jump(.jumpSetX)
    case BPF.alu | BPF.neg: return Operation(kind: .negate)
    case BPF.misc | BPF.tax: return Operation(kind: .tax)
    case BPF.misc | BPF.txa: return Operation(kind: .txa)
    default:
      let x = instruction.code & BPF.x != 0
      let kinds: [UInt16: (Operation.Kind, Operation.Kind)] = [
        BPF.add: (.add, .addX), BPF.sub: (.subtract, .subtractX), BPF.mul: (.multiply, .multiplyX),
        BPF.div: (.divide, .divideX), BPF.mod: (.modulo, .moduloX), BPF.and: (.and, .andX), BPF.or: (.or, .orX),
        BPF.xor: (.xor, .xorX), BPF.lsh: (.shiftLeft, .shiftLeftX), BPF.rsh: (.shiftRight, .shiftRightX),
      ]
      // A checked program has only these left (BPFProgram refuses anything else).
      guard instruction.code & 0x07 == BPF.alu, let pair = kinds[instruction.code & 0xf0] else {
        return Operation(kind: .returnConstant, k: 0)
      }
      return Operation(kind: x ? pair.1 : pair.0, k: k)
    }
  }

  /// What the program returns for the frame (0: rejected), as BPFProgram.run would. Scratch
  /// memory is cleared only for a program that may read a word before writing it.
  public func run(_ packet: UnsafeRawBufferPointer, wireLength: Int) -> UInt32 {
    guard let base = packet.baseAddress else { return runEmpty(wireLength: wireLength) }
    return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: BPF.memoryWords) { memory in
      if clearsMemory { memory.initialize(repeating: 0) }
      return execute(base, length: UInt32(truncatingIfNeeded: packet.count), wireLength: UInt32(truncatingIfNeeded: wireLength),
              memory: memory.baseAddress!)
    }
  }

  @inline(__always)
  func execute(_ base: UnsafeRawPointer, length: UInt32, wireLength: UInt32, memory: UnsafeMutablePointer<UInt32>) -> UInt32 {
    let program = storage.operations.baseAddress!
    var a: UInt32 = 0
    var x: UInt32 = 0
    @inline(__always) func word(_ offset: UInt32) -> UInt32 {
      UInt32(bigEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: UInt32.self))
    }
    @inline(__always) func half(_ offset: UInt32) -> UInt32 {
      UInt32(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: Int(offset), as: UInt16.self)))
    }
    @inline(__always) func byte(_ offset: UInt32) -> UInt32 { UInt32(base.load(fromByteOffset: Int(offset), as: UInt8.self)) }
    var pc = 0
    while true {
      let op = program[pc]
      pc += 1
      switch op.kind {
      case .halfEqual:
        guard op.k <= length, length - op.k >= 2 else { return 0 }
        a = half(op.k)
        pc = Int(a == op.operand ? op.whenTrue : op.whenFalse)
      case .halfGreater:
        guard op.k <= length, length - op.k >= 2 else { return 0 }
        a = half(op.k)
        pc = Int(a > op.operand ? op.whenTrue : op.whenFalse)
      case .halfGreaterOrEqual:
        guard op.k <= length, length - op.k >= 2 else { return 0 }
        a = half(op.k)
        pc = Int(a >= op.operand ? op.whenTrue : op.whenFalse)
      case .halfSet:
        guard op.k <= length, length - op.k >= 2 else { return 0 }
        a = half(op.k)
        pc = Int(a & op.operand != 0 ? op.whenTrue : op.whenFalse)
      case .byteEqual:
        guard op.k < length else { return 0 }
        a = byte(op.k)
        pc = Int(a == op.operand ? op.whenTrue : op.whenFalse)
      case .byteGreater:
        guard op.k < length else { return 0 }
        a = byte(op.k)
        pc = Int(a > op.operand ? op.whenTrue : op.whenFalse)
      case .byteGreaterOrEqual:
        guard op.k < length else { return 0 }
        a = byte(op.k)
        pc = Int(a >= op.operand ? op.whenTrue : op.whenFalse)
      case .byteSet:
        guard op.k < length else { return 0 }
        a = byte(op.k)
        pc = Int(a & op.operand != 0 ? op.whenTrue : op.whenFalse)
      case .wordEqual:
        guard op.k <= length, length - op.k >= 4 else { return 0 }
        a = word(op.k)
        pc = Int(a == op.operand ? op.whenTrue : op.whenFalse)
      case .wordGreater:
        guard op.k <= length, length - op.k >= 4 else { return 0 }
        a = word(op.k)
        pc = Int(a > op.operand ? op.whenTrue : op.whenFalse)
      case .wordGreaterOrEqual:
        guard op.k <= length, length - op.k >= 4 else { return 0 }
        a = word(op.k)
        pc = Int(a >= op.operand ? op.whenTrue : op.whenFalse)
      case .wordSet:
        guard op.k <= length, length - op.k >= 4 else { return 0 }
        a = word(op.k)
        pc = Int(a & op.operand != 0 ? op.whenTrue : op.whenFalse)
      case .jumpEqual: pc = Int(a == op.k ? op.whenTrue : op.whenFalse)
      case .jumpGreater: pc = Int(a > op.k ? op.whenTrue : op.whenFalse)
      case .jumpGreaterOrEqual: pc = Int(a >= op.k ? op.whenTrue : op.whenFalse)
      case .jumpSet: pc = Int(a & op.k != 0 ? op.whenTrue : op.whenFalse)
      case .jumpEqualX: pc = Int(a == x ? op.whenTrue : op.whenFalse)
      case .jumpGreaterX: pc = Int(a > x ? op.whenTrue : op.whenFalse)
      case .jumpGreaterOrEqualX: pc = Int(a >= x ? op.whenTrue : op.whenFalse)
      case .jumpSetX: pc = Int(a & x != 0 ? op.whenTrue : op.whenFalse)
      case .jump: pc = Int(op.whenTrue)
      case .returnConstant: return op.k
      case .returnA: return a
      case .loadWord:
        guard op.k <= length, length - op.k >= 4 else { return 0 }
        a = word(op.k)
      case .loadHalf:
        guard op.k <= length, length - op.k >= 2 else { return 0 }
        a = half(op.k)
      case .loadByte:
        guard op.k < length else { return 0 }
        a = byte(op.k)
      case .loadWordIndexed:
        guard op.k <= length, x <= length - op.k, length - (op.k &+ x) >= 4 else { return 0 }
        a = word(op.k &+ x)
      case .loadHalfIndexed:
        guard x <= length, op.k <= length - x, length - (op.k &+ x) >= 2 else { return 0 }
        a = half(op.k &+ x)
      case .loadByteIndexed:
        guard op.k < length, x < length - op.k else { return 0 }
        a = byte(op.k &+ x)
      case .loadHeaderLength:
        guard op.k < length else { return 0 }
        x = (byte(op.k) & 0xf) << 2
      case .loadLength: a = wireLength
      case .loadXLength: x = wireLength
      case .loadImmediate: a = op.k
      case .loadXImmediate: x = op.k
      case .loadMemory: a = memory[Int(op.k)]
      case .loadXMemory: x = memory[Int(op.k)]
      case .store: memory[Int(op.k)] = a
      case .storeX: memory[Int(op.k)] = x
      case .add: a = a &+ op.k
      case .subtract: a = a &- op.k
      case .multiply: a = a &* op.k
      case .divide:
        guard op.k != 0 else { return 0 }
        a /= op.k
      case .modulo:
        guard op.k != 0 else { return 0 }
        a %= op.k
      case .and: a &= op.k
      case .or: a |= op.k
      case .xor: a ^= op.k
      case .shiftLeft: a = op.k < 32 ? a << op.k : 0
      case .shiftRight: a = op.k < 32 ? a >> op.k : 0
      case .addX: a = a &+ x
      case .subtractX: a = a &- x
      case .multiplyX: a = a &* x
      case .divideX:
        guard x != 0 else { return 0 }
        a /= x
      case .moduloX:
        guard x != 0 else { return 0 }
        a %= x
      case .andX: a &= x
      case .orX: a |= x
      case .xorX: a ^= x
      case .shiftLeftX: a = x < 32 ? a << x : 0
      case .shiftRightX: a = x < 32 ? a >> x : 0
      case .negate: a = 0 &- a
      case .tax: x = a
      case .txa: a = x
      }
    }
  }

  /// An empty capture (no bytes): every packet load fails.
  func runEmpty(wireLength: Int) -> UInt32 {
    var scratch: UInt8 = 0
    return withUnsafeMutableBytes(of: &scratch) { bytes in
      run(UnsafeRawBufferPointer(rebasing: bytes[0..<0]), wireLength: wireLength)
    }
  }
}
