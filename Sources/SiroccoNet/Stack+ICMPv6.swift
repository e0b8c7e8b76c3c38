// ICMPv6 in the stack: echo, errors (rate limited), Neighbor Discovery (the neighbour cache,
// answers to solicitations, router advertisements), MLDv2 reports for the groups a link
// joins, and SLAAC with duplicate address detection through each link's
// `AddressConfiguration`, whose actions are carried out here.
//
// Read first: RFC 4443 (ICMPv6; 2.4 when not to send an error), RFC 4861 (Neighbor
// Discovery: 7.2 address resolution, 7.3 unreachability detection, 6.3.4 router
// advertisements), RFC 4862 (SLAAC and DAD), RFC 3810 (MLDv2: 5.2 reports, 6.1 unsolicited
// reports, 6.2 answers to queries).

import SiroccoDevices
import SiroccoWire

extension Stack {
  func processICMPv6(
    _ message: UnsafeRawBufferPointer, header: IPv6Header, routerAlert: UInt16?, packet: UnsafeRawBufferPointer,
    link: Link, now: Instant
  ) {
    let icmp: ICMPv6Message
    do {
      // Echo requests take a short way, without the message enum and its validation.
      if try ICMPv6Message.isEchoRequest(
        message, source: header.source, destination: header.destination, verifyChecksum: verifyTransportChecksum)
      {
        return answerEcho(message, header: header, link: link, now: now)
      }
      icmp = try ICMPv6Message.parse(
        message, source: header.source, destination: header.destination, verifyChecksum: verifyTransportChecksum)
    } catch {
      return counters.drop(error == .badChecksum ? .badICMPv6Checksum : .malformedICMPv6)
    }
    do {
      try icmp.validate(hopLimit: header.hopLimit, source: header.source, destination: header.destination, routerAlert: routerAlert)
    } catch {
      return counters.drop(.invalidNDP)
    }
    switch icmp {
    case .neighborSolicitation(let solicitation):
      counters.ndpMessagesReceived &+= 1
      receive(solicitation, source: header.source, link: link, now: now)
    case .neighborAdvertisement(let advertisement):
      counters.ndpMessagesReceived &+= 1
      receive(advertisement, link: link, now: now)
    case .routerAdvertisement(let advertisement) where link.configuration.acceptRouterAdvertisements:
      counters.ndpMessagesReceived &+= 1
      receive(advertisement, source: header.source, link: link, now: now)
    case .multicastListenerQuery(let query):
      counters.mldQueriesReceived &+= 1
      // Answered after a random part of the query's delay (RFC 3810 6.2), at most 1 s here.
      let delay = min(Int64(query.maximumResponseDelay), 1000)
      let due = now + .milliseconds(delay > 0 ? Int64(random.next() % UInt64(delay)) : 0)
      if link.queryResponse.map({ due < $0 }) ?? true { link.queryResponse = due }
    case .packetTooBig(let mtu):
      // RFC 8201 4: the quoted packet's destination gets the smaller MTU (never below 1280).
      let quoted = message.suffix(from: ICMPv6Message.headerLength)
      if let original = try? IPv6Header.parse(quoted) {
        _ = pathMTUs.report(Int(mtu), for: .v6(original.destination), linkMTU: link.ipv6MTU, now: now)
      }
      counters.icmpIgnored &+= 1
    default:
      counters.icmpIgnored &+= 1
    }
  }

  /// Answers an echo request (RFC 4443 4.2): to a group too (4.1 says should), from our
  /// address on the link.
  func answerEcho(_ request: UnsafeRawBufferPointer, header: IPv6Header, link: Link, now: Instant) {
    let from = header.destination.isMulticast ? link.source(for: header.source) : header.destination
    guard let from else { return counters.icmpIgnored &+= 1 }
    let sent = sendIPv6(
      to: header.source, via: link, from: from, nextHeader: .icmpv6, payloadLength: request.count, now: now
    ) { reply, source in
      reply.copyMemory(from: request)
      ICMPv6Message.makeEchoReply(reply, source: source, destination: header.source)
    }
    if sent { counters.echoRepliesSent &+= 1 }
  }

  // MARK: Neighbor Discovery

  func receive(_ solicitation: NeighborSolicitation, source: IPv6Address, link: Link, now: Instant) {
    let target = solicitation.targetAddress
    if link.addressConfiguration.state(of: target) == .tentative {
      // Another node's DAD for our tentative address, or a solicitation we must not answer yet.
      return apply(link.addressConfiguration.receive(solicitation, source: source, now: now), on: link, now: now)
    }
    guard link.owns(target) else { return }
    if !source.isUnspecified, let hardware = solicitation.options.sourceLinkLayerAddress {
      let update = link.neighbors.learn(source, linkLayerAddress: hardware, from: .neighborSolicitation, now: now)
      release(update, on: link)
    }
    // Solicited unless it was another node's DAD (from ::), which is told through all-nodes.
    let advertisement = NeighborAdvertisement(
      solicited: !source.isUnspecified, override: true, targetAddress: target,
      options: [.targetLinkLayerAddress(link.macAddress)])
    let destination = source.isUnspecified ? IPv6Address.allNodes : source
    if sendNDP(.neighborAdvertisement(advertisement), from: target, to: destination, on: link, now: now) {
      counters.neighborAdvertisementsSent &+= 1
    }
  }

  func receive(_ advertisement: NeighborAdvertisement, link: Link, now: Instant) {
    let target = advertisement.targetAddress
    if link.addressConfiguration.state(of: target) != nil {
      // For one of our addresses: a duplicate while it is tentative (RFC 4862 5.4.4).
      return apply(link.addressConfiguration.receive(advertisement, now: now), on: link, now: now)
    }
    let update = link.neighbors.receiveAdvertisement(
      target: target, linkLayerAddress: advertisement.options.targetLinkLayerAddress, router: advertisement.router,
      solicited: advertisement.solicited, override: advertisement.override, now: now)
    if update.noLongerRouter { forgetRouter(target, on: link) }
    release(update, on: link)
  }

  func receive(_ advertisement: RouterAdvertisement, source: IPv6Address, link: Link, now: Instant) {
    if let hardware = advertisement.options.sourceLinkLayerAddress {
      release(link.neighbors.learn(source, linkLayerAddress: hardware, from: .routerAdvertisement, now: now), on: link)
    }
    if advertisement.currentHopLimit != 0 { link.hopLimit = advertisement.currentHopLimit }
    if advertisement.reachableTime != 0 {
      link.neighbors.setBaseReachableTime(.milliseconds(Int64(advertisement.reachableTime)), now: now)
    }
    if advertisement.retransmitTimer != 0 {
      link.neighbors.setRetransmitTimer(.milliseconds(Int64(advertisement.retransmitTimer)))
    }
    apply(link.addressConfiguration.receive(advertisement, source: source, now: now), on: link, now: now)
  }

  /// Sends the packets a neighbour's entry released to its link-layer address.
  func release(_ update: NeighborCache.Update, on link: Link) {
    guard let hardware = update.linkLayerAddress else { return }
    for packet in update.released { transmitIPv6(packet, to: hardware, on: link) }
  }

  /// Removes the default routes through `router` on `link` (it stopped being one, or is gone).
  func forgetRouter(_ router: IPv6Address, on link: Link) {
    routes.remove { $0.link == link.index && $0.gateway == .v6(router) && $0.origin == .routerAdvertisement }
  }

  /// A Neighbor Solicitation for `target`: multicast to its solicited-node group (address
  /// resolution, with our link-layer address), or unicast to `unicast` (a probe).
  func sendNeighborSolicitation(for target: IPv6Address, unicast: MACAddress?, on link: Link, now: Instant) {
    guard let source = link.source(for: target) else { return }
    let solicitation = NeighborSolicitation(targetAddress: target, options: [.sourceLinkLayerAddress(link.macAddress)])
    let destination = unicast == nil ? target.solicitedNodeMulticast : target
    if sendNDP(.neighborSolicitation(solicitation), from: source, to: destination, hardware: unicast, on: link, now: now) {
      counters.neighborSolicitationsSent &+= 1
    }
  }

  /// Sends a Neighbor Discovery message (hop limit 255, RFC 4861) on `link`; to a neighbour
  /// at `hardware` when given, without resolving it.
  @discardableResult
  func sendNDP(
    _ message: ICMPv6Message, from source: IPv6Address, to destination: IPv6Address, hardware: MACAddress? = nil,
    on link: Link, now: Instant
  ) -> Bool {
    let header = IPv6Header(
      payloadLength: message.bufferLength, nextHeader: .icmpv6, hopLimit: 255, source: source, destination: destination)
    let fill: (UnsafeMutableRawBufferPointer) -> Void = { body in message.emit(into: body, source: source, destination: destination) }
    guard let hardware = hardware ?? hardwareAddress(of: destination, on: link, now: now) else {
      return deliver6(packet6(header, offload: nil, fill: fill), to: destination, on: link, now: now)
    }
    return transmit(on: link, length: EthernetHeader.minimumLength + header.totalLength) { frame in
      EthernetHeader(destination: hardware, source: link.macAddress, etherType: .ipv6).emit(into: frame)
      let packet = frame.suffix(from: EthernetHeader.minimumLength)
      fill(packet.suffix(from: IPv6Header.length))
      header.emit(into: packet)
    }
  }

  // MARK: Errors

  /// Sends an ICMPv6 error about `packet` (the offending packet, header first) to `source`,
  /// quoting as much as fits in 1280 bytes (RFC 4443 2.4 c), unless RFC 4443 2.4 (e) forbids
  /// it (an error about an error, to or from a group or the unspecified address) or the rate
  /// limit says no.
  func sendICMPv6Error(
    _ message: ICMPv6Message, quoting packet: UnsafeRawBufferPointer, to source: IPv6Address, via link: Link?,
    now: Instant
  ) {
    guard !source.isUnspecified, !source.isMulticast else { return }
    if packet.count > IPv6Header.length + 1, packet.readUInt8(at: 6) == IPProtocol.icmpv6.rawValue,
      packet.readUInt8(at: IPv6Header.length) < 128
    {
      return  // about an ICMPv6 error
    }
    guard takeICMPToken(now: now) else { return }
    let quoted = min(packet.count, IPv6Header.minimumMTU - IPv6Header.length - ICMPv6Message.headerLength)
    let sent = sendIPv6(
      to: source, via: link, nextHeader: .icmpv6, payloadLength: ICMPv6Message.headerLength + quoted, now: now
    ) { body, from in
      body.suffix(from: ICMPv6Message.headerLength).copyMemory(from: packet.slice(from: 0, length: quoted))
      message.emit(into: body, source: from, destination: source)
    }
    if sent { counters.icmpErrorsSent &+= 1 }
  }

  // MARK: Addresses, groups, timers

  /// Starts IPv6 on `link` (once): joins all-nodes, forms the link-local address (DAD first),
  /// solicits routers.
  func startIPv6(on link: Link, now: Instant) {
    guard link.configuration.ipv6, !link.ipv6Started else { return }
    link.ipv6Started = true
    link.groups.append(.allNodes)  // joined, never reported (RFC 3810 6)
    apply(link.addressConfiguration.start(now: now), on: link, now: now)
  }

  /// Runs `link`'s IPv6 timers that are due: SLAAC and DAD, neighbour discovery, MLD.
  func runIPv6Timers(on link: Link, now: Instant) {
    startIPv6(on: link, now: now)
    if let due = link.addressConfiguration.nextDeadline, due <= now {
      apply(link.addressConfiguration.poll(now: now), on: link, now: now)
    }
    if let due = link.neighbors.nextDeadline, due <= now {
      let work = link.neighbors.due(now: now)
      for solicitation in work.solicitations {
        sendNeighborSolicitation(for: solicitation.target, unicast: solicitation.unicast, on: link, now: now)
      }
      for unreachable in work.unreachable {
        counters.drop(.neighborUnreachable, count: unreachable.droppedPackets.count)
        if unreachable.wasRouter { forgetRouter(unreachable.address, on: link) }
      }
    }
    if let due = link.nextReport, due <= now {
      sendReport(.joining(link.pendingReports), on: link, now: now)
      // Robustness 2 (RFC 3810 9.1): the report once more, a second later.
      link.reportRounds -= 1
      if link.reportRounds > 0 {
        link.nextReport = now + .seconds(1)
      } else {
        link.pendingReports = []
        link.nextReport = nil
      }
    }
    if let due = link.queryResponse, due <= now {
      link.queryResponse = nil
      let groups = link.groups.filter { $0 != .allNodes }
      if !groups.isEmpty {
        sendReport(
          MulticastListenerReport(records: groups.map { MulticastAddressRecord(type: .modeIsExclude, multicastAddress: $0) }),
          on: link, now: now)
      }
    }
  }

  /// When `link`'s IPv6 timers next need a poll.
  func ipv6Deadline(of link: Link, now: Instant) -> Instant? {
    guard link.configuration.ipv6 else { return nil }
    guard link.ipv6Started else { return now }
    var deadline: Instant?
    for next in [link.addressConfiguration.nextDeadline, link.neighbors.nextDeadline, link.nextReport, link.queryResponse] {
      if let next { deadline = deadline.map { min($0, next) } ?? next }
    }
    return deadline
  }

  /// Sends an MLDv2 report to ff02::16 (RFC 3810 5.2: hop limit 1, a Router Alert, from the
  /// link-local address or, before there is one, the unspecified address).
  func sendReport(_ report: MulticastListenerReport, on link: Link, now: Instant) {
    guard !report.records.isEmpty else { return }
    let source = link.ipv6.first { $0.address.isLinkLocal }?.address ?? .unspecified
    let destination = IPv6Address.allMLDv2Routers
    let message = ICMPv6Message.multicastListenerReport(report)
    let header = IPv6Header(
      payloadLength: IPv6RouterAlertHeader.length + message.bufferLength, nextHeader: .hopByHop, hopLimit: 1,
      source: source, destination: destination)
    let sent = transmit(on: link, length: EthernetHeader.minimumLength + header.totalLength) { frame in
      EthernetHeader(destination: MACAddress(multicast: destination), source: link.macAddress, etherType: .ipv6)
        .emit(into: frame)
      let packet = frame.suffix(from: EthernetHeader.minimumLength)
      header.emit(into: packet)
      IPv6RouterAlertHeader().emit(into: packet.suffix(from: IPv6Header.length))
      message.emit(
        into: packet.suffix(from: IPv6Header.length + IPv6RouterAlertHeader.length), source: source, destination: destination)
    }
    if sent { counters.mldReportsSent &+= 1 }
  }

  /// Carries out what `link`'s address configuration asks.
  func apply(_ actions: [AddressConfiguration.Action], on link: Link, now: Instant) {
    for action in actions {
      switch action {
      case .joinGroup(let group):
        guard !link.groups.contains(group) else { continue }
        link.groups.append(group)
        link.pendingReports.append(group)
        // Sent on the next poll, and once more a second later (RFC 3810 6.1).
        link.nextReport = now
        link.reportRounds = 2
      case .leaveGroup(let group):
        link.groups.removeAll { $0 == group }
        link.pendingReports.removeAll { $0 == group }
        sendReport(
          MulticastListenerReport(records: [MulticastAddressRecord(type: .changeToInclude, multicastAddress: group)]),
          on: link, now: now)
      case .probe(let target):
        // DAD (RFC 4862 5.4.2): from the unspecified address, no link-layer address option.
        let solicitation = NeighborSolicitation(targetAddress: target)
        if sendNDP(.neighborSolicitation(solicitation), from: .unspecified, to: target.solicitedNodeMulticast, on: link, now: now) {
          counters.neighborSolicitationsSent &+= 1
        }
      case .assign(let address):
        guard !link.ipv6.contains(where: { $0.address == address.address }) else { continue }
        link.ipv6.append(address.network)
        link.generation += 1
        // A manual or link-local address brings its prefix on link; a SLAAC one does not
        // (only a prefix's L flag does, RFC 4861 6.3.4, RFC 5942).
        if address.origin != .autoconfigured, address.network.prefixLength < 128 {
          try? routes.add(Route(destination: .v6(address.network), link: link.index, origin: .connected))
        }
        // Tell the link (RFC 4861 7.2.6: unsolicited advertisements, here one).
        let advertisement = NeighborAdvertisement(
          solicited: false, override: true, targetAddress: address.address, options: [.targetLinkLayerAddress(link.macAddress)])
        if sendNDP(.neighborAdvertisement(advertisement), from: address.address, to: .allNodes, on: link, now: now) {
          counters.neighborAdvertisementsSent &+= 1
        }
      case .deprecate, .prefer:
        break  // the state lives in the address configuration; source choice reads it
      case .remove(let network):
        removeIPv6(network, from: link)
      case .duplicate(let address, _):
        counters.duplicateAddresses &+= 1
        if let network = link.ipv6.first(where: { $0.address == address }) { removeIPv6(network, from: link) }
      case .solicitRouters(let source):
        let options: [NDPOption] = source.isUnspecified ? [] : [.sourceLinkLayerAddress(link.macAddress)]
        if sendNDP(.routerSolicitation(RouterSolicitation(options: options)), from: source, to: .allRouters, on: link, now: now) {
          counters.routerSolicitationsSent &+= 1
        }
      case .defaultRouter(let router, let lifetime):
        forgetRouter(router, on: link)
        if lifetime > .zero {
          let everything = IPNetwork.v6(IPv6Network(address: .unspecified, prefixLength: 0))
          try? routes.add(Route(
            destination: everything, gateway: .v6(router), link: link.index, metric: 1024, origin: .routerAdvertisement,
            expiry: now + lifetime))
        }
      case .onLinkPrefix(let prefix, let validLifetime):
        routes.remove { $0.link == link.index && $0.destination == IPNetwork.v6(prefix).normalized && $0.origin == .routerAdvertisement }
        if validLifetime != 0 {
          let expiry = validLifetime == NDPOption.infiniteLifetime ? nil : now + .seconds(Int64(validLifetime))
          try? routes.add(Route(destination: .v6(prefix), link: link.index, origin: .routerAdvertisement, expiry: expiry))
        }
      case .linkMTU(let mtu):
        // RFC 4861 6.3.4: at least the IPv6 minimum, at most what the link carries.
        if Int(mtu) >= IPv6Header.minimumMTU, Int(mtu) <= link.mtu { link.ipv6MTU = Int(mtu) }
      case .dnsServers(let servers, let lifetime):
        link.ipv6DNSServers.removeAll { servers.contains($0) }
        if lifetime != 0 { link.ipv6DNSServers += servers }
      }
    }
  }

  /// Removes an IPv6 address from `link` (see `addressRemoved`).
  func removeIPv6(_ network: IPv6Network, from link: Link) {
    link.ipv6.removeAll { $0.address == network.address }
    addressRemoved(.v6(network), from: link)
  }
}
