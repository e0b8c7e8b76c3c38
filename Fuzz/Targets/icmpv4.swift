// Fuzz target: ICMPv4 messages, checksum verified and not. An accepted message must re-emit
// (over the input's payload) to the same payload and bytes that parse back equal with a valid checksum; one
// accepted with its checksum verified is accepted without.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzICMPv4(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = rawBuffer(data, size)
  guard let message = parsedBothWays(input, { try? ICMPv4Message.parse(input, verifyChecksum: $0) }) else { return 0 }
  let out = emitted(size, from: input) { message.emit(into: $0) }
  // The unused word of time exceeded and half of destination unreachable's are not kept.
  require(out[8...].elementsEqual(input[8...]), "\(message) re-emitted as \(hex(out))")
  let again = out.withUnsafeBytes { try? ICMPv4Message.parse($0, verifyChecksum: true) }
  require(again == message, "\(message) parsed back as \(String(describing: again))")
  _ = message.description
  return 0
}
