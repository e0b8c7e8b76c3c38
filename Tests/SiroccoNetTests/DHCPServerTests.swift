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

  /// A server stack (10.0.0.1) and a client stack back to back, and the server on the first.
  final class Pair {
    let serverStack = Stack<MemoryNetworkDevice>(seed: 1)
    let clientStack = Stack<MemoryNetworkDevice>(seed: 2)
    let serverLink: Link
    let client: Link
    let server: DHCPServer
    var now = Instant(nanoseconds: 1_000_000_000)

    init(_ configuration: DHCPServer.Configuration, probing: Bool = false, clientAddress: IPv4Network? = nil) throws {
      let link = MemoryLink()
      let serverDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 1), link: link, side: .a)
      let clientDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 2), link: link, side: .b)
      var serverConfiguration = Link.Configuration(name: "service", macAddress: serverDevice.macAddress)
      serverConfiguration.ipv6 = false
      serverLink = serverStack.attach(serverDevice, configuration: serverConfiguration)
      serverStack.add(configuration.network, to: serverLink)
      var clientConfiguration = Link.Configuration(name: "service", macAddress: clientDevice.macAddress)
      clientConfiguration.ipv6 = false
      client = clientStack.attach(clientDevice, configuration: clientConfiguration)
      if let clientAddress { clientStack.add(clientAddress, to: client) }
      server = DHCPServer(socket: try serverStack.bindUDP(port: 67), configuration: configuration, probing: probing ? serverLink : nil)
      clientStack.startDHCP(on: client, now: now)
    }

    /// Runs both stacks and the server in steps of 10 ms until `condition` holds, for at
    /// most `seconds`.
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
  }

  func testSiroccosClientTakesALeaseAndRenewsIt() throws {
    let pair = try Pair(configuration())
    let (client, server) = (pair.client, pair.server)
    var saved: [DHCPServer.Lease] = []
    server.onLeasesChanged = { leases, _ in saved = leases }
    func run(until condition: () -> Bool, seconds: Int) -> Bool { pair.run(until: condition, seconds: seconds) }
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

  func testAnAddressInUseIsFoundByItsARPProbeAndNotOffered() throws {
    // The client's host already has 10.0.0.100 (configured by hand): it answers the server's
    // ARP probe for the pool's first address, which is set aside; the client gets the next.
    let pair = try Pair(configuration(), probing: true, clientAddress: IPv4Network(address: IPv4Address(10, 0, 0, 100), prefixLength: 24))
    XCTAssertTrue(pair.run(until: { pair.client.dhcp?.lease != nil }, seconds: 30))
    XCTAssertEqual(pair.client.dhcp?.lease?.address.address, IPv4Address(10, 0, 0, 101))
    XCTAssertEqual(pair.server.counters.conflicts, 1)
    XCTAssertEqual(pair.server.counters.offers, 2, "the first offer held back, the second sent")
    XCTAssertTrue(pair.serverLink.probes.isEmpty, "probes end")
    // A second client asking later is not offered 10.0.0.100 either: it is set aside.
    let later = pair.server.respond(to: message(.discover, host: 9), now: pair.now, time: 1_800_000_100)
    XCTAssertEqual(later?.message.yourAddress, IPv4Address(10, 0, 0, 102))
  }

  func testAFreeAddressIsOfferedAfterItsProbeTime() throws {
    var configuration = configuration()
    configuration.probeTime = .milliseconds(300)
    let pair = try Pair(configuration, probing: true)
    let start = pair.now
    XCTAssertTrue(pair.run(until: { pair.server.counters.offers == 1 }, seconds: 10))
    XCTAssertTrue(pair.run(until: { pair.client.dhcp?.lease != nil }, seconds: 30))
    XCTAssertEqual(pair.client.dhcp?.lease?.address.address, IPv4Address(10, 0, 0, 100))
    XCTAssertEqual(pair.server.counters.conflicts, 0)
    XCTAssertGreaterThanOrEqual(pair.now - start, .milliseconds(300), "the offer waited for the probe")
    XCTAssertEqual(pair.server.probedFree.map(\.address), [IPv4Address(10, 0, 0, 100)])
  }

  func lease(_ host: UInt8, _ address: UInt8, expires: Int64, name: String = "") -> DHCPServer.Lease {
    DHCPServer.Lease(client: [1, 2, 0, 0, 0, 0, host], hardware: MACAddress(2, 0, 0, 0, 0, host), address: IPv4Address(10, 0, 0, address),
                     expires: expires, hostName: Array(name.utf8))
  }

  func testLeaseFileKeepsLeasesAcrossARestartAndSurvivesDamage() throws {
    for sectorSize in [512, 4096] {
      let device = MemoryBlockDevice(sectorSize: sectorSize, sectors: 3)
      let file = DHCPLeaseFile(device: device, network: network)
      XCTAssertEqual(file.capacity, 2 * sectorSize / 128)
      XCTAssertEqual(try file.load(), [], "a blank device holds no leases")
      let leases = (1...6).map { lease($0, 99 + $0, expires: 1_800_000_000 + Int64($0), name: $0 == 1 ? "laptop" : "") }
      try file.save(leases)
      XCTAssertEqual(try DHCPLeaseFile(device: device, network: network).load(), leases, "\(sectorSize)")
      // A renewal rewrites the lease; a lease appended; one released and removed.
      var changed = leases
      changed[2].expires += 600
      changed.append(lease(7, 150, expires: 5))
      changed.remove(at: 0)
      try file.save(changed)
      XCTAssertEqual(try DHCPLeaseFile(device: device, network: network).load(), changed)
      // One record at a time, as the server reports them: a renewal in place, an append.
      changed[3].expires += 3600
      try file.save(changed, changed: 3)
      changed.append(lease(8, 160, expires: 9, name: "printer"))
      try file.save(changed, changed: changed.count - 1)
      XCTAssertEqual(try DHCPLeaseFile(device: device, network: network).load(), changed)
      // A torn record: that lease alone is lost, and counted.
      device.storage[sectorSize + 128 + 70] ^= 0xff
      let reread = DHCPLeaseFile(device: device, network: network)
      XCTAssertEqual(try reread.load(), changed.enumerated().filter { $0.offset != 1 }.map(\.element))
      XCTAssertEqual(reread.damagedRecords, 1)
      // Another network's server starts empty; so does a foreign device.
      XCTAssertEqual(try DHCPLeaseFile(device: device, network: IPv4Network(address: IPv4Address(10, 1, 0, 1), prefixLength: 24)).load(), [])
      device.storage[0] ^= 1
      XCTAssertEqual(try DHCPLeaseFile(device: device, network: network).load(), [])
    }
  }

  func testLeaseFileBoundsCapacityAndLongIdentifiers() throws {
    let device = MemoryBlockDevice(sectors: 2)
    let file = DHCPLeaseFile(device: device, network: network)
    var leases = (1...6).map { lease($0, 99 + $0, expires: 10) }
    leases[1].client = [UInt8](repeating: 7, count: 65)
    try file.save(leases)
    XCTAssertEqual(file.unsaved, 2, "one identifier too long, one past the device's 4 records")
    XCTAssertEqual(try DHCPLeaseFile(device: device, network: network).load(), [leases[0], leases[2], leases[3], leases[4]])
    let none = DHCPLeaseFile(device: MemoryBlockDevice(sectors: 1), network: network)
    XCTAssertEqual(none.capacity, 0)
    XCTAssertEqual(try none.load(), [])
    try none.save(leases)
    XCTAssertEqual(none.unsaved, 6)
  }

  func testServerStartedWithLeasesOfAnotherNetworkOrTwiceDropsThem() {
    let server = DHCPServer(socket: nil, configuration: configuration(), leases: [lease(1, 100, expires: 5_000),
      DHCPServer.Lease(client: [1, 9], hardware: MACAddress(2, 0, 0, 0, 0, 9), address: IPv4Address(192, 168, 1, 5), expires: 5_000)])
    XCTAssertEqual(server.leases.map(\.address), [IPv4Address(10, 0, 0, 100)])
    // Two leases for one address, or for one client: the later one stands.
    let twice = DHCPServer(socket: nil, configuration: configuration(), leases: [lease(1, 100, expires: 1), lease(2, 100, expires: 2),
                                                                                 lease(2, 101, expires: 3)])
    XCTAssertEqual(twice.leases, [lease(2, 101, expires: 3)])
    XCTAssertEqual(lease(twice, host: 3, now: Instant(nanoseconds: 1)), IPv4Address(10, 0, 0, 100))
  }
}
