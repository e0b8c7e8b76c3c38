// Clocks and waiting, tender side: the host's monotonic and real-time clocks, and the
// poll set (an epoll set holding a timerfd and every network device) that Solo5's yield and
// POLL wait in.

import CSiroccoSPTTender

enum TenderClocks {
  /// clock_gettime of CLOCK_MONOTONIC and CLOCK_REALTIME; epoll_pwait on the poll set and
  /// timerfd_settime on its timer.
  static func rules(epoll: Int32, timer: Int32) -> [SeccompRule] {
    [
      .allow(SIROCCO_SYSCALL_CLOCK_GETTIME, first: 1),  // CLOCK_MONOTONIC
      .allow(SIROCCO_SYSCALL_CLOCK_GETTIME, first: 0),  // CLOCK_REALTIME
      .allow(SIROCCO_SYSCALL_EPOLL_PWAIT, first: UInt64(UInt32(bitPattern: epoll))),
      .allow(SIROCCO_SYSCALL_TIMERFD_SETTIME, first: UInt64(UInt32(bitPattern: timer))),
    ]
  }
}
