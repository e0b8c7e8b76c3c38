// Looking names up: a port name gives its port and the transport protocols it is defined
// for (libpcap's pcap_nametoport: TCP's port if it has one, both protocols when UDP's is
// the same); EtherType names are libpcap's own list.

enum Names {
  /// A port range as libpcap's pcap_nametoportrange reads it: `LOW-HIGH` as `sscanf("%d-%d")`
  /// reads it (each number cut to 32 bits, anything after the second ignored), else a port
  /// each side of the first `-`, each by number or name as `port(_:)` finds it. A single name
  /// is no range. The numbers may be out of 0...65535: the caller refuses them.
  static func portRange(_ text: String) -> (low: Int64, high: Int64, only: UInt32?)? {
    let bytes = Array(text.utf8)
    if let (low, next) = scannedInteger(bytes, from: 0), next < bytes.count, bytes[next] == UInt8(ascii: "-"),
      let (high, _) = scannedInteger(bytes, from: next + 1)
    {
      return (low, high, nil)
    }
    guard let dash = bytes.firstIndex(of: UInt8(ascii: "-")),
      let low = port(bytes[..<dash]), let high = port(bytes[(dash + 1)...])
    else { return nil }
    return (Int64(low.port), Int64(high.port), low.only == high.only ? low.only : nil)
  }

  /// A port as pcap_nametoport finds it through getaddrinfo, and the one protocol it is
  /// restricted to (nil: TCP and UDP alike, or whatever the qualifier says): a number as glibc
  /// reads it when it takes the whole text (`strtoul`, saturating, negatives wrapping, then
  /// kept in an int: negative there is no number, else its low 16 bits are the port), else a
  /// service's TCP port (both protocols when its UDP port is the same), else its UDP port.
  static func port(_ text: ArraySlice<UInt8>) -> (port: UInt32, only: UInt32?)? {
    let negative = text.first == UInt8(ascii: "-")
    let digits = negative ? text.dropFirst() : text[...]
    if !digits.isEmpty, digits.allSatisfy(isDigit) {
      let value = saturatingDecimal(digits)
      let number = Int32(truncatingIfNeeded: negative ? 0 &- value : value)
      return number < 0 ? nil : (UInt32(number) & 0xffff, nil)
    }
    guard let ports = services[String(decoding: text, as: UTF8.self)] else { return nil }
    if ports.tcp >= 0 { return (UInt32(ports.tcp), ports.udp == ports.tcp ? nil : 6) }
    if ports.udp >= 0 { return (UInt32(ports.udp), 17) }
    return nil
  }

  /// `%d` of scanf from `start`: an optional sign and at least one digit, read as a 64-bit
  /// `strtol` reads it (saturating) and cut to 32 bits as it is stored into an int; the value
  /// and the index after the digits.
  static func scannedInteger(_ bytes: [UInt8], from start: Int) -> (Int64, Int)? {
    var index = start
    var negative = false
    if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
      negative = bytes[index] == UInt8(ascii: "-")
      index += 1
    }
    let first = index
    while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    guard index > first else { return nil }
    let magnitude = saturatingDecimal(bytes[first..<index])
    let long: Int64
    if negative {
      long = magnitude > UInt64(Int64.max) + 1 ? Int64.min : Int64(truncatingIfNeeded: 0 &- magnitude)
    } else {
      long = magnitude > UInt64(Int64.max) ? Int64.max : Int64(magnitude)
    }
    return (Int64(Int32(truncatingIfNeeded: long)), index)
  }

  static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

  /// Decimal digits' value as C's `strtoul` and `strtol` read it on 64 bits: UInt64.max once
  /// it no longer fits (the two then saturate; no value that fits is above their limits).
  static func saturatingDecimal(_ digits: ArraySlice<UInt8>) -> UInt64 {
    var value: UInt64 = 0
    for digit in digits {
      let (times, o1) = value.multipliedReportingOverflow(by: 10)
      let (sum, o2) = times.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
      if o1 || o2 { return UInt64.max }
      value = sum
    }
    return value
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
