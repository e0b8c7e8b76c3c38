// Fuzz target: the address text parsers (MAC, IPv4, IPv6, their networks, IPAddress). What
// parses must write (RFC 5952 for IPv6) as text that parses back to the same value; IPAddress
// must accept exactly what one of the two families accepts, as that family.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddress(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let text = rawBuffer(data, size)
  let ipv4 = IPv4Address(utf8: text)
  let ipv6 = IPv6Address(utf8: text)
  require(ipv4 == nil || ipv6 == nil, "\(hex(text)) parses as both families")
  let either = IPAddress(utf8: text)
  require(either == ipv4.map { .v4($0) } ?? ipv6.map { .v6($0) }, "\(hex(text)) parses as \(String(describing: either))")
  if let ipv6 {
    let written = ipv6.description
    require(IPv6Address(written) == ipv6 && !written.utf8.contains(UInt8(ascii: "%")), "\(hex(text)) written as \(written)")
  }
  if let ipv4 { require(IPv4Address(ipv4.description) == ipv4, "\(ipv4) from \(hex(text))") }
  if let either { require(IPAddress(either.description) == either, "\(either) from \(hex(text))") }
  if let network = IPv6Network(utf8: text) {
    require(IPv6Network(network.description) == network && network.contains(network.networkAddress), "\(network) from \(hex(text))")
  }
  if let network = IPv4Network(utf8: text) { require(IPv4Network(network.description) == network, "\(network) from \(hex(text))") }
  if let mac = MACAddress(String(decoding: text, as: UTF8.self)) { require(MACAddress(mac.description) == mac, "\(mac)") }
  return 0
}
