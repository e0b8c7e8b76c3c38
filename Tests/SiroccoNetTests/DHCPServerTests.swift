// The DHCP server: Sirocco's own DHCP client takes a lease from it over two stacks back to
// back (offer, request, ack, the client's ARP probe, a renewal at T1), and its answers one by
// one: static leases, the pool running out, NAKs, a client without a record kept silent,
// DECLINE, RELEASE, INFORM, and leases carried over a restart. Linux's clients (udhcpc,
// dhclient, dhcpcd) come with Examples/dhcp-server.

import SiroccoDevices
import SiroccoWire
import XCTest

@testable import SiroccoNet

final class DHCPServerTests: XCTestCase {
  let network = IPv4Network(address: IPv4Address(10, 0, 0, 1), prefixLength: 24)

  func configuration(pool: ClosedRange<UInt8> = 100...199) -> DHCPServer.Configuration {
    var configuration = DHCPServer.Configuration(
      network: network, pool: IPv4Address(10, 0, 0, pool.lowerBound)...IPv4Address(10, 0, 0, pool.upperBound))
    configuration.routers = [IPv4Address(10, 0, 0, 1)]
    configuration.dnsServers = [IPv4Address(10, 0, 0, 53)]
    configuration.leaseTime = 600
    return configuration
  }

  func testSiroccosClientTakesALeaseAndRenewsIt() throws {
    let link = MemoryLink()
    let serverStack = Stack<MemoryNetworkDevice>(seed: 1)
    let clientStack = Stack<MemoryNetworkDevice>(seed: 2)
    var now = Instant(nanoseconds: 1_000_000_000)
    let serverDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 1), link: link, side: .a)
    let clientDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 2), link: link, side: .b)
    var serverLink = Link.Configuration(name: "service", macAddress: serverDevice.macAddress)
    serverLink.ipv6 = false
    serverStack.add(network, to: serverStack.attach(serverDevice, configuration: serverLink))
    var clientLink = Link.Configuration(name: "service", macAddress: clientDevice.macAddress)
    clientLink.ipv6 = false
    let client = clientStack.attach(clientDevice, configuration: clientLink)
    let server = DHCPServer(socket: try serverStack.bindUDP(port: 67), configuration: configuration())
    var saved: [DHCPServer.Lease] = []
    server.onLeasesChanged = { saved = $0 }
    clientStack.startDHCP(on: client, now: now)
    func run(until condition: () -> Bool, seconds: Int) -> Bool {
      for _ in 0..<(seconds * 100) {
        if condition() { return true }
        clientStack.poll(now: now)
        serverStack.poll(now: now)
        _ = server.step(now: now, time: 1_800_000_000 + now.nanoseconds / 1_000_000_000)
        serverStack.flush(now: now)
        now = now + .milliseconds(10)
      }
      return condition()
    }
    XCTAssertTrue(run(until: { client.dhcp?.lease != nil && !client.ipv4.isEmpty }, seconds: 30))
    let lease = try XCTUnwrap(client.dhcp?.lease)
    XCTAssertEqual(lease.address, IPv4Network(address: IPv4Address(10, 0, 0, 100), prefixLength: 24), "the pool's first")
    XCTAssertEqual(lease.server, IPv4Address(10, 0, 0, 1))
    XCTAssertEqual(lease.routers, [IPv4Address(10, 0, 0, 1)])
    XCTAssertEqual(lease.dnsServers, [IPv4Address(10, 0, 0, 53)])
    XCTAssertEqual(lease.renewal - lease.start, .seconds(300), "T1: half the lease")
    XCTAssertEqual(server.counters.offers, 1)
    XCTAssertEqual(server.counters.acks, 1)
    XCTAssertEqual(saved.map(\.address), [IPv4Address(10, 0, 0, 100)], "the application is told")
    let firstExpiry = saved[0].expires
    // At T1 the client renews by unicast; the server extends the lease.
    XCTAssertTrue(run(until: { server.counters.acks == 2 }, seconds: 320))
    XCTAssertEqual(client.ipv4.first?.address, IPv4Address(10, 0, 0, 100))
    XCTAssertGreaterThan(saved[0].expires, firstExpiry)
  }

  /// A client's request of `type`, from hardware address ...:`host`.
  func message(_ type: DHCPMessageType, host: UInt8, requested: IPv4Address? = nil, server: IPv4Address? = nil,
               clientAddress: IPv4Address = .any) -> DHCPMessage {
    var options = DHCPOptions()
    options.messageType = type
    options.requestedAddress = requested
    options.serverIdentifier = server
    return DHCPMessage(operation: .bootRequest, transactionID: UInt32(host), clientHardwareAddress: MACAddress(2, 0, 0, 0, 0, host),
                       clientAddress: clientAddress, options: options)
  }

  /// DISCOVER then REQUEST for what was offered: the address leased, or nil.
  func lease(_ server: DHCPServer, host: UInt8, now: Instant, time: Int64 = 1000) -> IPv4Address? {
    guard let offer = server.respond(to: message(.discover, host: host), now: now, time: time) else { return nil }
    let ack = server.respond(to: message(.request, host: host, requested: offer.message.yourAddress, server: network.address),
                             now: now, time: time)
    return ack?.message.options.messageType == .ack ? ack?.message.yourAddress : nil
  }

  func testPoolStaticLeasesAndExhaustion() {
    var configuration = configuration(pool: 100...101)
    configuration.staticLeases = [(MACAddress(2, 0, 0, 0, 0, 9), IPv4Address(10, 0, 0, 50))]
    let server = DHCPServer(socket: nil, configuration: configuration)
    let now = Instant(nanoseconds: 1)
    XCTAssertEqual(lease(server, host: 9, now: now), IPv4Address(10, 0, 0, 50), "the static lease, outside the pool")
    XCTAssertEqual(lease(server, host: 1, now: now), IPv4Address(10, 0, 0, 100))
    XCTAssertEqual(lease(server, host: 2, now: now), IPv4Address(10, 0, 0, 101))
    XCTAssertNil(server.respond(to: message(.discover, host: 3), now: now, time: 1000), "the pool is exhausted")
    XCTAssertEqual(server.counters.exhausted, 1)
    XCTAssertEqual(lease(server, host: 1, now: now), IPv4Address(10, 0, 0, 100), "a client keeps its address")
    // Once a lease has expired its address goes to the next client.
    XCTAssertEqual(lease(server, host: 3, now: now, time: 1000 + 601), IPv4Address(10, 0, 0, 100))
  }

  func testRequestsInEachStateGetAckNakOrSilence() {
    let server = DHCPServer(socket: nil, configuration: configuration())
    let now = Instant(nanoseconds: 1)
    let address = lease(server, host: 1, now: now)
    XCTAssertEqual(address, IPv4Address(10, 0, 0, 100))
    // SELECTING another server's offer: the offer is dropped, no answer.
    _ = server.respond(to: message(.discover, host: 2), now: now, time: 1000)
    XCTAssertNil(server.respond(to: message(.request, host: 2, requested: IPv4Address(10, 0, 0, 101), server: IPv4Address(10, 0, 0, 7)),
                                now: now, time: 1000))
    // SELECTING an address that was never offered and is taken: NAK, broadcast.
    let nak = server.respond(to: message(.request, host: 2, requested: IPv4Address(10, 0, 0, 100), server: network.address),
                             now: now, time: 1000)
    XCTAssertEqual(nak?.message.options.messageType, .nak)
    XCTAssertEqual(nak?.destination, .broadcast)
    // INIT-REBOOT: its own address ACKed; another NAKed; an unknown client gets silence.
    XCTAssertEqual(server.respond(to: message(.request, host: 1, requested: IPv4Address(10, 0, 0, 100)), now: now, time: 1000)?
      .message.options.messageType, .ack)
    XCTAssertEqual(server.respond(to: message(.request, host: 1, requested: IPv4Address(10, 0, 0, 150)), now: now, time: 1000)?
      .message.options.messageType, .nak)
    XCTAssertEqual(server.respond(to: message(.request, host: 1, requested: IPv4Address(192, 168, 0, 5)), now: now, time: 1000)?
      .message.options.messageType, .nak, "another network")
    XCTAssertNil(server.respond(to: message(.request, host: 5, requested: IPv4Address(10, 0, 0, 120)), now: now, time: 1000))
    // RENEWING: unicast back to the client's address.
    let renewal = server.respond(to: message(.request, host: 1, clientAddress: IPv4Address(10, 0, 0, 100)), now: now, time: 1200)
    XCTAssertEqual(renewal?.message.options.messageType, .ack)
    XCTAssertEqual(renewal?.destination, IPv4Address(10, 0, 0, 100))
    XCTAssertEqual(server.leases.first?.expires, 1200 + 600)
    XCTAssertEqual(server.respond(to: message(.request, host: 2, clientAddress: IPv4Address(10, 0, 0, 100)), now: now, time: 1200)?
      .message.options.messageType, .nak, "another client's address")
  }

  func testDeclineReleaseInformAndLeasesKeptOverARestart() {
    let server = DHCPServer(socket: nil, configuration: configuration())
    let now = Instant(nanoseconds: 1)
    XCTAssertEqual(lease(server, host: 1, now: now), IPv4Address(10, 0, 0, 100))
    // The client found the address in use: it is set aside, the next offer is another.
    _ = server.respond(to: message(.decline, host: 1, requested: IPv4Address(10, 0, 0, 100), server: network.address), now: now, time: 1000)
    XCTAssertEqual(server.counters.declines, 1)
    XCTAssertEqual(lease(server, host: 1, now: now), IPv4Address(10, 0, 0, 101))
    XCTAssertEqual(lease(server, host: 2, now: now), IPv4Address(10, 0, 0, 102), "the declined address is not offered")
    // A release: the lease ends, the client gets the same address back later.
    _ = server.respond(to: message(.release, host: 2, server: network.address, clientAddress: IPv4Address(10, 0, 0, 102)), now: now, time: 1100)
    XCTAssertEqual(server.counters.releases, 1)
    XCTAssertEqual(server.leases.first { $0.address == IPv4Address(10, 0, 0, 102) }?.expires, 1100)
    XCTAssertEqual(lease(server, host: 2, now: now, time: 1200), IPv4Address(10, 0, 0, 102))
    // INFORM: the options, no lease, to the client's own address.
    let inform = server.respond(to: message(.inform, host: 7, clientAddress: IPv4Address(10, 0, 0, 77)), now: now, time: 1200)
    XCTAssertEqual(inform?.message.options.messageType, .ack)
    XCTAssertNil(inform?.message.options.leaseTime)
    XCTAssertEqual(inform?.message.yourAddress, .any)
    XCTAssertEqual(inform?.destination, IPv4Address(10, 0, 0, 77))
    XCTAssertEqual(inform?.message.options.domainNameServers, [IPv4Address(10, 0, 0, 53)])
    // A restart with the leases kept: each client gets its address again.
    let restarted = DHCPServer(socket: nil, configuration: configuration(), leases: server.leases)
    XCTAssertEqual(lease(restarted, host: 2, now: now, time: 1300), IPv4Address(10, 0, 0, 102))
    XCTAssertEqual(lease(restarted, host: 3, now: now, time: 1300), IPv4Address(10, 0, 0, 100),
                   "the declined address is free again after the restart, the others are taken")
  }
}
