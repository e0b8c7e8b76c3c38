// The VMM's entries on a virtio guest's command line: consumed wherever they are (QEMU
// microvm and Firecracker append them after the user's words), everything else left as boot
// parameters in order; malformed entries stay parameters (and are refused there by name).

@testable import SiroccoVirtio
import XCTest

final class VMCommandLineTests: XCTestCase {
  func testQEMUAndFirecrackerEntriesAreConsumedWhereverTheyAre() {
    let line = VMCommandLine([
      "--ipv4=10.0.0.2/24", "virtio_mmio.device=512@0xfeb00e00:12", "--", "virtio_mmio.device=4K@0xc0001000:5:3",
      "pci=off", "--port=80",
    ])
    XCTAssertEqual(line.parameters, ["--ipv4=10.0.0.2/24", "--", "--port=80"])
    XCTAssertEqual(line.mmioDevices, [
      VMCommandLine.MMIODevice(base: 0xfeb0_0e00, size: 512, irq: 12),
      VMCommandLine.MMIODevice(base: 0xc000_1000, size: 4096, irq: 5),
    ])
  }

  /// QEMU microvm's slots in -device order are the highest first; Firecracker's (4 KiB,
  /// as its configuration lists them) the lowest first.
  func testTransportsComeInTheOrderTheVMMMadeThem() {
    let qemu = VMCommandLine(["virtio_mmio.device=512@0xfeb00c00:10", "virtio_mmio.device=512@0xfeb00e00:12",
                              "virtio_mmio.device=512@0xfeb00a00:11"])
    XCTAssertEqual(qemu.mmioDevicesInCreationOrder.map(\.base), [0xfeb0_0e00, 0xfeb0_0c00, 0xfeb0_0a00])
    let firecracker = VMCommandLine(["virtio_mmio.device=4K@0xc0002000:6", "virtio_mmio.device=4K@0xc0001000:5",
                                     "virtio_mmio.device=4K@0xc0003000:7", "pci=off"])
    XCTAssertEqual(firecracker.mmioDevicesInCreationOrder.map(\.base), [0xc000_1000, 0xc000_2000, 0xc000_3000])
  }

  func testSizesTakeUnitsAndBasesAnyCase() {
    XCTAssertEqual(VMCommandLine.mmioDevice("virtio_mmio.device=1M@0xFEB00000:5")?.size, 1 << 20)
    XCTAssertEqual(VMCommandLine.mmioDevice("virtio_mmio.device=1G@0xabc:5")?.size, 1 << 30)
    XCTAssertEqual(VMCommandLine.mmioDevice("virtio_mmio.device=1M@0xFEB00000:5")?.base, 0xfeb0_0000)
  }

  func testMalformedEntriesAreNotDevices() {
    for word in [
      "virtio_mmio.device=", "virtio_mmio.device=512", "virtio_mmio.device=512@feb00000:5", "virtio_mmio.device=512@0x:5",
      "virtio_mmio.device=512@0xfeb00000", "virtio_mmio.device=512@0xfeb00000:", "virtio_mmio.device=512@0xfeb00000:5:",
      "virtio_mmio.device=0@0xfeb00000:5", "virtio_mmio.device=512@0xfeb00000:5x", "virtio_mmio.device=512@0x12345678901234567:5",
      "device=512@0xfeb00000:5",
    ] {
      XCTAssertNil(VMCommandLine.mmioDevice(word), word)
      XCTAssertEqual(VMCommandLine([word]).parameters, [word], word)
    }
  }
}
