// The seccomp filter a tender installs once the guest is set up: default kill, then the
// rules each device kind gives (Console, Clocks, Net, Block: one file each) and the tender's
// own (sirocco-spt: arch_prctl for the guest's TLS; sirocco-hvt: KVM_RUN and memory for its
// own messages). CSiroccoSPTTender assembles and loads it.

import CSiroccoSPTTender

struct SeccompRule {
  var call: sirocco_syscall
  var conditions: [SeccompCondition] = []

  /// `call`, with its first argument, an int (a descriptor, a clock), equal to `descriptor`
  /// when given.
  static func allow(_ call: sirocco_syscall, first descriptor: UInt64? = nil) -> SeccompRule {
    guard let descriptor else { return SeccompRule(call: call) }
    return SeccompRule(call: call, conditions: [.descriptor(descriptor)])
  }

  /// Loads the filter made of `rules`; 0 or -errno.
  static func install(_ rules: [SeccompRule]) -> Int32 {
    var raw: [sirocco_seccomp_rule] = []
    for rule in rules {
      var entry = sirocco_seccomp_rule()
      entry.number = Int32(rule.call.rawValue)
      entry.count = Int32(min(rule.conditions.count, 3))
      withUnsafeMutableBytes(of: &entry.conditions) { conditions in
        for (slot, condition) in rule.conditions.prefix(3).enumerated() {
          var item = sirocco_seccomp_condition()
          item.argument = condition.argument
          item.at_most = condition.atMost ? 1 : 0
          item.is_int = condition.isInt ? 1 : 0
          item.value = condition.value
          conditions.storeBytes(of: item, toByteOffset: slot * MemoryLayout<sirocco_seccomp_condition>.stride, as: sirocco_seccomp_condition.self)
        }
      }
      raw.append(entry)
    }
    return raw.withUnsafeBufferPointer { sirocco_seccomp_install($0.baseAddress, Int32($0.count)) }
  }
}

/// One test of a system call's argument.
struct SeccompCondition {
  /// The argument's index, 0 to 5.
  var argument: UInt8
  /// Whether it must be at most `value`, unsigned (else equal to it).
  var atMost = false
  /// An int argument, compared on its low 32 bits, the ones the kernel reads: C callers pass
  /// an int in a 32-bit register and may leave the high half as it was.
  var isInt = false
  var value: UInt64

  /// Argument 0, an int (a descriptor, a clock), is `descriptor`.
  static func descriptor(_ descriptor: UInt64) -> SeccompCondition {
    SeccompCondition(argument: 0, isInt: true, value: descriptor)
  }
  /// Argument `argument` (64 bits) is `value`.
  static func equal(_ argument: UInt8, _ value: UInt64) -> SeccompCondition { SeccompCondition(argument: argument, value: value) }
  /// Argument `argument` (64 bits) is at most `value`, unsigned.
  static func atMost(_ argument: UInt8, _ value: UInt64) -> SeccompCondition {
    SeccompCondition(argument: argument, atMost: true, value: value)
  }
}
