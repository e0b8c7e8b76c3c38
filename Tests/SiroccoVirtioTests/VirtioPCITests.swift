// The PCI bus and the virtio-pci transport against a bus and BAR memory played by the test:
// functions found in address order (multi-function devices too), the capability list
// followed to the four structures in 32- and 64-bit BARs, MSI-X entry 0 aimed at the boot
// CPU and switched on, queues set up with their vector and notify offset, and what cannot
// be driven refused by name (another vendor, a missing structure, an I/O or unassigned BAR
// or one above 4 GiB, no MSI-X, a refused vector); a looping capability list ends.

@testable import SiroccoVirtio
import XCTest

/// Configuration space of the functions the test puts on bus 0; all ones elsewhere.
final class FakePCIBus: PCIConfigurationSpace {
  var spaces: [String: [UInt8]] = [:]

  func add(_ address: PCIAddress, vendor: UInt16, device: UInt16, multiFunction: Bool = false) {
    var space = [UInt8](repeating: 0, count: 256)
    space[0] = UInt8(vendor & 0xff)
    space[1] = UInt8(vendor >> 8)
    space[2] = UInt8(device & 0xff)
    space[3] = UInt8(device >> 8)
    space[0x0e] = multiFunction ? 0x80 : 0
    spaces[address.description] = space
  }

  func set32(_ address: PCIAddress, _ offset: Int, _ value: UInt32) {
    for index in 0..<4 { spaces[address.description]![offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
  }

  func set8(_ address: PCIAddress, _ offset: Int, _ value: UInt8) { spaces[address.description]![offset] = value }

  func read32(_ function: PCIAddress, _ offset: UInt8) -> UInt32 {
    guard let space = spaces[function.description] else { return 0xffff_ffff }
    return (0..<4).reduce(0) { $0 | UInt32(space[Int(offset) + $1]) << (8 * UInt32($1)) }
  }

  func write32(_ function: PCIAddress, _ offset: UInt8, _ value: UInt32) { set32(function, Int(offset), value) }
}

/// A BAR's memory: reads give back what was written (or `overrides`); writes are recorded.
final class FakeMemory: MMIORegisters {
  var bytes = [UInt8](repeating: 0, count: 0x4000)
  var writes: [(offset: Int, width: Int, value: UInt32)] = []
  var overrides: [Int: UInt32] = [:]

  func load(_ offset: Int, _ width: Int) -> UInt32 {
    if let value = overrides[offset] { return value }
    return (0..<width).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
  }

  func store(_ offset: Int, _ width: Int, _ value: UInt32) {
    writes.append((offset, width, value))
    for index in 0..<width { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
  }

  func read32(_ offset: Int) -> UInt32 { load(offset, 4) }
  func write32(_ offset: Int, _ value: UInt32) { store(offset, 4, value) }
  func read16(_ offset: Int) -> UInt16 { UInt16(load(offset, 2)) }
  func write16(_ offset: Int, _ value: UInt16) { store(offset, 2, UInt32(value)) }
  func read8(_ offset: Int) -> UInt8 { UInt8(load(offset, 1)) }
  func write8(_ offset: Int, _ value: UInt8) { store(offset, 1, UInt32(value)) }
}

final class VirtioPCITests: XCTestCase {
  let slot = PCIAddress(bus: 0, device: 3, function: 0)
  /// BAR 4 (64-bit) holds the four structures, BAR 1 the MSI-X table.
  let structures: UInt64 = 0xfe00_0000
  let table: UInt64 = 0xfebd_1000

  /// A virtio device at 00:03.0 as QEMU lays it out: capabilities at 0x40 (MSI-X), then
  /// common, ISR, device and notify (multiplier 4) at 0x50-0x80.
  func device(id: UInt16 = 0x1041, _ change: (FakePCIBus) -> Void = { _ in }) -> FakePCIBus {
    let bus = FakePCIBus()
    bus.add(slot, vendor: 0x1af4, device: id)
    bus.set32(slot, 0x04, 0x0010_0000)  // status: capability list
    bus.set32(slot, 0x14, UInt32(table - 0x1000))  // BAR 1, 32-bit memory
    bus.set32(slot, 0x20, UInt32(structures) | 0x4 | 0x8)  // BAR 4, 64-bit prefetchable
    bus.set32(slot, 0x24, 0)
    bus.set8(slot, 0x34, 0x40)
    bus.set32(slot, 0x40, 0x0002_5011)  // MSI-X, next 0x50, table size 3
    bus.set32(slot, 0x44, 0x1001)  // table in BAR 1 at 0x1000
    for (at, type, offset, next) in [(0x50, 1, 0x0000, 0x60), (0x60, 3, 0x1000, 0x70), (0x70, 4, 0x2000, 0x80), (0x80, 2, 0x3000, 0)] {
      bus.set32(slot, at, UInt32(0x09 | next << 8 | 20 << 16 | type << 24))
      bus.set32(slot, at + 4, 4)  // BAR 4
      bus.set32(slot, at + 8, UInt32(offset))
      bus.set32(slot, at + 12, 0x1000)
    }
    bus.set32(slot, 0x90, 4)  // notify_off_multiplier
    change(bus)
    return bus
  }

  /// The BARs' memory: a FakeMemory at each address the transport asks for.
  final class FakeSpace: MMIOSpace {
    var regions: [UInt64: FakeMemory] = [:]
    func registers(at address: UInt64) -> any MMIORegisters {
      if let existing = regions[address] { return existing }
      let made = FakeMemory()
      regions[address] = made
      return made
    }
  }
  let space = FakeSpace()
  var memory: [UInt64: FakeMemory] { space.regions }

  func probe(_ bus: FakePCIBus) throws -> VirtioPCI {
    let function = try XCTUnwrap(PCI.functions(on: bus).first { $0.address == slot })
    return try VirtioPCI(space: bus, function: function, vector: 33, memory: space)
  }

  func testFunctionsAreFoundInAddressOrder() {
    let bus = FakePCIBus()
    bus.add(PCIAddress(bus: 0, device: 0x1f, function: 0), vendor: 0x8086, device: 0x2918)
    bus.add(PCIAddress(bus: 0, device: 2, function: 0), vendor: 0x1af4, device: 0x1042, multiFunction: true)
    bus.add(PCIAddress(bus: 0, device: 2, function: 3), vendor: 0x1af4, device: 0x1041)
    bus.add(PCIAddress(bus: 0, device: 1, function: 0), vendor: 0x1af4, device: 0x1000)
    bus.add(PCIAddress(bus: 0, device: 1, function: 2), vendor: 0x1af4, device: 0x1000)  // not multi-function: unseen
    bus.add(PCIAddress(bus: 0, device: 0, function: 0), vendor: 0x8086, device: 0x29c0)
    XCTAssertEqual(PCI.functions(on: bus).map(\.address.description), ["00:00.0", "00:01.0", "00:02.0", "00:02.3", "00:1f.0"])
    XCTAssertEqual(PCI.functions(on: bus).map(\.deviceID), [0x29c0, 0x1000, 0x1042, 0x1041, 0x2918])
  }

  func testTheStructuresAreFoundAndMSIXIsAimedAtTheBootCPU() throws {
    let bus = device()
    let transport = try probe(bus)
    XCTAssertEqual(transport.deviceID, 1)
    XCTAssertEqual(bus.read32(slot, 0x04) & 0x6, 0x6, "memory decoding and bus mastering on")
    XCTAssertEqual(bus.read32(slot, 0x40) >> 30, 0b10, "MSI-X enabled, the function's mask off")
    let entry = try XCTUnwrap(memory[table])
    XCTAssertEqual([0, 4, 8, 12].map { entry.read32($0) }, [0xfee0_0000, 0, 33, 0], "the boot CPU's APIC, vector 33, unmasked")
    // The common configuration at BAR 4 + 0: features, a queue, DRIVER_OK.
    let common = try XCTUnwrap(memory[structures])
    common.overrides[4] = 0x2000_0001  // device_feature, both words: EVENT_IDX (29) and VERSION_1 (32)
    common.overrides[24] = 256  // queue_size
    common.overrides[30] = 3  // queue_notify_off
    try transport.negotiate(required: 0, wanted: VirtioFeature.eventIndex)
    let queue = Virtqueue(size: 128, eventIndex: true)
    try transport.setUp(queue: queue, at: 1)
    XCTAssertEqual(common.read16(22), 1, "queue 1 selected")
    XCTAssertTrue(common.writes.contains { $0.offset == 24 && $0.width == 2 && $0.value == 128 }, "queue_size written")
    XCTAssertEqual(UInt64(common.read32(32)) | UInt64(common.read32(36)) << 32, queue.descriptorAddress)
    XCTAssertEqual(UInt64(common.read32(40)) | UInt64(common.read32(44)) << 32, queue.availableAddress)
    XCTAssertEqual(UInt64(common.read32(48)) | UInt64(common.read32(52)) << 32, queue.usedAddress)
    XCTAssertEqual(common.read16(16), 0xffff, "no vector for configuration changes")
    XCTAssertEqual(common.read16(26), 0, "the queue's vector: entry 0")
    XCTAssertEqual(common.read16(28), 1, "queue enabled")
    transport.notify(1)
    let notify = try XCTUnwrap(memory[structures + 0x3000])
    XCTAssertEqual(notify.writes.last?.offset, 12, "notify_off 3 × multiplier 4")
    XCTAssertEqual(notify.writes.last?.width, 2)
    XCTAssertEqual(notify.writes.last?.value, 1)
    let configuration = try XCTUnwrap(memory[structures + 0x2000])
    configuration.bytes[0...5] = [2, 0, 0, 0, 0, 7]
    XCTAssertEqual((0..<6).map { transport.configuration8($0) }, [2, 0, 0, 0, 0, 7])
    XCTAssertNil(transport.acknowledgeInterrupt(), "MSI-X needs no acknowledging")
  }

  func testNegotiationWritesBothFeatureWordsAndTheStatusSteps() throws {
    let bus = device()
    let transport = try probe(bus)
    let common = try XCTUnwrap(memory[structures])
    common.overrides[4] = 0x2000_0001  // both words: bits 0 and 29, and 32 (VERSION_1) and 61
    try transport.negotiate(required: 0, wanted: VirtioFeature.eventIndex)
    XCTAssertEqual(transport.features, VirtioFeature.version1 | VirtioFeature.eventIndex)
    let statuses = common.writes.filter { $0.offset == 20 }.map(\.value)
    XCTAssertEqual(statuses, [0, 1, 3, 11], "reset, ACKNOWLEDGE, DRIVER, FEATURES_OK (one byte each)")
    XCTAssertTrue(common.writes.filter { $0.offset == 20 }.allSatisfy { $0.width == 1 })
    let driverWords = common.writes.filter { $0.offset == 12 }.map(\.value)
    XCTAssertEqual(driverWords, [0x2000_0000, 1])
    transport.start()
    XCTAssertEqual(common.writes.last?.value, 15, "DRIVER_OK")
  }

  func testATransitionalDeviceTakesItsTypeFromTheSubsystemID() throws {
    let bus = device(id: 0x1001) { $0.set32(self.slot, 0x2c, 0x0002_1af4) }
    XCTAssertEqual(try probe(bus).deviceID, 2)
  }

  func testWhatCannotBeDrivenIsRefusedByName() throws {
    func refusal(_ bus: FakePCIBus) -> VirtioPCI.ProbeError? {
      do {
        _ = try probe(bus)
        return nil
      } catch { return error as? VirtioPCI.ProbeError }
    }
    XCTAssertEqual(refusal(device(id: 0x1100)), .notVirtio)
    let other = FakePCIBus()
    other.add(slot, vendor: 0x8086, device: 0x1041)
    XCTAssertEqual(refusal(other), .notVirtio)
    XCTAssertEqual(refusal(device { $0.set32(self.slot, 0x50, 0x09 | 0x60 << 8 | 20 << 16 | 8 << 24) }),
                   .missingStructure("common configuration"), "its cfg_type changed to shared memory")
    XCTAssertEqual(refusal(device { $0.set32(self.slot, 0x20, 0xc001) }), .unusableBAR(4), "an I/O BAR")
    XCTAssertEqual(refusal(device { $0.set32(self.slot, 0x20, 0x4 | 0x8) }), .unusableBAR(4), "unassigned")
    XCTAssertEqual(refusal(device { $0.set32(self.slot, 0x24, 1) }), .unusableBAR(4), "above 4 GiB")
    XCTAssertEqual(refusal(device { $0.set8(self.slot, 0x34, 0x50) }), .noMSIX, "the list starts past MSI-X")
    XCTAssertEqual(VirtioPCI.ProbeError.noMSIX.description, "no MSI-X capability: expected one (QEMU's virtio-*-pci have it unless vectors=0)")
    // A list that loops back on itself ends; what it held is still found.
    XCTAssertNil(refusal(device { $0.set32(self.slot, 0x80, 0x09 | 0x40 << 8 | 20 << 16 | 2 << 24) }))
  }

  func testARefusedVectorFailsTheQueue() throws {
    let transport = try probe(device())
    let common = try XCTUnwrap(memory[structures])
    common.overrides[24] = 256
    common.overrides[26] = 0xffff
    XCTAssertThrowsError(try transport.setUp(queue: Virtqueue(size: 64, eventIndex: false), at: 0)) {
      XCTAssertEqual($0 as? VirtioStartError, .vectorRefused(queue: 0))
    }
  }
}
