// The Internet checksum (RFC 1071) against its worked example and a plain 16-bit reference, and
// the IPv4 and IPv6 (RFC 8200 8.1) pseudo-headers.

import XCTest

@testable import SiroccoWire

final class ChecksumTests: XCTestCase {
  private func compute(_ data: [UInt8]) -> UInt16 {
    data.withUnsafeBytes { InternetChecksum.compute($0) }
  }

  /// Deterministic test data of several kinds.
  private func patterns(length: Int) -> [[UInt8]] {
    var random = SplitMix64(seed: UInt64(length) &* 0x1234_5678_9abc)
    return [
      [UInt8](repeating: 0, count: length),
      [UInt8](repeating: 0xff, count: length),
      (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) },
      random.bytes(length),
      random.bytes(length),
    ]
  }

  func testRFC1071Example() {
    // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2; the checksum is 0x220d.
    let data = bytes("0001 f203 f4f5 f6f7")
    XCTAssertEqual(referenceSum(data), 0xddf2)
    XCTAssertEqual(compute(data), 0x220d)
    // Inserting the checksum makes the whole verify (sum to zero after complement).
    XCTAssertEqual(compute(data + [0x22, 0x0d]), 0)
  }

  func testKnownHeaders() {
    // The IPv4 header of the ping request verifies, and its checksum field is reproduced.
    let header = Array(IPv4Vectors.pingRequest[0..<20])
    XCTAssertEqual(compute(header), 0)
    var zeroed = header
    write(0, into: &zeroed, at: 10)
    XCTAssertEqual(compute(zeroed), 0xcb6c)
  }

  func testEmptyAndSmall() {
    XCTAssertEqual(compute([]), 0xffff)
    XCTAssertEqual(compute([0x00]), 0xffff)
    XCTAssertEqual(compute([0x12]), ~UInt16(0x1200))
    XCTAssertEqual(compute([0x12, 0x34]), ~UInt16(0x1234))
    XCTAssertEqual(compute([0x12, 0x34, 0x56]), ~UInt16(0x1234 + 0x5600))
    XCTAssertEqual(compute([0xff, 0xff]), 0x0000)
  }

  func testOddLengths() {
    // The odd byte is the high half of a zero-padded word (RFC 1071 4.1).
    let data = bytes("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 ab")
    XCTAssertEqual(compute(data), referenceChecksum(data))
    XCTAssertEqual(compute(data), compute(data + [0]))
    for length in stride(from: 1, through: 69, by: 2) {
      for data in patterns(length: length) {
        XCTAssertEqual(compute(data), compute(data + [0]), "length \(length)")
      }
    }
  }

  func testLengthsZeroThroughSeventyAgainstReference() {
    for length in 0...70 {
      for data in patterns(length: length) {
        XCTAssertEqual(compute(data), referenceChecksum(data), "length \(length): \(hex(data))")
      }
    }
  }

  func testUnalignedBuffers() {
    // The same bytes at every starting address alignment.
    var random = SplitMix64(seed: 7)
    let data = random.bytes(70)
    let expected = referenceChecksum(data)
    for shift in 0..<8 {
      let padded = [UInt8](repeating: 0xee, count: shift) + data
      let value = padded.withUnsafeBytes { raw in
        InternetChecksum.compute(UnsafeRawBufferPointer(rebasing: raw[shift...]))
      }
      XCTAssertEqual(value, expected, "shift \(shift)")
    }
  }

  func testCarriesOnLargeInput() {
    // 65535 bytes of 0xff (the largest IP datagram) and random data: many carries out of
    // the 64-bit accumulator.
    let ones = [UInt8](repeating: 0xff, count: 65535)
    XCTAssertEqual(compute(ones), referenceChecksum(ones))
    var random = SplitMix64(seed: 0xfeed)
    let noise = random.bytes(65535)
    XCTAssertEqual(compute(noise), referenceChecksum(noise))
  }

  func testSplitPieces() {
    // Adding two pieces (the first of even length) equals adding the whole.
    var random = SplitMix64(seed: 42)
    for length in [0, 1, 2, 7, 8, 9, 16, 31, 64, 65, 70, 1501] {
      let data = random.bytes(length)
      let whole = compute(data)
      for split in stride(from: 0, through: length, by: 2) {
        var checksum = InternetChecksum()
        data.withUnsafeBytes { raw in
          checksum.add(UnsafeRawBufferPointer(rebasing: raw[0..<split]))
          checksum.add(UnsafeRawBufferPointer(rebasing: raw[split...]))
        }
        XCTAssertEqual(checksum.value, whole, "length \(length) split \(split)")
      }
    }
  }

  func testAddingWordsMatchesBytes() {
    var words = InternetChecksum()
    words.add(UInt16(0x0001))
    words.add(UInt32(0xf203_f4f5))
    words.add(UInt16(0xf6f7))
    XCTAssertEqual(words.value, 0x220d)
  }

  func testPseudoHeader() {
    // The pseudo-header sum equals the reference over its 12 bytes.
    for (length, number) in [(40, IPProtocol.tcp), (48, .udp), (65535, .udp), (0, .tcp)] {
      var checksum = InternetChecksum()
      checksum.addPseudoHeader(source: hostA, destination: IPv4Address(192, 0, 2, 200), protocol: number, length: length)
      XCTAssertEqual(
        checksum.value,
        referenceChecksum(pseudoHeader(hostA, IPv4Address(192, 0, 2, 200), protocol: number.rawValue, length: length)))
    }
    // And it composes with the segment: the Linux SYN verifies.
    var checksum = InternetChecksum()
    checksum.addPseudoHeader(source: hostA, destination: hostB, protocol: .tcp, length: TCPVectors.linuxSYN.count)
    TCPVectors.linuxSYN.withUnsafeBytes { checksum.add($0) }
    XCTAssertEqual(checksum.value, 0)
  }

  func testAddingUInt64() {
    var words = InternetChecksum()
    words.add(UInt64(0x0001_f203_f4f5_f6f7))
    XCTAssertEqual(words.value, 0x220d)
  }

  func testIPv6PseudoHeader() {
    // Against the reference over the 40 bytes written out, including lengths that need all 32
    // bits of the length field.
    for (length, number) in [(64, IPProtocol.icmpv6), (13, .udp), (65535, .tcp), (0x1_0000, .udp), (0x1234_5678, .icmpv6), (0, .tcp)] {
      var checksum = InternetChecksum()
      checksum.addPseudoHeader(source: linkLocalA, destination: .allNodes, protocol: number, length: length)
      let expected = referenceChecksum(pseudoHeader(linkLocalA, .allNodes, nextHeader: number.rawValue, length: length))
      XCTAssertEqual(checksum.value, expected, "length \(length)")
      var agnostic = InternetChecksum()
      agnostic.addPseudoHeader(source: IPAddress.v6(linkLocalA), destination: .v6(.allNodes), protocol: number, length: length)
      XCTAssertEqual(agnostic.value, expected, "length \(length)")
    }
    // The family-agnostic entry point gives the IPv4 sum for IPv4 addresses.
    var ipv4 = InternetChecksum()
    ipv4.addPseudoHeader(source: IPAddress.v4(hostA), destination: .v4(hostB), protocol: .tcp, length: 40)
    XCTAssertEqual(ipv4.value, referenceChecksum(pseudoHeader(hostA, hostB, protocol: 6, length: 40)))
    // And it composes with a message: Linux's echo request verifies.
    var checksum = InternetChecksum()
    checksum.addPseudoHeader(source: linkLocalA, destination: linkLocalB, protocol: .icmpv6, length: ICMPv6Vectors.echoRequest.count)
    ICMPv6Vectors.echoRequest.withUnsafeBytes { checksum.add($0) }
    XCTAssertEqual(checksum.value, 0)
  }

  func testRoutingHeaderUsesFinalDestination() {
    // RFC 8200 8.1: with a Routing header, the pseudo-header holds the final destination. The
    // echo behind `IPv6Vectors.routingSegmentsLeft` was summed for the packet's destination;
    // for the final one, 2001:db8::1, its checksum is 0x2bf2 (as tcpdump computed too).
    let finalDestination = IPv6Address(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
    var echo = Array(IPv6Vectors.routingSegmentsLeft[64...])
    write(0x2bf2, into: &echo, at: 2)
    XCTAssertEqual(referenceChecksum(pseudoHeader(linkLocalA, finalDestination, nextHeader: 58, length: echo.count) + echo), 0)
    var checksum = InternetChecksum()
    checksum.addPseudoHeader(source: linkLocalA, destination: finalDestination, protocol: .icmpv6, length: echo.count)
    echo.withUnsafeBytes { checksum.add($0) }
    XCTAssertEqual(checksum.value, 0)
  }
}
