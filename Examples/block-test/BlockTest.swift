// block-test: writes a pattern to every sector of block device `storage` (or the first
// --sectors), flushes, reads it back and verifies it; checks that a request past the end is
// refused. Exits 0 when everything verified, 1 otherwise.

import Sirocco

@main
struct BlockTest: Unikernel {
  static let name = "block-test"
  static var devices: [DeviceDeclaration] { [.block("storage")] }
  static let parameters: [ParameterDeclaration] = [
    .integer("sectors", default: 0, range: 0...Int(Int32.max), help: "sectors to test (0: all)"),
    .integer("seed", default: 1, range: 0...Int(Int32.max), help: "varies the pattern between runs"),
  ]

  var status: Int32 = 0

  init(boot: Boot) throws(BootFailure) {
    let device = boot.block("storage")
    let size = device.sectorSize
    let requested = UInt64(boot.parameters.integer("sectors") ?? 0)
    let sectors = requested == 0 ? device.sectorCount : min(requested, device.sectorCount)
    let seed = UInt64(boot.parameters.integer("seed") ?? 1)
    let console = boot.console
    console.print("block-test: \(device.sectorCount) sectors of \(size) bytes, testing \(sectors)")

    // Several sectors per request where they fit, to exercise multi-sector I/O too.
    let perRequest = 8
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size * perRequest, alignment: 16)
    defer { buffer.deallocate() }
    func fill(_ sector: UInt64, _ count: Int) {
      for index in 0..<(count * size) {
        let position = sector &* UInt64(size) &+ UInt64(index)
        buffer[index] = UInt8(truncatingIfNeeded: (position &* 2_654_435_761) >> 13 ^ seed &* 0x9e37_79b9)
      }
    }
    var sector: UInt64 = 0
    while sector < sectors {
      let count = Int(min(UInt64(perRequest), sectors - sector))
      fill(sector, count)
      do {
        try device.write(sector: sector, from: UnsafeRawBufferPointer(rebasing: buffer[0..<(count * size)]))
      } catch {
        console.print("block-test: write of sector \(sector) failed: \(error)")
        status = 1
        return
      }
      sector += UInt64(count)
    }
    // Then onto the medium, past any write cache (a no-op where there is none).
    do {
      try device.flush()
    } catch {
      console.print("block-test: flush failed: \(error)")
      status = 1
      return
    }
    let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: size * perRequest, alignment: 16)
    defer { expected.deallocate() }
    sector = 0
    while sector < sectors {
      let count = Int(min(UInt64(perRequest), sectors - sector))
      fill(sector, count)
      expected.copyMemory(from: UnsafeRawBufferPointer(buffer))
      buffer.initializeMemory(as: UInt8.self, repeating: 0)
      do {
        try device.read(sector: sector, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(count * size)]))
      } catch {
        console.print("block-test: read of sector \(sector) failed: \(error)")
        status = 1
        return
      }
      for index in 0..<(count * size) where buffer[index] != expected[index] {
        console.print("block-test: mismatch in sector \(sector + UInt64(index / size)) at byte \(index % size)")
        status = 1
        return
      }
      sector += UInt64(count)
    }
    // A request past the end must be refused by the device, not reach the medium.
    do {
      try device.read(sector: device.sectorCount, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size]))
      console.print("block-test: a read past the end was not refused")
      status = 1
      return
    } catch {
      guard error == .outOfRange else {
        console.print("block-test: a read past the end failed with \(error), expected out of range")
        status = 1
        return
      }
    }
    console.print("block-test: \(sectors) sectors written, read back and verified")
  }

  mutating func step(now: Instant) -> Step { .exit(status) }
}
