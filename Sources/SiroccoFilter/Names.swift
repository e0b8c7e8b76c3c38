// Looking names up: a port name gives its port and the transport protocols it is defined
// for (libpcap's pcap_nametoport: TCP's port if it has one, both protocols when UDP's is
// the same); EtherType names are libpcap's own list.

enum Names {
  /// A service's port and the one protocol it is restricted to (nil: TCP and UDP alike, or
  /// whatever the qualifier says).
  static func service(_ name: String) -> (port: UInt32, only: UInt32?)? {
    guard let ports = services[name] else { return nil }
    if ports.tcp >= 0 {
      if ports.udp == ports.tcp { return (UInt32(ports.tcp), nil) }
      return (UInt32(ports.tcp), 6)
    }
    if ports.udp >= 0 { return (UInt32(ports.udp), 17) }
    if ports.sctp >= 0 { return (UInt32(ports.sctp), 132) }
    return nil
  }

  /// `LOW-HIGH` with numbers (as `sscanf("%d-%d")` reads them), or names each side.
  static func portRange(_ text: String) -> (low: UInt32, high: UInt32, only: UInt32?)? {
    let parts = text.utf8.split(separator: UInt8(ascii: "-"), maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2 else { return nil }
    if let low = decimal(parts[0]), let high = decimal(parts[1]) { return (low, high, nil) }
    guard let low = service(String(decoding: parts[0], as: UTF8.self)),
      let high = service(String(decoding: parts[1], as: UTF8.self))
    else { return nil }
    return (low.port, high.port, low.only == high.only ? low.only : nil)
  }

  /// A run of decimal digits' value (nil for anything else, or an empty text).
  static func decimal<C: Collection>(_ digits: C) -> UInt32? where C.Element == UInt8 {
    guard !digits.isEmpty, digits.count <= 10 else { return nil }
    var value: UInt64 = 0
    for digit in digits {
      guard digit >= 0x30, digit <= 0x39 else { return nil }
      value = value * 10 + UInt64(digit - 0x30)
    }
    return value <= UInt64(UInt32.max) ? UInt32(value) : nil
  }

  /// An IP protocol's number by name.
  static func ipProtocol(_ name: String) -> UInt32? { protocols[name] }

  /// libpcap's EtherType names.
  static func etherType(_ name: String) -> UInt32? {
    switch name {
    case "aarp": 0x80f3
    case "arp": 0x0806
    case "atalk": 0x809b
    case "decnet": 0x6003
    case "ip": 0x0800
    case "ip6": 0x86dd
    case "lat": 0x6004
    case "loopback": 0x9000
    case "mopdl": 0x6001
    case "moprc": 0x6002
    case "rarp": 0x8035
    case "sca": 0x6007
    default: nil
    }
  }
}
