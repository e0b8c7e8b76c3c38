// IP forwarding: the stack as a router, for a `PacketForwarder` (a firewall) that decides.
// The forwarder sees every IPv4 packet that arrives whole (fragments are put together first,
// as Linux's connection tracking does) before the stack asks whether it is its own, and every
// IPv6 packet to a global address that is not the stack's; what it hands back to
// `Router.forward` leaves by the routing table with its TTL or hop limit one less, the next
// hop resolved by ARP or neighbour discovery (the packet waits in their queues meanwhile),
// and the ICMP errors a router sends when it cannot. On devices with offloads, a TCP segment
// of up to 64 KiB that the sender's kernel left uncut (or a checksum left to complete) is
// forwarded whole with that work pending, as Linux forwards a GSO packet; a path that cannot
// take it whole (a device without the offload, an MTU below its segments, a next hop still
// unresolved) gets it cut here into the segments it stands for, each forwarded alone.
//
// Read first: RFC 1812 5.2-5.3 (forwarding IPv4: TTL, fragmentation, what is never
// forwarded), 4.3.2 (ICMP errors: which, quoting what, rate limited), RFC 8200 3 and RFC 4443
// 3.2-3.3 (IPv6: hop limit, Packet Too Big; a router never fragments), RFC 4291 2.5.6 (link-
// local addresses are never forwarded).

import SiroccoDevices
import SiroccoWire

/// What a router or firewall built on the stack uses of it: the links, the routing table's
/// answer for a destination, and forwarding itself.
public protocol Router: AnyObject {
  /// The links, in the order they were attached (`Link.index`).
  var links: [Link] { get }
  /// What decides on the packets crossing the stack; nil: none cross it.
  var forwarder: (any PacketForwarder)? { get set }
  /// What the stack counted, forwarding included.
  var counters: NetworkCounters { get }
  /// The link a packet to `destination` leaves on; nil: no route.
  func outgoingLink(to destination: IPAddress, now: Instant) -> Link?
  /// Sends on an IP packet (header first, either family) that arrived on `link`: routed to
  /// `destination` (its destination after any translation), the copy `rewrite` changes on its
  /// way out (the IPv4 header checksum is recomputed after it), TTL or hop limit one less.
  /// `rewrite`'s second argument says the transport checksum is partial: the field holds the
  /// pseudo-header's sum, which the outgoing device completes over the segment (an address
  /// change is patched into it, a port change is not). Sends the ICMP error a router owes
  /// when it cannot (time exceeded, no route, too big).
  @discardableResult
  func forward(
    _ packet: UnsafeRawBufferPointer, to destination: IPAddress, arrivedOn link: Link, now: Instant,
    rewrite: (UnsafeMutableRawBufferPointer, _ partialChecksum: Bool) -> Void
  ) -> ForwardingResult
}

/// What became of a forwarded packet.
public enum ForwardingResult: Equatable, Sendable {
  /// Sent, or queued while the next hop's link-layer address is found.
  case sent
  /// Its TTL or hop limit ran out (ICMP time exceeded sent back).
  case timeExceeded
  /// No route to its destination (ICMP unreachable sent back).
  case noRoute
  /// Larger than the outgoing MTU and not to be fragmented (ICMP fragmentation needed or
  /// Packet Too Big sent back).
  case tooBig
  /// Dropped by the link (transmit failed, or the ARP or neighbour queue full): counted.
  case dropped
}

/// Decides what becomes of the IP packets that cross the stack (a firewall, a NAT).
public protocol PacketForwarder: AnyObject {
  /// Takes an IP packet that arrived on `link`, header first (`frame`: the Ethernet frame it
  /// came in, nil for a datagram put together from fragments). Returns true when it took the
  /// packet (forwarded it through the stack's `Router.forward`, or dropped it); false leaves
  /// it to the stack, which treats it as a host would: its own, or dropped as not for it.
  func receive(_ packet: UnsafeRawBufferPointer, frame: UnsafeRawBufferPointer?, on link: Link, now: Instant) -> Bool
}

extension Stack {
  /// Reads one frame from `link`'s device for a stack with a forwarder: with its offload
  /// work pending, to forward it whole, on a device with offloads.
  func receiveForwarding(on link: Link, now: Instant) -> Bool {
    let device = devices[link.index]
    guard device.offloads.contains(.transmitChecksum) else { return receive(from: device, on: link, now: now) }
    return device.receive(forwarding: { frame, pending in
      framePending = pending
      frameChecksumVerified = pending != nil
      process(frame: frame, link: link, now: now)
      framePending = nil
    })
  }
}

extension Stack: Router {
  public func outgoingLink(to destination: IPAddress, now: Instant) -> Link? {
    guard let route = routes.lookup(destination, now: now), route.link < links.count else { return nil }
    return links[route.link]
  }

  @discardableResult
  public func forward(
    _ packet: UnsafeRawBufferPointer, to destination: IPAddress, arrivedOn link: Link, now: Instant,
    rewrite: (UnsafeMutableRawBufferPointer, _ partialChecksum: Bool) -> Void
  ) -> ForwardingResult {
    // Work pending only on the frame being processed itself (not a copy, not a datagram put
    // together from fragments).
    if let pending = framePending, let frame, packet.baseAddress == frame.baseAddress.map({ $0 + EthernetHeader.minimumLength }) {
      framePending = nil
      if let result = forwardWhole(packet, pending: pending, to: destination, arrivedOn: link, now: now, rewrite: rewrite) {
        return result
      }
      // Cut here: each segment forwarded alone, with a checksum of its own.
      counters.forwardedCutHere &+= 1
      var result = ForwardingResult.sent
      SoftwareOffload.finish(frame, pending) { piece in
        let forwarded = forward(
          piece.suffix(from: EthernetHeader.minimumLength), to: destination, arrivedOn: link, now: now, rewrite: rewrite)
        if result == .sent { result = forwarded }
      }
      return result
    }
    switch destination {
    case .v4(let address): return forward4(packet, to: address, now: now, rewrite: rewrite)
    case .v6(let address): return forward6(packet, to: address, arrivedOn: link, now: now, rewrite: rewrite)
    }
  }

  /// Forwards a frame's packet whole with its offload work `pending` when the way out takes
  /// it so: a route, a device with the offload, segments within the MTU, the next hop's
  /// address known. Nil: cut it here (or let the one-at-a-time path answer: no route, TTL).
  func forwardWhole(
    _ packet: UnsafeRawBufferPointer, pending: TransmitOffload, to destination: IPAddress, arrivedOn link: Link, now: Instant,
    rewrite: (UnsafeMutableRawBufferPointer, _ partialChecksum: Bool) -> Void
  ) -> ForwardingResult? {
    let ipv4 = destination.ipv4 != nil
    guard packet.readUInt8(at: ipv4 ? 8 : 7) > 1, let route = routes.route(to: destination, now: now), route.link < links.count else {
      return nil
    }
    let out = links[route.link]
    // The largest packet it becomes: the headers every segment repeats and one segment.
    let largest = pending.segmentSize > 0 ? pending.headerLength - EthernetHeader.minimumLength + pending.segmentSize : packet.count
    guard devices[out.index].accepts(pending), largest <= (ipv4 ? out.ipv4MTU : out.ipv6MTU) else { return nil }
    let sent: Bool
    if let hop = (route.gateway ?? destination).ipv4 {
      guard let hardware = hardwareAddress(of: hop, on: out, now: now) else { return nil }
      sent = transmit(packet, to: hardware, on: out, etherType: .ipv4, offload: pending) { copy in
        Self.leave4(copy, partialChecksum: true, rewrite: rewrite)
      }
      if sent { counters.ipv4Forwarded &+= 1 }
    } else {
      guard let hop = (route.gateway ?? destination).ipv6, let hardware = hardwareAddress(of: hop, on: out, now: now) else { return nil }
      sent = transmit(packet, to: hardware, on: out, etherType: .ipv6, offload: pending) { copy in
        Self.leave6(copy, partialChecksum: true, rewrite: rewrite)
      }
      if sent { counters.ipv6Forwarded &+= 1 }
    }
    guard sent else { return .dropped }
    counters.forwardedWhole &+= 1
    return .sent
  }

  func forward4(
    _ packet: UnsafeRawBufferPointer, to destination: IPv4Address, now: Instant,
    rewrite: (UnsafeMutableRawBufferPointer, _ partialChecksum: Bool) -> Void
  ) -> ForwardingResult {
    let source = IPv4Address.read(from: packet, at: 12)
    guard packet.readUInt8(at: 8) > 1 else {
      counters.drop(.timeExceeded)
      sendICMPError(.timeExceeded(code: 0), quoting: packet, to: source, now: now)
      return .timeExceeded
    }
    guard let route = routes.route(to: .v4(destination), now: now), route.link < links.count else {
      counters.drop(.noRoute)
      sendICMPError(.destinationUnreachable(code: .network, nextHopMTU: 0), quoting: packet, to: source, now: now)
      return .noRoute
    }
    let out = links[route.link]
    let hop = route.gateway?.ipv4 ?? destination
    func finish(_ copy: UnsafeMutableRawBufferPointer) { Self.leave4(copy, partialChecksum: false, rewrite: rewrite) }
    if packet.count > out.ipv4MTU {
      // RFC 1812 5.2.6-5.2.7: fragmented unless Don't Fragment says no.
      guard packet.readUInt16(at: 6) & 0x4000 == 0 else {
        counters.drop(.oversized)
        sendICMPError(
          .destinationUnreachable(code: .fragmentationNeeded, nextHopMTU: UInt16(out.ipv4MTU)), quoting: packet, to: source,
          now: now)
        return .tooBig
      }
      let whole = finished(packet, finish)
      guard let header = whole.withUnsafeBytes({ try? IPv4Header.parse($0, verifyChecksum: false) }) else {
        counters.drop(.malformedIPv4)
        return .dropped
      }
      // The pieces carry the fixed header only (options are not copied: RFC 791 allows it
      // for all but a few, which Sirocco never forwards).
      let sent = sendFragments(of: header, to: hop, on: out, now: now, offload: nil) { body in
        whole.withUnsafeBytes { body.copyMemory(from: $0.suffix(from: header.headerLength)) }
      }
      if sent { counters.ipv4Forwarded &+= 1 }
      return sent ? .sent : .dropped
    }
    let sent =
      if let hardware = hardwareAddress(of: hop, on: out, now: now) {
        transmit(packet, to: hardware, on: out, etherType: .ipv4, finish: finish)
      } else {
        deliver(finished(packet, finish), to: hop, on: out, now: now)
      }
    guard sent else { return .dropped }
    counters.ipv4Forwarded &+= 1
    return .sent
  }

  func forward6(
    _ packet: UnsafeRawBufferPointer, to destination: IPv6Address, arrivedOn link: Link, now: Instant,
    rewrite: (UnsafeMutableRawBufferPointer, _ partialChecksum: Bool) -> Void
  ) -> ForwardingResult {
    let source = IPv6Address.read(from: packet, at: 8)
    guard packet.readUInt8(at: 7) > 1 else {
      counters.drop(.timeExceeded)
      sendICMPv6Error(.timeExceeded(code: 0), quoting: packet, to: source, via: link, now: now)
      return .timeExceeded
    }
    guard let route = routes.route(to: .v6(destination), now: now), route.link < links.count else {
      counters.drop(.noRoute)
      sendICMPv6Error(.destinationUnreachable(code: .noRoute), quoting: packet, to: source, via: link, now: now)
      return .noRoute
    }
    let out = links[route.link]
    let hop = route.gateway?.ipv6 ?? destination
    let mtu = out.ipv6MTU
    func finish(_ copy: UnsafeMutableRawBufferPointer) { Self.leave6(copy, partialChecksum: false, rewrite: rewrite) }
    if packet.count > mtu {
      // A packet put together from fragments leaves in fragments again (as Linux does after
      // its connection tracking reassembled it); any other is the sender's to make smaller.
      guard frame == nil else {
        counters.drop(.oversized)
        sendICMPv6Error(.packetTooBig(mtu: UInt32(mtu)), quoting: packet, to: source, via: link, now: now)
        return .tooBig
      }
      let whole = finished(packet, finish)
      guard let header = whole.withUnsafeBytes({ try? IPv6Header.parse($0) }) else {
        counters.drop(.malformedIPv6)
        return .dropped
      }
      let sent = sendFragments6(of: header, hop: hop, on: out, mtu: mtu, now: now) { body in
        whole.withUnsafeBytes { body.copyMemory(from: $0.suffix(from: IPv6Header.length)) }
      }
      if sent { counters.ipv6Forwarded &+= 1 }
      return sent ? .sent : .dropped
    }
    let sent =
      if let hardware = hardwareAddress(of: hop, on: out, now: now) {
        transmit(packet, to: hardware, on: out, etherType: .ipv6, finish: finish)
      } else {
        deliver6(finished(packet, finish), to: hop, on: out, now: now)
      }
    guard sent else { return .dropped }
    counters.ipv6Forwarded &+= 1
    return .sent
  }

  /// An IPv4 packet's copy as it leaves: rewritten, TTL one less, header checksum recomputed.
  static func leave4(
    _ copy: UnsafeMutableRawBufferPointer, partialChecksum: Bool, rewrite: (UnsafeMutableRawBufferPointer, Bool) -> Void
  ) {
    rewrite(copy, partialChecksum)
    copy[8] -= 1
    let headerLength = Int(copy[0] & 0xf) * 4
    copy.writeUInt16(0, at: 10)
    copy.writeUInt16(InternetChecksum.compute(UnsafeRawBufferPointer(copy.slice(from: 0, length: headerLength))), at: 10)
  }

  /// An IPv6 packet's copy as it leaves: rewritten, hop limit one less.
  static func leave6(
    _ copy: UnsafeMutableRawBufferPointer, partialChecksum: Bool, rewrite: (UnsafeMutableRawBufferPointer, Bool) -> Void
  ) {
    rewrite(copy, partialChecksum)
    copy[7] -= 1
  }

  /// `packet` as it leaves, `finish`ed, in an array of its own (to queue, or to fragment).
  func finished(_ packet: UnsafeRawBufferPointer, _ finish: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
    var copy = [UInt8](repeating: 0, count: packet.count)
    copy.withUnsafeMutableBytes { bytes in
      bytes.copyMemory(from: packet)
      finish(bytes)
    }
    return copy
  }

  /// Sends `packet` to `hardware` on `out`, copied straight into the device's buffer behind
  /// an Ethernet header and `finish`ed there.
  func transmit(
    _ packet: UnsafeRawBufferPointer, to hardware: MACAddress, on out: Link, etherType: EtherType,
    offload: TransmitOffload? = nil, finish: (UnsafeMutableRawBufferPointer) -> Void
  ) -> Bool {
    transmit(on: out, length: EthernetHeader.minimumLength + packet.count, offload: offload) { frame in
      EthernetHeader(destination: hardware, source: out.macAddress, etherType: etherType).emit(into: frame)
      let copy = frame.suffix(from: EthernetHeader.minimumLength)
      copy.copyMemory(from: packet)
      finish(copy)
    }
  }
}
