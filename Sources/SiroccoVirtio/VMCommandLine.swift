// The command line a VMM gives the guest: the boot parameters, with the VMM's own entries
// among them, which the guest consumes: `virtio_mmio.device=SIZE@BASE:IRQ[:ID]` (QEMU microvm
// with acpi=off, Firecracker: one per virtio-mmio transport, in the Linux kernel's syntax)
// and Firecracker's `pci=off`. Firecracker appends its entries after the user's, even after
// a `--`, so the whole line is scanned.

import SiroccoWire

public struct VMCommandLine: Equatable, Sendable {
  /// A virtio-mmio transport the VMM declared.
  public struct MMIODevice: Equatable, Sendable {
    public var base: UInt64
    public var size: UInt64
    public var irq: UInt32
  }

  public var parameters: [String] = []
  public var mmioDevices: [MMIODevice] = []

  public init(_ words: [String]) {
    for word in words {
      if word.utf8Equals("pci=off") { continue }
      if let device = Self.mmioDevice(word) {
        mmioDevices.append(device)
        continue
      }
      parameters.append(word)
    }
  }

  /// The transports in the order the VMM created them, which is the order its user gave
  /// the devices: QEMU microvm's 512-byte slots are given from the top down, Firecracker's
  /// 4 KiB slots from the bottom up (block devices first, then network devices; the guest
  /// maps each kind on its own, so only the order within a kind matters).
  public var mmioDevicesInCreationOrder: [MMIODevice] {
    let firecracker = mmioDevices.contains { $0.size >= 4096 }
    // An insertion sort: a handful of devices, and no sort specialised for them in the image.
    var devices = mmioDevices
    for end in devices.indices.dropFirst() {
      var index = end
      while index > 0, firecracker ? devices[index].base < devices[index - 1].base : devices[index].base > devices[index - 1].base {
        devices.swapAt(index, index - 1)
        index -= 1
      }
    }
    return devices
  }

  /// `[virtio_mmio.]device=<size>[K|M|G]@0x<base>:<irq>[:<id>]`, the size in decimal, the
  /// base in hex (Linux drivers/virtio/virtio_mmio.c); nil for any other word.
  static func mmioDevice(_ word: String) -> MMIODevice? {
    let prefix: StaticString = "virtio_mmio.device="
    guard word.utf8HasPrefix("virtio_mmio.device=") else { return nil }
    return word.withUTF8Bytes { bytes -> MMIODevice? in
      var reader = Reader(bytes: bytes, offset: prefix.utf8CodeUnitCount)
      guard let count = reader.number(radix: 10) else { return nil }
      let shift: UInt64 =
        reader.take(UInt8(ascii: "K")) ? 10 : reader.take(UInt8(ascii: "M")) ? 20 : reader.take(UInt8(ascii: "G")) ? 30 : 0
      let size = count << shift
      guard reader.take(UInt8(ascii: "@")), reader.take(UInt8(ascii: "0")), reader.take(UInt8(ascii: "x")),
        let base = reader.number(radix: 16), reader.take(UInt8(ascii: ":")),
        let irq = reader.number(radix: 10), irq <= UInt64(UInt32.max)
      else { return nil }
      if reader.take(UInt8(ascii: ":")) { guard reader.number(radix: 10) != nil else { return nil } }
      guard reader.isAtEnd, size > 0 else { return nil }
      return MMIODevice(base: base, size: size, irq: UInt32(irq))
    }
  }

  /// Reads a word's bytes front to back.
  struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset: Int

    var isAtEnd: Bool { offset >= bytes.count }
    var peek: UInt8? { isAtEnd ? nil : bytes[offset] }

    /// Takes `byte` if it comes next.
    mutating func take(_ byte: UInt8) -> Bool {
      guard peek == byte else { return false }
      offset += 1
      return true
    }

    /// The digits that come next (at least one, at most 16).
    mutating func number(radix: UInt64) -> UInt64? {
      var value: UInt64 = 0
      var digits = 0
      while let byte = peek, digits < 16 {
        let digit: UInt64
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt64(byte - UInt8(ascii: "A") + 10)
        default: return digits > 0 ? value : nil
        }
        value = value * radix + digit
        digits += 1
        offset += 1
      }
      return digits > 0 ? value : nil
    }
  }
}
