// What a filter tests, between the parser and the blocks: tests (the statements that load a
// value, and the comparison that ends them) joined by and, or and not, as libpcap's code
// generator makes them. The statements are libpcap's own, one for one (scratch registers
// included), so that the optimiser (Optimizer.swift) makes of them what libpcap's makes: a
// load past the captured bytes rejects the frame, so which loads survive, and in which
// order, decides what a short frame gives.

/// One BPF statement inside a block; `code` -1 is a removed one (libpcap's NOP).
struct Statement: Hashable {
  static let nop = -1

  var code: Int
  var k: UInt32

  init(_ code: UInt16, _ k: UInt32 = 0) {
    self.code = Int(code)
    self.k = k
  }
}

/// A block: statements, then a conditional jump (`code`: a BPF jump with its source, `k`).
struct Test: Equatable {
  var statements: [Statement]
  var code: Int
  var k: UInt32
}

indirect enum Condition: Equatable {
  case test(Test)
  case and(Condition, Condition)
  case or(Condition, Condition)
  case not(Condition)

  static func && (lhs: Condition, rhs: Condition) -> Condition { .and(lhs, rhs) }
  static func || (lhs: Condition, rhs: Condition) -> Condition { .or(lhs, rhs) }
  static prefix func ! (condition: Condition) -> Condition { .not(condition) }
}

/// Where a load's offset is counted from (libpcap's `e_offrel`), for Ethernet.
enum Base {
  /// The frame's first byte.
  case frame
  /// The network layer (after the link header, VLAN tags and MPLS labels).
  case network
  /// Past an IPv4 header of the length its first byte gives (X = 4 * (byte & 0xf)).
  case ipv4Transport
  /// Past a fixed 40-byte IPv6 header.
  case ipv6Transport
}

/// An arithmetic value as libpcap computes it: statements that leave it in scratch memory
/// word `register`, and the protocol checks its loads need (`ip[0]` only of IPv4).
struct Arithmetic {
  var statements: [Statement]
  var register: Int
  var checks: Condition?
}
