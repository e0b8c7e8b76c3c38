// Fuzz target: the IPv4 header, checksum verified and not. An accepted header must have
// consistent lengths inside the input; re-emitted (20 bytes, no options) it must parse back
// with every field equal; a header accepted with its checksum verified is accepted without.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIPv4(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = rawBuffer(data, size)
  guard let header = parsedBothWays(input, { try? IPv4Header.parse(input, verifyChecksum: $0) }) else { return 0 }
  require(
    header.headerLength >= 20 && header.headerLength <= 60 && header.headerLength <= header.totalLength
      && header.totalLength <= size && header.payloadLength >= 0,
    "inconsistent lengths accepted: \(header), header \(header.headerLength) of \(size) bytes")
  require(header.fragmentOffset % 8 == 0 && header.fragmentOffset < 65536, "fragment offset \(header.fragmentOffset)")
  // Re-emitted without options over a copy of the input (emit writes 20 bytes).
  let out = emitted(max(header.totalLength, 20), from: input) { header.emit(into: $0) }
  let again = out.withUnsafeBytes { try? IPv4Header.parse($0) }
  guard let again else { return fail(header, out) }
  require(
    again.typeOfService == header.typeOfService && again.totalLength == header.totalLength
      && again.identification == header.identification && again.dontFragment == header.dontFragment
      && again.moreFragments == header.moreFragments && again.fragmentOffset == header.fragmentOffset
      && again.timeToLive == header.timeToLive && again.protocol == header.protocol && again.source == header.source
      && again.destination == header.destination && again.headerLength == 20,
    "\(header) parsed back as \(again)")
  _ = header.description
  return 0
}

func fail(_ header: IPv4Header, _ out: [UInt8]) -> CInt {
  require(false, "\(header) re-emitted as \(hex(out)), which does not parse")
  return 0
}
