// The virtio-net header a TAP with IFF_VNET_HDR (and a virtio NIC) reads before each frame:
// byte for byte as virtio 1.2 5.1.6 lays it out, for a plain frame, a checksum left to the
// device, and TCP segmentation over IPv4 (GSO type 1) and IPv6 (GSO type 4); what a
// received header leaves to do, read back in the same form.

import SiroccoDevices
import XCTest

final class VirtioNetHeaderTests: XCTestCase {
  func header(_ offload: TransmitOffload?) -> [UInt8] {
    var bytes = [UInt8](repeating: 0xee, count: VirtioNetHeader.length)
    bytes.withUnsafeMutableBytes { VirtioNetHeader.emit(into: $0, offload: offload) }
    return bytes
  }

  func testEveryFieldIsWhereVirtioPutsIt() {
    XCTAssertEqual(header(nil), [UInt8](repeating: 0, count: 10), "a plain frame: all zero")
    let checksum = TransmitOffload(checksumStart: 34, checksumOffset: 16, headerLength: 54, segmentSize: 0)
    XCTAssertEqual(header(checksum), [1, 0, 54, 0, 0, 0, 34, 0, 16, 0], "NEEDS_CSUM, no GSO")
    let tso4 = TransmitOffload(checksumStart: 34, checksumOffset: 16, headerLength: 66, segmentSize: 1448)
    XCTAssertEqual(header(tso4), [1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0], "GSO_TCPV4, gso_size 1448")
    let tso6 = TransmitOffload(checksumStart: 54, checksumOffset: 16, headerLength: 86, segmentSize: 1428, ipv6: true)
    XCTAssertEqual(header(tso6), [1, 4, 86, 0, 0x94, 0x05, 54, 0, 16, 0], "GSO_TCPV6, gso_size 1428")
    let checksum6 = TransmitOffload(checksumStart: 54, checksumOffset: 6, headerLength: 62, segmentSize: 0, ipv6: true)
    XCTAssertEqual(header(checksum6)[1], 0, "no segmentation asked: no GSO type, whatever the family")
  }

  func testReceivedChecksumFlags() {
    for (flags, verified) in [(UInt8(0), false), (1, true), (2, true), (4, false)] {
      let bytes = [flags] + [UInt8](repeating: 0, count: 9)
      XCTAssertEqual(bytes.withUnsafeBytes { VirtioNetHeader.checksumVerified($0) }, verified, "flags \(flags)")
    }
    XCTAssertFalse([UInt8(1)].withUnsafeBytes { VirtioNetHeader.checksumVerified($0) }, "too short")
  }

  func testPendingWorkIsReadBackAsTheOffloadToHandOn() {
    // An Ethernet + IPv4 + TCP frame whose TCP header is 32 bytes (data offset 8).
    var frame = [UInt8](repeating: 0, count: 14 + 20 + 32 + 3000)
    frame[14 + 20 + 12] = 8 << 4
    func pending(_ header: [UInt8], _ frame: [UInt8]) -> TransmitOffload? {
      header.withUnsafeBytes { header in frame.withUnsafeBytes { VirtioNetHeader.pending(header, frame: $0) } }
    }
    let tso4 = TransmitOffload(checksumStart: 34, checksumOffset: 16, headerLength: 66, segmentSize: 1448)
    XCTAssertEqual(pending(header(tso4), frame), tso4, "GSO_TCPV4: as emitted")
    var tso6 = tso4
    tso6.ipv6 = true
    XCTAssertEqual(pending(header(tso6), frame), tso6, "GSO_TCPV6")
    // The headers a piece repeats come from the TCP header, not hdr_len (a buffer's length).
    XCTAssertEqual(pending([1, 1, 0xff, 0x01, 0xa8, 0x05, 34, 0, 16, 0], frame)?.headerLength, 66)
    let checksum = TransmitOffload(checksumStart: 34, checksumOffset: 6, headerLength: 42, segmentSize: 0)
    XCTAssertEqual(pending(header(checksum), frame), checksum, "NEEDS_CSUM alone (UDP)")
    XCTAssertNil(pending(header(nil), frame), "a final frame")
    XCTAssertNil(pending([2] + [UInt8](repeating: 0, count: 9), frame), "DATA_VALID: final")
    XCTAssertNil(pending([1, 3, 42, 0, 0xa8, 0x05, 34, 0, 6, 0], frame), "UDP fragmentation: not Sirocco's")
    XCTAssertNil(pending([1, 1, 66, 0, 0, 0, 34, 0, 16, 0], frame), "GSO with a segment size of 0")
    XCTAssertNil(pending([1, 0, 0, 0, 0, 0, 0xff, 0xff, 16, 0], frame), "a checksum past the frame")
    XCTAssertNil(pending(header(tso4), Array(frame.prefix(60))), "a TCP header past the frame")
    XCTAssertNil(pending([1, 1], frame), "a short header")
  }
}
