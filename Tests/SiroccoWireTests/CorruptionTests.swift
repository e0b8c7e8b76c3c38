// Hostile input for every parser: every truncation of the real vectors, every byte replaced by
// several values, and seeded pseudo-random buffers. No parse may trap; every accepted parse is
// re-emitted (where emit's preconditions hold) and must parse back to the same value.

import XCTest

@testable import SiroccoWire

/// One parser under test. `check` parses a buffer, and on success re-emits and re-parses;
/// it returns whether the first parse accepted the buffer.
struct ParserTarget {
  let name: String
  let vectors: [[UInt8]]
  let check: ([UInt8]) -> Bool
  /// Recomputes the checksum of a mutated vector with the reference, when the format has one.
  var fixChecksum: ((inout [UInt8]) -> Void)? = nil
}

final class CorruptionTests: XCTestCase {
  // MARK: Targets

  static var ethernet: ParserTarget {
    ParserTarget(
    name: "Ethernet",
    vectors: [EthernetVectors.arpFrame, EthernetVectors.vlanFrame, EthernetVectors.vlanDropEligible,
              EthernetVectors.lldpHeader, EthernetVectors.doubleTagged],
    check: { data in
      guard case .success(let header) = parsing(data, { raw throws(WireError) in try EthernetHeader.parse(raw) })
      else { return false }
      let out = emitting(into: filled(header.headerLength)) { header.emit(into: $0) }
      let again = parsing(out) { raw throws(WireError) in try EthernetHeader.parse(raw) }
      if again != .success(header) { XCTFail("Ethernet \(hex(data)): \(header) re-parsed as \(again)") }
      if out != Array(data[0..<header.headerLength]) { XCTFail("Ethernet \(hex(data)) re-emitted as \(hex(out))") }
      return true
    })
  }

  static var arp: ParserTarget {
    ParserTarget(
    name: "ARP",
    vectors: [ARPVectors.whoHas, ARPVectors.reply, ARPVectors.announcement, ARPVectors.opcode3],
    check: { data in
      guard case .success(let packet) = parsing(data, { raw throws(WireError) in try ARPPacket.parse(raw) })
      else { return false }
      let out = emitting(into: filled(packet.bufferLength)) { packet.emit(into: $0) }
      if out != Array(data[0..<28]) { XCTFail("ARP \(hex(data)) re-emitted as \(hex(out))") }
      let again = parsing(out) { raw throws(WireError) in try ARPPacket.parse(raw) }
      if again != .success(packet) { XCTFail("ARP \(hex(data)): \(packet) re-parsed as \(again)") }
      return true
    })
  }

  static func ipv4(verify: Bool) -> ParserTarget {
    ParserTarget(
      name: "IPv4 verify \(verify)",
      vectors: [IPv4Vectors.pingRequest, IPv4Vectors.pingReply, IPv4Vectors.dnsQuery,
                IPv4Vectors.igmpWithRouterAlert, IPv4Vectors.fragment],
      check: { data in
        guard case .success(let header) = parsing(data, { raw throws(WireError) in
          try IPv4Header.parse(raw, verifyChecksum: verify)
        }) else { return false }
        // Invariants parse promises.
        if header.headerLength < 20 || header.totalLength < header.headerLength || header.totalLength > data.count {
          XCTFail("IPv4 \(hex(data)) accepted with inconsistent lengths: \(header)")
          return true
        }
        // emit's preconditions: 20 bytes, fragment offset in 8-byte units below 65536, total
        // length 20...65535.
        guard data.count >= 20, header.fragmentOffset % 8 == 0, header.fragmentOffset < 65536,
          (20...65535).contains(header.totalLength)
        else {
          XCTFail("IPv4 \(hex(data)) parsed to a header emit refuses: \(header)")
          return true
        }
        let out = emitting(into: data) { header.emit(into: $0) }
        switch parsing(out, { raw throws(WireError) in try IPv4Header.parse(raw) }) {
        case .failure(let error):
          XCTFail("IPv4 \(hex(data)): re-emitted \(hex(out)) fails with \(error)")
        case .success(let again):
          if again.typeOfService != header.typeOfService || again.totalLength != header.totalLength
            || again.identification != header.identification || again.dontFragment != header.dontFragment
            || again.moreFragments != header.moreFragments || again.fragmentOffset != header.fragmentOffset
            || again.timeToLive != header.timeToLive || again.protocol != header.protocol
            || again.source != header.source || again.destination != header.destination
            || again.headerLength != 20
          {
            XCTFail("IPv4 \(hex(data)): \(header) re-parsed as \(again)")
          }
        }
        return true
      },
      fixChecksum: { data in
        guard data.count >= 20, Int(data[0] & 0xf) * 4 <= data.count else { return }
        fixIPv4Checksum(&data)
      })
  }

  static func icmp(verify: Bool) -> ParserTarget {
    ParserTarget(
      name: "ICMPv4 verify \(verify)",
      vectors: [ICMPv4Vectors.echoRequest, ICMPv4Vectors.echoReply, ICMPv4Vectors.portUnreachable,
                ICMPv4Vectors.fragmentationNeeded, ICMPv4Vectors.timeExceeded, ICMPv4Vectors.timestampRequest,
                ICMPv4Vectors.oddEchoRequest, ICMPv4Vectors.echoCodeOne],
      check: { data in
        guard case .success(let message) = parsing(data, { raw throws(WireError) in
          try ICMPv4Message.parse(raw, verifyChecksum: verify)
        }) else { return false }
        let out = emitting(into: data) { message.emit(into: $0) }
        let again = parsing(out) { raw throws(WireError) in try ICMPv4Message.parse(raw) }
        if again != .success(message) { XCTFail("ICMP \(hex(data)): \(message) re-parsed as \(again)") }
        return true
      },
      fixChecksum: { data in
        guard data.count >= 8 else { return }
        write(0, into: &data, at: 2)
        write(referenceChecksum(data), into: &data, at: 2)
      })
  }

  static func udp(verify: Bool) -> ParserTarget {
    ParserTarget(
      name: "UDP verify \(verify)",
      vectors: [UDPVectors.dnsQuery, UDPVectors.zeroSum],
      check: { data in
        guard case .success(let header) = parsing(data, { raw throws(WireError) in
          try UDPHeader.parse(raw, source: hostA, destination: hostB, verifyChecksum: verify)
        }) else { return false }
        guard header.length >= 8, header.length <= data.count, header.length <= 65535 else {
          XCTFail("UDP \(hex(data)) accepted with length \(header.length)")
          return true
        }
        let out = emitting(into: data) { header.emit(into: $0, source: hostA, destination: hostB) }
        switch parsing(out, { raw throws(WireError) in try UDPHeader.parse(raw, source: hostA, destination: hostB) }) {
        case .failure(let error):
          XCTFail("UDP \(hex(data)): re-emitted \(hex(out)) fails with \(error)")
        case .success(let again):
          var expected = header
          expected.checksum = again.checksum
          if again != expected || again.checksum == 0 { XCTFail("UDP \(hex(data)): \(header) re-parsed as \(again)") }
        }
        return true
      })
  }

  static func tcp(verify: Bool) -> ParserTarget {
    ParserTarget(
      name: "TCP verify \(verify)",
      vectors: [TCPVectors.linuxSYN, TCPVectors.windowsSYN, TCPVectors.synAck, TCPVectors.sackAck, TCPVectors.httpGet,
                TCPVectors.segment(options: bytes("0101 0522") + [UInt8](repeating: 0x11, count: 32))],
      check: { data in
        // The SYN-ACK goes the other way, but the pseudo-header sum does not depend on the
        // order of the two addresses.
        guard case .success(let header) = parsing(data, { raw throws(WireError) in
          try TCPHeader.parse(raw, source: hostA, destination: hostB, verifyChecksum: verify)
        }) else { return false }
        if header.headerLength < 20 || header.headerLength > 60 || header.headerLength > data.count {
          XCTFail("TCP \(hex(data)) accepted with header length \(header.headerLength)")
          return true
        }
        // emit's layout stays within 40 bytes of options (it keeps the SACK blocks that fit;
        // see testTCPOptionsThatOverflowKeepTheFirstSACKBlocks); it needs room for that.
        let emitted = TCPHeader.minimumLength + header.options.bufferLength
        XCTAssertLessThanOrEqual(emitted, TCPHeader.maximumLength)
        guard emitted <= data.count else { return true }
        var expected = header.options
        expected.sackBlocks = SACKBlocks(Array(header.options.sackBlocks.prefix(header.options.emittedSACKBlocks)))
        let out = emitting(into: data) { header.emit(into: $0, source: hostA, destination: hostB) }
        switch parsing(out, { raw throws(WireError) in try TCPHeader.parse(raw, source: hostA, destination: hostB) }) {
        case .failure(let error):
          XCTFail("TCP \(hex(data)): re-emitted \(hex(out)) fails with \(error)")
        case .success(let again):
          if again.sourcePort != header.sourcePort || again.destinationPort != header.destinationPort
            || again.sequenceNumber != header.sequenceNumber
            || again.acknowledgmentNumber != header.acknowledgmentNumber || again.flags != header.flags
            || again.window != header.window || again.urgentPointer != header.urgentPointer
            || again.options != expected || again.headerLength != emitted
          {
            XCTFail("TCP \(hex(data)): \(header) re-parsed as \(again)")
          }
        }
        return true
      },
      fixChecksum: { data in
        guard data.count >= 20 else { return }
        fixTransportChecksum(&data, at: 16, protocol: 6, source: hostA, destination: hostB)
      })
  }

  static var ipv6: ParserTarget {
    ParserTarget(
      name: "IPv6",
      vectors: [IPv6Vectors.pingRequest, IPv6Vectors.mldReport, IPv6Vectors.firstFragment, IPv6Vectors.unknownDestinationOption,
                IPv6Vectors.routingSegmentsLeft, IPv6Vectors.hopByHopLate, IPv6Vectors.paddedOptions, IPv6Vectors.lonelyFragment],
      check: { data in
        guard case .success(let header) = parsing(data, { raw throws(WireError) in try IPv6Header.parse(raw) })
        else { return false }
        guard header.totalLength <= data.count else {
          XCTFail("IPv6 \(hex(data)) accepted with payload length \(header.payloadLength)")
          return true
        }
        let out = emitting(into: data) { header.emit(into: $0) }
        if out != data { XCTFail("IPv6 \(hex(data)) re-emitted as \(hex(out))") }
        let walked = Array(data[40..<header.totalLength]).withUnsafeBytes { raw in
          Result { () throws(IPv6ExtensionHeaderError) in try IPv6ExtensionHeaders.walk(raw, nextHeader: header.nextHeader) }
        }
        if case .success(let headers) = walked,
          headers.upperLayerOffset > header.payloadLength || headers.count > IPv6ExtensionHeaders.maximumCount
        {
          XCTFail("IPv6 \(hex(data)) walked to \(headers)")
        }
        return true
      })
  }

  /// ICMPv6 messages behind their source and destination addresses (32 bytes).
  static func icmpv6(verify: Bool) -> ParserTarget {
    func addressed(_ vector: ICMPv6Vector) -> [UInt8] {
      emitting(into: filled(32)) { vector.source.write(to: $0, at: 0); vector.destination.write(to: $0, at: 16) } + vector.message
    }
    return ParserTarget(
      name: "ICMPv6 verify \(verify)",
      vectors: (ICMPv6Tests.vectors + NDPVectors.all + MLDVectors.all).map(addressed),
      check: { data in
        guard data.count >= 32 else { return false }
        let source = IPv6Address(bytes: data[0..<16])
        let destination = IPv6Address(bytes: data[16..<32])
        let parse = { (bytes: [UInt8], verify: Bool) in
          parsing(bytes) { raw throws(WireError) in
            try ICMPv6Message.parse(raw, source: source, destination: destination, verifyChecksum: verify)
          }
        }
        let message = Array(data[32...])
        guard case .success(let parsed) = parse(message, verify) else { return false }
        // Errors and echo over their payload; Neighbor Discovery and MLD whole.
        let length = parsed.bufferLength
        guard length <= message.count else {
          XCTFail("ICMPv6 \(hex(data)): \(parsed) emits \(length) bytes")
          return true
        }
        let template = length == ICMPv6Message.headerLength ? message : filled(length)
        let out = emitting(into: template) { parsed.emit(into: $0, source: source, destination: destination) }
        let again = parse(out, true)
        if again != .success(parsed) { XCTFail("ICMPv6 \(hex(data)): \(parsed) re-parsed as \(again)") }
        return true
      },
      fixChecksum: { data in
        guard data.count >= 40 else { return }
        var message = Array(data[32...])
        fixChecksum(&message, at: 2, nextHeader: 58, source: IPv6Address(bytes: data[0..<16]), destination: IPv6Address(bytes: data[16..<32]))
        data[32...] = message[...]
      })
  }

  static var allTargets: [ParserTarget] {
    [ethernet, arp, ipv4(verify: true), ipv4(verify: false), icmp(verify: true), icmp(verify: false),
     udp(verify: true), udp(verify: false), tcp(verify: true), tcp(verify: false), ipv6, icmpv6(verify: true),
     icmpv6(verify: false)]
  }

  // MARK: Tests

  func testVectorsAreAccepted() {
    // The premise of the mutation tests: every vector is valid as it stands.
    for target in Self.allTargets {
      for vector in target.vectors {
        XCTAssertTrue(target.check(vector), "\(target.name) rejects \(hex(vector))")
      }
    }
  }

  func testEveryTruncation() {
    for target in Self.allTargets {
      for vector in target.vectors {
        for length in 0...vector.count {
          _ = target.check(Array(vector[0..<length]))
        }
      }
    }
  }

  func testEveryByteFlipped() {
    for target in Self.allTargets {
      var accepted = 0
      for vector in target.vectors {
        for index in vector.indices {
          for replacement in [0x00, 0xff, vector[index] &+ 1, vector[index] &- 1, vector[index] ^ 0x80] {
            var mutated = vector
            mutated[index] = replacement
            if target.check(mutated) { accepted += 1 }
            // Again with the checksum repaired, so the mutation reaches the checks behind it.
            if let fix = target.fixChecksum {
              fix(&mutated)
              if target.check(mutated) { accepted += 1 }
            }
          }
        }
      }
      XCTAssertGreaterThan(accepted, 0, target.name)
    }
  }

  func testRandomBuffers() {
    for target in Self.allTargets {
      var random = SplitMix64(seed: 0x5eed_0001)
      for _ in 0..<10_000 {
        let data = random.bytes(random.next(upTo: 100))
        _ = target.check(data)
      }
    }
  }

  func testRandomBuffersWithPlausibleHeaders() {
    // Random bytes get past the first field checks rarely; here the fields that gate the
    // deeper checks are set to plausible values and the checksum repaired, so option
    // parsing and length checks see random data.
    var random = SplitMix64(seed: 0x5eed_0002)

    var ipAccepted = 0
    for _ in 0..<10_000 {
      var data = random.bytes(random.next(upTo: 100))
      if data.count >= 20 {
        data[0] = 0x40 | UInt8(5 + random.next(upTo: 10))
        let headerLength = Int(data[0] & 0xf) * 4
        let total = min(data.count, headerLength + random.next(upTo: 40)) + random.next(upTo: 2) - 1
        write(UInt16(truncatingIfNeeded: max(total, 0)), into: &data, at: 2)
        if headerLength <= data.count { fixIPv4Checksum(&data) }
      }
      if Self.ipv4(verify: true).check(data) { ipAccepted += 1 }
    }
    XCTAssertGreaterThan(ipAccepted, 100)

    var tcpAccepted = 0
    let tcp = Self.tcp(verify: true)
    for _ in 0..<10_000 {
      var data = random.bytes(random.next(upTo: 100))
      if data.count >= 20 {
        let offset = 5 + random.next(upTo: min(10, data.count / 4 - 5 + 1))
        data[12] = UInt8(offset) << 4 | data[12] & 0x0f
        // Bias the option kinds toward the ones that are parsed.
        for index in 20..<min(offset * 4, data.count) where random.next(upTo: 3) == 0 {
          data[index] = UInt8(random.next(upTo: 8))
        }
        fixTransportChecksum(&data, at: 16, protocol: 6, source: hostA, destination: hostB)
      }
      if tcp.check(data) { tcpAccepted += 1 }
    }
    XCTAssertGreaterThan(tcpAccepted, 100)

    var udpAccepted = 0
    let udp = Self.udp(verify: true)
    for _ in 0..<10_000 {
      var data = random.bytes(random.next(upTo: 100))
      if data.count >= 8 {
        let length = 8 + random.next(upTo: data.count - 8)
        write(UInt16(length), into: &data, at: 4)
        if random.next(upTo: 1) == 0 {
          write(0, into: &data, at: 6)
          let sum = referenceChecksum(pseudoHeader(hostA, hostB, protocol: 17, length: length) + data[0..<length])
          write(sum, into: &data, at: 6)
        }
      }
      if udp.check(data) { udpAccepted += 1 }
    }
    XCTAssertGreaterThan(udpAccepted, 100)

    var arpAccepted = 0
    for _ in 0..<10_000 {
      var data = random.bytes(random.next(upTo: 40))
      if data.count >= 6 {
        if random.next(upTo: 3) != 0 { data[0...5] = [0x00, 0x01, 0x08, 0x00, 0x06, 0x04] }
      }
      if Self.arp.check(data) { arpAccepted += 1 }
    }
    XCTAssertGreaterThan(arpAccepted, 100)

    var icmpAccepted = 0
    let icmp = Self.icmp(verify: true)
    for _ in 0..<10_000 {
      var data = random.bytes(random.next(upTo: 100))
      if data.count >= 8 {
        data[0] = [0, 3, 8, 11, 13, 5][random.next(upTo: 5)]
        icmp.fixChecksum?(&data)
      }
      if icmp.check(data) { icmpAccepted += 1 }
    }
    XCTAssertGreaterThan(icmpAccepted, 100)

    // ICMPv6 types that are parsed, Neighbor Discovery options of every kind and length.
    var icmpv6Accepted = 0
    let icmpv6 = Self.icmpv6(verify: true)
    for _ in 0..<10_000 {
      var data = random.bytes(32 + random.next(upTo: 100))
      if data.count >= 40 {
        data[32] = [1, 2, 3, 4, 128, 129, 130, 133, 134, 135, 136, 137, 143][random.next(upTo: 12)]
        data[33] = random.next(upTo: 3) == 0 ? data[33] : 0
        // Option-shaped bytes after the fixed part: a known type and a small length.
        for index in stride(from: 40, to: data.count - 1, by: 8) where random.next(upTo: 1) == 0 {
          data[index] = [1, 2, 3, 5, 25, 14][random.next(upTo: 5)]
          data[index + 1] = UInt8(random.next(upTo: 5))
        }
        icmpv6.fixChecksum?(&data)
      }
      if icmpv6.check(data) { icmpv6Accepted += 1 }
    }
    XCTAssertGreaterThan(icmpv6Accepted, 100)
  }

  func testTCPOptionsThatOverflowKeepTheFirstSACKBlocks() throws {
    // Parse accepts 40 bytes of options packed tightly, but emit writes every option
    // NOP-aligned: MSS, window scale, SACK-permitted and timestamps take 24 bytes, so of the
    // two SACK blocks only the first fits (RFC 2018 3).
    let area = bytes("020405b4 030307 0402 080a 00000001 00000002 0512 00000001 00000002 00000003 00000004 000000")
    XCTAssertEqual(area.count, 40)
    let header = try parse(TCPVectors.segment(options: area)) { raw throws(WireError) in
      try TCPHeader.parse(raw, source: hostA, destination: hostB)
    }
    XCTAssertEqual(header.options.sackBlocks.count, 2)
    XCTAssertEqual(header.headerLength, 60)
    XCTAssertEqual(header.options.bufferLength, 36)  // 24 + a SACK option with one block
    XCTAssertEqual(header.options.emittedSACKBlocks, 1)
    var fresh = header
    fresh.parsedHeaderLength = nil
    XCTAssertEqual(fresh.headerLength, 56)
    let out = emitting(into: [UInt8](repeating: 0, count: 56)) { fresh.emit(into: $0, source: hostA, destination: hostB) }
    let again = try parse(out) { raw throws(WireError) in try TCPHeader.parse(raw, source: hostA, destination: hostB) }
    XCTAssertEqual(Array(again.options.sackBlocks), [SACKBlock(left: 1, right: 2)])
    XCTAssertEqual(again.options.timestamp, header.options.timestamp)
  }

}
