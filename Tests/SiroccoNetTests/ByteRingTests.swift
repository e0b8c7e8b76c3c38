// The byte ring behind TCP's buffers: growth on demand, wrap-around, peeking at offsets.

@testable import SiroccoNet
import XCTest

final class ByteRingTests: XCTestCase {
  func testGrowsOnDemandUpToItsCapacity() {
    var ring = ByteRing(capacity: 10_000)
    XCTAssertEqual(ring.allocated, 0, "an idle ring allocates nothing")
    let data = (0..<12_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
    let written = data.withUnsafeBytes { ring.append($0) }
    XCTAssertEqual(written, 10_000)
    XCTAssertEqual(ring.space, 0)
    XCTAssertEqual(ring.allocated, 10_000)
    var out = [UInt8](repeating: 0, count: 10_000)
    XCTAssertEqual(out.withUnsafeMutableBytes { ring.read(into: $0) }, 10_000)
    XCTAssertEqual(out, Array(data[0..<10_000]))
    XCTAssertEqual(ring.allocated, 0, "an emptied ring keeps no memory")
  }

  func testWrapsAroundAndPeeksAtOffsets() {
    var ring = ByteRing(capacity: 4096)
    var next: UInt8 = 0
    var expected: [UInt8] = []
    for round in 0..<200 {
      let chunk = (0..<(round % 37 + 100)).map { _ -> UInt8 in next &+= 1; return next }
      let accepted = chunk.withUnsafeBytes { ring.append($0) }
      expected += chunk[0..<accepted]
      // Peek in the middle, then discard a part.
      if expected.count > 50 {
        var window = [UInt8](repeating: 0, count: 20)
        XCTAssertEqual(window.withUnsafeMutableBytes { ring.peek(at: 30, into: $0) }, 20)
        XCTAssertEqual(window, Array(expected[30..<50]))
      }
      let drop = min(expected.count, round % 53 + 60)
      ring.discard(drop)
      expected.removeFirst(drop)
      XCTAssertEqual(ring.count, expected.count)
    }
    var rest = [UInt8](repeating: 0, count: expected.count)
    XCTAssertEqual(rest.withUnsafeMutableBytes { ring.read(into: $0) }, expected.count)
    XCTAssertEqual(rest, expected)
    ring.discard(10)  // on an empty ring: nothing
    XCTAssertTrue(ring.isEmpty)
  }
}
