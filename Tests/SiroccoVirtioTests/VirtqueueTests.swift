// The split virtqueue against a device played by the test, which reads the available ring
// and the descriptor table and writes used entries as a device would, or as a broken or
// hostile one would: entries naming descriptors out of range or not given, lengths past the
// buffer, a used index that jumps. Each is refused and counted, and the queue stays whole.

@testable import SiroccoVirtio
import XCTest

/// The device's side of a queue, reading and writing the shared memory.
struct DeviceSide {
  let queue: Virtqueue
  var nextAvailable: UInt16 = 0
  var usedIndex: UInt16 = 0

  /// The chains made available since the last call: each as (head, [(address, length, flags)]).
  mutating func takeAvailable() -> [(head: UInt16, buffers: [(address: UInt64, length: UInt32, flags: UInt16)])] {
    let published = queue.available.load(fromByteOffset: 2, as: UInt16.self)
    var chains: [(UInt16, [(UInt64, UInt32, UInt16)])] = []
    while nextAvailable != published {
      let head = queue.available.load(fromByteOffset: 4 + 2 * Int(nextAvailable % queue.size), as: UInt16.self)
      nextAvailable &+= 1
      var buffers: [(UInt64, UInt32, UInt16)] = []
      var index = head
      while true {
        let entry = queue.descriptors + 16 * Int(index)
        let flags = entry.load(fromByteOffset: 12, as: UInt16.self)
        buffers.append((entry.load(as: UInt64.self), entry.load(fromByteOffset: 8, as: UInt32.self), flags))
        guard flags & 1 != 0 else { break }
        index = entry.load(fromByteOffset: 14, as: UInt16.self)
      }
      chains.append((head, buffers))
    }
    return chains
  }

  /// Writes a used entry (any id and length: the device may lie) and publishes it.
  mutating func use(_ id: UInt32, length: UInt32) {
    let entry = queue.used + 4 + 8 * Int(usedIndex % queue.size)
    entry.storeBytes(of: id, as: UInt32.self)
    entry.storeBytes(of: length, toByteOffset: 4, as: UInt32.self)
    usedIndex &+= 1
    queue.used.storeBytes(of: usedIndex, toByteOffset: 2, as: UInt16.self)
  }

  /// The device's avail_event (EVENT_IDX) and used flags.
  func setAvailableEvent(_ value: UInt16) { queue.used.storeBytes(of: value, toByteOffset: 4 + 8 * Int(queue.size), as: UInt16.self) }
  func setUsedFlags(_ value: UInt16) { queue.used.storeBytes(of: value, as: UInt16.self) }
  var usedEvent: UInt16 { queue.available.load(fromByteOffset: 4 + 2 * Int(queue.size), as: UInt16.self) }
  var availableFlags: UInt16 { queue.available.load(as: UInt16.self) }
}

final class VirtqueueTests: XCTestCase {
  func buffer(_ address: UInt64, _ length: UInt32, writes: Bool) -> Virtqueue.Buffer {
    Virtqueue.Buffer(address: address, length: length, deviceWrites: writes)
  }

  func testChainsReachTheDeviceAndComeBackWithTheirLengths() throws {
    let queue = Virtqueue(size: 8, eventIndex: false)
    var device = DeviceSide(queue: queue)
    XCTAssertEqual(queue.descriptorAddress % 16, 0)
    XCTAssertEqual(queue.usedAddress % 4, 0)
    let request = try XCTUnwrap(queue.add([
      buffer(0x1000, 16, writes: false), buffer(0x2000, 512, writes: true), buffer(0x3000, 1, writes: true),
    ]))
    let receive = try XCTUnwrap(queue.add([buffer(0x4000, 1526, writes: true)]))
    XCTAssertEqual(queue.freeCount, 4)
    let chains = device.takeAvailable()
    XCTAssertEqual(chains.map(\.head), [request, receive])
    XCTAssertEqual(chains[0].buffers.map(\.address), [0x1000, 0x2000, 0x3000])
    XCTAssertEqual(chains[0].buffers.map(\.length), [16, 512, 1])
    XCTAssertEqual(chains[0].buffers.map(\.flags), [1, 3, 2], "NEXT, NEXT|WRITE, WRITE")
    XCTAssertEqual(chains[1].buffers.map(\.flags), [2])
    XCTAssertNil(queue.next(), "nothing used yet")
    device.use(UInt32(receive), length: 60)
    device.use(UInt32(request), length: 513)
    XCTAssertEqual(queue.next(), Virtqueue.Completion(head: receive, length: 60))
    XCTAssertEqual(queue.next(), Virtqueue.Completion(head: request, length: 513))
    XCTAssertNil(queue.next())
    XCTAssertEqual(queue.freeCount, 8)
    XCTAssertEqual(queue.faults.total, 0)
  }

  func testAFullQueueRefusesMoreAndIndicesWrapAround() throws {
    let queue = Virtqueue(size: 4, eventIndex: true)
    var device = DeviceSide(queue: queue)
    XCTAssertNil(queue.add([]))
    for _ in 0..<4 { XCTAssertNotNil(queue.add([buffer(0x1000, 64, writes: true)])) }
    XCTAssertNil(queue.add([buffer(0x1000, 64, writes: true)]), "no descriptor left")
    for chain in device.takeAvailable() { device.use(UInt32(chain.head), length: 64) }
    for _ in 0..<4 { XCTAssertNotNil(queue.next()) }
    // 70,000 round trips: both 16-bit indices wrap.
    for round in 0..<70_000 {
      let head = try XCTUnwrap(queue.add([buffer(UInt64(round), 64, writes: true)]))
      let chains = device.takeAvailable()
      XCTAssertEqual(chains.count, 1)
      device.use(UInt32(chains[0].head), length: UInt32(round % 65))
      XCTAssertEqual(queue.next(), Virtqueue.Completion(head: head, length: UInt32(round % 65)))
    }
    XCTAssertEqual(queue.freeCount, 4)
    XCTAssertEqual(queue.faults.total, 0)
  }

  func testUsedEntriesTheDeviceGotWrongAreRefusedAndCounted() throws {
    let queue = Virtqueue(size: 8, eventIndex: false)
    var device = DeviceSide(queue: queue)
    let first = try XCTUnwrap(queue.add([buffer(0x1000, 100, writes: true)]))
    let second = try XCTUnwrap(queue.add([buffer(0x2000, 16, writes: false), buffer(0x3000, 1, writes: true)]))
    _ = device.takeAvailable()
    device.use(8, length: 10)  // out of range
    device.use(0xffff_ffff, length: 10)
    device.use(UInt32(first == 0 ? 5 : 0), length: 10)  // in range, never given
    device.use(UInt32(first), length: 101)  // one past the buffer
    device.use(UInt32(first), length: 1)  // given back twice
    device.use(UInt32(second), length: 1)  // the status byte: fine
    XCTAssertEqual(queue.next(), Virtqueue.Completion(head: first, length: 0), "its buffers come back, with no data")
    XCTAssertEqual(queue.next(), Virtqueue.Completion(head: second, length: 1))
    XCTAssertNil(queue.next())
    XCTAssertEqual(queue.faults, Virtqueue.Faults(descriptorOutOfRange: 2, notInFlight: 2, lengthPastBuffer: 1, usedIndexJump: 0))
    XCTAssertEqual(queue.freeCount, 8, "every descriptor is free again, none twice")
    // A device-readable chain lets the device write nothing.
    let readOnly = try XCTUnwrap(queue.add([buffer(0x1000, 100, writes: false)]))
    _ = device.takeAvailable()
    device.use(UInt32(readOnly), length: 1)
    XCTAssertEqual(queue.next(), Virtqueue.Completion(head: readOnly, length: 0))
    XCTAssertEqual(queue.faults.lengthPastBuffer, 2)
    // A used index that claims more completions than the queue holds is not believed.
    device.usedIndex &+= 9
    queue.used.storeBytes(of: device.usedIndex, toByteOffset: 2, as: UInt16.self)
    XCTAssertNil(queue.next())
    XCTAssertEqual(queue.faults.usedIndexJump, 1)
    XCTAssertEqual(queue.freeCount, 8)
  }

  func testKickAsksTheDeviceOnlyWhenItWantsToHear() throws {
    let flags = Virtqueue(size: 8, eventIndex: false)
    let flagDevice = DeviceSide(queue: flags)
    XCTAssertFalse(flags.kick(), "nothing added")
    _ = flags.add([buffer(0x1000, 64, writes: true)])
    XCTAssertTrue(flags.kick())
    XCTAssertFalse(flags.kick(), "nothing new since")
    flagDevice.setUsedFlags(1)  // NO_NOTIFY
    _ = flags.add([buffer(0x1000, 64, writes: true)])
    XCTAssertFalse(flags.kick())

    let events = Virtqueue(size: 8, eventIndex: true)
    let eventDevice = DeviceSide(queue: events)
    eventDevice.setAvailableEvent(2)  // wake me when entry 2 is published
    _ = events.add([buffer(0x1000, 64, writes: true)])
    _ = events.add([buffer(0x1000, 64, writes: true)])
    XCTAssertFalse(events.kick(), "index 2 covers entries 0 and 1 only")
    _ = events.add([buffer(0x1000, 64, writes: true)])
    XCTAssertTrue(events.kick(), "entry 2 published")
    _ = events.add([buffer(0x1000, 64, writes: true)])
    XCTAssertFalse(events.kick(), "past the event already")
  }

  func testInterruptsAreAskedForByFlagOrEventIndex() throws {
    let flags = Virtqueue(size: 8, eventIndex: false)
    let flagDevice = DeviceSide(queue: flags)
    flags.interrupts(false)
    XCTAssertEqual(flagDevice.availableFlags, 1)
    flags.interrupts(true)
    XCTAssertEqual(flagDevice.availableFlags, 0)

    let events = Virtqueue(size: 8, eventIndex: true)
    var eventDevice = DeviceSide(queue: events)
    for _ in 0..<3 { _ = events.add([buffer(0x1000, 64, writes: true)]) }
    for chain in eventDevice.takeAvailable() { eventDevice.use(UInt32(chain.head), length: 1) }
    while events.next() != nil {}
    events.interrupts(true)
    XCTAssertEqual(eventDevice.usedEvent, 3, "interrupt when entry 3 is used")
    events.interrupts(false)
    XCTAssertEqual(eventDevice.usedEvent, 3, "left behind")
  }
}
