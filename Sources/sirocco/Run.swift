// `sirocco run`: builds if needed, then replaces itself with the unikernel, attaching the
// declared devices as Solo5's tenders do (`--net:NAME=TAP`) and passing boot parameters.

import ArgumentParser
import CSiroccoUnix
import Foundation
import SiroccoABI

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Build the unikernel in DIR if needed and run it.",
    usage: "sirocco run [--target <target>] [--vmm <vmm>] [--machine <machine>] [--accelerator <accelerator>] [--memory <MiB>] <directory> [--net:NAME=TAP ...] [--net-mac:NAME=MAC ...] [--net-offload[=false]] [--io-uring] [--net-socket:NAME=ADDRESS[,ADDRESS] ...] [--block:NAME=FILE ...] [--block-sector-size:NAME=N ...] [-- BOOT-PARAMETERS]",
    discussion: """
      Device options attach the application's declared devices: --net:NAME=TAP attaches \
      network device NAME to the existing TAP interface TAP (set up if it is down), --block:NAME=FILE attaches \
      block device NAME to FILE. Every declared device must be attached, except an optional \
      block device (`sirocco inspect` does not show it; the application's docs do): left \
      out, it gets a scratch file emptied on every run. --net-offload \
      gives the TAP devices the virtio-net header (checksum and TCP segmentation offload; \
      64 KiB TCP segments pass whole): on by default for unix (-- --net-offload=false turns \
      it off); on spt, on by default unless a network device is declared raw (its \
      application reads plain frames); --net-offload=false gives plain frames, as Solo5's \
      tender does. --io-uring (spt, unix) serves the TAP devices through an io_uring (on spt one \
      the tender restricts to reads and writes of those devices; many frames per system call; \
      off by default: io_uring is a larger kernel interface than read and write). --block:NAME=DIR with a directory attaches a ustar archive \
      of it, packed into the build directory. On unix, --net-socket:NAME=ADDRESS[,ADDRESS] carries network \
      device NAME on the host's own sockets bound to ADDRESS (one of each family at most, \
      e.g. 127.0.0.1,::1) instead (no TAP, no root). Arguments \
      after -- are boot parameters (see `-- --help`).
      """)

  @Option(help: "The target to run on (\(Target.allValueStrings.joined(separator: ", "))).")
  var target: Target = .unix

  @Flag(help: "Run a debug build of the application (see `sirocco build --debug`).")
  var debug = false

  @Option(help: "virtio: the QEMU machine (microvm: virtio-mmio; q35: virtio-pci).")
  var machine: VirtioMachine = .microvm

  @Option(help: "virtio: the VMM (qemu: run it; firecracker: print its configuration, JSON, for the same image and devices).")
  var vmm: VMM = .qemu

  @Option(help: "virtio: QEMU's accelerator (default: kvm where this host can run it, else tcg).")
  var accelerator: Accelerator?

  @Option(help: "virtio: guest memory in MiB.")
  var memory = 512

  @Argument(help: "The application directory.")
  var directory: String

  @Argument(parsing: .captureForPassthrough, help: "Device options, then -- and boot parameters.")
  var rest: [String] = []

  func run() throws {
    try reporting {
      let (options, bootParameters) = try split(rest)
      let application = try Application(path: directory)
      let buildDirectory = application.buildDirectory(for: target, debug: debug)
      let builder = try Builder(target: target, debug: debug)
      let artifact = try builder.build(application)
      let declared = try builder.declaredDevices(of: application)
      var deviceOptions = try attachScratch(try packDirectories(options, into: buildDirectory), declared: declared, in: buildDirectory)
      // On spt the network devices get the kernel's offloads (checksums left to the host,
      // 64 KiB TCP segments whole each way, forwarded whole by a bridge or a firewall) unless
      // --net-offload=false, or one of them is raw (its application reads plain frames), or
      // another tender than Sirocco's runs the image (Solo5's has no offloads).
      let networks = declared.filter { $0.entry.type == .netBasic }
      let otherTender = Builder.otherTender(for: target) != nil
      if target == .spt, !otherTender, !deviceOptions.contains("--net-offload"), !deviceOptions.contains("--net-offload=false"),
        !networks.isEmpty, !networks.contains(where: { $0.raw }), deviceOptions.contains(where: { $0.hasPrefix("--net:") })
      {
        deviceOptions.insert("--net-offload", at: 0)
      }
      deviceOptions.removeAll { $0 == "--net-offload=false" }
      let interfaces = taps(in: deviceOptions)
      bringUp(interfaces)
      if target == .spt || target == .hvt, otherTender { clearOffloads(interfaces) }
      switch target {
      case .spt, .hvt:
        let tender = try builder.buildTender()
        // The tender joins the guest's arguments with spaces (as Solo5's does): a space or
        // backslash inside one is escaped, and the guest's BootCommandLine.words takes it back.
        throw ExitCode(try supervise(tender, arguments: deviceOptions + [artifact.path] + bootParameters.map(BootCommandLine.escape)))
      case .virtio where vmm == .firecracker:
        try printFirecrackerConfiguration(artifact, application: application, deviceOptions: deviceOptions, bootParameters: bootParameters)
      case .virtio:
        throw ExitCode(try runQEMU(artifact, application: application, deviceOptions: deviceOptions, bootParameters: bootParameters))
      default:
        try execute(artifact, arguments: deviceOptions + bootParameters)
      }
    }
  }

  /// `--block:NAME=DIR` with a directory: packed into a ustar archive (as `tar -cf FILE -C
  /// DIR .` would), which the block device then holds; a file is attached as it is. The
  /// archive is padded with zeros to a whole number of the device's sectors (512 bytes, or
  /// `--block-sector-size:NAME=N`).
  func packDirectories(_ options: [String], into buildDirectory: URL) throws -> [String] {
    let parsed = options.map { option -> DeviceOption? in
      if case .option(let device) = DeviceOption.parse(option) { return device }
      return nil
    }
    let devices = parsed.compactMap { $0 }
    return try zip(options, parsed).map { option, device in
      guard let device, device.kind == .block else { return option }
      let (name, path) = (device.name, device.value)
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return option }
      try FileManager.default.createDirectory(at: buildDirectory, withIntermediateDirectories: true)
      let archive = buildDirectory.appendingPathComponent(name + ".tar")
      guard try runTool(["tar", "--format=ustar", "-cf", archive.path, "-C", path, "."]) == 0 else {
        throw ToolError.failure("cannot pack directory '\(path)' for block device '\(name)' (tar failed)")
      }
      let sector = devices.first { $0.kind == .blockSectorSize && $0.name == name }?.sectorSize ?? DeviceLimits.defaultSectorSize
      let size = (try FileManager.default.attributesOfItem(atPath: archive.path)[.size] as? Int) ?? 0
      if size % sector != 0 {
        let handle = try FileHandle(forWritingTo: archive)
        try handle.truncate(atOffset: UInt64((size / sector + 1) * sector))
        try handle.close()
      }
      return "--block:" + name + "=" + archive.path
    }
  }

  /// Optional block devices (`DeviceDeclaration.optional`) that `options` leave unattached:
  /// each gets a fresh scratch file of `scratchSize` bytes in the build directory, named
  /// after this process (files of runs that have ended are removed first).
  func attachScratch(_ options: [String], declared: [Builder.DeclaredDevice], in buildDirectory: URL) throws -> [String] {
    let attached = Set(options.compactMap { option -> String? in
      guard case .option(let device) = DeviceOption.parse(option), device.kind == .block else { return nil }
      return device.name
    })
    let missing = declared.filter {
      $0.optional && $0.entry.type == .blockBasic && !attached.contains($0.entry.name)
    }
    guard !missing.isEmpty else { return options }
    try FileManager.default.createDirectory(at: buildDirectory, withIntermediateDirectories: true)
    for stale in (try? FileManager.default.contentsOfDirectory(atPath: buildDirectory.path)) ?? [] where stale.hasPrefix("scratch-") {
      let pid = stale.split(separator: "-").dropFirst().first.flatMap { pid_t($0) } ?? 0
      if pid > 0, kill(pid, 0) != 0, errno == ESRCH { try? FileManager.default.removeItem(at: buildDirectory.appendingPathComponent(stale)) }
    }
    return options + (try missing.map { device in
      let name = device.entry.name
      let file = buildDirectory.appendingPathComponent("scratch-\(getpid())-\(name).img")
      guard FileManager.default.createFile(atPath: file.path, contents: nil), truncate(file.path, off_t(Self.scratchSize)) == 0 else {
        throw ToolError.failure("cannot create a scratch file for block device '\(name)' in \(buildDirectory.path)")
      }
      FileHandle.standardError.write(Data(
        "sirocco: block device '\(name)' not attached: a scratch file of \(Self.scratchSize >> 20) MiB, emptied on every run (--block:\(name)=FILE keeps what is written)\n".utf8))
      return "--block:" + name + "=" + file.path
    })
  }

  static let scratchSize = 1 << 20

  /// A TAP interface given with `--net:NAME=TAP` that exists but is down is set up (and
  /// the tool says so): a TAP made to be moved into another namespace once attached is
  /// often attached before anything set it up, and Solo5's tenders (ours too) refuse a TAP
  /// that is down. One that cannot be set up is left to the tender to report.
  func bringUp(_ taps: [String]) {
    for tap in taps {
      guard let shown = try? output(["ip", "-o", "link", "show", "dev", tap]),
        let flags = shown.split(separator: "<").dropFirst().first?.split(separator: ">").first,
        !flags.split(separator: ",").contains("UP")
      else { continue }
      if (try? runTool(["ip", "link", "set", "dev", tap, "up"])) == 0 {
        FileHandle.standardError.write(Data("sirocco: TAP interface '\(tap)' was down: set it up\n".utf8))
      }
    }
  }

  /// Another tender (Solo5's) gets each TAP with the kernel's offloads switched off: a
  /// persistent TAP keeps the offloads its last user set (a unix guest or `sirocco-spt
  /// --net-offload`), and a tender that reads plain frames would then be handed TCP segments
  /// of up to 64 KiB with their checksums unfinished, which its guest drops as corrupt.
  /// Sirocco's own tender and the unix platform clear them as they open the TAP; here the
  /// tool opens each one once without offloads and closes it. A TAP that cannot be opened
  /// (busy, missing) is left to the tender to report.
  func clearOffloads(_ taps: [String]) {
    for tap in taps {
      let descriptor = sirocco_tap_open(tap, 0)
      if descriptor >= 0 { close(descriptor) }
    }
  }

  /// The TAP interfaces that `--net:NAME=TAP` options name.
  func taps(in options: [String]) -> [String] {
    options.compactMap { argument in
      guard case .option(let option) = DeviceOption.parse(argument), option.kind == .network else { return nil }
      return option.value
    }
  }

  /// The standard output of `arguments[0]` (looked up in PATH), or nil if it failed.
  func output(_ arguments: [String]) throws -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
  }

  /// Device options come before `--`; boot parameters after it.
  func split(_ arguments: [String]) throws -> ([String], [String]) {
    var devices: [String] = []
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if argument == "--" { return (devices, Array(arguments[index...])) }
      if argument == "--net-offload" || argument == "--net-offload=false" {
        devices.append(argument)
        continue
      }
      if argument == "--io-uring" {
        guard target == .spt || target == .unix else {
          throw ToolError.usage("--io-uring is for the targets on Linux system calls (an io_uring): expected --target spt or unix")
        }
        devices.append(argument)
        continue
      }
      // Checked here against the limits every target shares, before anything is built.
      switch DeviceOption.parse(argument) {
      case .option(let option) where option.kind == .networkSocket && target != .unix:
        throw ToolError.usage("\(argument): --net-socket is the unix target's: expected --net:\(option.name)=TAP on \(target.rawValue)")
      case .option: devices.append(argument)
      case .failure(let message): throw ToolError.usage(message)
      case .other:
        throw ToolError.usage("unexpected argument '\(argument)': expected device options (--net:NAME=TAP) and then -- before boot parameters")
      }
    }
    return (devices, [])
  }

  /// Runs the tender as a child, passing SIGINT and SIGTERM on, and reports how the
  /// unikernel ended if a signal ended it (seccomp kills with SIGSYS). Returns the status
  /// to exit with: the tender's, or 128 + the signal.
  func supervise(_ tender: URL, arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = tender
    process.arguments = arguments
    return try supervised(process)
  }

  /// Runs `process` (a tender, or QEMU) as a child, passing SIGINT and SIGTERM on; returns
  /// its exit status, or 128 + the signal that ended it (reported).
  func supervised(_ process: Process) throws -> Int32 {
    do {
      try process.run()
    } catch {
      throw ToolError.failure("cannot start \(process.executableURL?.path ?? "the child"): \(error.localizedDescription)")
    }
    // Only now: an ignored signal stays ignored across exec, and the tender must not ignore
    // SIGINT and SIGTERM.
    let forwarders = [SIGINT, SIGTERM].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { kill(process.processIdentifier, number) }
      source.resume()
      return source
    }
    defer { forwarders.forEach { $0.cancel() } }
    process.waitUntilExit()
    guard process.terminationReason == .uncaughtSignal else { return process.terminationStatus }
    let number = process.terminationStatus
    var message = "the unikernel was killed by signal \(number) (\(String(cString: strsignal(number))))"
    if number == SIGSYS { message += ": it made a system call its seccomp filter forbids" }
    if number == SIGTERM || number == SIGINT { message += ": stopped" }
    FileHandle.standardError.write(Data("sirocco: \(message)\n".utf8))
    return 128 + number
  }

  func execute(_ artifact: URL, arguments: [String]) throws -> Never {
    let argv = [artifact.path] + arguments
    var cArguments = argv.map { strdup($0) }
    cArguments.append(nil)
    execv(artifact.path, cArguments)
    throw ToolError.failure("cannot execute \(artifact.path): \(String(cString: strerror(errno)))")
  }
}
