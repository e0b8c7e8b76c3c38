// Path MTU discovery's memory: the MTU learned for each destination from ICMPv6 Packet Too
// Big (RFC 8201) and ICMP Fragmentation Needed (RFC 1191), for as long as it may be trusted.
//
// Read first: RFC 8201 4 and 5.3 (a Packet Too Big lowers the path MTU, never below 1280;
// one below 1280 is ignored (RFC 8200 5, RFC 8021: no atomic fragments); an estimate is
// aged out after at least 5 minutes, 10 recommended, so an increase is found again), RFC
// 1191 3 and 7 (IPv4: never below 68; a host may use 576 as the floor), RFC 4443 2.4 and 8.
// Pure state; the stack asks it when sizing packets and segments (TCP's MSS follows).

import SiroccoDevices
import SiroccoWire

public struct PathMTUCache: Sendable {
  public struct Configuration: Sendable {
    /// How long a lowered estimate holds before the link's MTU is tried again.
    public var lifetime: Duration = .seconds(600)
    /// Destinations remembered at most; when full, the entry closest to expiry goes.
    public var capacity = 256
    public init() {}
  }

  struct Entry: Sendable {
    var mtu: Int
    var expiry: Instant
  }

  /// The smallest MTU each family must carry: IPv6's 1280 (RFC 8200 5), IPv4's 576 as the
  /// least a host accepts here (RFC 1122 3.3.3; 68 is RFC 791's floor, which only a broken
  /// or hostile router would report).
  public static let ipv6Minimum = 1280
  public static let ipv4Minimum = 576

  public let configuration: Configuration
  var entries: [IPAddress: Entry] = [:]

  public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

  public var count: Int { entries.count }

  /// The MTU to use towards `destination` over a link whose MTU is `linkMTU`.
  public func mtu(to destination: IPAddress, linkMTU: Int, now: Instant) -> Int {
    guard !entries.isEmpty, let entry = entries[destination], now < entry.expiry else { return linkMTU }
    return min(entry.mtu, linkMTU)
  }

  /// A Packet Too Big or Fragmentation Needed for `destination` reported `reported` bytes.
  /// Returns the new estimate if it lowered the path MTU; nil when the report changes
  /// nothing (not lower than what is used now) or is refused (below the family's floor:
  /// clamped to it for IPv4, ignored for IPv6).
  @discardableResult
  public mutating func report(_ reported: Int, for destination: IPAddress, linkMTU: Int, now: Instant) -> Int? {
    let current = mtu(to: destination, linkMTU: linkMTU, now: now)
    let value: Int
    switch destination {
    case .v6:
      guard reported >= Self.ipv6Minimum else { return nil }
      value = reported
    case .v4:
      value = max(reported, Self.ipv4Minimum)
    }
    guard value < current else { return nil }
    if entries[destination] == nil, entries.count >= configuration.capacity,
      let soonest = entries.min(by: { $0.value.expiry < $1.value.expiry })?.key
    {
      entries[soonest] = nil
    }
    entries[destination] = Entry(mtu: value, expiry: now + configuration.lifetime)
    return value
  }

  /// Forgets the estimates whose time is up (they would be ignored anyway; this frees them).
  public mutating func expire(now: Instant) {
    entries = entries.filter { now < $0.value.expiry }
  }
}
