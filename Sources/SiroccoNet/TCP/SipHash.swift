// SipHash-2-4 (Aumasson and Bernstein, 2012): the keyed hash behind initial sequence
// numbers (RFC 6528 suggests a keyed PRF such as this one).

import SiroccoWire

struct SipHash24 {
  private var v0: UInt64, v1: UInt64, v2: UInt64, v3: UInt64
  private var tail: UInt64 = 0
  private var tailBytes = 0
  private var length = 0

  init(key0: UInt64, key1: UInt64) {
    v0 = key0 ^ 0x736f_6d65_7073_6575
    v1 = key1 ^ 0x646f_7261_6e64_6f6d
    v2 = key0 ^ 0x6c79_6765_6e65_7261
    v3 = key1 ^ 0x7465_6462_7974_6573
  }

  private mutating func round() {
    v0 &+= v1; v1 = v1.rotatedLeft(13); v1 ^= v0; v0 = v0.rotatedLeft(32)
    v2 &+= v3; v3 = v3.rotatedLeft(16); v3 ^= v2
    v0 &+= v3; v3 = v3.rotatedLeft(21); v3 ^= v0
    v2 &+= v1; v1 = v1.rotatedLeft(17); v1 ^= v2; v2 = v2.rotatedLeft(32)
  }

  private mutating func compress(_ word: UInt64) {
    v3 ^= word
    round()
    round()
    v0 ^= word
  }

  mutating func append(_ byte: UInt8) {
    tail |= UInt64(byte) << (8 * UInt64(tailBytes))
    tailBytes += 1
    length += 1
    if tailBytes == 8 {
      compress(tail)
      tail = 0
      tailBytes = 0
    }
  }

  mutating func append(_ value: UInt32) {
    for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
  }

  mutating func append(_ value: UInt16) {
    append(UInt8(truncatingIfNeeded: value))
    append(UInt8(truncatingIfNeeded: value >> 8))
  }

  mutating func finalize() -> UInt64 {
    compress(tail | UInt64(truncatingIfNeeded: length) << 56)
    v2 ^= 0xff
    round(); round(); round(); round()
    return v0 ^ v1 ^ v2 ^ v3
  }
}

extension UInt64 {
  fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}

extension SipHash24 {
  mutating func append(_ value: UInt64) {
    for shift in stride(from: 0, to: 64, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
  }

  /// An address of either family (a tag byte first, so a v4 and a v6 address never hash alike).
  mutating func append(_ address: IPAddress) {
    switch address {
    case .v4(let address):
      append(UInt8(4))
      append(address.rawValue)
    case .v6(let address):
      append(UInt8(6))
      append(address.high)
      append(address.low)
    }
  }
}
