// The fault-injecting wrapper device: loss, duplication and reordering, each way; delay.

import SiroccoDevices
import SiroccoWire
import XCTest

final class FaultInjectorTests: XCTestCase {
  func device(_ configuration: FaultInjector<MemoryNetworkDevice>.Configuration)
    -> (FaultInjector<MemoryNetworkDevice>, MemoryNetworkDevice)
  {
    let inner = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 1))
    return (FaultInjector(inner, configuration: configuration), inner)
  }

  func received(_ device: FaultInjector<MemoryNetworkDevice>) -> [[UInt8]] {
    var frames: [[UInt8]] = []
    while device.receive({ frames.append([UInt8]($0)) }) {}
    return frames
  }

  func send(_ device: FaultInjector<MemoryNetworkDevice>, _ frames: [[UInt8]]) {
    for frame in frames {
      XCTAssertTrue(device.transmit(length: frame.count) { buffer in frame.withUnsafeBytes { buffer.copyMemory(from: $0) } })
    }
  }

  let frames: [[UInt8]] = (0..<10).map { [UInt8](repeating: UInt8($0), count: 60) }

  func testNoFaultsPassEverythingInOrder() {
    let (faulty, inner) = device(.init())
    for frame in frames { inner.inject(frame) }
    XCTAssertEqual(received(faulty), frames)
    send(faulty, frames)
    XCTAssertEqual(inner.takeTransmitted(), frames)
  }

  func testLossEveryFrame() {
    let (faulty, inner) = device(.init(lossPerMille: 1000))
    for frame in frames { inner.inject(frame) }
    XCTAssertEqual(received(faulty), [])
    send(faulty, frames)
    XCTAssertEqual(inner.takeTransmitted(), [])
    XCTAssertEqual(faulty.lost, 20)
  }

  func testDuplicateEveryFrame() {
    let (faulty, inner) = device(.init(duplicatePerMille: 1000))
    for frame in frames { inner.inject(frame) }
    XCTAssertEqual(received(faulty), frames.flatMap { [$0, $0] })
    send(faulty, frames)
    XCTAssertEqual(inner.takeTransmitted(), frames.flatMap { [$0, $0] })
  }

  /// Reordering holds a frame back behind the next one: same frames, another order.
  func testReorderingKeepsEveryFrame() {
    let (faulty, inner) = device(.init(reorderPerMille: 500))
    for frame in frames { inner.inject(frame) }
    let got = received(faulty)
    XCTAssertEqual(got.count, frames.count)
    XCTAssertEqual(Set(got.map { $0[0] }), Set(frames.map { $0[0] }))
    XCTAssertNotEqual(got, frames)
    XCTAssertGreaterThan(faulty.reordered, 0)
  }

  final class ManualClock: MonotonicClock {
    var time = Instant(nanoseconds: 5_000_000_000)
    func now() -> Instant { time }
  }

  /// Sent frames wait out the delay, in order, and leave on the next receive or transmit
  /// once due; the loop learns when from `nextDue`. More than the limit are lost.
  func testDelayHoldsSentFramesUntilDue() {
    let clock = ManualClock()
    let inner = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 1))
    var configuration = FaultInjector<MemoryNetworkDevice>.Configuration(delay: .milliseconds(10))
    configuration.delayLimit = 8
    let faulty = FaultInjector(inner, configuration: configuration, clock: clock)
    send(faulty, Array(frames[0..<3]))
    XCTAssertEqual(inner.takeTransmitted(), [])
    XCTAssertEqual(faulty.nextDue, Instant(nanoseconds: 5_010_000_000))
    clock.time = Instant(nanoseconds: 5_009_999_999)
    XCTAssertFalse(faulty.receive { _ in })
    XCTAssertEqual(inner.takeTransmitted(), [])
    clock.time = Instant(nanoseconds: 5_010_000_000)
    send(faulty, Array(frames[3..<10]))  // 7 more: 3 leave now, 7 wait, within the limit
    XCTAssertEqual(inner.takeTransmitted(), Array(frames[0..<3]))
    XCTAssertEqual(faulty.lost, 0)
    send(faulty, [frames[0], frames[1]])  // 9 waiting: one over the limit
    XCTAssertEqual(faulty.lost, 1)
    clock.time = Instant(nanoseconds: 5_020_000_000)
    XCTAssertFalse(faulty.receive { _ in })
    XCTAssertEqual(inner.takeTransmitted(), Array(frames[3..<10]) + [frames[0]])
    XCTAssertNil(faulty.nextDue)
  }
}
