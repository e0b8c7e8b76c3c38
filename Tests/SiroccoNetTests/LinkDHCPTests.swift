// DHCP on a link, frames in and out of a stack (DHCPClientTests.swift tests the state machine
// alone): a lease taken from broadcast DISCOVER and REQUEST, a unicast OFFER, the ARP probes
// and the announcement; the lease's address, routes, MTU and DNS servers applied; a conflict
// found by the probe declined; a lease run out taking the address and its TCP connections; a
// NAK while renewing; classless routes.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

final class LinkDHCPTests: XCTestCase {
  let server = peerIP
  let offered = IPv4Address(10, 0, 0, 50)
  let dns = IPv4Address(10, 0, 0, 53)

  /// A stack whose link has no IPv4 address, with its DHCP client started (probing unless
  /// `probe` is false); returns the harness and the DISCOVER it broadcast.
  func started(probe: Bool = true) throws -> (Harness, DHCPMessage) {
    let harness = Harness { $0.ipv4 = nil }
    var configuration = DHCPClient.Configuration()
    configuration.hostName = Array("website".utf8)
    configuration.probe = probe
    harness.stack.startDHCP(on: harness.link, configuration: configuration, now: harness.now)
    let discover = try clientMessage(harness.sent(), from: .any, to: .broadcast)
    XCTAssertEqual(discover.options.messageType, .discover)
    XCTAssertEqual(discover.options.hostName, Array("website".utf8))
    XCTAssertEqual(discover.options.clientIdentifier, DHCPClientIdentifier(hardwareAddress: ourMAC))
    XCTAssertFalse(discover.broadcast, "the stack takes unicast before it has an address")
    return (harness, discover)
  }

  /// The DHCP client messages in `frames` (UDP 68 to 67), with their IPv4 headers.
  func clientMessages(_ frames: [[UInt8]]) throws -> [(ethernet: EthernetHeader, ip: IPv4Header, message: DHCPMessage)] {
    try frames.compactMap { frame in
      let (ethernet, _) = try parseEthernet(frame)
      guard ethernet.etherType == .ipv4 else { return nil }
      let sent = try parseIPv4Frame(frame, source: nil)
      guard sent.header.protocol == .udp else { return nil }
      let (udp, payload) = try parseUDP(sent)
      guard udp.sourcePort == 68, udp.destinationPort == 67 else { return nil }
      let message: DHCPMessage
      do { message = try payload.withUnsafeBytes { raw throws(DHCPError) in try DHCPMessage.parse(raw) } } catch {
        throw TestError("DHCP message did not parse (\(error)): \(hex(payload))")
      }
      return (ethernet, sent.header, message)
    }
  }

  /// The one DHCP message in `frames`, checked to be from `source` to `destination`
  /// (broadcast in an Ethernet broadcast frame).
  func clientMessage(
    _ frames: [[UInt8]], from source: IPv4Address, to destination: IPv4Address, file: StaticString = #filePath,
    line: UInt = #line
  ) throws -> DHCPMessage {
    let messages = try clientMessages(frames)
    guard messages.count == 1 else { throw TestError("expected one DHCP message, got \(messages.count) in \(frames.count) frames") }
    let (ethernet, ip, message) = messages[0]
    XCTAssertEqual(ip.source, source, file: file, line: line)
    XCTAssertEqual(ip.destination, destination, file: file, line: line)
    XCTAssertEqual(ethernet.destination, destination.isBroadcast ? .broadcast : peerMAC, file: file, line: line)
    return message
  }

  /// The server's `type` answer to `request`, in a frame to `destination` (unicast to our MAC
  /// unless broadcast).
  func serverFrame(
    _ type: DHCPMessageType, to request: DHCPMessage, destination: IPv4Address, lease: UInt32 = 120,
    configure: (inout DHCPOptions) -> Void = { _ in }
  ) -> [UInt8] {
    var message = dhcpReply(type, to: request, server: server, offered: offered, router: gatewayIP, lease: lease)
    configure(&message.options)
    let payload = filled(message.bufferLength) { message.emit(into: $0) }
    return udpFrame(
      from: server, sourcePort: 67, to: destination, port: 68, payload,
      ethernetTo: destination.isBroadcast ? .broadcast : ourMAC)
  }

  /// On a stack that forwards (a firewall that denies everything), a unicast OFFER to the
  /// address being offered is still the DHCP client's, not a packet to forward.
  func testAUnicastOfferReachesTheClientOfAForwardingStack() throws {
    let (harness, discover) = try started()
    let firewall = Firewall(rules: try FirewallRules.parse("policy deny", links: ["service"]), router: harness.stack, seed: 1)
    harness.inject(serverFrame(.offer, to: discover, destination: offered))
    harness.poll()
    let request = try clientMessage(harness.sent(), from: .any, to: .broadcast)
    XCTAssertEqual(request.options.messageType, .request)
    XCTAssertEqual(firewall.counters.denied, 0)
  }

  /// The peer asks for the leased address, so the stack learns the peer; the reply is discarded.
  func learnPeer(_ harness: Harness) {
    harness.inject(arpRequestFrame(for: offered))
    harness.poll()
    _ = harness.sent()
  }

  /// What the harness sent; if that holds an ARP request for the server, the server's reply
  /// is injected and what the stack sends then is added (the unicast renewal it held).
  func answeringARP(_ harness: Harness) throws -> [[UInt8]] {
    var frames = harness.sent()
    for frame in frames {
      let (ethernet, _) = try parseEthernet(frame)
      guard ethernet.etherType == .arp, try parseARPFrame(frame).1.targetProtocolAddress == server else { continue }
      harness.inject(arpReplyFrame(to: ourMAC, offered))
      harness.poll()
      frames += harness.sent()
      break
    }
    return frames
  }

  /// Takes the harness from DISCOVER to BOUND (the OFFER unicast, the ACK broadcast, three
  /// probes unanswered, then the announcement); returns the REQUEST.
  @discardableResult
  func bind(_ harness: Harness, _ discover: DHCPMessage, probe: Bool = true) throws -> DHCPMessage {
    harness.inject(serverFrame(.offer, to: discover, destination: offered))
    harness.poll()
    let request = try clientMessage(harness.sent(), from: .any, to: .broadcast)
    XCTAssertEqual(request.options.messageType, .request)
    XCTAssertEqual(request.options.requestedAddress, offered)
    XCTAssertEqual(request.options.serverIdentifier, server)
    harness.inject(serverFrame(.ack, to: request, destination: .broadcast))
    harness.poll()
    guard probe else { return request }
    for round in 1...3 {
      let frames = harness.sent()
      XCTAssertEqual(frames.count, 1, "probe \(round)")
      let (ethernet, arp) = try parseARPFrame(frames[0])
      XCTAssertEqual(ethernet.destination, .broadcast)
      XCTAssertEqual(arp.senderProtocolAddress, .any, "an ARP probe has no sender address (RFC 5227 2.1.1)")
      XCTAssertEqual(arp.targetProtocolAddress, offered)
      XCTAssertTrue(harness.link.ipv4.isEmpty, "not taken while probing")
      harness.advance(.milliseconds(2001))
    }
    return request
  }

  func testALeaseGivesTheLinkItsAddressRoutesMTUAndDNSServers() throws {
    let (harness, discover) = try started()
    try bind(harness, discover)
    XCTAssertEqual(harness.link.ipv4, [IPv4Network(address: offered, prefixLength: 24)])
    XCTAssertEqual(harness.link.dhcp?.state, .bound)
    XCTAssertEqual(harness.link.ipv4MTU, 1400)
    XCTAssertEqual(harness.stack.dnsServers, [.v4(dns), .v4(server)])
    let route = try XCTUnwrap(harness.stack.routes.lookup(.v4(remoteIP), now: harness.now))
    XCTAssertEqual(route.gateway, .v4(gatewayIP))
    XCTAssertEqual(route.origin, .dhcp)
    XCTAssertEqual(harness.counters.dhcpMessagesSent, 2)
    XCTAssertEqual(harness.counters.dhcpMessagesReceived, 2)
    // The echo to the leased address is answered from it.
    learnPeer(harness)
    let reply = try parseIPv4Frame(try harness.exchange(echoRequestFrame(to: offered, [1, 2])), source: offered)
    XCTAssertEqual(reply.header.source, offered)
  }

  func testAnAddressAnsweredForWhileProbingIsDeclined() throws {
    let (harness, discover) = try started()
    harness.inject(serverFrame(.offer, to: discover, destination: offered))
    harness.poll()
    let request = try clientMessage(harness.sent(), from: .any, to: .broadcast)
    harness.inject(serverFrame(.ack, to: request, destination: .broadcast))
    harness.poll()
    _ = harness.sent()  // the first probe
    harness.inject(arpReplyFrame(from: otherMAC, offered, to: ourMAC, .any))
    harness.poll()
    let decline = try clientMessage(harness.sent(), from: .any, to: .broadcast)
    XCTAssertEqual(decline.options.messageType, .decline)
    XCTAssertEqual(decline.options.requestedAddress, offered)
    XCTAssertEqual(harness.counters.dhcpConflicts, 1)
    XCTAssertTrue(harness.link.ipv4.isEmpty)
    // RFC 2131 3.1.5: start over, ten seconds later.
    harness.advance(.seconds(9))
    XCTAssertTrue(harness.sent().isEmpty)
    harness.advance(.seconds(1))
    XCTAssertEqual(try clientMessage(harness.sent(), from: .any, to: .broadcast).options.messageType, .discover)
  }

  func testALeaseRunOutTakesTheAddressAndResetsItsConnections() throws {
    let (harness, discover) = try started(probe: false)
    try bind(harness, discover, probe: false)
    learnPeer(harness)
    let listener = try harness.stack.listenTCP(port: 80)
    let (_, synAck) = try parseEthernet(try harness.exchange(ethernetFrame(type: .ipv4, ipv4Packet(
      to: offered, protocol: .tcp, tcpSegment(to: offered, port: 80, sequence: 1000, flags: .syn)))))
    let ack = try parseWire(Array(synAck[20...]), "TCP") { (raw) throws(WireError) in
      try TCPHeader.parse(raw, source: offered, destination: peerIP)
    }
    harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(to: offered, protocol: .tcp, tcpSegment(
      to: offered, port: 80, sequence: 1001, acknowledgment: ack.sequenceNumber &+ 1, flags: .ack))))
    harness.poll()
    let connection = try XCTUnwrap(listener.accept())
    XCTAssertEqual(connection.localAddress, .v4(offered))
    // Nobody answers renewal (unicast to the server) or rebinding (broadcast): at 120 s the
    // lease is gone and the client starts over.
    var sent: [(ip: IPv4Header, type: DHCPMessageType?)] = []
    while harness.now < at(seconds: 125) {
      harness.advance(.milliseconds(500))
      sent += try clientMessages(answeringARP(harness)).map { ($0.ip, $0.message.options.messageType) }
    }
    let renewing = sent.filter { $0.type == .request && $0.ip.destination == server }
    let rebinding = sent.filter { $0.type == .request && $0.ip.destination.isBroadcast }
    XCTAssertFalse(renewing.isEmpty, "renewing: unicast to the server")
    XCTAssertFalse(rebinding.isEmpty, "rebinding: broadcast")
    XCTAssertTrue(renewing.allSatisfy { $0.ip.source == offered } && rebinding.allSatisfy { $0.ip.source == offered })
    XCTAssertEqual(sent.last?.type, .discover, "back to INIT after the lease expired")
    XCTAssertEqual(sent.last?.ip.source, .any)
    XCTAssertTrue(harness.link.ipv4.isEmpty)
    XCTAssertNil(harness.stack.routes.lookup(.v4(remoteIP), now: harness.now))
    XCTAssertEqual(harness.link.ipv4MTU, 1500)
    XCTAssertEqual(connection.error, .addressRemoved)
    XCTAssertEqual(harness.stack.dnsServers, [])
  }

  func testANAKWhileRenewingDropsTheAddressAndStartsOver() throws {
    let (harness, discover) = try started(probe: false)
    try bind(harness, discover, probe: false)
    learnPeer(harness)
    harness.poll(at: at(seconds: 60.2))  // T1: half the lease, from the REQUEST
    let renewal = try clientMessage(answeringARP(harness), from: offered, to: server)
    XCTAssertEqual(renewal.clientAddress, offered)
    harness.inject(serverFrame(.nak, to: renewal, destination: offered))
    harness.poll()
    XCTAssertEqual(try clientMessage(harness.sent(), from: .any, to: .broadcast).options.messageType, .discover)
    XCTAssertTrue(harness.link.ipv4.isEmpty)
  }

  func testClasslessRoutesReplaceTheRouterOption() throws {
    let (harness, discover) = try started(probe: false)
    harness.inject(serverFrame(.offer, to: discover, destination: offered))
    harness.poll()
    let request = try clientMessage(harness.sent(), from: .any, to: .broadcast)
    let everything = IPv4Network(address: .any, prefixLength: 0)
    let lab = IPv4Network(address: IPv4Address(192, 0, 2, 0), prefixLength: 24)
    harness.inject(serverFrame(.ack, to: request, destination: .broadcast) { options in
      options.classlessStaticRoutes = [
        DHCPClasslessRoute(destination: lab, router: .any), DHCPClasslessRoute(destination: everything, router: server),
      ]
    })
    harness.poll()
    XCTAssertEqual(harness.stack.routes.lookup(.v4(remoteIP), now: harness.now)?.gateway, nil, "192.0.2.0/24 on link")
    XCTAssertEqual(harness.stack.routes.lookup(.v4(IPv4Address(198, 51, 100, 1)), now: harness.now)?.gateway, .v4(server))
  }
}
