// DHCPv4 on a link: the stack runs each link's `DHCPClient` (DHCPClient.swift holds the state
// machine) and carries out what it asks: messages to and from ports 67 and 68 sent before
// the link has an address, ARP probes of an offered address and conflicts found while
// probing, and the lease applied to the link (address, routes, MTU) or taken back.
//
// Read first: RFC 2131 4.1 (a client that takes unicast before it has an address leaves the
// broadcast bit clear), 4.4 (the states), RFC 2132 (the options used), RFC 3442 (classless
// routes replace the router option), RFC 5227 2.1.1 (what counts as a conflict while probing).

import SiroccoDevices
import SiroccoWire

extension Stack {
  /// Starts taking `link`'s IPv4 address from a DHCP server (restarts, if it was running:
  /// the address of its lease leaves the link).
  public func startDHCP(on link: Link, configuration: DHCPClient.Configuration = DHCPClient.Configuration(), now: Instant) {
    var client = DHCPClient(hardwareAddress: link.macAddress, seed: random.next(), configuration: configuration)
    let previous = link.dhcp?.lease
    link.dhcp = nil
    if let previous { unbindLease(previous.address, on: link) }
    let actions = client.start(now: now)
    link.dhcp = client
    perform(actions, on: link, now: now)
  }

  /// Stops the DHCP client on `link`; the address of its lease, if any, leaves the link.
  public func stopDHCP(on link: Link) {
    guard let lease = link.dhcp?.lease else { return link.dhcp = nil }
    link.dhcp = nil
    unbindLease(lease.address, on: link)
  }

  /// Runs `link`'s DHCP timers due at `now`.
  func runDHCP(on link: Link, now: Instant) {
    guard let due = link.dhcp?.nextDeadline, due <= now else { return }
    guard let actions = link.dhcp?.poll(now: now) else { return }
    perform(actions, on: link, now: now)
  }

  /// Whether an IPv4 packet to an address not ours is a server's unicast reply to a client
  /// still without its address: UDP to port 68 on a link acquiring one.
  func isDHCPReply(_ body: UnsafeRawBufferPointer, protocol: IPProtocol, link: Link) -> Bool {
    guard `protocol` == .udp, body.count >= UDPHeader.length, link.dhcp?.isAcquiring == true else { return false }
    return body.readUInt16(at: 2) == DHCPMessage.clientPort
  }

  /// Takes a datagram from port 67 to port 68 on `link`, whose client is running.
  func receiveDHCP(_ payload: UnsafeRawBufferPointer, link: Link, now: Instant) {
    let message: DHCPMessage
    do { message = try DHCPMessage.parse(payload) } catch { return counters.drop(.malformedDHCP) }
    counters.dhcpMessagesReceived &+= 1
    guard let actions = link.dhcp?.receive(message, now: now) else { return }
    perform(actions, on: link, now: now)
  }

  /// An ARP packet seen on `link` while its client probes an address: a conflict if another
  /// host uses the address (sender) or probes for it too (target of a probe), RFC 5227 2.1.1.
  func checkDHCPProbe(_ packet: ARPPacket, on link: Link, now: Instant) {
    guard let probed = link.dhcp?.probingAddress, packet.senderHardwareAddress != link.macAddress,
      packet.claimedAddress == probed
    else { return }
    counters.dhcpConflicts &+= 1
    guard let actions = link.dhcp?.addressInUse(probed, now: now) else { return }
    perform(actions, on: link, now: now)
  }

  func perform(_ actions: [DHCPClient.Action], on link: Link, now: Instant) {
    for action in actions {
      switch action {
      case .send(let message, let source, let destination):
        sendDHCP(message, from: source, to: destination, on: link, now: now)
      case .probe(let address):
        let probe = ARPPacket(
          operation: .request, senderHardwareAddress: link.macAddress, senderProtocolAddress: .any,
          targetHardwareAddress: .zero, targetProtocolAddress: address)
        if sendARP(probe, to: .broadcast, on: link) { counters.arpRequestsSent &+= 1 }
      case .bind(let lease):
        bindLease(lease, on: link)
      case .unbind(let network):
        unbindLease(network, on: link)
      }
    }
  }

  /// Sends a client message: broadcasts leave on `link` whatever the routes say (from
  /// 0.0.0.0 before a lease); a renewal goes to the server by the routing table.
  func sendDHCP(_ message: DHCPMessage, from source: IPv4Address, to destination: IPv4Address, on link: Link, now: Instant) {
    let length = UDPHeader.length + message.bufferLength
    let header = UDPHeader(sourcePort: DHCPMessage.clientPort, destinationPort: DHCPMessage.serverPort, payloadLength: message.bufferLength)
    let path: IPv4Path
    if destination.isBroadcast {
      path = IPv4Path(link: link, hop: .broadcast, source: source)
    } else {
      guard let routed = self.path(to: destination, now: now) else { return counters.drop(.noRoute) }
      path = IPv4Path(link: routed.link, hop: routed.hop, source: source)
    }
    let sent = sendIPv4(on: path, to: destination, protocol: .udp, payloadLength: length, now: now) { body in
      message.emit(into: body.suffix(from: UDPHeader.length))
      header.emit(into: body, source: source, destination: destination)
    }
    if sent { counters.dhcpMessagesSent &+= 1 }
  }

  /// Applies a lease (new or renewed) to `link`: its address with the connected route, its
  /// routes (RFC 3442's classless ones if any, else a default route through the first router),
  /// and its MTU.
  func bindLease(_ lease: DHCPClient.Lease, on link: Link) {
    add(lease.address, to: link)
    routes.remove { $0.link == link.index && $0.origin == .dhcp }
    if lease.classlessRoutes.isEmpty {
      if let router = lease.routers.first {
        let everything = IPv4Network(address: .any, prefixLength: 0)
        try? routes.add(Route(destination: .v4(everything), gateway: .v4(router), link: link.index, origin: .dhcp))
      }
    } else {
      for route in lease.classlessRoutes {
        // A router of 0.0.0.0: the destination is on the link (RFC 3442).
        let gateway: IPAddress? = route.router.isUnspecified ? nil : .v4(route.router)
        try? routes.add(Route(destination: .v4(route.destination), gateway: gateway, link: link.index, origin: .dhcp))
      }
    }
    if let mtu = lease.mtu, mtu >= Link.minimumMTU { link.ipv4MTU = min(mtu, link.mtu) }
  }

  /// Takes a lease's address off `link` (TCP connections from it are reset), with the
  /// lease's routes and MTU.
  func unbindLease(_ network: IPv4Network, on link: Link) {
    routes.remove { $0.link == link.index && $0.origin == .dhcp }
    link.ipv4MTU = link.mtu
    remove(network.address, from: link)
  }
}
