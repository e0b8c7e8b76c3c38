// Fuzz target: the TCP header and its options, checksum verified and not (addresses from the
// first eight bytes). An accepted header's length must lie within the segment; re-emitted
// (options NOP-aligned, the SACK blocks that fit) it must parse back with every field equal
// and a checksum that verifies.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTCP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var fields = FuzzInput(data, size)
  let source = IPv4Address(rawValue: fields.uint32())
  let destination = IPv4Address(rawValue: fields.uint32())
  guard size >= 8 else { return 0 }
  let segment = rawBuffer(data + 8, size - 8)
  guard let header = parsedBothWays(segment, {
    try? TCPHeader.parse(segment, source: source, destination: destination, verifyChecksum: $0)
  }) else { return 0 }
  require(
    header.headerLength >= 20 && header.headerLength <= 60 && header.headerLength <= segment.count,
    "header length \(header.headerLength) accepted from \(segment.count) bytes")
  require(header.options.sackBlocks.count <= 4, "\(header.options.sackBlocks.count) SACK blocks")
  require(header.options.windowScale.map { $0 <= 14 } ?? true, "window scale \(String(describing: header.options.windowScale))")
  let length = TCPHeader.minimumLength + header.options.bufferLength
  require(length <= TCPHeader.maximumLength && length % 4 == 0, "options emit as \(header.options.bufferLength) bytes")
  // Emitted into a buffer of the same payload after a header of the emitted length.
  let fresh = TCPHeader(
    sourcePort: header.sourcePort, destinationPort: header.destinationPort, sequenceNumber: header.sequenceNumber,
    acknowledgmentNumber: header.acknowledgmentNumber, flags: header.flags, window: header.window,
    urgentPointer: header.urgentPointer, options: header.options)
  let payload = segment.suffix(from: header.headerLength)
  var out = [UInt8](repeating: 0, count: length) + Array(payload)
  out.withUnsafeMutableBytes { fresh.emit(into: $0, source: source, destination: destination) }
  let again = out.withUnsafeBytes { try? TCPHeader.parse($0, source: source, destination: destination, verifyChecksum: true) }
  guard let again else {
    require(false, "\(header) re-emitted as \(hex(out)), which does not parse")
    return 0
  }
  var expected = header.options
  expected.sackBlocks = SACKBlocks(Array(header.options.sackBlocks.prefix(header.options.emittedSACKBlocks)))
  require(
    again.sourcePort == header.sourcePort && again.destinationPort == header.destinationPort
      && again.sequenceNumber == header.sequenceNumber && again.acknowledgmentNumber == header.acknowledgmentNumber
      && again.flags == header.flags && again.window == header.window && again.urgentPointer == header.urgentPointer
      && again.options == expected && again.headerLength == length,
    "\(header) parsed back as \(again)")
  _ = header.description
  return 0
}
