// The tender's command line, parsed as solo5-spt parses it. Options are ASCII: they are
// taken apart as UTF-8 bytes (Embedded Swift then needs no Unicode tables).

struct Options {
  var memoryMiB = 512
  /// Sirocco's extension: TAP devices with the virtio-net header (offloads); the guest is
  /// told with `--net-offload` at the head of its command line.
  var networkOffload = false
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
      --net-offload                  Sirocco guests only: TAP devices with the virtio-net
                                     header (checksum and TCP segmentation offload); the
                                     guest gets --net-offload first on its command line
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
      if argument.utf8Equals("--help") { return .help }
      if argument.utf8Equals("--net-offload") {
        options.networkOffload = true
        continue
      }
      if argument.utf8Equals("--") {
        guard index < arguments.count else { return .failure("missing IMAGE after --") }
        options.image = arguments[index]
        options.guestArguments = Array(arguments[(index + 1)...])
        return .run(options)
      }
      guard argument.utf8HasPrefix("--") else {
        options.image = argument
        options.guestArguments = Array(arguments[index...])
        return .run(options)
      }
      let bytes = Array(argument.utf8)
      if argument.utf8HasPrefix("--mem=") {
        guard let value = decimal(bytes[6...]), value >= 1, value <= 65536 else {
          return .failure(argument + ": expected --mem=MiB with MiB from 1 to 65536")
        }
        options.memoryMiB = value
        continue
      }
      guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), let equals = bytes.firstIndex(of: UInt8(ascii: "=")),
        colon < equals
      else { return .failure("unknown option '" + argument + "' (see --help)") }
      let option = text(bytes[2..<colon])
      let name = text(bytes[(colon + 1)..<equals])
      let valueBytes = bytes[(equals + 1)...]
      let value = text(valueBytes)
      guard isValidName(name) else {
        return .failure(argument + ": bad device name '" + name + "': expected 1-67 letters and digits")
      }
      if option.utf8Equals("net") {
        guard !valueBytes.isEmpty, valueBytes.count < 16 else {
          return .failure(argument + ": bad TAP interface name '" + value + "': expected 1-15 characters")
        }
        guard !options.networks.contains(where: { $0.name.utf8Equals(name) }) else {
          return .failure(argument + ": device '" + name + "' attached twice")
        }
        options.networks.append((name, value))
      } else if option.utf8Equals("net-mac") {
        guard let mac = parseMAC(valueBytes) else {
          return .failure(argument + ": bad MAC address '" + value + "': expected six hex octets such as 02:00:00:00:00:01")
        }
        options.macAddresses.append((name, mac))
      } else if option.utf8Equals("block") {
        guard !valueBytes.isEmpty else { return .failure(argument + ": expected a file name") }
        guard !options.blocks.contains(where: { $0.name.utf8Equals(name) }) else {
          return .failure(argument + ": device '" + name + "' attached twice")
        }
        options.blocks.append((name, value))
      } else if option.utf8Equals("block-sector-size") {
        guard let size = decimal(valueBytes), size >= 512, size <= 32768, size & (size - 1) == 0 else {
          return .failure(argument + ": bad sector size '" + value + "': expected a power of two from 512 to 32768")
        }
        options.sectorSizes.append((name, size))
      } else {
        return .failure("unknown option '" + argument + "' (see --help)")
      }
    }
    return .failure("missing IMAGE (see --help)")
  }

  static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

  /// A decimal number of at most 9 digits, or nil.
  static func decimal(_ bytes: ArraySlice<UInt8>) -> Int? { asciiDecimal(bytes, maximumDigits: 9) }

  /// Solo5's device names: `%67[A-Za-z0-9]`.
  static func isValidName(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.count <= 67
      && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }
  }

  /// Six colon-separated octets of two hex digits each.
  static func parseMAC(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
    guard bytes.count == 17 else { return nil }
    var mac: [UInt8] = []
    var index = bytes.startIndex
    for octet in 0..<6 {
      if octet > 0 {
        guard bytes[index] == UInt8(ascii: ":") else { return nil }
        index += 1
      }
      guard let high = asciiHexDigit(bytes[index]), let low = asciiHexDigit(bytes[index + 1]) else { return nil }
      mac.append(high << 4 | low)
      index += 2
    }
    return mac
  }
}
