// The PCI bus as the virtio guest sees it on QEMU's q35 and pc machines: configuration space
// through mechanism #1 (ports 0xCF8 and 0xCFC), the functions of bus 0, their capability
// lists and memory BARs. The firmware (SeaBIOS, which boots the PVH image on those
// machines) has assigned the BARs; the guest only reads them.
//
// Read first: PCI Local Bus 3.0 3.2.2.3.2 (mechanism #1), 6.1 (the header: vendor, device,
// command, header type, BARs, capabilities pointer), 6.7 (capability lists).

import CSiroccoVirtio
import Sirocco

/// A function on the bus.
public struct PCIAddress: Equatable, Sendable, CustomStringConvertible {
  public var bus: UInt8
  public var device: UInt8
  public var function: UInt8

  public init(bus: UInt8, device: UInt8, function: UInt8) {
    self.bus = bus
    self.device = device
    self.function = function
  }

  /// As lspci writes it: 00:03.0.
  public var description: String {
    var text = Text()
    text.append(hexByte: bus)
    text.append(":")
    text.append(hexByte: device)
    text.append(".\(function)")
    return String(text)
  }
}

/// 32-bit reads and writes of configuration space: the machine's, or a bus played by a test.
public protocol PCIConfigurationSpace: AnyObject {
  /// The dword at `offset` (a multiple of 4) of `function`'s space; all ones where nothing is.
  func read32(_ function: PCIAddress, _ offset: UInt8) -> UInt32
  func write32(_ function: PCIAddress, _ offset: UInt8, _ value: UInt32)
}

/// Configuration mechanism #1.
public final class MachinePCI: PCIConfigurationSpace {
  public init() {}

  static func select(_ function: PCIAddress, _ offset: UInt8) {
    let address = UInt32(1) << 31 | UInt32(function.bus) << 16 | UInt32(function.device & 31) << 11
      | UInt32(function.function & 7) << 8 | UInt32(offset & 0xfc)
    sirocco_outl(0xcf8, address)
  }

  public func read32(_ function: PCIAddress, _ offset: UInt8) -> UInt32 {
    Self.select(function, offset)
    return sirocco_inl(0xcfc)
  }

  public func write32(_ function: PCIAddress, _ offset: UInt8, _ value: UInt32) {
    Self.select(function, offset)
    sirocco_outl(0xcfc, value)
  }
}

public enum PCI {
  /// Header offsets.
  static let command: UInt8 = 0x04
  static let status: UInt8 = 0x06
  static let headerType: UInt8 = 0x0e
  static let firstBAR: UInt8 = 0x10
  static let subsystemID: UInt8 = 0x2e
  static let capabilities: UInt8 = 0x34
  /// Command bits: memory space, bus master.
  static let memorySpace: UInt32 = 1 << 1
  static let busMaster: UInt32 = 1 << 2

  /// A function found on the bus.
  public struct Function: Equatable, Sendable {
    public var address: PCIAddress
    public var vendorID: UInt16
    public var deviceID: UInt16
  }

  /// The functions of `bus`, in ascending address order (QEMU gives slots to its `-device`
  /// options in order).
  public static func functions(on space: any PCIConfigurationSpace, bus: UInt8 = 0) -> [Function] {
    var found: [Function] = []
    for device in UInt8(0)..<32 {
      for function in UInt8(0)..<8 {
        let address = PCIAddress(bus: bus, device: device, function: function)
        let identity = space.read32(address, 0)
        guard identity & 0xffff != 0xffff else {
          if function == 0 { break }
          continue
        }
        found.append(Function(address: address, vendorID: UInt16(truncatingIfNeeded: identity), deviceID: UInt16(identity >> 16)))
        // Functions 1-7 exist only in a multi-function device (header type bit 7).
        if function == 0, read8(space, address, headerType) & 0x80 == 0 { break }
      }
    }
    return found
  }

  static func read8(_ space: any PCIConfigurationSpace, _ address: PCIAddress, _ offset: UInt8) -> UInt8 {
    UInt8(truncatingIfNeeded: space.read32(address, offset & 0xfc) >> (8 * UInt32(offset & 3)))
  }

  static func read16(_ space: any PCIConfigurationSpace, _ address: PCIAddress, _ offset: UInt8) -> UInt16 {
    UInt16(truncatingIfNeeded: space.read32(address, offset & 0xfc) >> (8 * UInt32(offset & 2)))
  }

  /// The capability list: each capability's ID and offset, in list order. A list that
  /// points outside the header's capability area or loops ends at that point (48 at most:
  /// what 192 bytes hold).
  static func capabilities(_ space: any PCIConfigurationSpace, _ address: PCIAddress) -> [(id: UInt8, offset: UInt8)] {
    guard read16(space, address, status) & (1 << 4) != 0 else { return [] }
    var list: [(id: UInt8, offset: UInt8)] = []
    var offset = read8(space, address, capabilities) & 0xfc
    while offset >= 0x40, list.count < 48, !list.contains(where: { $0.offset == offset }) {
      list.append((read8(space, address, offset), offset))
      offset = read8(space, address, offset + 1) & 0xfc
    }
    return list
  }

  /// The address BAR `index` decodes: nil for an I/O BAR, an unassigned one (0), or an
  /// index past the six.
  static func memoryBAR(_ space: any PCIConfigurationSpace, _ address: PCIAddress, _ index: UInt8) -> UInt64? {
    guard index < 6 else { return nil }
    let low = space.read32(address, firstBAR + 4 * index)
    guard low & 1 == 0 else { return nil }
    var base = UInt64(low & ~0xf)
    if (low >> 1) & 3 == 2 {  // 64-bit: the next BAR holds the high half
      guard index < 5 else { return nil }
      base |= UInt64(space.read32(address, firstBAR + 4 * index + 4)) << 32
    }
    return base == 0 ? nil : base
  }

  /// Turns on the function's memory decoding and its bus mastering (DMA: virtqueues).
  static func enable(_ space: any PCIConfigurationSpace, _ address: PCIAddress) {
    let value = space.read32(address, command)
    // The upper half is the status register, whose bits clear when written with ones.
    space.write32(address, command, value & 0xffff | memorySpace | busMaster)
  }
}
