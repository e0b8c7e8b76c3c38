// The virtio-net driver against a device played by the test (FakeMMIODevice's registers,
// DeviceSide's view of each queue): start-up, frames received into the driver's buffers
// and lent on, coalesced frames gathered from several buffers, runts, lengths past the
// buffer and malformed buffer counts dropped and counted, frames sent behind the header
// with or without offload work, and a full queue refused.

@testable import Sirocco
@testable import SiroccoVirtio
import XCTest

final class NetTests: XCTestCase {
  let mac = MACAddress(2, 0, 0, 0, 0, 9)

  func start(_ configure: (FakeMMIODevice) -> Void = { _ in }) throws -> (VirtioNetworkDevice, FakeMMIODevice) {
    let registers = FakeMMIODevice()
    registers.offered = VirtioFeature.version1 | VirtioFeature.eventIndex | 1 << 5 | 1 << 0 | 1 << 1 | 1 << 11 | 1 << 12
    registers.queueSizes = [16, 16]
    configure(registers)
    let device = try VirtioNetworkDevice(transport: try VirtioMMIO(registers: registers), fallbackMAC: MACAddress(2, 9, 9, 9, 9, 9))
    return (device, registers)
  }

  /// Writes `frame` behind a header into the buffer of `chain` and uses it, `length`
  /// overriding the length the device reports.
  func deliver(_ frame: [UInt8], into chain: (head: UInt16, buffers: [(address: UInt64, length: UInt32, flags: UInt16)]),
               device: inout DeviceSide, flags: UInt8 = 0, length: UInt32? = nil)
  {
    let buffer = UnsafeMutableRawPointer(bitPattern: UInt(chain.buffers[0].address))!
    buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 12)
    buffer.storeBytes(of: flags, as: UInt8.self)
    for (index, byte) in frame.enumerated() { buffer.storeBytes(of: byte, toByteOffset: 12 + index, as: UInt8.self) }
    device.use(UInt32(chain.head), length: length ?? UInt32(12 + frame.count))
  }

  func testStartUpTakesTheMACAndGivesEveryReceiveBuffer() throws {
    let (net, registers) = try start()
    XCTAssertEqual(net.macAddress, mac)
    XCTAssertEqual(net.mtu, 1500)
    XCTAssertEqual(net.offloads, [.transmitChecksum, .tcpSegmentation])
    XCTAssertEqual(registers.statusWrites.last, 15, "DRIVER_OK")
    var receive = DeviceSide(queue: net.receiveQueue)
    let chains = receive.takeAvailable()
    XCTAssertEqual(chains.count, 16)
    XCTAssertTrue(chains.allSatisfy { $0.buffers.count == 1 && $0.buffers[0].length == 2048 && $0.buffers[0].flags == 2 })
    XCTAssertEqual(Set(chains.map { $0.buffers[0].address }).count, 16, "a buffer each")
    // Without the MAC feature, the fallback; without CSUM, no offloads.
    let (plain, _) = try start { $0.offered = VirtioFeature.version1 }
    XCTAssertEqual(plain.macAddress, MACAddress(2, 9, 9, 9, 9, 9))
    XCTAssertEqual(plain.offloads, [])
  }

  func testFramesAreLentOnAndTheirBuffersGivenBack() throws {
    let (net, _) = try start()
    var receive = DeviceSide(queue: net.receiveQueue)
    let chains = receive.takeAvailable()
    let frame = (0..<60).map { UInt8($0) }
    deliver(frame, into: chains[3], device: &receive, flags: 2)  // DATA_VALID
    var got: [([UInt8], Bool)] = []
    XCTAssertTrue(net.receive(offloaded: { got.append((Array($0), $1)) }))
    XCTAssertEqual(got.map(\.0), [frame])
    XCTAssertEqual(got.map(\.1), [true])
    XCTAssertFalse(net.receive { _ in XCTFail("nothing more") })
    let again = receive.takeAvailable()
    XCTAssertEqual(again.map { $0.buffers[0].address }, [chains[3].buffers[0].address], "the same buffer, lent again")
  }

  /// A burst of frames costs one interrupt status read (a VM exit on virtio-mmio), when the
  /// queue runs dry, not one per frame; frames and notifications are counted as written.
  func testTheInterruptIsAcknowledgedOncePerBatchAndExchangesAreCounted() throws {
    let (net, registers) = try start()
    var receive = DeviceSide(queue: net.receiveQueue)
    let chains = receive.takeAvailable()
    let notifiedAtStart = registers.notified.count
    XCTAssertEqual(net.counters.notifications, UInt64(notifiedAtStart))
    for index in 0..<3 { deliver(Array(repeating: UInt8(index), count: 60), into: chains[index], device: &receive) }
    registers.interruptStatus = 1
    for _ in 0..<3 { XCTAssertTrue(net.receive { _ in }) }
    XCTAssertEqual(registers.interruptStatus, 1, "not acknowledged while frames wait")
    XCTAssertEqual(net.counters.interruptStatusReads, 0)
    XCTAssertFalse(net.receive { _ in })
    XCTAssertEqual(registers.interruptStatus, 0, "acknowledged once the queue ran dry")
    XCTAssertEqual(net.counters.interruptStatusReads, 1)
    XCTAssertEqual(net.counters.receivedFrames, 3)
    XCTAssertTrue(net.transmit(length: 60) { _ in })
    XCTAssertEqual(net.counters.transmittedFrames, 1)
    XCTAssertGreaterThan(registers.notified.count, notifiedAtStart)
    XCTAssertEqual(net.counters.notifications, UInt64(registers.notified.count), "each notification written counted")
  }

  func testRuntsAndLengthsPastTheBufferAreDroppedAndCounted() throws {
    let (net, _) = try start()
    var receive = DeviceSide(queue: net.receiveQueue)
    let chains = receive.takeAvailable()
    deliver([1, 2, 3], into: chains[0], device: &receive)  // a header and 3 bytes
    deliver(Array(repeating: 7, count: 60), into: chains[1], device: &receive, length: 4096)  // past the 2048 bytes
    deliver(Array(repeating: 9, count: 60), into: chains[2], device: &receive)
    var got: [[UInt8]] = []
    XCTAssertTrue(net.receive { got.append(Array($0)) })
    XCTAssertEqual(got, [Array(repeating: 9, count: 60)])
    XCTAssertEqual(net.counters.runtFrames, 2)
    XCTAssertEqual(net.receiveQueue.faults.lengthPastBuffer, 1)
    XCTAssertEqual(receive.takeAvailable().count, 3, "every buffer back with the device")
  }

  /// With MRG_RXBUF, GUEST_TSO4/6 and GUEST_CSUM the device may coalesce TCP segments over
  /// several buffers: the driver copies them into one frame for the stack; a frame said to
  /// span no buffers or more than the queue holds, or whose later buffers never came, is
  /// dropped and counted, and every buffer goes back to the device.
  func testCoalescedFramesOverSeveralBuffersAreGatheredWhole() throws {
    let (net, registers) = try start {
      $0.offered = VirtioFeature.version1 | VirtioFeature.eventIndex | 1 << 5 | 1 << 0 | 1 << 1 | 1 << 11 | 1 << 12 | 1 << 7 | 1 << 8 | 1 << 15
    }
    XCTAssertEqual(registers.accepted & (1 << 7 | 1 << 8 | 1 << 15), 1 << 7 | 1 << 8 | 1 << 15)
    XCTAssertTrue(net.offloads.contains(.receiveCoalesced))
    var receive = DeviceSide(queue: net.receiveQueue)
    let chains = receive.takeAvailable()
    func fill(_ chain: Int, header numBuffers: UInt16?, bytes: [UInt8]) {
      var at = UnsafeMutableRawPointer(bitPattern: UInt(chains[chain].buffers[0].address))!
      if let numBuffers {
        at.initializeMemory(as: UInt8.self, repeating: 0, count: 12)
        at.storeBytes(of: 2 as UInt8, as: UInt8.self)  // DATA_VALID
        at.storeBytes(of: numBuffers, toByteOffset: 10, as: UInt16.self)
        at += 12
      }
      for (index, byte) in bytes.enumerated() { at.storeBytes(of: byte, toByteOffset: index, as: UInt8.self) }
      receive.use(UInt32(chains[chain].head), length: UInt32((numBuffers == nil ? 0 : 12) + bytes.count))
    }
    let whole = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 13) }
    fill(0, header: 3, bytes: Array(whole[0..<2036]))
    fill(1, header: nil, bytes: Array(whole[2036..<4084]))
    fill(2, header: nil, bytes: Array(whole[4084...]))
    var got: [([UInt8], Bool)] = []
    XCTAssertTrue(net.receive(offloaded: { got.append((Array($0), $1)) }))
    XCTAssertEqual(got.map(\.0), [whole], "one frame of 5000 bytes from three buffers")
    XCTAssertEqual(got.map(\.1), [true])
    XCTAssertEqual(receive.takeAvailable().count, 3, "the three buffers back with the device")
    // No buffers, more than the queue, and a frame whose second buffer never came.
    fill(3, header: 0, bytes: Array(repeating: 1, count: 60))
    fill(4, header: 17, bytes: Array(repeating: 2, count: 60))
    fill(5, header: 2, bytes: Array(repeating: 3, count: 60))
    XCTAssertFalse(net.receive { _ in XCTFail("nothing whole to lend") })
    XCTAssertEqual(net.counters.malformedFrames, 2)
    XCTAssertEqual(net.counters.incompleteFrames, 1)
    XCTAssertEqual(receive.takeAvailable().count, 3)
    // GUEST_TSO without MRG_RXBUF is not taken: each buffer would need 64 KiB.
    let (plain, plainRegisters) = try start { $0.offered = VirtioFeature.version1 | 1 << 1 | 1 << 7 | 1 << 8 }
    XCTAssertEqual(plainRegisters.accepted & (1 << 7 | 1 << 8), 0)
    XCTAssertFalse(plain.offloads.contains(.receiveCoalesced))
  }

  func testFramesLeaveBehindTheHeaderAndAFullQueueRefusesMore() throws {
    let (net, registers) = try start()
    var transmit = DeviceSide(queue: net.transmitQueue)
    XCTAssertTrue(net.transmit(length: 60) { frame in for index in 0..<frame.count { frame[index] = UInt8(index) } })
    let offload = TransmitOffload(checksumStart: 34, checksumOffset: 16, headerLength: 66, segmentSize: 1448)
    XCTAssertTrue(net.transmit(length: 3000, offload: offload) { frame in frame[0] = 0xff })
    let chains = transmit.takeAvailable()
    XCTAssertEqual(chains.map { $0.buffers.map(\.length) }, [[72], [3012]])
    XCTAssertEqual(chains.map { $0.buffers[0].flags }, [0, 0], "the device reads them")
    let first = UnsafeRawPointer(bitPattern: UInt(chains[0].buffers[0].address))!
    XCTAssertEqual((0..<12).map { first.load(fromByteOffset: $0, as: UInt8.self) }, Array(repeating: 0, count: 12))
    XCTAssertEqual((12..<72).map { first.load(fromByteOffset: $0, as: UInt8.self) }, (0..<60).map { UInt8($0) })
    let second = UnsafeRawPointer(bitPattern: UInt(chains[1].buffers[0].address))!
    XCTAssertEqual((0..<12).map { second.load(fromByteOffset: $0, as: UInt8.self) },
                   [1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0], "NEEDS_CSUM, TCPv4, 66, 1448, 34, 16, num_buffers 0")
    XCTAssertFalse(registers.notified.isEmpty, "the device was told")
    // 14 more fill the 16 buffers; the 17th is refused until the device gives some back.
    for _ in 0..<14 { XCTAssertTrue(net.transmit(length: 60) { _ in }) }
    XCTAssertFalse(net.transmit(length: 60) { _ in })
    XCTAssertEqual(net.counters.transmitQueueFull, 1)
    for chain in chains + transmit.takeAvailable() { transmit.use(UInt32(chain.head), length: 0) }
    XCTAssertTrue(net.transmit(length: 60) { _ in }, "room again")
  }
}
