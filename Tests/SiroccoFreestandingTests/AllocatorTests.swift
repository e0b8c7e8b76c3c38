// The freestanding guests' allocator (Sources/CSiroccoFreestanding/alloc.c), run hosted over a plain buffer:
// alignment, reuse after free, coalescing, and bounded growth under a steady load.

import CSiroccoFreestanding
import XCTest

final class AllocatorTests: XCTestCase {
  var region: UnsafeMutableRawPointer!
  var heap = sirocco_heap()
  let size = 64 << 20

  override func setUp() {
    region = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
    sirocco_heap_init(&heap, region, size)
  }

  override func tearDown() { region.deallocate() }

  func allocate(_ bytes: Int, alignment: Int = 16) -> UnsafeMutableRawPointer? {
    sirocco_heap_allocate(&heap, bytes, alignment)
  }

  func testAlignmentAndUsableSize() throws {
    for alignment in [16, 32, 64, 256, 4096] {
      for bytes in [1, 15, 16, 17, 100, 2000, 5000, 100_000] {
        let pointer = try XCTUnwrap(allocate(bytes, alignment: alignment))
        XCTAssertEqual(Int(bitPattern: pointer) % alignment, 0, "\(bytes) bytes aligned \(alignment)")
        XCTAssertGreaterThanOrEqual(sirocco_heap_usable_size(pointer), bytes)
        memset(pointer, 0xab, bytes)  // the whole block is writable
        sirocco_heap_free(&heap, pointer)
      }
    }
    XCTAssertEqual(heap.in_use, 0)
    XCTAssertNil(allocate(16, alignment: 24), "alignment must be a power of two")
    XCTAssertNil(allocate(size * 2), "more than the heap holds")
  }

  func testBlocksDoNotOverlap() throws {
    var blocks: [(UnsafeMutableRawPointer, Int)] = []
    var generator = SystemRandomNumberGenerator()
    for index in 0..<2000 {
      let bytes = Int.random(in: 1...9000, using: &generator)
      let pointer = try XCTUnwrap(allocate(bytes))
      memset(pointer, Int32(index & 0xff), bytes)
      blocks.append((pointer, bytes))
    }
    for (index, block) in blocks.enumerated() {
      let bytes = UnsafeRawBufferPointer(start: block.0, count: block.1)
      XCTAssertTrue(bytes.allSatisfy { $0 == UInt8(index & 0xff) }, "block \(index) was overwritten")
    }
  }

  func testMemoryIsReusedAfterFree() throws {
    let first = try XCTUnwrap(allocate(100))
    sirocco_heap_free(&heap, first)
    XCTAssertEqual(allocate(100), first, "a freed small block is handed out again")
    let large = try XCTUnwrap(allocate(50_000))
    let top = heap.top
    sirocco_heap_free(&heap, large)
    XCTAssertLessThan(heap.top, top, "freeing the topmost large block lowers the bump pointer")
    XCTAssertEqual(allocate(50_000), large)
  }

  func testFreedNeighboursCoalesce() throws {
    let a = try XCTUnwrap(allocate(10_000))
    let b = try XCTUnwrap(allocate(10_000))
    let c = try XCTUnwrap(allocate(10_000))
    let guardBlock = try XCTUnwrap(allocate(10_000))  // keeps a..c off the bump pointer
    sirocco_heap_free(&heap, a)
    sirocco_heap_free(&heap, c)
    sirocco_heap_free(&heap, b)
    let top = heap.top
    // 30,000 bytes fit in the merged a+b+c without touching fresh memory.
    let merged = try XCTUnwrap(allocate(29_000))
    XCTAssertEqual(merged, a)
    XCTAssertEqual(heap.top, top)
    sirocco_heap_free(&heap, merged)
    sirocco_heap_free(&heap, guardBlock)
    XCTAssertEqual(heap.in_use, 0)
    XCTAssertEqual(heap.top, heap.start, "everything freed: the heap is empty again")
  }

  /// A steady load: a bounded live set of random sizes, allocated and freed a million times.
  /// The high-water mark must settle near the live set's size, not grow with the churn.
  func testSteadyLoadHasBoundedGrowth() throws {
    var state: UInt64 = 0x2545_f491_4f6c_dd1d
    func next() -> UInt64 {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      return state
    }
    let slots = 1000
    var live = [(UnsafeMutableRawPointer?, Int)](repeating: (nil, 0), count: slots)
    var maximumLive = 0
    var liveBytes = 0
    var highWaterAfterWarmUp = 0
    for round in 0..<1_000_000 {
      let slot = Int(next() % UInt64(slots))
      if let pointer = live[slot].0 {
        sirocco_heap_free(&heap, pointer)
        liveBytes -= live[slot].1
        live[slot] = (nil, 0)
      } else {
        let choice = next() % 100
        let bytes = choice < 80 ? Int(next() % 256) + 1 : choice < 98 ? Int(next() % 4096) + 1 : Int(next() % 65536) + 1
        let pointer = try XCTUnwrap(allocate(bytes), "out of memory at round \(round)")
        live[slot] = (pointer, bytes)
        liveBytes += bytes
        maximumLive = max(maximumLive, liveBytes)
      }
      if round == 100_000 { highWaterAfterWarmUp = Int(heap.high_water - heap.start) }
    }
    let highWater = Int(heap.high_water - heap.start)
    // Bounded: at most a small multiple of the largest live set, and no creep after warm-up.
    XCTAssertLessThan(highWater, 4 * maximumLive + (1 << 20), "high water \(highWater) for a live set of at most \(maximumLive)")
    XCTAssertLessThan(highWater, highWaterAfterWarmUp * 3 / 2 + (1 << 20), "the heap kept growing after warm-up")
    for (pointer, _) in live where pointer != nil { sirocco_heap_free(&heap, pointer) }
    XCTAssertEqual(heap.in_use, 0)
  }
}
