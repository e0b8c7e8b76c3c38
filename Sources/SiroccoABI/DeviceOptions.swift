// Device options as Solo5's tenders take them (`--net:NAME=TAP`, `--net-mac:NAME=MAC`,
// `--block:NAME=FILE`, `--block-sector-size:NAME=N`) and the unix target's
// `--net-socket:NAME=ADDRESS`: one grammar, one set of limits and one attachment check for
// the `sirocco` tool, the unix platform and the spt tender (which compiles this file from
// its Shared/ folder). Text is taken apart as UTF-8 bytes: the tender is Embedded Swift.

#if !SIROCCO_TENDER  // the tender compiles SiroccoWire's Text.swift into itself
import SiroccoWire
#endif

/// The limits every device option is held to, on every target.
public enum DeviceLimits {
  /// A Linux interface name: IFNAMSIZ (16) less its NUL.
  public static let maximumTAPNameLength = 15
  /// Sector sizes are powers of two in this range: Solo5 requires at least 512, and the
  /// manifest's `block_size` is a 16-bit field.
  public static let sectorSizes = 512...32768
  public static let defaultSectorSize = 512
}

/// One device option, checked against the limits.
public struct DeviceOption: Sendable {
  public enum Kind: Equatable, Sendable {
    case network, networkMAC, networkSocket, block, blockSectorSize

    /// The option's spelling between `--` and `:`.
    public var spelling: String {
      switch self {
      case .network: "net"
      case .networkMAC: "net-mac"
      case .networkSocket: "net-socket"
      case .block: "block"
      case .blockSectorSize: "block-sector-size"
      }
    }

    var placeholder: String {
      switch self {
      case .network: "TAP"
      case .networkMAC: "MAC"
      case .networkSocket: "ADDRESS"
      case .block: "FILE"
      case .blockSectorSize: "N"
      }
    }

    static let all: [Kind] = [.network, .networkMAC, .networkSocket, .block, .blockSectorSize]
  }

  public var kind: Kind
  public var name: String
  public var value: String
  /// `--net-mac`: the address's six octets (a unicast address).
  public var macAddress: [UInt8] = []
  /// `--block-sector-size`: the size (a power of two in `DeviceLimits.sectorSizes`).
  public var sectorSize = 0

  public init(kind: Kind, name: String, value: String) {
    self.kind = kind
    self.name = name
    self.value = value
  }

  /// The option as it is written.
  public var text: String { "--" + kind.spelling + ":" + name + "=" + value }

  public enum Parsed: Sendable {
    /// Not a device option: a tender option, an image, or a boot parameter.
    case other
    case option(DeviceOption)
    /// A device option that breaks the grammar or a limit: one line saying what was
    /// wrong and what was expected.
    case failure(String)
  }

  /// Reads `argument` if it is a device option.
  public static func parse(_ argument: String) -> Parsed {
    let bytes = Array(argument.utf8)
    guard bytes.count > 2, bytes[0] == UInt8(ascii: "-"), bytes[1] == UInt8(ascii: "-"),
      let colon = bytes.firstIndex(of: UInt8(ascii: ":"))
    else { return .other }
    let spelling = bytes[2..<colon]
    guard let kind = Kind.all.first(where: { spelling.elementsEqual($0.spelling.utf8) }) else { return .other }
    let rest = bytes[(colon + 1)...]
    guard let equals = rest.firstIndex(of: UInt8(ascii: "=")) else {
      return .failure(argument + ": expected --" + kind.spelling + ":NAME=" + kind.placeholder)
    }
    var option = DeviceOption(kind: kind, name: text(rest[..<equals]), value: text(rest[(equals + 1)...]))
    guard isSolo5DeviceName(option.name.utf8) else {
      return .failure(argument + ": bad device name '" + option.name + "': expected 1-67 letters and digits")
    }
    let value = rest[(equals + 1)...]
    switch kind {
    case .network:
      guard !value.isEmpty, value.count <= DeviceLimits.maximumTAPNameLength, !value.contains(UInt8(ascii: "/")) else {
        return .failure(argument + ": bad TAP interface name '" + option.value + "': expected 1-15 characters, no '/'")
      }
    case .networkMAC:
      guard let mac = macAddress(value), mac[0] & 1 == 0 else {
        return .failure(argument + ": bad MAC address '" + option.value + "': expected a unicast address such as 02:00:00:00:00:01")
      }
      option.macAddress = mac
    case .networkSocket, .block:
      guard !value.isEmpty else {
        return .failure(argument + ": expected --" + kind.spelling + ":" + option.name + "=" + kind.placeholder)
      }
    case .blockSectorSize:
      guard let size = asciiDecimal(value, maximumDigits: 6), DeviceLimits.sectorSizes.contains(size), size & (size - 1) == 0 else {
        return .failure(argument + ": bad sector size '" + option.value + "': expected a power of two from "
          + String(DeviceLimits.sectorSizes.lowerBound) + " to " + String(DeviceLimits.sectorSizes.upperBound))
      }
      option.sectorSize = size
    }
    return .option(option)
  }

  /// Six colon-separated octets of two hex digits each.
  public static func macAddress(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
    guard bytes.count == 17 else { return nil }
    var octets: [UInt8] = []
    for octet in 0..<6 {
      let at = bytes.startIndex + octet * 3
      guard octet == 0 || bytes[at - 1] == UInt8(ascii: ":"), let high = asciiHexDigit(bytes[at]), let low = asciiHexDigit(bytes[at + 1])
      else { return nil }
      octets.append(high << 4 | low)
    }
    return octets
  }

  static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
}

/// The device options of one command line, checked together against the devices an image
/// or application declares.
public enum DeviceOptions {
  /// The first problem with `options` for an image declaring `declared`, as one line; nil
  /// when every option names a declared device of its kind, at most once, and every declared
  /// device is attached.
  public static func check(_ options: [DeviceOption], declared: [Manifest.Entry]) -> String? {
    func declares(_ type: Manifest.EntryType, _ name: String) -> Bool {
      declared.contains { $0.type == type && $0.name.utf8.elementsEqual(name.utf8) }
    }
    func count(_ kinds: [DeviceOption.Kind], _ name: String) -> Int {
      options.filter { kinds.contains($0.kind) && $0.name.utf8.elementsEqual(name.utf8) }.count
    }
    for option in options {
      switch option.kind {
      case .network, .networkSocket, .block:
        let type: Manifest.EntryType = option.kind == .block ? .blockBasic : .netBasic
        let noun = option.kind == .block ? "block" : "network"
        guard declares(type, option.name) else {
          let names = declared.filter { $0.type == type }.map { $0.name }
          return "--" + option.kind.spelling + ":" + option.name + ": the image declares no " + noun + " device '"
            + option.name + "'; expected one of: " + (names.isEmpty ? "(none)" : names.joined(separator: ", "))
        }
        let kinds: [DeviceOption.Kind] = option.kind == .block ? [.block] : [.network, .networkSocket]
        guard count(kinds, option.name) == 1 else {
          return "--" + option.kind.spelling + ":" + option.name + ": " + noun + " device '" + option.name
            + "' attached twice; expected it once"
        }
      case .networkMAC, .blockSectorSize:
        let attaching: DeviceOption.Kind = option.kind == .networkMAC ? .network : .block
        let noun = option.kind == .networkMAC ? "network" : "block"
        guard count([attaching], option.name) == 1 else {
          return "--" + option.kind.spelling + ":" + option.name + ": " + noun + " device '" + option.name
            + "' is not attached; expected --" + attaching.spelling + ":" + option.name + "=" + attaching.placeholder + " as well"
        }
        guard count([option.kind], option.name) == 1 else {
          return "--" + option.kind.spelling + ":" + option.name + ": given twice; expected it once"
        }
      }
    }
    for device in declared where device.type != .reservedFirst {
      let kinds: [DeviceOption.Kind] = device.type == .netBasic ? [.network, .networkSocket] : [.block]
      guard count(kinds, device.name) == 0 else { continue }
      let option = device.type == .netBasic ? "--net:" + device.name + "=TAP" : "--block:" + device.name + "=FILE"
      return (device.type == .netBasic ? "network" : "block") + " device '" + device.name
        + "' is declared but not attached: expected " + option
    }
    return nil
  }
}
