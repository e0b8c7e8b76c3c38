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
  /// Whether `last` was read as a wait returned, for the loop's reading that follows at once:
  /// `now()` then hands it over instead of asking again (one system call less between a
  /// frame's arrival and the answer to it).
  private var fresh = false
  func now() -> Instant {
    if fresh {
      fresh = false
      return Instant(nanoseconds: last)
    }
    return Instant(nanoseconds: read())
  }
  func read() -> Int64 {
    last = sirocco_spt_clock(1)  // CLOCK_MONOTONIC
    return last
  }
  /// A reading the next `now()` takes as its own (a wait's last act before it returns).
  func readForNext() -> Int64 {
    fresh = true
    return read()
  }
}

final class SPTWallClock: WallClock {
  func now() -> WallTime { WallTime(nanosecondsSinceEpoch: sirocco_spt_clock(0)) }  // CLOCK_REALTIME
}
