// Fuzz target: the checks the spt tender makes on an image before loading it: the ELF header
// and program headers, the Solo5 ABI and manifest notes, the manifest (Solo5's mft_validate)
// and the segments against guest memory (Solo5's elf_load). Whatever they accept must be safe
// to load: segments inside the file and inside guest memory, in order; the manifest must
// re-emit to bytes that parse back equal.

import SiroccoABI

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let image = try? ELFImage.parse(rawBuffer(data, size)) else { return 0 }
  for segment in image.segments {
    require(segment.fileOffset <= UInt64(size) && segment.fileSize <= UInt64(size) - segment.fileOffset, "segment past the file")
  }
  let memorySize: UInt64 = 64 << 20
  if let end = try? image.validateSegments(memorySize: memorySize) {
    require(end <= memorySize && end & 0xfff == 0, "kernel end 0x\(String(end, radix: 16))")
    var previous: UInt64 = 0
    for segment in image.segments where segment.fileSize != 0 || segment.memorySize != 0 {
      require(segment.virtualAddress >= previous && segment.virtualAddress >= SPT.guestMinimumBase, "segments out of order")
      require(segment.memorySize >= segment.fileSize, "memory size below file size")
      previous = segment.virtualAddress + segment.memorySize
      require(previous <= end, "segment ends past the kernel end")
    }
  }
  _ = try? image.abi()
  guard let bytes = try? image.manifestBytes() else { return 0 }
  // The tender copies the manifest to an aligned buffer before reading it.
  let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
  defer { copy.deallocate() }
  copy.copyBytes(from: bytes)
  guard let manifest = try? Manifest.parse(UnsafeRawBufferPointer(copy)) else { return 0 }
  require(manifest.byteCount == bytes.count && manifest.devices.count < Manifest.maximumEntries, "manifest size")
  var out = [UInt8](repeating: 0xa5, count: manifest.byteCount)
  out.withUnsafeMutableBytes { manifest.emit(into: $0) }
  let again = out.withUnsafeBytes { try? Manifest.parse($0) }
  require(again == manifest, "\(manifest.devices) re-emitted and parsed back as \(String(describing: again?.devices))")
  return 0
}
