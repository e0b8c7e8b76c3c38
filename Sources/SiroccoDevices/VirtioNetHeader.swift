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
}
