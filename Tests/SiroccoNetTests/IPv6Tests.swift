// IPv6 in the stack: addresses through DAD, neighbour discovery both ways, echo, UDP and TCP
// over IPv6, SLAAC from a router advertisement, fragments, and extension headers refused.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

final class IPv6Tests: XCTestCase {
  /// The peer's Neighbor Solicitation for our address, with its link-layer address.
  func solicitation(for target: IPv6Address = ourIP6, from source: IPv6Address = peerIP6) -> [UInt8] {
    icmpv6Frame(
      .neighborSolicitation(NeighborSolicitation(targetAddress: target, options: [.sourceLinkLayerAddress(peerMAC)])),
      from: source, to: target.solicitedNodeMulticast, ethernetTo: MACAddress(multicast: target.solicitedNodeMulticast),
      hopLimit: 255)
  }

  // MARK: Addresses

  func testAddressesAreProbedThenUsedAndTheirGroupsReported() throws {
    let harness = Harness.ipv6 { $0.link.duplicateAddressDetectionTransmits = 1 }
    XCTAssertTrue(harness.link.ipv6.isEmpty, "tentative: not in use yet")
    XCTAssertEqual(harness.link.addressConfiguration.state(of: ourIP6), .tentative)
    harness.advance(.seconds(1))
    harness.advance(.seconds(1))
    let sent = try harness.sent().map { try parseICMPv6Frame($0) }
    XCTAssertEqual(Set(harness.link.ipv6.map(\.address)), [ourIP6, ourLinkLocal])
    let probes = sent.compactMap { frame -> IPv6Address? in
      guard case .neighborSolicitation(let solicitation) = frame.message, frame.header.source.isUnspecified else { return nil }
      return solicitation.targetAddress
    }
    XCTAssertEqual(Set(probes), [ourIP6, ourLinkLocal], "DAD probes from ::")
    let reported = sent.flatMap { frame -> [IPv6Address] in
      guard case .multicastListenerReport(let report) = frame.message else { return [] }
      XCTAssertEqual(frame.header.destination, .allMLDv2Routers)
      XCTAssertEqual(frame.header.hopLimit, 1)
      return report.records.map(\.multicastAddress)
    }
    XCTAssertTrue(reported.contains(ourIP6.solicitedNodeMulticast))
    XCTAssertTrue(reported.contains(ourLinkLocal.solicitedNodeMulticast))
    XCTAssertGreaterThanOrEqual(harness.counters.mldReportsSent, 2, "each report twice (RFC 3810 robustness)")
    XCTAssertEqual(harness.stack.addresses.filter { $0.ipv6 != nil }.count, 2)
  }

  func testADuplicateAddressIsNeverUsed() throws {
    let harness = Harness.ipv6 { $0.link.duplicateAddressDetectionTransmits = 1 }
    // Another node defends fd00::2 while ours is tentative.
    let otherAdvertisement = icmpv6Frame(
      .neighborAdvertisement(NeighborAdvertisement(
        solicited: false, override: true, targetAddress: ourIP6, options: [.targetLinkLayerAddress(otherMAC)])),
      from: ourIP6, to: .allNodes, ethernetTo: MACAddress(multicast: .allNodes), hopLimit: 255)
    harness.inject(otherAdvertisement)
    for _ in 0..<3 { harness.advance(.seconds(1)) }
    XCTAssertFalse(harness.link.ipv6.contains { $0.address == ourIP6 })
    XCTAssertEqual(harness.counters.duplicateAddresses, 1)
    XCTAssertTrue(harness.link.ipv6.contains { $0.address == ourLinkLocal }, "the link-local address is unaffected")
  }

  // MARK: Neighbor Discovery

  func testASolicitationIsAnsweredAndItsSenderLearned() throws {
    let harness = Harness.ipv6()
    let answer = try parseICMPv6Frame(try harness.exchange(solicitation()))
    guard case .neighborAdvertisement(let advertisement) = answer.message else { return XCTFail("\(answer.message)") }
    XCTAssertEqual(answer.header.hopLimit, 255)
    XCTAssertEqual(answer.header.source, ourIP6)
    XCTAssertEqual(answer.header.destination, peerIP6)
    XCTAssertEqual(answer.ethernet.destination, peerMAC, "sent to the link-layer address the solicitation gave")
    XCTAssertTrue(advertisement.solicited)
    XCTAssertTrue(advertisement.override)
    XCTAssertEqual(advertisement.targetAddress, ourIP6)
    XCTAssertEqual(advertisement.options.targetLinkLayerAddress, ourMAC)
    XCTAssertEqual(harness.link.neighbors.lookup(peerIP6), peerMAC)
    // A solicitation for someone else's address is not ours to answer.
    harness.expectSilence(solicitation(for: IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 9)))
    XCTAssertEqual(harness.counters.ndpMessagesReceived, 1, "the second went to a group the link has not joined")
    harness.assertDrops([.ipv6NotForUs: 1])
  }

  // MARK: MLD

  /// An MLDv2 query from the router's link-local address to `destination`, with the Router
  /// Alert it must carry unless `routerAlert` is false (RFC 3810 5).
  func query(_ query: MulticastListenerQuery, to destination: IPv6Address = .allNodes, routerAlert: Bool = true) -> [UInt8] {
    let message = icmpv6(.multicastListenerQuery(query), from: peerLinkLocal, to: destination)
    let alert = filled(IPv6RouterAlertHeader.length) { IPv6RouterAlertHeader().emit(into: $0) }
    return ethernetFrame(
      to: MACAddress(multicast: destination), type: .ipv6,
      routerAlert
        ? ipv6Packet(from: peerLinkLocal, to: destination, nextHeader: .hopByHop, hopLimit: 1, alert + message)
        : ipv6Packet(from: peerLinkLocal, to: destination, nextHeader: .icmpv6, hopLimit: 1, message))
  }

  func testAGeneralQueryIsAnsweredWithinItsDelayAndOneWithoutRouterAlertIsNot() throws {
    let harness = Harness.ipv6()
    harness.expectSilence(query(MulticastListenerQuery(maximumResponseCode: 1000), routerAlert: false))
    harness.assertDrops([.invalidNDP: 1])
    harness.inject(query(MulticastListenerQuery(maximumResponseCode: 1000)))
    harness.poll()
    XCTAssertEqual(harness.counters.mldQueriesReceived, 1)
    // Current-state reports (MODE_IS_EXCLUDE): the answers. The state-change reports that
    // joining sent are repeated meanwhile (RFC 3810 6.1) and are not counted here.
    var answers: [(header: IPv6Header, records: [MulticastAddressRecord])] = []
    for _ in 0..<10 {
      harness.advance(.milliseconds(100))
      for frame in try harness.sent().map({ try parseICMPv6Frame($0) }) {
        guard case .multicastListenerReport(let report) = frame.message else { return XCTFail("sent \(frame.message)") }
        let current = report.records.filter { $0.type == .modeIsExclude }
        if !current.isEmpty { answers.append((frame.header, current)) }
      }
    }
    XCTAssertEqual(answers.count, 1, "one answer within the query's second: \(answers)")
    guard let answer = answers.first else { return }
    XCTAssertEqual(answer.header.destination, .allMLDv2Routers)
    XCTAssertEqual(answer.header.hopLimit, 1)
    // fd00::2 and fe80::ff:fe00:2 share their solicited-node group.
    XCTAssertEqual(answer.records.map(\.multicastAddress), [ourIP6.solicitedNodeMulticast])
    XCTAssertEqual(harness.counters.icmpIgnored, 0)
  }

  func testAPacketWaitsForNeighborDiscoveryThenLeaves() throws {
    let harness = Harness.ipv6()
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1, 2, 3], to: .v6(peerIP6), port: 7)
    let probe = try parseICMPv6Frame(try harness.exchange())
    guard case .neighborSolicitation(let solicitation) = probe.message else { return XCTFail("\(probe.message)") }
    XCTAssertEqual(solicitation.targetAddress, peerIP6)
    XCTAssertEqual(probe.header.destination, peerIP6.solicitedNodeMulticast)
    XCTAssertEqual(probe.ethernet.destination, MACAddress(multicast: peerIP6.solicitedNodeMulticast))
    XCTAssertEqual(solicitation.options.sourceLinkLayerAddress, ourMAC)
    let answer = icmpv6Frame(
      .neighborAdvertisement(NeighborAdvertisement(
        solicited: true, override: true, targetAddress: peerIP6, options: [.targetLinkLayerAddress(peerMAC)])),
      hopLimit: 255)
    let released = try parseIPv6Frame(try harness.exchange(answer))
    XCTAssertEqual(released.ethernet.destination, peerMAC)
    XCTAssertEqual(released.header.nextHeader, .udp)
    let udp = try parseWire(released.payload, "UDP") { (raw) throws(WireError) in
      try UDPHeader.parse(raw, source: ourIP6, destination: peerIP6)
    }
    XCTAssertEqual(udp.sourcePort, 4000)
    XCTAssertEqual(Array(released.payload[8...]), [1, 2, 3])
  }

  func testAnUnansweredNeighborDropsItsPacketsAndCountsThem() throws {
    let harness = Harness.ipv6()
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v6(peerIP6), port: 7)
    harness.poll()
    for _ in 0..<5 { harness.advance(.seconds(1)) }
    let solicitations = try harness.sent().map { try parseICMPv6Frame($0).message }.filter {
      if case .neighborSolicitation = $0 { true } else { false }
    }
    XCTAssertEqual(solicitations.count, 3, "RFC 4861 MAX_MULTICAST_SOLICIT")
    XCTAssertEqual(harness.counters[.neighborUnreachable], 1)
  }

  // MARK: Echo, UDP, TCP

  func testEchoRequestsAreAnsweredToUnicastAndToAllNodes() throws {
    let harness = Harness.ipv6()
    harness.inject(solicitation())  // the peer is known
    harness.poll()
    _ = harness.sent()
    let reply = try parseICMPv6Frame(try harness.exchange(icmpv6Frame(.echoRequest(identifier: 7, sequenceNumber: 1), pattern(56))))
    XCTAssertEqual(reply.message, .echoReply(identifier: 7, sequenceNumber: 1))
    XCTAssertEqual(reply.data, pattern(56))
    XCTAssertEqual(reply.header.source, ourIP6)
    let group = try parseICMPv6Frame(try harness.exchange(icmpv6Frame(
      .echoRequest(identifier: 8, sequenceNumber: 2), from: peerIP6, to: .allNodes, ethernetTo: MACAddress(multicast: .allNodes))))
    XCTAssertEqual(group.message, .echoReply(identifier: 8, sequenceNumber: 2))
    XCTAssertEqual(group.header.source, ourIP6, "from our address of the asker's scope")
    XCTAssertEqual(harness.counters.echoRepliesSent, 2)
  }

  func testUDPOverIPv6IsDeliveredAndAClosedPortAnswered() throws {
    let harness = Harness.ipv6()
    harness.inject(solicitation())
    harness.poll()
    _ = harness.sent()
    let socket = try harness.stack.bindUDP(port: 7)
    var datagram = [UInt8](repeating: 0, count: 8) + [9, 8, 7]
    datagram.withUnsafeMutableBytes {
      UDPHeader(sourcePort: 5000, destinationPort: 7, payloadLength: 3).emit(into: $0, source: peerIP6, destination: ourIP6)
    }
    harness.expectSilence(ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .udp, datagram)))
    XCTAssertEqual(
      socket.receive(), UDPDatagram(source: .v6(peerIP6), sourcePort: 5000, destination: .v6(ourIP6), payload: [9, 8, 7]))
    var closed = datagram
    closed.withUnsafeMutableBytes {
      UDPHeader(sourcePort: 5000, destinationPort: 9, payloadLength: 3).emit(into: $0, source: peerIP6, destination: ourIP6)
    }
    let error = try parseICMPv6Frame(try harness.exchange(ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .udp, closed))))
    XCTAssertEqual(error.message, .destinationUnreachable(code: .port))
    XCTAssertEqual(Array(error.data.prefix(IPv6Header.length + 8)).count, IPv6Header.length + 8, "quotes the packet")
  }

  func testTCPOverIPv6CompletesAHandshakeWithTheFamilysMSS() throws {
    let harness = Harness.ipv6()
    harness.inject(solicitation())
    harness.poll()
    _ = harness.sent()
    let listener = try harness.stack.listenTCP(port: 80)
    var syn = [UInt8](repeating: 0, count: 24)
    let synHeader = TCPHeader(
      sourcePort: 5000, destinationPort: 80, sequenceNumber: 1000, acknowledgmentNumber: 0, flags: .syn, window: 65535,
      options: TCPOptions(maximumSegmentSize: 1440))
    syn.withUnsafeMutableBytes { synHeader.emit(into: $0, source: .v6(peerIP6), destination: .v6(ourIP6)) }
    let answer = try parseIPv6Frame(try harness.exchange(ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .tcp, syn))))
    let synACK = try parseWire(answer.payload, "TCP") { (raw) throws(WireError) in
      try TCPHeader.parse(raw, source: .v6(ourIP6), destination: .v6(peerIP6))
    }
    XCTAssertEqual(synACK.flags, [.syn, .ack])
    XCTAssertEqual(synACK.options.maximumSegmentSize, 1440, "1500 less 40 and 20")
    let ackHeader = TCPHeader(
      sourcePort: 5000, destinationPort: 80, sequenceNumber: 1001, acknowledgmentNumber: synACK.sequenceNumber &+ 1,
      flags: .ack, window: 65535)
    let ack = filled(20) { ackHeader.emit(into: $0, source: .v6(peerIP6), destination: .v6(ourIP6)) }
    harness.inject(ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .tcp, ack)))
    harness.poll()
    let connection = try XCTUnwrap(listener.accept())
    XCTAssertEqual(connection.localAddress, .v6(ourIP6))
    XCTAssertEqual(connection.remoteAddress, .v6(peerIP6))
    XCTAssertEqual(connection.sendMSS, 1440)
  }

  // MARK: Routers

  func testARouterAdvertisementGivesAnAddressARouteAndAnMTU() throws {
    let harness = Harness.ipv6()
    let prefix = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), prefixLength: 64)
    let advertisement = RouterAdvertisement(
      currentHopLimit: 60, managedAddressConfiguration: false, otherConfiguration: false, routerLifetime: 1800,
      reachableTime: 0, retransmitTimer: 0,
      options: [
        .sourceLinkLayerAddress(gatewayMAC), .mtu(1400),
        .prefixInformation(NDPPrefixInformation(
          prefix: prefix, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400)),
      ])
    harness.inject(icmpv6Frame(
      .routerAdvertisement(advertisement), from: peerLinkLocal, to: .allNodes, ethernetTo: MACAddress(multicast: .allNodes),
      hopLimit: 255))
    harness.poll()
    let global = try XCTUnwrap(harness.link.ipv6.first { prefix.contains($0.address) }, "a SLAAC address in the prefix")
    XCTAssertEqual(global.prefixLength, 64)
    XCTAssertEqual(harness.link.ipv6MTU, 1400)
    XCTAssertEqual(harness.link.hopLimit, 60)
    let far = IPv6Address(0x2001, 0xdb8, 99, 0, 0, 0, 0, 1)
    XCTAssertEqual(harness.stack.routes.nextHop(for: .v6(far), now: harness.now)?.address, .v6(peerLinkLocal))
    XCTAssertEqual(harness.stack.routes.nextHop(for: .v6(prefix.address), now: harness.now)?.address, .v6(prefix.address))
    // Off-link traffic leaves through the router, from the new address.
    _ = harness.sent()
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v6(far), port: 53)
    let out = try parseIPv6Frame(try harness.exchange())
    XCTAssertEqual(out.ethernet.destination, gatewayMAC)
    XCTAssertEqual(out.header.source, global.address)
    XCTAssertEqual(out.header.hopLimit, 60)
    // The router lifetime runs out: so does the route.
    harness.now = harness.now + .seconds(1801)
    XCTAssertNil(harness.stack.routes.nextHop(for: .v6(far), now: harness.now))
  }

  func testAdvertisementsAreIgnoredWhenTurnedOff() throws {
    let harness = Harness.ipv6 { $0.link.acceptRouterAdvertisements = false }
    let prefix = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), prefixLength: 64)
    let advertisement = RouterAdvertisement(
      currentHopLimit: 64, managedAddressConfiguration: false, otherConfiguration: false, routerLifetime: 1800,
      reachableTime: 0, retransmitTimer: 0,
      options: [.prefixInformation(NDPPrefixInformation(
        prefix: prefix, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400))])
    harness.expectSilence(icmpv6Frame(
      .routerAdvertisement(advertisement), from: peerLinkLocal, to: .allNodes, ethernetTo: MACAddress(multicast: .allNodes),
      hopLimit: 255))
    XCTAssertFalse(harness.link.ipv6.contains { prefix.contains($0.address) })
  }

  // MARK: Fragments and extension headers

  func testAFragmentedEchoRequestIsReassembledAndItsReplyFragmented() throws {
    let harness = Harness.ipv6()
    harness.inject(solicitation())
    harness.poll()
    _ = harness.sent()
    let message = icmpv6(.echoRequest(identifier: 1, sequenceNumber: 1), pattern(3000))
    for (offset, more) in [(0, true), (1448, true), (2896, false)] {
      let piece = Array(message[offset..<min(offset + 1448, message.count)])
      let fragment = IPv6FragmentHeader(nextHeader: .icmpv6, offset: offset, moreFragments: more, identification: 77)
      harness.inject(ethernetFrame(type: .ipv6, ipv6Packet(
        nextHeader: .ipv6Fragment, filled(IPv6FragmentHeader.length) { fragment.emit(into: $0) } + piece)))
    }
    harness.poll()
    let fragments = try harness.sent().map { try parseIPv6Frame($0) }
    XCTAssertEqual(harness.counters.ipv6DatagramsReassembled, 1)
    XCTAssertEqual(fragments.count, 3, "3,048 bytes of reply in pieces of at most 1,448")
    XCTAssertTrue(fragments.allSatisfy { $0.header.nextHeader == .ipv6Fragment && $0.header.totalLength <= 1500 })
    XCTAssertEqual(harness.counters.ipv6FragmentsSent, 3)
    var reply: [UInt8] = []
    for fragment in fragments {
      let header = try parseWire(fragment.payload, "fragment") { (raw) throws(WireError) in try IPv6FragmentHeader.parse(raw) }
      XCTAssertEqual(header.offset, reply.count)
      reply += fragment.payload[IPv6FragmentHeader.length...]
    }
    let parsed = try parseWire(reply, "echo reply") { (raw) throws(WireError) in
      try ICMPv6Message.parse(raw, source: ourIP6, destination: peerIP6)
    }
    XCTAssertEqual(parsed, .echoReply(identifier: 1, sequenceNumber: 1))
    XCTAssertEqual(Array(reply[8...]), pattern(3000))
  }

  func testAnOptionThatMustBeReportedGetsAParameterProblem() throws {
    let harness = Harness.ipv6()
    harness.inject(solicitation())
    harness.poll()
    _ = harness.sent()
    // Destination Options with option type 0x80 (discard and report, RFC 8200 4.2), 4 bytes.
    let options: [UInt8] = [UInt8(IPProtocol.icmpv6.rawValue), 0, 0x80, 4, 0, 0, 0, 0]
    let echo = icmpv6(.echoRequest(identifier: 1, sequenceNumber: 1))
    let error = try parseICMPv6Frame(try harness.exchange(
      ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .destinationOptions, options + echo))))
    XCTAssertEqual(error.message, .parameterProblem(code: .unrecognizedOption, pointer: 42))
    XCTAssertEqual(harness.counters[.ipv6ExtensionHeader], 1)
  }

  func testIPv6IsDroppedOnALinkWhereItIsOff() {
    let harness = Harness()
    harness.expectSilence(icmpv6Frame(.echoRequest(identifier: 1, sequenceNumber: 1)))
    harness.assertDrops([.unknownEtherType: 1])
  }
}
