// Console, clocks, entropy and a file sink for the unix target.

import CSiroccoUnix
import Glibc
import Sirocco

/// Writes to a file descriptor (1: standard output), unbuffered.
public final class UnixConsole: Console, ByteSink {
  let fileDescriptor: Int32

  public init(fileDescriptor: Int32 = 1) { self.fileDescriptor = fileDescriptor }

  public func write(_ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < bytes.count {
      let written = Glibc.write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
      if written > 0 {
        offset += written
      } else if written < 0, errno == EINTR || errno == EAGAIN {
        continue
      } else {
        return  // the reader went away: output is lost, the unikernel goes on
      }
    }
  }
}

public final class UnixMonotonicClock: MonotonicClock {
  public init() {}
  public func now() -> Instant {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Instant(nanoseconds: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
  }
}

public final class UnixWallClock: WallClock {
  public init() {}
  public func now() -> WallTime {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return WallTime(nanosecondsSinceEpoch: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
  }
}

/// The kernel's random source (getrandom(2)).
public final class UnixEntropy: EntropySource {
  public init() {}
  public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    let result = sirocco_random(buffer.baseAddress, buffer.count)
    precondition(result == 0, "getrandom failed")
  }
}

/// A file opened for writing (truncated), for the pcap writer.
public final class UnixFileSink: ByteSink {
  let console: UnixConsole
  let fileDescriptor: Int32

  public init?(path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return nil }
    fileDescriptor = fd
    console = UnixConsole(fileDescriptor: fd)
  }

  deinit { close(fileDescriptor) }

  public func write(_ bytes: UnsafeRawBufferPointer) { console.write(bytes) }
}
