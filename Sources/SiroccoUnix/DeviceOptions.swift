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
  /// Each `--net-socket` device with its addresses (checked by `parse`): one or two, IPv4 first.
  var sockets: [(name: String, addresses: [IPAddress])] {
    options.filter { $0.kind == .networkSocket }.map { ($0.name, Self.socketAddresses($0.value)!) }
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
        if option.kind == .networkSocket, socketAddresses(option.value) == nil {
          return .failure(Failure(message: "\(argument): bad address '\(option.value)': expected an address of this host, or one "
            + "of each family separated by a comma, such as 127.0.0.1 or 127.0.0.1,::1 (0.0.0.0 and ::: all)"))
        }
        parsed.options.append(option)
      }
    }
    return .success(parsed)
  }

  /// The addresses of a `--net-socket` value: one, or one of each family separated by a comma,
  /// IPv4 first; each unicast or unspecified, and not IPv6 link-local (which would need an
  /// interface). Nil if the value is not that.
  static func socketAddresses(_ value: String) -> [IPAddress]? {
    let parts = value.split(separator: ",", omittingEmptySubsequences: false)
    guard parts.count == 1 || parts.count == 2 else { return nil }
    var addresses: [IPAddress] = []
    for part in parts {
      guard let address = IPAddress(part), !address.isMulticast, address.ipv4?.isBroadcast != true,
        address.ipv6?.isLinkLocal != true, address.ipv6?.isIPv4Mapped != true
      else { return nil }
      addresses.append(address)
    }
    if addresses.count == 2 {
      guard (addresses[0].ipv4 != nil) != (addresses[1].ipv4 != nil) else { return nil }
      if addresses[0].ipv4 == nil { addresses.swapAt(0, 1) }
    }
    return addresses
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
