// The spt target, guest side: a freestanding Embedded Swift unikernel run by a Solo5 spt
// tender (sirocco-spt or solo5-spt). The tender has mapped the image, attached the devices
// named in the manifest, and jumped to `_start` with the boot information; from then on the
// only way out is the handful of system calls its seccomp filter allows.

import CSiroccoFreestanding
import CSiroccoSPT
import Sirocco
import SiroccoABI
import SiroccoFreestanding
import SiroccoLinux

public final class SPTPlatform: Platform {
  public let name = "spt"
  public let console: any Console = SPTConsole()
  public let errors: any Console = SPTErrorConsole()
  public var monotonicClock: any MonotonicClock { clock }
  let clock = SPTMonotonicClock()
  public let wallClock: any WallClock = SPTWallClock()
  public let entropy: any EntropySource = FreestandingEntropy()
  let bootInfo: UnsafeRawPointer
  let epollDescriptor: Int32
  let timerDescriptor: Int32
  /// Nanoseconds to keep polling after traffic before sleeping (`--busy-poll`).
  var busyPollWindow: Int64 = 0
  var busyPollUntil: Int64 = 0
  /// The deadline the timer was last armed for (nanoseconds), 0 once disarmed: a wait for
  /// the same one, still ahead, or a second wait without one, skips timerfd_settime (one
  /// system call less per sleep).
  var armedDeadline: Int64 = -1
  /// Sirocco's batched I/O (`sirocco-spt --io-uring`): when set, the network devices are the
  /// ring's and a wait enters the ring instead of epoll (`ringWait`, set only where an
  /// application has network devices: an image without one, such as hello, links none of it).
  var ring: IORing?
  var ringWait: ((Instant?) -> Void)?
  /// A host's only network device on the plain path (read(2) and write(2)): the busy poll
  /// reads it directly instead of asking epoll first (`wait`). Nil with several devices (a
  /// forwarder), none, or the ring.
  var soleDevice: SPTNetworkDevice?

  init(bootInfo: UnsafeRawPointer) {
    self.bootInfo = bootInfo
    epollDescriptor = bootInfo.loadUnaligned(fromByteOffset: SPT.BootInfo.epollDescriptor, as: Int32.self)
    timerDescriptor = bootInfo.loadUnaligned(fromByteOffset: SPT.BootInfo.timerDescriptor, as: Int32.self)
  }

  /// Solo5's `solo5_yield`: arm the timerfd (relative, one-shot) and wait in epoll_pwait on
  /// the set holding it and every network device. The loop read the clock at the top of the
  /// turn that ends here: a step takes microseconds, so that reading stands for now (a timer
  /// armed from it fires at most one step late) and a wait reads the clock only to busy-poll.
  /// Each clock read is a system call here (no vDSO in the sandbox): when a frame wakes the
  /// wait, the clock is read once, for both the busy-poll window and the loop's next turn.
  public func wait(until deadline: Instant?) {
    if let ringWait { return ringWait(deadline) }
    var now = clock.last
    if let deadline, deadline.nanoseconds <= now { return }
    // Right after traffic the next frame is likely microseconds away, sooner than a sleep
    // and a wake-up take: poll without blocking for the busy-poll window first. With one
    // device, polling is reading it: a frame found costs one system call, not epoll's and
    // then the read's (three between its arrival and the answer: the read, the clock, the write).
    // (The clock is read after every fourth poll: a poll and a clock read cost about the
    // same, and a frame is found sooner by polling more often.)
    while now < busyPollUntil {
      if look() || look() || look() || look() { return }
      now = clock.read()
      if let deadline, deadline.nanoseconds <= now { return }
    }
    // (Still ahead, an armed timer has not fired: its descriptor is not ready.)
    let wanted = deadline?.nanoseconds ?? 0
    if wanted != armedDeadline {
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
      armedDeadline = wanted
    }
    _ = poll(timeout: -1)
  }

  /// `wait` through the ring: one entry submits what the turn queued and sleeps until a frame
  /// arrives or the deadline passes (the ring's own timeout: no timer to arm). Busy polling
  /// enters it without sleeping.
  func wait(_ ring: IORing, until deadline: Instant?) {
    if ring.wait(until: deadline?.nanoseconds, now: clock.last, busyPollUntil: busyPollUntil, clock: { clock.read() }),
      busyPollWindow > 0
    {
      busyPollUntil = clock.readForNext() &+ busyPollWindow
    }
  }

  /// One look at the network devices without blocking: a read of the sole device (a frame
  /// found is held for the loop's next take), else epoll; true if a frame waits (then the
  /// busy-poll window opens again).
  func look() -> Bool {
    guard let device = soleDevice else { return poll(timeout: 0) }
    guard device.readAhead() else { return false }
    busyPollUntil = clock.readForNext() &+ busyPollWindow
    return true
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
        if buffer.loadUnaligned(fromByteOffset: index * 12 + 4, as: UInt64.self) != Solo5Poll.timerTag { device = true }
        index += 1
      }
      return device
    }
    if device, busyPollWindow > 0 { busyPollUntil = clock.readForNext() &+ busyPollWindow }
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
    let parameters: BootParameters
    switch Solo5Boot.parameters(
      App.self, commandLine: UnsafePointer(bitPattern: bootInfo.loadUnaligned(fromByteOffset: SPT.BootInfo.commandLine, as: UInt.self)),
      console: platform.console, errors: errors)
    {
    case .run(let parsed): parameters = parsed
    case .exit(let status): return status
    }
    if parameters.declares("busy-poll") { platform.busyPollWindow = Int64(parameters.integer("busy-poll") ?? 0) * 1000 }
    // An application without devices reads no manifest (the compiler decides this test when
    // `devices` is a constant, as for hello, and links none of it).
    guard !App.devices.isEmpty else { return Runtime.run(App.self, platform: platform, parameters: parameters, blocks: []) }
    let manifest = AttachedManifest(
      base: UnsafeRawPointer(bitPattern: bootInfo.loadUnaligned(fromByteOffset: SPT.BootInfo.manifest, as: UInt.self)))
    guard let entries = manifest.entries(for: App.self, errors: errors) else { return ExitStatus.usage }
    var networks: [(name: String, device: SPTNetworkDevice)] = []
    var receiveBuffers: SPTReceiveBuffers?
    // sirocco-spt --io-uring: a host's devices use the ring (a forwarder keeps read(2) and
    // write(2), which send a frame from the buffer another device received it in).
    if !App.forwardsPackets, Self.capabilities.contains(.ioRing) {
      guard let ring = IORing(description: bootInfo + SPT.BootInfo.size) else {
        errors.print("\(App.name): the tender's io_uring description is not one this image reads: expected version \(SiroccoIORing.version)")
        return ExitStatus.failure
      }
      platform.ring = ring
      platform.ringWait = { deadline in platform.wait(ring, until: deadline) }  // (a cycle: both live as long as the guest)
    }
    var blocks: [(name: String, device: any BlockDevice)] = []
    for (declared, entry) in entries {
      switch declared.kind {
      case .network:
        let offload = Self.capabilities.contains(.networkOffload)
        // (A test the compiler decides: a host's image links no forwarding device.)
        guard App.forwardsPackets else {
          guard !declared.raw || !offload else {
            errors.print("\(App.name): network device '\(declared.name)' is declared raw: expected plain frames (run the tender without --net-offload)")
            return ExitStatus.usage
          }
          if let ring = platform.ring {
            // Fixed file i is the ith network device in manifest order.
            var file = 0
            for other in entries where other.declared.kind == .network && other.entry.index < entry.index { file += 1 }
            guard file < ring.bufferRings.count else {
              errors.print("\(App.name): the tender's io_uring has \(ring.bufferRings.count) network devices: expected one for '\(declared.name)'")
              return ExitStatus.failure
            }
            networks.append((declared.name, SPTNetworkDevice(
              handle: entry.index, fileDescriptor: entry.hostDescriptor, macAddress: entry.macAddress, mtu: entry.mtu, offload: offload,
              ring: ring, file: file)))
            continue
          }
          networks.append((declared.name, SPTNetworkDevice(
            handle: entry.index, fileDescriptor: entry.hostDescriptor, macAddress: entry.macAddress, mtu: entry.mtu, offload: offload)))
          continue
        }
        let buffers = receiveBuffers ?? SPTReceiveBuffers()
        receiveBuffers = buffers
        networks.append((declared.name, SPTForwardingNetworkDevice(
          handle: entry.index, fileDescriptor: entry.hostDescriptor, macAddress: entry.macAddress, mtu: entry.mtu, offload: offload,
          receiveBuffers: buffers)))
      case .block:
        blocks.append((declared.name, SPTBlockDevice(
          handle: entry.index, fileDescriptor: entry.hostDescriptor, sectorSize: entry.blockSize, capacity: entry.capacity,
          multiSectorReads: Self.capabilities.contains(.multiSectorBlockRead))))
      }
    }
    if !App.forwardsPackets, platform.ring == nil, networks.count == 1 { platform.soleDevice = networks[0].device }
    let status = Solo5Boot.run(App.self, platform: platform, parameters: parameters, networks: networks, blocks: blocks)
    if let ring = platform.ring, ring.failedOperations > 0 {
      errors.print("\(App.name): io_uring: \(ring.failedOperations) operations failed (writes, reads, completions for no device)")
    }
    return status
  }
}

extension Unikernel {
  /// The spt target's entry point: `_start` calls the `main` that `@main` generates, which
  /// lands here.
  public static func main() {
    sirocco_exit(SPTPlatform.start(Self.self))
  }
}
