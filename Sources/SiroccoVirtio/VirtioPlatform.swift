// The virtio target, guest side: a freestanding Embedded Swift unikernel booted as a VM by
// PVH (QEMU microvm, q35 or pc; Firecracker). CSiroccoVirtio has taken the CPU to long mode,
// mapped memory, set up the heap, the serial console and the clocks; from here the
// application runs as on every target, its devices found from the command line (virtio-mmio,
// as QEMU microvm and Firecracker pass them) or on the PCI bus.

import CSiroccoFreestanding
import CSiroccoVirtio
import Sirocco
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
    if let declared = App.devices.first {
      platform.errors.print("\(App.name): device '\(declared.name)' is not attached: the virtio target has no drivers yet")
      return ExitStatus.usage
    }
    return Runtime.run(App.self, platform: platform, parameters: parameters, blocks: [])
  }
}

extension Unikernel {
  /// The virtio target's entry point: `sirocco_virtio_start` calls the `main` that `@main`
  /// generates, which lands here.
  public static func main() {
    sirocco_exit(VirtioPlatform.start(Self.self))
  }
}
