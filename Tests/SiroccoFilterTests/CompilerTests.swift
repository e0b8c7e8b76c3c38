// The compiler against programs libpcap 1.10.3 made (recorded with `tcpdump -d -y EN10MB`
// on Debian): the same parse, the same tests, the same optimisation, the same layout. (The
// differential test, FilterDifferentialTests, compares hundreds more with libpcap itself.)

import SiroccoFilter
import XCTest

final class CompilerTests: XCTestCase {
  static let listings: [(String, String)] = [
    ("tcp port 80", """
(000) ldh      [12]
(001) jeq      #0x86dd          jt 2\tjf 8
(002) ldb      [20]
(003) jeq      #0x6             jt 4\tjf 19
(004) ldh      [54]
(005) jeq      #0x50            jt 18\tjf 6
(006) ldh      [56]
(007) jeq      #0x50            jt 18\tjf 19
(008) jeq      #0x800           jt 9\tjf 19
(009) ldb      [23]
(010) jeq      #0x6             jt 11\tjf 19
(011) ldh      [20]
(012) jset     #0x1fff          jt 19\tjf 13
(013) ldxb     4*([14]&0xf)
(014) ldh      [x + 14]
(015) jeq      #0x50            jt 18\tjf 16
(016) ldh      [x + 16]
(017) jeq      #0x50            jt 18\tjf 19
(018) ret      #262144
(019) ret      #0
"""),
    ("not host 10.0.0.1 or 10.0.0.2", """
(000) ldh      [12]
(001) jeq      #0x800           jt 2\tjf 10
(002) ld       [26]
(003) jeq      #0xa000001       jt 4\tjf 6
(004) ld       [30]
(005) jeq      #0xa000002       jt 21\tjf 20
(006) ld       [30]
(007) jeq      #0xa000001       jt 8\tjf 21
(008) ld       [26]
(009) jeq      #0xa000002       jt 21\tjf 20
(010) jeq      #0x806           jt 12\tjf 11
(011) jeq      #0x8035          jt 12\tjf 21
(012) ld       [28]
(013) jeq      #0xa000001       jt 14\tjf 16
(014) ld       [38]
(015) jeq      #0xa000002       jt 21\tjf 20
(016) ld       [38]
(017) jeq      #0xa000001       jt 18\tjf 21
(018) ld       [28]
(019) jeq      #0xa000002       jt 21\tjf 20
(020) ret      #0
(021) ret      #262144
"""),
    ("ip6 and (tcp[13] & 2 != 0 or udp port 53)", """
(000) ldh      [12]
(001) jeq      #0x86dd          jt 2\tjf 9
(002) ldb      [20]
(003) jeq      #0x11            jt 4\tjf 9
(004) ldh      [54]
(005) jeq      #0x35            jt 8\tjf 6
(006) ldh      [56]
(007) jeq      #0x35            jt 8\tjf 9
(008) ret      #262144
(009) ret      #0
"""),
    ("vlan 5 and vlan 10 and ip", """
(000) ldh      [12]
(001) jeq      #0x8100          jt 4\tjf 2
(002) jeq      #0x88a8          jt 4\tjf 3
(003) jeq      #0x9100          jt 4\tjf 17
(004) ldh      [14]
(005) and      #0xfff
(006) jeq      #0x5             jt 7\tjf 17
(007) ldh      [16]
(008) jeq      #0x8100          jt 11\tjf 9
(009) jeq      #0x88a8          jt 11\tjf 10
(010) jeq      #0x9100          jt 11\tjf 17
(011) ldh      [18]
(012) and      #0xfff
(013) jeq      #0xa             jt 14\tjf 17
(014) ldh      [20]
(015) jeq      #0x800           jt 16\tjf 17
(016) ret      #262144
(017) ret      #0
"""),
    ("len - 14 > 40", """
(000) ld       #pktlen
(001) sub      #14
(002) jgt      #0x28            jt 3\tjf 4
(003) ret      #262144
(004) ret      #0
"""),
    ("ip[0] % 3 + 1 = 2", """
(000) ldh      [12]
(001) jeq      #0x800           jt 2\tjf 6
(002) ldb      [14]
(003) mod      #4
(004) jeq      #0x2             jt 5\tjf 6
(005) ret      #262144
(006) ret      #0
"""),
  ]

  func testProgramsAreTheOnesLibpcapMakes() throws {
    for (expression, listing) in Self.listings {
      // (A multi-line literal leaves out its last line break.)
      XCTAssertEqual(try PacketFilter(expression).program.listing, listing + "\n", expression)
    }
  }

  func testAnEmptyExpressionAcceptsEverything() throws {
    let filter = try PacketFilter("")
    XCTAssertEqual(filter.program.listing, "(000) ret      #262144\n")
    XCTAssertTrue(filter.matches([]))
  }

  func testAnExpressionNoFrameCanMatchIsRefusedAsLibpcapRefusesIt() {
    for expression in ["ip and arp", "tcp and udp", "0 = 1", "ip and ip6", "src host 10.0.0.1 and 10.0.0.2"] {
      XCTAssertThrowsError(try PacketFilter(expression), expression) {
        XCTAssertEqual(($0 as? FilterError)?.message, "expression rejects all packets", expression)
      }
    }
  }

  func testTheTextFormsAreTcpdumps() throws {
    let program = try PacketFilter("ip").program
    XCTAssertEqual(program.decimal, "4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n")
    XCTAssertEqual(program.cArray, """
      { 0x28, 0, 0, 0x0000000c },
      { 0x15, 0, 1, 0x00000800 },
      { 0x6, 0, 0, 0x00040000 },
      { 0x6, 0, 0, 0x00000000 },

      """)
  }

  /// A frame with TCP from 10.0.0.1:1024 to 10.0.0.2:80, SYN.
  static let syn: [UInt8] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]
    + [0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
    + [0x04, 0x00, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0]

  func testFramesMatchAsTheExpressionsSay() throws {
    let cases: [(String, Bool)] = [
      ("tcp port 80", true), ("udp port 80", false), ("tcp dst port 80 and src port 1024", true),
      ("host 10.0.0.1 and host 10.0.0.2", true), ("src host 10.0.0.2", false), ("net 10.0.0.0/8", true),
      ("tcp[tcpflags] & tcp-syn != 0", true), ("tcp[tcpflags] & tcp-ack != 0", false), ("ip[8] = 64", true),
      ("ether src 02:00:00:00:00:02", true), ("ether dst 02:00:00:00:00:02", false), ("len = 54", true),
      ("less 53", false), ("greater 54", true), ("portrange 70-90", true), ("ip6 or arp", false), ("vlan", false),
      ("not tcp", false), ("tcp and not port 22", true), ("ip[2:2] = 40", true),
    ]
    for (expression, expected) in cases {
      XCTAssertEqual(try PacketFilter(expression).matches(Self.syn), expected, expression)
    }
  }

  /// A load past the captured bytes rejects the frame, whatever the rest says (as libpcap).
  func testACutFrameIsRejectedWhereALoadFallsOffItsEnd() throws {
    let filter = try PacketFilter("tcp port 80 or ether src 02:00:00:00:00:02")
    XCTAssertTrue(filter.matches(Self.syn))
    XCTAssertFalse(filter.matches(Array(Self.syn.prefix(36)), wireLength: Self.syn.count), "cut before the ports")
    XCTAssertTrue(try PacketFilter("ip").matches(Array(Self.syn.prefix(14))))
    XCTAssertFalse(try PacketFilter("ip").matches(Array(Self.syn.prefix(13))))
  }
}
