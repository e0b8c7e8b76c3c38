// A tender's command line (sirocco-spt's and sirocco-hvt's), parsed as solo5-spt and
// solo5-hvt parse it. Options are ASCII: they are taken apart as UTF-8 bytes (Embedded Swift
// then needs no Unicode tables).

struct Options {
  var memoryMiB = 512
  /// Sirocco's extension: TAP devices with the virtio-net header (offloads); a Sirocco
  /// guest is told through its note (SiroccoNote.Capabilities.networkOffload).
  var networkOffload = false
  /// Sirocco's extension: the network devices served through a restricted io_uring (many
  /// frames per system call); a Sirocco guest is told through its note
  /// (SiroccoNote.Capabilities.ioRing).
  var ioRing = false
  /// sirocco-hvt: where to write the guest's core when it fails (`--dump-core=DIR`).
  var coreDirectory: String? = nil
  /// The device options, each checked against the limits every target shares.
  var devices: [DeviceOption] = []
  var image = ""
  var guestArguments: [String] = []

  func device(_ kind: DeviceOption.Kind, named name: String) -> DeviceOption? {
    devices.first { $0.kind == kind && $0.name.utf8Equals(name) }
  }

  static let usage = """
    usage: \(Tender.name) [TENDER OPTIONS] [--] IMAGE [ARGS...]

    tender options:
      --mem=MiB                      guest memory in MiB (default 512\(Tender.memoryNote))
      --net:NAME=TAP                 attach network device NAME to TAP interface TAP
      --net-mac:NAME=MAC             its MAC address (default: random, locally administered)
      --block:NAME=FILE              attach block device NAME to FILE
      --block-sector-size:NAME=N     its sector size, a power of two from 512 to 32768
                                     (default 512)
    \(Tender.extraOptions)  --help                         print this and exit

    exit status: the guest's; 255 the guest trapped\(Tender.faultNote); 2 bad usage (an
    option, a device that is unknown, unattached or cannot be attached); 1 the image was
    refused or the tender failed.

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
      if Tender.offersNetworkOffload, argument.utf8Equals("--net-offload") {
        options.networkOffload = true
        continue
      }
      if Tender.offersIORing, argument.utf8Equals("--io-uring") {
        options.ioRing = true
        continue
      }
      if Tender.offersCoreDump, argument.utf8HasPrefix("--dump-core=") || argument.utf8HasPrefix("--dumpcore=") {
        let directory = String(decoding: Array(argument.utf8).drop { $0 != UInt8(ascii: "=") }.dropFirst(), as: UTF8.self)
        guard !directory.isEmpty else { return .failure(argument + ": expected --dump-core=DIR") }
        options.coreDirectory = directory
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
      if argument.utf8HasPrefix("--mem=") {
        let limits = Tender.memoryMiB
        guard let value = asciiDecimal(Array(argument.utf8)[6...], maximumDigits: 9), limits.contains(value) else {
          return .failure(argument + ": expected --mem=MiB with MiB from \(limits.lowerBound) to \(limits.upperBound)")
        }
        options.memoryMiB = value
        continue
      }
      switch DeviceOption.parse(argument) {
      case .option(let option) where option.kind != .networkSocket:
        options.devices.append(option)
      case .failure(let message):
        return .failure(message)
      default:
        return .failure("unknown option '" + argument + "' (see --help)")
      }
    }
    return .failure("missing IMAGE (see --help)")
  }
}
