// Fuzz target: the IPv6 header and the extension-header walk. An accepted header's payload
// must lie inside the input, and re-emitted it must parse back equal. The walk over exactly
// the payload must report offsets inside it, at most `maximumCount` headers and a fragment
// where it says; re-emitting the Fragment header it found must walk the same; a refusal's
// pointer lies inside the packet, and only an option of type 10xxxxxx is reported to a
// multicast destination.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIPv6(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = rawBuffer(data, size)
  guard let header = try? IPv6Header.parse(input) else { return 0 }
  require(header.payloadLength <= size - IPv6Header.length, "payload length \(header.payloadLength) of \(size) bytes")
  let out = emitted(size, from: input) { header.emit(into: $0) }
  let again = out.withUnsafeBytes { try? IPv6Header.parse($0) }
  require(again == header && out.elementsEqual(input), "\(header) re-emitted as \(hex(out))")
  _ = header.description
  let payload = input.slice(from: IPv6Header.length, length: header.payloadLength)
  switch Result(catching: { () throws(IPv6ExtensionHeaderError) in try IPv6ExtensionHeaders.walk(payload, nextHeader: header.nextHeader) }) {
  case .success(let headers): check(headers, in: payload, nextHeader: header.nextHeader)
  case .failure(let error): check(error, packetLength: header.totalLength)
  }
  return 0
}

func check(_ headers: IPv6ExtensionHeaders, in payload: UnsafeRawBufferPointer, nextHeader: IPProtocol) {
  require(
    headers.upperLayerOffset <= payload.count && headers.count <= IPv6ExtensionHeaders.maximumCount
      && (headers.count == 0) == (headers.upperLayerOffset == 0),
    "\(headers) from \(payload.count) bytes")
  guard let fragment = headers.fragment else { return }
  let end = headers.fragmentHeaderOffset + IPv6FragmentHeader.length
  require(end <= headers.upperLayerOffset && fragment.offset % 8 == 0, "\(headers)")
  require(fragment.isAtomic || (headers.upperLayerOffset == end && headers.upperLayerProtocol == fragment.nextHeader), "\(headers)")
  // The Fragment header re-emitted in place walks the same (its reserved bits cleared).
  let out = emitted(payload.count, from: payload) {
    fragment.emit(into: $0.slice(from: headers.fragmentHeaderOffset, length: IPv6FragmentHeader.length))
  }
  let again = out.withUnsafeBytes { try? IPv6ExtensionHeaders.walk($0, nextHeader: nextHeader) }
  require(again == headers, "\(headers) walked as \(String(describing: again)) with its Fragment header re-emitted")
}

func check(_ error: IPv6ExtensionHeaderError, packetLength: Int) {
  let pointer: Int?
  switch error {
  case .truncated, .tooManyHeaders: pointer = nil
  case .hopByHopNotFirst(let at), .unrecognizedRoutingType(let at), .unrecognizedOption(let at, _),
    .fragmentLengthNotMultipleOf8(let at), .fragmentPastMaximumLength(let at):
    pointer = at
  }
  if let pointer { require(pointer >= 0 && pointer < packetLength, "\(error) in a packet of \(packetLength) bytes") }
  let unicast = ICMPv6Message.parameterProblem(for: error, destination: .loopback)
  let multicast = ICMPv6Message.parameterProblem(for: error, destination: .allNodes)
  require((unicast == nil) == (pointer == nil || error == .unrecognizedOption(pointer: pointer!, action: .discard)), "\(error)")
  require(multicast == nil || error == .unrecognizedOption(pointer: pointer!, action: .discardAndReport), "\(error) to multicast")
}
