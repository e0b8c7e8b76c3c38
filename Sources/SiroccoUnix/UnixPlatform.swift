// The unix target: a unikernel as an ordinary Linux process, its network devices TAP
// interfaces, its loop sleeping in epoll until the next deadline or a ready device.
//
// Command line: device options as Solo5's tenders take them (`--net:NAME=TAP`,
// `--net-mac:NAME=MAC`, `--block:NAME=FILE`, `--block-sector-size:NAME=N`), then boot
// parameters. Exit status: the application's, 1 when a
// device cannot be opened or the application fails to start, 2 for a bad option.
//
// With `--io-uring` the TAP devices send and receive through an io_uring the platform makes
// as sirocco-spt does (sirocco_io_ring_create, SiroccoLinux's IORing), and the loop waits in
// the ring instead of epoll.

import CSiroccoUnix
import Glibc
import Sirocco
import SiroccoABI
import SiroccoLinux

public final class UnixPlatform: Platform {
  public let name = "unix"
  public let console: any Console = UnixConsole()
  public let errors: any Console = UnixConsole(fileDescriptor: 2)
  public let monotonicClock: any MonotonicClock = UnixMonotonicClock()
  public let wallClock: any WallClock = UnixWallClock()
  public let entropy: any EntropySource = UnixEntropy()
  let epollDescriptor: Int32
  let timerDescriptor: Int32
  var armedDeadline: Instant?
  /// How long to keep polling after traffic before sleeping (`--busy-poll`).
  var busyPollWindow: Duration = .zero
  var busyPollUntil = Instant.zero
  /// A device's own next deadline (frames a fault injector delays), checked before each wait.
  var deviceDeadline: (() -> Instant?)?
  /// The io_uring serving the TAP devices (`--io-uring`): a wait enters it instead of epoll.
  var ring: IORing?
  /// The only TAP device, read(2) and write(2) (no ring, no wrapper): the busy poll reads it
  /// directly instead of asking epoll first (`wait`).
  var soleDevice: TAPDevice?

  /// Parameters only this target has.
  public static let parameters: [ParameterDeclaration] = [
    .string("pcap", default: nil, help: "record every frame of every network device to this pcap file", placeholder: "FILE")
  ]

  /// Network options, for applications that have a network device.
  public static let networkParameters: [ParameterDeclaration] = [
    .boolean("net-offload", default: true, help: "virtio-net header offloads on TAP: checksums, 64 KiB TCP segments (off with a pcap or faults)"),
    .boolean("io-uring", default: false, help: "batched I/O: the TAP devices' frames through an io_uring, many per system call"),
  ]

  /// Fault injection on the network devices (see FaultInjector), for applications that have one.
  public static let faultParameters: [ParameterDeclaration] = [
    .integer("fault-loss", default: nil, range: 0...1000, help: "testing: lose this many frames per thousand, each way"),
    .integer("fault-duplicate", default: nil, range: 0...1000, help: "testing: duplicate this many frames per thousand"),
    .integer("fault-reorder", default: nil, range: 0...1000, help: "testing: hold back this many frames per thousand"),
    .integer("fault-delay", default: nil, range: 0...10_000, help: "testing: delay every frame sent by this many milliseconds"),
  ]

  init() throws(TAPDevice.OpenError) {
    var epoll: Int32 = -1
    var timer: Int32 = -1
    let result = sirocco_poll_create(&epoll, &timer, UInt64.max)
    guard result == 0 else { throw .system(-result) }
    epollDescriptor = epoll
    timerDescriptor = timer
  }

  func watch(_ device: TAPDevice, tag: UInt64) throws(TAPDevice.OpenError) {
    let result = sirocco_poll_add(epollDescriptor, device.fileDescriptor, tag)
    guard result == 0 else { throw .system(-result) }
  }

  public func wait(until requested: Instant?) {
    var deadline = requested
    if let due = deviceDeadline?() { deadline = deadline.map { min($0, due) } ?? due }
    if let ring {
      let clock = monotonicClock
      if ring.wait(until: deadline?.nanoseconds, now: clock.now().nanoseconds, busyPollUntil: busyPollUntil.nanoseconds, clock: { clock.now().nanoseconds }),
        busyPollWindow > .zero
      {
        busyPollUntil = clock.now() + busyPollWindow
      }
      return
    }
    var now = monotonicClock.now()
    if let deadline, deadline <= now { return }
    // Right after traffic the next frame is likely microseconds away, sooner than a sleep
    // and a wake-up take: poll without blocking for the busy-poll window first. With one
    // device, polling is reading it: a frame found costs the read alone, not epoll's and then
    // the read's.
    while now < busyPollUntil {
      if look() { return }
      now = monotonicClock.now()
      if let deadline, deadline <= now { return }
    }
    if deadline != armedDeadline {
      _ = sirocco_timer_set(timerDescriptor, deadline?.nanoseconds ?? -1)
      armedDeadline = deadline
    }
    _ = poll(timeoutMilliseconds: -1)
    // A fired timer is one-shot: it must be armed again for the same deadline.
    if let armed = armedDeadline, armed <= monotonicClock.now() { armedDeadline = nil }
  }

  /// One look at the TAP devices without blocking: a read of the sole device (a frame found
  /// is held for the loop's next take), else epoll; true if a frame waits (then the busy-poll
  /// window opens again).
  func look() -> Bool {
    guard let device = soleDevice else { return poll(timeoutMilliseconds: 0) }
    guard device.readAhead() else { return false }
    busyPollUntil = monotonicClock.now() + busyPollWindow
    return true
  }

  /// One epoll_wait; true if a network device is ready (then the busy-poll window opens).
  func poll(timeoutMilliseconds: Int32) -> Bool {
    var tags = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    let device = withUnsafeMutableBytes(of: &tags) { bytes in
      let count = sirocco_poll_wait(
        epollDescriptor, timerDescriptor, bytes.baseAddress!.assumingMemoryBound(to: UInt64.self), 8, timeoutMilliseconds)
      if count < 0 {  // EINTR is retried in C: anything else leaves the loop blind
        errors.write("sirocco: epoll_wait failed: \(String(cString: sirocco_strerror(-count)))\n")
        exit(ExitStatus.failure)
      }
      return (0..<Int(count)).contains { bytes.load(fromByteOffset: $0 * 8, as: UInt64.self) != UInt64.max }
    }
    if device { busyPollUntil = monotonicClock.now() + busyPollWindow }
    return device
  }

  /// Runs `App`: parses `arguments`, attaches devices, loops. Returns the exit status.
  public static func start<App: Unikernel>(_ app: App.Type, arguments: [String]) -> Int32 {
    // `sirocco build --target spt` asks the unix build for the manifest it must embed.
    if getenv("SIROCCO_PRINT_MANIFEST") != nil {
      var text = ""
      for device in App.devices {
        let mark = device.optional ? " optional" : device.kind == .network && App.forwardsPackets ? " forwards" : device.raw ? " raw" : ""
        text += "\(device.kind == .network ? "net" : "block") \(device.name)\(mark)\n"
      }
      UnixConsole().write(text)
      return ExitStatus.success
    }
    let errors = UnixConsole(fileDescriptor: 2)
    func fail(_ status: Int32, _ message: String) -> Int32 {
      errors.write("\(App.name): \(message)\n")
      return status
    }
    let options: UnixDeviceOptions
    switch UnixDeviceOptions.parse(arguments) {
    case .success(let parsed): options = parsed
    case .failure(let error): return fail(ExitStatus.usage, error.message)
    }
    let hasNetwork = App.devices.contains { $0.kind == .network }
    let declarations = Runtime.declarations(for: App.self, platformParameters: parameters + (hasNetwork ? networkParameters + faultParameters : []))
    let bootParameters: BootParameters
    do {
      bootParameters = try BootParameters.parse(options.bootArguments, declarations: declarations)
    } catch .helpRequested {
      var text = String(BootParameters.usage(program: App.name, declarations: declarations, extra: "[DEVICE-OPTIONS]"))
      text += "\ndevice options:\n"
      for device in App.devices {
        switch device.kind {
        case .network:
          text += "  --net:\(device.name)=TAP      attach network device '\(device.name)' to TAP interface TAP\n"
          text += "  --net-mac:\(device.name)=MAC  its MAC address (default: random, locally administered)\n"
          text += "  --net-socket:\(device.name)=ADDRESS[,ADDRESS]  or: the host's own sockets on ADDRESS, one of each family at most (no TAP, no root)\n"
        case .block:
          text += "  --block:\(device.name)=FILE            attach block device '\(device.name)' to FILE (required)\n"
          text += "  --block-sector-size:\(device.name)=N   its sector size (power of two >= 512, default 512)\n"
        }
      }
      if App.devices.isEmpty { text += "  (this unikernel declares no devices)\n" }
      UnixConsole().write(text)
      return ExitStatus.success
    } catch {
      return fail(ExitStatus.usage, error.description)
    }
    if let problem = options.check(declared: App.devices) { return fail(ExitStatus.usage, problem) }
    for declared in App.devices where declared.raw && options.sockets.contains(where: { $0.name == declared.name }) {
      return fail(
        ExitStatus.usage,
        "--net-socket:\(declared.name): network device '\(declared.name)' is declared raw: expected a TAP (--net:\(declared.name)=TAP)")
    }

    let platform: UnixPlatform
    do { platform = try UnixPlatform() } catch {
      return fail(ExitStatus.failure, "cannot create the event loop: \(describe(error))")
    }
    if bootParameters.declares("busy-poll") { platform.busyPollWindow = .microseconds(bootParameters.integer("busy-poll") ?? 0) }
    let blocks: [(name: String, device: any BlockDevice)]
    switch openBlocks(App.self, options: options) {
    case .success(let opened): blocks = opened
    case .failure(let problem): return fail(ExitStatus.usage, problem.message)
    }
    let batched = hasNetwork && bootParameters.declares("io-uring") && bootParameters.boolean("io-uring")
    if !options.sockets.isEmpty {
      if batched {
        return fail(ExitStatus.usage, "--io-uring: the host's sockets (--net-socket) do not go through an io_uring: expected TAP devices (--net:NAME=TAP)")
      }
      return runOnHostSockets(App.self, options: options, platform: platform, parameters: bootParameters, blocks: blocks, fail: fail)
    }
    func fault(_ name: String) -> Int { bootParameters.declares(name) ? bootParameters.integer(name) ?? 0 : 0 }
    let faults = FaultConfiguration(
      lossPerMille: fault("fault-loss"), duplicatePerMille: fault("fault-duplicate"), reorderPerMille: fault("fault-reorder"),
      delay: .milliseconds(Int64(fault("fault-delay"))))
    // Offloads need the frames as the kernel gives and takes them: not under a wrapper.
    let offload = bootParameters.declares("net-offload") && bootParameters.boolean("net-offload")
      && faults == FaultConfiguration() && bootParameters.string("pcap") == nil
    var devices: [(name: String, device: TAPDevice)] = []
    for declared in App.devices where declared.kind == .network {
      let tap = options.networks.first { $0.name == declared.name }!.tap
      let mac = options.macAddress(of: declared.name) ?? .locallyAdministered(random: platform.entropy.randomUInt64())
      do {
        // A raw device lends final frames, or a forwarder's with their offload work pending
        // (`receive(forwarding:)`, as a forwarding application's stack takes them).
        let device = try TAPDevice(name: tap, macAddress: mac, offload: offload)
        try platform.watch(device, tag: UInt64(devices.count))
        devices.append((declared.name, device))
      } catch {
        return fail(ExitStatus.usage, "cannot attach network device '\(declared.name)' to TAP interface '\(tap)': \(describe(error))")
      }
    }
    if batched {
      if let problem = platform.serveThroughRing(devices.map(\.device)) { return fail(ExitStatus.failure, problem) }
    }
    // The wrappers compose: the pcap writer sits next to the TAP and records the wire (as
    // tcpdump on the host would), the fault injector above it impairs what the stack gets.
    func run<Device: NetworkDevice>(_ devices: [(name: String, device: Device)]) -> Int32 {
      guard faults != FaultConfiguration() else {
        return Runtime.run(App.self, platform: platform, parameters: bootParameters, networks: devices, blocks: blocks)
      }
      platform.console.print(
        "WARN  sirocco: fault injection on: loss \(faults.lossPerMille), duplicate \(faults.duplicatePerMille), reorder \(faults.reorderPerMille) per thousand, delay \(fault("fault-delay")) ms")
      let impaired = devices.map { (name: $0.name, device: FaultInjector($0.device, configuration: faults, clock: platform.monotonicClock)) }
      // Delayed frames leave from the loop: it wakes when the first is due.
      platform.deviceDeadline = {
        var earliest: Instant?
        for entry in impaired { if let due = entry.device.nextDue { earliest = earliest.map { min($0, due) } ?? due } }
        return earliest
      }
      return Runtime.run(App.self, platform: platform, parameters: bootParameters, networks: impaired, blocks: blocks)
    }
    if !batched, devices.count == 1, faults == FaultConfiguration(), bootParameters.string("pcap") == nil {
      platform.soleDevice = devices[0].device
    }
    let status: Int32
    if let path = bootParameters.string("pcap") {
      guard let sink = UnixFileSink(path: path) else {
        return fail(ExitStatus.failure, "cannot open pcap file '\(path)': \(String(cString: sirocco_strerror(errno)))")
      }
      status = run(devices.map { (name: $0.name, device: PcapWriter($0.device, sink: sink, clock: platform.wallClock)) })
    } else {
      status = run(devices)
    }
    if let ring = platform.ring, ring.failedOperations > 0 {
      errors.write("\(App.name): io_uring: \(ring.failedOperations) operations failed (writes, reads, completions for no device)\n")
    }
    return status
  }

  /// Makes the io_uring and gives each TAP device its half (fixed file and buffer group i for
  /// device i); nil, or what failed.
  func serveThroughRing(_ devices: [TAPDevice]) -> String? {
    var made = sirocco_io_ring()
    var bufferRings = [UInt64](repeating: 0, count: devices.count)
    var stage: UnsafePointer<CChar>?
    let result = sirocco_io_ring_create(
      devices.map(\.fileDescriptor), Int32(devices.count), UInt32(SiroccoIORing.entries), UInt32(SiroccoIORing.bufferRingEntries),
      &made, &bufferRings, &stage)
    guard result == 0 else {
      return "--io-uring: cannot make the io_uring (\(stage.map { String(cString: $0) } ?? "io_uring_setup")): "
        + String(cString: sirocco_strerror(-result)) + " (io_uring needs Linux 6.7 or later, and kernel.io_uring_disabled=0)"
    }
    func address(_ value: UInt64) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: UInt(value))! }
    let ring = IORing(
      descriptor: made.fd, submissionHead: UnsafeRawPointer(address(made.sq_head)), submissionTail: address(made.sq_tail),
      submissionMask: made.sq_mask, submissionEntries: made.sq_entries, entries: address(made.sqes),
      completionHead: address(made.cq_head), completionTail: UnsafeRawPointer(address(made.cq_tail)), completionMask: made.cq_mask,
      completions: UnsafeRawPointer(address(made.cqes)), bufferRings: bufferRings.map(address))
    for (file, device) in devices.enumerated() {
      // As the device's own buffers: room for the largest frame the kernel could hand over.
      device.ring = IORingNetwork(ring: ring, file: file, headerLength: device.headerLength, frameCapacity: 65536 + 18)
    }
    self.ring = ring
    return nil
  }

  /// The event-loop tag of the host sockets' own epoll set (TAP devices are 0, 1, ...).
  static let hostSocketsTag: UInt64 = 1 << 40

  /// Runs `App` with its network devices on the host's sockets (`--net-socket`).
  static func runOnHostSockets<App: Unikernel>(
    _ app: App.Type, options: UnixDeviceOptions, platform: UnixPlatform, parameters: BootParameters,
    blocks: [(name: String, device: any BlockDevice)], fail: (Int32, String) -> Int32
  ) -> Int32 {
    let sockets = sirocco_poll_create_set()
    let added = sockets < 0 ? sockets : sirocco_poll_add(platform.epollDescriptor, sockets, hostSocketsTag)
    guard added == 0 else {
      return fail(ExitStatus.failure, "cannot make an epoll set for the host's sockets: " + String(cString: sirocco_strerror(-added)))
    }
    let activity = HostActivity(pollDescriptor: sockets)
    let log = Logger(source: "sirocco", level: Runtime.logLevel(parameters), console: platform.console)
    var named: [(name: String, stack: any NetworkStack)] = []
    for declared in App.devices where declared.kind == .network {
      let addresses = options.sockets.first { $0.name == declared.name }!.addresses
      let stack = HostNetworkStack(addresses: addresses, activity: activity)
      named.append((declared.name, stack))
      log.info(declared.name + ": the host's sockets on " + addresses.map(\.description).joined(separator: " and "))
    }
    return Runtime.run(App.self, platform: platform, parameters: parameters, networkSet: HostNetworks(named: named, activity: activity), blocks: blocks)
  }

  /// The declared block devices on the files the options name.
  static func openBlocks<App: Unikernel>(_ app: App.Type, options: UnixDeviceOptions)
    -> Result<[(name: String, device: any BlockDevice)], UnixDeviceOptions.Failure>
  {
    var blocks: [(name: String, device: any BlockDevice)] = []
    for declared in App.devices where declared.kind == .block {
      let path = options.blocks.first { $0.name == declared.name }!.path
      let sectorSize = options.sectorSize(of: declared.name)
      do {
        blocks.append((declared.name, try FileBlockDevice(path: path, sectorSize: sectorSize)))
      } catch {
        let reason: String
        switch error {
        case .system(let code): reason = String(cString: sirocco_strerror(code))
        case .badSize(let size):
          reason = "its size, \(size) bytes, is not a whole non-zero number of \(sectorSize)-byte sectors"
        }
        return .failure(UnixDeviceOptions.Failure(message: "cannot attach block device '\(declared.name)' to '\(path)': \(reason)"))
      }
    }
    return .success(blocks)
  }

  static func describe(_ error: TAPDevice.OpenError) -> String {
    switch error {
    case .system(let code):
      var text = String(cString: sirocco_strerror(code))
      if code == ENODEV { text += " (no such interface: create it with 'ip tuntap add NAME mode tap')" }
      if code == EPERM || code == EACCES { text += " (attaching a TAP device needs CAP_NET_ADMIN or ownership of the device)" }
      return text
    case .mtuTooSmall(let mtu):
      return "its MTU is \(mtu): expected at least \(Link.minimumMTU) (ip link set NAME mtu 1500)"
    }
  }
}

extension Unikernel {
  /// The unix target's entry point: `@main` on a `Unikernel` type lands here.
  public static func main() {
    exit(UnixPlatform.start(Self.self, arguments: Array(CommandLine.arguments.dropFirst())))
  }
}
