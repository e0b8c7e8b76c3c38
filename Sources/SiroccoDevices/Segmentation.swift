// What a device with offloads does to a frame the stack hands it (virtio-net's
// VIRTIO_NET_HDR_F_NEEDS_CSUM, GSO_TCPV4 and GSO_TCPV6, a NIC's TSO), done in software: for
// devices that emulate one (the in-memory device in tests) and for checking the stack's frames.

import SiroccoWire

public enum SoftwareOffload {
  /// The frames `frame` becomes on the wire: its checksum completed, and, for a segment to
  /// cut, one TCP segment per `segmentSize` bytes of payload with the headers repeated, the
  /// IP length (and for IPv4 the identification and header checksum) and the TCP sequence
  /// number adjusted, FIN and PSH on the last segment only, CWR on the first only.
  /// `finish` for a lent frame (a forwarder's, received with work pending, for a device
  /// without the offload): each frame it becomes is lent to `body` in turn.
  public static func finish(_ frame: UnsafeRawBufferPointer, _ offload: TransmitOffload, _ body: (UnsafeRawBufferPointer) -> Void) {
    for piece in finish(Array(frame), offload) { piece.withUnsafeBytes { body($0) } }
  }

  public static func finish(_ frame: [UInt8], _ offload: TransmitOffload) -> [[UInt8]] {
    guard offload.segmentSize > 0, frame.count - offload.headerLength > offload.segmentSize else {
      var whole = frame
      whole.withUnsafeMutableBytes {
        InternetChecksum.complete(in: $0, start: offload.checksumStart, offset: offload.checksumOffset)
      }
      return [whole]
    }
    let ip = EthernetHeader.minimumLength
    let tcp = offload.checksumStart
    let payload = frame.count - offload.headerLength
    var frames: [[UInt8]] = []
    var offset = 0
    while offset < payload {
      let length = min(offload.segmentSize, payload - offset)
      var piece = Array(frame[0..<offload.headerLength])
      piece.append(contentsOf: frame[(offload.headerLength + offset)..<(offload.headerLength + offset + length)])
      let first = offset == 0
      let last = offset + length == payload
      let pieceLength = piece.count
      let index = frames.count
      piece.withUnsafeMutableBytes { bytes in
        let read = UnsafeRawBufferPointer(bytes)
        // The pseudo-header sum covers the TCP length, which each piece changes.
        var pseudo = InternetChecksum()
        if offload.ipv6 {
          bytes.writeUInt16(UInt16(pieceLength - ip - IPv6Header.length), at: ip + 4)
          pseudo.addPseudoHeader(
            source: IPv6Address.read(from: read, at: ip + 8), destination: IPv6Address.read(from: read, at: ip + 24),
            protocol: .tcp, length: pieceLength - tcp)
        } else {
          bytes.writeUInt16(UInt16(pieceLength - ip), at: ip + 2)
          bytes.writeUInt16(read.readUInt16(at: ip + 4) &+ UInt16(truncatingIfNeeded: index), at: ip + 4)
          bytes.writeUInt16(0, at: ip + 10)
          let ipHeaderLength = Int(bytes[ip] & 0x0f) * 4
          bytes.writeUInt16(InternetChecksum.compute(UnsafeRawBufferPointer(rebasing: bytes[ip..<(ip + ipHeaderLength)])), at: ip + 10)
          pseudo.addPseudoHeader(
            source: IPv4Address.read(from: read, at: ip + 12), destination: IPv4Address.read(from: read, at: ip + 16),
            protocol: .tcp, length: pieceLength - tcp)
        }
        bytes.writeUInt32(read.readUInt32(at: tcp + 4) &+ UInt32(offset), at: tcp + 4)
        var flags = bytes[tcp + 13]
        if !last { flags &= ~(0x01 | 0x08) }  // FIN, PSH
        if !first { flags &= ~0x80 }  // CWR
        bytes[tcp + 13] = flags
        bytes.writeUInt16(~pseudo.value, at: tcp + offload.checksumOffset)
        InternetChecksum.complete(in: bytes, start: tcp, offset: offload.checksumOffset)
      }
      frames.append(piece)
      offset += length
    }
    return frames
  }
}
