// The console, tender side: the guest's output is the tender's standard output (spt: the
// guest writes fd 1 itself; hvt: the tender does, for PUTS), and standard error carries one
// line per failure (and, for Sirocco's spt guests, their error lines).

import CSiroccoSPTTender

enum TenderConsole {
  /// write(2) on standard output, and on standard error when `standardError`.
  static func rules(standardError: Bool) -> [SeccompRule] {
    var rules = [SeccompRule.allow(SIROCCO_SYSCALL_WRITE, first: 1)]
    if standardError { rules.append(.allow(SIROCCO_SYSCALL_WRITE, first: 2)) }
    return rules
  }
}
