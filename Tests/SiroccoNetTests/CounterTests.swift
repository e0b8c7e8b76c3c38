// Interface counters: traffic in both directions, and every drop reason provoked on its own
// and counted exactly once.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

final class CounterTests: XCTestCase {
  func testFramesAndBytesAreCountedInBothDirections() throws {
    let harness = Harness()
    XCTAssertEqual(harness.counters, NetworkCounters())
    let arp = arpRequestFrame()
    let echo = echoRequestFrame(pattern(56))
    let stray = udpFrame(port: 7, [1], ethernetTo: otherMAC)
    XCTAssertEqual([arp.count, echo.count, stray.count], [42, 98, 60])
    harness.inject(arp, echo, stray)
    harness.poll()
    let sent = harness.sent()
    XCTAssertEqual(sent.map(\.count), [42, 98])
    XCTAssertEqual(harness.counters.receivedFrames, 3)
    XCTAssertEqual(harness.counters.receivedBytes, 200)
    XCTAssertEqual(harness.counters.transmittedFrames, 2)
    XCTAssertEqual(harness.counters.transmittedBytes, 140)
    XCTAssertEqual(harness.counters.arpRepliesSent, 1)
    XCTAssertEqual(harness.counters.echoRepliesSent, 1)
    XCTAssertEqual(harness.counters.arpRequestsSent, 0)
    XCTAssertEqual(harness.counters.icmpErrorsSent, 0)
    XCTAssertEqual(harness.counters.udpDatagramsDelivered, 0)
    harness.assertDrops([.notForUs: 1])
    XCTAssertEqual(harness.counters.totalDrops, 1)
  }

  func testARPRequestsAnnouncementsAndErrorsAreCountedAsTransmitted() throws {
    let harness = Harness { $0.announcements = 1 }
    let socket = try harness.stack.bindUDP(port: 7)
    try socket.send([1], to: .v4(peerIP), port: 9)
    harness.inject(udpFrame(from: otherIP, port: 9999, [1]))
    harness.poll()
    // The announcement, then (receiving first) the ARP request for the ICMP error's
    // destination, then (flushing sockets) the one for the datagram's.
    let sent = harness.sent()
    XCTAssertEqual(harness.counters.transmittedFrames, UInt64(sent.count))
    XCTAssertEqual(harness.counters.transmittedBytes, UInt64(sent.reduce(0) { $0 + $1.count }))
    XCTAssertEqual(sent.count, 3, "announcement, ARP for the ICMP error's destination, ARP for the peer")
    XCTAssertEqual(harness.counters.arpRequestsSent, 2)
    XCTAssertEqual(harness.counters.icmpErrorsSent, 1, "queued for ARP counts as sent")
  }

  // MARK: Every drop reason

  /// One way to provoke each reason, on a fresh interface that knows the peer.
  static var provocations: [(reason: DropReason, name: String, provoke: (Harness) throws -> Void)] { [
    (.malformedEthernet, "malformed-ethernet", { $0.inject(pattern(13)) }),
    (.notForUs, "not-for-us", { $0.inject(echoRequestFrame([1], ethernetTo: otherMAC)) }),
    (.vlanTagged, "vlan-tagged", { harness in
      let header = EthernetHeader(destination: ourMAC, source: peerMAC, etherType: .arp, vlan: VLANTag(identifier: 5))
      harness.inject(filled(18) { header.emit(into: $0) } + arpPacket(.request))
    }),
    (.unknownEtherType, "unknown-ethertype", { $0.inject(ethernetFrame(type: .ipv6, pattern(40))) }),
    (.malformedARP, "malformed-arp", { harness in
      var packet = arpPacket(.request)
      packet[4] = 8  // hardware length 8 for Ethernet
      harness.inject(ethernetFrame(to: .broadcast, type: .arp, packet))
    }),
    (.unsupportedARP, "unsupported-arp", { harness in
      var packet = arpPacket(.request)
      packet[1] = 6  // hardware type IEEE 802
      harness.inject(ethernetFrame(to: .broadcast, type: .arp, packet))
    }),
    (.malformedIPv4, "malformed-ipv4", { harness in
      var packet = ipv4Packet(protocol: .udp, udpDatagram(port: 7, [1]))
      packet[0] = 0x65  // version 6
      harness.inject(ethernetFrame(type: .ipv4, packet))
    }),
    (.badIPv4Checksum, "bad-ipv4-checksum", { harness in
      var packet = ipv4Packet(protocol: .icmp, icmpMessage(.echoRequest(identifier: 1, sequenceNumber: 1)))
      packet[11] ^= 0xff
      harness.inject(ethernetFrame(type: .ipv4, packet))
    }),
    (.ipv4NotForUs, "ipv4-not-for-us", { $0.inject(echoRequestFrame(to: IPv4Address(10, 0, 0, 99), [1])) }),
    (.ipv4Fragment, "ipv4-fragment", { harness in
      // 21 bytes with more to follow: not a multiple of 8, so it fits no datagram.
      harness.inject(
        ethernetFrame(
          type: .ipv4,
          ipv4Packet(protocol: .icmp, moreFragments: true, icmpMessage(.echoRequest(identifier: 1, sequenceNumber: 1), pattern(13)))))
    }),
    (.fragmentOverlap, "fragment-overlap", { harness in
      harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .udp, moreFragments: true, pattern(16))))
      harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .udp, moreFragments: true, fragmentOffset: 8, pattern(16, offset: 1))))
    }),
    (.reassemblyLimit, "reassembly-limit", { harness in
      // One fragment more than a datagram may have (64 by default), 8 bytes each.
      for index in 0...64 {
        harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .udp, moreFragments: true, fragmentOffset: index * 8, pattern(8))))
        if index == 32 { harness.poll() }  // within the receive budget of one poll
      }
    }),
    (.reassemblyEvicted, "reassembly-evicted", { harness in
      // One datagram more than reassembly holds (16 by default): the oldest goes.
      for identification in 0...16 {
        harness.inject(
          ethernetFrame(type: .ipv4, ipv4Packet(protocol: .udp, identification: UInt16(identification), moreFragments: true, pattern(8))))
      }
    }),
    (.reassemblyTimeout, "reassembly-timeout", { harness in
      harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .udp, fragmentOffset: 8, pattern(8))))
      harness.poll()
      harness.advance(.seconds(30))
    }),
    (.martianSource, "martian-source", { $0.inject(echoRequestFrame(from: .broadcast, [1])) }),
    (.unknownProtocol, "unknown-protocol", { $0.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: IPProtocol(rawValue: 253), [1]))) }),
    (.malformedICMP, "malformed-icmp", { $0.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .icmp, [8, 0, 0, 0]))) }),
    (.badICMPChecksum, "bad-icmp-checksum", { harness in
      var frame = echoRequestFrame([1, 2])
      frame[14 + 20 + 3] ^= 0x10
      harness.inject(frame)
    }),
    (.malformedUDP, "malformed-udp", { harness in
      var datagram = udpDatagram(port: 7, [1, 2, 3], checksum: false)
      datagram[5] = 7  // length below the header's
      harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .udp, datagram)))
    }),
    (.badUDPChecksum, "bad-udp-checksum", { harness in
      var frame = udpFrame(port: 7, [1, 2, 3])
      frame[14 + 20 + 7] ^= 0x01
      harness.inject(frame)
    }),
    (.noUDPSocket, "no-udp-socket", { $0.inject(udpFrame(port: 9999, [1])) }),
    (.udpReceiveQueueFull, "udp-receive-queue-full", { harness in
      _ = try harness.stack.bindUDP(port: 7, receiveCapacity: 1)
      harness.inject(udpFrame(port: 7, [1]), udpFrame(port: 7, [2]))
    }),
    (.noRoute, "no-route", { try $0.stack.bindUDP(port: 1).send([1], to: .v4(remoteIP), port: 9) }),
    (.arpQueueOverflow, "arp-queue-overflow", { harness in
      let socket = try harness.stack.bindUDP(port: 1)
      for _ in 0...harness.link.configuration.arp.packetsPerDestination { try socket.send([1], to: .v4(otherIP), port: 9) }
    }),
    (.arpUnresolved, "arp-unresolved", { harness in
      try harness.stack.bindUDP(port: 1).send([1], to: .v4(otherIP), port: 9)
      for second in 0..<3 { harness.poll(at: at(seconds: Double(second))) }
      harness.now = at(seconds: 3)
    }),
    (.transmitFailed, "transmit-failed", { harness in
      harness.device.acceptsTransmit = false
      harness.inject(arpRequestFrame(from: otherMAC, otherIP))
    }),
    (.oversized, "oversized", { harness in
      // Only a TCP segment past the MTU (which TCP never makes: its segments fit the MSS)
      // or a packet past 64 KiB is oversized: everything else leaves in fragments.
      harness.stack.sendIPv4(to: peerIP, protocol: .tcp, payloadLength: 1481, now: harness.now) { _, _ in }
    }),
    (.malformedTCP, "malformed-tcp", { harness in
      var segment = tcpSegment(port: 7, sequence: 1, flags: .syn)
      segment[12] = 0x30  // data offset 3 words
      segment[16] = 0
      segment[17] = 0
      var checksum = InternetChecksum()
      checksum.addPseudoHeader(source: peerIP, destination: ourIP, protocol: .tcp, length: segment.count)
      segment.withUnsafeBytes { checksum.add($0) }
      let sum = checksum.value
      segment[16] = UInt8(sum >> 8)
      segment[17] = UInt8(sum & 0xff)
      harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .tcp, segment)))
    }),
    (.badTCPChecksum, "bad-tcp-checksum", { harness in
      var frame = tcpFrame(port: 7, sequence: 1, flags: .syn)
      frame[14 + 20 + 4] ^= 0x01
      harness.inject(frame)
    }),
    (.noTCPConnection, "no-tcp-connection", { $0.inject(tcpFrame(port: 9999, sequence: 1, flags: .syn)) }),
    (.tcpBacklogFull, "tcp-backlog-full", { harness in
      // The accept queue holds one established connection nobody accepted: a second SYN is
      // dropped (a full backlog with room in the accept queue would get a SYN cookie).
      _ = try harness.stack.listenTCP(port: 7, backlog: 1)
      harness.learn()
      harness.inject(tcpFrame(sourcePort: 5000, port: 7, sequence: 1000, flags: .syn))
      harness.poll()
      let synACK = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
      harness.inject(tcpFrame(sourcePort: 5000, port: 7, sequence: 1001, acknowledgment: synACK.sequenceNumber &+ 1, flags: .ack))
      harness.poll()
      harness.inject(tcpFrame(sourcePort: 5001, port: 7, sequence: 1, flags: .syn))
    }),
    (.tcpOutOfOrderLimit, "tcp-out-of-order-limit", { harness in
      var configuration = TCPConnection.Configuration()
      configuration.outOfOrderLimit = 100
      _ = try harness.stack.listenTCP(port: 7, configuration: configuration)
      harness.learn()
      let ours = try handshake(harness, port: 7, sequence: 1000)
      harness.inject(tcpFrame(port: 7, sequence: 1101, acknowledgment: ours, flags: .ack, pattern(200)))
    }),
    (.tcpMemoryLimit, "tcp-memory-limit", { harness in
      harness.stack.tcpMemoryLimit = 100
      _ = try harness.stack.listenTCP(port: 7)
      harness.learn()
      let ours = try handshake(harness, port: 7, sequence: 1000)
      harness.inject(tcpFrame(port: 7, sequence: 1001, acknowledgment: ours, flags: .ack, pattern(200)))
    }),
    (.sourceRemoved, "source-removed", { harness in
      let socket = try harness.stack.bindUDP(port: 4000)
      try socket.send([1], to: .v4(IPv4Address(10, 0, 0, 7)), port: 9)
      harness.poll()
      harness.stack.remove(ourIP, from: harness.link)
    }),
    (.malformedDHCP, "malformed-dhcp", { harness in
      harness.stack.startDHCP(on: harness.link, now: harness.now)
      harness.inject(udpFrame(sourcePort: 67, to: .broadcast, port: 68, pattern(40), ethernetTo: .broadcast))
    }),
    (.timeExceeded, "time-exceeded", { harness in
      // A forwarding stack (a firewall that admits everything; it stays the stack's forwarder).
      _ = Firewall(rules: try FirewallRules.parse("policy allow", links: ["service"]), router: harness.stack, seed: 1)
      let datagram = udpDatagram(to: remoteIP, port: 9, [1])
      harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(to: remoteIP, protocol: .udp, timeToLive: 1, datagram)))
    }),
  ] }

  /// The same for IPv6's reasons, on a link that runs IPv6 (`Harness.ipv6`).
  static var ipv6Provocations: [(reason: DropReason, name: String, provoke: (Harness) throws -> Void)] { [
    (.malformedIPv6, "malformed-ipv6", { $0.inject(ethernetFrame(type: .ipv6, pattern(20))) }),
    (.ipv6NotForUs, "ipv6-not-for-us", {
      $0.inject(icmpv6Frame(.echoRequest(identifier: 1, sequenceNumber: 1), to: IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 9)))
    }),
    (.ipv6ExtensionHeader, "ipv6-extension-header", { harness in
      let options: [UInt8] = [UInt8(IPProtocol.icmpv6.rawValue), 0, 0x80, 4, 0, 0, 0, 0]
      harness.inject(ethernetFrame(type: .ipv6, ipv6Packet(
        nextHeader: .destinationOptions, options + icmpv6(.echoRequest(identifier: 1, sequenceNumber: 1)))))
    }),
    (.malformedICMPv6, "malformed-icmpv6", { $0.inject(ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .icmpv6, [128, 0, 0, 0]))) }),
    (.badICMPv6Checksum, "bad-icmpv6-checksum", { harness in
      var frame = icmpv6Frame(.echoRequest(identifier: 1, sequenceNumber: 1), [1, 2, 3])
      frame[frame.count - 1] ^= 0xff
      harness.inject(frame)
    }),
    (.invalidNDP, "invalid-ndp", { harness in
      // A Neighbor Solicitation that may have crossed a router: hop limit 64, not 255.
      harness.inject(icmpv6Frame(
        .neighborSolicitation(NeighborSolicitation(targetAddress: ourIP6, options: [.sourceLinkLayerAddress(peerMAC)])),
        hopLimit: 64))
    }),
    (.ndpQueueOverflow, "ndp-queue-overflow", { harness in
      let socket = try harness.stack.bindUDP(port: 4000, transmitCapacity: 16)
      for _ in 0...harness.link.configuration.neighbors.packetsPerDestination { try socket.send([1], to: .v6(peerIP6), port: 9) }
    }),
    (.neighborUnreachable, "neighbor-unreachable", { harness in
      let socket = try harness.stack.bindUDP(port: 4000)
      try socket.send([1], to: .v6(peerIP6), port: 9)
      for _ in 0..<5 { harness.advance(.seconds(1)) }
    }),
  ] }

  func testEveryDropReasonIsProvokedAndCountedExactlyOnce() throws {
    let all = Self.provocations + Self.ipv6Provocations
    XCTAssertEqual(Set(all.map(\.reason)), Set(DropReason.allCases), "a reason without a provocation")
    XCTAssertEqual(all.count, DropReason.allCases.count)
    let ipv6 = Set(Self.ipv6Provocations.map(\.reason))
    for (reason, name, provoke) in all {
      let harness = ipv6.contains(reason) ? Harness.ipv6() : Harness()
      harness.learn()
      let before = harness.counters
      try provoke(harness)
      harness.poll()
      _ = harness.sent()
      XCTAssertEqual(harness.counters[reason], 1, "\(reason)")
      XCTAssertEqual(harness.counters.totalDrops, 1, "\(reason): no other drop; \(harness.counters)")
      XCTAssertEqual("\(reason)", name)
      XCTAssertTrue(harness.counters.description.hasSuffix("drops 1 \(name)=1"), harness.counters.description)
      XCTAssertTrue(harness.device.inbox.isEmpty, "\(reason): every injected frame was read")
      XCTAssertEqual(before.totalDrops, 0)
    }
  }

  func testTransmitFailuresAreCountedPerFrame() throws {
    let harness = Harness()
    harness.learn()
    harness.device.acceptsTransmit = false
    let socket = try harness.stack.bindUDP(port: 1)
    try socket.send([1], to: .v4(peerIP), port: 9)
    try socket.send([2], to: .v4(.broadcast), port: 9)
    harness.inject(echoRequestFrame([1]), udpFrame(port: 9999, [1]), arpRequestFrame())
    harness.poll()
    XCTAssertEqual(harness.sent().count, 0)
    harness.assertDrops([.transmitFailed: 5, .noUDPSocket: 1])
    XCTAssertEqual(harness.counters.echoRepliesSent, 0)
    XCTAssertEqual(harness.counters.icmpErrorsSent, 0)
    XCTAssertEqual(harness.counters.arpRepliesSent, 1, "before: the reply of `learn`")
    XCTAssertEqual(harness.counters.transmittedFrames, 1, "only the reply sent by `learn`")
  }

  func testEveryMalformedIPv4HeaderIsCountedAsMalformed() throws {
    let good = ipv4Packet(protocol: .udp, udpDatagram(port: 7, [1, 2, 3, 4]))
    var variants: [[UInt8]] = []
    var version = good; version[0] = 0x45 ^ 0x30; variants.append(version)  // version 7
    var shortIHL = good; shortIHL[0] = 0x44; variants.append(shortIHL)
    var longIHL = good; longIHL[0] = 0x4f; variants.append(longIHL)  // 60 > 32 bytes present
    var shortTotal = good; shortTotal[2] = 0; shortTotal[3] = 19; variants.append(shortTotal)
    var longTotal = good; longTotal[2] = 0x05; longTotal[3] = 0xdc; variants.append(longTotal)
    variants.append(Array(good.prefix(19)))
    for (index, packet) in variants.enumerated() {
      let harness = Harness { $0.verifyChecksums = false }
      _ = try harness.stack.bindUDP(port: 7)
      harness.expectSilence(ethernetFrame(type: .ipv4, packet))
      XCTAssertEqual(harness.counters[.malformedIPv4], 1, "variant \(index)")
      XCTAssertEqual(harness.counters.totalDrops, 1, "variant \(index)")
    }
  }

  func testEveryMartianSourceIsDropped() throws {
    for source in [IPv4Address.broadcast, IPv4Address(224, 0, 0, 1), IPv4Address(239, 1, 2, 3), ourIP, subnetBroadcast] {
      let harness = Harness()
      harness.learn()
      harness.expectSilence(echoRequestFrame(from: source, [1]), udpFrame(from: source, port: 9999, [1]))
      harness.assertDrops([.martianSource: 2])
    }
  }

  func testMulticastDestinationsAreNotForUs() throws {
    let harness = Harness()
    harness.expectSilence(echoRequestFrame(to: IPv4Address(224, 0, 0, 1), [1], ethernetTo: .broadcast))
    harness.assertDrops([.ipv4NotForUs: 1])
  }

  func testDescriptionListsTrafficThenEveryNonZeroDrop() throws {
    let harness = Harness()
    XCTAssertEqual(harness.counters.description, "rx 0 frames 0 bytes, tx 0 frames 0 bytes, echo replies 0, drops 0")
    harness.learn()
    harness.inject(udpFrame(port: 7, [1], ethernetTo: otherMAC), pattern(10), echoRequestFrame([1, 2]), pattern(3))
    harness.poll()
    XCTAssertEqual(
      harness.counters.description,
      "rx 5 frames 175 bytes, tx 2 frames 86 bytes, echo replies 1, drops 3 malformed-ethernet=2 not-for-us=1")
  }
}
