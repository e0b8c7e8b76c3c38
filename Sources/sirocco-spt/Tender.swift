// The tender's main sequence.

import CSiroccoSPTTender
import CSiroccoUnix

enum Tender {
  /// What the shared tender code (Sources/Tender) says of this tender.
  static let name = "sirocco-spt"
  static let memoryMiB = 1...65536
  static let memoryNote = ""
  static let offersNetworkOffload = true
  static let offersIORing = true
  static let offersCoreDump = false
  static let extraOptions = """
      --net-offload                  Sirocco guests only: TAP devices with the virtio-net
                                     header (checksum and TCP segmentation offload)
      --io-uring                     Sirocco guests only: network devices served through a
                                     restricted io_uring (many frames per system call)

    """
  static let faultNote = ""

  /// Exit statuses of the tender's own refusals (the guest's status once it runs): Sirocco's
  /// contract. solo5-spt exits 1 for all of them.
  enum Status {
    /// Bad usage: an option, or a device unknown, unattached or that cannot be attached.
    static let usage: Int32 = 2
    /// The image was refused, or the tender could not set the guest up.
    static let failure: Int32 = 1
  }

  static func run(arguments: [String]) -> Int32 {
    var status: Int32 = 0
    guard let options = options(arguments, status: &status) else { return status }

    // Image: ELF checks, the ABI note, the manifest.
    let checked: TenderImage
    switch TenderImage.open(options.image, target: .spt, targetName: "spt") {
    case .success(let opened): checked = opened
    case .failure(let error): return fail(error.message)
    }
    let (file, image, manifest) = (checked.file, checked.elf, checked.manifest)

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

    if options.ioRing {
      guard options.devices.contains(where: { $0.kind == .network }) else {
        return refuse("--io-uring: no network device is attached (expected --net:NAME=TAP as well)")
      }
      guard image.siroccoCapabilities != nil else {
        return refuse("--io-uring: \(options.image) is not a Sirocco image (no Sirocco note): expected Solo5's system calls, without --io-uring")
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
    let devices: AttachedDevices
    switch AttachedDevices.attach(manifest, options: options, offload: options.networkOffload) {
    case .success(let attached): devices = attached
    case .failure(let error): return refuse(error.message)
    }
    let (networks, blocks) = (devices.networks, devices.blocks)

    // The event set: the timer (tag ~1U) and every network device (tag: its handle).
    var epoll: Int32 = -1
    var timer: Int32 = -1
    let events = sirocco_poll_create(&epoll, &timer, Solo5Poll.timerTag)  // Solo5's SPT_INTERNAL_TIMERFD
    guard events == 0 else { return fail("cannot create the event set: \(String(cString: strerror(-events)))") }
    for network in networks {
      let watched = sirocco_poll_add(epoll, network.fileDescriptor, UInt64(network.index))
      guard watched == 0 else { return fail("cannot watch a TAP interface: \(String(cString: strerror(-watched)))") }
    }

    // --io-uring: the ring over the TAP descriptors, restricted before the guest sees it.
    var ring = sirocco_io_ring()
    var description: [UInt8] = []
    if options.ioRing {
      var taps = networks.map { $0.fileDescriptor }
      var bufferRings = [UInt64](repeating: 0, count: networks.count)
      var stage: UnsafePointer<CChar>?
      let made = sirocco_io_ring_create(
        &taps, Int32(taps.count), UInt32(SiroccoIORing.entries), UInt32(SiroccoIORing.bufferRingEntries), &ring, &bufferRings, &stage)
      guard made == 0 else {
        return fail("--io-uring: cannot set up the ring (\(stage.map { String(cString: $0) } ?? "io_uring")): \(String(cString: strerror(-made))) (this kernel may lack io_uring or Linux 6.7's multishot reads)")
      }
      description = SiroccoIORing.describe(ring: ring, bufferRings: bufferRings)
    }

    // Boot information, Sirocco's ring description (--io-uring), the manifest copy (attached,
    // with host descriptors), the command line.
    let commandLine = options.guestArguments.joined(separator: " ")
    guard commandLine.utf8.count < SPT.commandLineSize else {
      return fail("guest command line of \(commandLine.utf8.count) bytes: expected fewer than \(SPT.commandLineSize)")
    }
    guard description.isEmpty || memory.write(description, at: SiroccoIORing.address) else {
      return fail("the ring description does not fit below the image")
    }
    let manifestAddress = (SPT.bootInfoBase + UInt64(SPT.BootInfo.size) + UInt64(description.count) + 7) & ~7
    let attachedManifest = devices.attachedManifest(checked.manifestBytes)
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
      var capabilities: SiroccoNote.Capabilities = [.standardError, .multiSectorBlockRead]
      if options.networkOffload { capabilities.insert(.networkOffload) }
      if options.ioRing { capabilities.insert(.ioRing) }
      guard memory.store(capabilities.rawValue, at: word) else { return fail("the Sirocco note lies outside guest memory") }
    }

    // Traps are reported with the function they hit (from the image's symbol table).
    let standardError = image.siroccoCapabilities != nil
    let trapStatus = sirocco_spt_install_traps(file.baseAddress, file.count, standardError ? 2 : 1)
    guard trapStatus == 0 else { return fail("cannot install trap handlers: \(String(cString: strerror(-trapStatus)))") }

    // The sandbox: from here on only what the devices need, and the guest's TLS register.
    var rules = TenderConsole.rules(standardError: standardError) + [SeccompRule.allow(SIROCCO_SYSCALL_EXIT_GROUP)]
    rules += TenderClocks.rules(epoll: epoll, timer: timer)
    rules.append(.allow(SIROCCO_SYSCALL_ARCH_PRCTL, first: 0x1002))  // ARCH_SET_FS
    for network in networks { rules += network.rules }
    if options.ioRing { rules.append(SiroccoIORing.rule(ring: ring.fd)) }
    for block in blocks { rules += block.rules(guestCalls: true) }
    fflush(nil)  // nothing buffered may be lost: the filter forbids writing it later
    let sandbox = SeccompRule.install(rules)
    guard sandbox == 0 else { return fail("cannot install the seccomp filter: \(String(cString: strerror(-sandbox)))") }
    sirocco_spt_launch(image.entry, memorySize - 8, SPT.bootInfoBase)
  }
}
