// The manifest copy a Solo5 tender (spt or hvt) filled in guest memory: each attached entry
// carries the device's properties (MAC and MTU, capacity and sector size) and, for spt, the
// host descriptor. Shared by the spt and hvt guests, which read it the same way.

import Sirocco
import SiroccoABI

public struct AttachedManifest {
  public struct Entry {
    /// The device's handle: its index in the manifest.
    public var index: Int
    public var type: UInt32
    public var attached: Bool
    public var hostDescriptor: Int32
    public var macAddress: MACAddress
    public var mtu: Int
    public var capacity: UInt64
    public var blockSize: Int
  }

  let base: UnsafeRawPointer?

  /// The manifest at `base` (nil: none, every lookup fails).
  public init(base: UnsafeRawPointer?) {
    self.base = base
  }

  public func entry(named name: String) -> Entry? {
    guard let base else { return nil }
    let count = Int(base.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    for index in 1..<max(1, min(count, Manifest.maximumEntries)) {
      let entry = base + Manifest.headerSize + index * Manifest.entrySize
      var length = 0
      while length < Manifest.nameSize - 1, entry.load(fromByteOffset: length, as: UInt8.self) != 0 { length += 1 }
      guard UnsafeRawBufferPointer(start: entry, count: length).elementsEqual(name.utf8) else { continue }
      let mac = MACAddress.read(from: UnsafeRawBufferPointer(start: entry + Manifest.Field.netMAC, count: 6), at: 0)
      return Entry(
        index: index,
        type: entry.loadUnaligned(fromByteOffset: Manifest.Field.type, as: UInt32.self),
        attached: entry.load(fromByteOffset: Manifest.Field.attached, as: UInt8.self) != 0,
        hostDescriptor: entry.loadUnaligned(fromByteOffset: Manifest.Field.hostDescriptor, as: Int32.self),
        macAddress: mac,
        mtu: Int(entry.loadUnaligned(fromByteOffset: Manifest.Field.netMTU, as: UInt16.self)),
        capacity: entry.loadUnaligned(fromByteOffset: Manifest.Field.blockCapacity, as: UInt64.self),
        blockSize: Int(entry.loadUnaligned(fromByteOffset: Manifest.Field.blockSize, as: UInt16.self)))
    }
    return nil
  }

  /// The entry of each device `App` declares, in declaration order, checked: attached, of the
  /// declared kind, a network device's MTU one the stack takes. Nil, with one line on
  /// `errors`, when one is not.
  public func entries<App: Unikernel>(for app: App.Type, errors: any Console) -> [(declared: DeviceDeclaration, entry: Entry)]? {
    var found: [(declared: DeviceDeclaration, entry: Entry)] = []
    for declared in App.devices {
      guard let entry = entry(named: declared.name), entry.attached else {
        errors.print("\(App.name): device '\(declared.name)' is not attached by the tender")
        return nil
      }
      switch declared.kind {
      case .network:
        guard entry.type == Manifest.EntryType.netBasic.rawValue else {
          errors.print("\(App.name): manifest entry '\(declared.name)' is not a network device")
          return nil
        }
        guard entry.mtu >= Link.minimumMTU else {
          errors.print("\(App.name): network device '\(declared.name)' has an MTU of \(entry.mtu): expected at least \(Link.minimumMTU)")
          return nil
        }
      case .block:
        guard entry.type == Manifest.EntryType.blockBasic.rawValue else {
          errors.print("\(App.name): manifest entry '\(declared.name)' is not a block device")
          return nil
        }
      }
      found.append((declared, entry))
    }
    return found
  }
}
