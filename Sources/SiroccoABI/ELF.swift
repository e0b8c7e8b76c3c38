// ELF64 images as Solo5's tenders accept them: header checks, loadable segments and the
// Solo5 notes.
//
// Read first: the System V gABI (ELF header, program headers, notes), and Solo5 v0.12.1
// tenders/common/elf.c, whose checks `validateSegments` repeats.

public enum ELFError: Error, Sendable {
  case truncated(String)
  case notELF
  case unsupported(String)
  case badSegment(String)
  case missingNote(String)
  case badNote(String)
}

extension ELFError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .truncated(let what): "truncated ELF file (\(what))"
    case .notELF: "not an ELF file (bad magic)"
    case .unsupported(let what): "unsupported ELF file: \(what)"
    case .badSegment(let what): "bad program segment: \(what)"
    case .missingNote(let what): "no \(what) note: not a Solo5 image"
    case .badNote(let what): "bad Solo5 note: \(what)"
    }
  }
}

public struct ELFImage: Sendable {
  public struct Segment: Equatable, Sendable {
    public var virtualAddress: UInt64
    public var fileOffset: UInt64
    public var fileSize: UInt64
    public var memorySize: UInt64
    public var alignment: UInt64
    public var readable: Bool
    public var writable: Bool
    public var executable: Bool
  }

  public var entry: UInt64
  /// PT_LOAD segments, in file order.
  public var segments: [Segment]
  /// The first note of each PT_NOTE named "Solo5": (type, descriptor bytes).
  public var notes: [(type: UInt32, descriptor: [UInt8])]
  public var hasInterpreter: Bool
  /// The guest address of the capabilities word of Sirocco's note, if the image has one
  /// (inside a writable PT_LOAD: `validateSegments` checks it).
  public var siroccoCapabilities: UInt64?
  /// The 32-bit entry of the PVH note (Xen's XEN_ELFNOTE_PHYS32_ENTRY, type 18), the one a
  /// virtio image boots by, if the image has one.
  public var pvhEntry: UInt32?

  static let programHeaderType = (load: UInt32(1), interpreter: UInt32(3), note: UInt32(4))

  /// Parses the header, program headers and Solo5 notes of the ELF file in `bytes`, with
  /// Solo5's header checks (64-bit, little-endian, current version, ET_EXEC, x86-64).
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(ELFError) -> ELFImage {
    guard bytes.count >= 4, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
      throw bytes.count < 4 ? .truncated("header") : .notELF
    }
    guard bytes.count >= 64 else { throw .truncated("header") }
    guard bytes[4] == 2 else { throw .unsupported("not 64-bit (ELFCLASS64 expected)") }
    guard bytes[5] == 1 else { throw .unsupported("not little-endian") }
    guard bytes[6] == 1 else { throw .unsupported("bad ELF version") }
    func u16(_ offset: Int) -> UInt16 { bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    func u32(_ offset: Int) -> UInt32 { bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    func u64(_ offset: Int) -> UInt64 { bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
    guard u16(16) == 2 else { throw .unsupported("not an executable (ET_EXEC expected)") }
    guard u16(18) == 62 else { throw .unsupported("not x86-64 (EM_X86_64 expected)") }
    guard u16(52) == 64, u16(54) == 56 else { throw .unsupported("unexpected header sizes") }
    let entry = u64(24)
    let programHeaders = u64(32)
    let count = Int(u16(56))
    guard count >= 1 else { throw .unsupported("no program headers") }
    guard programHeaders <= UInt64(bytes.count), UInt64(bytes.count) - programHeaders >= UInt64(count) * 56 else {
      throw .truncated("program headers")
    }
    var image = ELFImage(entry: entry, segments: [], notes: [], hasInterpreter: false, siroccoCapabilities: nil)
    for index in 0..<count {
      let header = Int(programHeaders) + index * 56
      let type = u32(header)
      let flags = u32(header + 4)
      let offset = u64(header + 8)
      let address = u64(header + 16)
      let fileSize = u64(header + 32)
      let memorySize = u64(header + 40)
      let alignment = u64(header + 48)
      guard offset <= UInt64(bytes.count), fileSize <= UInt64(bytes.count) - offset else {
        throw .truncated("segment \(index) lies past the end of the file")
      }
      switch type {
      case programHeaderType.load:
        image.segments.append(Segment(
          virtualAddress: address, fileOffset: offset, fileSize: fileSize, memorySize: memorySize,
          alignment: alignment, readable: flags & 4 != 0, writable: flags & 2 != 0, executable: flags & 1 != 0))
      case programHeaderType.interpreter:
        image.hasInterpreter = true
      case programHeaderType.note:
        // Solo5 reads only the first note of each PT_NOTE; so does this.
        guard fileSize >= 20 else { continue }
        let note = Int(offset)
        let nameSize = Int(u32(note))
        let descriptorSize = Int(u32(note + 4))
        let noteType = u32(note + 8)
        if nameSize == SiroccoNote.name.count, fileSize >= UInt64(20 + SiroccoNote.descriptorLength), noteType == SiroccoNote.type,
          descriptorSize == SiroccoNote.descriptorLength, SiroccoNote.name.indices.allSatisfy({ bytes[note + 12 + $0] == SiroccoNote.name[$0] }),
          u32(note + 20) == SiroccoNote.version
        {
          image.siroccoCapabilities = address + 20 + UInt64(SiroccoNote.capabilitiesOffset)
          continue
        }
        // "Xen\0", type 18, a 4- or 8-byte descriptor: the PVH entry.
        if nameSize == 4, noteType == 18, descriptorSize == 4 || descriptorSize == 8, fileSize >= UInt64(16 + descriptorSize),
          bytes[note + 12] == 0x58, bytes[note + 13] == 0x65, bytes[note + 14] == 0x6e, bytes[note + 15] == 0
        {
          image.pvhEntry = u32(note + 16)
          continue
        }
        guard nameSize == 6, bytes[note + 12] == 0x53, bytes[note + 13] == 0x6f, bytes[note + 14] == 0x6c,
          bytes[note + 15] == 0x6f, bytes[note + 16] == 0x35, bytes[note + 17] == 0
        else { continue }
        guard descriptorSize >= 1, UInt64(20 + descriptorSize) <= fileSize else {
          throw .badNote("descriptor of \(descriptorSize) bytes does not fit its segment")
        }
        let descriptor = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[(note + 20)..<(note + 20 + descriptorSize)]))
        image.notes.append((noteType, descriptor))
      default:
        continue
      }
    }
    return image
  }

  /// The ABI note: target and version.
  public func abi() throws(ELFError) -> (target: ABITarget, version: UInt32) {
    guard let note = notes.first(where: { $0.type == Solo5Note.abiType }) else { throw .missingNote("ABI1") }
    guard note.descriptor.count >= 8, note.descriptor.count <= 32 else { throw .badNote("ABI1 descriptor of \(note.descriptor.count) bytes") }
    return note.descriptor.withUnsafeBytes { bytes in
      (ABITarget(rawValue: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
       bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    }
  }

  /// The raw `struct mft` of the manifest note (after its 4 bytes of padding).
  public func manifestBytes() throws(ELFError) -> [UInt8] {
    guard let note = notes.first(where: { $0.type == Solo5Note.manifestType }) else { throw .missingNote("MFT1") }
    guard note.descriptor.count > Solo5Note.manifestPadding,
      note.descriptor.count <= Solo5Note.manifestPadding + Manifest.headerSize + Manifest.maximumEntries * Manifest.entrySize
    else { throw .badNote("MFT1 descriptor of \(note.descriptor.count) bytes") }
    return Array(note.descriptor[Solo5Note.manifestPadding...])
  }

  /// Solo5's `elf_load` checks against a guest of `memorySize` bytes: entry inside guest
  /// memory; each PT_LOAD with file contents at or above 0x100000, in ascending order, not
  /// overlapping, page-aligned, inside guest memory, with `memsz >= filesz`, and never both
  /// writable and executable. Returns the end of the last such segment (`kernel_end`).
  public func validateSegments(memorySize: UInt64) throws(ELFError) -> UInt64 {
    guard entry >= SPT.guestMinimumBase, entry < memorySize else {
      throw .badSegment("entry point 0x\(String(entry, radix: 16)) outside guest memory [0x100000, 0x\(String(memorySize, radix: 16)))")
    }
    var end: UInt64 = 0
    var loaded = 0
    for (index, segment) in segments.enumerated() where segment.fileSize != 0 || segment.memorySize != 0 {
      let start = segment.virtualAddress
      guard segment.alignment == 0 || segment.alignment & (segment.alignment - 1) == 0 else {
        throw .badSegment("segment \(index): alignment \(segment.alignment) is not a power of two")
      }
      guard start >= SPT.guestMinimumBase else {
        throw .badSegment("segment \(index) at 0x\(String(start, radix: 16)) is below 0x100000")
      }
      guard start & 0xfff == 0 else { throw .badSegment("segment \(index) at 0x\(String(start, radix: 16)) is not page-aligned") }
      guard start >= end else { throw .badSegment("segment \(index) overlaps or precedes the previous one") }
      guard segment.memorySize >= segment.fileSize else { throw .badSegment("segment \(index): memory size below file size") }
      let (segmentEnd, overflow) = start.addingReportingOverflow(segment.memorySize)
      guard !overflow, segmentEnd <= memorySize else {
        throw .badSegment("segment \(index) ends past guest memory (0x\(String(memorySize, radix: 16)) bytes)")
      }
      guard !(segment.writable && segment.executable) else {
        throw .badSegment("segment \(index) at 0x\(String(start, radix: 16)) is both writable and executable")
      }
      end = (segmentEnd + 0xfff) & ~0xfff
      loaded += 1
    }
    guard loaded > 0 else { throw .badSegment("no loadable segment") }
    if let word = siroccoCapabilities {
      guard segments.contains(where: { $0.writable && word >= $0.virtualAddress && word + 4 <= $0.virtualAddress + $0.fileSize })
      else { throw .badNote("Sirocco note at 0x\(String(word, radix: 16)) lies outside the writable data") }
    }
    return end
  }
}
