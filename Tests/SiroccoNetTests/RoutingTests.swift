// Next-hop choice: on-link destinations by their own MAC, off-link ones through the gateway,
// broadcasts to ff:ff:ff:ff:ff:ff without ARP, and no route without a gateway.

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

final class RoutingTests: XCTestCase {
  func testOnLinkDestinationsGoToTheirOwnMAC() throws {
    let harness = Harness { $0.gateway = gatewayIP }
    harness.learn(peerMAC, peerIP)
    harness.learn(otherMAC, otherIP)
    harness.learn(gatewayMAC, gatewayIP)
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(peerIP), port: 7)
    try socket.send([2], to: .v4(otherIP), port: 7)
    harness.poll()
    let sent = try harness.sent().map { try parseIPv4Frame($0) }
    XCTAssertEqual(sent.map(\.ethernet.destination), [peerMAC, otherMAC])
    XCTAssertEqual(sent.map(\.header.destination), [peerIP, otherIP])
  }

  func testOffLinkDestinationsGoToTheGatewayWhichIsResolvedInstead() throws {
    let harness = Harness { $0.gateway = gatewayIP }
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send(Array("far".utf8), to: .v4(remoteIP), port: 53)
    let (ethernet, request) = try parseARPFrame(try harness.exchange())
    XCTAssertEqual(ethernet.destination, .broadcast)
    XCTAssertEqual(request.targetProtocolAddress, gatewayIP, "ARP asks for the gateway, not the destination")
    XCTAssertTrue(harness.link.arp.isResolving(gatewayIP))
    XCTAssertFalse(harness.link.arp.isResolving(remoteIP))

    let sent = try parseIPv4Frame(try harness.exchange(arpReplyFrame(from: gatewayMAC, gatewayIP)))
    XCTAssertEqual(sent.ethernet.destination, gatewayMAC)
    XCTAssertEqual(sent.header.destination, remoteIP, "the IP destination is unchanged")
    let (udp, payload) = try parseUDP(sent)
    XCTAssertEqual(udp.destinationPort, 53)
    XCTAssertEqual(payload, Array("far".utf8))

    // Once the gateway is known, other off-link destinations go straight to it.
    try socket.send([9], to: .v4(IPv4Address(198, 51, 100, 1)), port: 53)
    let next = try parseIPv4Frame(try harness.exchange())
    XCTAssertEqual(next.ethernet.destination, gatewayMAC)
    XCTAssertEqual(next.header.destination, IPv4Address(198, 51, 100, 1))
    harness.assertDrops([:])
  }

  func testOffLinkWithoutAGatewayIsNoRoute() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(remoteIP), port: 53)
    harness.expectSilence()
    harness.assertDrops([.noRoute: 1])
    XCTAssertEqual(harness.counters.arpRequestsSent, 0)
    XCTAssertNil(harness.stack.pollAt(now: harness.now))
  }

  func testEchoFromAnOffLinkHostIsAnsweredThroughTheGateway() throws {
    let harness = Harness { $0.gateway = gatewayIP }
    harness.learn(gatewayMAC, gatewayIP)
    let reply = try parseIPv4Frame(
      try harness.exchange(echoRequestFrame(from: remoteIP, [1, 2, 3, 4])))
    XCTAssertEqual(reply.ethernet.destination, gatewayMAC)
    XCTAssertEqual(reply.header.destination, remoteIP)
  }

  func testLimitedAndSubnetBroadcastsUseTheBroadcastMACWithoutARP() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 68)
    try socket.send([1], to: .v4(.broadcast), port: 67)
    try socket.send([2], to: .v4(subnetBroadcast), port: 67)
    harness.poll()
    let sent = try harness.sent().map { try parseIPv4Frame($0) }
    XCTAssertEqual(sent.count, 2)
    XCTAssertEqual(sent.map(\.ethernet.destination), [.broadcast, .broadcast])
    XCTAssertEqual(sent.map(\.header.destination), [.broadcast, subnetBroadcast])
    XCTAssertEqual(try sent.map { try parseUDP($0).1 }, [[1], [2]])
    XCTAssertEqual(harness.counters.arpRequestsSent, 0)
    XCTAssertEqual(harness.link.arp.count, 0)
    XCTAssertFalse(harness.link.arp.isResolving(.broadcast))
    XCTAssertFalse(harness.link.arp.isResolving(subnetBroadcast))
  }

  func testOtherPrefixLengthsDecideWhatIsOnLink() throws {
    // 10.0.0.2/30: hosts .1 and .2, broadcast .3; .4 is off-link.
    let harness = Harness {
      $0.ipv4 = IPv4Network(address: ourIP, prefixLength: 30)
      $0.gateway = peerIP
    }
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(IPv4Address(10, 0, 0, 3)), port: 7)
    try socket.send([2], to: .v4(IPv4Address(10, 0, 0, 4)), port: 7)
    harness.poll()
    let output = harness.sent()
    XCTAssertEqual(output.count, 2)
    let broadcast = try parseIPv4Frame(output[0])
    XCTAssertEqual(broadcast.ethernet.destination, .broadcast)
    XCTAssertEqual(try parseARPFrame(output[1]).1.targetProtocolAddress, peerIP, ".4 goes through the gateway")
  }

  /// RFC 3021: on a /31 both addresses are hosts; there is no directed broadcast, so the
  /// other end is neither a martian source nor reached through the broadcast MAC.
  func testPointToPointSlash31TreatsTheOtherAddressAsAHost() throws {
    let local = IPv4Address(10, 0, 0, 0)
    let remote = IPv4Address(10, 0, 0, 1)
    let harness = Harness { $0.ipv4 = IPv4Network(address: local, prefixLength: 31) }
    let socket = try harness.stack.bindUDP(port: 7)
    harness.expectSilence(
      ethernetFrame(
        type: .ipv4,
        ipv4Packet(from: remote, to: local, protocol: .udp, udpDatagram(from: remote, to: local, port: 7, [42]))))
    harness.assertDrops([:])
    XCTAssertEqual(socket.receive()?.payload, [42])

    try socket.send([43], to: .v4(remote), port: 9)
    let (ethernet, request) = try parseARPFrame(try harness.exchange())
    XCTAssertEqual(ethernet.destination, .broadcast)
    XCTAssertEqual(request.targetProtocolAddress, remote, "the other end is resolved, not broadcast to")
  }
}
