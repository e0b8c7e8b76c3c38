// The virtio guest's console and clocks: the 16550 serial port, the TSC and the CMOS clock
// (CSiroccoVirtio).

import CSiroccoVirtio
import Sirocco

final class SerialConsole: Console {
  func write(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    sirocco_virtio_console_write(base, bytes.count)
  }
}

final class VirtioMonotonicClock: MonotonicClock {
  func now() -> Instant { Instant(nanoseconds: sirocco_virtio_monotonic()) }
}

final class VirtioWallClock: WallClock {
  func now() -> WallTime { WallTime(nanosecondsSinceEpoch: sirocco_virtio_wall()) }
}
