// What a virtio device driver needs of its transport (virtio 1.2, 4): the status, the
// feature words, the queues' set-up, notifications, interrupts and the configuration space,
// whether the device sits behind virtio-mmio registers (VirtioMMIO) or on the PCI bus
// (VirtioPCI). The start-up every device goes through (3.1.1) is written once, here, over
// those: reset, ACKNOWLEDGE, DRIVER, features agreed (FEATURES_OK read back), queues,
// DRIVER_OK.
//
// Read first: virtio 1.2 3.1.1 (the driver's steps), 2.1 (status bits), 6 (VERSION_1).

import Sirocco

/// Register reads and writes of one device region: the machine's memory-mapped I/O, or a
/// device played by a test. Every access has the width the register has.
public protocol MMIORegisters: AnyObject {
  func read32(_ offset: Int) -> UInt32
  func write32(_ offset: Int, _ value: UInt32)
  func read16(_ offset: Int) -> UInt16
  func write16(_ offset: Int, _ value: UInt16)
  func read8(_ offset: Int) -> UInt8
  func write8(_ offset: Int, _ value: UInt8)
}

extension MMIORegisters {
  /// A 64-bit field as both transports take one (a queue's addresses): the low half at
  /// `offset`, then the high half after it.
  public func write64(_ offset: Int, _ value: UInt64) {
    write32(offset, UInt32(truncatingIfNeeded: value))
    write32(offset + 4, UInt32(truncatingIfNeeded: value >> 32))
  }
}

public enum VirtioStatus {
  public static let acknowledge: UInt32 = 1
  public static let driver: UInt32 = 2
  public static let driverOK: UInt32 = 4
  public static let featuresOK: UInt32 = 8
  public static let needsReset: UInt32 = 64
  public static let failed: UInt32 = 128
}

/// Feature bits every device type shares (virtio 1.2, 6).
public enum VirtioFeature {
  public static let eventIndex: UInt64 = 1 << 29
  public static let version1: UInt64 = 1 << 32
}

/// Why a device could not be started.
public enum VirtioStartError: Error, Equatable, CustomStringConvertible {
  /// The device lacks features the driver cannot do without.
  case missingFeatures(UInt64)
  /// The device cleared FEATURES_OK: it refused the features the driver chose.
  case featuresRefused
  /// A queue the driver needs is absent (size 0).
  case missingQueue(UInt16)
  /// A queue is smaller than the driver's.
  case queueTooSmall(index: UInt16, maximum: UInt16)
  /// The device refused the interrupt vector given to a queue (virtio-pci with MSI-X).
  case vectorRefused(queue: UInt16)

  public var description: String {
    // Text, not String, interpolation: the drivers' messages cost the image little.
    let text: Text =
      switch self {
      case .missingFeatures(let features): "the device lacks required features 0x\(Hex(features))"
      case .featuresRefused: "the device refused the features the driver chose (FEATURES_OK cleared)"
      case .missingQueue(let index): "the device has no queue \(index)"
      case .queueTooSmall(let index, let maximum): "the device's queue \(index) holds at most \(maximum) entries"
      case .vectorRefused(let queue): "the device refused an MSI-X vector for queue \(queue)"
      }
    return String(text)
  }
}

/// A number in hexadecimal, in a `Text` interpolation.
struct Hex: TextConvertible {
  let value: UInt64
  init(_ value: some FixedWidthInteger & UnsignedInteger) { self.value = UInt64(value) }
  func write(to text: inout Text) { text.append(hexadecimal: value) }
}

public protocol VirtioTransport: AnyObject {
  /// The device type (1 network, 2 block, ...).
  var deviceID: UInt32 { get }
  /// The features both sides agreed on, once `negotiate` has run.
  var features: UInt64 { get set }
  var status: UInt32 { get }
  func setStatus(_ status: UInt32)
  /// Feature bits 32 × `word` and up that the device offers.
  func deviceFeatures(word: Int) -> UInt32
  func setDriverFeatures(word: Int, _ value: UInt32)
  /// The largest size queue `index` takes (0: no such queue).
  func maximumQueueSize(_ index: UInt16) -> UInt16
  /// Gives the device queue `index`: its size and the addresses of its three parts.
  func setUp(queue: Virtqueue, at index: UInt16) throws(VirtioStartError)
  /// Tells the device something was added to queue `index`.
  func notify(_ index: UInt16)
  /// Reads and acknowledges the interrupt status (bit 0 a used buffer, bit 1 configuration);
  /// nil where interrupts need no acknowledging (MSI-X) and nothing was read.
  func acknowledgeInterrupt() -> UInt32?
  /// A byte of the device's configuration space.
  func configuration8(_ offset: Int) -> UInt8
  /// A little-endian 32-bit field of the configuration space.
  func configuration32(_ offset: Int) -> UInt32
}

extension VirtioTransport {
  /// Resets the device, says a driver is here, and agrees on features: those of `wanted`
  /// the device offers, which must include `required` (VERSION_1 always); a wanted feature
  /// whose `dependencies` entry names features not agreed is left out (GUEST_TSO4 needs
  /// GUEST_CSUM, say).
  public func negotiate(required: UInt64, wanted: UInt64, dependencies: [(feature: UInt64, needs: UInt64)] = [])
    throws(VirtioStartError)
  {
    setStatus(0)
    setStatus(VirtioStatus.acknowledge)
    setStatus(VirtioStatus.acknowledge | VirtioStatus.driver)
    let offered = UInt64(deviceFeatures(word: 0)) | UInt64(deviceFeatures(word: 1)) << 32
    let needed = required | VirtioFeature.version1
    guard offered & needed == needed else {
      fail()
      throw .missingFeatures(needed & ~offered)
    }
    features = offered & (wanted | needed)
    for (feature, needs) in dependencies where features & needs != needs { features &= ~feature }
    setDriverFeatures(word: 0, UInt32(truncatingIfNeeded: features))
    setDriverFeatures(word: 1, UInt32(truncatingIfNeeded: features >> 32))
    setStatus(VirtioStatus.acknowledge | VirtioStatus.driver | VirtioStatus.featuresOK)
    guard status & VirtioStatus.featuresOK != 0 else {
      fail()
      throw .featuresRefused
    }
  }

  /// Tells the device the driver is ready: it may use the queues now.
  public func start() {
    setStatus(VirtioStatus.acknowledge | VirtioStatus.driver | VirtioStatus.featuresOK | VirtioStatus.driverOK)
  }

  func fail() { setStatus(status | VirtioStatus.failed) }

  /// What every transport's `setUp` checks first: queue `index` exists and takes `queue`.
  func check(_ queue: Virtqueue, fitsAt index: UInt16) throws(VirtioStartError) {
    let maximum = maximumQueueSize(index)
    guard maximum > 0 else { throw .missingQueue(index) }
    guard queue.size <= maximum else { throw .queueTooSmall(index: index, maximum: maximum) }
  }
}
