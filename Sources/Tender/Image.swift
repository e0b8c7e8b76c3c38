// The image a tender is given, checked as Solo5's tenders check it: an ELF file for x86-64
// (ELFImage), the ABI note of this tender's target and version 2, and a valid manifest,
// each refusal one line naming the file.

import CSiroccoSPTTender

struct TenderImage {
  /// The whole file, mapped read-only and private for as long as the process lives: the
  /// segments are copied out of it, and the spt trap handler reads its symbol table.
  let file: UnsafeRawBufferPointer
  let elf: ELFImage
  let manifest: Manifest
  /// The manifest note's bytes, which the tender copies, attached, for the guest.
  let manifestBytes: [UInt8]

  /// Reads and checks the image at `path` for `target`; the failure is the message.
  static func open(_ path: String, target: ABITarget, targetName: String) -> Result<TenderImage, TenderError> {
    guard let file = readFile(path) else {
      return .failure(TenderError("\(path): cannot read: \(String(cString: strerror(sirocco_spt_errno())))"))
    }
    let elf: ELFImage
    let manifestBytes: [UInt8]
    do {
      elf = try ELFImage.parse(file)
      let abi = try elf.abi()
      guard abi.target == target else {
        return .failure(TenderError("\(path): ABI target is \(abi.target), expected \(targetName): not an \(targetName) image"))
      }
      guard abi.version == Solo5Note.abiVersion else {
        return .failure(TenderError("\(path): ABI version \(abi.version), expected \(Solo5Note.abiVersion)"))
      }
      manifestBytes = try elf.manifestBytes()
    } catch {
      return .failure(TenderError("\(path): \(error)"))
    }
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: manifestBytes.count, alignment: 8)
    defer { copy.deallocate() }
    copy.copyBytes(from: manifestBytes)
    do {
      let manifest = try Manifest.parse(UnsafeRawBufferPointer(copy))
      return .success(TenderImage(file: file, elf: elf, manifest: manifest, manifestBytes: manifestBytes))
    } catch {
      return .failure(TenderError("\(path): invalid manifest: \(error)"))
    }
  }

  static func readFile(_ path: String) -> UnsafeRawBufferPointer? {
    let fd = sirocco_spt_open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    let size = lseek(fd, 0, SEEK_END)
    guard size >= 0, size < 1 << 30 else { return nil }
    if size == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }  // refused as a truncated ELF file
    guard let pages = mmap(nil, Int(size), PROT_READ, MAP_PRIVATE, fd, 0), Int(bitPattern: pages) != -1  // MAP_FAILED
    else { return nil }
    return UnsafeRawBufferPointer(start: pages, count: Int(size))
  }
}
