// The flow graph of a filter and libpcap's optimiser over it (optimize.c, 1.10), step for
// step, so that a program means what libpcap's means on every frame, short ones included:
// value numbering with constant folding and redundant loads removed, peephole rules, dead
// stores, jump threading along edge dominators, the `or`/`and` pull-ups, identical blocks
// merged; then the layout into classic BPF (long jumps through `ja`). The passes repeat
// until nothing changes, as libpcap's do (at most 100 rounds of branch-only moves).

final class FlowGraph {
  /// Atoms whose values are tracked: the 16 scratch words, then A and X.
  static let accumulator = 16
  static let index = 17
  static let atomCount = 18
  /// Both A and X (an ALU operation or jump with X as its source).
  static let both = 18

  final class Node {
    var statements: [Statement]
    var code: Int
    var k: UInt32
    /// The successors when the jump is taken and when not (-1: none, a return).
    var jt = -1
    var jf = -1
    var level = 0
    var offset = 0
    var longTrue = 0
    var longFalse = 0
    var link = -1
    var dominators: [UInt64] = []
    /// Edges into this node, the last one linked first.
    var inEdges: [Int] = []
    var defined: UInt32 = 0
    var killed: UInt32 = 0
    var usedIn: UInt32 = 0
    var usedOut: UInt32 = 0
    var testedValue: UInt32 = 0
    var values = [UInt32](repeating: 0, count: FlowGraph.atomCount)
    var trueCode = 0
    var falseCode = 0

    init(statements: [Statement], code: Int, k: UInt32, jt: Int = -1, jf: Int = -1) {
      self.statements = statements
      self.code = code
      self.k = k
      self.jt = jt
      self.jf = jf
    }
  }

  var nodes: [Node] = []
  var root = 0
  /// Edge dominators, by edge: edge `i` is node `i`'s true edge, `count + i` its false one.
  var edgeDominators: [[UInt64]] = []
  var levels: [[Int]] = []
  var marks: [Int] = []
  var mark = 0
  // Value numbering.
  var values: [ValueKey: UInt32] = [:]
  var currentValue: UInt32 = 0
  var constants: [UInt32: UInt32] = [:]
  var done = false
  var movedOtherThanBranches = false

  struct ValueKey: Hashable {
    var code: Int
    var v0: UInt32
    var v1: UInt32
  }

  // MARK: Building

  /// The graph of `condition` with returns of `accept` and 0, numbered depth first from
  /// the root (true branch first), as libpcap numbers its blocks.
  init(_ condition: Condition?, accept: UInt32) {
    var built: [Node] = []
    built.append(Node(statements: [], code: Int(BPF.ret | BPF.k), k: accept))
    built.append(Node(statements: [], code: Int(BPF.ret | BPF.k), k: 0))
    func build(_ condition: Condition, _ whenTrue: Int, _ whenFalse: Int) -> Int {
      switch condition {
      case .test(let test):
        built.append(Node(statements: test.statements, code: test.code, k: test.k, jt: whenTrue, jf: whenFalse))
        return built.count - 1
      case .not(let inner): return build(inner, whenFalse, whenTrue)
      case .and(let left, let right):
        let second = build(right, whenTrue, whenFalse)
        return build(left, second, whenFalse)
      case .or(let left, let right):
        let second = build(right, whenTrue, whenFalse)
        return build(left, whenTrue, second)
      }
    }
    let start = condition.map { build($0, 0, 1) } ?? 0
    // Renumber: preorder, true branch first.
    var order: [Int] = []
    var seen = [Bool](repeating: false, count: built.count)
    var stack = [start]
    while let next = stack.popLast() {
      guard next >= 0, !seen[next] else { continue }
      seen[next] = true
      order.append(next)
      stack.append(built[next].jf)
      stack.append(built[next].jt)
    }
    var number = [Int](repeating: -1, count: built.count)
    for (position, old) in order.enumerated() { number[old] = position }
    nodes = order.map { old in
      let node = built[old]
      node.jt = node.jt >= 0 ? number[node.jt] : -1
      node.jf = node.jf >= 0 ? number[node.jf] : -1
      return node
    }
    root = 0
    marks = [Int](repeating: 0, count: nodes.count)
  }

  var count: Int { nodes.count }
  var nodeWords: Int { count / 64 + 1 }
  var edgeWords: Int { (2 * count) / 64 + 1 }

  static func isMember(_ set: [UInt64], _ element: Int) -> Bool { set[element / 64] & (1 << UInt64(element % 64)) != 0 }
  static func insert(_ set: inout [UInt64], _ element: Int) { set[element / 64] |= 1 << UInt64(element % 64) }

  func isJump(_ code: Int) -> Bool { code >= 0 && UInt16(code) & 0x07 == BPF.jmp }
  func isReturn(_ code: Int) -> Bool { code >= 0 && UInt16(code) & 0x07 == BPF.ret }

  func unmarkAll() { mark += 1 }
  func isMarked(_ node: Int) -> Bool { marks[node] == mark }
  func setMark(_ node: Int) { marks[node] = mark }

  // Edges.
  func edgeSource(_ edge: Int) -> Int { edge < count ? edge : edge - count }
  func edgeTarget(_ edge: Int) -> Int { edge < count ? nodes[edge].jt : nodes[edge - count].jf }
  func setEdgeTarget(_ edge: Int, _ target: Int) {
    if edge < count { nodes[edge].jt = target } else { nodes[edge - count].jf = target }
  }
  func edgeCode(_ edge: Int) -> Int { edge < count ? nodes[edge].trueCode : nodes[edge - count].falseCode }

  // MARK: Analyses

  func findLevels() {
    levels = [[Int]](repeating: [], count: count)
    unmarkAll()
    findLevels(root)
  }

  func findLevels(_ node: Int) {
    if isMarked(node) { return }
    setMark(node)
    nodes[node].link = -1
    var level = 0
    if nodes[node].jt >= 0 {
      findLevels(nodes[node].jt)
      findLevels(nodes[node].jf)
      level = max(nodes[nodes[node].jt].level, nodes[nodes[node].jf].level) + 1
    }
    nodes[node].level = level
    levels[level].append(node)
  }

  /// The nodes of `level` in libpcap's list order (the last one found first).
  func nodes(at level: Int) -> ReversedCollection<[Int]> { levels[level].reversed() }

  func findDominators() {
    for index in 0..<count { nodes[index].dominators = [UInt64](repeating: ~0, count: nodeWords) }
    nodes[root].dominators = [UInt64](repeating: 0, count: nodeWords)
    for level in stride(from: nodes[root].level, through: 0, by: -1) {
      for node in nodes(at: level) {
        Self.insert(&nodes[node].dominators, node)
        guard nodes[node].jt >= 0 else { continue }
        let dominators = nodes[node].dominators
        for target in [nodes[node].jt, nodes[node].jf] {
          for word in 0..<nodeWords { nodes[target].dominators[word] &= dominators[word] }
        }
      }
    }
  }

  func findEdgeDominators() {
    edgeDominators = [[UInt64]](repeating: [UInt64](repeating: ~0, count: edgeWords), count: 2 * count)
    edgeDominators[root] = [UInt64](repeating: 0, count: edgeWords)
    edgeDominators[count + root] = [UInt64](repeating: 0, count: edgeWords)
    for level in stride(from: nodes[root].level, through: 0, by: -1) {
      for node in nodes(at: level) {
        for edge in [node, count + node] {
          Self.insert(&edgeDominators[edge], edge)
          let target = edgeTarget(edge)
          guard target >= 0 else { continue }
          let dominators = edgeDominators[edge]
          for targetEdge in [target, count + target] {
            for word in 0..<edgeWords { edgeDominators[targetEdge][word] &= dominators[word] }
          }
        }
      }
    }
  }

  /// The atom a statement reads (-1 none, `both` for A and X).
  static func atomUse(_ code: Int, _ k: UInt32) -> Int {
    guard code >= 0 else { return -1 }
    let c = UInt16(code)
    switch c & 0x07 {
    case BPF.ret: return c & 0x18 == BPF.a ? accumulator : c & 0x18 == BPF.x ? index : -1
    case BPF.ld, BPF.ldx: return c & 0xe0 == BPF.ind ? index : c & 0xe0 == BPF.mem ? Int(k) : -1
    case BPF.st: return accumulator
    case BPF.stx: return index
    case BPF.jmp, BPF.alu: return c & BPF.x != 0 ? both : accumulator
    default: return c & 0xf8 == BPF.txa ? index : accumulator
    }
  }

  /// The atom a statement writes (-1 none).
  static func atomDefinition(_ code: Int, _ k: UInt32) -> Int {
    guard code >= 0 else { return -1 }
    let c = UInt16(code)
    switch c & 0x07 {
    case BPF.ld, BPF.alu: return accumulator
    case BPF.ldx: return index
    case BPF.st, BPF.stx: return Int(k)
    case BPF.misc: return c & 0xf8 == BPF.tax ? index : accumulator
    default: return -1
    }
  }

  static func bit(_ atom: Int) -> UInt32 { 1 << UInt32(atom) }

  func computeLocalUse(_ node: Int) {
    var defined: UInt32 = 0
    var used: UInt32 = 0
    var killed: UInt32 = 0
    func use(_ atom: Int) {
      if atom == Self.both {
        if defined & Self.bit(Self.index) == 0 { used |= Self.bit(Self.index) }
        if defined & Self.bit(Self.accumulator) == 0 { used |= Self.bit(Self.accumulator) }
      } else if atom >= 0, defined & Self.bit(atom) == 0 {
        used |= Self.bit(atom)
      }
    }
    for statement in nodes[node].statements where statement.code != Statement.nop {
      use(Self.atomUse(statement.code, statement.k))
      let atom = Self.atomDefinition(statement.code, statement.k)
      if atom >= 0 {
        if used & Self.bit(atom) == 0 { killed |= Self.bit(atom) }
        defined |= Self.bit(atom)
      }
    }
    if isJump(nodes[node].code) { use(Self.atomUse(nodes[node].code, nodes[node].k)) }
    nodes[node].defined = defined
    nodes[node].killed = killed
    nodes[node].usedIn = used
  }

  func findUses() {
    let top = nodes[root].level
    for level in stride(from: top, through: 0, by: -1) {
      for node in nodes(at: level) {
        computeLocalUse(node)
        nodes[node].usedOut = 0
      }
    }
    guard top >= 1 else { return }
    for level in 1...top {
      for node in nodes(at: level) {
        nodes[node].usedOut |= nodes[nodes[node].jt].usedIn | nodes[nodes[node].jf].usedIn
        nodes[node].usedIn |= nodes[node].usedOut & ~nodes[node].killed
      }
    }
  }

  func findInEdges() {
    for index in 0..<count { nodes[index].inEdges = [] }
    let top = nodes[root].level
    guard top >= 1 else { return }
    for level in stride(from: top, through: 1, by: -1) {
      for node in nodes(at: level) {
        nodes[nodes[node].jt].inEdges.insert(node, at: 0)
        nodes[nodes[node].jf].inEdges.insert(count + node, at: 0)
      }
    }
  }

  // MARK: Value numbering

  func resetValues() {
    values = [:]
    currentValue = 0
    constants = [:]
  }

  /// The number of the value `code` makes of `v0` and `v1` (the same operands, the same
  /// number); constants are remembered.
  func valueNumber(_ code: Int, _ v0: UInt32, _ v1: UInt32) -> UInt32 {
    let key = ValueKey(code: code, v0: v0, v1: v1)
    if let known = values[key] { return known }
    currentValue += 1
    let c = UInt16(truncatingIfNeeded: code)
    if c & 0xe0 == BPF.imm, c & 0x07 == BPF.ld || c & 0x07 == BPF.ldx { constants[currentValue] = v0 }
    values[key] = currentValue
    return currentValue
  }

  func constantNumber(_ k: UInt32) -> UInt32 { valueNumber(Int(BPF.ld | BPF.imm | BPF.w), k, 0) }

  func constant(_ value: UInt32) -> UInt32? { constants[value] }

  /// Records `new` as the value of an atom; where altering and the atom already holds it,
  /// the statement is removed.
  func store(_ statement: inout Statement, _ slot: inout UInt32, _ new: UInt32, _ alter: Bool) {
    if alter, new != 0, slot == new {
      statement.code = Statement.nop
    } else {
      slot = new
    }
  }

  func noteChange() {
    movedOtherThanBranches = true
    done = false
  }

  func fold(_ statement: inout Statement, _ v0: UInt32, _ v1: UInt32) throws(FilterError) {
    let operation = UInt16(statement.code) & 0xf0
    guard let a = BPF.arithmetic(operation, constant(v0) ?? 0, constant(v1) ?? 0) else {
      throw FilterError(operation == BPF.div ? "division by zero" : "modulus by zero", column: 0)
    }
    statement.k = a
    statement.code = Int(BPF.ld | BPF.imm)
    noteChange()
  }

  func optimise(_ statement: inout Statement, _ val: inout [UInt32], _ alter: Bool) throws(FilterError) {
    let A = Self.accumulator
    let X = Self.index
    guard statement.code >= 0 else { return }
    let code = UInt16(statement.code)
    switch code {
    case BPF.ld | BPF.abs | BPF.w, BPF.ld | BPF.abs | BPF.h, BPF.ld | BPF.abs | BPF.b:
      let v = valueNumber(statement.code, statement.k, 0)
      store(&statement, &val[A], v, alter)
    case BPF.ld | BPF.ind | BPF.w, BPF.ld | BPF.ind | BPF.h, BPF.ld | BPF.ind | BPF.b:
      var v = val[X]
      if alter, let x = constant(v) {
        statement.code = Int(BPF.ld | BPF.abs | (code & 0x18))
        statement.k = statement.k &+ x
        v = valueNumber(statement.code, statement.k, 0)
        noteChange()
      } else {
        v = valueNumber(statement.code, statement.k, v)
      }
      store(&statement, &val[A], v, alter)
    case BPF.ld | BPF.len:
      let v = valueNumber(statement.code, 0, 0)
      store(&statement, &val[A], v, alter)
    case BPF.ld | BPF.imm:
      let v = constantNumber(statement.k)
      store(&statement, &val[A], v, alter)
    case BPF.ldx | BPF.imm:
      let v = constantNumber(statement.k)
      store(&statement, &val[X], v, alter)
    case BPF.ldx | BPF.msh | BPF.b:
      let v = valueNumber(statement.code, statement.k, 0)
      store(&statement, &val[X], v, alter)
    case BPF.alu | BPF.neg:
      if alter, let a = constant(val[A]) {
        statement.code = Int(BPF.ld | BPF.imm)
        statement.k = 0 &- a
        val[A] = constantNumber(statement.k)
      } else {
        val[A] = valueNumber(statement.code, val[A], 0)
      }
    case BPF.misc | BPF.txa:
      store(&statement, &val[A], val[X], alter)
    case BPF.ld | BPF.mem, BPF.ldx | BPF.mem:
      // A scratch word of known value becomes an immediate load.
      let v = val[Int(statement.k)]
      let target = code & 0x07 == BPF.ld ? A : X
      if alter, let c = constant(v) {
        statement.code = Int((code & 0x07) | BPF.imm)
        statement.k = c
        noteChange()
      }
      store(&statement, &val[target], v, alter)
    case BPF.misc | BPF.tax:
      store(&statement, &val[X], val[A], alter)
    case BPF.st:
      store(&statement, &val[Int(statement.k)], val[A], alter)
    case BPF.stx:
      store(&statement, &val[Int(statement.k)], val[X], alter)
    default:
      guard code & 0x07 == BPF.alu else { return }
      let operation = code & 0xf0
      if code & BPF.x == 0 {
        if alter {
          if statement.k == 0 {
            if operation == BPF.add || operation == BPF.lsh || operation == BPF.rsh || operation == BPF.or || operation == BPF.xor {
              statement.code = Statement.nop
              return
            }
            if operation == BPF.mul || operation == BPF.and {
              statement.code = Int(BPF.ld | BPF.imm)
              val[A] = constantNumber(statement.k)
              return
            }
            if operation == BPF.div { throw FilterError("division by zero", column: 0) }
            if operation == BPF.mod { throw FilterError("modulus by zero", column: 0) }
          }
          if constant(val[A]) != nil {
            let k = constantNumber(statement.k)
            try fold(&statement, val[A], k)
            val[A] = constantNumber(statement.k)
            return
          }
        }
        val[A] = valueNumber(statement.code, val[A], constantNumber(statement.k))
      } else {
        if alter, let x = constant(val[X]) {
          if constant(val[A]) != nil {
            try fold(&statement, val[A], val[X])
            val[A] = constantNumber(statement.k)
          } else {
            statement.code = Int(BPF.alu | BPF.k | operation)
            statement.k = x
            if (operation == BPF.lsh || operation == BPF.rsh) && x > 31 {
              throw FilterError("shift by more than 31 bits", column: 0)
            }
            noteChange()
            val[A] = valueNumber(statement.code, val[A], constantNumber(statement.k))
          }
          return
        }
        if alter, constant(val[A]) == 0 {
          if operation == BPF.add || operation == BPF.or || operation == BPF.xor {
            statement.code = Int(BPF.misc | BPF.txa)
            store(&statement, &val[A], val[X], alter)
            return
          } else if operation == BPF.mul || operation == BPF.div || operation == BPF.mod || operation == BPF.and
            || operation == BPF.lsh || operation == BPF.rsh
          {
            statement.code = Int(BPF.ld | BPF.imm)
            statement.k = 0
            store(&statement, &val[A], constantNumber(0), alter)
            return
          } else if operation == BPF.neg {
            statement.code = Statement.nop
            return
          }
        }
        val[A] = valueNumber(statement.code, val[A], val[X])
      }
    }
  }

  // MARK: Peephole and dead stores

  /// The next statement of `node` at or after `index` that is not removed.
  func nextOperation(_ node: Int, _ index: Int) -> Int? {
    var i = index
    while i < nodes[node].statements.count {
      if nodes[node].statements[i].code != Statement.nop { return i }
      i += 1
    }
    return nil
  }

  func peephole(_ node: Int) {
    guard !nodes[node].statements.isEmpty else { return }
    var last = 0
    var cursor = 0
    while true {
      guard let s = nextOperation(node, cursor) else { break }
      guard let next = nextOperation(node, s + 1) else { break }
      last = next
      cursor = next
      var statements = nodes[node].statements
      // st M[k]; ldx M[k] -> st M[k]; tax
      if statements[s].code == Int(BPF.st), statements[next].code == Int(BPF.ldx | BPF.mem), statements[s].k == statements[next].k {
        noteChange()
        statements[next].code = Int(BPF.misc | BPF.tax)
      }
      // ld #k; tax -> ldx #k; txa
      if statements[s].code == Int(BPF.ld | BPF.imm), statements[next].code == Int(BPF.misc | BPF.tax) {
        statements[s].code = Int(BPF.ldx | BPF.imm)
        statements[next].code = Int(BPF.misc | BPF.txa)
        noteChange()
      }
      nodes[node].statements = statements
      // ld #k; [ldxb 4*([n]&0xf)]; add x; tax; ld [x + m] -> [ldxb]; ld [x + m + k]
      if statements[s].code == Int(BPF.ld | BPF.imm) {
        if nodes[node].usedOut & Self.bit(Self.index) != 0 { continue }
        let add: Int?
        if statements[next].code != Int(BPF.ldx | BPF.msh | BPF.b) { add = next } else { add = nextOperation(node, next + 1) }
        guard let add, statements[add].code == Int(BPF.alu | BPF.add | BPF.x) else { continue }
        guard let tax = nextOperation(node, add + 1), statements[tax].code == Int(BPF.misc | BPF.tax) else { continue }
        guard let load = nextOperation(node, tax + 1), UInt16(statements[load].code) & 0x07 == BPF.ld,
          UInt16(statements[load].code) & 0xe0 == BPF.ind
        else { continue }
        nodes[node].statements[load].k = statements[load].k &+ statements[s].k
        nodes[node].statements[s].code = Statement.nop
        nodes[node].statements[add].code = Statement.nop
        nodes[node].statements[tax].code = Statement.nop
        noteChange()
      }
    }
    if nodes[node].code == Int(BPF.jmp | BPF.jeq | BPF.k), nodes[node].usedOut & Self.bit(Self.accumulator) == 0 {
      let lastCode = nodes[node].statements[last].code
      if lastCode == Int(BPF.alu | BPF.sub | BPF.x) {
        if let x = constant(nodes[node].values[Self.index]) {
          nodes[node].k = nodes[node].k &+ x
          nodes[node].statements[last].code = Statement.nop
          noteChange()
        } else if nodes[node].k == 0 {
          nodes[node].statements[last].code = Statement.nop
          nodes[node].code = Int(BPF.jmp | BPF.jeq | BPF.x)
          noteChange()
        }
      } else if lastCode == Int(BPF.alu | BPF.sub | BPF.k) {
        nodes[node].statements[last].code = Statement.nop
        nodes[node].k = nodes[node].k &+ nodes[node].statements[last].k
        noteChange()
      } else if lastCode == Int(BPF.alu | BPF.and | BPF.k), nodes[node].k == 0 {
        nodes[node].k = nodes[node].statements[last].k
        nodes[node].code = Int(BPF.jmp | BPF.k | BPF.jset)
        nodes[node].statements[last].code = Statement.nop
        noteChange()
        let taken = nodes[node].jt
        nodes[node].jt = nodes[node].jf
        nodes[node].jf = taken
      }
    }
    if nodes[node].code == Int(BPF.jmp | BPF.k | BPF.jset) {
      if nodes[node].k == 0 { nodes[node].jt = nodes[node].jf }
      if nodes[node].k == 0xffff_ffff { nodes[node].jf = nodes[node].jt }
    }
    if let x = constant(nodes[node].values[Self.index]), nodes[node].code >= 0, UInt16(nodes[node].code) & BPF.x != 0 {
      nodes[node].code &= ~Int(BPF.x)
      nodes[node].k = x
    }
    if let a = constant(nodes[node].values[Self.accumulator]), nodes[node].code >= 0, UInt16(nodes[node].code) & BPF.x == 0 {
      let k = nodes[node].k
      let taken: Bool
      switch UInt16(nodes[node].code) & 0xf0 {
      case BPF.jeq: taken = a == k
      case BPF.jgt: taken = a > k
      case BPF.jge: taken = a >= k
      case BPF.jset: taken = a & k != 0
      default: return
      }
      if nodes[node].jf != nodes[node].jt { noteChange() }
      if taken { nodes[node].jf = nodes[node].jt } else { nodes[node].jt = nodes[node].jf }
    }
  }

  func removeDeadStores(_ node: Int) {
    var last = [Int](repeating: -1, count: Self.atomCount)
    func dead(_ code: Int, _ k: UInt32, statement: Int?) {
      let used = Self.atomUse(code, k)
      if used == Self.both {
        last[Self.index] = -1
        last[Self.accumulator] = -1
      } else if used >= 0 {
        last[used] = -1
      }
      let defined = Self.atomDefinition(code, k)
      if defined >= 0 {
        if last[defined] >= 0 {
          noteChange()
          nodes[node].statements[last[defined]].code = Statement.nop
        }
        last[defined] = statement ?? -1
      }
    }
    for index in nodes[node].statements.indices {
      let statement = nodes[node].statements[index]
      dead(statement.code, statement.k, statement: index)
    }
    dead(nodes[node].code, nodes[node].k, statement: nil)
    for atom in 0..<Self.atomCount where last[atom] >= 0 && nodes[node].usedOut & Self.bit(atom) == 0 {
      nodes[node].statements[last[atom]].code = Statement.nop
      noteChange()
    }
  }

  func optimiseBlock(_ node: Int, _ doStatements: Bool) throws(FilterError) {
    let edges = nodes[node].inEdges
    if let first = edges.first {
      var values = nodes[edgeSource(first)].values
      for edge in edges.dropFirst() {
        let other = nodes[edgeSource(edge)].values
        for atom in 0..<Self.atomCount where values[atom] != other[atom] { values[atom] = 0 }
      }
      nodes[node].values = values
    } else {
      nodes[node].values = [UInt32](repeating: 0, count: Self.atomCount)
    }
    let aval = nodes[node].values[Self.accumulator]
    let xval = nodes[node].values[Self.index]
    var values = nodes[node].values
    for index in nodes[node].statements.indices {
      var statement = nodes[node].statements[index]
      try optimise(&statement, &values, doStatements)
      nodes[node].statements[index] = statement
    }
    nodes[node].values = values
    let unchanged = nodes[node].usedOut == 0 && aval != 0 && values[Self.accumulator] == aval && xval != 0
      && values[Self.index] == xval
    if doStatements && (unchanged || isReturn(nodes[node].code)) {
      if !nodes[node].statements.isEmpty {
        nodes[node].statements = []
        noteChange()
      }
    } else {
      peephole(node)
      removeDeadStores(node)
    }
    let code = nodes[node].code
    nodes[node].testedValue = code >= 0 && UInt16(code) & BPF.x == 0 ? constantNumber(nodes[node].k) : nodes[node].values[Self.index]
    nodes[node].trueCode = code
    nodes[node].falseCode = -code
  }

  // MARK: Branches

  /// Whether some atom `target` uses on exit has another value leaving `source`.
  func useConflict(_ source: Int, _ target: Int) -> Bool {
    let used = nodes[target].usedOut
    if used == 0 { return false }
    for atom in 0..<Self.atomCount where used & Self.bit(atom) != 0 {
      if nodes[source].values[atom] != nodes[target].values[atom] { return true }
    }
    return false
  }

  /// Where `child`'s jump goes when the test on `edge` (which dominates it) decided it.
  func foldEdge(_ child: Int, _ edge: Int) -> Int? {
    var code = edgeCode(edge)
    let sense: Bool
    if code < 0 {
      code = -code
      sense = false
    } else {
      sense = true
    }
    guard nodes[child].code == code else { return nil }
    let source = edgeSource(edge)
    guard nodes[child].values[Self.accumulator] == nodes[source].values[Self.accumulator] else { return nil }
    if nodes[child].testedValue == nodes[source].testedValue { return sense ? nodes[child].jt : nodes[child].jf }
    if sense && code == Int(BPF.jmp | BPF.jeq | BPF.k) { return nodes[child].jf }
    return nil
  }

  func threadJump(_ edge: Int) {
    let target = edgeTarget(edge)
    guard target >= 0, nodes[target].jt >= 0 else { return }
    if nodes[target].jt == nodes[target].jf {
      if !useConflict(edgeSource(edge), nodes[target].jt) {
        noteChange()
        setEdgeTarget(edge, nodes[target].jt)
      }
    }
    var restart = true
    while restart {
      restart = false
      let dominators = edgeDominators[edge]
      search: for word in 0..<dominators.count {
        var bits = dominators[word]
        while bits != 0 {
          let k = bits.trailingZeroBitCount
          bits &= ~(1 << UInt64(k))
          let dominator = word * 64 + k
          guard dominator < 2 * count else { continue }
          if let next = foldEdge(edgeTarget(edge), dominator), !useConflict(edgeSource(edge), next) {
            done = false
            setEdgeTarget(edge, next)
            if nodes[next].jt >= 0 {
              restart = true
              break search
            }
            return
          }
        }
      }
    }
  }

  /// A slot holding a successor: node's true (`isTrue`) or false branch.
  struct Slot {
    var node: Int
    var isTrue: Bool
  }

  func read(_ slot: Slot) -> Int { slot.isTrue ? nodes[slot.node].jt : nodes[slot.node].jf }
  func write(_ slot: Slot, _ value: Int) {
    if slot.isTrue { nodes[slot.node].jt = value } else { nodes[slot.node].jf = value }
  }

  /// or_pullup (`isOr`) and and_pullup: moves a later test on the value `node`'s
  /// predecessors leave in A up the chain of tests sharing `node`'s exit.
  func pullUp(_ node: Int, isOr: Bool) {
    let edges = nodes[node].inEdges
    guard let first = edges.first else { return }
    let value = nodes[edgeSource(first)].values[Self.accumulator]
    for edge in edges.dropFirst() where nodes[edgeSource(edge)].values[Self.accumulator] != value { return }
    let firstSource = edgeSource(first)
    var different = Slot(node: firstSource, isTrue: nodes[firstSource].jt == node)
    // The exit shared along the chain: the true branch for `or`, the false one for `and`.
    func exit(_ n: Int) -> Int { isOr ? nodes[n].jt : nodes[n].jf }
    var atTop = true
    while true {
      let current = read(different)
      if current < 0 { return }
      if exit(current) != exit(node) { return }
      if !Self.isMember(nodes[current].dominators, node) { return }
      if nodes[current].values[Self.accumulator] != value { break }
      different = Slot(node: current, isTrue: !isOr)
      atTop = false
    }
    var same = Slot(node: read(different), isTrue: !isOr)
    while true {
      let current = read(same)
      if current < 0 { return }
      if exit(current) != exit(node) { return }
      if !Self.isMember(nodes[current].dominators, node) { return }
      if nodes[current].values[Self.accumulator] == value { break }
      same = Slot(node: current, isTrue: !isOr)
    }
    let pull = read(same)
    write(same, isOr ? nodes[pull].jf : nodes[pull].jt)
    if isOr { nodes[pull].jf = read(different) } else { nodes[pull].jt = read(different) }
    if atTop {
      for edge in edges {
        let source = edgeSource(edge)
        if nodes[source].jt == node { nodes[source].jt = pull } else { nodes[source].jf = pull }
      }
    } else {
      write(different, pull)
    }
    done = false
  }

  func optimiseBlocks(_ doStatements: Bool) throws(FilterError) {
    resetValues()
    let top = nodes[root].level
    findInEdges()
    for level in stride(from: top, through: 0, by: -1) {
      for node in nodes(at: level) { try optimiseBlock(node, doStatements) }
    }
    if doStatements || top < 1 { return }
    for level in 1...top {
      for node in nodes(at: level) {
        threadJump(node)
        threadJump(count + node)
      }
    }
    findInEdges()
    for level in 1...top {
      for node in nodes(at: level) {
        pullUp(node, isOr: true)
        pullUp(node, isOr: false)
      }
    }
  }

  func optimiseLoop(_ doStatements: Bool) throws(FilterError) {
    var rounds = 0
    while true {
      done = true
      movedOtherThanBranches = false
      findLevels()
      findDominators()
      findUses()
      findEdgeDominators()
      try optimiseBlocks(doStatements)
      if done { break }
      if movedOtherThanBranches {
        rounds = 0
      } else {
        rounds += 1
        if rounds >= 100 {
          done = true
          break
        }
      }
    }
  }

  /// What makes two blocks alike: jump, constant, successors, statements left.
  struct BlockKey: Hashable {
    var code: Int
    var k: UInt32
    var jt: Int
    var jf: Int
    var statements: [Statement]
  }

  /// Blocks alike (statements, jump, successors) become one: each reachable block links to
  /// the first alike after it in numbering order (and that one's link), as libpcap's
  /// intern_blocks does, found through a table rather than by comparing every pair.
  func internBlocks() {
    while true {
      var changed = false
      for node in nodes { node.link = -1 }
      unmarkAll()
      markReachable(root)
      var first: [BlockKey: Int] = [:]
      if count >= 2 {
        // The last block is only ever compared as the later one.
        if isMarked(count - 1) { first[key(count - 1)] = count - 1 }
        for i in stride(from: count - 2, through: 0, by: -1) where isMarked(i) {
          let blockKey = key(i)
          if let j = first[blockKey] { nodes[i].link = nodes[j].link >= 0 ? nodes[j].link : j }
          first[blockKey] = i
        }
      }
      for node in nodes where node.jt >= 0 {
        if nodes[node.jt].link >= 0 {
          changed = true
          node.jt = nodes[node.jt].link
        }
        if nodes[node.jf].link >= 0 {
          changed = true
          node.jf = nodes[node.jf].link
        }
      }
      if !changed { return }
    }
  }

  func key(_ index: Int) -> BlockKey {
    let node = nodes[index]
    return BlockKey(code: node.code, k: node.k, jt: node.jt, jf: node.jf, statements: node.statements.filter { $0.code != Statement.nop })
  }

  func markReachable(_ node: Int) {
    guard !isMarked(node) else { return }
    setMark(node)
    if !isReturn(nodes[node].code) {
      markReachable(nodes[node].jt)
      markReachable(nodes[node].jf)
    }
  }

  /// opt_root: the root's statements move to the first block that decides something.
  func simplifyRoot() {
    let statements = nodes[root].statements
    nodes[root].statements = []
    while isJump(nodes[root].code), nodes[root].jt == nodes[root].jf { root = nodes[root].jt }
    nodes[root].statements = statements + nodes[root].statements
    if isReturn(nodes[root].code) { nodes[root].statements = [] }
  }

  func optimise() throws(FilterError) {
    try optimiseLoop(false)
    try optimiseLoop(true)
    internBlocks()
    simplifyRoot()
  }

  // MARK: Layout

  /// The program: blocks laid out from the end (a block before its false, then its true
  /// successors), removed statements dropped, long jumps through `ja`.
  func instructions() -> [BPFInstruction] {
    while true {
      unmarkAll()
      let length = countInstructions(root)
      var program = [BPFInstruction](repeating: BPFInstruction(code: 0), count: length)
      var tail = length
      unmarkAll()
      if convert(root, &program, &tail) { return program }
    }
  }

  func countInstructions(_ node: Int) -> Int {
    guard node >= 0, !isMarked(node) else { return 0 }
    setMark(node)
    let below = countInstructions(nodes[node].jt) + countInstructions(nodes[node].jf)
    let statements = nodes[node].statements.filter { $0.code != Statement.nop }.count
    return statements + below + 1 + nodes[node].longTrue + nodes[node].longFalse
  }

  func convert(_ node: Int, _ program: inout [BPFInstruction], _ tail: inout Int) -> Bool {
    guard node >= 0, !isMarked(node) else { return true }
    setMark(node)
    if !convert(nodes[node].jf, &program, &tail) { return false }
    if !convert(nodes[node].jt, &program, &tail) { return false }
    let statements = nodes[node].statements.filter { $0.code != Statement.nop }
    tail -= statements.count + 1 + nodes[node].longTrue + nodes[node].longFalse
    nodes[node].offset = tail
    var position = tail
    for statement in statements {
      program[position] = BPFInstruction(code: UInt16(statement.code), k: statement.k)
      position += 1
    }
    program[position] = BPFInstruction(code: UInt16(nodes[node].code), k: nodes[node].k)
    guard nodes[node].jt >= 0 else { return true }
    var extra = 0
    let start = nodes[node].offset + statements.count
    /// The jump offset to `target`, or the index of a `ja` placed after the jump when it
    /// is 256 or more away (nil: none reserved yet; the layout is made again).
    func offset(to target: Int, long: inout Int) -> UInt8? {
      let distance = nodes[target].offset - start - 1
      guard distance >= 256 else { return UInt8(distance) }
      if long == 0 {
        long += 1
        return nil
      }
      let slot = UInt8(extra)
      extra += 1
      program[position + extra] = BPFInstruction(code: BPF.jmp | BPF.ja, k: UInt32(distance - extra))
      return slot
    }
    var longTrue = nodes[node].longTrue
    let jt = offset(to: nodes[node].jt, long: &longTrue)
    nodes[node].longTrue = longTrue
    guard let jt else { return false }
    program[position].jt = jt
    var longFalse = nodes[node].longFalse
    let jf = offset(to: nodes[node].jf, long: &longFalse)
    nodes[node].longFalse = longFalse
    guard let jf else { return false }
    program[position].jf = jf
    return true
  }
}
