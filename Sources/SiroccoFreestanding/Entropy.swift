// Entropy on every freestanding target: RDRAND where the CPU has it, else SplitMix64 over the
// time stamp counter (CSiroccoFreestanding's `sirocco_freestanding_random`).

import CSiroccoFreestanding
import Sirocco

public final class FreestandingEntropy: EntropySource {
  public init() {}

  /// Whether the bytes come from the CPU's random number generator.
  public var isHardware: Bool { sirocco_freestanding_random_is_hardware() != 0 }

  public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    var index = 0
    while index < buffer.count {
      var value = sirocco_freestanding_random()
      var byte = 0
      while byte < 8, index < buffer.count {
        buffer[index] = UInt8(truncatingIfNeeded: value)
        value >>= 8
        byte += 1
        index += 1
      }
    }
  }
}
