// Fuzz target: ARP packets (IPv4 over Ethernet). Parse; an accepted packet must re-emit as
// the input's 28 bytes and parse back equal.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzARP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = rawBuffer(data, size)
  guard let packet = try? ARPPacket.parse(input) else { return 0 }
  let out = emitted(packet.bufferLength) { packet.emit(into: $0) }
  require(out.elementsEqual(input.prefix(ARPPacket.length)), "\(packet) re-emitted as \(hex(out))")
  let again = out.withUnsafeBytes { try? ARPPacket.parse($0) }
  require(again == packet, "\(packet) parsed back as \(String(describing: again))")
  _ = packet.description
  return 0
}
