// two-of-each: a guest with two network devices and two block devices, declared in mixed
// order, for the tests that attach all four (the virtio target maps each kind's devices to
// names in the manifest's order). For each disk it prints its geometry and the text its
// first sector begins with, then writes "written by NAME" at its second sector and
// flushes; the network core answers ARP and ping on each link (`--uplink-ipv4`).

import Sirocco

@main
struct TwoOfEach: Unikernel {
  static let name = "two-of-each"
  static var devices: [DeviceDeclaration] { [.network("service"), .block("first"), .network("uplink"), .block("second")] }

  init(boot: Boot) throws(BootFailure) {
    for name in ["first", "second"] {
      let disk = boot.block(name)
      let sector = UnsafeMutableRawBufferPointer.allocate(byteCount: disk.sectorSize, alignment: 16)
      defer { sector.deallocate() }
      do {
        try disk.read(sector: 0, into: sector)
        var text: Text = "\(name): \(disk.sectorCount) sectors of \(disk.sectorSize) bytes, begins '"
        for byte in sector.prefix(while: { $0 >= 0x20 && $0 < 0x7f }).prefix(32) { text.append(byte: byte) }
        text.append("'")
        boot.log.info(text)
        sector.initializeMemory(as: UInt8.self, repeating: 0)
        for (index, byte) in "written by \(name)".utf8.enumerated() { sector[index] = byte }
        try disk.write(sector: 1, from: UnsafeRawBufferPointer(sector))
        try disk.flush()
      } catch {
        boot.log.error("\(name): \(error)")
        throw BootFailure("disk \(name) failed")
      }
    }
    var line: Text = "answering on"
    for (index, name) in ["service", "uplink"].enumerated() {
      if index > 0 { line.append(" and") }
      for network in boot.link(name)?.ipv4 ?? [] { line.append(" \(network.address)") }
    }
    boot.log.info(line)
  }

  mutating func step(now: Instant) -> Step { .idle }
}
