// The virtio-blk driver against a disk played by the test (FakeMMIODevice's registers, a
// FakeDisk answering each notify through DeviceSide): geometry from the configuration space,
// reads and writes as three-part requests in 512-byte sectors, split at the driver's buffer,
// flush only when offered, read-only devices, and a device that answers wrongly or never:
// every such answer refused and counted, never trusted.

@testable import Sirocco
@testable import SiroccoVirtio
import XCTest

/// A disk behind the fake registers: takes each request chain made available, acts on the
/// medium, writes the status (or `status` when set) and uses the chain.
final class FakeDisk {
  var medium: [UInt8]
  var side: DeviceSide
  var requests: [(type: UInt32, sector: UInt64, length: Int)] = []
  /// The status to answer instead of the real one (nil: 0 for success).
  var status: UInt8?
  /// Leave the status byte as the driver wrote it.
  var writesNoStatus = false
  /// The used length to report instead of the real one.
  var usedLength: UInt32?
  /// Used entries to publish before the real one (a device naming chains never given).
  var strayIDs: [UInt32] = []
  /// Answer nothing (the request stays with the device).
  var silent = false

  init(bytes: Int, queue: Virtqueue) {
    medium = Array(repeating: 0, count: bytes)
    side = DeviceSide(queue: queue)
  }

  func serve() {
    guard !silent else { return }
    let chains = side.takeAvailable()
    // As a device with EVENT_IDX: notify me at the next request.
    side.setAvailableEvent(side.nextAvailable)
    for chain in chains {
      let header = UnsafeRawPointer(bitPattern: UInt(chain.buffers[0].address))!
      let type = header.load(as: UInt32.self)
      let sector = header.load(fromByteOffset: 8, as: UInt64.self)
      let data = chain.buffers.count == 3 ? chain.buffers[1] : nil
      requests.append((type, sector, Int(data?.length ?? 0)))
      if let data {
        let pointer = UnsafeMutableRawPointer(bitPattern: UInt(data.address))!
        for index in 0..<Int(data.length) {
          let position = Int(sector) * 512 + index
          if type == 0 { pointer.storeBytes(of: medium[position], toByteOffset: index, as: UInt8.self) }
          if type == 1 { medium[position] = pointer.load(fromByteOffset: index, as: UInt8.self) }
        }
      }
      let statusBuffer = chain.buffers.last!
      if !writesNoStatus {
        UnsafeMutableRawPointer(bitPattern: UInt(statusBuffer.address))!.storeBytes(of: status ?? 0, as: UInt8.self)
      }
      for id in strayIDs { side.use(id, length: 1) }
      side.use(UInt32(chain.head), length: usedLength ?? ((type == 0 ? data?.length ?? 0 : 0) + 1))
    }
  }
}

final class BlockTests: XCTestCase {
  /// A clock the driver's halts move on by a second each; what the driver asked of the line.
  final class Waits {
    var now: Int64 = 0
    var halts = 0
    var heard: [Bool] = []
    var onHalt: () -> Void = {}
    var waiting: VirtioBlockDevice.Waiting {
      VirtioBlockDevice.Waiting(
        now: { self.now }, halt: { _ in self.halts += 1; self.now += 1_000_000_000; self.onHalt() }, hear: { self.heard.append($0) })
    }
  }

  /// A device of `sectors512` 512-byte sectors offering `features` (and VERSION_1,
  /// EVENT_IDX), its configuration space as 5.2.4 lays it out.
  func start(sectors512: UInt64 = 512, features: UInt64 = 1 << 9, blockSize: UInt32 = 512, sizeMaximum: UInt32 = 0,
             waits: Waits = Waits()) throws -> (VirtioBlockDevice, FakeMMIODevice, FakeDisk) {
    let registers = FakeMMIODevice()
    registers.deviceID = 2
    registers.offered = VirtioFeature.version1 | VirtioFeature.eventIndex | features
    registers.queueSizes = [128]
    var configuration = [UInt8](repeating: 0, count: 24)
    for index in 0..<8 { configuration[index] = UInt8(truncatingIfNeeded: sectors512 >> (8 * UInt64(index))) }
    for index in 0..<4 {
      configuration[8 + index] = UInt8(truncatingIfNeeded: sizeMaximum >> (8 * UInt32(index)))
      configuration[20 + index] = UInt8(truncatingIfNeeded: blockSize >> (8 * UInt32(index)))
    }
    registers.configuration = configuration
    let device = try VirtioBlockDevice(transport: try VirtioMMIO(registers: registers), waiting: waits.waiting, timeout: 5_000_000_000)
    let disk = FakeDisk(bytes: Int(sectors512) * 512, queue: device.queue)
    registers.onNotify = { _ in disk.serve() }
    return (device, registers, disk)
  }

  func testGeometryComesFromTheConfigurationSpace() throws {
    let (plain, registers, _) = try start(sectors512: 1000)
    XCTAssertEqual(plain.sectorSize, 512)
    XCTAssertEqual(plain.capacity, 512_000)
    XCTAssertTrue(plain.flushes)
    XCTAssertFalse(plain.readOnly)
    XCTAssertEqual(plain.queue.size, 8)
    XCTAssertEqual(registers.statusWrites.last, 15, "DRIVER_OK")
    // BLK_SIZE: 4096-byte sectors; the capacity (512-byte units) rounded down to them.
    let (large, _, _) = try start(sectors512: 1001, features: 1 << 6, blockSize: 4096)
    XCTAssertEqual(large.sectorSize, 4096)
    XCTAssertEqual(large.capacity, 1001 * 512 / 4096 * 4096)
    XCTAssertFalse(large.flushes)
    // A block size the interface cannot offer falls back to 512.
    let (odd, _, _) = try start(features: 1 << 6, blockSize: 1000)
    XCTAssertEqual(odd.sectorSize, 512)
    // SIZE_MAX: requests no larger than the device takes, in whole sectors.
    let (small, _, _) = try start(features: 1 << 1, sizeMaximum: 5000)
    XCTAssertEqual(small.transferSize, 4608)
  }

  func testReadsAndWritesAreRequestsInSectorsOf512Bytes() throws {
    let (device, _, disk) = try start(sectors512: 512, features: 1 << 6 | 1 << 9, blockSize: 1024)
    let pattern = (0..<3072).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
    try pattern.withUnsafeBytes { try device.write(sector: 5, from: $0) }
    XCTAssertEqual(Array(disk.medium[5120..<8192]), pattern, "three 1024-byte sectors from byte 5120")
    XCTAssertTrue(device.queue.chains.allSatisfy { $0 == nil }, "nothing left in flight")
    let chain = try XCTUnwrap(disk.requests.last)
    XCTAssertEqual(chain.type, 1)
    XCTAssertEqual(chain.sector, 10, "the header counts 512-byte sectors")
    XCTAssertEqual(chain.length, 3072)
    var back = [UInt8](repeating: 0, count: 3072)
    try back.withUnsafeMutableBytes { try device.read(sector: 5, into: $0) }
    XCTAssertEqual(back, pattern)
    XCTAssertEqual(disk.requests.map(\.type), [1, 0])
    try device.flush()
    XCTAssertEqual(disk.requests.last?.type, 4)
    XCTAssertEqual(disk.requests.last?.length, 0, "a flush carries no data")
    XCTAssertEqual(device.counters, VirtioBlockDevice.Counters())
    // Past the end or a part of a sector: refused before the device sees it.
    XCTAssertThrowsError(try back.withUnsafeMutableBytes { try device.read(sector: 255, into: $0) }) {
      XCTAssertEqual($0 as? BlockError, .outOfRange)
    }
    XCTAssertThrowsError(try back.withUnsafeMutableBytes { try device.read(sector: 0, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<100])) }) {
      XCTAssertEqual($0 as? BlockError, .badLength)
    }
    XCTAssertEqual(disk.requests.count, 3)
  }

  func testLargeRequestsAreSplitAtTheDriversBuffer() throws {
    let (device, _, disk) = try start(sectors512: 512)
    let pattern = (0..<(150 * 1024)).map { UInt8(truncatingIfNeeded: $0 / 3) }
    try pattern.withUnsafeBytes { try device.write(sector: 2, from: $0) }
    XCTAssertEqual(disk.requests.map(\.length), [65536, 65536, 22528])
    XCTAssertEqual(disk.requests.map(\.sector), [2, 130, 258])
    var back = [UInt8](repeating: 0, count: pattern.count)
    try back.withUnsafeMutableBytes { try device.read(sector: 2, into: $0) }
    XCTAssertEqual(back, pattern)
  }

  func testFlushIsSentOnlyWhenOfferedAndReadOnlyDevicesRefuseWrites() throws {
    let (device, _, disk) = try start(features: 1 << 5)
    XCTAssertTrue(device.readOnly)
    try device.flush()
    XCTAssertTrue(disk.requests.isEmpty, "no FLUSH feature: nothing to send")
    XCTAssertThrowsError(try [UInt8](repeating: 1, count: 512).withUnsafeBytes { try device.write(sector: 0, from: $0) }) {
      XCTAssertEqual($0 as? BlockError, .io(VirtioBlockDevice.ErrorNumber.readOnly))
    }
    XCTAssertTrue(disk.requests.isEmpty)
  }

  func testDeviceErrorsAndMalformedAnswersAreRefusedAndCounted() throws {
    let (device, _, disk) = try start()
    var buffer = [UInt8](repeating: 0, count: 512)
    func read() -> BlockError? {
      do {
        try buffer.withUnsafeMutableBytes { try device.read(sector: 0, into: $0) }
        return nil
      } catch { return error as? BlockError }
    }
    disk.status = 1
    XCTAssertEqual(read(), .io(VirtioBlockDevice.ErrorNumber.io))
    disk.status = 2
    XCTAssertEqual(read(), .io(VirtioBlockDevice.ErrorNumber.unsupported))
    XCTAssertEqual(device.counters.errors, 2)
    disk.status = 7
    XCTAssertEqual(read(), .io(VirtioBlockDevice.ErrorNumber.io), "a status the specification has not")
    disk.status = nil
    disk.writesNoStatus = true
    XCTAssertEqual(read(), .io(VirtioBlockDevice.ErrorNumber.io), "no status written")
    disk.writesNoStatus = false
    disk.usedLength = 100_000
    XCTAssertEqual(read(), .io(VirtioBlockDevice.ErrorNumber.io), "a length past the buffers")
    XCTAssertEqual(device.queue.faults.lengthPastBuffer, 1)
    XCTAssertEqual(device.counters.badCompletions, 3)
    disk.usedLength = nil
    // Used entries for chains never given (out of range, and not in flight) are skipped.
    disk.strayIDs = [200, 5]
    XCTAssertNil(read())
    XCTAssertEqual(device.queue.faults.descriptorOutOfRange, 1)
    XCTAssertEqual(device.queue.faults.notInFlight, 1)
    XCTAssertFalse(device.givenUp, "the device answered every request")
  }

  func testTheDriverHaltsWithTheLineHeardUntilTheAnswer() throws {
    let waits = Waits()
    let (device, registers, disk) = try start(waits: waits)
    disk.silent = true
    waits.onHalt = {
      disk.silent = false
      disk.serve()
      registers.interruptStatus = 1
    }
    var buffer = [UInt8](repeating: 0, count: 512)
    try buffer.withUnsafeMutableBytes { try device.read(sector: 1, into: $0) }
    XCTAssertEqual(waits.halts, 1)
    XCTAssertEqual(waits.heard, [true, false], "heard while waiting, then not")
    XCTAssertEqual(registers.interruptStatus, 0, "the interrupt acknowledged: the line is down")
    // An answer already there: no halt, the line never heard.
    try buffer.withUnsafeMutableBytes { try device.read(sector: 1, into: $0) }
    XCTAssertEqual(waits.halts, 1)
    XCTAssertEqual(waits.heard, [true, false])
  }

  func testAnUnansweredRequestTimesOutAndTheDeviceIsGivenUp() throws {
    let waits = Waits()
    let (device, registers, disk) = try start(waits: waits)
    disk.silent = true
    var buffer = [UInt8](repeating: 0, count: 512)
    XCTAssertThrowsError(try buffer.withUnsafeMutableBytes { try device.read(sector: 1, into: $0) }) {
      XCTAssertEqual($0 as? BlockError, .io(VirtioBlockDevice.ErrorNumber.timedOut))
    }
    XCTAssertEqual(waits.halts, 5, "one a second until the 5 s timeout")
    XCTAssertEqual(device.counters.timeouts, 1)
    XCTAssertTrue(device.givenUp)
    XCTAssertEqual(waits.heard.last, false)
    // The device may still write the buffer it holds: no more requests reach it.
    let notified = registers.notified.count
    disk.silent = false
    XCTAssertThrowsError(try buffer.withUnsafeMutableBytes { try device.read(sector: 1, into: $0) }) {
      XCTAssertEqual($0 as? BlockError, .io(VirtioBlockDevice.ErrorNumber.timedOut))
    }
    XCTAssertEqual(registers.notified.count, notified)
  }
}
