// The stack over many links: routes chosen per destination across links, addresses added and
// removed at run time, the local address in a connection's four numbers, and sockets that
// outlive (or do not keep alive) their stack.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

/// A stack with two links: "service" (10.0.0.2/24, the harness network) and "uplink"
/// (192.168.7.2/24, gateway 192.168.7.1), each on its own in-memory device.
final class TwoLinkHarness {
  static let uplinkMAC = MACAddress(2, 0, 0, 0, 0, 0x12)
  static let uplinkIP = IPv4Address(192, 168, 7, 2)
  static let routerMAC = MACAddress(2, 0, 0, 0, 0, 0x11)
  static let routerIP = IPv4Address(192, 168, 7, 1)

  let stack = Stack<MemoryNetworkDevice>(seed: 7)
  let serviceDevice = MemoryNetworkDevice(macAddress: ourMAC)
  let uplinkDevice = MemoryNetworkDevice(macAddress: TwoLinkHarness.uplinkMAC)
  let service: Link
  let uplink: Link
  var now = Instant.zero

  init() {
    var configuration = Link.Configuration(name: "service", macAddress: ourMAC)
    configuration.announcements = 0
    configuration.ipv6 = false
    service = stack.attach(serviceDevice, configuration: configuration)
    configuration = Link.Configuration(name: "uplink", macAddress: Self.uplinkMAC)
    configuration.announcements = 0
    configuration.ipv6 = false
    uplink = stack.attach(uplinkDevice, configuration: configuration)
    stack.add(ourNetwork, to: service)
    stack.add(IPv4Network(address: Self.uplinkIP, prefixLength: 24), to: uplink)
    stack.setDefaultGateway(Self.routerIP, on: uplink)
    stack.addNeighbor(peerIP, at: peerMAC, on: service, now: now)
    stack.addNeighbor(Self.routerIP, at: Self.routerMAC, on: uplink, now: now)
  }

  /// Sends one datagram to `destination` and returns the frames each device sent.
  func send(to destination: IPv4Address) throws -> (service: [[UInt8]], uplink: [[UInt8]]) {
    let socket = try stack.bindUDP()
    defer { socket.close() }
    try socket.send([1, 2, 3], to: .v4(destination), port: 9)
    stack.poll(now: now)
    return (serviceDevice.takeTransmitted(), uplinkDevice.takeTransmitted())
  }
}

final class StackTests: XCTestCase {
  func testLinksAreNumberedAndNamedInAttachOrder() {
    let harness = TwoLinkHarness()
    XCTAssertEqual(harness.stack.links.map(\.index), [0, 1])
    XCTAssertEqual(harness.stack.link(named: "uplink")?.index, 1)
    XCTAssertNil(harness.stack.link(named: "nothing"))
    XCTAssertEqual(harness.stack.addresses, [.v4(ourIP), .v4(TwoLinkHarness.uplinkIP)])
    XCTAssertEqual(harness.uplink.description, "uplink: 02:00:00:00:00:12 192.168.7.2/24 mtu 1500")
  }

  func testEachDestinationLeavesOnTheLinkItsRouteNames() throws {
    let harness = TwoLinkHarness()
    // On the service network: out of the service device, to the peer, from our address there.
    let local = try harness.send(to: peerIP)
    XCTAssertEqual(local.uplink.count, 0)
    let onService = try parseIPv4Frame(try XCTUnwrap(local.service.first))
    XCTAssertEqual(onService.ethernet.destination, peerMAC)
    XCTAssertEqual(onService.header.source, ourIP)
    // Anywhere else: the default route, on the uplink, through its router, from the uplink's address.
    let far = try harness.send(to: remoteIP)
    XCTAssertEqual(far.service.count, 0)
    let (ethernet, packet) = try parseEthernet(try XCTUnwrap(far.uplink.first))
    XCTAssertEqual(ethernet.source, TwoLinkHarness.uplinkMAC)
    XCTAssertEqual(ethernet.destination, TwoLinkHarness.routerMAC)
    let header = try parseWire(packet, "IPv4 header") { (raw) throws(WireError) in try IPv4Header.parse(raw) }
    XCTAssertEqual(header.source, TwoLinkHarness.uplinkIP)
    XCTAssertEqual(header.destination, remoteIP)
  }

  func testAMoreSpecificRouteWinsOverTheDefault() throws {
    let harness = TwoLinkHarness()
    // 192.0.2.0/24 through the peer on the service link.
    try harness.stack.addRoute(
      Route(destination: .v4(IPv4Network(address: IPv4Address(192, 0, 2, 0), prefixLength: 24)), gateway: .v4(peerIP), link: 0))
    let sent = try harness.send(to: remoteIP)
    XCTAssertEqual(sent.uplink.count, 0)
    let packet = try parseIPv4Frame(try XCTUnwrap(sent.service.first))
    XCTAssertEqual(packet.ethernet.destination, peerMAC, "through the route's gateway")
    XCTAssertEqual(packet.header.destination, remoteIP)
    XCTAssertThrowsError(try harness.stack.addRoute(Route(destination: .v4(ourNetwork), link: 5))) { error in
      XCTAssertEqual(error as? RouteError, .noSuchLink)
    }
  }

  func testAnEchoRequestOnEitherLinkIsAnsweredOnItsOwn() throws {
    let harness = TwoLinkHarness()
    harness.serviceDevice.inject(echoRequestFrame(pattern(8)))
    harness.uplinkDevice.inject(ethernetFrame(
      to: TwoLinkHarness.uplinkMAC, from: TwoLinkHarness.routerMAC, type: .ipv4,
      ipv4Packet(from: remoteIP, to: TwoLinkHarness.uplinkIP, protocol: .icmp,
                 icmpMessage(.echoRequest(identifier: 1, sequenceNumber: 1), pattern(8)))))
    harness.stack.poll(now: harness.now)
    let service = try parseIPv4Frame(try XCTUnwrap(harness.serviceDevice.takeTransmitted().first))
    XCTAssertEqual(service.header.destination, peerIP)
    let (ethernet, packet) = try parseEthernet(try XCTUnwrap(harness.uplinkDevice.takeTransmitted().first))
    XCTAssertEqual(ethernet.destination, TwoLinkHarness.routerMAC)
    let header = try parseWire(packet, "IPv4 header") { (raw) throws(WireError) in try IPv4Header.parse(raw) }
    XCTAssertEqual(header.source, TwoLinkHarness.uplinkIP, "the reply comes from the address asked")
    XCTAssertEqual(harness.service.counters.receivedFrames, 1)
    XCTAssertEqual(harness.uplink.counters.transmittedFrames, 1)
    XCTAssertEqual(harness.stack.counters.echoRepliesSent, 2)
  }

  func testARPIsAnsweredOnlyForTheAddressesOfTheLinkAsked() throws {
    let harness = TwoLinkHarness()
    // Asked on the service link for the uplink's address: not this link's, no answer.
    harness.serviceDevice.inject(arpRequestFrame(for: TwoLinkHarness.uplinkIP))
    harness.serviceDevice.inject(arpRequestFrame(for: ourIP))
    harness.stack.poll(now: harness.now)
    let replies = try harness.serviceDevice.takeTransmitted().map { try parseARPFrame($0).1 }
    XCTAssertEqual(replies.map(\.senderProtocolAddress), [ourIP])
  }

  func testAConnectionIsNamedByTheAddressThePeerSentTo() throws {
    let harness = Harness()
    let second = IPv4Address(10, 0, 0, 9)
    harness.stack.add(IPv4Network(address: second, prefixLength: 24), to: harness.link)
    harness.learn()
    let listener = try harness.stack.listenTCP(port: 80)
    let (_, synAck) = try parseEthernet(try harness.exchange(ethernetFrame(type: .ipv4, ipv4Packet(
      to: second, protocol: .tcp, tcpSegment(to: second, port: 80, sequence: 1000, flags: .syn)))))
    let ip = try parseWire(synAck, "IPv4 header") { (raw) throws(WireError) in try IPv4Header.parse(raw) }
    XCTAssertEqual(ip.source, second, "answered from the address the SYN was sent to")
    let ack = try parseWire(Array(synAck[20...]), "TCP") { (raw) throws(WireError) in
      try TCPHeader.parse(raw, source: second, destination: peerIP)
    }
    harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(to: second, protocol: .tcp, tcpSegment(
      to: second, port: 80, sequence: 1001, acknowledgment: ack.sequenceNumber &+ 1, flags: .ack))))
    harness.poll()
    let connection = try XCTUnwrap(listener.accept())
    XCTAssertEqual(connection.localAddress, .v4(second))
    XCTAssertEqual(connection.remoteAddress, .v4(peerIP))
    XCTAssertEqual(connection.description, "TCP 10.0.0.9:80 > 10.0.0.1:5000 ESTABLISHED")
  }

  func testRemovingAnAddressEndsItsConnectionsAndItsRoute() throws {
    let harness = Harness()
    harness.learn()
    let connection = try harness.stack.connectTCP(to: .v4(peerIP), port: 7, now: harness.now)
    XCTAssertEqual(connection.localAddress, .v4(ourIP))
    harness.poll()
    XCTAssertNotNil(harness.stack.routes.lookup(.v4(peerIP), now: harness.now))
    harness.stack.remove(ourIP, from: harness.link)
    XCTAssertEqual(connection.state, .closed)
    XCTAssertEqual(connection.error, .addressRemoved)
    XCTAssertEqual(harness.stack.tcpConnections.count, 0)
    XCTAssertTrue(harness.link.ipv4.isEmpty)
    XCTAssertNil(harness.stack.routes.lookup(.v4(peerIP), now: harness.now), "the connected route went with it")
    XCTAssertThrowsError(try harness.stack.connectTCP(to: .v4(peerIP), port: 7, now: harness.now)) { error in
      XCTAssertEqual(error as? TCPConnectError, .noRoute)
    }
    harness.stack.add(ourNetwork, to: harness.link)
    XCTAssertNoThrow(try harness.stack.connectTCP(to: .v4(peerIP), port: 7, now: harness.now), "routed again")
  }

  func testPacketsWaitingForARPFromARemovedAddressAreDroppedAndCounted() throws {
    let harness = Harness()
    let second = IPv4Address(10, 0, 0, 9)
    harness.stack.add(IPv4Network(address: second, prefixLength: 24), to: harness.link)
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(peerIP), port: 7)
    harness.poll()
    XCTAssertEqual(try harness.sent().map { try parseARPFrame($0).1.targetProtocolAddress }, [peerIP], "waiting for ARP")
    // The same address under a second prefix: still the link's, the datagram stays.
    harness.stack.add(IPv4Network(address: ourIP, prefixLength: 16), to: harness.link)
    harness.stack.remove(ourIP, from: harness.link)
    XCTAssertEqual(harness.counters[.sourceRemoved], 0)
    harness.stack.remove(ourIP, from: harness.link)
    XCTAssertEqual(harness.counters[.sourceRemoved], 1, "gone with its address")
    try socket.send([2], to: .v4(peerIP), port: 7)
    harness.poll()
    harness.inject(arpReplyFrame(to: ourMAC, second))
    harness.poll()
    let sent = try harness.sent().filter { try parseEthernet($0).0.etherType == .ipv4 }.map { try parseIPv4Frame($0, source: nil) }
    XCTAssertEqual(sent.map(\.header.source), [second], "only the datagram sent after the removal, from the address left")
    XCTAssertEqual(try sent.map { try parseUDP($0).1 }, [[2]])
  }

  func testPacketsWaitingForNeighborDiscoveryFromARemovedAddressAreDropped() throws {
    let harness = Harness.ipv6()
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v6(peerIP6), port: 7)
    harness.poll()
    XCTAssertEqual(harness.sent().count, 1, "a neighbor solicitation; the datagram waits")
    harness.stack.removeIPv6(ourNetwork6, from: harness.link)
    XCTAssertEqual(harness.counters[.sourceRemoved], 1)
    harness.stack.addNeighbor(peerIP6, at: peerMAC, on: harness.link, now: harness.now)
    harness.poll()
    XCTAssertEqual(harness.sent().filter { (try? parseEthernet($0).0.etherType) == .ipv6 }.count, 0, "nothing from fd00::2")
  }

  func testAStackIsFreedWhileTheApplicationStillHoldsAConnection() throws {
    weak var released: Stack<MemoryNetworkDevice>?
    var kept: TCPConnection?
    do {
      let harness = Harness()
      harness.learn()
      let connection = try harness.stack.connectTCP(to: .v4(peerIP), port: 7, now: harness.now)
      connection.write([1, 2, 3])  // queued for output in the context: must not keep the stack
      kept = connection
      released = harness.stack
    }
    XCTAssertNil(released)
    // The connection outlives it, inert: writes are taken into its buffer and go nowhere.
    XCTAssertEqual(kept?.state, .synSent)
  }
}
