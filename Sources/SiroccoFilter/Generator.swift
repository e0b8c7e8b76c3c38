// The primitives of pcap-filter(7) over Ethernet frames, each made of the tests libpcap's
// code generator makes (gencode.c, 1.10), in its order and with its statements: the
// EtherType first, then the fields; IPv6 before IPv4 for ports and SCTP, TCP, UDP in turn;
// sources before destinations. `vlan` moves the EtherType and the payload after it, `mpls`
// the network layer.

import SiroccoWire

struct Generator {
  /// The EtherType's offset, the link layer payload's, and the network layer's past it
  /// (MPLS labels).
  var typeOffset: UInt32 = 12
  var linkPayload: UInt32 = 14
  var networkSkip: UInt32 = 0
  var labels = 0
  /// Scratch memory words in use, and where the search for a free one starts (libpcap's
  /// `regused` and `curreg`).
  var registersInUse = [Bool](repeating: false, count: BPF.memoryWords)
  var nextRegister = 0

  // IP protocol numbers.
  static let icmp: UInt32 = 1, igmp: UInt32 = 2, tcp: UInt32 = 6, igrp: UInt32 = 9, udp: UInt32 = 17
  static let esp: UInt32 = 50, ah: UInt32 = 51, icmp6: UInt32 = 58, pim: UInt32 = 103, vrrp: UInt32 = 112
  static let sctp: UInt32 = 132, ipv6Fragment: UInt32 = 44
  // EtherTypes.
  static let ipv4: UInt32 = 0x0800, arp: UInt32 = 0x0806, rarp: UInt32 = 0x8035, ipv6: UInt32 = 0x86dd
  static let mplsUnicast: UInt32 = 0x8847, ipx: UInt32 = 0x8137, appleTalk: UInt32 = 0x809b, aarp: UInt32 = 0x80f3

  var network: UInt32 { linkPayload &+ networkSkip }

  // MARK: Tests

  /// The statements loading `size` bytes at `offset` from `base` into A.
  func load(_ base: Base, _ offset: UInt32, size: Int) -> [Statement] {
    let sizeCode = size == 4 ? BPF.w : size == 2 ? BPF.h : BPF.b
    switch base {
    case .frame: return [Statement(BPF.ld | sizeCode | BPF.abs, offset)]
    case .network: return [Statement(BPF.ld | sizeCode | BPF.abs, network &+ offset)]
    case .ipv4Transport:
      return [Statement(BPF.ldx | BPF.msh | BPF.b, network), Statement(BPF.ld | sizeCode | BPF.ind, network &+ offset)]
    case .ipv6Transport: return [Statement(BPF.ld | sizeCode | BPF.abs, network &+ 40 &+ offset)]
    }
  }

  /// gen_ncmp: the field, masked, compared; `reverse` negates a `>` or `>=`.
  func compare(_ base: Base, _ offset: UInt32, size: Int, mask: UInt32 = 0xffff_ffff, _ value: UInt32,
               jump: UInt16 = BPF.jeq, reverse: Bool = false) -> Condition {
    var statements = load(base, offset, size: size)
    if mask != 0xffff_ffff { statements.append(Statement(BPF.alu | BPF.and | BPF.k, mask)) }
    let test = Condition.test(Test(statements: statements, code: Int(BPF.jmp | jump), k: value))
    return reverse && (jump == BPF.jgt || jump == BPF.jge) ? .not(test) : test
  }

  /// The EtherType at `typeOffset`, as frame-relative.
  func typeField(at offset: UInt32 = 0, size: Int = 2, _ value: UInt32, jump: UInt16 = BPF.jeq, reverse: Bool = false) -> Condition {
    compare(.frame, typeOffset &+ offset, size: size, value, jump: jump, reverse: reverse)
  }

  /// gen_bcmp: bytes compared four, then two, then one at a time from the end.
  func compareBytes(_ base: Base, _ offset: UInt32, _ bytes: [UInt8]) -> Condition {
    var condition: Condition?
    var size = bytes.count
    func join(_ test: Condition) { condition = condition.map { $0 && test } ?? test }
    while size >= 4 {
      let p = size - 4
      let word = UInt32(bytes[p]) << 24 | UInt32(bytes[p + 1]) << 16 | UInt32(bytes[p + 2]) << 8 | UInt32(bytes[p + 3])
      join(compare(base, offset &+ UInt32(p), size: 4, word))
      size -= 4
    }
    while size >= 2 {
      let p = size - 2
      join(compare(base, offset &+ UInt32(p), size: 2, UInt32(bytes[p]) << 8 | UInt32(bytes[p + 1])))
      size -= 2
    }
    if size > 0 { join(compare(base, offset, size: 1, UInt32(bytes[0]))) }
    return condition!
  }

  // MARK: Link layer

  /// gen_linktype for Ethernet: the EtherType, an 802.2 SAP for values up to 1500 (ISO, IP
  /// and NetBEUI SAPs, IPX in its four encapsulations, AppleTalk and AARP over SNAP), or
  /// under MPLS the network layer's version.
  func etherType(_ type: UInt32, column: Int = 0) throws(FilterError) -> Condition {
    if labels > 0 {
      let version: UInt32
      switch type {
      case Self.ipv4: version = 0x40
      case Self.ipv6: version = 0x60
      default: throw FilterError("unsupported protocol over mpls", column: column)
      }
      return compare(.network, 0 &- 2, size: 1, mask: 0x01, 0x01) && compare(.network, 0, size: 1, mask: 0xf0, version)
    }
    let isLength = typeField(1500, jump: BPF.jgt, reverse: true)
    switch type {
    case 0xfe, 0x06, 0xf0:  // ISO, IP, NetBEUI SAPs: DSAP and SSAP
      return isLength && compare(.frame, linkPayload, size: 2, type << 8 | type)
    case 0xe0:  // IPX: raw 802.3, 802.2, SNAP or Ethernet II
      let llc = compare(.frame, linkPayload, size: 1, 0xe0) || compare(.frame, linkPayload, size: 2, 0xffff)
      let snap = snapHeader(0x000000, Self.ipx)
      return typeField(Self.ipx) || (isLength && (snap || llc))
    case Self.appleTalk, Self.aarp:
      let snap = type == Self.appleTalk ? snapHeader(0x080007, Self.appleTalk) : snapHeader(0x000000, Self.aarp)
      return typeField(type) || (isLength && snap)
    default:
      if type <= 1500 { return isLength && typeField(at: 2, size: 1, type) }
      return typeField(type)
    }
  }

  /// gen_snap: an 802.2 SNAP header with this organisation code and type.
  func snapHeader(_ organisation: UInt32, _ type: UInt32) -> Condition {
    compareBytes(.frame, linkPayload, [
      0xaa, 0xaa, 0x03, UInt8(truncatingIfNeeded: organisation >> 16), UInt8(truncatingIfNeeded: organisation >> 8),
      UInt8(truncatingIfNeeded: organisation), UInt8(truncatingIfNeeded: type >> 8), UInt8(truncatingIfNeeded: type),
    ])
  }

  /// `src`, `dst`, `src or dst`, `src and dst` of two tests, made in that order.
  func directed(_ direction: Qualifiers.Direction, source: () throws(FilterError) -> Condition,
                destination: () throws(FilterError) -> Condition) throws(FilterError) -> Condition {
    switch direction {
    case .source: return try source()
    case .destination: return try destination()
    case .both:
      let s = try source()
      return s && (try destination())
    case .unspecified, .either:
      let s = try source()
      return s || (try destination())
    }
  }

  func mac(_ text: String, _ qualifiers: Qualifiers, column: Int) throws(FilterError) -> Condition {
    guard let address = Self.parseMAC(text) else { throw FilterError("bogus ethernet address " + text, column: column) }
    switch qualifiers.kind {
    case .unspecified, .host:
      // `ether` itself, or inherited (`ether host A or B`): `src A` and `host A` are refused,
      // as libpcap's gen_ecode refuses them (found by the fuzz target filter-libpcap).
      guard qualifiers.proto == .link else {
        throw FilterError("ethernet address used in non-ether expression", column: column)
      }
      return try directed(qualifiers.direction, source: { compareBytes(.frame, 6, address) },
                          destination: { compareBytes(.frame, 0, address) })
    case .gateway:
      throw FilterError("'gateway' is not supported: it needs host names looked up", column: column)
    default:
      throw FilterError("ethernet address used in non-ether expression", column: column)
    }
  }

  static func parseMAC(_ text: String) -> [UInt8]? {
    var digits: [UInt8] = []
    var groups: [[UInt8]] = [[]]
    for byte in text.utf8 {
      if byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") {
        groups.append([])
      } else {
        groups[groups.count - 1].append(byte)
      }
    }
    for group in groups { digits += group.count % 2 == 1 ? [UInt8(ascii: "0")] + group : group }
    guard digits.count == 12 else { return nil }
    var address: [UInt8] = []
    for index in stride(from: 0, to: 12, by: 2) {
      guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
      address.append(high << 4 | low)
    }
    return address
  }

  static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x41...0x46: byte - 0x41 + 10
    case 0x61...0x66: byte - 0x61 + 10
    default: nil
    }
  }

  // MARK: Protocols

  /// gen_proto for IPv4: the EtherType and the protocol field.
  func ipProtocol(_ number: UInt32) throws(FilterError) -> Condition {
    try etherType(Self.ipv4) && compare(.network, 9, size: 1, number)
  }

  /// gen_proto for IPv6: the next header, or a fragment header followed by it.
  func ip6Protocol(_ number: UInt32) throws(FilterError) -> Condition {
    let type = try etherType(Self.ipv6)
    let direct = compare(.network, 6, size: 1, number)
    let fragmented = compare(.network, 6, size: 1, Self.ipv6Fragment) && compare(.network, 40, size: 1, number)
    return type && (direct || fragmented)
  }

  /// `proto N` under a protocol qualifier (none: IPv4, then IPv6).
  func protocolNumber(_ number: UInt32, _ proto: Qualifiers.Layer, column: Int) throws(FilterError) -> Condition {
    switch proto {
    case .unspecified:
      let four = try ipProtocol(number)
      return four || (try ip6Protocol(number))
    case .ip: return try ipProtocol(number)
    case .ip6: return try ip6Protocol(number)
    case .link: return try etherType(number, column: column)
    default: throw FilterError("'" + Self.name(proto) + " proto' is bogus", column: column)
    }
  }

  /// `tcp`, `ip`, `arp`...: the protocol alone.
  func protocolAbbreviation(_ proto: Qualifiers.Layer, column: Int) throws(FilterError) -> Condition {
    func both(_ number: UInt32) throws(FilterError) -> Condition {
      let four = try ipProtocol(number)
      return four || (try ip6Protocol(number))
    }
    switch proto {
    case .unspecified, .link: throw FilterError("link layer applied in wrong context", column: column)
    case .ip: return try etherType(Self.ipv4, column: column)
    case .ip6: return try etherType(Self.ipv6, column: column)
    case .arp: return try etherType(Self.arp, column: column)
    case .rarp: return try etherType(Self.rarp, column: column)
    case .tcp: return try both(Self.tcp)
    case .udp: return try both(Self.udp)
    case .sctp: return try both(Self.sctp)
    case .icmp: return try ipProtocol(Self.icmp)
    case .icmp6: return try ip6Protocol(Self.icmp6)
    case .igmp: return try ipProtocol(Self.igmp)
    case .igrp: return try ipProtocol(Self.igrp)
    case .pim: return try both(Self.pim)
    case .vrrp, .carp: return try ipProtocol(Self.vrrp)
    case .ah: return try both(Self.ah)
    case .esp: return try both(Self.esp)
    }
  }

  static func name(_ proto: Qualifiers.Layer) -> String {
    switch proto {
    case .unspecified: "default"
    case .link: "link"
    case .ip: "ip"
    case .arp: "arp"
    case .rarp: "rarp"
    case .sctp: "sctp"
    case .tcp: "tcp"
    case .udp: "udp"
    case .icmp: "icmp"
    case .igmp: "igmp"
    case .igrp: "igrp"
    case .pim: "pim"
    case .vrrp: "vrrp"
    case .carp: "carp"
    case .ip6: "ip6"
    case .icmp6: "icmp6"
    case .ah: "ah"
    case .esp: "esp"
    }
  }

  // MARK: IPv4 addresses

  /// gen_host: an IPv4 address under a mask in IPv4, then ARP, then RARP packets (or the
  /// one the qualifier names).
  func ipv4Host(_ address: UInt32, mask: UInt32, _ qualifiers: Qualifiers, column: Int) throws(FilterError) -> Condition {
    func one(_ type: UInt32, source: UInt32, destination: UInt32) throws(FilterError) -> Condition {
      try directed(
        qualifiers.direction,
        source: { () throws(FilterError) in try etherType(type) && compare(.network, source, size: 4, mask: mask, address) },
        destination: { () throws(FilterError) in
          try etherType(type) && compare(.network, destination, size: 4, mask: mask, address)
        })
    }
    let kind = qualifiers.kind == .net ? "net" : "host"
    switch qualifiers.proto {
    case .unspecified:
      // Under MPLS, IPv4 only.
      let four = try one(Self.ipv4, source: 12, destination: 16)
      guard labels == 0 else { return four }
      let arp = try one(Self.arp, source: 14, destination: 24)
      return four || arp || (try one(Self.rarp, source: 14, destination: 24))
    case .ip: return try one(Self.ipv4, source: 12, destination: 16)
    case .arp: return try one(Self.arp, source: 14, destination: 24)
    case .rarp: return try one(Self.rarp, source: 14, destination: 24)
    case .link: throw FilterError("link-layer modifier applied to " + kind, column: column)
    case .ip6: throw FilterError("'ip6' modifier applied to ip host", column: column)
    case .icmp6: throw FilterError("'icmp6' modifier applied to " + kind, column: column)
    default: throw FilterError("'" + Self.name(qualifiers.proto) + "' modifier applied to " + kind, column: column)
    }
  }

  /// An IPv4 address of 1 to 4 parts (each decimal, 0x hex or 0 octal, as inet_aton-like
  /// __pcap_atoin reads them): its value shifted to the top, and how many bits it gave.
  static func parseIPv4(_ text: String) -> (address: UInt32, bits: Int)? {
    var address: UInt32 = 0
    var parts = 0
    for part in Array(text.utf8).pieces(separatedBy: UInt8(ascii: "."), keepingEmpty: true) {
      guard !part.isEmpty else { return nil }
      var value: UInt32 = 0
      for digit in part {
        guard digit >= 0x30, digit <= 0x39 else { return nil }
        value = value &* 10 &+ UInt32(digit - 0x30)
        guard value <= 255 else { return nil }
      }
      address = address << 8 | value
      parts += 1
    }
    guard parts >= 1, parts <= 4 else { return nil }
    return (address, 8 * parts)
  }

  /// An IPv4 address (2 to 4 parts) under qualifiers: a host, or with fewer parts a network.
  func ipv4(_ text: String, _ qualifiers: Qualifiers, column: Int) throws(FilterError) -> Condition {
    switch qualifiers.kind {
    case .port: throw FilterError("'port' modifier applied to ip host", column: column)
    case .portrange: throw FilterError("'portrange' modifier applied to ip host", column: column)
    case .proto: throw FilterError("'proto' modifier applied to ip host", column: column)
    case .protochain: throw FilterError("'protochain' modifier applied to ip host", column: column)
    case .gateway: throw FilterError("'gateway' requires a name", column: column)
    case .unspecified, .host, .net:
      guard let (value, bits) = Self.parseIPv4(text) else {
        throw FilterError("invalid IPv4 address '" + text + "'", column: column)
      }
      if qualifiers.proto == .link { throw FilterError("illegal link layer address", column: column) }
      let shift = UInt32(32 - bits)
      return try ipv4Host(shift == 32 ? 0 : value << shift, mask: shift == 32 ? 0 : UInt32.max << shift, qualifiers, column: column)
    }
  }

  /// `net ADDRESS/LENGTH`, `net ADDRESS mask MASK` (gen_mcode).
  func network(_ text: String, prefixLength: UInt32?, mask maskText: String?, _ qualifiers: Qualifiers, column: Int) throws(FilterError) -> Condition {
    guard let (value, bits) = Self.parseIPv4(text) else { throw FilterError("invalid IPv4 address '" + text + "'", column: column) }
    let address = bits == 32 ? value : value << UInt32(32 - bits)
    var mask: UInt32
    var printed: String
    if let prefixLength {
      guard prefixLength <= 32 else { throw FilterError("mask length must be <= 32", column: column) }
      mask = prefixLength == 0 ? 0 : UInt32.max << (32 - prefixLength)
      printed = text + "/" + String(prefixLength)
    } else {
      guard let (maskValue, maskBits) = Self.parseIPv4(maskText!) else {
        throw FilterError("invalid IPv4 mask '" + maskText! + "'", column: column)
      }
      mask = maskBits == 32 ? maskValue : maskValue << UInt32(32 - maskBits)
      printed = text + " mask " + maskText!
    }
    guard address & ~mask == 0 else { throw FilterError("non-network bits set in \"" + printed + "\"", column: column) }
    // Only after `net` itself, or what inherits it (`net 10/8 or 192.168/16`): `host 10.0/16`
    // and `src 10.0/16` are refused, as libpcap's gen_mcode refuses them (found by the fuzz
    // target filter-libpcap).
    guard qualifiers.kind == .net else { throw FilterError("Mask syntax for networks only", column: column) }
    return try ipv4Host(address, mask: mask, qualifiers, column: column)
  }

  // MARK: IPv6 addresses

  func ipv6(_ text: String, prefixLength: UInt32, _ qualifiers: Qualifiers, column: Int) throws(FilterError) -> Condition {
    guard let address = IPv6Address(text) else { throw FilterError("bogus IPv6 address " + text, column: column) }
    guard prefixLength <= 128 else { throw FilterError("mask length must be <= 128", column: column) }
    let words: [UInt32] = [
      UInt32(truncatingIfNeeded: address.high >> 32), UInt32(truncatingIfNeeded: address.high),
      UInt32(truncatingIfNeeded: address.low >> 32), UInt32(truncatingIfNeeded: address.low),
    ]
    var masks: [UInt32] = []
    for index in 0..<4 {
      let bits = min(32, max(0, Int(prefixLength) - 32 * index))
      masks.append(bits == 0 ? 0 : UInt32.max << UInt32(32 - bits))
    }
    guard (0..<4).allSatisfy({ words[$0] & ~masks[$0] == 0 }) else {
      throw FilterError("non-network bits set in \"" + text + "/" + String(prefixLength) + "\"", column: column)
    }
    switch qualifiers.kind {
    case .unspecified, .host:
      if prefixLength != 128 { throw FilterError("Mask syntax for networks only", column: column) }
    case .net: break
    default: throw FilterError("invalid qualifier against IPv6 address", column: column)
    }
    switch qualifiers.proto {
    case .unspecified, .ip6: break
    case .link: throw FilterError("link-level host name", column: column)
    default: throw FilterError("'" + Self.name(qualifiers.proto) + "' modifier applied to ip6 host", column: column)
    }
    /// gen_hostop6: the four words, last made first but tested first to last, then the type.
    func at(_ offset: UInt32) throws(FilterError) -> Condition {
      var condition = compare(.network, offset + 12, size: 4, mask: masks[3], words[3])
      for index in [2, 1, 0] {
        condition = compare(.network, offset + UInt32(4 * index), size: 4, mask: masks[index], words[index]) && condition
      }
      return try etherType(Self.ipv6) && condition
    }
    return try directed(qualifiers.direction, source: { () throws(FilterError) in try at(8) }, destination: { () throws(FilterError) in try at(24) })
  }

  // MARK: Numbers and names

  /// A number under qualifiers (gen_ncode): a host (`host 10` is 0.0.0.10), a network
  /// (`net 10` is 10.0.0.0/8), a port, a protocol.
  func number(_ value: UInt32, _ qualifiers: Qualifiers, column: Int) throws(FilterError) -> Condition {
    switch qualifiers.kind {
    case .unspecified, .host, .net:
      if qualifiers.proto == .link { throw FilterError("illegal link layer address", column: column) }
      var address = value
      var mask = UInt32.max
      if qualifiers.kind == .net {
        while address != 0, address & 0xff00_0000 == 0 {
          address <<= 8
          mask <<= 8
        }
      }
      return try ipv4Host(address, mask: mask, qualifiers, column: column)
    case .port:
      guard value <= 65535 else { throw FilterError("illegal port number " + String(value) + " > 65535", column: column) }
      return try port(value, value, qualifiers, column: column)
    case .portrange:
      guard value <= 65535 else { throw FilterError("illegal port number " + String(value) + " > 65535", column: column) }
      return try port(value, value, qualifiers, column: column, range: true)
    case .proto:
      return try protocolNumber(value, qualifiers.proto, column: column)
    case .protochain:
      throw FilterError("'protochain' is not supported by this compiler (see docs/filter.md)", column: column)
    case .gateway:
      throw FilterError("'gateway' requires a name", column: column)
    }
  }

  /// A name: a port or port range (`http`, `1000-2000`), a protocol (`ip proto ospf`), an
  /// EtherType (`ether proto \ip`). Host names are not looked up.
  func name(_ text: String, _ qualifiers: Qualifiers, column: Int) throws(FilterError) -> Condition {
    switch qualifiers.kind {
    case .port:
      guard let (number, only) = Names.port(Array(text.utf8)[...]) else { throw FilterError("unknown port '" + text + "'", column: column) }
      return try port(number, number, try restricted(qualifiers, to: only, name: text, column: column), column: column)
    case .portrange:
      guard let (low, high, only) = Names.portRange(text) else {
        throw FilterError("unknown port in range '" + text + "'", column: column)
      }
      for number in [low, high] where number < 0 || number > 65535 {
        throw FilterError("illegal port number " + String(number) + (number < 0 ? " < 0" : " > 65535"), column: column)
      }
      let narrowed = try restricted(qualifiers, to: only, name: text, column: column)
      return try port(UInt32(low), UInt32(high), narrowed, column: column, range: true)
    case .proto:
      if qualifiers.proto == .link {
        guard let type = Names.etherType(text) else { throw FilterError("unknown ether proto '" + text + "'", column: column) }
        return try etherType(type, column: column)
      }
      guard let number = Names.ipProtocol(text) else { throw FilterError("unknown ip proto '" + text + "'", column: column) }
      return try protocolNumber(number, qualifiers.proto, column: column)
    case .gateway:
      throw FilterError("'gateway' is not supported: it needs host names looked up (write 'ether host MAC and not host ADDRESS')", column: column)
    case .protochain:
      throw FilterError("'protochain' is not supported by this compiler (see docs/filter.md)", column: column)
    case .unspecified, .host, .net:
      throw FilterError("unknown host '" + text + "' (host names are not looked up: give an address)", column: column)
    }
  }

  // MARK: Ports

  /// The qualifiers for a named port defined for one protocol only: that protocol (a
  /// qualifier naming another is an error).
  func restricted(_ qualifiers: Qualifiers, to only: UInt32?, name: String, column: Int) throws(FilterError) -> Qualifiers {
    guard let only else { return qualifiers }
    let proto: Qualifiers.Layer = only == Self.tcp ? .tcp : only == Self.udp ? .udp : .sctp
    switch qualifiers.proto {
    case .unspecified:
      var narrowed = qualifiers
      narrowed.proto = proto
      return narrowed
    case .tcp, .udp, .sctp:
      guard qualifiers.proto == proto else { throw FilterError("port '" + name + "' is " + Self.name(proto), column: column) }
      return qualifiers
    default:
      return qualifiers
    }
  }

  /// gen_port/gen_portrange: over IPv6 (gen_port6), then IPv4 (first fragments only); with
  /// no protocol qualifier SCTP, then TCP, then UDP.
  func port(_ first: UInt32, _ second: UInt32, _ qualifiers: Qualifiers, column: Int, range: Bool = false) throws(FilterError) -> Condition {
    let protocols: [UInt32]
    switch qualifiers.proto {
    case .unspecified: protocols = [Self.sctp, Self.tcp, Self.udp]
    case .tcp: protocols = [Self.tcp]
    case .udp: protocols = [Self.udp]
    case .sctp: protocols = [Self.sctp]
    default: throw FilterError("illegal qualifier of '" + (range ? "portrange" : "port") + "'", column: column)
    }
    let (low, high) = first <= second ? (first, second) : (second, first)
    func atom(_ base: Base, _ offset: UInt32) -> Condition {
      guard range else { return compare(base, offset, size: 2, low) }
      return compare(base, offset, size: 2, low, jump: BPF.jge) && compare(base, offset, size: 2, high, jump: BPF.jgt, reverse: true)
    }
    func ports(_ base: Base) throws(FilterError) -> Condition {
      try directed(qualifiers.direction, source: { atom(base, 0) }, destination: { atom(base, 2) })
    }
    func joined(_ make: (UInt32) throws(FilterError) -> Condition) throws(FilterError) -> Condition {
      var condition: Condition?
      for proto in protocols {
        let next = try make(proto)
        condition = condition.map { $0 || next } ?? next
      }
      return condition!
    }
    let six = try joined { (proto) throws(FilterError) in try compare(.network, 6, size: 1, proto) && ports(.ipv6Transport) }
    let sixCondition = try etherType(Self.ipv6) && six
    let four = try joined { (proto) throws(FilterError) in
      try compare(.network, 9, size: 1, proto) && notFragment() && ports(.ipv4Transport)
    }
    return sixCondition || (try etherType(Self.ipv4) && four)
  }

  /// gen_ipfrag: an IPv4 packet that is not a fragment after the first.
  func notFragment() -> Condition {
    .not(.test(Test(statements: load(.network, 6, size: 2), code: Int(BPF.jmp | BPF.jset), k: 0x1fff)))
  }

  // MARK: Lengths, broadcast, multicast, bytes

  func less(_ n: UInt32) -> Condition {
    .not(.test(Test(statements: [Statement(BPF.ld | BPF.w | BPF.len)], code: Int(BPF.jmp | BPF.jgt), k: n)))
  }

  func greater(_ n: UInt32) -> Condition {
    .test(Test(statements: [Statement(BPF.ld | BPF.w | BPF.len)], code: Int(BPF.jmp | BPF.jge), k: n))
  }

  func broadcast(_ proto: Qualifiers.Layer, column: Int) throws(FilterError) -> Condition {
    switch proto {
    case .unspecified, .link:
      return compareBytes(.frame, 0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    case .ip:
      // The netmask as tcpdump gives it reading a file (0): all zeros or all ones.
      let type = try etherType(Self.ipv4, column: column)
      return type && (compare(.network, 16, size: 4, mask: 0xffff_ffff, 0) || compare(.network, 16, size: 4, mask: 0xffff_ffff, 0xffff_ffff))
    default:
      throw FilterError("only link-layer/IP broadcast filters supported", column: column)
    }
  }

  func multicast(_ proto: Qualifiers.Layer, column: Int) throws(FilterError) -> Condition {
    switch proto {
    case .unspecified, .link:
      return .test(Test(statements: load(.frame, 0, size: 1), code: Int(BPF.jmp | BPF.jset), k: 1))
    case .ip:
      return try etherType(Self.ipv4, column: column) && compare(.network, 16, size: 1, 224, jump: BPF.jge)
    case .ip6:
      return try etherType(Self.ipv6, column: column) && compare(.network, 24, size: 1, 255)
    default:
      throw FilterError("only IP multicast filters supported on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel", column: column)
    }
  }

  /// `byte N op V` (gen_byteop): the frame's byte N against V; `&` and `|` test the
  /// accumulator as libpcap's code does (it loads no byte for them).
  func byteOperation(_ operation: Token, index: UInt32, value: UInt32) throws(FilterError) -> Condition {
    switch operation.kind {
    case .symbol(UInt8(ascii: "=")): return compare(.frame, index, size: 1, value)
    case .symbol(UInt8(ascii: "<")): return compare(.frame, index, size: 1, value, jump: BPF.jge, reverse: true)
    case .symbol(UInt8(ascii: ">")): return compare(.frame, index, size: 1, value, jump: BPF.jgt)
    case .symbol(UInt8(ascii: "&")), .symbol(UInt8(ascii: "|")):
      let op = operation.kind == .symbol(UInt8(ascii: "&")) ? BPF.and : BPF.or
      return .not(.test(Test(statements: [Statement(BPF.alu | op | BPF.k, value)], code: Int(BPF.jmp | BPF.jeq), k: 0)))
    default: throw FilterError("syntax error: expected one of = < > & | after 'byte N'", column: operation.column)
    }
  }

  // MARK: VLAN and MPLS

  /// `vlan [ID]`: an 802.1Q, 802.1ad or QinQ tag, with ID if given; what follows is read
  /// past the tag.
  mutating func vlan(_ id: UInt32?, column: Int) throws(FilterError) -> Condition {
    guard labels == 0 else { throw FilterError("no VLAN match after MPLS", column: column) }
    var condition = typeField(0x8100) || typeField(0x88a8) || typeField(0x9100)
    if let id {
      guard id <= 0x0fff else { throw FilterError("VLAN tag " + String(id) + " greater than maximum 4095", column: column) }
      condition = condition && compare(.network, 0, size: 2, mask: 0x0fff, id)
    }
    typeOffset += 4
    linkPayload += 4
    return condition
  }

  /// `mpls [LABEL]`: an MPLS unicast frame (after another `mpls`, a label below it).
  mutating func mpls(_ label: UInt32?, column: Int) throws(FilterError) -> Condition {
    var condition = labels > 0 ? compare(.network, 0 &- 2, size: 1, mask: 0x01, 0) : try etherType(Self.mplsUnicast)
    if let label {
      guard label <= 0xfffff else { throw FilterError("MPLS label " + String(label) + " greater than maximum 1048575", column: column) }
      condition = condition && compare(.network, 0, size: 4, mask: 0xffff_f000, label << 12)
    }
    networkSkip += 4
    labels += 1
    return condition
  }

  // MARK: Arithmetic (gen_loadi, gen_loadlen, gen_load, gen_arth, gen_neg, gen_relation)

  mutating func allocate(column: Int) throws(FilterError) -> Int {
    for _ in 0..<BPF.memoryWords {
      if registersInUse[nextRegister] {
        nextRegister = (nextRegister + 1) % BPF.memoryWords
      } else {
        registersInUse[nextRegister] = true
        return nextRegister
      }
    }
    throw FilterError("too many registers needed to evaluate expression", column: column)
  }

  mutating func free(_ register: Int) { registersInUse[register] = false }

  mutating func constant(_ value: UInt32, column: Int) throws(FilterError) -> Arithmetic {
    let register = try allocate(column: column)
    return Arithmetic(statements: [Statement(BPF.ld | BPF.imm, value), Statement(BPF.st, UInt32(register))], register: register, checks: nil)
  }

  mutating func length(column: Int) throws(FilterError) -> Arithmetic {
    let register = try allocate(column: column)
    return Arithmetic(statements: [Statement(BPF.ld | BPF.w | BPF.len), Statement(BPF.st, UInt32(register))], register: register, checks: nil)
  }

  /// `proto[index:size]`, relative to the protocol's header, under its checks.
  mutating func load(_ proto: Qualifiers.Layer, index: Arithmetic, size: Int, column: Int) throws(FilterError) -> Arithmetic {
    let register = try allocate(column: column)
    free(index.register)
    let sizeCode = size == 4 ? BPF.w : size == 2 ? BPF.h : BPF.b
    var result = index
    let fromIndex = Statement(BPF.ldx | BPF.mem, UInt32(index.register))
    switch proto {
    case .unspecified, .link:
      result.statements += [fromIndex, Statement(BPF.ld | sizeCode | BPF.ind, 0)]
    case .ip, .arp, .rarp, .ip6:
      result.statements += [fromIndex, Statement(BPF.ld | sizeCode | BPF.ind, network)]
      let checks = try protocolAbbreviation(proto, column: column)
      result.checks = result.checks.map { $0 && checks } ?? checks
    case .tcp, .udp, .icmp, .igmp, .igrp, .pim, .vrrp, .carp, .sctp:
      result.statements += [
        Statement(BPF.ldx | BPF.msh | BPF.b, network), Statement(BPF.ld | BPF.mem, UInt32(index.register)),
        Statement(BPF.alu | BPF.add | BPF.x), Statement(BPF.misc | BPF.tax), Statement(BPF.ld | sizeCode | BPF.ind, network),
      ]
      let own = try protocolAbbreviation(proto, column: column) && notFragment()
      let withIndex = result.checks.map { $0 && own } ?? own
      result.checks = try etherType(Self.ipv4, column: column) && withIndex
    case .icmp6:
      let ip6 = try etherType(Self.ipv6, column: column)
      var checks = result.checks.map { $0 && ip6 } ?? ip6
      checks = checks && compare(.network, 6, size: 1, Self.icmp6)
      result.checks = checks
      result.statements += [fromIndex, Statement(BPF.ld | sizeCode | BPF.ind, network + 40)]
    case .ah, .esp:
      throw FilterError("'" + Self.name(proto) + "' does not support the index operation", column: column)
    }
    result.register = register
    result.statements.append(Statement(BPF.st, UInt32(register)))
    return result
  }

  mutating func arithmetic(_ operation: UInt16, _ left: Arithmetic, _ right: Arithmetic, column: Int) throws(FilterError) -> Arithmetic {
    if let first = right.statements.first, first.code == Int(BPF.ld | BPF.imm) {
      if operation == BPF.div, first.k == 0 { throw FilterError("division by zero", column: column) }
      if operation == BPF.mod, first.k == 0 { throw FilterError("modulus by zero", column: column) }
      if operation == BPF.lsh || operation == BPF.rsh, first.k > 31 { throw FilterError("shift by more than 31 bits", column: column) }
    }
    var result = left
    result.statements += right.statements
    result.statements += [
      Statement(BPF.ldx | BPF.mem, UInt32(right.register)), Statement(BPF.ld | BPF.mem, UInt32(left.register)),
      Statement(BPF.alu | BPF.x | operation),
    ]
    free(left.register)
    free(right.register)
    result.register = try allocate(column: column)
    result.statements.append(Statement(BPF.st, UInt32(result.register)))
    // libpcap's gen_arth keeps the left operand's protocol checks only: `ip[0] + tcp[0]`
    // is read from any IPv4 packet.
    result.checks = left.checks
    return result
  }

  func negate(_ operand: Arithmetic) -> Arithmetic {
    var result = operand
    result.statements += [
      Statement(BPF.ld | BPF.mem, UInt32(operand.register)), Statement(BPF.alu | BPF.neg),
      Statement(BPF.st, UInt32(operand.register)),
    ]
    return result
  }

  /// A relation: the loads' checks, then the comparison (negated for `<=`, `<`, `!=`; the
  /// checks are not).
  mutating func relation(_ jump: UInt16, _ left: Arithmetic, _ right: Arithmetic, negated: Bool) -> Condition {
    var statements = left.statements + right.statements
    statements += [Statement(BPF.ldx | BPF.mem, UInt32(right.register)), Statement(BPF.ld | BPF.mem, UInt32(left.register))]
    let test: Test
    if jump == BPF.jeq {
      statements.append(Statement(BPF.alu | BPF.sub | BPF.x))
      test = Test(statements: statements, code: Int(BPF.jmp | BPF.jeq), k: 0)
    } else {
      test = Test(statements: statements, code: Int(BPF.jmp | jump | BPF.x), k: 0)
    }
    free(left.register)
    free(right.register)
    let comparison: Condition = negated ? .not(.test(test)) : .test(test)
    guard let checks = Self.both(left.checks, right.checks) else { return comparison }
    return checks && comparison
  }

  static func both(_ a: Condition?, _ b: Condition?) -> Condition? {
    switch (a, b) {
    case (nil, nil): nil
    case (let a?, nil): a
    case (nil, let b?): b
    case (let a?, let b?): a && b
    }
  }
}
