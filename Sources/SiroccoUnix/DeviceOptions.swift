// The unix target's command line: device options in Solo5's syntax, with the grammar and
// limits every target shares (SiroccoABI's DeviceOption), plus the unix target's own
// `--net-socket:NAME=ADDRESS` (the host's sockets). Everything else is a boot parameter.

import Sirocco
import SiroccoABI

struct UnixDeviceOptions {
  var options: [DeviceOption] = []
  var bootArguments: [String] = []

  struct Failure: Error {
    var message: String
  }

  var networks: [(name: String, tap: String)] { options.filter { $0.kind == .network }.map { ($0.name, $0.value) } }
  var sockets: [(name: String, address: IPv4Address)] {
    options.filter { $0.kind == .networkSocket }.map { ($0.name, IPv4Address($0.value)!) }
  }
  var blocks: [(name: String, path: String)] { options.filter { $0.kind == .block }.map { ($0.name, $0.value) } }

  func macAddress(of name: String) -> MACAddress? {
    options.first { $0.kind == .networkMAC && $0.name == name }.map { mac in
      MACAddress(mac.macAddress[0], mac.macAddress[1], mac.macAddress[2], mac.macAddress[3], mac.macAddress[4], mac.macAddress[5])
    }
  }

  func sectorSize(of name: String) -> Int {
    options.first { $0.kind == .blockSectorSize && $0.name == name }?.sectorSize ?? DeviceLimits.defaultSectorSize
  }

  /// Reads the command line: device options (each checked against the limits) and boot
  /// arguments.
  static func parse(_ arguments: [String]) -> Result<UnixDeviceOptions, Failure> {
    var parsed = UnixDeviceOptions()
    for argument in arguments {
      switch DeviceOption.parse(argument) {
      case .other:
        parsed.bootArguments.append(argument)
      case .failure(let message):
        return .failure(Failure(message: message))
      case .option(let option):
        if option.kind == .networkSocket {
          guard let address = IPv4Address(option.value), !address.isBroadcast, !address.isMulticast else {
            return .failure(Failure(message: "\(argument): bad address '\(option.value)': expected an IPv4 address of this host such as 127.0.0.1 (0.0.0.0: all)"))
          }
        }
        parsed.options.append(option)
      }
    }
    return .success(parsed)
  }

  /// The first problem with the options for an application declaring `declared`, or nil.
  func check(declared: [DeviceDeclaration]) -> String? {
    let manifest = declared.map { Manifest.Entry(name: $0.name, type: $0.kind == .network ? .netBasic : .blockBasic) }
    if let problem = DeviceOptions.check(options, declared: manifest) { return problem }
    if !sockets.isEmpty, !networks.isEmpty {
      return "--net-socket and --net attach network devices of two kinds: expected one kind for all"
    }
    return nil
  }
}
