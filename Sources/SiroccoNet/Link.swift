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
  public var mtu: Int { configuration.mtu }
  /// The IPv4 addresses on the link, each with its on-link network, oldest first: the first
  /// is the source of packets to destinations none of them contains.
  public internal(set) var ipv4: [IPv4Network] = []
  public internal(set) var counters = LinkCounters()
  public internal(set) var arp: ARPCache

  var announcementsSent = 0
  var nextAnnouncement: Instant?
  /// Packets whose next hop was resolved outside `poll` (by `addNeighbor`), sent by `flush`.
  var releasedPackets: [(packet: [UInt8], macAddress: MACAddress)] = []

  init(index: Int, configuration: Configuration) {
    self.index = index
    self.configuration = configuration
    self.arp = ARPCache(configuration: configuration.arp)
  }

  /// Every address on the link, of either family.
  public var addresses: [IPNetwork] { ipv4.map { .v4($0) } }

  /// Whether `address` is one of the link's own.
  func owns(_ address: IPv4Address) -> Bool {
    for network in ipv4 where network.address == address { return true }
    return false
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
    line.append(" mtu \(mtu)")
    return String(line)
  }
}
