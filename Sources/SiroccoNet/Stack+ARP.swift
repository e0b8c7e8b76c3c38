// ARP on each link: requests answered, replies learnt, announcements of new addresses, and
// packets held until their next hop resolves (ARPCache.swift keeps the state).
//
// Read first: RFC 826 (the merge rule), RFC 5227 2.3 (announcements), RFC 1122 2.3.2.2
// (a host queues at least one packet per unresolved destination).

import SiroccoDevices
import SiroccoWire

extension ARPPacket {
  /// The address the sender speaks for: the target of an RFC 5227 probe (a request from
  /// 0.0.0.0: the sender wants the address), else the sender's own. What a probe of that
  /// address (the DHCP client's, `Link.probe`) takes as a claim.
  var claimedAddress: IPv4Address {
    operation == .request && senderProtocolAddress.isUnspecified ? targetProtocolAddress : senderProtocolAddress
  }
}

extension Stack {
  func processARP(_ payload: UnsafeRawBufferPointer, link: Link, now: Instant) {
    let packet: ARPPacket
    do {
      packet = try ARPPacket.parse(payload)
    } catch {
      return counters.drop(error == .unsupported ? .unsupportedARP : .malformedARP)
    }
    if link.dhcp?.probingAddress != nil { checkDHCPProbe(packet, on: link, now: now) }
    if !link.probes.isEmpty { link.noteClaim(packet) }
    let sender = packet.senderProtocolAddress
    let senderIsUsable = !sender.isUnspecified && !sender.isBroadcast && !sender.isMulticast
      && !link.owns(sender) && packet.senderHardwareAddress.isUnicast
    // RFC 826: merge first; then, if we are the target, add the sender.
    var released: [[UInt8]]?
    if senderIsUsable {
      released = link.arp.update(sender, packet.senderHardwareAddress, now: now)
    }
    let target = packet.targetProtocolAddress
    if link.owns(target) {
      if senderIsUsable, released == nil {
        released = link.arp.insert(sender, packet.senderHardwareAddress, now: now)
      }
      if packet.operation == .request {
        let reply = ARPPacket(
          operation: .reply, senderHardwareAddress: link.macAddress, senderProtocolAddress: target,
          targetHardwareAddress: packet.senderHardwareAddress, targetProtocolAddress: sender)
        if sendARP(reply, to: packet.senderHardwareAddress, on: link) {
          counters.arpRepliesSent &+= 1
        }
      }
    }
    // The packets were waiting for exactly this address: the sender is their next hop.
    for waiting in released ?? [] {
      transmitIPv4(waiting, to: packet.senderHardwareAddress, on: link)
    }
  }

  /// Announces the link's IPv4 addresses (gratuitous ARP) when a round is due.
  func announce(on link: Link, now: Instant) {
    guard link.announcementsSent < link.configuration.announcements, !link.ipv4.isEmpty,
      link.nextAnnouncement.map({ $0 <= now }) ?? true
    else { return }
    for network in link.ipv4 {
      sendARP(.announcement(of: network.address, from: link.macAddress), to: .broadcast, on: link)
    }
    link.announcementsSent += 1
    link.nextAnnouncement = now + link.configuration.announcementInterval
  }

  @discardableResult
  func sendARP(_ packet: ARPPacket, to hardware: MACAddress, on link: Link) -> Bool {
    transmit(on: link, length: EthernetHeader.minimumLength + ARPPacket.length) { frame in
      EthernetHeader(destination: hardware, source: link.macAddress, etherType: .arp).emit(into: frame)
      packet.emit(into: frame.suffix(from: EthernetHeader.minimumLength))
    }
  }

  func sendARPRequest(for address: IPv4Address, on link: Link) {
    guard let source = link.source(for: address) else { return }
    let request = ARPPacket(
      operation: .request, senderHardwareAddress: link.macAddress, senderProtocolAddress: source,
      targetHardwareAddress: .zero, targetProtocolAddress: address)
    if sendARP(request, to: .broadcast, on: link) { counters.arpRequestsSent &+= 1 }
  }

  /// The link-layer address for the next hop `hop` on `link`: broadcast, or what ARP knows
  /// (nil: not resolved yet).
  func hardwareAddress(of hop: IPv4Address, on link: Link, now: Instant) -> MACAddress? {
    hop.isBroadcast || link.isDirectedBroadcast(hop) ? .broadcast : link.arp.lookup(hop, now: now)
  }

  /// Sends a built packet to the next hop `hop` on `link`, at once if its address is known,
  /// else queued for ARP. Returns false if it was dropped (and counted).
  func deliver(_ packet: [UInt8], to hop: IPv4Address, on link: Link, now: Instant) -> Bool {
    if let hardware = hardwareAddress(of: hop, on: link, now: now) { return transmitIPv4(packet, to: hardware, on: link) }
    switch link.arp.enqueue(packet, for: hop, now: now) {
    case .queuedSendRequest:
      sendARPRequest(for: hop, on: link)
    case .queued:
      break
    case .queuedDroppedOldest:
      counters.drop(.arpQueueOverflow)
    case .tableFull:
      counters.drop(.arpQueueOverflow)
      return false
    }
    return true
  }

  /// Sends an already built IPv4 packet to a resolved next hop.
  @discardableResult
  func transmitIPv4(_ packet: [UInt8], to hardware: MACAddress, on link: Link) -> Bool {
    transmit(on: link, length: EthernetHeader.minimumLength + packet.count) { frame in
      EthernetHeader(destination: hardware, source: link.macAddress, etherType: .ipv4).emit(into: frame)
      packet.withUnsafeBytes { frame.suffix(from: EthernetHeader.minimumLength).copyMemory(from: $0) }
    }
  }
}
