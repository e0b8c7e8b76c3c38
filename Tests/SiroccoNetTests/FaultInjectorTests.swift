// The fault-injecting wrapper device: loss, duplication and reordering, each way.

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
}
