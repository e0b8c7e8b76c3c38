// Device options on the command line, in Solo5's syntax: `--net:NAME=TAP` and
// `--net-mac:NAME=MAC`. Everything else is a boot parameter.

import Sirocco

struct DeviceOptions {
  var networks: [(name: String, tap: String)] = []
  var macAddresses: [(name: String, mac: MACAddress)] = []
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
      } else if argument.hasPrefix("--net-mac:") {
        kind = "net-mac"
      } else if argument.hasPrefix("--block:") {
        return .failure(Failure(message: "\(argument): block devices are not supported by the unix target yet; expected --net:NAME=TAP"))
      } else {
        options.bootArguments.append(argument)
        continue
      }
      let body = argument.dropFirst(kind.count + 3)
      guard let equals = body.firstIndex(of: "=") else {
        return .failure(Failure(message: "\(argument): expected --\(kind):NAME=\(kind == "net" ? "TAP" : "MAC")"))
      }
      let name = String(body[body.startIndex..<equals])
      let value = String(body[body.index(after: equals)...])
      guard DeviceDeclaration.isValidName(name) else {
        return .failure(Failure(message: "\(argument): bad device name '\(name)': expected 1-67 letters and digits"))
      }
      if kind == "net" {
        guard !value.isEmpty, value.utf8.count < 16 else {
          return .failure(Failure(message: "\(argument): bad TAP interface name '\(value)': expected 1-15 characters"))
        }
        guard !options.networks.contains(where: { $0.name == name }) else {
          return .failure(Failure(message: "\(argument): network device '\(name)' attached twice; expected one --net:\(name)=TAP"))
        }
        options.networks.append((name, value))
      } else {
        guard let mac = MACAddress(value), mac.isUnicast else {
          return .failure(Failure(message: "\(argument): bad MAC address '\(value)': expected a unicast address such as 02:00:00:00:00:01"))
        }
        options.macAddresses.append((name, mac))
      }
    }
    return .success(options)
  }
}
