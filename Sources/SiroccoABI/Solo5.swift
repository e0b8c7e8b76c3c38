// The Solo5 v0.12 ABI as Sirocco's spt images and tender implement it: ELF notes, the
// device manifest, and the spt boot information. Shared by the guest (Embedded Swift), the
// tender and the `sirocco` tool, so both sides read the same layouts.
//
// Read first: Solo5 include/solo5_abi... `include/mft_abi.h`, `include/elf_abi.h`,
// `include/spt_abi.h` (v0.12.1), and shared/reference/solo5-abi.md.

#if !SIROCCO_TENDER  // the tender compiles SiroccoWire's Text.swift into itself
import SiroccoWire
#endif

/// The `abi_target` of the ABI1 note.
public struct ABITarget: RawRepresentable, Hashable, Sendable {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  public static let hvt = ABITarget(rawValue: 1)
  public static let spt = ABITarget(rawValue: 2)
  public static let virtio = ABITarget(rawValue: 3)
  public static let muen = ABITarget(rawValue: 4)
  public static let genode = ABITarget(rawValue: 5)
  public static let xen = ABITarget(rawValue: 6)
}

extension ABITarget: CustomStringConvertible {
  public var description: String {
    switch self {
    case .hvt: "hvt"
    case .spt: "spt"
    case .virtio: "virtio"
    case .muen: "muen"
    case .genode: "genode"
    case .xen: "xen"
    default: "unknown (\(rawValue))"
    }
  }
}

public enum Solo5Note {
  /// The note name, "Solo5" with its NUL: `n_namesz` is 6.
  public static let name: [UInt8] = [0x53, 0x6f, 0x6c, 0x6f, 0x35, 0]
  /// `n_type` of the ABI note: "ABI1" read as a little-endian u32.
  public static let abiType: UInt32 = 0x3149_4241
  /// `n_type` of the manifest note: "MFT1".
  public static let manifestType: UInt32 = 0x3154_464d
  /// The ABI version both spt and hvt carry in Solo5 v0.12.
  public static let abiVersion: UInt32 = 2
  /// The ABI note's descriptor: target, version, two reserved words.
  public static let abiDescriptorLength = 16
  /// The manifest note's descriptor starts with 4 bytes of padding (the note is 8-aligned).
  public static let manifestPadding = 4
}

/// Sirocco's own note, beside Solo5's: a word in the image's writable data that Sirocco's
/// tender fills in before the guest starts, to tell a Sirocco guest what it may do beyond
/// Solo5's ABI. Solo5's tenders skip notes not named "Solo5", so under solo5-spt the word
/// stays 0 and the guest keeps to Solo5's ABI. Layout of the descriptor: version (u32, 1),
/// capabilities (u32, `SiroccoNote.Capabilities`).
public enum SiroccoNote {
  /// "Sirocco" with its NUL: `n_namesz` is 8.
  public static let name: [UInt8] = [0x53, 0x69, 0x72, 0x6f, 0x63, 0x63, 0x6f, 0]
  /// `n_type`: "SRC1" read as a little-endian u32.
  public static let type: UInt32 = 0x3143_5253
  public static let version: UInt32 = 1
  public static let descriptorLength = 8
  /// Where the capabilities word lies in the descriptor.
  public static let capabilitiesOffset = 4

  public struct Capabilities: OptionSet, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The guest may write to descriptor 2: its error lines go to the tender's standard error.
    public static let standardError = Capabilities(rawValue: 1)
    /// The TAP devices carry the virtio-net header (`sirocco-spt --net-offload`).
    public static let networkOffload = Capabilities(rawValue: 2)
    /// pread64 on a block device may take up to `maximumBlockRead` bytes at once from an
    /// offset within the device (Solo5's filter holds it to one sector); one that runs past
    /// the device's end comes back short. Writes stay one sector each.
    public static let multiSectorBlockRead = Capabilities(rawValue: 4)
    /// The network devices are served through an io_uring the tender set up
    /// (`sirocco-spt --io-uring`): `SiroccoIORing` describes it.
    public static let ioRing = Capabilities(rawValue: 8)
  }

  /// The most bytes one pread64 of a block device may take under `multiSectorBlockRead`.
  public static let maximumBlockRead = 1 << 20
}

/// Sirocco's batched I/O on spt (`sirocco-spt --io-uring`, `SiroccoNote.Capabilities.ioRing`):
/// an io_uring the tender created, mapped and restricted before the sandbox closed, through
/// which the guest sends and receives many frames per system call. The tender writes this
/// description right after Solo5's `struct spt_boot_info` (the manifest follows it; a Solo5
/// guest finds the manifest through its pointer and never reads this).
///
/// The ring's fixed files are the network devices in manifest order (fixed file `i` is the
/// `i`th network device) and device `i` receives into buffer group `i`, a provided-buffer ring
/// of `bufferRingEntries` entries at `bufferRing(i)` that the guest fills with buffers of its
/// own memory. What the kernel accepts from the ring (its restrictions, fixed at creation):
/// READ, WRITE and READ_MULTISHOT on fixed files only, with no flag but FIXED_FILE and
/// BUFFER_SELECT, and no registration at all; the seccomp filter adds io_uring_enter on this
/// ring's descriptor only (no registered-ring or absolute-timer flags).
public enum SiroccoIORing {
  public static let version: UInt32 = 1
  /// Where the description lies: after `struct spt_boot_info`.
  public static let address = SPT.bootInfoBase + UInt64(SPT.BootInfo.size)
  /// Submission queue entries (the completion queue has twice as many).
  public static let entries = 256
  /// Provided buffers per network device (a power of two).
  public static let bufferRingEntries = 64

  /// Offsets in the description (little-endian; addresses are the tender's, which are the guest's).
  public static let versionOffset = 0  // u32
  public static let descriptor = 4  // i32: the ring's file descriptor
  public static let submissionHead = 8  // u64: address of the SQ head (u32, the kernel's)
  public static let submissionTail = 16  // u64: address of the SQ tail (u32, the guest's)
  public static let submissionMask = 24  // u32
  public static let submissionEntries = 28  // u32
  public static let submissionEntriesAddress = 32  // u64: the SQE array (64 bytes each; no index array)
  public static let completionHead = 40  // u64: address of the CQ head (u32, the guest's)
  public static let completionTail = 48  // u64: address of the CQ tail (u32, the kernel's)
  public static let completionMask = 56  // u32
  public static let completionEntries = 60  // u32
  public static let completionEntriesAddress = 64  // u64: the CQE array (16 bytes each)
  public static let networkCount = 72  // u32
  public static let bufferRingEntriesOffset = 76  // u32
  /// Then per network device, 8 bytes: the address of its provided-buffer ring.
  public static func bufferRing(_ device: Int) -> Int { 80 + 8 * device }
  public static func size(networks: Int) -> Int { 80 + 8 * networks }

  /// io_uring's opcodes, flags and constants the guest and tender use (linux/io_uring.h).
  public static let opRead: UInt8 = 22
  public static let opWrite: UInt8 = 23
  public static let opReadMultishot: UInt8 = 49
  public static let flagFixedFile: UInt8 = 1
  public static let flagBufferSelect: UInt8 = 1 << 5
  public static let enterGetEvents: UInt32 = 1
  public static let enterExtendedArgument: UInt32 = 8
  public static let completionBuffer: UInt32 = 1  // IORING_CQE_F_BUFFER: the buffer id in the high 16 bits
  public static let completionMore: UInt32 = 2  // IORING_CQE_F_MORE: a multishot request stays armed
  public static let systemCallEnter = 426
}

/// The spt target's fixed addresses and boot information (`include/spt_abi.h`).
public enum SPT {
  /// Guest memory starts here in the tender's address space (below it: unmapped).
  public static let hostMemoryBase: UInt64 = 0x10000
  /// Where the tender writes `struct spt_boot_info`, then the manifest, then the command line.
  public static let bootInfoBase: UInt64 = 0x11000
  /// The lowest address an image may be linked at.
  public static let guestMinimumBase: UInt64 = 0x100000
  /// Longest command line, including its NUL.
  public static let commandLineSize = 8192

  /// Offsets in `struct spt_boot_info`.
  public enum BootInfo {
    public static let memorySize = 0
    public static let kernelEnd = 8
    public static let commandLine = 16
    public static let manifest = 24
    public static let epollDescriptor = 32
    public static let timerDescriptor = 36
    public static let size = 40
  }
}

/// The hvt target's fixed addresses, hypercalls and boot information (`include/hvt_abi.h`;
/// ../shared/reference/solo5-abi.md, "The hvt ABI").
public enum HVT {
  /// Where the tender writes `struct hvt_boot_info`, then the manifest, then the command
  /// line (guest physical; the guest's RDI points here).
  public static let bootInfoBase: UInt64 = 0x10000
  /// The lowest address an image may be linked at.
  public static let guestMinimumBase: UInt64 = 0x100000
  /// Longest command line, including its NUL.
  public static let commandLineSize = 8192
  /// A hypercall is a 32-bit OUT to this port plus its number, of its argument's address.
  public static let hypercallPortBase: UInt16 = 0x500
  /// Guest memory is a whole number of 2 MiB pages, at most 4 GiB.
  public static let memoryGranule: UInt64 = 2 << 20
  public static let maximumMemory: UInt64 = 4 << 30
  /// A halt's cookie, when not 0, points at this many bytes (the trap frame).
  public static let haltCookieSize: UInt64 = 512

  /// Hypercall numbers.
  public enum Hypercall {
    public static let walltime: UInt16 = 1
    public static let puts: UInt16 = 2
    public static let poll: UInt16 = 3
    public static let blockWrite: UInt16 = 4
    public static let blockRead: UInt16 = 5
    public static let netWrite: UInt16 = 6
    public static let netRead: UInt16 = 7
    public static let halt: UInt16 = 8
    public static let count: UInt16 = 9
  }

  /// The optional net ring (Solo5 v0.11+, `include/hvt_ring.h`): frames exchanged through
  /// shared memory in the last pages of the VM's memory (guest memory ends where it
  /// starts), served by a tender thread woken by a 32-bit OUT to `kickPort` (an ioeventfd:
  /// no exit to the tender). When an image declares a network device, solo5-hvt adds the
  /// ring's size to the memory asked for and rounds up to 2 MiB.
  public enum Ring {
    /// `host_features` bit: the ring is active, `net_ring` its guest address.
    public static let featureBit: UInt32 = 1
    public static let kickPort: UInt16 = 0x600
    /// `struct hvt_ring`: 49,280 bytes.
    public static let size = 49280
    /// Slots; sequence numbers are free-running, a slot is `number & (slots - 1)`.
    public static let slots: UInt32 = 1024
    /// Offsets of the indices (u32): the guest's, then the host's on their own cache line.
    public static let entryTail = 0
    public static let commitHead = 4
    public static let entryHead = 64
    public static let commitTail = 68
    public static let needsKick = 72
    public static let entries = 128
    public static let commits = 32896
    /// `struct hvt_ring_entry` (32 bytes): operation u32, handle u32, data u64, len u32, id u32.
    public static let entrySize = 32
    /// `struct hvt_ring_commit` (16 bytes): id u32, ret i32, len u32.
    public static let commitSize = 16
    public static let operationWrite: UInt32 = 1
    public static let operationRead: UInt32 = 2
    /// The guest writes frames up to this size through the ring (its per-slot buffers),
    /// larger ones with NET_WRITE.
    public static let guestBufferSize = 2048
  }

  /// Offsets in `struct hvt_boot_info`.
  public enum BootInfo {
    public static let memorySize = 0
    public static let kernelEnd = 8
    public static let cpuCycleFrequency = 16
    public static let commandLine = 24
    public static let manifest = 32
    public static let hostFeatures = 40
    public static let guestFeatures = 44
    public static let netRing = 48
    public static let size = 56
  }
}

/// The tenders' POLL: one epoll set holding the timerfd and every network device, a device
/// tagged with its handle.
public enum Solo5Poll {
  /// The timerfd's tag (`SPT_INTERNAL_TIMERFD` and hvt's, ~1U), never a device's handle.
  public static let timerTag: UInt64 = 0xffff_fffe
}

/// What a Solo5 call returns (`solo5_result_t`).
public enum Solo5Result {
  public static let ok: Int32 = 0
  public static let again: Int32 = 1
  public static let invalid: Int32 = 2
  public static let unspecified: Int32 = 3
}

/// The device manifest (`struct mft`): entry 0 is reserved, devices follow; a device's
/// handle is its index.
public struct Manifest: Equatable, Sendable {
  public static let version: UInt32 = 1
  public static let maximumEntries = 64
  public static let entrySize = 104
  public static let headerSize = 8
  public static let nameSize = 68

  public enum EntryType: UInt32, Sendable {
    case blockBasic = 1
    case netBasic = 2
    case reservedFirst = 0x4000_0000
  }

  /// Offsets in `struct mft_entry`.
  public enum Field {
    public static let name = 0
    public static let type = 68
    public static let blockCapacity = 72
    public static let blockSize = 80
    public static let netMAC = 72
    public static let netMTU = 78
    public static let hostDescriptor = 88
    public static let attached = 96
  }

  public struct Entry: Equatable, Sendable {
    public var name: String
    public var type: EntryType
    public init(name: String, type: EntryType) {
      self.name = name
      self.type = type
    }

    /// Names compare as bytes (Solo5 names are ASCII; no Unicode tables in Embedded Swift).
    public static func == (lhs: Entry, rhs: Entry) -> Bool {
      lhs.type == rhs.type && lhs.name.utf8.elementsEqual(rhs.name.utf8)
    }
  }

  /// The user's devices (the reserved entry 0 is implied).
  public var devices: [Entry]

  public init(devices: [Entry]) { self.devices = devices }

  /// Bytes of `struct mft` with the reserved entry.
  public var byteCount: Int { Self.headerSize + (devices.count + 1) * Self.entrySize }

  public enum ParseError: Error, Equatable, Sendable {
    case badSize(Int)
    case badVersion(UInt32)
    case badEntryCount(UInt32)
    case missingReservedEntry
    case unterminatedName(index: Int)
    case alreadyAttached(index: Int)
    case unknownType(index: Int, UInt32)
    case badName(index: Int)
  }

  /// Validates a manifest as Solo5's `mft_validate` does (exact size, version 1, 1-64
  /// entries, reserved entry first with an empty name, NUL-terminated names, nothing
  /// attached), with names of letters and digits, and reads its devices.
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(ParseError) -> Manifest {
    guard bytes.count >= headerSize else { throw .badSize(bytes.count) }
    let version = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
    let count = bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
    guard count >= 1, count <= UInt32(maximumEntries) else { throw .badEntryCount(count) }
    guard bytes.count == headerSize + Int(count) * entrySize else { throw .badSize(bytes.count) }
    guard version == Manifest.version else { throw .badVersion(version) }
    var devices: [Entry] = []
    for index in 0..<Int(count) {
      let entry = bytes.baseAddress! + headerSize + index * entrySize
      let nameBytes = UnsafeRawBufferPointer(start: entry, count: nameSize)
      guard nameBytes[nameSize - 1] == 0 else { throw .unterminatedName(index: index) }
      guard entry.load(fromByteOffset: Field.attached, as: UInt8.self) == 0 else { throw .alreadyAttached(index: index) }
      let rawType = entry.loadUnaligned(fromByteOffset: Field.type, as: UInt32.self)
      var length = 0
      while nameBytes[length] != 0 { length += 1 }
      if index == 0 {
        guard rawType == EntryType.reservedFirst.rawValue, length == 0 else { throw .missingReservedEntry }
        continue
      }
      guard let type = EntryType(rawValue: rawType), type != .reservedFirst else {
        throw .unknownType(index: index, rawType)
      }
      // Solo5's rule, which every device option holds names to: 1-67 ASCII letters and digits
      // (found by Scripts/fuzz elf: other bytes were decoded into a different, longer name).
      guard isSolo5DeviceName(nameBytes[0..<length]) else { throw .badName(index: index) }
      let name = String(decoding: UnsafeRawBufferPointer(rebasing: nameBytes[0..<length]), as: UTF8.self)
      devices.append(Entry(name: name, type: type))
    }
    return Manifest(devices: devices)
  }

  /// Writes `struct mft` (with the reserved entry 0, nothing attached) into `bytes`.
  public func emit(into bytes: UnsafeMutableRawBufferPointer) {
    precondition(bytes.count >= byteCount && devices.count < Self.maximumEntries, "manifest buffer too small or too many devices")
    for index in 0..<byteCount { bytes[index] = 0 }
    bytes.storeBytes(of: Self.version, toByteOffset: 0, as: UInt32.self)
    bytes.storeBytes(of: UInt32(devices.count + 1), toByteOffset: 4, as: UInt32.self)
    bytes.storeBytes(of: EntryType.reservedFirst.rawValue, toByteOffset: Self.headerSize + Field.type, as: UInt32.self)
    for (index, device) in devices.enumerated() {
      let offset = Self.headerSize + (index + 1) * Self.entrySize
      precondition(device.name.utf8.count < Self.nameSize, "device name longer than 67 bytes")
      for (position, byte) in device.name.utf8.enumerated() { bytes[offset + position] = byte }
      bytes.storeBytes(of: device.type.rawValue, toByteOffset: offset + Field.type, as: UInt32.self)
    }
  }
}

extension Manifest.ParseError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .badSize(let size): "manifest size \(size) does not match its entry count"
    case .badVersion(let version): "manifest version \(version), expected 1"
    case .badEntryCount(let count): "manifest has \(count) entries, expected 1 to 64"
    case .missingReservedEntry: "manifest entry 0 is not the reserved entry"
    case .unterminatedName(let index): "manifest entry \(index) has an unterminated name"
    case .alreadyAttached(let index): "manifest entry \(index) is marked attached"
    case .unknownType(let index, let type): "manifest entry \(index) has unknown type \(type)"
    case .badName(let index): "manifest entry \(index) has a bad name (expected 1-67 letters and digits)"
    }
  }
}
