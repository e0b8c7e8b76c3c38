// The tender's command line, parsed as solo5-spt parses it.

struct Options {
  var memoryMiB = 512
  var networks: [(name: String, tap: String)] = []
  var macAddresses: [(name: String, mac: [UInt8])] = []
  var blocks: [(name: String, path: String)] = []
  var sectorSizes: [(name: String, size: Int)] = []
  var image = ""
  var guestArguments: [String] = []

  static let usage = """
    usage: sirocco-spt [TENDER OPTIONS] [--] IMAGE [ARGS...]

    tender options:
      --mem=MiB                      guest memory in MiB (default 512)
      --net:NAME=TAP                 attach network device NAME to TAP interface TAP
      --net-mac:NAME=MAC             its MAC address (default: random, locally administered)
      --block:NAME=FILE              attach block device NAME to FILE
      --block-sector-size:NAME=N     its sector size, a power of two >= 512 (default 512)
      --help                         print this and exit

    """

  enum Outcome {
    case run(Options)
    case help
    case failure(String)
  }

  static func parse(_ arguments: [String]) -> Outcome {
    var options = Options()
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if argument == "--help" { return .help }
      if argument == "--" {
        guard index < arguments.count else { return .failure("missing IMAGE after --") }
        options.image = arguments[index]
        options.guestArguments = Array(arguments[(index + 1)...])
        return .run(options)
      }
      guard argument.hasPrefix("--") else {
        options.image = argument
        options.guestArguments = Array(arguments[index...])
        return .run(options)
      }
      if argument.hasPrefix("--mem=") {
        guard let value = Int(argument.dropFirst(6)), value >= 1, value <= 65536 else {
          return .failure("\(argument): expected --mem=MiB with MiB from 1 to 65536")
        }
        options.memoryMiB = value
        continue
      }
      guard let colon = argument.firstIndex(of: ":"), let equals = argument.firstIndex(of: "="), colon < equals else {
        return .failure("unknown option '\(argument)' (see --help)")
      }
      let option = String(argument[argument.index(argument.startIndex, offsetBy: 2)..<colon])
      let name = String(argument[argument.index(after: colon)..<equals])
      let value = String(argument[argument.index(after: equals)...])
      guard isValidName(name) else {
        return .failure("\(argument): bad device name '\(name)': expected 1-67 letters and digits")
      }
      switch option {
      case "net":
        guard !value.isEmpty, value.utf8.count < 16 else {
          return .failure("\(argument): bad TAP interface name '\(value)': expected 1-15 characters")
        }
        guard !options.networks.contains(where: { $0.name == name }) else { return .failure("\(argument): device '\(name)' attached twice") }
        options.networks.append((name, value))
      case "net-mac":
        guard let mac = parseMAC(value) else {
          return .failure("\(argument): bad MAC address '\(value)': expected six hex octets such as 02:00:00:00:00:01")
        }
        options.macAddresses.append((name, mac))
      case "block":
        guard !value.isEmpty else { return .failure("\(argument): expected a file name") }
        guard !options.blocks.contains(where: { $0.name == name }) else { return .failure("\(argument): device '\(name)' attached twice") }
        options.blocks.append((name, value))
      case "block-sector-size":
        guard let size = Int(value), size >= 512, size <= 32768, size & (size - 1) == 0 else {
          return .failure("\(argument): bad sector size '\(value)': expected a power of two from 512 to 32768")
        }
        options.sectorSizes.append((name, size))
      default:
        return .failure("unknown option '\(argument)' (see --help)")
      }
    }
    return .failure("missing IMAGE (see --help)")
  }

  /// Solo5's device names: `%67[A-Za-z0-9]`.
  static func isValidName(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.count <= 67
      && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }
  }

  static func parseMAC(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 6 else { return nil }
    var bytes: [UInt8] = []
    for part in parts {
      guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
      bytes.append(byte)
    }
    return bytes
  }
}
