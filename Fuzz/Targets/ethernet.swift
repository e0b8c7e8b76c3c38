// Fuzz target: the Ethernet II header with its 802.1Q tag. Parse; an accepted header must lie
// within the input, re-emit byte for byte as the input's header, and parse back equal.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEthernet(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = rawBuffer(data, size)
  guard let header = try? EthernetHeader.parse(input) else { return 0 }
  require(header.headerLength <= size, "header of \(header.headerLength) bytes accepted from \(size)")
  require(header.etherType != .vlan || header.vlan != nil, "an untagged header of type 802.1Q: \(header)")
  let out = emitted(header.headerLength) { header.emit(into: $0) }
  require(out.elementsEqual(input.prefix(header.headerLength)), "\(header) re-emitted as \(hex(out))")
  let again = out.withUnsafeBytes { try? EthernetHeader.parse($0) }
  require(again == header, "\(header) parsed back as \(String(describing: again))")
  _ = header.description
  return 0
}
