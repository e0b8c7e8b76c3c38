// Device attachment, as Solo5's tenders do it: every manifest entry must be attached by an
// option naming it; a TAP interface must exist and be up; a block file's size must be a
// whole number of sectors. Then the manifest copy the guest reads: each entry attached,
// with its MAC and MTU or capacity and sector size, and the host descriptor.

import CSiroccoSPTTender
import CSiroccoUnix

struct AttachedNetwork {
  var index: Int
  var fileDescriptor: Int32
  var mac: [UInt8]
  var mtu: Int
}

struct AttachedBlock {
  var index: Int
  var fileDescriptor: Int32
  var sectorSize: Int
  var capacity: UInt64
}

struct TenderError: Error {
  var message: String
  init(_ message: String) { self.message = message }
}

/// The attached devices, by handle (manifest index).
struct AttachedDevices {
  var networks: [AttachedNetwork] = []
  var blocks: [AttachedBlock] = []

  func network(handle: UInt64) -> AttachedNetwork? { networks.first { UInt64($0.index) == handle } }
  func block(handle: UInt64) -> AttachedBlock? { blocks.first { UInt64($0.index) == handle } }

  /// Attaches every device of `manifest` as `options` say (DeviceOptions.check has made sure
  /// each is named); a failure is bad usage.
  static func attach(_ manifest: Manifest, options: Options, offload: Bool) -> Result<AttachedDevices, TenderError> {
    var devices = AttachedDevices()
    for (position, device) in manifest.devices.enumerated() {
      let index = position + 1
      switch device.type {
      case .netBasic:
        let tap = options.device(.network, named: device.name)!.value
        let mac = options.device(.networkMAC, named: device.name)?.macAddress
        switch Attach.network(name: device.name, tap: tap, mac: mac, offload: offload, index: index) {
        case .success(let attached): devices.networks.append(attached)
        case .failure(let error): return .failure(error)
        }
      case .blockBasic:
        let path = options.device(.block, named: device.name)!.value
        let size = options.device(.blockSectorSize, named: device.name)?.sectorSize ?? DeviceLimits.defaultSectorSize
        switch Attach.block(name: device.name, path: path, sectorSize: size, index: index) {
        case .success(let attached): devices.blocks.append(attached)
        case .failure(let error): return .failure(error)
        }
      case .reservedFirst:
        continue
      }
    }
    return .success(devices)
  }

  /// `manifestBytes` with every attached entry filled in, for the guest.
  func attachedManifest(_ manifestBytes: [UInt8]) -> [UInt8] {
    var bytes = manifestBytes
    func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
      withUnsafeBytes(of: value.littleEndian) { raw in
        for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
      }
    }
    for network in networks {
      let entry = Manifest.headerSize + network.index * Manifest.entrySize
      for (offset, byte) in network.mac.enumerated() { bytes[entry + Manifest.Field.netMAC + offset] = byte }
      put(UInt16(network.mtu), at: entry + Manifest.Field.netMTU)
      put(Int64(network.fileDescriptor), at: entry + Manifest.Field.hostDescriptor)
      bytes[entry + Manifest.Field.attached] = 1
    }
    for block in blocks {
      let entry = Manifest.headerSize + block.index * Manifest.entrySize
      put(block.capacity, at: entry + Manifest.Field.blockCapacity)
      put(UInt16(block.sectorSize), at: entry + Manifest.Field.blockSize)
      put(Int64(block.fileDescriptor), at: entry + Manifest.Field.hostDescriptor)
      bytes[entry + Manifest.Field.attached] = 1
    }
    return bytes
  }
}

enum Attach {
  static func network(name: String, tap: String, mac: [UInt8]?, offload: Bool, index: Int) -> Result<AttachedNetwork, TenderError> {
    let up = sirocco_interface_up(tap)
    guard up >= 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot use TAP interface '\(tap)': \(describe(-up))")) }
    guard up == 1 else { return .failure(TenderError("--net:\(name)=\(tap): TAP interface '\(tap)' is down (ip link set \(tap) up)")) }
    let mtu = sirocco_interface_mtu(tap)
    guard mtu > 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot read the MTU of '\(tap)': \(describe(-mtu))")) }
    let fd = sirocco_tap_open(tap, offload ? 1 : 0)
    guard fd >= 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot attach TAP interface '\(tap)': \(describe(-fd))")) }
    var address = mac ?? []
    if address.isEmpty {
      var random = [UInt8](repeating: 0, count: 6)
      _ = random.withUnsafeMutableBytes { sirocco_random($0.baseAddress, 6) }
      random[0] = (random[0] & 0xfe) | 0x02  // unicast, locally administered
      address = random
    }
    return .success(AttachedNetwork(index: index, fileDescriptor: fd, mac: address, mtu: Int(mtu)))
  }

  static func block(name: String, path: String, sectorSize: Int, index: Int) -> Result<AttachedBlock, TenderError> {
    let fd = sirocco_spt_open(path, O_RDWR)
    guard fd >= 0 else { return .failure(TenderError("--block:\(name)=\(path): cannot open '\(path)': \(describe(sirocco_spt_errno()))")) }
    let end = lseek(fd, 0, SEEK_END)
    guard end >= sectorSize, end % sectorSize == 0 else {
      close(fd)
      return .failure(TenderError("--block:\(name)=\(path): size \(end) bytes is not a whole non-zero number of \(sectorSize)-byte sectors"))
    }
    return .success(AttachedBlock(index: index, fileDescriptor: fd, sectorSize: sectorSize, capacity: UInt64(end)))
  }

  static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}
