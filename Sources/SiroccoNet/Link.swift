// A link: one network device as the stack sees it. Its Ethernet address and MTU, the
// addresses it holds (a list that changes while the unikernel runs: boot parameters, DHCP
// leases, SLAAC), its neighbour cache (ARP) and its own counters. The stack owns its links
// and polls each with its device; what arrives on a link is handed to the stack's IP layer,
// and what the stack sends leaves on the link its routing table picks.
//
// Read first: RFC 826 (ARP), RFC 5227 (announcements), RFC 1122 3.3.4 (a host with many
// interfaces), smoltcp's `iface::Interface` (the link layer kept apart from the sockets).

import SiroccoDevices
import SiroccoWire

public final class Link {
  public struct Configuration: Sendable {
    /// The device's name in the application's declaration ("service").
    public var name: String
    public var macAddress: MACAddress
    /// The largest IP packet sent or accepted.
    public var mtu: Int
    public var arp = ARPCache.Configuration()
    /// Gratuitous ARP announcements when an IPv4 address is added, and the time between
    /// them (RFC 5227 2.3).
    public var announcements = 2
    public var announcementInterval: Duration = .seconds(2)
    /// Frames handled by one `poll` before it moves on, so one busy device cannot starve the rest.
    public var receiveBudget = 64
    /// IPv6 on the link (a link-local address, NDP, MLD); off with `--ipv4-only`.
    public var ipv6 = true
    /// Router Advertisements are taken (SLAAC, default routers, on-link prefixes, MTU).
    public var acceptRouterAdvertisements = true
    public var neighbors = NeighborCache.Configuration()
    /// Duplicate address detection probes, router solicitations, and how interface
    /// identifiers are made (nil: RFC 7217 stable ones, keyed from the stack's seed).
    public var duplicateAddressDetectionTransmits = 1
    public var routerSolicitations = 3
    public var interfaceIdentifiers: AddressConfiguration.InterfaceIdentifiers?

    public init(name: String, macAddress: MACAddress, mtu: Int = 1500) {
      self.name = name
      self.macAddress = macAddress
      self.mtu = mtu
    }
  }

  /// The least MTU a link works with: IPv4 hosts must take 576-byte datagrams (RFC 791,
  /// 1122 3.3.3). Platforms refuse a smaller device with one line before starting.
  public static let minimumMTU = 576

  /// The link's position in the stack (routes name links by it).
  public let index: Int
  public let configuration: Configuration
  public var name: String { configuration.name }
  public var macAddress: MACAddress { configuration.macAddress }
  /// The device's MTU: the largest frame payload it carries.
  public var mtu: Int { configuration.mtu }
  /// The link's IPv4 MTU: the device's, or less if a DHCP lease says so (RFC 2132 5.1).
  public internal(set) var ipv4MTU: Int
  /// The IPv4 addresses on the link, each with its on-link network, oldest first: the first
  /// is the source of packets to destinations none of them contains.
  public internal(set) var ipv4: [IPv4Network] = []
  public internal(set) var counters = LinkCounters()
  public internal(set) var arp: ARPCache
  /// Moves on whenever an address is added to or removed from the link (for logs).
  public internal(set) var generation = 0
  /// The DHCPv4 client, when the link takes its IPv4 address from a server (Stack+DHCP.swift).
  public internal(set) var dhcp: DHCPClient?

  // IPv6 (Stack+IPv6.swift, Stack+ICMPv6.swift).
  /// The IPv6 addresses the link uses: DAD done, preferred or deprecated (tentative ones are
  /// in `addressConfiguration` only), each with its prefix length.
  public internal(set) var ipv6: [IPv6Network] = []
  /// SLAAC and DAD for every IPv6 address on the link (RFC 4862), link-local included.
  public internal(set) var addressConfiguration: AddressConfiguration
  /// The IPv6 neighbour cache (RFC 4861 7.3).
  public internal(set) var neighbors: NeighborCache
  /// Multicast groups joined (all-nodes always; the solicited-node group of every address).
  public internal(set) var groups: [IPv6Address] = []
  /// The link's IPv6 MTU: the device's, or less if a Router Advertisement says so.
  public internal(set) var ipv6MTU: Int
  /// Recursive DNS servers from Router Advertisements (RFC 8106), newest last.
  public internal(set) var ipv6DNSServers: [IPv6Address] = []
  /// Hop limit for unicast packets (a Router Advertisement's Cur Hop Limit, else 64).
  var hopLimit: UInt8 = 64
  var ipv6Started = false
  /// MLD reports still to send for groups joined (RFC 3810 6.1: robustness, 2 in all).
  var pendingReports: [IPv6Address] = []
  var nextReport: Instant?
  var reportRounds = 0
  /// A general query's answer is due then (RFC 3810 6.2: a random delay).
  var queryResponse: Instant?
  /// IPv6 packets resolved outside `poll`, sent by `flush`.
  var releasedPackets6: [(packet: [UInt8], macAddress: MACAddress)] = []

  var announcementsSent = 0
  var nextAnnouncement: Instant?
  /// Conflict probes (`probe(_:)`): each address asked about, and who has claimed it since.
  var probes: [(address: IPv4Address, claimant: MACAddress?)] = []
  /// Probes whose ARP request `flush` still has to send.
  var probesToSend: [IPv4Address] = []
  /// Probes watched at once; the oldest is forgotten past this.
  public static let probeCapacity = 64
  /// Packets whose next hop was resolved outside `poll` (by `addNeighbor`), sent by `flush`.
  var releasedPackets: [(packet: [UInt8], macAddress: MACAddress)] = []

  init(index: Int, configuration: Configuration, seed: UInt64, now: Instant) {
    self.index = index
    self.configuration = configuration
    self.arp = ARPCache(configuration: configuration.arp)
    var random = SplitMix64(seed: seed)
    var slaac = AddressConfiguration.Configuration(
      interfaceIdentifiers: configuration.interfaceIdentifiers ?? .stable(secret0: random.next(), secret1: random.next()))
    slaac.interfaceName = Array(configuration.name.utf8)
    slaac.duplicateAddressDetectionTransmits = configuration.duplicateAddressDetectionTransmits
    slaac.routerSolicitations = configuration.acceptRouterAdvertisements ? configuration.routerSolicitations : 0
    addressConfiguration = AddressConfiguration(seed: random.next(), configuration: slaac)
    neighbors = NeighborCache(configuration: configuration.neighbors, seed: random.next(), now: now)
    ipv6MTU = configuration.mtu
    ipv4MTU = configuration.mtu
  }

  // MARK: Conflict probes

  /// Asks the link who holds `address`: an ARP request from the link's own address (sent by
  /// the stack's next flush), after which any ARP packet from `address`, or another host's
  /// RFC 5227 probe for it, makes its sender the `claimant`. For a DHCP server checking an
  /// address before it offers it (as ISC dhcpd and dnsmasq ping). Restarting a probe clears
  /// what it found.
  public func probe(_ address: IPv4Address) {
    endProbe(address)
    if probes.count >= Self.probeCapacity { probes.removeFirst() }
    probes.append((address, nil))
    probesToSend.append(address)
  }

  /// The host that claimed `address` since `probe(address)`, if one did.
  public func claimant(of address: IPv4Address) -> MACAddress? {
    probes.first { $0.address == address }?.claimant
  }

  /// Stops watching `address`.
  public func endProbe(_ address: IPv4Address) {
    probes.removeAll { $0.address == address }
    probesToSend.removeAll { $0 == address }
  }

  /// Records `packet`'s sender as the claimant of a probed address it speaks for.
  func noteClaim(_ packet: ARPPacket) {
    guard packet.senderHardwareAddress != macAddress,
      let index = probes.firstIndex(where: { $0.address == packet.claimedAddress }), probes[index].claimant == nil
    else { return }
    probes[index].claimant = packet.senderHardwareAddress
  }

  /// Every address on the link, of either family (IPv6: those in use, DAD done).
  public var addresses: [IPNetwork] { ipv4.map { .v4($0) } + ipv6.map { .v6($0) } }

  /// The DNS servers the link learnt: from its DHCP lease, then from Router Advertisements.
  public var dnsServers: [IPAddress] {
    (dhcp?.lease?.dnsServers ?? []).map { .v4($0) } + ipv6DNSServers.map { .v6($0) }
  }

  /// Whether `address` is one of the link's IPv6 addresses in use.
  func owns(_ address: IPv6Address) -> Bool {
    for network in ipv6 where network.address == address { return true }
    return false
  }

  /// The source for a packet to `destination` leaving on this link (RFC 6724's main rules,
  /// for a host with few addresses): link-local to link-local and multicast of link scope;
  /// otherwise a preferred address of the same scope, the longest match first, then a
  /// deprecated one, then the link-local one.
  func source(for destination: IPv6Address) -> IPv6Address? {
    let linkScope = destination.isLinkLocal || (destination.multicastScope.map { $0.rawValue <= 2 } ?? false)
    let linkLocal = ipv6.first { $0.address.isLinkLocal }?.address
    if linkScope { return linkLocal }
    var best: (address: IPv6Address, preferred: Bool, match: Int)?
    for network in ipv6 where !network.address.isLinkLocal {
      let preferred = addressConfiguration.state(of: network.address) != .deprecated
      let match = commonPrefixLength(network.address, destination)
      if let current = best, (current.preferred && !preferred) || (current.preferred == preferred && current.match >= match) {
        continue
      }
      best = (network.address, preferred, match)
    }
    return best?.address ?? linkLocal
  }

  /// Whether packets to the multicast group `address` are taken on this link.
  func hasJoined(_ address: IPv6Address) -> Bool { groups.contains(address) }

  /// Whether `address` is one of the link's own.
  func owns(_ address: IPv4Address) -> Bool {
    for network in ipv4 where network.address == address { return true }
    return false
  }

  /// Drops the packets from `address` still waiting for their next hop's link-layer address,
  /// or resolved and not yet sent: the address has left the link, and a host sends only from
  /// its own (RFC 1122 3.2.1.3; RFC 4862 5.5.4). Returns how many went.
  func discardPackets(from address: IPAddress) -> Int {
    switch address {
    case .v4(let source):
      let isFrom = { (packet: [UInt8]) in packet.withUnsafeBytes { IPv4Header.source(of: $0) } == source }
      let released = releasedPackets.count
      releasedPackets.removeAll { isFrom($0.packet) }
      return released - releasedPackets.count + arp.discardPackets(where: isFrom)
    case .v6(let source):
      let isFrom = { (packet: [UInt8]) in packet.withUnsafeBytes { IPv6Header.source(of: $0) } == source }
      let released = releasedPackets6.count
      releasedPackets6.removeAll { isFrom($0.packet) }
      return released - releasedPackets6.count + neighbors.discardPackets(where: isFrom)
    }
  }

  /// Whether `address` is the directed broadcast address of one of the link's networks (none
  /// on a /31 or /32, where every address is a host: RFC 3021).
  func isDirectedBroadcast(_ address: IPv4Address) -> Bool {
    for network in ipv4 where network.prefixLength < 31 && network.broadcastAddress == address { return true }
    return false
  }

  /// The source for a packet to `destination` leaving on this link: the address whose
  /// network holds it, else the first (nil: the link has no IPv4 address).
  func source(for destination: IPv4Address) -> IPv4Address? {
    for network in ipv4 where network.contains(destination) { return network.address }
    return ipv4.first?.address
  }
}

extension Link: CustomStringConvertible {
  /// One line: name, Ethernet address, addresses, MTU.
  public var description: String {
    var line: Text = "\(name): \(macAddress)"
    for network in ipv4 { line.append(" \(network)") }
    for network in ipv6 { line.append(" \(network)") }
    line.append(" mtu \(mtu)")
    return String(line)
  }
}

/// How many leading bits `a` and `b` share.
func commonPrefixLength(_ a: IPv6Address, _ b: IPv6Address) -> Int {
  let high = a.high ^ b.high
  if high != 0 { return high.leadingZeroBitCount }
  return 64 + (a.low ^ b.low).leadingZeroBitCount
}
