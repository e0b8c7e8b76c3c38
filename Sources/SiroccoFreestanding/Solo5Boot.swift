// How a guest of a Solo5 target (spt, hvt) starts the application, beside its hypercall
// or system call layer: the boot parameters from the tender's command line, the devices from
// the manifest copy it attached, then the runtime's loop.

import Sirocco
import SiroccoABI

public enum Solo5Boot {
  /// What the guest does next: run with these parameters, or exit with a status (0 after
  /// `--help`, whose usage is printed; 2 after a line on `errors`).
  public enum Parameters {
    case run(BootParameters)
    case exit(Int32)
  }

  /// The boot parameters `App` declares, parsed from the command line at `commandLine`.
  public static func parameters<App: Unikernel>(
    _ app: App.Type, commandLine: UnsafePointer<UInt8>?, console: any Console, errors: any Console
  ) -> Parameters {
    let declarations = Runtime.declarations(for: App.self, platformParameters: [])
    do {
      return .run(try BootParameters.parse(BootCommandLine.words(commandLine), declarations: declarations))
    } catch .helpRequested {
      console.write(BootParameters.usage(program: App.name, declarations: declarations))
      return .exit(ExitStatus.success)
    } catch {
      errors.print("\(App.name): \(error)")
      return .exit(ExitStatus.usage)
    }
  }

  /// Runs `App` with its devices; one without network devices runs without the network core
  /// (when its `devices` is a constant, the compiler decides this test and the image links no
  /// network code at all).
  public static func run<App: Unikernel, Device: NetworkDevice>(
    _ app: App.Type, platform: some Platform, parameters: BootParameters, networks: [(name: String, device: Device)],
    blocks: [(name: String, device: any BlockDevice)]
  ) -> Int32 {
    guard App.devices.contains(where: { $0.kind == .network }) else {
      return Runtime.run(App.self, platform: platform, parameters: parameters, blocks: blocks)
    }
    return Runtime.run(App.self, platform: platform, parameters: parameters, networks: networks, blocks: blocks)
  }
}
