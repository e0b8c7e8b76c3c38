// `sirocco run --target virtio`: the image under QEMU (microvm by default, q35 with
// --machine=q35), KVM when this host can run it, TCG otherwise; the serial console on
// standard output; the guest's exit status as the tool's (docs/virtio.md, "Exit status").

import ArgumentParser
import Foundation
import SiroccoABI

/// The QEMU machine types the virtio target runs on.
enum VirtioMachine: String, CaseIterable {
  /// virtio-mmio devices, found on the command line; no PCI, no firmware to speak of.
  case microvm
  /// PCI (virtio-pci), SeaBIOS's PVH option ROM.
  case q35
}

enum Accelerator: String, CaseIterable {
  case kvm, tcg

  /// KVM where /dev/kvm opens and the CPU has hardware virtualisation (vmx or svm): a /dev/kvm
  /// without them (an emulating or nested stand-in) cannot run SSE code; else TCG.
  static var best: Accelerator {
    let descriptor = open("/dev/kvm", O_RDWR | O_CLOEXEC)
    guard descriptor >= 0 else { return .tcg }
    close(descriptor)
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
      let flags = line.split(separator: " ")
      return flags.contains("vmx") || flags.contains("svm") ? .kvm : .tcg
    }
    return .tcg
  }
}

struct QEMUInvocation {
  var image: String
  var machine: VirtioMachine = .microvm
  var accelerator: Accelerator = .tcg
  var memoryMiB = 512
  var bootParameters: [String] = []
  /// The devices in the manifest's order (the guest maps them to names in that order).
  var devices: [Device] = []

  enum Device {
    /// A TAP interface and the MAC (nil: QEMU's).
    case network(tap: String, mac: [UInt8]?)
    /// A raw image file and its sector size (virtio-blk's logical block size).
    case block(file: String, sectorSize: Int)

    /// A MAC as QEMU and Firecracker take it: 02:00:00:00:00:01.
    static func text(mac: [UInt8]) -> String {
      mac.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
  }

  /// The `qemu-system-x86_64` arguments (without the program).
  var arguments: [String] {
    var arguments = [
      "-accel", accelerator.rawValue,
      // TCG: every feature QEMU can emulate (RDRAND among them); KVM: the host's CPU.
      "-cpu", accelerator == .kvm ? "host" : "max",
      // microvm: ACPI off, so that QEMU names the virtio-mmio devices on the command line.
      "-M", machine == .microvm ? "microvm,acpi=off" : "q35",
      "-m", "\(memoryMiB)M",
      "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
      "-serial", "stdio",
      // The guest's exit status: a write to port 0x501 (virtio.c).
      "-device", "isa-debug-exit,iobase=0x501,iosize=2",
      "-kernel", image,
    ]
    // The modern virtio-mmio interface (QEMU's default is the legacy one).
    if machine == .microvm, !devices.isEmpty { arguments += ["-global", "virtio-mmio.force-legacy=false"] }
    let bus = machine == .microvm ? "device" : "pci"
    for (index, device) in devices.enumerated() {
      switch device {
      case .network(let tap, let mac):
        arguments += ["-netdev", "tap,id=net\(index),ifname=\(tap),script=no,downscript=no"]
        var option = "virtio-net-\(bus),netdev=net\(index)"
        if let mac { option += ",mac=" + Device.text(mac: mac) }
        arguments += ["-device", option]
      case .block(let file, let sectorSize):
        // QEMU's -drive splits at commas: a comma in the path is written twice.
        let path = file.replacingOccurrences(of: ",", with: ",,")
        arguments += ["-drive", "file=\(path),if=none,format=raw,id=block\(index)"]
        var option = "virtio-blk-\(bus),drive=block\(index)"
        if sectorSize != 512 { option += ",logical_block_size=\(sectorSize),physical_block_size=\(sectorSize)" }
        arguments += ["-device", option]
      }
    }
    if !bootParameters.isEmpty { arguments += ["-append", BootCommandLine.join(bootParameters)] }
    return arguments
  }

  /// The guest's exit status from QEMU's: isa-debug-exit makes QEMU exit with (v << 1) | 1,
  /// where the guest wrote v = status + 1 for statuses 0-125 and 127 for any other. QEMU's
  /// own failures exit 1; a guest that reset itself (a triple fault, with -no-reboot) exits 0.
  static func guestStatus(qemuStatus: Int32) -> (status: Int32, problem: String?) {
    switch qemuStatus {
    case 0: return (255, "the VM reset itself (a triple fault) without an exit status")
    case 1: return (1, "qemu-system-x86_64 failed (its message is above)")
    case let status where status & 1 == 1:
      let written = status >> 1
      return (written == 127 ? 255 : written - 1, nil)
    default: return (qemuStatus, "qemu-system-x86_64 exited with status \(qemuStatus)")
    }
  }
}

/// The Firecracker configuration (`firecracker --no-api --config-file FILE`) for an image
/// and its devices: the same kernel and command line, the drives and network interfaces by
/// the manifest's names. Firecracker creates block devices before network devices, each in
/// the order given, in virtio-mmio slots from the bottom up (4 KiB each); the guest takes
/// 4 KiB slots lowest address first (docs/virtio.md, "Firecracker").
struct FirecrackerConfiguration {
  var image: String
  var memoryMiB = 512
  var bootParameters: [String] = []
  var devices: [(name: String, device: QEMUInvocation.Device)] = []

  var json: String {
    func quoted(_ text: String) -> String {
      var out = "\""
      for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case let c where c.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
      }
      return out + "\""
    }
    var drives: [String] = []
    var interfaces: [String] = []
    for (name, device) in devices {
      switch device {
      case .block(let file, _):
        drives.append("    {\"drive_id\": \(quoted(name)), \"path_on_host\": \(quoted(file)), \"is_root_device\": false, \"is_read_only\": false}")
      case .network(let tap, let mac):
        var entry = "    {\"iface_id\": \(quoted(name)), \"host_dev_name\": \(quoted(tap))"
        if let mac { entry += ", \"guest_mac\": " + quoted(QEMUInvocation.Device.text(mac: mac)) }
        interfaces.append(entry + "}")
      }
    }
    func list(_ entries: [String]) -> String { entries.isEmpty ? "[]" : "[\n" + entries.joined(separator: ",\n") + "\n  ]" }
    return """
      {
        "boot-source": {"kernel_image_path": \(quoted(image)), "boot_args": \(quoted(BootCommandLine.join(bootParameters)))},
        "drives": \(list(drives)),
        "network-interfaces": \(list(interfaces)),
        "machine-config": {"vcpu_count": 1, "mem_size_mib": \(memoryMiB)}
      }

      """
  }
}

extension Run {
  /// The declared devices, attached as the options say, in the manifest's order: checked
  /// with the spt tender's and the unix platform's words, the files as the tender checks
  /// them, the TAP interfaces when `existingTAPs` (QEMU opens them now; a Firecracker
  /// configuration may be for later).
  func virtioDevices(of application: Application, deviceOptions: [String], existingTAPs: Bool) throws
    -> [(name: String, device: QEMUInvocation.Device)]
  {
    let options = deviceOptions.compactMap { option -> DeviceOption? in
      if case .option(let device) = DeviceOption.parse(option) { return device }
      return nil
    }
    let manifest = try Builder(target: .virtio, debug: debug).readManifest(of: application)
    if let problem = DeviceOptions.check(options, declared: manifest.devices) { throw ToolError.usage(problem) }
    func option(_ kind: DeviceOption.Kind, _ name: String) -> DeviceOption? {
      options.first { $0.kind == kind && $0.name == name }
    }
    var devices: [(name: String, device: QEMUInvocation.Device)] = []
    for entry in manifest.devices {
      if entry.type == .netBasic {
        let tap = option(.network, entry.name)!.value
        guard !existingTAPs || FileManager.default.fileExists(atPath: "/sys/class/net/\(tap)") else {
          throw ToolError.usage("--net:\(entry.name)=\(tap): no network interface '\(tap)': expected an existing TAP interface")
        }
        devices.append((entry.name, .network(tap: tap, mac: option(.networkMAC, entry.name)?.macAddress)))
      } else if entry.type == .blockBasic {
        let file = option(.block, entry.name)!.value
        let sectorSize = option(.blockSectorSize, entry.name)?.sectorSize ?? DeviceLimits.defaultSectorSize
        try checkBlockFile(file, name: entry.name, sectorSize: sectorSize)
        devices.append((entry.name, .block(file: URL(fileURLWithPath: file).path, sectorSize: sectorSize)))
      }
    }
    return devices
  }

  /// Prints the Firecracker configuration for `image` and its devices.
  func printFirecrackerConfiguration(_ image: URL, application: Application, deviceOptions: [String], bootParameters: [String]) throws {
    let devices = try virtioDevices(of: application, deviceOptions: deviceOptions, existingTAPs: false)
    if let (name, _) = devices.first(where: { if case .block(_, let size) = $0.device { size != 512 } else { false } }) {
      throw ToolError.usage("--block-sector-size:\(name): Firecracker's block devices have 512-byte sectors: expected 512 with --vmm=firecracker")
    }
    var configuration = FirecrackerConfiguration(image: image.path)
    configuration.memoryMiB = memory
    configuration.bootParameters = bootParameters
    configuration.devices = devices
    FileHandle.standardOutput.write(Data(configuration.json.utf8))
  }

  /// Runs `image` under QEMU as a child (SIGINT and SIGTERM passed on) and returns the
  /// guest's exit status.
  func runQEMU(_ image: URL, application: Application, deviceOptions: [String], bootParameters: [String]) throws -> Int32 {
    guard let qemu = findExecutable("qemu-system-x86_64") else {
      throw ToolError.failure(
        "qemu-system-x86_64 is not installed: the virtio target runs under QEMU (Debian: apt-get install qemu-system-x86)")
    }
    let devices = try virtioDevices(of: application, deviceOptions: deviceOptions, existingTAPs: true).map(\.device)
    var invocation = QEMUInvocation(image: image.path)
    invocation.machine = machine
    invocation.accelerator = accelerator ?? Accelerator.best
    invocation.memoryMiB = memory
    invocation.bootParameters = bootParameters
    invocation.devices = devices
    let process = Process()
    process.executableURL = URL(fileURLWithPath: qemu)
    process.arguments = invocation.arguments
    let status = try supervised(process)
    let (guest, problem) = QEMUInvocation.guestStatus(qemuStatus: status)
    if let problem { FileHandle.standardError.write(Data("sirocco: \(problem)\n".utf8)) }
    return guest
  }

  /// A block device's file, checked as the spt tender checks it: a regular file this user
  /// may read and write, a whole non-zero number of sectors long.
  func checkBlockFile(_ file: String, name: String, sectorSize: Int) throws {
    var status = stat()
    guard stat(file, &status) == 0 else {
      throw ToolError.usage("--block:\(name)=\(file): cannot open '\(file)': \(String(cString: strerror(errno)))")
    }
    guard status.st_mode & S_IFMT == S_IFREG else {
      throw ToolError.usage("--block:\(name)=\(file): '\(file)' is not a regular file: expected a disk image")
    }
    guard access(file, R_OK | W_OK) == 0 else {
      throw ToolError.usage("--block:\(name)=\(file): cannot open '\(file)' to read and write: \(String(cString: strerror(errno)))")
    }
    let size = Int(status.st_size)
    guard size >= sectorSize, size % sectorSize == 0 else {
      throw ToolError.usage("--block:\(name)=\(file): size \(size) bytes is not a whole non-zero number of \(sectorSize)-byte sectors")
    }
  }

  /// `name` in a directory of PATH, if it is there and executable.
  func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
      let candidate = "\(directory)/\(name)"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
  }
}

/// The VMMs the virtio target runs under.
enum VMM: String, CaseIterable {
  case qemu, firecracker
}

extension VMM: ExpressibleByArgument {}
extension VirtioMachine: ExpressibleByArgument {}
extension Accelerator: ExpressibleByArgument {}
