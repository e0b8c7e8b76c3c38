// Device attachment, as Solo5's tenders do it: every manifest entry must be attached by an
// option naming it (each kind attached by its own file: Net.swift, Block.swift). Then the
// manifest copy the guest reads: each entry attached, with its MAC and MTU or capacity and
// sector size, and the host descriptor.

import CSiroccoSPTTender
import CSiroccoUnix

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
        switch AttachedNetwork.attach(name: device.name, tap: tap, mac: mac, offload: offload, index: index) {
        case .success(let attached): devices.networks.append(attached)
        case .failure(let error): return .failure(error)
        }
      case .blockBasic:
        let path = options.device(.block, named: device.name)!.value
        let size = options.device(.blockSectorSize, named: device.name)?.sectorSize ?? DeviceLimits.defaultSectorSize
        switch AttachedBlock.attach(name: device.name, path: path, sectorSize: size, index: index) {
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
