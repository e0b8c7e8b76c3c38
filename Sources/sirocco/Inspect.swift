// `sirocco inspect`: what a Solo5 image says about itself (like `solo5-elftool query-abi`
// and `query-manifest`).

import ArgumentParser
import Foundation
import SiroccoABI

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the ABI, the entry points and the device manifest of a Solo5 or Sirocco image (spt, hvt, virtio).")

  @Argument(help: "The image file.")
  var image: String

  func run() throws {
    try reporting {
      guard let data = FileManager.default.contents(atPath: image) else {
        throw ToolError.usage("cannot read '\(image)': expected a Solo5 image file")
      }
      let text = try data.withUnsafeBytes { bytes -> String in
        do {
          let elf = try ELFImage.parse(bytes)
          let abi = try elf.abi()
          let raw = try elf.manifestBytes()
          let manifest = try raw.withUnsafeBytes { raw throws(Manifest.ParseError) in try Manifest.parse(raw) }
          var text = "abi: target \(abi.target), version \(abi.version)\n"
          text += "entry: 0x\(String(elf.entry, radix: 16))\n"
          if let pvh = elf.pvhEntry { text += "pvh entry: 0x\(String(pvh, radix: 16)) (boots by PVH: QEMU -kernel, Firecracker)\n" }
          text += "manifest: \(manifest.devices.count) device\(manifest.devices.count == 1 ? "" : "s")\n"
          for (index, device) in manifest.devices.enumerated() {
            text += "  \(index + 1) \(device.name) \(device.type == .netBasic ? "NET_BASIC" : "BLOCK_BASIC")\n"
          }
          return text
        } catch let error as ELFError {
          throw ToolError.usage("'\(image)' is not a Solo5 image: \(error)")
        } catch let error as Manifest.ParseError {
          throw ToolError.usage("'\(image)' has an invalid manifest: \(error)")
        }
      }
      print(text, terminator: "")
    }
  }
}
