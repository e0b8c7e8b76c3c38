// The virtio-pci transport (virtio 1.2, 4.1), modern interface: the device's structures
// (common configuration, notifications, ISR, device configuration) in its memory BARs,
// where its vendor capabilities say; interrupts by MSI-X, one vector for all queues,
// delivered to the boot CPU's local APIC. Transitional devices (QEMU's default on q35) are
// driven through their modern interface too; a device without MSI-X (QEMU's `vectors=0`)
// is refused by name, as legacy INTx would need the ACPI tables to route.
//
// Read first: virtio 1.2 4.1.2 (device IDs), 4.1.4 (the capabilities and the common
// configuration's layout), 4.1.4.4 (notify addresses), 4.1.5.1.2 (MSI-X vectors);
// PCI Local Bus 3.0 6.8.2 (MSI-X); Intel SDM vol. 3A 10.11 (the MSI address and data).

import Sirocco

public final class VirtioPCI: VirtioTransport {
  /// The common configuration structure's fields.
  enum Common {
    static let deviceFeatureSelect = 0
    static let deviceFeature = 4
    static let driverFeatureSelect = 8
    static let driverFeature = 12
    static let configVector = 16
    static let deviceStatus = 20
    static let queueSelect = 22
    static let queueSize = 24
    static let queueVector = 26
    static let queueEnable = 28
    static let queueNotifyOffset = 30
    static let queueDescriptor = 32
    static let queueDriver = 40
    static let queueDevice = 48
  }

  /// Vendor capability types.
  enum Structure {
    static let common: UInt8 = 1
    static let notify: UInt8 = 2
    static let isr: UInt8 = 3
    static let device: UInt8 = 4
  }

  static let vendor: UInt16 = 0x1af4
  static let noVector: UInt16 = 0xffff

  public enum ProbeError: Error, Equatable, CustomStringConvertible {
    /// Not a virtio device (another vendor, or a device ID outside virtio's).
    case notVirtio
    /// A structure the modern interface needs is not among the capabilities.
    case missingStructure(String)
    /// A structure lies in a BAR that is I/O, unassigned, too small, or above the 4 GiB
    /// the guest maps.
    case unusableBAR(UInt8)
    case noMSIX

    public var description: String {
      let text: Text =
        switch self {
        case .notVirtio: "not a virtio device"
        case .missingStructure(let name): "no \(name) capability: expected a modern (virtio 1.0) device"
        case .unusableBAR(let index): "BAR \(index) is not a memory BAR below 4 GiB holding the device's structures"
        case .noMSIX: "no MSI-X capability: expected one (QEMU's virtio-*-pci have it unless vectors=0)"
        }
      return String(text)
    }
  }

  public let address: PCIAddress
  public let deviceID: UInt32
  public var features: UInt64 = 0
  let common: any MMIORegisters
  let notifications: any MMIORegisters
  let notifyMultiplier: Int
  let deviceConfiguration: any MMIORegisters
  /// Each set-up queue's notify offset (queue_notify_off), by queue index.
  var notifyOffsets: [Int] = []

  /// Takes the device at `function`: its structures found through `space` and reached
  /// through `memory`, its memory decoding and bus mastering on, and MSI-X table
  /// entry 0 aimed at `vector` on the local APIC with ID 0.
  public init(space: any PCIConfigurationSpace, function: PCI.Function, vector: UInt8, memory: any MMIOSpace) throws(ProbeError) {
    guard function.vendorID == Self.vendor else { throw .notVirtio }
    address = function.address
    switch function.deviceID {
    case 0x1000...0x103f: deviceID = UInt32(PCI.read16(space, address, PCI.subsystemID))  // transitional
    case 0x1040...0x107f: deviceID = UInt32(function.deviceID - 0x1040)
    default: throw .notVirtio
    }
    var structures: [UInt8: (base: UInt64, multiplier: UInt32)] = [:]
    var table: UInt64?
    var msix: UInt8?
    for capability in PCI.capabilities(space, address) {
      let at = capability.offset
      if capability.id == 0x11, msix == nil {
        let location = space.read32(address, at + 4)
        guard let bar = PCI.memoryBAR(space, address, UInt8(location & 7)) else { throw .unusableBAR(UInt8(location & 7)) }
        msix = at
        table = bar + UInt64(location & ~7)
      }
      guard capability.id == 0x09 else { continue }
      let type = PCI.read8(space, address, at + 3)
      // The first of each type is the one to use (4.1.4.1); types past 4 are not needed.
      guard (Structure.common...Structure.device).contains(type), structures[type] == nil else { continue }
      let bar = PCI.read8(space, address, at + 4)
      let offset = UInt64(space.read32(address, at + 8))
      let length = UInt64(space.read32(address, at + 12))
      guard let base = PCI.memoryBAR(space, address, bar), base + offset + length <= 1 << 32 else { throw .unusableBAR(bar) }
      structures[type] = (base + offset, type == Structure.notify ? space.read32(address, at + 16) : 0)
    }
    guard let common = structures[Structure.common] else { throw .missingStructure("common configuration") }
    guard let notify = structures[Structure.notify] else { throw .missingStructure("notification") }
    guard structures[Structure.isr] != nil else { throw .missingStructure("ISR") }
    guard let device = structures[Structure.device] else { throw .missingStructure("device configuration") }
    guard let msix, let table, table < 1 << 32 else { throw .noMSIX }
    self.common = memory.registers(at: common.base)
    notifications = memory.registers(at: notify.base)
    notifyMultiplier = Int(notify.multiplier)
    deviceConfiguration = memory.registers(at: device.base)
    PCI.enable(space, address)
    // Entry 0: the boot CPU's local APIC (0xFEE00000, destination ID 0), fixed delivery,
    // edge-triggered, `vector`; unmasked. Then MSI-X on, the function's mask off.
    let entry = memory.registers(at: table)
    entry.write32(0, 0xfee0_0000)
    entry.write32(4, 0)
    entry.write32(8, UInt32(vector))
    entry.write32(12, 0)
    let control = space.read32(address, msix)
    space.write32(address, msix, control & ~(UInt32(1) << 30) | UInt32(1) << 31)
  }

  public var status: UInt32 { UInt32(common.read8(Common.deviceStatus)) }

  public func setStatus(_ status: UInt32) {
    common.write8(Common.deviceStatus, UInt8(truncatingIfNeeded: status))
    // A reset is done when the status reads 0 again (4.1.4.3.2); bounded.
    var spins = 0
    while status == 0, spins < 1_000_000, common.read8(Common.deviceStatus) != 0 { spins += 1 }
  }

  public func deviceFeatures(word: Int) -> UInt32 {
    common.write32(Common.deviceFeatureSelect, UInt32(word))
    return common.read32(Common.deviceFeature)
  }

  public func setDriverFeatures(word: Int, _ value: UInt32) {
    common.write32(Common.driverFeatureSelect, UInt32(word))
    common.write32(Common.driverFeature, value)
  }

  public func maximumQueueSize(_ index: UInt16) -> UInt16 {
    common.write16(Common.queueSelect, index)
    return common.read16(Common.queueSize)
  }

  public func setUp(queue: Virtqueue, at index: UInt16) throws(VirtioStartError) {
    try check(queue, fitsAt: index)
    common.write16(Common.queueSize, queue.size)
    common.write64(Common.queueDescriptor, queue.descriptorAddress)
    common.write64(Common.queueDriver, queue.availableAddress)
    common.write64(Common.queueDevice, queue.usedAddress)
    // Every queue interrupts through MSI-X entry 0; the device says no by reading back
    // NO_VECTOR. Configuration changes interrupt nobody.
    common.write16(Common.configVector, Self.noVector)
    common.write16(Common.queueVector, 0)
    guard common.read16(Common.queueVector) == 0 else { throw .vectorRefused(queue: index) }
    while notifyOffsets.count <= Int(index) { notifyOffsets.append(0) }
    notifyOffsets[Int(index)] = Int(common.read16(Common.queueNotifyOffset))
    common.write16(Common.queueEnable, 1)
  }

  public func notify(_ index: UInt16) {
    notifications.write16(notifyOffsets[Int(index)] * notifyMultiplier, index)
  }

  /// MSI-X messages need no acknowledging (the ISR is for INTx).
  public func acknowledgeInterrupt() -> UInt32? { nil }

  public func configuration8(_ offset: Int) -> UInt8 { deviceConfiguration.read8(offset) }

  public func configuration32(_ offset: Int) -> UInt32 { deviceConfiguration.read32(offset) }
}
