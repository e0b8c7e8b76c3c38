// The seccomp filter a tender installs once the guest is set up: default kill, then the
// rules each device kind gives (Console, Clocks, Net, Block: one file each) and the tender's
// own (sirocco-spt: arch_prctl for the guest's TLS; sirocco-hvt: KVM_RUN and memory for its
// own messages). CSiroccoSPTTender assembles and loads it.

import CSiroccoSPTTender

struct SeccompRule {
  var call: sirocco_syscall
  /// Each: the argument's index, whether it must be at most `value` (else equal to it).
  var conditions: [(argument: UInt8, atMost: Bool, value: UInt64)] = []

  /// `call`, with its first argument equal to `first` when given.
  static func allow(_ call: sirocco_syscall, first: UInt64? = nil) -> SeccompRule {
    guard let first else { return SeccompRule(call: call) }
    return SeccompRule(call: call, conditions: [(argument: 0, atMost: false, value: first)])
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
          item.value = condition.value
          conditions.storeBytes(of: item, toByteOffset: slot * MemoryLayout<sirocco_seccomp_condition>.stride, as: sirocco_seccomp_condition.self)
        }
      }
      raw.append(entry)
    }
    return raw.withUnsafeBufferPointer { sirocco_seccomp_install($0.baseAddress, Int32($0.count)) }
  }
}
