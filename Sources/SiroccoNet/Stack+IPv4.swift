// IPv4 in the stack: what arrives on a link is checked and handed to ICMP, UDP or TCP (or
// to reassembly); what the stack sends is routed to a link and a next hop, and leaves
// whole or in fragments.
//
// Read first: RFC 791, RFC 1122 3.2.1 (what a host must check and drop), 3.3.4 (many
// interfaces: a packet to any of our addresses is ours, whatever link it came in on, and
// replies leave by the routing table: the "weak host" model Linux uses).

import SiroccoDevices
import SiroccoWire

/// Where a packet to one destination leaves: the link, the on-link next hop, our source.
struct IPv4Path {
  var link: Link
  var hop: IPv4Address
  var source: IPv4Address
}

extension Stack {
  func processIPv4(_ payload: UnsafeRawBufferPointer, link: Link, linkBroadcast: Bool, now: Instant) {
    let header: IPv4Header
    do {
      header = try IPv4Header.parse(payload, verifyChecksum: configuration.verifyChecksums)
    } catch {
      return counters.drop(error == .badChecksum ? .badIPv4Checksum : .malformedIPv4)
    }
    let source = header.source
    if source.isBroadcast || source.isMulticast || source.isLoopback || isLocal(source) || link.isDirectedBroadcast(source) {
      return counters.drop(.martianSource)
    }
    let destination = header.destination
    let isBroadcast = destination.isBroadcast || link.isDirectedBroadcast(destination)
    let packet = payload.slice(from: 0, length: header.totalLength)
    let body = packet.suffix(from: header.headerLength)
    if let forwarder, !isBroadcast, !destination.isMulticast, !linkBroadcast,
      !isDHCPReply(body, protocol: header.protocol, link: link)
    {
      // The forwarder sees whole datagrams only (as Linux's connection tracking does): ours
      // or not, fragments are put together first, and the datagram comes back here whole.
      // (Not a DHCP reply to an address the link is still acquiring: the stack's.)
      if header.isFragment {
        return reassemble(body, packet: packet, header: header, link: link, linkBroadcast: linkBroadcast, now: now)
      }
      if forwarder.receive(packet, frame: frame, on: link, now: now) { return }
    }
    guard isBroadcast || isLocal(destination) || isDHCPReply(body, protocol: header.protocol, link: link) else {
      return counters.drop(.ipv4NotForUs)
    }
    guard !header.isFragment else {
      return reassemble(body, packet: packet, header: header, link: link, linkBroadcast: linkBroadcast, now: now)
    }
    switch header.protocol {
    case .icmp: processICMP(body, header: header, isBroadcast: isBroadcast, now: now)
    case .udp:
      processUDP(
        body, packet: packet, source: .v4(source), destination: .v4(destination), isBroadcast: isBroadcast || linkBroadcast,
        link: link, now: now)
    case .tcp:
      processTCP(body, source: .v4(source), destination: .v4(destination), isBroadcast: isBroadcast || linkBroadcast, now: now)
    default:
      counters.drop(.unknownProtocol)
      if !isBroadcast, !linkBroadcast {
        sendICMPError(.destinationUnreachable(code: .protocol, nextHopMTU: 0), quoting: packet, to: source, now: now)
      }
    }
  }

  /// Whether `address` is one of ours, on any link.
  func isLocal(_ address: IPv4Address) -> Bool {
    for link in links where link.owns(address) { return true }
    return false
  }

  /// The link, next hop and source for a packet to `destination`, from the routing table;
  /// the limited broadcast leaves on the first link with an address. Nil: no route (or no
  /// address on the route's link).
  func path(to destination: IPv4Address, now: Instant) -> IPv4Path? {
    if destination.isBroadcast {
      guard let link = links.first(where: { !$0.ipv4.isEmpty }), let source = link.ipv4.first?.address else { return nil }
      return IPv4Path(link: link, hop: destination, source: source)
    }
    guard let route = routes.route(to: .v4(destination), now: now), route.link < links.count else { return nil }
    let link = links[route.link]
    let hop = route.gateway?.ipv4 ?? destination
    guard let source = link.source(for: hop) else { return nil }
    return IPv4Path(link: link, hop: hop, source: source)
  }

  /// Sends an IPv4 packet of `payloadLength` bytes that `fill` writes, routed to its link and
  /// next hop. Returns false if the packet was dropped (and counted).
  @discardableResult
  func sendIPv4(
    to destination: IPv4Address, protocol: IPProtocol, payloadLength: Int, now: Instant,
    fill: (UnsafeMutableRawBufferPointer, _ source: IPv4Address) -> Void
  ) -> Bool {
    guard let path = path(to: destination, now: now) else {
      counters.drop(.noRoute)
      return false
    }
    return sendIPv4(on: path, to: destination, protocol: `protocol`, payloadLength: payloadLength, now: now) {
      fill($0, path.source)
    }
  }

  /// Sends an IPv4 packet on `path`. Resolves the next hop with ARP, queueing the packet while
  /// it waits. Returns false if the packet was dropped (and counted).
  @discardableResult
  func sendIPv4(
    on path: IPv4Path, to destination: IPv4Address, protocol: IPProtocol, payloadLength: Int, now: Instant,
    offload: TransmitOffload? = nil, fill: (UnsafeMutableRawBufferPointer) -> Void
  ) -> Bool {
    let link = path.link
    let totalLength = IPv4Header.minimumLength + payloadLength
    // Past the MTU only for a segment the device cuts up (TSO) or a datagram sent in
    // fragments (never TCP: its segments fit the MSS), and never past 64 KiB.
    let segmented = (offload?.segmentSize ?? 0) > 0
    guard totalLength <= (segmented || `protocol` != .tcp ? 65535 : link.ipv4MTU) else {
      counters.drop(.oversized)
      return false
    }
    identification &+= 1
    let header = IPv4Header(
      totalLength: totalLength, identification: identification, dontFragment: false,
      timeToLive: configuration.timeToLive, protocol: `protocol`, source: path.source, destination: destination)
    if totalLength > link.ipv4MTU, !segmented {
      return sendFragments(of: header, to: path.hop, on: link, now: now, offload: offload, fill: fill)
    }
    if let hardware = hardwareAddress(of: path.hop, on: link, now: now) {
      return transmit(on: link, length: EthernetHeader.minimumLength + totalLength, offload: offload) { frame in
        EthernetHeader(destination: hardware, source: link.macAddress, etherType: .ipv4).emit(into: frame)
        let packet = frame.suffix(from: EthernetHeader.minimumLength)
        fill(packet.suffix(from: IPv4Header.minimumLength))
        header.emit(into: packet)
      }
    }
    // Waiting for ARP, the packet is kept whole: what the device would have finished is
    // finished here, and a segment too big to send as it is goes (TCP sends it again).
    guard totalLength <= link.ipv4MTU else {
      counters.drop(.oversized)
      return false
    }
    return deliver(packet(header, offload: offload, fill: fill), to: path.hop, on: link, now: now)
  }

  /// The whole packet `header` describes, with the payload `fill` writes; a checksum left to
  /// the device (`offload`) is completed here.
  func packet(_ header: IPv4Header, offload: TransmitOffload?, fill: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
    var packet = [UInt8](repeating: 0, count: header.totalLength)
    packet.withUnsafeMutableBytes { bytes in
      fill(bytes.suffix(from: IPv4Header.minimumLength))
      header.emit(into: bytes)
      if let offload {
        let start = offload.checksumStart - EthernetHeader.minimumLength
        InternetChecksum.complete(in: bytes, start: start, offset: offload.checksumOffset)
      }
    }
    return packet
  }
}
