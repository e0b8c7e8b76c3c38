// Classic BPF: the checker's refusals, the interpreter's rules (bpf_filter's), and the
// decoded matcher against the interpreter on random programs and frames.

@testable import SiroccoFilter
import XCTest

final class BPFTests: XCTestCase {
  func instruction(_ code: UInt16, _ jt: UInt8 = 0, _ jf: UInt8 = 0, _ k: UInt32 = 0) -> BPFInstruction {
    BPFInstruction(code: code, jt: jt, jf: jf, k: k)
  }

  func testTheCheckerRefusesWhatAKernelWould() {
    let ret = instruction(BPF.ret | BPF.k, 0, 0, 1)
    let cases: [([BPFInstruction], Int)] = [
      ([], 0),
      ([instruction(BPF.ld | BPF.imm)], 0),
      ([instruction(BPF.jmp | BPF.jeq | BPF.k, 1, 0), ret], 0),
      ([instruction(BPF.jmp | BPF.ja, 0, 0, 1), ret], 0),
      ([instruction(BPF.st, 0, 0, 16), ret], 0),
      ([instruction(BPF.ld | BPF.mem, 0, 0, 16), ret], 0),
      ([instruction(BPF.alu | BPF.div | BPF.k, 0, 0, 0), ret], 0),
      ([instruction(BPF.alu | BPF.mod | BPF.k, 0, 0, 0), ret], 0),
      ([instruction(0x07 | 0x08 | 0x40), ret], -1),
    ]
    for (instructions, index) in cases {
      XCTAssertThrowsError(try BPFProgram(checking: instructions), "\(instructions)") { error in
        if index >= 0 { XCTAssertEqual((error as? BPFError)?.index, index) }
      }
    }
    XCTAssertNoThrow(try BPFProgram(checking: [instruction(BPF.jmp | BPF.jeq | BPF.k, 0, 1), ret, ret]))
  }

  func run(_ instructions: [BPFInstruction], _ packet: [UInt8], wire: Int? = nil) throws -> UInt32 {
    let program = try BPFProgram(checking: instructions)
    let reference = packet.withUnsafeBytes { program.run($0, wireLength: wire ?? packet.count) }
    let decoded = packet.withUnsafeBytes { Matcher(program).run($0, wireLength: wire ?? packet.count) }
    XCTAssertEqual(reference, decoded, "the matcher and the interpreter")
    return reference
  }

  func testLoadsPastTheCapturedBytesAndDivisionsByZeroReject() throws {
    let ret = instruction(BPF.ret | BPF.a)
    let packet: [UInt8] = [1, 2, 3, 4, 5, 6]
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.w | BPF.abs, 0, 0, 2), ret], packet), 0x0304_0506)
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.w | BPF.abs, 0, 0, 3), ret], packet), 0, "one byte short")
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.h | BPF.abs, 0, 0, 0xffff_ffff), ret], packet), 0, "wrapping offset")
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.b | BPF.abs, 0, 0, 5), ret], packet), 6)
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.b | BPF.abs, 0, 0, 6), ret], packet), 0)
    XCTAssertEqual(try run([instruction(BPF.ldx | BPF.imm, 0, 0, 0xffff_fffe), instruction(BPF.ld | BPF.b | BPF.ind, 0, 0, 3), ret], packet), 0,
                   "X + k wraps")
    XCTAssertEqual(try run([instruction(BPF.ldx | BPF.msh | BPF.b, 0, 0, 0), instruction(BPF.misc | BPF.txa), ret], [0x45]), 20)
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.imm, 0, 0, 7), instruction(BPF.alu | BPF.div | BPF.x), ret], packet), 0)
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.imm, 0, 0, 7), instruction(BPF.alu | BPF.mod | BPF.x), ret], packet), 0)
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.imm, 0, 0, 7), instruction(BPF.ldx | BPF.imm, 0, 0, 32),
                            instruction(BPF.alu | BPF.lsh | BPF.x), ret], packet), 0, "a shift by 32 or more gives 0")
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.w | BPF.len), ret], packet, wire: 1500), 1500)
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.imm, 0, 0, 5), instruction(BPF.alu | BPF.neg), ret], packet), 0 &- 5)
  }

  /// Random checked programs on random frames: the decoded matcher and the interpreter
  /// agree, whole frames and cut ones (bounded: 4,000 programs).
  func testTheMatcherAnswersAsTheInterpreterOnRandomPrograms() throws {
    var generator = SystemRandomNumberGenerator()
    let codes: [UInt16] = [
      BPF.ld | BPF.w | BPF.abs, BPF.ld | BPF.h | BPF.abs, BPF.ld | BPF.b | BPF.abs, BPF.ld | BPF.w | BPF.ind,
      BPF.ld | BPF.h | BPF.ind, BPF.ld | BPF.b | BPF.ind, BPF.ld | BPF.w | BPF.len, BPF.ldx | BPF.w | BPF.len,
      BPF.ldx | BPF.msh | BPF.b, BPF.ld | BPF.imm, BPF.ldx | BPF.imm, BPF.ld | BPF.mem, BPF.ldx | BPF.mem, BPF.st,
      BPF.stx, BPF.jmp | BPF.ja, BPF.jmp | BPF.jeq | BPF.k, BPF.jmp | BPF.jgt | BPF.k, BPF.jmp | BPF.jge | BPF.k,
      BPF.jmp | BPF.jset | BPF.k, BPF.jmp | BPF.jeq | BPF.x, BPF.jmp | BPF.jgt | BPF.x, BPF.jmp | BPF.jge | BPF.x,
      BPF.jmp | BPF.jset | BPF.x, BPF.alu | BPF.neg, BPF.misc | BPF.tax, BPF.misc | BPF.txa,
    ] + [BPF.add, BPF.sub, BPF.mul, BPF.div, BPF.mod, BPF.and, BPF.or, BPF.xor, BPF.lsh, BPF.rsh].flatMap {
      [BPF.alu | $0 | BPF.k, BPF.alu | $0 | BPF.x]
    }
    var checked = 0
    for _ in 0..<4000 {
      let count = Int.random(in: 2...24, using: &generator)
      var instructions: [BPFInstruction] = []
      for index in 0..<(count - 1) {
        let code = codes.randomElement(using: &generator)!
        let remaining = count - index - 1
        var k = [0, 1, 2, 12, 14, 23, 31, 32, 60, 0xffff_ffff, UInt32.random(in: 0...80, using: &generator)]
          .randomElement(using: &generator)!
        let kind = code & 0x07
        if kind == BPF.st || kind == BPF.stx || ((kind == BPF.ld || kind == BPF.ldx) && code & 0xe0 == BPF.mem) { k %= 16 }
        if code & 0x07 == BPF.alu, code & BPF.x == 0, code & 0xf0 == BPF.div || code & 0xf0 == BPF.mod, k == 0 { k = 3 }
        if code == BPF.jmp | BPF.ja { k = UInt32.random(in: 0..<UInt32(remaining), using: &generator) }
        let jt = UInt8(Int.random(in: 0..<remaining, using: &generator))
        let jf = UInt8(Int.random(in: 0..<remaining, using: &generator))
        instructions.append(instruction(code, code & 0x07 == BPF.jmp && code != BPF.jmp | BPF.ja ? jt : 0,
                                        code & 0x07 == BPF.jmp && code != BPF.jmp | BPF.ja ? jf : 0, k))
      }
      instructions.append(Bool.random(using: &generator) ? instruction(BPF.ret | BPF.a) : instruction(BPF.ret | BPF.k, 0, 0, 9))
      let program = try BPFProgram(checking: instructions)
      checked += program.readsUnwrittenMemory ? 1 : 0
      let matcher = Matcher(program)
      let frame = (0..<Int.random(in: 0...80, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
      for cut in Set([frame.count, Int.random(in: 0...frame.count, using: &generator)]) {
        let part = Array(frame.prefix(cut))
        let reference = part.withUnsafeBytes { program.run($0, wireLength: frame.count) }
        let decoded = part.withUnsafeBytes { matcher.run($0, wireLength: frame.count) }
        XCTAssertEqual(reference, decoded, "\(program.listing) on \(part)")
      }
    }
    XCTAssertGreaterThan(checked, 100, "programs reading unwritten scratch memory were among them")
  }

  /// A word read before any path wrote it reads 0, in both (libpcap's optimiser can emit such
  /// a program; its interpreter then reads stack garbage, and Linux refuses the program).
  func testScratchMemoryReadBeforeItIsWrittenReadsZero() throws {
    let ret = instruction(BPF.ret | BPF.a)
    XCTAssertTrue(try BPFProgram(checking: [instruction(BPF.ld | BPF.mem, 0, 0, 3), ret]).readsUnwrittenMemory)
    XCTAssertEqual(try run([instruction(BPF.ld | BPF.imm, 0, 0, 5), instruction(BPF.ld | BPF.mem, 0, 0, 3), ret], []), 0)
    // Written on one path only.
    XCTAssertTrue(try BPFProgram(checking: [
      instruction(BPF.jmp | BPF.jeq | BPF.k, 0, 1, 0), instruction(BPF.st, 0, 0, 3), instruction(BPF.ldx | BPF.mem, 0, 0, 3), ret,
    ]).readsUnwrittenMemory)
    let written = [instruction(BPF.ld | BPF.imm, 0, 0, 9), instruction(BPF.st, 0, 0, 3), instruction(BPF.ld | BPF.imm),
                   instruction(BPF.ld | BPF.mem, 0, 0, 3), ret]
    XCTAssertFalse(try BPFProgram(checking: written).readsUnwrittenMemory)
    XCTAssertEqual(try run(written, []), 9)
  }
}
