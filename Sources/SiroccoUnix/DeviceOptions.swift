// Device options on the command line, in Solo5's syntax: `--net:NAME=TAP`,
// `--net-mac:NAME=MAC`, `--block:NAME=FILE`, `--block-sector-size:NAME=N`; and the unix
// target's own `--net-socket:NAME=ADDRESS` (the host's sockets). Everything else is a boot
// parameter.

import Sirocco

struct DeviceOptions {
  var networks: [(name: String, tap: String)] = []
  var sockets: [(name: String, address: IPv4Address)] = []
  var macAddresses: [(name: String, mac: MACAddress)] = []
  var blocks: [(name: String, path: String)] = []
  var sectorSizes: [(name: String, size: Int)] = []
  var bootArguments: [String] = []

  struct Failure: Error {
    var message: String
  }

  static func parse(_ arguments: [String]) -> Result<DeviceOptions, Failure> {
    var options = DeviceOptions()
    for argument in arguments {
      let kind: String
      if argument.hasPrefix("--net:") {
        kind = "net"
      } else if argument.hasPrefix("--net-socket:") {
        kind = "net-socket"
      } else if argument.hasPrefix("--net-mac:") {
        kind = "net-mac"
      } else if argument.hasPrefix("--block:") {
        kind = "block"
      } else if argument.hasPrefix("--block-sector-size:") {
        kind = "block-sector-size"
      } else {
        options.bootArguments.append(argument)
        continue
      }
      let body = argument.dropFirst(kind.count + 3)
      guard let equals = body.firstIndex(of: "=") else {
        let placeholder = ["net": "TAP", "net-socket": "ADDRESS", "net-mac": "MAC", "block": "FILE", "block-sector-size": "N"][kind] ?? "VALUE"
        return .failure(Failure(message: "\(argument): expected --\(kind):NAME=\(placeholder)"))
      }
      let name = String(body[body.startIndex..<equals])
      let value = String(body[body.index(after: equals)...])
      guard DeviceDeclaration.isValidName(name) else {
        return .failure(Failure(message: "\(argument): bad device name '\(name)': expected 1-67 letters and digits"))
      }
      switch kind {
      case "net":
        guard !value.isEmpty, value.utf8.count < 16 else {
          return .failure(Failure(message: "\(argument): bad TAP interface name '\(value)': expected 1-15 characters"))
        }
        guard !options.networks.contains(where: { $0.name == name }), !options.sockets.contains(where: { $0.name == name }) else {
          return .failure(Failure(message: "\(argument): network device '\(name)' attached twice; expected one --net:\(name)=TAP"))
        }
        options.networks.append((name, value))
      case "net-socket":
        guard let address = IPv4Address(value), !address.isBroadcast, !address.isMulticast else {
          return .failure(Failure(message: "\(argument): bad address '\(value)': expected an IPv4 address of this host such as 127.0.0.1 (0.0.0.0: all)"))
        }
        guard !options.networks.contains(where: { $0.name == name }), !options.sockets.contains(where: { $0.name == name }) else {
          return .failure(Failure(message: "\(argument): network device '\(name)' attached twice"))
        }
        options.sockets.append((name, address))
      case "block":
        guard !value.isEmpty else {
          return .failure(Failure(message: "\(argument): expected a file name after '='"))
        }
        guard !options.blocks.contains(where: { $0.name == name }) else {
          return .failure(Failure(message: "\(argument): block device '\(name)' attached twice; expected one --block:\(name)=FILE"))
        }
        options.blocks.append((name, value))
      case "block-sector-size":
        guard let size = Int(value), size >= 512, size <= 65536, size & (size - 1) == 0 else {
          return .failure(Failure(message: "\(argument): bad sector size '\(value)': expected a power of two from 512 to 65536"))
        }
        options.sectorSizes.append((name, size))
      default:
        guard let mac = MACAddress(value), mac.isUnicast else {
          return .failure(Failure(message: "\(argument): bad MAC address '\(value)': expected a unicast address such as 02:00:00:00:00:01"))
        }
        options.macAddresses.append((name, mac))
      }
    }
    return .success(options)
  }
}
