// The spt target, guest side: a freestanding Embedded Swift unikernel run by a Solo5 spt
// tender (sirocco-spt or solo5-spt). The tender has mapped the image, attached the devices
// named in the manifest, and jumped to `_start` with the boot information; from then on the
// only way out is the handful of system calls its seccomp filter allows.

import CSiroccoFreestanding
import CSiroccoSPT
import Sirocco
import SiroccoABI
import SiroccoFreestanding

public final class SPTPlatform: Platform {
  public let name = "spt"
  public let console: any Console = SPTConsole()
  public let errors: any Console = SPTErrorConsole()
  public let monotonicClock: any MonotonicClock = SPTMonotonicClock()
  public let wallClock: any WallClock = SPTWallClock()
  public let entropy: any EntropySource = FreestandingEntropy()
  let bootInfo: UnsafeRawPointer
  let epollDescriptor: Int32
  let timerDescriptor: Int32
  /// Nanoseconds to keep polling after traffic before sleeping (`--busy-poll`).
  var busyPollWindow: Int64 = 0
  var busyPollUntil: Int64 = 0

  init(bootInfo: UnsafeRawPointer) {
    self.bootInfo = bootInfo
    epollDescriptor = bootInfo.loadUnaligned(fromByteOffset: SPT.BootInfo.epollDescriptor, as: Int32.self)
    timerDescriptor = bootInfo.loadUnaligned(fromByteOffset: SPT.BootInfo.timerDescriptor, as: Int32.self)
  }

  /// Solo5's `solo5_yield`: arm the timerfd (relative, one-shot) and wait in epoll_pwait on
  /// the set holding it and every network device.
  public func wait(until deadline: Instant?) {
    var now = sirocco_spt_clock(1)
    if let deadline, deadline.nanoseconds <= now { return }
    // Right after traffic the next frame is likely microseconds away, sooner than a sleep
    // and a wake-up take: poll without blocking for the busy-poll window first.
    while now < busyPollUntil {
      if poll(timeout: 0) { return }
      now = sirocco_spt_clock(1)
      if let deadline, deadline.nanoseconds <= now { return }
    }
    var timer = (Int64(0), Int64(0), Int64(0), Int64(0))  // struct itimerspec: interval, value
    if let deadline {
      // Nanoseconds as Int64: going through Duration would link 128-bit division.
      let remaining = deadline.nanoseconds &- now
      timer.2 = remaining / 1_000_000_000
      timer.3 = remaining % 1_000_000_000
    }
    _ = withUnsafeBytes(of: &timer) { spec in
      sirocco_syscall6(Int(SIROCCO_SYS_TIMERFD_SETTIME), Int(timerDescriptor), 0, Int(bitPattern: spec.baseAddress), 0, 0, 0)
    }
    _ = poll(timeout: -1)
  }

  /// One epoll_pwait; true if a network device is ready (then the busy-poll window opens).
  func poll(timeout: Int) -> Bool {
    // struct epoll_event is packed: 4 bytes of events, 8 of data.
    var events = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                  UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    let device = withUnsafeMutableBytes(of: &events) { buffer in
      let count = sirocco_syscall6(
        Int(SIROCCO_SYS_EPOLL_PWAIT), Int(epollDescriptor), Int(bitPattern: buffer.baseAddress), 8, timeout, 0, 8)
      var device = false
      var index = 0
      while index < count {
        if buffer.loadUnaligned(fromByteOffset: index * 12 + 4, as: UInt64.self) != SPT.timerTag { device = true }
        index += 1
      }
      return device
    }
    if device { busyPollUntil = sirocco_spt_clock(1) &+ busyPollWindow }
    return device
  }

  /// What sirocco-spt allows beyond Solo5's ABI, from Sirocco's note (none under solo5-spt).
  static var capabilities: SiroccoNote.Capabilities { SiroccoNote.Capabilities(rawValue: sirocco_spt_tender_capabilities()) }

  /// Runs `App` on the spt target. Returns the exit status.
  public static func start<App: Unikernel>(_ app: App.Type) -> Int32 {
    guard let bootInfo = sirocco_spt_boot_info() else { return ExitStatus.failure }
    let platform = SPTPlatform(bootInfo: bootInfo)
    let errors = SPTErrorConsole()
    // The arguments after the image, joined by spaces.
    let arguments = BootCommandLine.words(
      UnsafePointer(bitPattern: bootInfo.loadUnaligned(fromByteOffset: SPT.BootInfo.commandLine, as: UInt.self)))
    let declarations = Runtime.declarations(for: App.self, platformParameters: [])
    let parameters: BootParameters
    do {
      parameters = try BootParameters.parse(arguments, declarations: declarations)
    } catch .helpRequested {
      platform.console.write(BootParameters.usage(program: App.name, declarations: declarations))
      return ExitStatus.success
    } catch {
      errors.print("\(App.name): \(error)")
      return ExitStatus.usage
    }
    if parameters.declares("busy-poll") { platform.busyPollWindow = Int64(parameters.integer("busy-poll") ?? 0) * 1000 }
    let manifest = AttachedManifest(bootInfo: bootInfo)
    var networks: [(name: String, device: SPTNetworkDevice)] = []
    var blocks: [(name: String, device: any BlockDevice)] = []
    for declared in App.devices {
      guard let entry = manifest.entry(named: declared.name), entry.attached else {
        errors.print("\(App.name): device '\(declared.name)' is not attached by the tender")
        return ExitStatus.usage
      }
      switch declared.kind {
      case .network:
        guard entry.type == Manifest.EntryType.netBasic.rawValue else {
          errors.print("\(App.name): manifest entry '\(declared.name)' is not a network device")
          return ExitStatus.usage
        }
        guard !declared.raw || !Self.capabilities.contains(.networkOffload) else {
          errors.print(
            "\(App.name): network device '\(declared.name)' is declared raw: expected plain frames (run the tender without --net-offload)")
          return ExitStatus.usage
        }
        guard entry.mtu >= Link.minimumMTU else {
          errors.print(
            "\(App.name): network device '\(declared.name)' has an MTU of \(entry.mtu): expected at least \(Link.minimumMTU)")
          return ExitStatus.usage
        }
        networks.append((declared.name, SPTNetworkDevice(
          handle: entry.index, fileDescriptor: entry.hostDescriptor, macAddress: entry.macAddress, mtu: entry.mtu,
          offload: Self.capabilities.contains(.networkOffload))))
      case .block:
        guard entry.type == Manifest.EntryType.blockBasic.rawValue else {
          errors.print("\(App.name): manifest entry '\(declared.name)' is not a block device")
          return ExitStatus.usage
        }
        blocks.append((declared.name, SPTBlockDevice(
          handle: entry.index, fileDescriptor: entry.hostDescriptor, sectorSize: entry.blockSize, capacity: entry.capacity)))
      }
    }
    // An application without network devices runs without the network core. When its
    // `devices` is a constant (the default, none, is), the compiler decides this test and
    // the image links no network code at all.
    guard App.devices.contains(where: { $0.kind == .network }) else {
      return Runtime.run(App.self, platform: platform, parameters: parameters, blocks: blocks)
    }
    return Runtime.run(App.self, platform: platform, parameters: parameters, networks: networks, blocks: blocks)
  }
}

/// The manifest copy the tender filled in guest memory (attached entries carry the host
/// descriptor and the device's properties).
struct AttachedManifest {
  struct Entry {
    var index: Int
    var type: UInt32
    var attached: Bool
    var hostDescriptor: Int32
    var macAddress: MACAddress
    var mtu: Int
    var capacity: UInt64
    var blockSize: Int
  }

  let base: UnsafeRawPointer?

  init(bootInfo: UnsafeRawPointer) {
    base = UnsafeRawPointer(bitPattern: bootInfo.loadUnaligned(fromByteOffset: SPT.BootInfo.manifest, as: UInt.self))
  }

  func entry(named name: String) -> Entry? {
    guard let base else { return nil }
    let count = Int(base.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    for index in 1..<max(1, min(count, Manifest.maximumEntries)) {
      let entry = base + Manifest.headerSize + index * Manifest.entrySize
      var length = 0
      while length < Manifest.nameSize - 1, entry.load(fromByteOffset: length, as: UInt8.self) != 0 { length += 1 }
      guard UnsafeRawBufferPointer(start: entry, count: length).elementsEqual(name.utf8) else { continue }
      let mac = MACAddress.read(from: UnsafeRawBufferPointer(start: entry + Manifest.Field.netMAC, count: 6), at: 0)
      return Entry(
        index: index,
        type: entry.loadUnaligned(fromByteOffset: Manifest.Field.type, as: UInt32.self),
        attached: entry.load(fromByteOffset: Manifest.Field.attached, as: UInt8.self) != 0,
        hostDescriptor: entry.loadUnaligned(fromByteOffset: Manifest.Field.hostDescriptor, as: Int32.self),
        macAddress: mac,
        mtu: Int(entry.loadUnaligned(fromByteOffset: Manifest.Field.netMTU, as: UInt16.self)),
        capacity: entry.loadUnaligned(fromByteOffset: Manifest.Field.blockCapacity, as: UInt64.self),
        blockSize: Int(entry.loadUnaligned(fromByteOffset: Manifest.Field.blockSize, as: UInt16.self)))
    }
    return nil
  }
}

extension Unikernel {
  /// The spt target's entry point: `_start` calls the `main` that `@main` generates, which
  /// lands here.
  public static func main() {
    sirocco_exit(SPTPlatform.start(Self.self))
  }
}
