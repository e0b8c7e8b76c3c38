// NTP packets: timestamps across the eras of RFC 4330 3, the header's fields at their
// offsets (a reply as chronyd sends it), a client's request, and short packets refused.

import XCTest

@testable import SiroccoWire

final class NTPTests: XCTestCase {
  func testTimestampsAndEras() {
    XCTAssertEqual(NTPTimestamp(nanosecondsSinceEpoch: 0).rawValue, 2_208_988_800 << 32, "1970 in NTP seconds")
    XCTAssertEqual(NTPTimestamp(nanosecondsSinceEpoch: 500_000_000).rawValue & 0xffff_ffff, 0x8000_0000, "half a second")
    // 2026 (era 0, top bit set) and 2040 (era 1, past 2036-02-07): both come back.
    for seconds: Int64 in [1_800_000_000, 2_208_988_800, 2_085_978_496 + 1, 2_000_000_000 + 222_222_222] {
      let nanoseconds = seconds * 1_000_000_000 + 123_456_789
      let back = NTPTimestamp(nanosecondsSinceEpoch: nanoseconds).nanosecondsSinceEpoch
      XCTAssertLessThanOrEqual(abs(back - nanoseconds), 1, "\(seconds)")
    }
    XCTAssertEqual(NTPTimestamp(rawValue: 0x8000_0000 << 32).nanosecondsSinceEpoch, (0x8000_0000 - 2_208_988_800) * 1_000_000_000,
                   "top bit set: era 0 (1968)")
    XCTAssertEqual(NTPTimestamp(rawValue: 1 << 32).nanosecondsSinceEpoch, (1 + (1 << 32) - 2_208_988_800) * 1_000_000_000,
                   "top bit clear: era 1 (2036)")
  }

  func testParseAndEmitAServerReply() throws {
    // A server reply laid out as chronyd sends one (stratum 3, poll 6, precision -25).
    let bytes: [UInt8] = [
      0x24, 0x03, 0x06, 0xe7, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x1d, 0x0a, 0x00, 0x00, 0x01,
      0xec, 0x9c, 0x3a, 0x10, 0x11, 0x22, 0x33, 0x44, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf1,
      0xec, 0x9c, 0x3a, 0x20, 0x00, 0x00, 0x00, 0x00, 0xec, 0x9c, 0x3a, 0x20, 0x00, 0x10, 0x00, 0x00,
    ]
    let packet = try bytes.withUnsafeBytes { try NTPPacket.parse($0) }
    XCTAssertEqual(packet.leap, 0)
    XCTAssertEqual(packet.version, 4)
    XCTAssertEqual(packet.mode, .server)
    XCTAssertEqual(packet.stratum, 3)
    XCTAssertEqual(packet.poll, 6)
    XCTAssertEqual(packet.precision, -25)
    XCTAssertEqual(packet.rootDelay, 0x2a)
    XCTAssertEqual(packet.rootDispersion, 0x1d)
    XCTAssertEqual(packet.referenceID, 0x0a00_0001)
    XCTAssertEqual(packet.origin.rawValue, 0x1234_5678_9abc_def1)
    XCTAssertEqual(packet.transmit.rawValue, 0xec9c_3a20_0010_0000)
    XCTAssertNil(packet.kissCode)
    XCTAssertEqual(packet.bytes, bytes)
    // Extension fields after the header are ignored; less than a header is refused.
    XCTAssertEqual(try (bytes + [UInt8](repeating: 0, count: 20)).withUnsafeBytes { try NTPPacket.parse($0) }, packet)
    XCTAssertThrowsError(try Array(bytes.prefix(47)).withUnsafeBytes { try NTPPacket.parse($0) }) {
      XCTAssertEqual($0 as? NTPError, .truncated(47))
    }
  }

  func testRequestAndKissCodes() {
    let request = NTPPacket.request(transmit: NTPTimestamp(rawValue: 0xdead_beef))
    XCTAssertEqual(Array(request.bytes.prefix(4)), [0x23, 0, 0, 0], "LI 0, version 4, mode 3")
    XCTAssertEqual(request.bytes.suffix(8), [0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef])
    XCTAssertEqual(request.bytes.prefix(40).filter { $0 != 0 }.count, 1, "only the first byte and the transmit time set")
    var kiss = NTPPacket(mode: .server, stratum: 0, referenceID: NTPPacket.kissRate)
    XCTAssertEqual(kiss.kissCode, 0x5241_5445)
    XCTAssertEqual(Array(kiss.bytes[12..<16]), Array("RATE".utf8))
    kiss.stratum = 2
    XCTAssertNil(kiss.kissCode)
  }
}
