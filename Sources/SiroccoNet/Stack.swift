// The stack: the links (one per network device), the routing table across them, IPv4 and
// its ICMP, and the sockets (TCP, UDP) over them. Receives and dispatches frames, answers ARP
// and echo requests, and sends what its sockets queued on the link each route picks.
//
// Poll-driven, after smoltcp: the core never reads a clock and never blocks. The caller
// passes the time to `poll`, and asks `pollAt` when it must be polled next. The stack owns
// its devices (`Device` is the platform's network device type), so nothing below it takes a
// device argument; sockets never hold a reference to the stack (see SocketContext.swift).

import SiroccoDevices
import SiroccoWire

/// What the stack as a whole is configured with (each link has its own `Link.Configuration`).
public struct StackConfiguration: Sendable {
  public var timeToLive: UInt8 = 64
  /// Verify IPv4, ICMP and UDP checksums on input (off only for fuzzing).
  public var verifyChecksums = true
  /// ICMP errors sent per second at most (token bucket, RFC 1812 4.3.2.8), and the burst.
  public var icmpErrorRate = 100
  public var icmpErrorBurst = 50
  /// Bounds on IPv4 fragment reassembly (datagrams, bytes, fragments, timeout).
  public var reassembly = FragmentReassembly<IPv4FragmentKey>.Configuration()
  /// TCP connections held at most, in every state (a global memory bound).
  public var maximumTCPConnections = 4096
  /// Bytes all TCP connections together hold at most in their buffers: received and not
  /// yet read, out of order, written and not yet acknowledged (a global memory bound).
  public var tcpMemoryLimit = 64 << 20
  /// Challenge ACKs (RFC 5961) sent per second over all connections, on average: each
  /// second's budget is drawn at random between half and one and a half times this, so
  /// an off-path attacker cannot count them to learn of a connection (CVE-2016-5696).
  public var challengeACKLimit = 1000

  public init() {}
}

public final class Stack<Device: NetworkDevice> {
  public let configuration: StackConfiguration
  /// The links, in the order they were attached; `links[i]` sends and receives on `devices[i]`.
  public private(set) var links: [Link] = []
  public private(set) var devices: [Device] = []
  public internal(set) var routes = RoutingTable()
  /// DNS servers given by configuration (`--dns-server=`), asked before those DHCP and router
  /// advertisements give (`dnsServers`).
  public var configuredDNSServers: [IPAddress] = []
  let context: SocketContext

  /// The stack's counters: every link's traffic, and what the protocols did and dropped.
  public internal(set) var counters: NetworkCounters {
    _read { yield context.counters }
    _modify { yield &context.counters }
  }

  var random: SplitMix64
  /// Bytes in every TCP connection's buffers (see `StackConfiguration.tcpMemoryLimit`).
  public var tcpBufferedBytes: Int { context.tcpBufferedBytes }
  /// The bound on them, which may be changed at run time.
  public var tcpMemoryLimit: Int {
    get { context.tcpMemoryLimit }
    set { context.tcpMemoryLimit = newValue }
  }
  /// Decides on the packets that cross the stack (a firewall): see Stack+Forwarding.swift.
  /// Nil: the stack is a host, and drops what is not its own.
  public var forwarder: (any PacketForwarder)? {
    didSet { receiveForwarding = forwarder == nil ? nil : { stack, link, now in stack.receiveForwarding(on: link, now: now) } }
  }
  /// How a stack with a forwarder reads a device (frames with their offload work pending);
  /// set with the forwarder, so that a host's image links none of it.
  var receiveForwarding: ((Stack, Link, Instant) -> Bool)?
  /// The frame being processed, for the forwarder (nil while a reassembled datagram is).
  var frame: UnsafeRawBufferPointer?
  /// The device vouched for the transport checksum of the frame being processed.
  var frameChecksumVerified = false
  /// The offload work the frame being processed still carries (a forwarding stack's, on a
  /// device with offloads): a checksum to complete, a TCP segment to cut.
  var framePending: TransmitOffload?
  /// Whether the transport checksum of the frame being processed must be verified.
  var verifyTransportChecksum: Bool { configuration.verifyChecksums && !frameChecksumVerified }
  var identification: UInt16
  var icmpTokens: Int
  var icmpRefilled: Instant?
  var udpSockets: [UInt16: UDPSocket] = [:]
  var tcpListeners: [UInt16: TCPListener] = [:]
  var tcpConnections: [TCPEndpoints: TCPConnection] = [:]
  /// The connections by when their timers come due (TimerWheel.swift), and a time no later
  /// than the earliest of those deadlines.
  var tcpTimers = TimerWheel<TCPConnection>()
  var nextTCPDeadline: Instant?
  /// Cookie SYN-ACKs to send: no connection exists for them (see SYNCookies.swift).
  var pendingCookies: [(endpoints: TCPEndpoints, sequence: UInt32, acknowledgment: UInt32, mss: UInt16)] = []
  /// The secret of RFC 6528's ISN function, drawn from the seed.
  let tcpSecret: (UInt64, UInt64)
  /// Datagrams arriving in fragments.
  var reassembly: FragmentReassembly<IPv4FragmentKey>
  var reassemblyEvictionsCounted = 0
  var reassembly6: FragmentReassembly<IPv6FragmentKey>
  var reassembly6EvictionsCounted = 0
  /// The identification of the next IPv6 fragmented packet (RFC 7739: not predictable).
  var identification6: UInt32
  /// Path MTUs learnt from ICMPv6 Packet Too Big (RFC 8201).
  public internal(set) var pathMTUs = PathMTUCache()

  /// - Parameter seed: random bits from the platform's entropy source (ephemeral ports,
  ///   IP identification, initial sequence numbers).
  public init(configuration: StackConfiguration = StackConfiguration(), seed: UInt64) {
    self.configuration = configuration
    var random = SplitMix64(seed: seed)
    self.identification = UInt16(truncatingIfNeeded: random.next())
    self.tcpSecret = (random.next(), random.next())
    self.context = SocketContext(
      tcpMemoryLimit: configuration.tcpMemoryLimit, challengeACKLimit: configuration.challengeACKLimit, seed: random.next())
    self.random = random
    self.icmpTokens = configuration.icmpErrorBurst
    self.reassembly = FragmentReassembly(configuration: configuration.reassembly)
    var reassembly6 = FragmentReassembly<IPv6FragmentKey>.Configuration()
    reassembly6.timeout = configuration.reassembly.timeout
    reassembly6.maximumDatagrams = configuration.reassembly.maximumDatagrams
    reassembly6.maximumBytes = configuration.reassembly.maximumBytes
    reassembly6.maximumFragments = configuration.reassembly.maximumFragments
    reassembly6.maximumLength = 65535
    self.reassembly6 = FragmentReassembly(configuration: reassembly6)
    self.identification6 = UInt32(truncatingIfNeeded: self.random.next())
  }

  deinit { context.release() }

  /// Adds a link for `device`; it has no address until one is added.
  /// - Precondition: `configuration.mtu >= Link.minimumMTU`: a programming error otherwise
  ///   (platforms refuse such a device with one line before the stack exists).
  @discardableResult
  public func attach(_ device: Device, configuration: Link.Configuration) -> Link {
    precondition(configuration.mtu >= Link.minimumMTU, "a link must carry 576-byte packets (RFC 791)")
    let link = Link(index: links.count, configuration: configuration, seed: random.next(), now: .zero)
    links.append(link)
    devices.append(device)
    var smallest = Int.max
    for link in links { smallest = min(smallest, link.mtu) }
    context.udpMaximumPayload = (smallest - IPv4Header.minimumLength - UDPHeader.length, smallest - 40 - UDPHeader.length)
    return link
  }

  /// The link named `name`, if any.
  public func link(named name: String) -> Link? { links.first { $0.name.utf8Equals(name) } }

  // MARK: Addresses and routes

  /// Adds `network`'s address to `link`, with a connected route to the network. An IPv4
  /// address is announced (gratuitous ARP) from the next poll.
  public func add(_ network: IPv4Network, to link: Link) {
    guard !link.ipv4.contains(network) else { return }
    link.ipv4.append(network)
    link.generation += 1
    try? routes.add(Route(destination: .v4(network), link: link.index, origin: .connected))
    link.announcementsSent = 0
    link.nextAnnouncement = nil
  }

  /// Removes `address` from `link`, with its connected route (unless another address on
  /// the link has the same network). TCP connections from it are reset: they cannot go on
  /// (RFC 9293 3.10.7.1 gives no other choice once the address is gone); UDP sockets stay.
  public func remove(_ address: IPv4Address, from link: Link) {
    guard let index = link.ipv4.firstIndex(where: { $0.address == address }) else { return }
    addressRemoved(.v4(link.ipv4.remove(at: index)), from: link)
  }

  /// What follows an address leaving `link` (either family): its connected route goes unless
  /// another address of the link is on the same network; unless the link still holds the
  /// address under another prefix, TCP connections from it are reset
  /// (`TCPError.addressRemoved`) and packets from it waiting for ARP or neighbour discovery
  /// are dropped (`source-removed`).
  func addressRemoved(_ removed: IPNetwork, from link: Link) {
    link.generation += 1
    let network = removed.normalized
    if !link.addresses.contains(where: { $0.normalized == network }) {
      routes.remove { $0.link == link.index && $0.origin == .connected && $0.destination == network }
    }
    // The same address under another prefix is still the link's: nothing from it goes.
    guard !link.addresses.contains(where: { $0.address == removed.address }) else { return }
    for connection in Array(tcpConnections.values) where connection.endpoints.localAddress == removed.address {
      connection.enterClosed(error: .addressRemoved)
    }
    forgetClosedConnections()
    counters.drop(.sourceRemoved, count: link.discardPackets(from: removed.address))
  }

  /// Sets the default gateway of `gateway`'s family on `link` (replacing any other default
  /// route of that family from `origin`), or removes it (nil, with `family` naming it).
  public func setDefaultGateway(_ gateway: IPv4Address?, on link: Link, origin: Route.Origin = .configured) {
    let everything = IPNetwork.v4(IPv4Network(address: IPv4Address(0, 0, 0, 0), prefixLength: 0))
    routes.remove { $0.destination == everything && $0.origin == origin }
    if let gateway { try? routes.add(Route(destination: everything, gateway: .v4(gateway), link: link.index, origin: origin)) }
  }

  /// Adds `network`'s address to `link` as a manual IPv6 address (`--ipv6`): tentative until
  /// duplicate address detection is done, then in use, with a connected route to its prefix.
  /// Starts IPv6 on the link if it had not started.
  public func add(_ network: IPv6Network, to link: Link, now: Instant) throws(AddressConfiguration.Error) {
    startIPv6(on: link, now: now)
    apply(try link.addressConfiguration.add(network, now: now), on: link, now: now)
  }

  /// Sets the IPv6 default gateway on `link` (`--ipv6-gateway`), or removes it (nil).
  public func setDefaultGateway(_ gateway: IPv6Address?, on link: Link, origin: Route.Origin = .configured) {
    let everything = IPNetwork.v6(IPv6Network(address: .unspecified, prefixLength: 0))
    routes.remove { $0.destination == everything && $0.origin == origin }
    if let gateway { try? routes.add(Route(destination: everything, gateway: .v6(gateway), link: link.index, origin: origin)) }
  }

  /// Adds a route (a more specific one than the default, say); see `RoutingTable.add`.
  public func addRoute(_ route: Route) throws(RouteError) {
    guard route.link >= 0, route.link < links.count else { throw .noSuchLink }
    try routes.add(route)
  }

  // MARK: Polling

  /// Handles up to each link's `receiveBudget` received frames, then sends whatever is due:
  /// queued datagrams, ARP retries, announcements, TCP. Returns true when a budget ran out
  /// (more frames may be waiting: poll again without sleeping).
  @discardableResult
  public func poll(now: Instant) -> Bool {
    var busy = false
    for link in links {
      let device = devices[link.index]
      announce(on: link, now: now)
      if link.dhcp != nil { runDHCP(on: link, now: now) }
      if link.configuration.ipv6 { runIPv6Timers(on: link, now: now) }
      var handled = 0
      let budget = link.configuration.receiveBudget
      while handled < budget {
        let received =
          if let receiveForwarding { receiveForwarding(self, link, now) } else { receive(from: device, on: link, now: now) }
        guard received else { break }
        handled += 1
      }
      if handled == budget { busy = true }
    }
    flush(now: now)
    return busy
  }

  /// Reads one frame from `device` (`link`'s) and handles it; false when none waited.
  func receive(from device: Device, on link: Link, now: Instant) -> Bool {
    device.receive(offloaded: { frame, checksumVerified in
      frameChecksumVerified = checksumVerified
      process(frame: frame, link: link, now: now)
    })
  }

  /// Sends what sockets queued and what ARP has due, without reading the devices.
  public func flush(now: Instant) {
    if let due = reassembly.nextDeadline, due <= now { expireFragments(now: now) }
    if let due = reassembly6.nextDeadline, due <= now { expireFragments6(now: now) }
    if let due = routes.nextDeadline, due <= now { _ = routes.expire(now: now) }
    for link in links {
      if !link.releasedPackets6.isEmpty {
        let released = link.releasedPackets6
        link.releasedPackets6 = []
        for entry in released { transmitIPv6(entry.packet, to: entry.macAddress, on: link) }
      }
      let (retry, unresolved) = link.arp.due(now: now)
      counters.drop(.arpUnresolved, count: unresolved)
      for address in retry { sendARPRequest(for: address, on: link) }
      if !link.probesToSend.isEmpty {
        for address in link.probesToSend { sendARPRequest(for: address, on: link) }
        link.probesToSend = []
      }
      if !link.releasedPackets.isEmpty {
        let released = link.releasedPackets
        link.releasedPackets = []
        for entry in released { transmitIPv4(entry.packet, to: entry.macAddress, on: link) }
      }
    }
    if !context.udpTransmitReady.isEmpty { flushUDP(now: now) }
    if !context.tcpTransmitReady.isEmpty || !context.pendingResets.isEmpty || !pendingCookies.isEmpty
      || !context.closedConnections.isEmpty || nextTCPDeadline.map({ $0 <= now }) ?? false
    {
      flushTCP(now: now)
    }
  }

  /// When the stack next needs a `poll` even if no frame arrives: now, if sockets have
  /// something queued; nil if nothing is pending at all.
  public func pollAt(now: Instant) -> Instant? {
    if hasPendingTransmit { return now }
    var deadline = nextTCPDeadline
    for next in [reassembly.nextDeadline, reassembly6.nextDeadline, routes.nextDeadline] {
      if let next { deadline = deadline.map { min($0, next) } ?? next }
    }
    for link in links {
      if let arp = link.arp.nextDeadline { deadline = deadline.map { min($0, arp) } ?? arp }
      if let dhcp = link.dhcp?.nextDeadline { deadline = deadline.map { min($0, dhcp) } ?? dhcp }
      if let next = ipv6Deadline(of: link, now: now) { deadline = deadline.map { min($0, next) } ?? next }
      if link.announcementsSent < link.configuration.announcements, !link.ipv4.isEmpty {
        let next = link.nextAnnouncement ?? now
        deadline = deadline.map { min($0, next) } ?? next
      }
    }
    return deadline
  }

  public var hasPendingTransmit: Bool {
    if !context.udpTransmitReady.isEmpty || !context.tcpTransmitReady.isEmpty || !context.pendingResets.isEmpty
      || !pendingCookies.isEmpty
    {
      return true
    }
    for link in links where !link.releasedPackets.isEmpty || !link.releasedPackets6.isEmpty || !link.probesToSend.isEmpty {
      return true
    }
    return false
  }

  /// Records that `address` is at `macAddress` on `link`, as a received ARP reply would
  /// (the entry expires after the configured lifetime). Packets waiting for it are sent on
  /// the next poll.
  public func addNeighbor(_ address: IPv4Address, at macAddress: MACAddress, on link: Link, now: Instant) {
    for packet in link.arp.insert(address, macAddress, now: now) { link.releasedPackets.append((packet, macAddress)) }
  }

  /// Records that the IPv6 neighbour `address` is at `macAddress` on `link`, as a Neighbor
  /// Solicitation carrying it would (STALE: confirmed by neighbour unreachability detection
  /// when used). Packets waiting for it are sent on the next poll.
  public func addNeighbor(_ address: IPv6Address, at macAddress: MACAddress, on link: Link, now: Instant) {
    let update = link.neighbors.learn(address, linkLayerAddress: macAddress, from: .neighborSolicitation, now: now)
    for packet in update.released { link.releasedPackets6.append((packet, macAddress)) }
  }

  // MARK: Receive

  func process(frame: UnsafeRawBufferPointer, link: Link, now: Instant) {
    counters.receivedFrames &+= 1
    counters.receivedBytes &+= UInt64(frame.count)
    link.counters.receivedFrames &+= 1
    link.counters.receivedBytes &+= UInt64(frame.count)
    let ethernet: EthernetHeader
    do { ethernet = try EthernetHeader.parse(frame) } catch { return counters.drop(.malformedEthernet) }
    // Ours, broadcast, or an IPv6 group's (33:33:..., RFC 2464 7; which groups is IPv6's to say).
    let destination = ethernet.destination
    guard destination == link.macAddress || destination.isBroadcast
      || (link.ipv6Started && destination.rawValue >> 32 == 0x3333)
    else {
      return counters.drop(.notForUs)
    }
    guard ethernet.vlan == nil else { return counters.drop(.vlanTagged) }
    let payload = frame.suffix(from: ethernet.headerLength)
    if forwarder != nil { self.frame = frame }
    switch ethernet.etherType {
    case .arp: processARP(payload, link: link, now: now)
    case .ipv4: processIPv4(payload, link: link, linkBroadcast: ethernet.destination.isBroadcast, now: now)
    case .ipv6 where link.ipv6Started: processIPv6(payload, link: link, now: now)
    default: counters.drop(.unknownEtherType)
    }
  }

  // MARK: Send

  /// Hands `frame` (`length` bytes, which `fill` writes) to `link`'s device, and counts it.
  @discardableResult
  func transmit(
    on link: Link, length: Int, offload: TransmitOffload? = nil, _ fill: (UnsafeMutableRawBufferPointer) -> Void
  ) -> Bool {
    let sent = devices[link.index].transmit(length: length, offload: offload, fill)
    if sent {
      counters.transmittedFrames &+= 1
      counters.transmittedBytes &+= UInt64(length)
      link.counters.transmittedFrames &+= 1
      link.counters.transmittedBytes &+= UInt64(length)
    } else {
      counters.drop(.transmitFailed)
      link.counters.transmitFailures &+= 1
    }
    return sent
  }
}
