// The hvt target, guest side: a freestanding Embedded Swift unikernel run as a VM by a Solo5
// hvt tender (sirocco-hvt or solo5-hvt). The tender has loaded the image, entered long mode,
// attached the devices named in the manifest and started the vCPU at `_start` with the boot
// information; from then on the only way out is a hypercall. What is not the hypercall layer
// (the allocator, entropy, the command line, the manifest) is SiroccoFreestanding's, as for
// spt and virtio.

import CSiroccoFreestanding
import CSiroccoHVT
import Sirocco
import SiroccoABI
import SiroccoFreestanding

public final class HVTPlatform: Platform {
  public let name = "hvt"
  public let console: any Console = HVTConsole()
  /// A VM has one output: error lines go to the console too.
  public let errors: any Console = HVTConsole()
  public let monotonicClock: any MonotonicClock = HVTMonotonicClock()
  public let wallClock: any WallClock = HVTWallClock()
  public let entropy: any EntropySource = FreestandingEntropy()

  /// Solo5's `solo5_yield`: the POLL hypercall until the deadline (or a readable device).
  public func wait(until deadline: Instant?) {
    let now = sirocco_hvt_monotonic()
    // No deadline: a long timeout (the tender's timerfd takes seconds up to 2^63 ns).
    var timeout: UInt64 = 1 << 40
    if let deadline {
      guard deadline.nanoseconds > now else { return }
      timeout = UInt64(deadline.nanoseconds &- now)
    }
    _ = sirocco_hvt_poll(timeout, nil)
  }

  /// Runs `App` on the hvt target. Returns the exit status.
  public static func start<App: Unikernel>(_ app: App.Type) -> Int32 {
    guard let bootInfo = sirocco_hvt_boot_info() else { return ExitStatus.failure }
    let platform = HVTPlatform()
    let parameters: BootParameters
    switch Solo5Boot.parameters(
      App.self, commandLine: UnsafePointer(bitPattern: bootInfo.loadUnaligned(fromByteOffset: HVT.BootInfo.commandLine, as: UInt.self)),
      console: platform.console, errors: platform.errors)
    {
    case .run(let parsed): parameters = parsed
    case .exit(let status): return status
    }
    // An application without devices reads no manifest (the compiler decides this test when
    // `devices` is a constant, as for hello, and links none of it).
    guard !App.devices.isEmpty else { return Runtime.run(App.self, platform: platform, parameters: parameters, blocks: []) }
    let manifest = AttachedManifest(
      base: UnsafeRawPointer(bitPattern: bootInfo.loadUnaligned(fromByteOffset: HVT.BootInfo.manifest, as: UInt.self)))
    guard let entries = manifest.entries(for: App.self, errors: platform.errors) else { return ExitStatus.usage }
    var networks: [(name: String, device: HVTNetworkDevice)] = []
    var blocks: [(name: String, device: any BlockDevice)] = []
    for (declared, entry) in entries {
      switch declared.kind {
      case .network:
        networks.append((declared.name, HVTNetworkDevice(handle: UInt64(entry.index), macAddress: entry.macAddress, mtu: entry.mtu)))
      case .block:
        blocks.append((declared.name, HVTBlockDevice(handle: UInt64(entry.index), sectorSize: entry.blockSize, capacity: entry.capacity)))
      }
    }
    return Solo5Boot.run(App.self, platform: platform, parameters: parameters, networks: networks, blocks: blocks)
  }
}

extension Unikernel {
  /// The hvt target's entry point: `_start` calls the `main` that `@main` generates, which
  /// lands here.
  public static func main() {
    sirocco_exit(HVTPlatform.start(Self.self))
  }
}
