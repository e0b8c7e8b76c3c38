// Helpers shared by the wire tests: hex vectors, buffer plumbing, a reference checksum
// (written independently of `InternetChecksum`) and a seeded generator for the corruption tests.

import XCTest

@testable import SiroccoWire

/// Bytes from a hex string; whitespace is ignored so vectors can be laid out by field.
func bytes(_ hex: String) -> [UInt8] {
  var result: [UInt8] = []
  var high: UInt8? = nil
  for scalar in hex.unicodeScalars {
    if scalar == " " || scalar == "\n" || scalar == "\t" { continue }
    let nibble: UInt8
    switch scalar {
    case "0"..."9": nibble = UInt8(scalar.value - 0x30)
    case "a"..."f": nibble = UInt8(scalar.value - 0x61 + 10)
    case "A"..."F": nibble = UInt8(scalar.value - 0x41 + 10)
    default: preconditionFailure("not a hex digit in a test vector: \(scalar)")
    }
    if let pending = high {
      result.append(pending << 4 | nibble)
      high = nil
    } else {
      high = nibble
    }
  }
  precondition(high == nil, "odd number of hex digits in a test vector")
  return result
}

/// Lowercase hex, for failure messages.
func hex(_ bytes: [UInt8]) -> String {
  let digits = Array("0123456789abcdef")
  var text = ""
  for byte in bytes {
    text.append(digits[Int(byte >> 4)])
    text.append(digits[Int(byte & 0xf)])
  }
  return text
}

/// Runs a parser over `bytes` and captures its outcome.
func parsing<T>(
  _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> T
) -> Result<T, WireError> {
  bytes.withUnsafeBytes { raw in
    Result { () throws(WireError) -> T in try body(raw) }
  }
}

/// Runs a parser over `bytes`, rethrowing its error.
func parse<T>(
  _ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> T
) throws(WireError) -> T {
  try parsing(bytes, body).get()
}

/// Asserts that parsing `bytes` fails with exactly `expected`.
func assertThrows<T>(
  _ expected: WireError, _ bytes: [UInt8], _ message: @autoclosure () -> String = "",
  file: StaticString = #filePath, line: UInt = #line,
  _ body: (UnsafeRawBufferPointer) throws(WireError) -> T
) {
  switch parsing(bytes, body) {
  case .success(let value):
    XCTFail("expected \(expected), parsed \(value) from \(hex(bytes)) \(message())", file: file, line: line)
  case .failure(let error):
    XCTAssertEqual(error, expected, "\(hex(bytes)) \(message())", file: file, line: line)
  }
}

/// A copy of `template` handed to `body` as a mutable buffer; returns the bytes afterwards.
func emitting(into template: [UInt8], _ body: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
  var copy = template
  copy.withUnsafeMutableBytes { body($0) }
  return copy
}

/// `count` bytes of 0xA5: whatever `emit` does not write stays visible.
func filled(_ count: Int) -> [UInt8] { [UInt8](repeating: 0xA5, count: count) }

/// `payload` behind `headerLength` bytes of 0xA5: the buffer an `emit` that expects the
/// payload in place is given.
func filled(header headerLength: Int, payload: [UInt8]) -> [UInt8] { filled(headerLength) + payload }

/// The error `body` throws, or nil when it returns.
func thrown<Failure: Error>(_ body: () throws(Failure) -> Void) -> Failure? {
  do {
    try body()
    return nil
  } catch {
    return error
  }
}

/// Asserts two byte arrays are equal, printing both in hex when not.
func assertBytes(
  _ actual: [UInt8], _ expected: [UInt8], _ message: @autoclosure () -> String = "",
  file: StaticString = #filePath, line: UInt = #line
) {
  guard actual != expected else { return }
  var first = 0
  while first < min(actual.count, expected.count), actual[first] == expected[first] { first += 1 }
  XCTFail(
    "bytes differ (first at offset \(first)) \(message())\n  actual:   \(hex(actual))\n  expected: \(hex(expected))",
    file: file, line: line)
}

// MARK: - Reference checksum

/// RFC 1071, the plain way: sum 16-bit big-endian words (an odd byte padded with zero),
/// fold the carries, complement. Deliberately unlike `InternetChecksum` (no 64-bit words).
func referenceSum(_ data: [UInt8]) -> UInt32 {
  var sum: UInt32 = 0
  var index = 0
  while index < data.count {
    let high = UInt32(data[index])
    let low = index + 1 < data.count ? UInt32(data[index + 1]) : 0
    sum += high << 8 | low
    sum = (sum & 0xffff) + (sum >> 16)
    index += 2
  }
  return sum
}

func referenceChecksum(_ data: [UInt8]) -> UInt16 {
  var sum = referenceSum(data)
  while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
  return ~UInt16(sum)
}

/// The 12-byte IPv4 pseudo-header (RFC 768, RFC 9293 3.1).
func pseudoHeader(_ source: IPv4Address, _ destination: IPv4Address, protocol number: UInt8, length: Int) -> [UInt8] {
  func quad(_ address: IPv4Address) -> [UInt8] {
    [UInt8(address.rawValue >> 24), UInt8(address.rawValue >> 16 & 0xff),
     UInt8(address.rawValue >> 8 & 0xff), UInt8(address.rawValue & 0xff)]
  }
  return quad(source) + quad(destination) + [0, number, UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
}

func readUInt16(_ data: [UInt8], at offset: Int) -> UInt16 { UInt16(data[offset]) << 8 | UInt16(data[offset + 1]) }

func write(_ value: UInt16, into data: inout [UInt8], at offset: Int) {
  data[offset] = UInt8(value >> 8)
  data[offset + 1] = UInt8(value & 0xff)
}

/// Recomputes (with the reference) the IPv4 header checksum of a mutated vector.
func fixIPv4Checksum(_ packet: inout [UInt8]) {
  let headerLength = Int(packet[0] & 0xf) * 4
  write(0, into: &packet, at: 10)
  write(referenceChecksum(Array(packet[0..<headerLength])), into: &packet, at: 10)
}

/// Recomputes (with the reference) the checksum of a mutated TCP segment or UDP datagram
/// (the whole array is checksummed; `at` is the checksum field's offset).
func fixTransportChecksum(
  _ segment: inout [UInt8], at offset: Int, protocol number: UInt8,
  source: IPv4Address, destination: IPv4Address
) {
  write(0, into: &segment, at: offset)
  let sum = referenceChecksum(pseudoHeader(source, destination, protocol: number, length: segment.count) + segment)
  write(sum, into: &segment, at: offset)
}

// MARK: - Deterministic pseudo-random numbers

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seeded, and the same on every run.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }

  /// A value in 0...bound (bias is irrelevant here).
  mutating func next(upTo bound: Int) -> Int { Int(next() % UInt64(bound + 1)) }

  mutating func bytes(_ count: Int) -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(count)
    for _ in 0..<count { result.append(UInt8(truncatingIfNeeded: next())) }
    return result
  }
}

// MARK: - Addresses used by the vectors

let hostA = IPv4Address(10, 0, 0, 1)
let hostB = IPv4Address(10, 0, 0, 2)
let macA = MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
let macB = MACAddress(0x52, 0x54, 0x00, 0xab, 0xcd, 0xef)

/// The link-local addresses Linux made for `macA` and `macB` (modified EUI-64), which the
/// captured IPv6 vectors use.
let linkLocalA = IPv6Address(0xfe80, 0, 0, 0, 0x5054, 0x00ff, 0xfe12, 0x3456)
let linkLocalB = IPv6Address(0xfe80, 0, 0, 0, 0x5054, 0x00ff, 0xfeab, 0xcdef)

/// The 40-byte IPv6 pseudo-header (RFC 8200 8.1), written out byte by byte.
func pseudoHeader(_ source: IPv6Address, _ destination: IPv6Address, nextHeader: UInt8, length: Int) -> [UInt8] {
  func sixteen(_ address: IPv6Address) -> [UInt8] {
    (0..<8).flatMap { [UInt8(address.group($0) >> 8), UInt8(address.group($0) & 0xff)] }
  }
  return sixteen(source) + sixteen(destination)
    + [UInt8(length >> 24 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), 0, 0, 0, nextHeader]
}

/// Recomputes (with the reference) the checksum of a mutated IPv6 upper-layer message (the
/// whole array is checksummed; `at` is the checksum field's offset).
func fixChecksum(
  _ message: inout [UInt8], at offset: Int, nextHeader: UInt8, source: IPv6Address, destination: IPv6Address
) {
  write(0, into: &message, at: offset)
  write(referenceChecksum(pseudoHeader(source, destination, nextHeader: nextHeader, length: message.count) + message),
        into: &message, at: offset)
}
