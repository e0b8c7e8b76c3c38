// The DHCP server's leases on a block device, so that a restarted server gives every client
// the address it had (RFC 2131 4.3.1: "the server MUST remember ... the client's network
// address"; dnsmasq keeps a leases file, ISC dhcpd a lease database).
//
// Layout: sector 0 holds the header, records of 128 bytes follow from sector 1, one per
// lease, in the order of `DHCPServer.leases`.
//
//     header   0  magic "SRCDHCPL"        record   0  client identifier length (1-64)
//              8  version (1)                      1  client identifier (64 bytes)
//             12  record count                    65  hardware address (6)
//             16  network address                 71  IPv4 address
//             20  prefix length (1 byte)          75  expiry, seconds since 1970 (8)
//             24  checksum of 0..<24              83  host name length (0-40)
//                                                 84  host name (40 bytes)
//                                                124  checksum of 0..<124
//
// Numbers are big-endian, 4 bytes unless shown; checksums are FNV-1a (32 bits). Saving writes the records that changed, then the header,
// then flushes: a record torn by a crash fails its checksum and only that lease is lost; a
// torn header leaves the previous count. A header for another network, or none (a blank or
// foreign device), starts with no leases. Client identifiers longer than 64 bytes are not
// kept (no common client sends one), nor leases past the device's capacity; both counted.

import SiroccoDevices
import SiroccoWire

public final class DHCPLeaseFile {
  public static let recordLength = 128
  static let magic: [UInt8] = Array("SRCDHCPL".utf8)
  static let version: UInt32 = 1
  static let maximumIdentifier = 64
  static let maximumHostName = 40

  public let device: any BlockDevice
  public let network: IPv4Network
  /// Leases the device has room for.
  public let capacity: Int
  /// Records on the device that failed their checksum when loaded.
  public private(set) var damagedRecords = 0
  /// Leases not kept at the last save: identifiers too long, or no room left.
  public private(set) var unsaved = 0
  /// The leases as last saved, to write only the sectors whose records changed.
  var saved: [DHCPServer.Lease] = []
  var writtenSectors = 0
  var writtenCount: Int?

  public init(device: any BlockDevice, network: IPv4Network) {
    self.device = device
    self.network = network
    let sectors = Int(min(device.sectorCount, UInt64(Int32.max)))
    capacity = max(0, sectors - 1) * (device.sectorSize / Self.recordLength)
  }

  var recordsPerSector: Int { device.sectorSize / Self.recordLength }

  /// The leases on the device: none if it holds no lease file for this network.
  public func load() throws(BlockError) -> [DHCPServer.Lease] {
    guard capacity > 0 else { return [] }
    var sector = [UInt8](repeating: 0, count: device.sectorSize)
    try read(0, into: &sector)
    guard let count = header(sector), count <= capacity else { return [] }
    writtenCount = count
    var leases: [DHCPServer.Lease] = []
    let sectors = (count + recordsPerSector - 1) / recordsPerSector
    for index in 0..<sectors {
      try read(UInt64(1 + index), into: &sector)
      for slot in 0..<recordsPerSector where index * recordsPerSector + slot < count {
        let lease = sector.withUnsafeBytes { Self.parseRecord($0.slice(from: slot * Self.recordLength, length: Self.recordLength)) }
        if let lease, network.contains(lease.address) {
          leases.append(lease)
        } else {
          damagedRecords += 1
        }
      }
    }
    return leases
  }

  /// Writes `leases` (the records that changed, then the header) and flushes. `changed`: the
  /// index of the only record that differs from the last save (`DHCPServer.onLeasesChanged`
  /// says which), so that no other is compared.
  public func save(_ leases: [DHCPServer.Lease], changed: Int? = nil) throws(BlockError) {
    do {
      try store(leases, changed: changed)
    } catch {
      writtenSectors = 0  // `saved` may be ahead of the device: the next save writes everything
      throw error
    }
  }

  func store(_ leases: [DHCPServer.Lease], changed: Int?) throws(BlockError) {
    if let changed, changed < capacity, writtenSectors > 0, leases.count == saved.count || leases.count == saved.count + 1,
      changed < leases.count, changed == leases.count - 1 || leases.count == saved.count,
      !leases[changed].client.isEmpty, leases[changed].client.count <= Self.maximumIdentifier, unsaved == 0
    {
      if changed < saved.count { saved[changed] = leases[changed] } else { saved.append(leases[changed]) }
      try writeSector(changed / recordsPerSector)
      try finish()
      return
    }
    guard capacity > 0 else {
      unsaved = leases.count
      return
    }
    let kept = leases.filter { !$0.client.isEmpty && $0.client.count <= Self.maximumIdentifier }
    let records = kept.prefix(capacity)
    unsaved = leases.count - records.count
    let sectors = (records.count + recordsPerSector - 1) / recordsPerSector
    let stale = (0..<sectors).filter { index in
      let slots = (index * recordsPerSector)..<((index + 1) * recordsPerSector)
      return index >= writtenSectors || !slots.allSatisfy { slot in
        (slot < records.count) == (slot < saved.count) && (slot >= records.count || records[records.startIndex + slot] == saved[slot])
      }
    }
    saved = Array(records)
    for index in stale { try writeSector(index) }
    try finish()
  }

  /// Writes sector `index` of the records (device sector 1 + `index`) from `saved`.
  func writeSector(_ index: Int) throws(BlockError) {
    var sector = [UInt8](repeating: 0, count: device.sectorSize)
    sector.withUnsafeMutableBytes { bytes in
      for slot in 0..<recordsPerSector where index * recordsPerSector + slot < saved.count {
        Self.emitRecord(saved[index * recordsPerSector + slot], into: bytes.slice(from: slot * Self.recordLength, length: Self.recordLength))
      }
    }
    try write(UInt64(1 + index), sector)
    writtenSectors = max(writtenSectors, index + 1)
  }

  /// Writes the header if the count of `saved` changed, then flushes.
  func finish() throws(BlockError) {
    if writtenCount != saved.count {
      var header = [UInt8](repeating: 0, count: device.sectorSize)
      header.withUnsafeMutableBytes { emitHeader(count: saved.count, into: $0) }
      try write(0, header)
      writtenCount = saved.count
    }
    try device.flush()
  }

  func read(_ index: UInt64, into sector: inout [UInt8]) throws(BlockError) {
    let device = device
    try sector.withUnsafeMutableBytes { bytes in Result { () throws(BlockError) in try device.read(sector: index, into: bytes) } }.get()
  }

  func write(_ index: UInt64, _ sector: [UInt8]) throws(BlockError) {
    let device = device
    try sector.withUnsafeBytes { bytes in Result { () throws(BlockError) in try device.write(sector: index, from: bytes) } }.get()
  }

  // MARK: Layout

  /// The record count in a header sector for this network; nil for anything else.
  func header(_ sector: [UInt8]) -> Int? {
    sector.withUnsafeBytes { bytes -> Int? in
      guard bytes.prefix(8).elementsEqual(Self.magic), bytes.readUInt32(at: 8) == Self.version,
        bytes.readUInt32(at: 24) == Self.fnv1a(bytes.slice(from: 0, length: 24)),
        IPv4Address.read(from: bytes, at: 16) == network.address, Int(bytes[20]) == network.prefixLength
      else { return nil }
      return Int(bytes.readUInt32(at: 12))
    }
  }

  func emitHeader(count: Int, into bytes: UnsafeMutableRawBufferPointer) {
    for (index, byte) in Self.magic.enumerated() { bytes[index] = byte }
    bytes.writeUInt32(Self.version, at: 8)
    bytes.writeUInt32(UInt32(count), at: 12)
    network.address.write(to: bytes, at: 16)
    bytes[20] = UInt8(network.prefixLength)
    bytes.writeUInt32(Self.fnv1a(UnsafeRawBufferPointer(bytes.slice(from: 0, length: 24))), at: 24)
  }

  static func emitRecord(_ lease: DHCPServer.Lease, into bytes: UnsafeMutableRawBufferPointer) {
    bytes[0] = UInt8(lease.client.count)
    for (index, byte) in lease.client.enumerated() { bytes[1 + index] = byte }
    lease.hardware.write(to: bytes, at: 65)
    lease.address.write(to: bytes, at: 71)
    bytes.writeUInt64(UInt64(bitPattern: lease.expires), at: 75)
    let name = lease.hostName.prefix(maximumHostName)
    bytes[83] = UInt8(name.count)
    for (index, byte) in name.enumerated() { bytes[84 + index] = byte }
    bytes.writeUInt32(fnv1a(UnsafeRawBufferPointer(bytes.slice(from: 0, length: 124))), at: 124)
  }

  static func parseRecord(_ bytes: UnsafeRawBufferPointer) -> DHCPServer.Lease? {
    guard bytes.readUInt32(at: 124) == fnv1a(bytes.slice(from: 0, length: 124)) else { return nil }
    let length = Int(bytes[0])
    let nameLength = Int(bytes[83])
    guard (1...maximumIdentifier).contains(length), nameLength <= maximumHostName else { return nil }
    return DHCPServer.Lease(
      client: Array(bytes.slice(from: 1, length: length)), hardware: MACAddress.read(from: bytes, at: 65),
      address: IPv4Address.read(from: bytes, at: 71), expires: Int64(bitPattern: bytes.readUInt64(at: 75)),
      hostName: Array(bytes.slice(from: 84, length: nameLength)))
  }

  /// FNV-1a, 32 bits: catches a torn or foreign record.
  static func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var hash: UInt32 = 0x811c_9dc5
    for byte in bytes {
      hash ^= UInt32(byte)
      hash = hash &* 0x0100_0193
    }
    return hash
  }
}
