// The tender's main sequence, in Solo5's order: options, the image (ELF, ABI note, manifest),
// guest memory and the image in it, the VM and its vCPU, the devices, the net ring's thread
// (Ring.swift), the boot information, then the run loop (Hypercalls.swift) until the guest
// halts.

import CSiroccoHVTTender
import CSiroccoSPTTender

enum Tender {
  /// What the shared tender code (Sources/Tender) says of this tender.
  static let name = "sirocco-hvt"
  static let memoryMiB = 2...4096
  static let memoryNote = "; rounded down to a multiple of 2"
  static let offersNetworkOffload = false
  static let offersIORing = false
  static let offersCoreDump = true
  static let extraOptions = """
      --dump-core=DIR                when the guest fails (exit 255, or stopped by KVM):
                                     write its memory and registers to
                                     DIR/core.sirocco-hvt.PID, an ELF core gdb reads
                                     (Solo5's spelling --dumpcore=DIR is taken too)

    """
  static let faultNote = " or did what no guest may (a fault, a bad port or hypercall)"

  /// Exit statuses: the guest's once it runs; 255 a guest fault; these for the tender's own.
  enum Status {
    /// Bad usage: an option, or a device unknown, unattached or that cannot be attached.
    static let usage: Int32 = 2
    /// The image was refused, the tender could not set the guest up, or it was stopped.
    static let failure: Int32 = 1
    /// The guest did what no guest may: an unhandled exit, a bad port, a bad hypercall.
    static let guestFault: Int32 = 255
  }

  static func run(arguments: [String]) -> Int32 {
    var status: Int32 = 0
    guard let options = options(arguments, status: &status) else { return status }
    // First, before anything else is open: the core file and the helper that names it.
    var core: CoreDump? = nil
    if let directory = options.coreDirectory {
      switch CoreDump.prepare(directory: directory) {
      case .success(let prepared): core = prepared
      case .failure(let error): return refuse(error.message)
      }
    }

    let checked: TenderImage
    switch TenderImage.open(options.image, target: .hvt, targetName: "hvt") {
    case .success(let opened): checked = opened
    case .failure(let error): return fail(error.message)
    }
    if let problem = DeviceOptions.check(options.devices, declared: checked.manifest.devices) { return refuse(problem) }
    guard sirocco_hvt_catch_signals() == 0 else { return fail("cannot catch SIGINT and SIGTERM") }

    // Guest memory: whole 2 MiB pages, as solo5-hvt rounds it.
    let memorySize = UInt64(options.memoryMiB) << 20 & ~(HVT.memoryGranule - 1)
    if memorySize != UInt64(options.memoryMiB) << 20 {
      _ = fail("warning: --mem=\(options.memoryMiB): rounded down to \(memorySize >> 20) MiB (a multiple of 2)", 0)
    }
    // Solo5's net ring reservation when the image declares a network device (whether or not
    // the ring is then offered): the ring's size added and the total rounded up to 2 MiB (at
    // most 4 GiB); the ring in the last pages, guest memory ending where it starts.
    let declaresNetwork = checked.manifest.devices.contains { $0.type == .netBasic }
    var allocation = memorySize
    var guestSize = memorySize
    if declaresNetwork {
      allocation = min((memorySize + UInt64(HVT.Ring.size) + HVT.memoryGranule - 1) & ~(HVT.memoryGranule - 1), HVT.maximumMemory)
      guestSize = (allocation - UInt64(HVT.Ring.size)) & ~0xfff
    }
    do {
      _ = try checked.elf.validateSegments(memorySize: guestSize)
    } catch {
      return fail("\(options.image): \(error)")
    }
    // The end of the image as solo5-hvt gives it: the highest page-aligned end of a segment
    // with file contents (a .bss-only segment does not count).
    var kernelEnd: UInt64 = 0
    for segment in checked.elf.segments where segment.fileSize != 0 {
      kernelEnd = max(kernelEnd, (segment.virtualAddress + segment.memorySize + 0xfff) & ~0xfff)
    }
    let memory: GuestMemory
    do {
      memory = try GuestMemory(size: guestSize, reserved: allocation - guestSize)
    } catch {
      return fail("cannot map \(allocation >> 20) MiB of guest memory")
    }
    memory.writeBootTables()
    if let problem = memory.load(checked.elf, from: checked.file) { return fail("\(options.image): \(problem)") }

    var vm = sirocco_hvt()
    var failure = sirocco_hvt_failure()
    guard sirocco_hvt_create(&vm, memory.base, memory.mapped, &failure) == 0 else {
      return fail("KVM: \(String(cString: failure.step)): \(describe(failure.error))")
    }
    let stack = guestSize - 8
    let registers = sirocco_hvt_set_registers(&vm, checked.elf.entry, stack, HVT.bootInfoBase)
    guard registers == 0 else { return fail("KVM: cannot set the vCPU's registers: \(describe(-registers))") }

    let devices: AttachedDevices
    switch AttachedDevices.attach(checked.manifest, options: options, offload: false) {
    case .success(let attached): devices = attached
    case .failure(let error): return refuse(error.message)
    }

    // The net ring where KVM has ioeventfd; else the guest uses the hypercalls, as with
    // solo5-hvt (the reservation stays).
    let ringKick =
      declaresNetwork ? RingServer.start(&vm, memory: memory, devices: devices, handles: checked.manifest.devices.count + 1) : nil

    // Boot information, the manifest copy (attached), the command line, all read-only to
    // the guest below 1 MiB.
    let commandLine = options.guestArguments.joined(separator: " ")
    guard commandLine.utf8.count < HVT.commandLineSize else {
      return fail("guest command line of \(commandLine.utf8.count) bytes: expected fewer than \(HVT.commandLineSize)")
    }
    let attachedManifest = devices.attachedManifest(checked.manifestBytes)
    let manifestAddress = HVT.bootInfoBase + UInt64(HVT.BootInfo.size)
    let commandLineAddress = manifestAddress + UInt64(attachedManifest.count)
    let info = HVT.bootInfoBase
    guard commandLineAddress + UInt64(HVT.commandLineSize) <= HVT.guestMinimumBase,
      memory.write(attachedManifest, at: manifestAddress),
      memory.write(Array(commandLine.utf8) + [0], at: commandLineAddress),
      memory.store(guestSize, at: info + UInt64(HVT.BootInfo.memorySize)),
      memory.store(ringKick == nil ? UInt32(0) : HVT.Ring.featureBit, at: info + UInt64(HVT.BootInfo.hostFeatures)),
      memory.store(ringKick == nil ? UInt64(0) : guestSize, at: info + UInt64(HVT.BootInfo.netRing)),
      memory.store(kernelEnd, at: info + UInt64(HVT.BootInfo.kernelEnd)),
      memory.store(vm.tsc_hz, at: info + UInt64(HVT.BootInfo.cpuCycleFrequency)),
      memory.store(commandLineAddress, at: info + UInt64(HVT.BootInfo.commandLine)),
      memory.store(manifestAddress, at: info + UInt64(HVT.BootInfo.manifest))
    else { return fail("boot information does not fit below the image") }

    var loop = RunLoop(memory: memory, devices: devices, core: core, ringKick: ringKick)
    return loop.run(&vm)
  }
}
