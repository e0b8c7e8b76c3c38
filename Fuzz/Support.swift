// What every fuzz target shares: the input read as fields, buffers, and property checks that
// stop the run (libFuzzer then saves the input as a crash).

/// The fuzz input read front to back as fields; past the end every read gives zeros.
struct FuzzInput {
  let bytes: UnsafeRawBufferPointer
  var offset = 0

  init(_ data: UnsafePointer<UInt8>, _ size: Int) { bytes = UnsafeRawBufferPointer(start: data, count: size) }

  var isAtEnd: Bool { offset >= bytes.count }

  mutating func byte() -> UInt8 {
    guard offset < bytes.count else { return 0 }
    offset += 1
    return bytes[offset - 1]
  }

  mutating func uint16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

  mutating func uint32() -> UInt32 { UInt32(uint16()) << 16 | UInt32(uint16()) }

  /// Up to `count` bytes (fewer at the end of the input).
  mutating func bytes(_ count: Int) -> [UInt8] {
    let taken = min(max(count, 0), bytes.count - offset)
    defer { offset += taken }
    return Array(bytes[offset..<(offset + taken)])
  }

  /// Everything not read yet.
  mutating func rest() -> [UInt8] { bytes(bytes.count - offset) }
}

/// The input as a raw buffer (the libFuzzer data, not copied).
func rawBuffer(_ data: UnsafePointer<UInt8>, _ size: Int) -> UnsafeRawBufferPointer {
  UnsafeRawBufferPointer(start: data, count: size)
}

/// Stops the run when a property does not hold.
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
  if !condition { fatalError("property failed: " + message(), file: file, line: line) }
}

/// A buffer of `count` bytes (zeros, or a copy of `from` cut or padded) that `body` fills.
func emitted(_ count: Int, from source: UnsafeRawBufferPointer? = nil, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: count)
  bytes.withUnsafeMutableBytes { buffer in
    if let source { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix(count))) }
    body(buffer)
  }
  return bytes
}

/// Lowercase hex, for failure messages.
func hex(_ bytes: some Sequence<UInt8>) -> String {
  let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
  var text = ""
  for byte in bytes {
    text.append(digits[Int(byte >> 4)])
    text.append(digits[Int(byte & 0xf)])
  }
  return text
}

/// Parses with the checksum verified and without (`parse(verify)`): the result without, once
/// checked that whatever verifying accepts, not verifying accepts as the same value.
func parsedBothWays<Value: Equatable>(_ input: UnsafeRawBufferPointer, _ parse: (Bool) -> Value?) -> Value? {
  let verified = parse(true)
  let unverified = parse(false)
  require(verified == nil || verified == unverified, "verifying the checksum changed \(hex(input)): "
    + "\(String(describing: verified)) against \(String(describing: unverified))")
  return unverified
}

/// The filter targets' input: an expression (at most `limit` bytes, valid UTF-8), a zero
/// byte, then a frame; nil for an input that is not one.
func expressionAndFrame(_ data: UnsafePointer<UInt8>, _ size: Int, limit: Int) -> (expression: String, frame: [UInt8])? {
  let bytes = rawBuffer(data, size)
  let split = bytes.firstIndex(of: 0) ?? bytes.count
  guard split <= limit else { return nil }
  let expression = String(decoding: bytes[0..<split], as: UTF8.self)
  // (Invalid UTF-8 would reach libpcap and Sirocco as different strings.)
  guard Array(expression.utf8).elementsEqual(bytes[0..<split]) else { return nil }
  return (expression, split < bytes.count ? Array(bytes[(split + 1)...]) : [])
}
