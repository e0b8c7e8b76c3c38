// The virtio-mmio transport against a device played by the test (its registers as QEMU and
// Firecracker keep them): probing refuses what is not a modern virtio device, start-up
// follows virtio 1.2 3.1.1 step by step, features are agreed or refused, queues are given
// their addresses.

@testable import SiroccoVirtio
import XCTest

/// A virtio-mmio device's registers, with the state a real one keeps.
final class FakeMMIODevice: MMIORegisters {
  var magic: UInt32 = 0x7472_6976
  var version: UInt32 = 2
  var deviceID: UInt32 = 1
  var offered: UInt64 = VirtioFeature.version1 | VirtioFeature.eventIndex | 1 << 5
  /// Clears FEATURES_OK when the driver sets it (a device that refuses the choice).
  var refusesFeatures = false
  var queueSizes: [UInt16] = [256, 256]
  var configuration: [UInt8] = [2, 0, 0, 0, 0, 9]

  var status: UInt32 = 0
  var statusWrites: [UInt32] = []
  var featuresSelect: UInt32 = 0
  var driverSelect: UInt32 = 0
  var accepted: UInt64 = 0
  var queueSelect: UInt32 = 0
  var queues: [UInt32: (size: UInt32, descriptor: UInt64, driver: UInt64, device: UInt64, ready: Bool)] = [:]
  var notified: [UInt32] = []
  var interruptStatus: UInt32 = 0
  /// The device's work when the driver notifies queue N (nil: nothing happens).
  var onNotify: ((UInt32) -> Void)?

  func read32(_ offset: Int) -> UInt32 {
    switch offset {
    case 0x000: magic
    case 0x004: version
    case 0x008: deviceID
    case 0x010: UInt32(truncatingIfNeeded: offered >> (32 * UInt64(featuresSelect)))
    case 0x034: Int(queueSelect) < queueSizes.count ? UInt32(queueSizes[Int(queueSelect)]) : 0
    case 0x060: interruptStatus
    case 0x070: status
    case 0x100...: (0..<4).reduce(0) { $0 | UInt32(read8(offset + $1)) << (8 * $1) }
    default: 0
    }
  }

  func write32(_ offset: Int, _ value: UInt32) {
    func updateQueue(_ change: (inout (size: UInt32, descriptor: UInt64, driver: UInt64, device: UInt64, ready: Bool)) -> Void) {
      var queue = queues[queueSelect] ?? (0, 0, 0, 0, false)
      change(&queue)
      queues[queueSelect] = queue
    }
    switch offset {
    case 0x014: featuresSelect = value
    case 0x020:
      let shift = 32 * UInt64(driverSelect)
      accepted = accepted & ~(0xffff_ffff << shift) | UInt64(value) << shift
    case 0x024: driverSelect = value
    case 0x030: queueSelect = value
    case 0x038: updateQueue { $0.size = value }
    case 0x044: updateQueue { $0.ready = value == 1 }
    case 0x050:
      notified.append(value)
      onNotify?(value)
    case 0x064: interruptStatus &= ~value
    case 0x070:
      statusWrites.append(value)
      status = refusesFeatures ? value & ~VirtioStatus.featuresOK : value
    case 0x080: updateQueue { $0.descriptor = $0.descriptor & ~0xffff_ffff | UInt64(value) }
    case 0x084: updateQueue { $0.descriptor = $0.descriptor & 0xffff_ffff | UInt64(value) << 32 }
    case 0x090: updateQueue { $0.driver = $0.driver & ~0xffff_ffff | UInt64(value) }
    case 0x094: updateQueue { $0.driver = $0.driver & 0xffff_ffff | UInt64(value) << 32 }
    case 0x0a0: updateQueue { $0.device = $0.device & ~0xffff_ffff | UInt64(value) }
    case 0x0a4: updateQueue { $0.device = $0.device & 0xffff_ffff | UInt64(value) << 32 }
    default: break
    }
  }

  func read16(_ offset: Int) -> UInt16 { UInt16(truncatingIfNeeded: read32(offset)) }
  func write16(_ offset: Int, _ value: UInt16) { write32(offset, UInt32(value)) }
  func write8(_ offset: Int, _ value: UInt8) { write32(offset, UInt32(value)) }

  func read8(_ offset: Int) -> UInt8 {
    let index = offset - 0x100
    return index >= 0 && index < configuration.count ? configuration[index] : 0
  }
}

final class VirtioMMIOTests: XCTestCase {
  func testProbingRefusesWhatIsNotAModernVirtioDevice() {
    let device = FakeMMIODevice()
    XCTAssertEqual((try? VirtioMMIO(registers: device))?.deviceID, 1)
    for (change, expected) in [
      ({ (d: FakeMMIODevice) in d.magic = 0xffff_ffff }, VirtioMMIO.ProbeError.notVirtio(magic: 0xffff_ffff)),
      ({ (d: FakeMMIODevice) in d.version = 1 }, .legacy),
      ({ (d: FakeMMIODevice) in d.version = 3 }, .unsupportedVersion(3)),
      ({ (d: FakeMMIODevice) in d.deviceID = 0 }, .noDevice),
    ] {
      let device = FakeMMIODevice()
      change(device)
      XCTAssertThrowsError(try VirtioMMIO(registers: device)) { XCTAssertEqual($0 as? VirtioMMIO.ProbeError, expected) }
    }
    XCTAssertEqual(
      VirtioMMIO.ProbeError.legacy.description,
      "a legacy (version 1) virtio-mmio device: expected version 2 (QEMU: -global virtio-mmio.force-legacy=false)")
  }

  func testStartUpFollowsTheSpecAndAgreesOnFeatures() throws {
    let device = FakeMMIODevice()
    let transport = try VirtioMMIO(registers: device)
    try transport.negotiate(required: 1 << 5, wanted: VirtioFeature.eventIndex | 1 << 0)
    XCTAssertEqual(transport.features, VirtioFeature.version1 | VirtioFeature.eventIndex | 1 << 5, "bit 0 was not offered")
    XCTAssertEqual(device.accepted, transport.features, "both feature words written")
    let queue = Virtqueue(size: 128, eventIndex: true)
    try transport.setUp(queue: queue, at: 1)
    let given = try XCTUnwrap(device.queues[1])
    XCTAssertEqual(given.size, 128)
    XCTAssertEqual(given.descriptor, queue.descriptorAddress)
    XCTAssertEqual(given.driver, queue.availableAddress)
    XCTAssertEqual(given.device, queue.usedAddress)
    XCTAssertTrue(given.ready)
    transport.start()
    XCTAssertEqual(device.statusWrites, [0, 1, 3, 11, 15], "reset, ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK")
    transport.notify(1)
    XCTAssertEqual(device.notified, [1])
    device.interruptStatus = 3
    XCTAssertEqual(transport.acknowledgeInterrupt(), 3)
    XCTAssertEqual(device.interruptStatus, 0)
    XCTAssertEqual(transport.acknowledgeInterrupt(), 0)
    XCTAssertEqual((0..<6).map { transport.configuration8($0) }, [2, 0, 0, 0, 0, 9])
  }

  func testMissingOrRefusedFeaturesFailTheDevice() throws {
    let old = FakeMMIODevice()
    old.offered = VirtioFeature.eventIndex
    XCTAssertThrowsError(try VirtioMMIO(registers: old).negotiate(required: 0, wanted: 0)) {
      XCTAssertEqual($0 as? VirtioStartError, .missingFeatures(VirtioFeature.version1))
    }
    XCTAssertEqual(old.status & VirtioStatus.failed, VirtioStatus.failed)
    let refusing = FakeMMIODevice()
    refusing.refusesFeatures = true
    XCTAssertThrowsError(try VirtioMMIO(registers: refusing).negotiate(required: 0, wanted: 0)) {
      XCTAssertEqual($0 as? VirtioStartError, .featuresRefused)
    }
    XCTAssertEqual(refusing.status & VirtioStatus.failed, VirtioStatus.failed)
  }

  func testQueuesTheDeviceLacksAreRefused() throws {
    let device = FakeMMIODevice()
    device.queueSizes = [64]
    let transport = try VirtioMMIO(registers: device)
    XCTAssertThrowsError(try transport.setUp(queue: Virtqueue(size: 8, eventIndex: false), at: 1)) {
      XCTAssertEqual($0 as? VirtioStartError, .missingQueue(1))
    }
    XCTAssertThrowsError(try transport.setUp(queue: Virtqueue(size: 128, eventIndex: false), at: 0), "larger than the device's") {
      XCTAssertEqual($0 as? VirtioStartError, .queueTooSmall(index: 0, maximum: 64))
    }
    XCTAssertNoThrow(try transport.setUp(queue: Virtqueue(size: 64, eventIndex: false), at: 0))
  }
}
