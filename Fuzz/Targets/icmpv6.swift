// Fuzz target: ICMPv6 messages (errors, echo, Neighbor Discovery with its options, MLD),
// checksum verified and not (source and destination addresses from the first 32 bytes). An
// accepted message must emit in no more bytes than it came in; re-emitted (errors and echo over
// the input's payload) it must parse back equal with a valid checksum; a message accepted with
// its checksum verified is accepted without. Validation must not trap.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzICMPv6(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size >= 32 else { return 0 }
  let source = IPv6Address(bytes: rawBuffer(data, 16))
  let destination = IPv6Address(bytes: rawBuffer(data + 16, 16))
  let input = rawBuffer(data + 32, size - 32)
  guard let message = parsedBothWays(input, {
    try? ICMPv6Message.parse(input, source: source, destination: destination, verifyChecksum: $0)
  }) else { return 0 }
  let length = message.bufferLength
  require(length <= input.count, "\(message) emits \(length) bytes, parsed from \(input.count)")
  let written = length == ICMPv6Message.headerLength ? input.count : length  // errors and echo: the payload follows
  let out = emitted(written, from: input) { message.emit(into: $0, source: source, destination: destination) }
  if written == input.count && length == ICMPv6Message.headerLength {
    require(out[8...].elementsEqual(input[8...]), "\(message) re-emitted as \(hex(out))")
  }
  let again = out.withUnsafeBytes { try? ICMPv6Message.parse($0, source: source, destination: destination, verifyChecksum: true) }
  require(again == message, "\(message) re-emitted as \(hex(out)), parsed back as \(String(describing: again))")
  for hopLimit: UInt8 in [1, 255] {
    _ = try? message.validate(hopLimit: hopLimit, source: source, destination: destination, routerAlert: hopLimit == 1 ? 0 : nil)
  }
  _ = message.description
  return 0
}
