// The words of a pcap-filter expression, cut as libpcap's scanner cuts them: the longest
// match wins, and between matches of one length the earlier rule (keywords, then MAC
// addresses, numbers, IPv4 and IPv6 addresses, names). So `hostx` is a name, `tcp-syn` a
// number (2), `10.1` an IPv4 address, `0x1f` a number and `00:11:22:33:44:55` a MAC address.

import SiroccoWire

/// A token and where it starts (a 1-based column, in bytes).
struct Token: Equatable {
  var kind: Kind
  var column: Int

  enum Kind: Equatable {
    case keyword(Keyword)
    case number(UInt32)
    /// An IPv4 address with 2 to 4 parts ("10.1", "192.168.0.1").
    case ipv4(String)
    case ipv6(String)
    case mac(String)
    case name(String)
    /// One of `+ - * / % : [ ] < > ( ) & | ^ =`, or `!`.
    case symbol(UInt8)
    case greaterOrEqual, lessOrEqual, notEqual, shiftLeft, shiftRight
    case and, or
    case end
  }
}

enum Keyword: Equatable {
  case dst, src, link, arp, rarp, ip, sctp, tcp, udp, icmp, igmp, igrp, pim, vrrp, carp, ip6, icmp6, ah, esp
  case host, net, mask, port, portrange, proto, protochain, gateway
  case less, greater, byte, broadcast, multicast, len, vlan, mpls
  /// Words libpcap knows that this compiler does not take (other link types, other
  /// protocols' families, pf, ATM, MTP, 802.11, capture direction): refused by name.
  case unsupported(String)
}

/// A keyword's text, or a named constant's (`tcp-syn`, `icmp-echo`, `tcpflags`).
let keywords: [String: Token.Kind] = {
  var table: [String: Token.Kind] = [
    "dst": .keyword(.dst), "src": .keyword(.src),
    "link": .keyword(.link), "ether": .keyword(.link), "ppp": .keyword(.link), "slip": .keyword(.link),
    "fddi": .keyword(.link), "tr": .keyword(.link), "wlan": .keyword(.link),
    "arp": .keyword(.arp), "rarp": .keyword(.rarp), "ip": .keyword(.ip), "sctp": .keyword(.sctp),
    "tcp": .keyword(.tcp), "udp": .keyword(.udp), "icmp": .keyword(.icmp), "igmp": .keyword(.igmp),
    "igrp": .keyword(.igrp), "pim": .keyword(.pim), "vrrp": .keyword(.vrrp), "carp": .keyword(.carp),
    "ip6": .keyword(.ip6), "icmp6": .keyword(.icmp6), "ah": .keyword(.ah), "esp": .keyword(.esp),
    "host": .keyword(.host), "net": .keyword(.net), "mask": .keyword(.mask), "port": .keyword(.port),
    "portrange": .keyword(.portrange), "proto": .keyword(.proto), "protochain": .keyword(.protochain),
    "gateway": .keyword(.gateway), "less": .keyword(.less), "greater": .keyword(.greater),
    "byte": .keyword(.byte), "broadcast": .keyword(.broadcast), "multicast": .keyword(.multicast),
    "and": .and, "or": .or, "not": .symbol(UInt8(ascii: "!")), "len": .keyword(.len), "length": .keyword(.len),
    "vlan": .keyword(.vlan), "mpls": .keyword(.mpls),
    "tcpflags": .number(13), "tcp-fin": .number(0x01), "tcp-syn": .number(0x02), "tcp-rst": .number(0x04),
    "tcp-push": .number(0x08), "tcp-ack": .number(0x10), "tcp-urg": .number(0x20), "tcp-ece": .number(0x40),
    "tcp-cwr": .number(0x80),
    "icmptype": .number(0), "icmpcode": .number(1), "icmp-echoreply": .number(0), "icmp-unreach": .number(3),
    "icmp-sourcequench": .number(4), "icmp-redirect": .number(5), "icmp-echo": .number(8),
    "icmp-routeradvert": .number(9), "icmp-routersolicit": .number(10), "icmp-timxceed": .number(11),
    "icmp-paramprob": .number(12), "icmp-tstamp": .number(13), "icmp-tstampreply": .number(14),
    "icmp-ireq": .number(15), "icmp-ireqreply": .number(16), "icmp-maskreq": .number(17), "icmp-maskreply": .number(18),
    "icmp6type": .number(0), "icmp6code": .number(1), "icmp6-destinationunreach": .number(1),
    "icmp6-packettoobig": .number(2), "icmp6-timeexceeded": .number(3), "icmp6-parameterproblem": .number(4),
    "icmp6-echo": .number(128), "icmp6-echoreply": .number(129), "icmp6-multicastlistenerquery": .number(130),
    "icmp6-multicastlistenerreportv1": .number(131), "icmp6-multicastlistenerdone": .number(132),
    "icmp6-routersolicit": .number(133), "icmp6-routeradvert": .number(134), "icmp6-neighborsolicit": .number(135),
    "icmp6-neighboradvert": .number(136), "icmp6-redirect": .number(137), "icmp6-routerrenum": .number(138),
    "icmp6-nodeinformationquery": .number(139), "icmp6-nodeinformationresponse": .number(140),
    "icmp6-ineighbordiscoverysolicit": .number(141), "icmp6-ineighbordiscoveryadvert": .number(142),
    "icmp6-multicastlistenerreportv2": .number(143), "icmp6-homeagentdiscoveryrequest": .number(144),
    "icmp6-homeagentdiscoveryreply": .number(145), "icmp6-mobileprefixsolicit": .number(146),
    "icmp6-mobileprefixadvert": .number(147), "icmp6-certpathsolicit": .number(148),
    "icmp6-certpathadvert": .number(149), "icmp6-multicastrouteradvert": .number(151),
    "icmp6-multicastroutersolicit": .number(152), "icmp6-multicastrouterterm": .number(153),
  ]
  for word in [
    "radio", "atalk", "aarp", "decnet", "lat", "sca", "moprc", "mopdl", "iso", "esis", "es-is", "isis", "is-is",
    "l1", "l2", "iih", "lsp", "snp", "csnp", "psnp", "clnp", "stp", "ipx", "netbeui", "type", "subtype",
    "direction", "dir", "address1", "addr1", "address2", "addr2", "address3", "addr3", "address4", "addr4", "ra",
    "ta", "inbound", "outbound", "ifindex", "pppoed", "pppoes", "geneve", "lane", "llc", "metac", "bcc", "oam",
    "oamf4", "oamf4ec", "oamf4sc", "sc", "ilmic", "vpi", "vci", "connectmsg", "metaconnect", "on", "ifname",
    "rset", "ruleset", "rnr", "rulenum", "srnr", "subrulenum", "reason", "action", "fisu", "lssu", "lsu", "msu",
    "hfisu", "hlssu", "hmsu", "sio", "opc", "dpc", "sls", "hsio", "hopc", "hdpc", "hsls",
  ] {
    table[word] = .keyword(.unsupported(word))
  }
  return table
}()

/// A lexical error: the message and the column it points at.
public struct FilterError: Error, Equatable, Sendable, CustomStringConvertible {
  public var message: String
  /// 1-based column in the expression (bytes), or 0 for the expression as a whole.
  public var column: Int
  /// A syntax error: the parser may try another reading of the same words; any other
  /// error (a division by zero, a port out of range) is the answer.
  var isSyntax: Bool

  public init(_ message: String, column: Int) {
    self.message = message
    self.column = column
    isSyntax = false
  }

  static func syntax(_ message: String, column: Int) -> FilterError {
    var error = FilterError(message, column: column)
    error.isSyntax = true
    return error
  }
  public var description: String { column > 0 ? "column " + String(column) + ": " + message : message }
}

struct Lexer {
  let text: [UInt8]

  init(_ expression: String) { text = Array(expression.utf8) }

  /// Every token, then `.end`.
  func tokens() throws(FilterError) -> [Token] {
    var tokens: [Token] = []
    var index = 0
    while true {
      while index < text.count, text[index] == 0x20 || text[index] == 0x09 || text[index] == 0x0a || text[index] == 0x0d {
        index += 1
      }
      guard index < text.count else {
        tokens.append(Token(kind: .end, column: text.count + 1))
        return tokens
      }
      let (kind, length) = try token(at: index)
      tokens.append(Token(kind: kind, column: index + 1))
      index += length
    }
  }

  func isHex(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66)
  }
  func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
  func isAlphanumeric(_ byte: UInt8) -> Bool { isDigit(byte) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7a) }
  func byte(_ index: Int) -> UInt8? { index < text.count ? text[index] : nil }

  /// The token at `start` and its length.
  func token(at start: Int) throws(FilterError) -> (Token.Kind, Int) {
    let first = text[start]
    let column = start + 1
    // Two-character operators, then single characters.
    if let second = byte(start + 1) {
      switch (first, second) {
      case (UInt8(ascii: ">"), UInt8(ascii: "=")): return (.greaterOrEqual, 2)
      case (UInt8(ascii: "<"), UInt8(ascii: "=")): return (.lessOrEqual, 2)
      case (UInt8(ascii: "!"), UInt8(ascii: "=")): return (.notEqual, 2)
      case (UInt8(ascii: "="), UInt8(ascii: "=")): return (.symbol(UInt8(ascii: "=")), 2)
      case (UInt8(ascii: "<"), UInt8(ascii: "<")): return (.shiftLeft, 2)
      case (UInt8(ascii: ">"), UInt8(ascii: ">")): return (.shiftRight, 2)
      case (UInt8(ascii: "&"), UInt8(ascii: "&")): return (.and, 2)
      case (UInt8(ascii: "|"), UInt8(ascii: "|")): return (.or, 2)
      default: break
      }
    }
    if first == UInt8(ascii: "\\") {
      // A backslash makes whatever follows (to a space, '!', '(' or ')') a name: `\tcp`.
      var end = start + 1
      while let next = byte(end), ![0x20, 0x09, 0x0a, UInt8(ascii: "!"), UInt8(ascii: "("), UInt8(ascii: ")")].contains(next) {
        end += 1
      }
      guard end > start + 1 else { throw FilterError("a backslash must be followed by a name", column: column) }
      return (.name(String(decoding: text[(start + 1)..<end], as: UTF8.self)), end - start)
    }
    // An IPv6 address may start with "::"; otherwise a ':' is the byte range's colon.
    if first == UInt8(ascii: ":"), byte(start + 1) == UInt8(ascii: ":") {
      let length = ipv6Length(at: start)
      if length > 0 { return (.ipv6(String(decoding: text[start..<(start + length)], as: UTF8.self)), length) }
    }
    if "+-*/%:[]!<>()&|^=".utf8.contains(first) { return (.symbol(first), 1) }
    // The candidates, longest first; ties go to the earlier rule.
    let word = nameLength(at: start)
    let mac = macLength(at: start)
    let number = numberLength(at: start)
    let ipv4 = ipv4Length(at: start)
    let ipv6 = ipv6Length(at: start)
    let longest = max(word, mac, number, ipv4, ipv6)
    guard longest > 0 else {
      throw FilterError("unexpected character '" + String(decoding: [first], as: UTF8.self) + "'", column: column)
    }
    let lexeme = String(decoding: text[start..<(start + longest)], as: UTF8.self)
    if word == longest, let keyword = keywords[lexeme] { return (keyword, longest) }
    if mac == longest { return (.mac(lexeme), longest) }
    if number == longest { return (.number(try parseNumber(lexeme, column: column)), longest) }
    if ipv4 == longest { return (.ipv4(lexeme), longest) }
    if ipv6 == longest {
      guard IPv6Address(lexeme) != nil else { throw FilterError("bogus IPv6 address " + lexeme, column: column) }
      return (.ipv6(lexeme), longest)
    }
    return (.name(lexeme), longest)
  }

  /// `[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`
  func nameLength(at start: Int) -> Int {
    guard isAlphanumeric(text[start]) else { return 0 }
    var end = start + 1
    var lastGood = end
    while let next = byte(end), isAlphanumeric(next) || next == UInt8(ascii: "-") || next == UInt8(ascii: "_") || next == UInt8(ascii: ".") {
      end += 1
      if next != UInt8(ascii: "-"), next != UInt8(ascii: "_") { lastGood = end }
    }
    return lastGood - start
  }

  /// `[0-9]+` or `0[xX][0-9A-Fa-f]+`
  func numberLength(at start: Int) -> Int {
    guard isDigit(text[start]) else { return 0 }
    if text[start] == UInt8(ascii: "0"), let x = byte(start + 1), x | 0x20 == UInt8(ascii: "x"), let h = byte(start + 2), isHex(h) {
      var end = start + 2
      while let next = byte(end), isHex(next) { end += 1 }
      return end - start
    }
    var end = start
    while let next = byte(end), isDigit(next) { end += 1 }
    return end - start
  }

  /// 2 to 4 numbers separated by dots.
  func ipv4Length(at start: Int) -> Int {
    var end = start
    var parts = 0
    var best = 0
    while parts < 4 {
      let length = numberLength(at: end)
      guard length > 0 else { break }
      end += length
      parts += 1
      if parts >= 2 { best = end - start }
      guard byte(end) == UInt8(ascii: "."), let next = byte(end + 1), isDigit(next) else { break }
      end += 1
    }
    return best
  }

  /// Six 1-2 digit hex bytes separated by ':', '-' or '.', three groups of four hex digits
  /// separated by '.', or twelve hex digits.
  func macLength(at start: Int) -> Int {
    func hexRun(_ at: Int, max: Int) -> Int {
      var end = at
      while end - at < max, let next = byte(end), isHex(next) { end += 1 }
      return end - at
    }
    for separator in [UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: ".")] {
      var end = start
      var groups = 0
      while groups < 6 {
        let length = hexRun(end, max: 2)
        guard length > 0 else { break }
        end += length
        groups += 1
        if groups < 6 {
          guard byte(end) == separator else { break }
          end += 1
        }
      }
      if groups == 6 { return end - start }
    }
    if hexRun(start, max: 4) == 4, byte(start + 4) == UInt8(ascii: "."), hexRun(start + 5, max: 4) == 4,
      byte(start + 9) == UInt8(ascii: "."), hexRun(start + 10, max: 4) == 4
    {
      return 14
    }
    return hexRun(start, max: 12) == 12 ? 12 : 0
  }

  /// The longest run of hex digits, colons and dots with a colon in it that is an IPv6
  /// address's text (with an IPv4 tail allowed).
  func ipv6Length(at start: Int) -> Int {
    var end = start
    var colon = false
    while let next = byte(end), isHex(next) || next == UInt8(ascii: ":") || next == UInt8(ascii: ".") {
      if next == UInt8(ascii: ":") { colon = true }
      end += 1
    }
    guard colon else { return 0 }
    while end > start {
      if IPv6Address(String(decoding: text[start..<end], as: UTF8.self)) != nil { return end - start }
      end -= 1
    }
    return 0
  }

  /// A number's value: decimal, `0x` hex, or octal with a leading 0 (as libpcap's stou).
  func parseNumber(_ lexeme: String, column: Int) throws(FilterError) -> UInt32 {
    var digits = Array(lexeme.utf8)
    var base: UInt64 = 10
    if digits.count > 2, digits[0] == UInt8(ascii: "0"), digits[1] | 0x20 == UInt8(ascii: "x") {
      base = 16
      digits.removeFirst(2)
    } else if digits.count > 1, digits[0] == UInt8(ascii: "0") {
      base = 8
    }
    var value: UInt64 = 0
    for digit in digits {
      let d: UInt64 = isDigit(digit) ? UInt64(digit - 0x30) : UInt64((digit | 0x20) - 0x61 + 10)
      guard d < base else { throw FilterError("number " + lexeme + " contains non-octal digit", column: column) }
      value = value * base + d
      guard value <= UInt64(UInt32.max) else { throw FilterError("number " + lexeme + " overflows 32 bits", column: column) }
    }
    return UInt32(value)
  }
}
