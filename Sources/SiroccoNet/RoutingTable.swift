// The routing table over every link: where a packet for a destination goes (which link, and
// on it directly or through which gateway), for both families.
//
// Read first: RFC 1812 5.2.4.3 (the longest match wins; then the best metric), RFC 4861
// 5.2 and 6.3.4 (IPv6 hosts: on-link prefixes and default routers from Router
// Advertisements, each with a lifetime), RFC 3442 (DHCP's classless static routes). Routes
// come from the links' addresses (connected), from boot parameters (static), from DHCP
// leases and from Router Advertisements; those that can lapse carry an expiry. Pure state.

import SiroccoDevices
import SiroccoWire

public struct Route: Equatable, Sendable {
  public enum Origin: Equatable, Sendable {
    /// The network of an address on the link.
    case connected
    /// A boot parameter (`--ipv4-gateway`...) or the application.
    case configured
    case dhcp
    case routerAdvertisement
  }

  /// Normalised: no bits set past the prefix.
  public var destination: IPNetwork
  /// nil: the destination is on the link itself.
  public var gateway: IPAddress?
  /// The link's index in the stack.
  public var link: Int
  /// Among equally long matches, the lowest wins.
  public var metric: Int
  public var origin: Origin
  public var expiry: Instant?

  public init(
    destination: IPNetwork, gateway: IPAddress? = nil, link: Int, metric: Int = 0, origin: Origin = .configured,
    expiry: Instant? = nil
  ) {
    self.destination = destination.normalized
    self.gateway = gateway
    self.link = link
    self.metric = metric
    self.origin = origin
    self.expiry = expiry
  }
}

public enum RouteError: Error, Equatable, Sendable {
  /// The table holds `RoutingTable.capacity` routes already.
  case full
  /// The gateway is of the other family than the destination.
  case mixedFamilies
  /// The route names a link the stack does not have.
  case noSuchLink
}

public struct RoutingTable: Sendable {
  /// Routes kept at most: a flood of Router Advertisements cannot grow the table further.
  public let capacity: Int
  public private(set) var routes: [Route] = [] { didSet { last = nil } }
  /// The last destination looked up by `route(to:now:)` and its answer, kept until the table
  /// changes: most packets go where the one before went.
  var last: (destination: IPAddress, route: Route?)?

  public init(capacity: Int = 256) { self.capacity = capacity }

  /// Adds `route`, or replaces the one with the same destination, gateway and link (a
  /// renewed lease or advertisement: its metric, origin and expiry are the new ones).
  public mutating func add(_ route: Route) throws(RouteError) {
    if let gateway = route.gateway, !Self.sameFamily(gateway, route.destination.address) { throw .mixedFamilies }
    if let index = routes.firstIndex(where: { Self.sameRoute($0, route) }) {
      routes[index] = route
      return
    }
    guard routes.count < capacity else { throw .full }
    routes.append(route)
  }

  /// Removes the routes `predicate` picks (a link's connected routes when its address goes,
  /// a lease's routes when it ends). Returns how many went.
  @discardableResult
  public mutating func remove(where predicate: (Route) -> Bool) -> Int {
    let before = routes.count
    routes.removeAll(where: predicate)
    return before - routes.count
  }

  /// The route for `destination` at `now`: the longest matching prefix, then the lowest
  /// metric, then the first added; expired routes never match.
  public func lookup(_ destination: IPAddress, now: Instant) -> Route? {
    var best: Route?
    for route in routes where route.destination.contains(destination) && (route.expiry.map { now < $0 } ?? true) {
      guard let current = best else {
        best = route
        continue
      }
      let longer = route.destination.prefixLength > current.destination.prefixLength
      let better = route.destination.prefixLength == current.destination.prefixLength && route.metric < current.metric
      if longer || better { best = route }
    }
    return best
  }

  /// `lookup`, answered from the last call when it asked for the same destination, the table
  /// has not changed since and the route has not lapsed.
  public mutating func route(to destination: IPAddress, now: Instant) -> Route? {
    if let last, last.destination == destination, last.route?.expiry.map({ now < $0 }) ?? true { return last.route }
    let route = lookup(destination, now: now)
    last = (destination, route)
    return route
  }

  /// The next hop for `destination`: the gateway, or the destination itself on its link.
  public func nextHop(for destination: IPAddress, now: Instant) -> (link: Int, address: IPAddress)? {
    lookup(destination, now: now).map { ($0.link, $0.gateway ?? destination) }
  }

  /// Removes the routes whose time is up; returns them.
  public mutating func expire(now: Instant) -> [Route] {
    let expired = routes.filter { $0.expiry.map { $0 <= now } ?? false }
    if !expired.isEmpty { routes.removeAll { $0.expiry.map { $0 <= now } ?? false } }
    return expired
  }

  /// When the first route with an expiry lapses.
  public var nextDeadline: Instant? { routes.compactMap { $0.expiry }.min() }

  static func sameFamily(_ a: IPAddress, _ b: IPAddress) -> Bool {
    switch (a, b) {
    case (.v4, .v4), (.v6, .v6): true
    default: false
    }
  }

  static func sameRoute(_ a: Route, _ b: Route) -> Bool {
    a.destination == b.destination && a.gateway == b.gateway && a.link == b.link
  }
}
