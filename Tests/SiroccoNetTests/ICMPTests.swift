// ICMPv4 on the interface: the echo responder, the errors a host sends, and their rate limit
// (RFC 792, RFC 1122 3.2.2, RFC 1812 4.3.2.3 and 4.3.2.8).

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

final class ICMPTests: XCTestCase {
  // MARK: Echo

  func testEchoReplyMirrorsTheRequestForEverySize() throws {
    for size in [0, 1, 56, 1400, 1472] {
      let harness = Harness()
      harness.learn()
      let data = pattern(size, offset: size)
      let identifier = UInt16(0xbe00 + size % 256)
      let sequenceNumber = UInt16(size + 1)
      let request = echoRequestFrame(identifier: identifier, sequenceNumber: sequenceNumber, data)
      let replyFrame = try harness.exchange(request)
      XCTAssertEqual(replyFrame.count, 14 + 20 + 8 + size, "size \(size): no padding, nothing extra")

      let reply = try parseIPv4Frame(replyFrame)
      XCTAssertEqual(reply.ethernet.destination, peerMAC, "size \(size)")
      XCTAssertEqual(reply.header.source, ourIP, "size \(size)")
      XCTAssertEqual(reply.header.destination, peerIP, "size \(size)")
      XCTAssertEqual(reply.header.totalLength, 28 + size, "size \(size)")
      XCTAssertEqual(reply.header.timeToLive, 64, "size \(size)")
      let (message, replyData) = try parseICMP(reply)
      XCTAssertEqual(message, .echoReply(identifier: identifier, sequenceNumber: sequenceNumber), "size \(size)")
      XCTAssertEqual(reply.payload[0], 0, "type 0")
      XCTAssertEqual(reply.payload[1], 0, "code 0")
      XCTAssertEqual(replyData, data, "size \(size): the data comes back unchanged")

      XCTAssertEqual(harness.counters.echoRepliesSent, 1)
      harness.assertDrops([:])
    }
  }

  func testEchoRepliesUseFreshIdentificationsAndTheConfiguredTTL() throws {
    let harness = Harness { $0.timeToLive = 17 }
    harness.learn()
    var identifications: Set<UInt16> = []
    for sequence in 0..<5 {
      let reply = try parseIPv4Frame(
        try harness.exchange(echoRequestFrame(sequenceNumber: UInt16(sequence), [1])), timeToLive: 17)
      identifications.insert(reply.header.identification)
    }
    XCTAssertEqual(identifications.count, 5)
  }

  func testEchoRequestWithIPOptionsIsAnswered() throws {
    let harness = Harness()
    harness.learn()
    // IHL 6: one 4-byte option word (NOP NOP NOP EOL) before the ICMP message.
    let icmp = icmpMessage(.echoRequest(identifier: 7, sequenceNumber: 8), [9, 9, 9])
    var packet = ipv4Packet(protocol: .icmp, [1, 1, 1, 0] + icmp)
    packet[0] = 0x46
    packet[10] = 0
    packet[11] = 0
    let sum = referenceChecksum(Array(packet[0..<24]))
    packet[10] = UInt8(sum >> 8)
    packet[11] = UInt8(sum & 0xff)
    let reply = try parseIPv4Frame(try harness.exchange(ethernetFrame(type: .ipv4, packet)))
    let (message, data) = try parseICMP(reply)
    XCTAssertEqual(message, .echoReply(identifier: 7, sequenceNumber: 8))
    XCTAssertEqual(data, [9, 9, 9])
  }

  func testEchoFromAnUnknownNeighbourWaitsForARP() throws {
    let harness = Harness()
    let request = try parseARPFrame(try harness.exchange(echoRequestFrame(sequenceNumber: 3, [5, 6])))
    XCTAssertEqual(request.1.targetProtocolAddress, peerIP)
    let reply = try parseIPv4Frame(try harness.exchange(arpReplyFrame()))
    XCTAssertEqual(try parseICMP(reply).0, .echoReply(identifier: 0x4d2, sequenceNumber: 3))
    XCTAssertEqual(try parseICMP(reply).1, [5, 6])
  }

  func testEchoToABroadcastAddressIsIgnored() throws {
    let harness = Harness()
    harness.learn()
    harness.expectSilence(
      echoRequestFrame(to: .broadcast, [1, 2], ethernetTo: .broadcast),
      echoRequestFrame(to: subnetBroadcast, [1, 2], ethernetTo: .broadcast))
    XCTAssertEqual(harness.counters.icmpIgnored, 2)
    XCTAssertEqual(harness.counters.echoRepliesSent, 0)
    harness.assertDrops([:])
  }

  func testEchoRepliesAndErrorsReceivedAreIgnored() throws {
    let harness = Harness()
    harness.learn()
    harness.expectSilence(
      ethernetFrame(type: .ipv4, ipv4Packet(protocol: .icmp, icmpMessage(.echoReply(identifier: 1, sequenceNumber: 1)))),
      ethernetFrame(
        type: .ipv4,
        ipv4Packet(protocol: .icmp, icmpMessage(.destinationUnreachable(code: .port, nextHopMTU: 0), pattern(28)))))
    XCTAssertEqual(harness.counters.icmpIgnored, 2)
    harness.assertDrops([:])
  }

  func testBadICMPChecksumIsDroppedAndCounted() throws {
    let harness = Harness()
    harness.learn()
    var frame = echoRequestFrame([1, 2, 3, 4])
    frame[14 + 20 + 2] ^= 0x01
    harness.expectSilence(frame)
    harness.assertDrops([.badICMPChecksum: 1])
    XCTAssertEqual(harness.counters.echoRepliesSent, 0)
  }

  func testTruncatedICMPIsMalformed() throws {
    let harness = Harness()
    harness.learn()
    harness.expectSilence(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .icmp, [8, 0, 0xf7, 0xff, 0, 0, 0])))
    harness.assertDrops([.malformedICMP: 1])
  }

  // MARK: Errors

  func testUDPToAClosedPortIsAnsweredWithPortUnreachableQuotingTheDatagram() throws {
    let harness = Harness()
    harness.learn()
    let original = ipv4Packet(
      protocol: .udp, udpDatagram(sourcePort: 5353, port: 9999, Array("anyone there?".utf8)))
    let error = try parseIPv4Frame(try harness.exchange(ethernetFrame(type: .ipv4, original, padTo: 60)))
    XCTAssertEqual(error.ethernet.destination, peerMAC)
    XCTAssertEqual(error.header.destination, peerIP)
    XCTAssertEqual(error.header.totalLength, 20 + 8 + original.count)
    let (message, quoted) = try parseICMP(error)
    XCTAssertEqual(message, .destinationUnreachable(code: .port, nextHopMTU: 0))
    XCTAssertEqual(Array(error.payload[0..<2]), [3, 3], "type 3, code 3")
    XCTAssertEqual(Array(error.payload[4..<8]), [0, 0, 0, 0], "unused")
    XCTAssertEqual(hex(quoted), hex(original), "the whole datagram, without the Ethernet padding")
    XCTAssertEqual(harness.counters.icmpErrorsSent, 1)
    harness.assertDrops([.noUDPSocket: 1])
  }

  func testErrorsQuoteAtMostWhatFitsIn576Bytes() throws {
    let harness = Harness()
    harness.learn()
    let original = ipv4Packet(protocol: .udp, udpDatagram(port: 9999, pattern(1000)))
    let error = try parseIPv4Frame(try harness.exchange(ethernetFrame(type: .ipv4, original)))
    XCTAssertEqual(error.header.totalLength, 576)
    let (_, quoted) = try parseICMP(error)
    XCTAssertEqual(quoted, Array(original.prefix(548)))
  }

  func testUnknownProtocolIsAnsweredWithProtocolUnreachable() throws {
    let harness = Harness()
    harness.learn()
    let original = ipv4Packet(protocol: IPProtocol(rawValue: 253), pattern(30))
    let error = try parseIPv4Frame(try harness.exchange(ethernetFrame(type: .ipv4, original)))
    XCTAssertEqual(error.header.destination, peerIP)
    let (message, quoted) = try parseICMP(error)
    XCTAssertEqual(message, .destinationUnreachable(code: .protocol, nextHopMTU: 0))
    XCTAssertEqual(Array(error.payload[0..<2]), [3, 2], "type 3, code 2")
    XCTAssertEqual(quoted, original)
    harness.assertDrops([.unknownProtocol: 1])
  }

  func testUnknownProtocolGetsProtocolUnreachable() throws {
    let harness = Harness()
    harness.learn()
    let sctp = IPProtocol(rawValue: 132)
    let error = try parseIPv4Frame(try harness.exchange(ethernetFrame(type: .ipv4, ipv4Packet(protocol: sctp, pattern(20)))))
    XCTAssertEqual(try parseICMP(error).0, .destinationUnreachable(code: .protocol, nextHopMTU: 0))
  }

  func testNoErrorsAboutDatagramsSentToABroadcastAddress() throws {
    let harness = Harness()
    harness.learn()
    harness.expectSilence(
      udpFrame(to: .broadcast, port: 9999, [1], ethernetTo: .broadcast),
      udpFrame(to: subnetBroadcast, port: 9999, [1], ethernetTo: .broadcast),
      ethernetFrame(to: .broadcast, type: .ipv4, ipv4Packet(to: subnetBroadcast, protocol: IPProtocol(rawValue: 253), [0])))
    harness.assertDrops([.noUDPSocket: 2, .unknownProtocol: 1])
    XCTAssertEqual(harness.counters.icmpErrorsSent, 0)
  }

  /// RFC 1122 3.2.2: no ICMP error about a datagram sent as a link-layer broadcast, even to
  /// our unicast address (every host on the link would answer the same spoofed source).
  func testNoErrorsAboutDatagramsReceivedAsLinkLayerBroadcast() throws {
    let harness = Harness()
    harness.learn()
    harness.expectSilence(
      udpFrame(port: 9999, [1], ethernetTo: .broadcast),
      ethernetFrame(to: .broadcast, type: .ipv4, ipv4Packet(protocol: IPProtocol(rawValue: 253), [0])))
    harness.assertDrops([.noUDPSocket: 1, .unknownProtocol: 1])
    XCTAssertEqual(harness.counters.icmpErrorsSent, 0)
  }

  func testErrorsAreRateLimitedByATokenBucket() throws {
    let harness = Harness {
      $0.icmpErrorBurst = 3
      $0.icmpErrorRate = 2  // one token every 500 ms
    }
    harness.learn()
    func errors(_ count: Int) -> Int {
      for index in 0..<count { harness.inject(udpFrame(port: UInt16(9000 + index), [1])) }
      harness.poll()
      return harness.sent().count
    }
    XCTAssertEqual(errors(5), 3, "the burst")
    XCTAssertEqual(errors(1), 0, "the bucket is empty")
    harness.now = at(seconds: 0.499)
    XCTAssertEqual(errors(1), 0, "no token yet")
    harness.now = at(seconds: 0.5)
    XCTAssertEqual(errors(2), 1, "one token earned")
    harness.now = at(seconds: 1.0)
    XCTAssertEqual(errors(2), 1, "one more")
    harness.now = at(seconds: 50)  // the peer's ARP entry (60 s) still holds
    XCTAssertEqual(errors(5), 3, "refilled, but never beyond the burst")
    XCTAssertEqual(harness.counters.icmpErrorsSent, 8)
    harness.assertDrops([.noUDPSocket: 16])
  }

  func testDefaultRateLimitAllowsABurstOf50() throws {
    let harness = Harness()
    harness.learn()
    for index in 0..<60 { harness.inject(udpFrame(port: UInt16(1000 + index), [1])) }
    harness.poll()
    XCTAssertEqual(harness.sent().count, 50)
    // 100 per second: 10 ms earns one token.
    harness.now = at(seconds: 0.010)
    for index in 0..<3 { harness.inject(udpFrame(port: UInt16(2000 + index), [1])) }
    harness.poll()
    XCTAssertEqual(harness.sent().count, 1)
  }
}
