// Fuzz target: ICMPv6 messages (errors, echo, Neighbor Discovery with its options, MLD),
// checksum verified and not (source and destination addresses from the first 32 bytes). An
// accepted message must emit in no more bytes than it came in; re-emitted (errors and echo over
// the input's payload) it must parse back equal with a valid checksum; a message accepted with
// its checksum verified is accepted without. Validation must not trap. The echo responder's
// short way (`isEchoRequest`, `makeEchoReply`) agrees with `parse` on every input.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzICMPv6(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size >= 32 else { return 0 }
  let source = IPv6Address(bytes: rawBuffer(data, 16))
  let destination = IPv6Address(bytes: rawBuffer(data + 16, 16))
  let input = rawBuffer(data + 32, size - 32)
  checkEcho(input, source: source, destination: destination)
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

/// `isEchoRequest` says yes exactly when `parse` gives an echo request, and throws only for an
/// echo request whose checksum `parse` refuses; the reply it makes parses as the echo reply
/// with the request's identifier, sequence number and data.
func checkEcho(_ input: UnsafeRawBufferPointer, source: IPv6Address, destination: IPv6Address) {
  for verify in [true, false] {
    let short: Bool?
    do { short = try ICMPv6Message.isEchoRequest(input, source: source, destination: destination, verifyChecksum: verify) } catch {
      short = nil
    }
    let full: ICMPv6Message?
    let fullError: WireError?
    do {
      full = try ICMPv6Message.parse(input, source: source, destination: destination, verifyChecksum: verify)
      fullError = nil
    } catch {
      full = nil
      fullError = error
    }
    guard case .echoRequest(let identifier, let sequenceNumber) = full else {
      require(short == false || (short == nil && fullError == .badChecksum), "isEchoRequest \(String(describing: short)) for \(String(describing: full))")
      continue
    }
    require(short == true, "isEchoRequest \(String(describing: short)) for \(full!)")
    let reply = emitted(input.count, from: input) { ICMPv6Message.makeEchoReply($0, source: destination, destination: source) }
    let parsed = reply.withUnsafeBytes { try? ICMPv6Message.parse($0, source: destination, destination: source) }
    require(
      parsed == .echoReply(identifier: identifier, sequenceNumber: sequenceNumber) && reply[8...].elementsEqual(input[8...]),
      "echo reply \(hex(reply)) parsed as \(String(describing: parsed))")
  }
}
