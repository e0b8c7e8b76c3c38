// The virtio-mmio transport (virtio 1.2, 4.2): a device's registers in a 512-byte (QEMU) or
// 4 KiB (Firecracker) window the VMM names on the command line. Only the modern interface
// (version 2): QEMU's default is legacy, so `sirocco run` starts it with
// `-global virtio-mmio.force-legacy=false`, and a legacy device is refused by name.
//
// Read first: virtio 1.2 4.2.2 (the registers; 32-bit accesses only below 0x100), 4.2.3.2
// (queue set-up).

import CSiroccoVirtio
import Sirocco

/// Where device regions are: the machine's physical memory (identity-mapped), or a test's.
public protocol MMIOSpace: AnyObject {
  func registers(at address: UInt64) -> any MMIORegisters
}

/// The machine's memory: registers at any address.
public final class MachineMemory: MMIOSpace {
  public init() {}
  public func registers(at address: UInt64) -> any MMIORegisters { MachineRegisters(base: address) }
}

/// The machine's registers at `base`.
public final class MachineRegisters: MMIORegisters {
  let base: UInt64
  public init(base: UInt64) { self.base = base }
  public func read32(_ offset: Int) -> UInt32 { sirocco_mmio_read32(base + UInt64(offset)) }
  public func write32(_ offset: Int, _ value: UInt32) { sirocco_mmio_write32(base + UInt64(offset), value) }
  public func read16(_ offset: Int) -> UInt16 { sirocco_mmio_read16(base + UInt64(offset)) }
  public func write16(_ offset: Int, _ value: UInt16) { sirocco_mmio_write16(base + UInt64(offset), value) }
  public func read8(_ offset: Int) -> UInt8 { sirocco_mmio_read8(base + UInt64(offset)) }
  public func write8(_ offset: Int, _ value: UInt8) { sirocco_mmio_write8(base + UInt64(offset), value) }
}

public final class VirtioMMIO: VirtioTransport {
  enum Register {
    static let magic = 0x000
    static let version = 0x004
    static let deviceID = 0x008
    static let deviceFeatures = 0x010
    static let deviceFeaturesSelect = 0x014
    static let driverFeatures = 0x020
    static let driverFeaturesSelect = 0x024
    static let queueSelect = 0x030
    static let queueSizeMaximum = 0x034
    static let queueSize = 0x038
    static let queueReady = 0x044
    static let queueNotify = 0x050
    static let interruptStatus = 0x060
    static let interruptAcknowledge = 0x064
    static let status = 0x070
    static let queueDescriptorLow = 0x080
    static let queueDriverLow = 0x090
    static let queueDeviceLow = 0x0a0
    static let configuration = 0x100
  }

  /// "virt", little-endian.
  static let magic: UInt32 = 0x7472_6976

  public enum ProbeError: Error, Equatable, CustomStringConvertible {
    case notVirtio(magic: UInt32)
    case legacy
    case unsupportedVersion(UInt32)
    case noDevice

    public var description: String {
      let text: Text =
        switch self {
        case .notVirtio(let magic): "no virtio-mmio device there (magic 0x\(Hex(magic)), expected 0x74726976)"
        case .legacy: "a legacy (version 1) virtio-mmio device: expected version 2 (QEMU: -global virtio-mmio.force-legacy=false)"
        case .unsupportedVersion(let version): "virtio-mmio version \(version): expected 2"
        case .noDevice: "an empty virtio-mmio slot (device ID 0)"
        }
      return String(text)
    }
  }

  let registers: any MMIORegisters
  /// The device type (1 network, 2 block, ...).
  public let deviceID: UInt32
  /// The features both sides agreed on, once `negotiate` has run.
  public var features: UInt64 = 0

  /// Checks the registers for a modern virtio-mmio device.
  public init(registers: any MMIORegisters) throws(ProbeError) {
    let magic = registers.read32(Register.magic)
    guard magic == Self.magic else { throw .notVirtio(magic: magic) }
    let version = registers.read32(Register.version)
    guard version != 1 else { throw .legacy }
    guard version == 2 else { throw .unsupportedVersion(version) }
    deviceID = registers.read32(Register.deviceID)
    guard deviceID != 0 else { throw .noDevice }
    self.registers = registers
  }

  public var status: UInt32 { registers.read32(Register.status) }
  public func setStatus(_ status: UInt32) { registers.write32(Register.status, status) }

  public func deviceFeatures(word: Int) -> UInt32 {
    registers.write32(Register.deviceFeaturesSelect, UInt32(word))
    return registers.read32(Register.deviceFeatures)
  }

  public func setDriverFeatures(word: Int, _ value: UInt32) {
    registers.write32(Register.driverFeaturesSelect, UInt32(word))
    registers.write32(Register.driverFeatures, value)
  }

  /// The largest size queue `index` takes (0: no such queue).
  public func maximumQueueSize(_ index: UInt16) -> UInt16 {
    registers.write32(Register.queueSelect, UInt32(index))
    return UInt16(clamping: registers.read32(Register.queueSizeMaximum))
  }

  /// Gives the device queue `index`: its size and the addresses of its three parts.
  public func setUp(queue: Virtqueue, at index: UInt16) throws(VirtioStartError) {
    try check(queue, fitsAt: index)
    registers.write32(Register.queueSize, UInt32(queue.size))
    registers.write64(Register.queueDescriptorLow, queue.descriptorAddress)
    registers.write64(Register.queueDriverLow, queue.availableAddress)
    registers.write64(Register.queueDeviceLow, queue.usedAddress)
    registers.write32(Register.queueReady, 1)
  }

  /// Tells the device something was added to queue `index`.
  public func notify(_ index: UInt16) { registers.write32(Register.queueNotify, UInt32(index)) }

  /// Reads and acknowledges the interrupt status (bit 0 a used buffer, bit 1 configuration).
  public func acknowledgeInterrupt() -> UInt32? {
    let pending = registers.read32(Register.interruptStatus)
    if pending != 0 { registers.write32(Register.interruptAcknowledge, pending) }
    return pending
  }

  /// A byte of the device's configuration space.
  public func configuration8(_ offset: Int) -> UInt8 { registers.read8(Register.configuration + offset) }

  /// A little-endian 32-bit field of the configuration space.
  public func configuration32(_ offset: Int) -> UInt32 { registers.read32(Register.configuration + offset) }
}
