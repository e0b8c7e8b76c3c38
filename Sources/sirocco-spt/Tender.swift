// The tender's main sequence.

import CSiroccoSPTTender
import CSiroccoUnix

struct TenderError: Error {
  var message: String
  init(_ message: String) { self.message = message }
}

enum Tender {
  /// Exit statuses of the tender's own refusals (the guest's status once it runs): Sirocco's
  /// contract. solo5-spt exits 1 for all of them.
  enum Status {
    /// Bad usage: an option, or a device unknown, unattached or that cannot be attached.
    static let usage: Int32 = 2
    /// The image was refused, or the tender could not set the guest up.
    static let failure: Int32 = 1
  }

  /// Prints `message` as one line on standard error; returns `status`.
  static func fail(_ message: String, _ status: Int32 = Status.failure) -> Int32 {
    let line = "sirocco-spt: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    return status
  }

  static func refuse(_ message: String) -> Int32 { fail(message, Status.usage) }

  static func run(arguments: [String]) -> Int32 {
    let options: Options
    switch Options.parse(arguments) {
    case .help:
      print(Options.usage, terminator: "")
      return 0
    case .failure(let message):
      return refuse(message)
    case .run(let parsed):
      options = parsed
    }

    // Image: ELF checks, the ABI note, the manifest.
    guard let file = readFile(options.image) else {
      return fail("\(options.image): cannot read: \(String(cString: strerror(sirocco_spt_errno())))")
    }
    let image: ELFImage
    let manifest: Manifest
    let manifestBytes: [UInt8]
    do {
      image = try ELFImage.parse(file)
      let abi = try image.abi()
      guard abi.target == .spt else {
        return fail("\(options.image): ABI target is \(abi.target), expected spt: not an spt image")
      }
      guard abi.version == Solo5Note.abiVersion else {
        return fail("\(options.image): ABI version \(abi.version), expected \(Solo5Note.abiVersion)")
      }
      manifestBytes = try image.manifestBytes()
    } catch {
      return fail("\(options.image): \(error)")
    }
    do {
      let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: manifestBytes.count, alignment: 8)
      defer { copy.deallocate() }
      copy.copyBytes(from: manifestBytes)
      manifest = try Manifest.parse(UnsafeRawBufferPointer(copy))
    } catch {
      return fail("\(options.image): invalid manifest: \(error)")
    }

    // Every option names a declared device of its kind; every declared device is attached.
    if let problem = DeviceOptions.check(options.devices, declared: manifest.devices) { return refuse(problem) }
    if options.networkOffload {
      guard options.devices.contains(where: { $0.kind == .network }) else {
        return refuse("--net-offload: no network device is attached (expected --net:NAME=TAP as well)")
      }
      guard image.siroccoCapabilities != nil else {
        return refuse("--net-offload: \(options.image) is not a Sirocco image (no Sirocco note): expected plain frames, without --net-offload")
      }
    }

    // Guest memory and the image in it.
    let memorySize = UInt64(options.memoryMiB) << 20
    let kernelEnd: UInt64
    do {
      kernelEnd = try image.validateSegments(memorySize: memorySize)
    } catch {
      return fail("\(options.image): \(error)")
    }
    let memory: GuestMemory
    do {
      memory = try GuestMemory(size: memorySize)
    } catch {
      return fail("cannot map \(options.memoryMiB) MiB of guest memory at 0x10000 (the tender must be loaded above it)")
    }
    if let problem = memory.load(image, from: file) {
      return fail("\(options.image): \(problem)")
    }

    // Devices, in manifest order (a device's handle is its manifest index).
    var networks: [AttachedNetwork] = []
    var blocks: [AttachedBlock] = []
    for (position, device) in manifest.devices.enumerated() {
      let index = position + 1
      switch device.type {
      case .netBasic:
        let tap = options.device(.network, named: device.name)!.value
        let mac = options.device(.networkMAC, named: device.name)?.macAddress
        switch Attach.network(name: device.name, tap: tap, mac: mac, offload: options.networkOffload, index: index) {
        case .success(let attached): networks.append(attached)
        case .failure(let error): return refuse(error.message)
        }
      case .blockBasic:
        let path = options.device(.block, named: device.name)!.value
        let size = options.device(.blockSectorSize, named: device.name)?.sectorSize ?? DeviceLimits.defaultSectorSize
        switch Attach.block(name: device.name, path: path, sectorSize: size, index: index) {
        case .success(let attached): blocks.append(attached)
        case .failure(let error): return refuse(error.message)
        }
      case .reservedFirst:
        continue
      }
    }

    // The event set: the timer (tag ~1U) and every network device (tag: its handle).
    var epoll: Int32 = -1
    var timer: Int32 = -1
    let events = sirocco_poll_create(&epoll, &timer, SPT.timerTag)  // Solo5's SPT_INTERNAL_TIMERFD
    guard events == 0 else { return fail("cannot create the event set: \(String(cString: strerror(-events)))") }
    for network in networks {
      let watched = sirocco_poll_add(epoll, network.fileDescriptor, UInt64(network.index))
      guard watched == 0 else { return fail("cannot watch a TAP interface: \(String(cString: strerror(-watched)))") }
    }

    // Boot information, the manifest copy (attached, with host descriptors), the command line.
    let commandLine = options.guestArguments.joined(separator: " ")
    guard commandLine.utf8.count < SPT.commandLineSize else {
      return fail("guest command line of \(commandLine.utf8.count) bytes: expected fewer than \(SPT.commandLineSize)")
    }
    let manifestAddress = (SPT.bootInfoBase + UInt64(SPT.BootInfo.size) + 7) & ~7
    var attachedManifest = manifestBytes
    for network in networks {
      let entry = Manifest.headerSize + network.index * Manifest.entrySize
      for (offset, byte) in network.mac.enumerated() { attachedManifest[entry + Manifest.Field.netMAC + offset] = byte }
      put(UInt16(network.mtu), into: &attachedManifest, at: entry + Manifest.Field.netMTU)
      put(Int64(network.fileDescriptor), into: &attachedManifest, at: entry + Manifest.Field.hostDescriptor)
      attachedManifest[entry + Manifest.Field.attached] = 1
    }
    for block in blocks {
      let entry = Manifest.headerSize + block.index * Manifest.entrySize
      put(block.capacity, into: &attachedManifest, at: entry + Manifest.Field.blockCapacity)
      put(UInt16(block.sectorSize), into: &attachedManifest, at: entry + Manifest.Field.blockSize)
      put(Int64(block.fileDescriptor), into: &attachedManifest, at: entry + Manifest.Field.hostDescriptor)
      attachedManifest[entry + Manifest.Field.attached] = 1
    }
    let commandLineAddress = (manifestAddress + UInt64(attachedManifest.count) + 7) & ~7
    guard commandLineAddress + UInt64(SPT.commandLineSize) <= SPT.guestMinimumBase,
      memory.write(attachedManifest, at: manifestAddress),
      memory.write(Array(commandLine.utf8) + [0], at: commandLineAddress),
      memory.store(memorySize, at: SPT.bootInfoBase + UInt64(SPT.BootInfo.memorySize)),
      memory.store(kernelEnd, at: SPT.bootInfoBase + UInt64(SPT.BootInfo.kernelEnd)),
      memory.store(commandLineAddress, at: SPT.bootInfoBase + UInt64(SPT.BootInfo.commandLine)),
      memory.store(manifestAddress, at: SPT.bootInfoBase + UInt64(SPT.BootInfo.manifest)),
      memory.store(epoll, at: SPT.bootInfoBase + UInt64(SPT.BootInfo.epollDescriptor)),
      memory.store(timer, at: SPT.bootInfoBase + UInt64(SPT.BootInfo.timerDescriptor))
    else { return fail("boot information does not fit below the image") }
    // A Sirocco guest learns what this tender allows beyond Solo5's ABI from its note.
    if let word = image.siroccoCapabilities {
      var capabilities: SiroccoNote.Capabilities = [.standardError]
      if options.networkOffload { capabilities.insert(.networkOffload) }
      guard memory.store(capabilities.rawValue, at: word) else { return fail("the Sirocco note lies outside guest memory") }
    }

    // Traps are reported with the function they hit (from the image's symbol table).
    let standardError = image.siroccoCapabilities != nil
    let trapStatus = sirocco_spt_install_traps(file.baseAddress, file.count, standardError ? 2 : 1)
    guard trapStatus == 0 else { return fail("cannot install trap handlers: \(String(cString: strerror(-trapStatus)))") }

    // The sandbox: from here on only what the devices need.
    var policy = sirocco_spt_policy()
    policy.epoll_fd = epoll
    policy.timer_fd = timer
    withUnsafeMutableBytes(of: &policy.net_fds) { fds in
      for (slot, network) in networks.enumerated() { fds.storeBytes(of: network.fileDescriptor, toByteOffset: slot * 4, as: Int32.self) }
    }
    policy.net_count = Int32(networks.count)
    withUnsafeMutableBytes(of: &policy.block_fds) { fds in
      for (slot, block) in blocks.enumerated() { fds.storeBytes(of: block.fileDescriptor, toByteOffset: slot * 4, as: Int32.self) }
    }
    withUnsafeMutableBytes(of: &policy.block_sizes) { sizes in
      for (slot, block) in blocks.enumerated() { sizes.storeBytes(of: UInt64(block.sectorSize), toByteOffset: slot * 8, as: UInt64.self) }
    }
    withUnsafeMutableBytes(of: &policy.block_capacities) { capacities in
      for (slot, block) in blocks.enumerated() { capacities.storeBytes(of: block.capacity, toByteOffset: slot * 8, as: UInt64.self) }
    }
    policy.block_count = Int32(blocks.count)
    policy.standard_error = standardError ? 1 : 0
    fflush(nil)  // nothing buffered may be lost: the filter forbids writing it later
    let sandbox = sirocco_spt_seccomp(&policy)
    guard sandbox == 0 else { return fail("cannot install the seccomp filter: \(String(cString: strerror(-sandbox)))") }
    sirocco_spt_launch(image.entry, memorySize - 8, SPT.bootInfoBase)
  }

  static func put<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
    withUnsafeBytes(of: value.littleEndian) { raw in
      for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
    }
  }

  /// The whole file, mapped read-only and private for as long as the process lives: the
  /// segments are copied out of it, and the trap handler reads the symbol table from it
  /// (the guest cannot write it, nor make it writable: its filter forbids mprotect).
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
