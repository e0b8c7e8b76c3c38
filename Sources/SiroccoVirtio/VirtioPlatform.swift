// The virtio target, guest side: a freestanding Embedded Swift unikernel booted as a VM by
// PVH (QEMU microvm, q35 or pc; Firecracker). CSiroccoVirtio has taken the CPU to long mode,
// mapped memory, set up the heap, the serial console and the clocks; from here the
// application runs as on every target, its devices found from the command line (virtio-mmio,
// as QEMU microvm and Firecracker pass them) or on the PCI bus (virtio-pci: q35, pc).

import CSiroccoFreestanding
import CSiroccoVirtio
import Sirocco
import SiroccoABI
import SiroccoFreestanding

public final class VirtioPlatform: Platform {
  public let name = "virtio"
  public let console: any Console = SerialConsole()
  /// A VM has one output: error lines go to the serial console too.
  public let errors: any Console = SerialConsole()
  public let monotonicClock: any MonotonicClock = VirtioMonotonicClock()
  public let wallClock: any WallClock = VirtioWallClock()
  public let entropy: any EntropySource = FreestandingEntropy()

  /// Halts until an interrupt (a device's, or the timer's at `deadline`).
  public func wait(until deadline: Instant?) {
    sirocco_virtio_wait(deadline?.nanoseconds ?? -1)
  }

  /// Runs `App` on the virtio target. Returns the exit status.
  public static func start<App: Unikernel>(_ app: App.Type) -> Int32 {
    let platform = VirtioPlatform()
    let commandLine = VMCommandLine(BootCommandLine.words(UnsafeRawPointer(sirocco_virtio_command_line())?
      .assumingMemoryBound(to: UInt8.self)))
    let declarations = Runtime.declarations(for: App.self, platformParameters: [])
    let parameters: BootParameters
    do {
      parameters = try BootParameters.parse(commandLine.parameters, declarations: declarations)
    } catch .helpRequested {
      platform.console.write(BootParameters.usage(program: App.name, declarations: declarations))
      return ExitStatus.success
    } catch {
      platform.errors.print("\(App.name): \(error)")
      return ExitStatus.usage
    }
    // An application without devices links no driver (the compiler decides this test when
    // `devices` is a constant, as for hello).
    guard !App.devices.isEmpty else { return Runtime.run(App.self, platform: platform, parameters: parameters, blocks: []) }
    // The transports: virtio-mmio ones from the command line in the order the VMM made
    // them, which `sirocco run` and its Firecracker configuration give in the manifest's
    // order; else virtio-pci functions on bus 0 in ascending order (q35 and pc give slots in
    // the options' order). Each declared device takes the next transport of its kind
    // (docs/virtio.md, "Devices").
    var transports: [(transport: any VirtioTransport, irq: UInt32?)] = []
    for device in commandLine.mmioDevicesInCreationOrder {
      do {
        transports.append((try VirtioMMIO(registers: MachineRegisters(base: device.base)), device.irq))
      } catch .noDevice {
        continue
      } catch {
        platform.errors.print("\(App.name): virtio-mmio device at 0x\(String(device.base, radix: 16)): \(error)")
        return ExitStatus.usage
      }
    }
    if commandLine.mmioDevices.isEmpty {
      let space = MachinePCI()
      for function in PCI.functions(on: space) where function.vendorID == VirtioPCI.vendor {
        do {
          transports.append((try VirtioPCI(space: space, function: function, vector: UInt8(SIROCCO_VIRTIO_DEVICE_VECTOR), memory: MachineMemory()), nil))
        } catch .notVirtio {
          continue
        } catch {
          platform.errors.print("\(App.name): virtio-pci device at \(function.address): \(error)")
          return ExitStatus.usage
        }
      }
    }
    var networks: [(name: String, device: VirtioNetworkDevice)] = []
    var blocks: [(name: String, device: any BlockDevice)] = []
    for declared in App.devices {
      let network = declared.kind == .network
      guard let index = transports.firstIndex(where: { $0.transport.deviceID == (network ? 1 : 2) }) else {
        platform.errors.print(
          "\(App.name): device '\(declared.name)' is not attached: expected a \(network ? "virtio-net" : "virtio-blk") device for it")
        return ExitStatus.usage
      }
      let (transport, irq) = transports.remove(at: index)
      if let irq, sirocco_virtio_route_irq(irq) != 0 {
        platform.errors.print("\(App.name): device '\(declared.name)': interrupt \(irq) is past the I/O APIC's pins")
        return ExitStatus.usage
      }
      do {
        if network {
          var random: UInt64 = 0
          withUnsafeMutableBytes(of: &random) { platform.entropy.fill($0) }
          // A locally administered unicast address, if the device has none of its own.
          let fallback = MACAddress(rawValue: (random & 0xfeff_ffff_ffff) | 0x0200_0000_0000)
          networks.append((declared.name, try VirtioNetworkDevice(
            transport: transport, fallbackMAC: fallback, offloads: !declared.raw && !App.forwardsPackets)))
        } else {
          // An I/O APIC pin (virtio-mmio, level-triggered) is heard only while a request
          // waits (VirtioBlockDevice.perform); MSI-X messages are edges, gone once taken.
          if let irq { sirocco_virtio_mask_irq(irq, 1) }
          let waiting = VirtioBlockDevice.Waiting(
            now: { sirocco_virtio_monotonic() }, halt: { sirocco_virtio_wait($0) },
            hear: { on in if let irq { sirocco_virtio_mask_irq(irq, on ? 0 : 1) } })
          blocks.append((declared.name, try VirtioBlockDevice(transport: transport, waiting: waiting)))
        }
      } catch {
        platform.errors.print("\(App.name): device '\(declared.name)': \(error)")
        return ExitStatus.failure
      }
    }
    let status = Runtime.run(App.self, platform: platform, parameters: parameters, networks: networks, blocks: blocks)
    // The drivers' exchanges with the devices and the CPU's waits: frames per VM exit.
    let log = Logger(source: "sirocco", level: Runtime.logLevel(parameters), console: platform.console)
    for network in networks { log.debug("\(network.name): virtio-net \(network.device.counters)") }
    let events = sirocco_virtio_events().pointee
    log.debug("virtio: \(events.halts) halts, \(events.device_interrupts) device interrupts, \(events.timer_interrupts) timer interrupts")
    return status
  }
}

extension Unikernel {
  /// The virtio target's entry point: `sirocco_virtio_start` calls the `main` that `@main`
  /// generates, which lands here.
  public static func main() {
    sirocco_exit(VirtioPlatform.start(Self.self))
  }
}
