// IPv6 in the stack: what arrives on a link is checked, its extension headers walked (and
// refused as RFC 8200 says), fragments put back together, and the payload handed to ICMPv6,
// UDP or TCP; what the stack sends is routed, its neighbour resolved (NDP), and sent whole or
// in fragments.
//
// Read first: RFC 8200 (the header, extension headers, fragments: 4.5), RFC 4291 (addresses,
// multicast), RFC 6724 (source choice, in Link.swift), RFC 4861 7.2.2 (a packet waits for
// address resolution), RFC 8201 (path MTU), RFC 7739 (unpredictable fragment identification).

import SiroccoDevices
import SiroccoWire

/// What identifies the fragments of one IPv6 packet (RFC 8200 4.5).
public struct IPv6FragmentKey: Hashable, Sendable {
  public var source: IPv6Address
  public var destination: IPv6Address
  public var identification: UInt32
}

/// Where an IPv6 packet to one destination leaves: the link, the next hop, our source.
struct IPv6Path {
  var link: Link
  var hop: IPv6Address
  var source: IPv6Address
}

extension Stack {
  /// Whether `address` is one of ours in use, on any link.
  func isLocal(_ address: IPv6Address) -> Bool {
    for link in links where link.owns(address) { return true }
    return false
  }

  func processIPv6(_ payload: UnsafeRawBufferPointer, link: Link, now: Instant) {
    let header: IPv6Header
    do { header = try IPv6Header.parse(payload) } catch { return counters.drop(.malformedIPv6) }
    let source = header.source
    let destination = header.destination
    // RFC 4291 2.5.2, 2.5.3, 2.7: never from a multicast or loopback address; and not from
    // us (our own multicast does not come back on these devices).
    if source.isMulticast || source.isLoopback || destination.isLoopback || destination.isUnspecified || isLocal(source) {
      return counters.drop(.martianSource)
    }
    let forUs = destination.isMulticast ? link.hasJoined(destination) : isLocal(destination)
    // A forwarder sees what is not ours and may cross links (never link-local, RFC 4291
    // 2.5.6), whole: fragments are put together first, as for IPv4.
    let forwarding = !forUs && forwarder != nil && !destination.isMulticast && !destination.isLinkLocal && !source.isLinkLocal
    guard forUs || forwarding else { return counters.drop(.ipv6NotForUs) }
    let packet = payload.slice(from: 0, length: header.totalLength)
    let body = packet.suffix(from: IPv6Header.length)
    let headers: IPv6ExtensionHeaders
    do {
      headers = try IPv6ExtensionHeaders.walk(body, nextHeader: header.nextHeader)
    } catch {
      counters.drop(.ipv6ExtensionHeader)
      if let problem = ICMPv6Message.parameterProblem(for: error, destination: destination) {
        sendICMPv6Error(problem, quoting: packet, to: source, via: link, now: now)
      }
      return
    }
    if let fragment = headers.fragment, !fragment.isAtomic {
      return reassemble6(packet, header: header, headers: headers, fragment: fragment, link: link, now: now)
    }
    if forwarding, let forwarder {
      if !forwarder.receive(packet, frame: frame, on: link, now: now) { counters.drop(.ipv6NotForUs) }
      return
    }
    dispatch6(packet, header: header, headers: headers, link: link, now: now)
  }

  /// Hands the upper-layer part of a whole packet to its protocol.
  func dispatch6(
    _ packet: UnsafeRawBufferPointer, header: IPv6Header, headers: IPv6ExtensionHeaders, link: Link, now: Instant
  ) {
    let upper = packet.suffix(from: IPv6Header.length + headers.upperLayerOffset)
    let multicast = header.destination.isMulticast
    switch headers.upperLayerProtocol {
    case .icmpv6:
      processICMPv6(upper, header: header, routerAlert: headers.routerAlert, packet: packet, link: link, now: now)
    case .udp:
      processUDP(
        upper, packet: packet, source: .v6(header.source), destination: .v6(header.destination), isBroadcast: multicast,
        link: link, now: now)
    case .tcp:
      processTCP(upper, source: .v6(header.source), destination: .v6(header.destination), isBroadcast: multicast, now: now)
    case .noNextHeader:
      counters.drop(.unknownProtocol)
    default:
      counters.drop(.unknownProtocol)
      // RFC 8200 4: a Parameter Problem code 1 at the field that named the unknown type
      // (the fixed header's, when no extension header came first).
      if headers.count == 0, !multicast {
        sendICMPv6Error(
          .parameterProblem(code: .unrecognizedNextHeader, pointer: 6), quoting: packet, to: header.source, via: link,
          now: now)
      }
    }
  }

  // MARK: Fragments

  /// Takes one received fragment; once its packet is whole, handles it as if it had arrived
  /// in one piece (the Fragment header taken out, RFC 8200 4.5).
  func reassemble6(
    _ packet: UnsafeRawBufferPointer, header: IPv6Header, headers: IPv6ExtensionHeaders, fragment: IPv6FragmentHeader,
    link: Link, now: Instant
  ) {
    let key = IPv6FragmentKey(source: header.source, destination: header.destination, identification: fragment.identification)
    let data = packet.suffix(from: IPv6Header.length + headers.upperLayerOffset)
    switch reassembly6.add(data, offset: fragment.offset, more: fragment.moreFragments, key: key, now: now, first: packet) {
    case .queued:
      counters.ipv6FragmentsQueued &+= 1
    case .refused(.badGeometry):
      counters.drop(.ipv6ExtensionHeader)
    case .refused(.overlap):
      counters.drop(.fragmentOverlap)
    case .refused(.limit):
      counters.drop(.reassemblyLimit)
    case .complete(let payload):
      counters.ipv6DatagramsReassembled &+= 1
      // The unfragmentable headers, the last of them now naming what the Fragment header did.
      let unfragmentable = headers.fragmentHeaderOffset
      var whole = header
      whole.payloadLength = unfragmentable + payload.count
      var bytes = [UInt8](repeating: 0, count: whole.totalLength)
      bytes.withUnsafeMutableBytes { buffer in
        whole.emit(into: buffer)
        let body = buffer.suffix(from: IPv6Header.length)
        body.copyMemory(from: packet.slice(from: IPv6Header.length, length: unfragmentable))
        payload.withUnsafeBytes { body.suffix(from: unfragmentable).copyMemory(from: $0) }
        if unfragmentable == 0 {
          buffer[6] = fragment.nextHeader.rawValue
        } else {
          var start = 0
          var last = 0
          while start < unfragmentable {
            last = start
            start += (Int(body[start + 1]) + 1) * 8
          }
          body[last] = fragment.nextHeader.rawValue
        }
      }
      frame = nil
      bytes.withUnsafeBytes { processIPv6($0, link: link, now: now) }
    }
    counters.drop(.reassemblyEvicted, count: reassembly6.evicted - reassembly6EvictionsCounted)
    reassembly6EvictionsCounted = reassembly6.evicted
  }

  /// Discards the packets whose time is up, with an ICMPv6 Time Exceeded (code 1) to the
  /// sender of each whose first fragment arrived (RFC 8200 4.5), unless it went to a group.
  func expireFragments6(now: Instant) {
    for expired in reassembly6.expire(now: now) {
      counters.drop(.reassemblyTimeout)
      guard let first = expired.first, !expired.key.destination.isMulticast else { continue }
      first.withUnsafeBytes { quoted in
        sendICMPv6Error(.timeExceeded(code: 1), quoting: quoted, to: expired.key.source, via: nil, now: now)
      }
    }
  }

  // MARK: Send

  /// The link, next hop and source for a packet to `destination`. Link-local and multicast
  /// destinations leave on `link` (the one a request came in on), else on the first link
  /// with IPv6; others by the routing table. Nil: no route, or no usable source.
  func path(to destination: IPv6Address, via preferred: Link?, from given: IPv6Address? = nil, now: Instant) -> IPv6Path? {
    if destination.isMulticast || destination.isLinkLocal {
      guard let link = preferred ?? links.first(where: { !$0.ipv6.isEmpty }), let source = given ?? link.source(for: destination)
      else { return nil }
      return IPv6Path(link: link, hop: destination, source: source)
    }
    guard let route = routes.route(to: .v6(destination), now: now), route.link < links.count else { return nil }
    let link = links[route.link]
    guard let source = given ?? link.source(for: destination) else { return nil }
    return IPv6Path(link: link, hop: route.gateway?.ipv6 ?? destination, source: source)
  }

  /// Sends an IPv6 packet of `payloadLength` bytes that `fill` writes (given the source
  /// chosen), routed to its link and next hop. Returns false if it was dropped (and counted).
  @discardableResult
  func sendIPv6(
    to destination: IPv6Address, via link: Link? = nil, from source: IPv6Address? = nil, nextHeader: IPProtocol,
    payloadLength: Int, hopLimit: UInt8? = nil, now: Instant,
    fill: (UnsafeMutableRawBufferPointer, _ source: IPv6Address) -> Void
  ) -> Bool {
    guard let path = path(to: destination, via: link, from: source, now: now) else {
      counters.drop(.noRoute)
      return false
    }
    let chosen = path.source
    return sendIPv6(
      on: path, to: destination, nextHeader: nextHeader, payloadLength: payloadLength, hopLimit: hopLimit, now: now
    ) { fill($0, chosen) }
  }

  /// Sends an IPv6 packet on `path`: at once when the next hop's link-layer address is known
  /// (or the destination is a group), else queued while neighbour discovery runs. Larger than
  /// the path's MTU, it leaves in fragments (never TCP, whose segments fit).
  @discardableResult
  func sendIPv6(
    on path: IPv6Path, to destination: IPv6Address, nextHeader: IPProtocol, payloadLength: Int, hopLimit: UInt8? = nil,
    now: Instant, offload: TransmitOffload? = nil, fill: (UnsafeMutableRawBufferPointer) -> Void
  ) -> Bool {
    let link = path.link
    let header = IPv6Header(
      payloadLength: payloadLength, nextHeader: nextHeader,
      hopLimit: hopLimit ?? (destination.isMulticast ? 1 : link.hopLimit), source: path.source, destination: destination)
    let mtu = mtu6(to: destination, on: link, now: now)
    // A TCP segment the device cuts up (TSO) goes whole, within 64 KiB.
    let segmented = (offload?.segmentSize ?? 0) > 0
    if segmented, header.totalLength > 65535 {
      counters.drop(.oversized)
      return false
    }
    if header.totalLength > mtu, !segmented {
      guard nextHeader != .tcp, payloadLength <= 65535 else {
        counters.drop(.oversized)
        return false
      }
      return sendFragments6(of: header, hop: path.hop, on: link, mtu: mtu, now: now, fill: fill)
    }
    if let hardware = hardwareAddress(of: path.hop, on: link, now: now) {
      return transmit(on: link, length: EthernetHeader.minimumLength + header.totalLength, offload: offload) { frame in
        EthernetHeader(destination: hardware, source: link.macAddress, etherType: .ipv6).emit(into: frame)
        let packet = frame.suffix(from: EthernetHeader.minimumLength)
        fill(packet.suffix(from: IPv6Header.length))
        header.emit(into: packet)
      }
    }
    // Waiting for neighbour discovery, the packet is kept whole: what the device would have
    // finished is finished here, and a segment too big to send as it is goes (TCP sends it
    // again).
    guard header.totalLength <= mtu else {
      counters.drop(.oversized)
      return false
    }
    return deliver6(packet6(header, offload: offload, fill: fill), to: path.hop, on: link, now: now)
  }

  /// The MTU toward `destination`: the link's, or less if a Packet Too Big said so.
  func mtu6(to destination: IPv6Address, on link: Link, now: Instant) -> Int {
    pathMTUs.mtu(to: .v6(destination), linkMTU: link.ipv6MTU, now: now)
  }

  /// The link-layer address of `hop` on `link` if it can be sent to at once: a group's, or a
  /// neighbour's in the cache (a STALE entry goes to DELAY, RFC 4861 7.3.3).
  func hardwareAddress(of hop: IPv6Address, on link: Link, now: Instant) -> MACAddress? {
    if hop.isMulticast { return MACAddress(multicast: hop) }
    return link.neighbors.sendingAddress(hop, now: now)
  }

  /// The whole packet `header` describes, with the payload `fill` writes; a checksum left to
  /// the device (`offload`) is completed here.
  func packet6(_ header: IPv6Header, offload: TransmitOffload?, fill: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
    var packet = [UInt8](repeating: 0, count: header.totalLength)
    packet.withUnsafeMutableBytes { bytes in
      fill(bytes.suffix(from: IPv6Header.length))
      header.emit(into: bytes)
      if let offload {
        InternetChecksum.complete(
          in: bytes, start: offload.checksumStart - EthernetHeader.minimumLength, offset: offload.checksumOffset)
      }
    }
    return packet
  }

  /// Sends a built packet to `hop` on `link`, at once if its address is known, else queued
  /// for neighbour discovery (a solicitation sent for a new entry). Returns false if dropped.
  func deliver6(_ packet: [UInt8], to hop: IPv6Address, on link: Link, now: Instant) -> Bool {
    if hop.isMulticast { return transmitIPv6(packet, to: MACAddress(multicast: hop), on: link) }
    switch link.neighbors.resolve(hop, packet: packet, now: now) {
    case .send(let hardware):
      return transmitIPv6(packet, to: hardware, on: link)
    case .queuedSendSolicitation:
      sendNeighborSolicitation(for: hop, unicast: nil, on: link, now: now)
    case .queued:
      break
    case .queuedDroppedOldest:
      counters.drop(.ndpQueueOverflow)
    case .tableFull:
      counters.drop(.ndpQueueOverflow)
      return false
    }
    return true
  }

  /// Sends an already built IPv6 packet to a resolved next hop.
  @discardableResult
  func transmitIPv6(_ packet: [UInt8], to hardware: MACAddress, on link: Link) -> Bool {
    transmit(on: link, length: EthernetHeader.minimumLength + packet.count) { frame in
      EthernetHeader(destination: hardware, source: link.macAddress, etherType: .ipv6).emit(into: frame)
      packet.withUnsafeBytes { frame.suffix(from: EthernetHeader.minimumLength).copyMemory(from: $0) }
    }
  }

  /// Sends the packet `header` describes in fragments of at most `mtu` (RFC 8200 4.5: the
  /// payload cut at multiples of 8 bytes behind a Fragment header, no unfragmentable
  /// extension headers here). The first fragment dropped ends the packet; returns false then.
  func sendFragments6(
    of header: IPv6Header, hop: IPv6Address, on link: Link, mtu: Int, now: Instant,
    fill: (UnsafeMutableRawBufferPointer) -> Void
  ) -> Bool {
    var whole = [UInt8](repeating: 0, count: header.payloadLength)
    whole.withUnsafeMutableBytes { fill($0) }
    identification6 &+= 1
    let piece = (mtu - IPv6Header.length - IPv6FragmentHeader.length) & ~7
    var offset = 0
    while offset < whole.count {
      let length = min(piece, whole.count - offset)
      var fragmentHeader = header
      fragmentHeader.nextHeader = .ipv6Fragment
      fragmentHeader.payloadLength = IPv6FragmentHeader.length + length
      let fragment = IPv6FragmentHeader(
        nextHeader: header.nextHeader, offset: offset, moreFragments: offset + length < whole.count,
        identification: identification6)
      var bytes = [UInt8](repeating: 0, count: fragmentHeader.totalLength)
      bytes.withUnsafeMutableBytes { buffer in
        fragmentHeader.emit(into: buffer)
        fragment.emit(into: buffer.suffix(from: IPv6Header.length))
        whole.withUnsafeBytes {
          buffer.suffix(from: IPv6Header.length + IPv6FragmentHeader.length).copyMemory(from: $0.slice(from: offset, length: length))
        }
      }
      let drops = counters.totalDrops
      guard deliver6(bytes, to: hop, on: link, now: now), counters.totalDrops == drops else { return false }
      counters.ipv6FragmentsSent &+= 1
      offset += length
    }
    return true
  }
}
