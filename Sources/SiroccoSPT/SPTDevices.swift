// The spt guest's console and clocks: raw system calls the tender allows. (Entropy is
// RDRAND, SiroccoFreestanding's: an spt guest may make no getrandom(2) call.)

import CSiroccoSPT
import Sirocco

final class SPTConsole: Console {
  func write(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    sirocco_spt_console_write(base, bytes.count)
  }
}

/// Error lines: on the tender's standard error where sirocco-spt allows it (Sirocco's note),
/// else on the console, the only output Solo5's ABI has.
final class SPTErrorConsole: Console {
  func write(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    sirocco_spt_error_write(base, bytes.count)
  }
}

final class SPTMonotonicClock: MonotonicClock {
  /// The last reading (nanoseconds), for a wait that follows it closely (SPTPlatform.wait).
  private(set) var last: Int64 = 0
  func now() -> Instant { Instant(nanoseconds: read()) }
  func read() -> Int64 {
    last = sirocco_spt_clock(1)  // CLOCK_MONOTONIC
    return last
  }
}

final class SPTWallClock: WallClock {
  func now() -> WallTime { WallTime(nanosecondsSinceEpoch: sirocco_spt_clock(0)) }  // CLOCK_REALTIME
}
