// struct virtio_net_hdr (virtio 1.2, 5.1.6), the 10 bytes before every frame on a TAP
// opened with IFF_VNET_HDR (and on a virtio NIC): flags, GSO type, then four little-endian
// 16-bit fields (header length, GSO size, checksum start, checksum offset).

public enum VirtioNetHeader {
  public static let length = 10
  /// The checksum from `checksumStart` is left to the device (the field holds the
  /// pseudo-header sum); on receive, the frame came from the host's own stack unchecksummed.
  static let needsChecksum: UInt8 = 1
  /// On receive: the device verified the checksum.
  static let dataValid: UInt8 = 2
  static let gsoNone: UInt8 = 0
  static let gsoTCPv4: UInt8 = 1
  static let gsoTCPv6: UInt8 = 4

  /// Writes the header for a frame sent with `offload` (or none) into `header`.
  public static func emit(into header: UnsafeMutableRawBufferPointer, offload: TransmitOffload?) {
    precondition(header.count >= length, "virtio-net header buffer too small")
    for index in 0..<length { header[index] = 0 }
    guard let offload else { return }
    header[0] = needsChecksum
    header[1] = offload.segmentSize == 0 ? gsoNone : offload.ipv6 ? gsoTCPv6 : gsoTCPv4
    header.storeBytes(of: UInt16(offload.headerLength).littleEndian, toByteOffset: 2, as: UInt16.self)
    header.storeBytes(of: UInt16(offload.segmentSize).littleEndian, toByteOffset: 4, as: UInt16.self)
    header.storeBytes(of: UInt16(offload.checksumStart).littleEndian, toByteOffset: 6, as: UInt16.self)
    header.storeBytes(of: UInt16(offload.checksumOffset).littleEndian, toByteOffset: 8, as: UInt16.self)
  }

  /// Whether a received frame's header vouches for its transport checksum (NEEDS_CSUM or
  /// DATA_VALID).
  public static func checksumVerified(_ header: UnsafeRawBufferPointer) -> Bool {
    header.count >= length && header[0] & (needsChecksum | dataValid) != 0
  }

  /// The offload work a received frame's header leaves to do, in the form `emit` takes, so
  /// a forwarder hands it on unchanged: a checksum to complete (NEEDS_CSUM) and, for
  /// GSO_TCPV4 or GSO_TCPV6, a TCP segment to cut into `segmentSize` pieces. Nil for a final
  /// frame, and for one whose header does not fit it (a GSO type other than TCP's, which
  /// Sirocco's TAPs do not ask for; a checksum or TCP header outside the frame): it is
  /// forwarded as it is, and a port that cannot send it whole drops and counts it.
  public static func pending(_ header: UnsafeRawBufferPointer, frame: UnsafeRawBufferPointer) -> TransmitOffload? {
    guard header.count >= length, header[0] & needsChecksum != 0 else { return nil }
    let checksumStart = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
    let checksumOffset = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
    guard checksumStart + checksumOffset + 2 <= frame.count else { return nil }
    let gsoType = header[1]
    guard gsoType != gsoNone else {
      let headerLength = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
      return TransmitOffload(checksumStart: checksumStart, checksumOffset: checksumOffset, headerLength: headerLength, segmentSize: 0)
    }
    let segmentSize = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
    // The headers every piece repeats end with the TCP header (the header's own hdr_len may
    // be a length of the first buffer instead).
    guard gsoType == gsoTCPv4 || gsoType == gsoTCPv6, segmentSize > 0, checksumOffset == 16,
      checksumStart + 20 <= frame.count
    else { return nil }
    let tcpHeaderLength = Int(frame[checksumStart + 12] >> 4) * 4
    guard tcpHeaderLength >= 20, checksumStart + tcpHeaderLength <= frame.count else { return nil }
    return TransmitOffload(
      checksumStart: checksumStart, checksumOffset: checksumOffset, headerLength: checksumStart + tcpHeaderLength,
      segmentSize: segmentSize, ipv6: gsoType == gsoTCPv6)
  }
}
