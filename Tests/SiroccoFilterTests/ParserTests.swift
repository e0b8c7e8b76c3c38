// The expression language: what is refused, with the column and libpcap's words.

import SiroccoFilter
import XCTest

final class ParserTests: XCTestCase {
  func error(_ expression: String) -> FilterError? {
    do {
      _ = try PacketFilter(expression)
      return nil
    } catch {
      return error
    }
  }

  func testMalformedExpressionsAreRefusedAtTheirColumn() {
    let cases: [(String, String, Int)] = [
      ("tcp port", "syntax error: the expression ends too early", 9),
      ("host 10.0.0.1 and", "syntax error: the expression ends too early", 18),
      ("ip[0:3] = 1", "data size must be 1, 2, or 4", 6),
      ("port 99999", "illegal port number 99999 > 65535", 6),
      ("net 10.0.0.1/8", "non-network bits set in \"10.0.0.1/8\"", 5),
      ("ether[1/0] = 1", "division by zero", 8),
      ("ether[1 << 33] = 1", "shift by more than 31 bits", 9),
      ("ip6 broadcast", "only link-layer/IP broadcast filters supported", 1),
      ("tcp proto 6", "'tcp proto' is bogus", 11),
      ("ip port 80", "illegal qualifier of 'port'", 9),
      ("ip and 10.0.0.1", "syntax error", 8),
      ("port 80 or 99999", "illegal port number 99999 > 65535", 12),
      ("(tcp", "syntax error: expected ')'", 5),
      ("vlan 4096", "VLAN tag 4096 greater than maximum 4095", 1),
      ("host foo", "unknown host 'foo' (host names are not looked up: give an address)", 6),
      ("udp port http", "port 'http' is tcp", 10),
      ("tcp #", "unexpected character '#'", 5),
      ("len > 99999999999", "number 99999999999 overflows 32 bits", 7),
      ("host fe80::/10", "Mask syntax for networks only", 6),
      ("lat", "'lat' is not supported by this compiler (Ethernet frames only; see docs/filter.md)", 1),
    ]
    for (expression, message, column) in cases {
      let found = error(expression)
      XCTAssertEqual(found?.message, message, expression)
      XCTAssertEqual(found?.column, column, expression)
    }
  }

  /// libpcap's grammar: and and or bind alike, from the left; a bare address after them
  /// keeps the qualifiers before it; `%` and `^` take what follows them.
  func testPrecedenceAndQualifiersCarryOverAsInLibpcap() throws {
    func same(_ a: String, _ b: String) throws {
      XCTAssertEqual(try PacketFilter(a).program, try PacketFilter(b).program, "\(a) / \(b)")
    }
    try same("ip or arp and tcp", "(ip or arp) and tcp")
    try same("tcp port 80 or 443", "tcp port 80 or tcp port 443")
    try same("host 10.0.0.1 and not 10.0.0.2", "host 10.0.0.1 and not host 10.0.0.2")
    try same("ip[0] % 3 + 1 = 2", "ip[0] % (3 + 1) = 2")
    try same("2 + 3 * 4 = len", "2 + (3 * 4) = len")
    try same("ip && tcp || udp", "ip and tcp or udp")
    try same("ether proto \\ip", "ip")
    try same("tcp-syn = 2", "2 = 2")
  }
}
