// Fuzz target: the UDP header, checksum verified and not (addresses from the first eight
// bytes). An accepted header's length must lie within the datagram; re-emitted over the same
// payload it must parse back equal with a non-zero checksum that verifies.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUDP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var fields = FuzzInput(data, size)
  let source = IPv4Address(rawValue: fields.uint32())
  let destination = IPv4Address(rawValue: fields.uint32())
  guard size >= 8 else { return 0 }
  let datagram = rawBuffer(data + 8, size - 8)
  guard let header = parsedBothWays(datagram, {
    try? UDPHeader.parse(datagram, source: source, destination: destination, verifyChecksum: $0)
  }) else { return 0 }
  require(header.length >= 8 && header.length <= datagram.count && header.length <= 65535, "length \(header.length) accepted")
  let out = emitted(datagram.count, from: datagram) { header.emit(into: $0, source: source, destination: destination) }
  let again = out.withUnsafeBytes { try? UDPHeader.parse($0, source: source, destination: destination, verifyChecksum: true) }
  guard let again else {
    require(false, "\(header) re-emitted as \(hex(out)), which does not parse")
    return 0
  }
  var expected = header
  expected.checksum = again.checksum
  require(again == expected && again.checksum != 0, "\(header) parsed back as \(again)")
  _ = header.description
  return 0
}
