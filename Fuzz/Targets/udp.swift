// Fuzz target: the UDP header, checksum verified and not, over IPv4 (addresses from the first
// eight bytes, the datagram after them) and over IPv6 (addresses from the first 32). An
// accepted header's length must lie within the datagram; re-emitted over the same payload it
// must parse back equal with a non-zero checksum that verifies; over IPv6 a zero checksum is
// never accepted.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUDP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var fields = FuzzInput(data, size)
  let source = IPv4Address(rawValue: fields.uint32())
  let destination = IPv4Address(rawValue: fields.uint32())
  guard size >= 8 else { return 0 }
  check(rawBuffer(data + 8, size - 8), source: .v4(source), destination: .v4(destination))
  guard size >= 32 else { return 0 }
  let ipv6Source = IPv6Address(bytes: rawBuffer(data, 16))
  let ipv6Destination = IPv6Address(bytes: rawBuffer(data + 16, 16))
  check(rawBuffer(data + 32, size - 32), source: .v6(ipv6Source), destination: .v6(ipv6Destination))
  return 0
}

func check(_ datagram: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress) {
  guard let header = parsedBothWays(datagram, {
    try? UDPHeader.parse(datagram, source: source, destination: destination, verifyChecksum: $0)
  }) else { return }
  require(header.length >= 8 && header.length <= datagram.count && header.length <= 65535, "length \(header.length) accepted")
  require(source.ipv4 != nil || header.checksum != 0, "a zero checksum accepted over IPv6")
  let out = emitted(datagram.count, from: datagram) { header.emit(into: $0, source: source, destination: destination) }
  let again = out.withUnsafeBytes { try? UDPHeader.parse($0, source: source, destination: destination, verifyChecksum: true) }
  guard let again else {
    require(false, "\(header) re-emitted as \(hex(out)), which does not parse")
    return
  }
  var expected = header
  expected.checksum = again.checksum
  require(again == expected && again.checksum != 0, "\(header) parsed back as \(again)")
  _ = header.description
}
