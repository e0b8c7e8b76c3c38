// IPv6 stateless address autoconfiguration for one link: the link's addresses, their states
// and lifetimes, Duplicate Address Detection, router solicitation and the prefixes of Router
// Advertisements. Pure state, as `DHCPClient` is: the caller hands in the time and the Neighbor
// Discovery messages received, and carries out the actions it gets back (send a Neighbor or
// Router Solicitation, join a multicast group, start or stop using an address, keep a route).
// The link that runs it does the I/O.
//
// Read first: RFC 4862 5.3 (the link-local address), 5.4 (DAD: 5.4.2 the probes, 5.4.3 and
// 5.4.4 what shows a duplicate, 5.4.5 a duplicate link-local address), 5.5.3 (prefixes of a
// Router Advertisement, and the two-hour rule in e), 5.5.4 (deprecated addresses); RFC 4861
// 6.3.7 (router solicitation) and 10 (the constants); RFC 7217 5 and 6 (stable, semantically
// opaque interface identifiers, as Linux's `addr_gen_mode` 2 makes them); RFC 5453 (reserved
// interface identifiers).
//
// Not done: RFC 8981 temporary addresses, optimistic DAD (RFC 4429), enhanced DAD (RFC 7527),
// and the RetransTimer of a Router Advertisement (DAD keeps `Configuration.retransmitTimer`).
// Checking that a Router Advertisement is valid (RFC 4861 6.1.2: hop limit 255, link-local
// source) is the caller's, with `RouterAdvertisement.validate`.

import SiroccoDevices
import SiroccoWire

public struct AddressConfiguration: Sendable {
  /// How interface identifiers are made.
  public enum InterfaceIdentifiers: Equatable, Sendable {
    /// RFC 7217: a SipHash-2-4 keyed with the 128-bit secret over the prefix, the interface,
    /// the network and the DAD counter; stable for a prefix, different across prefixes.
    case stable(secret0: UInt64, secret1: UInt64)
    /// The modified EUI-64 of the hardware address (RFC 4291 appendix A): the same on every
    /// prefix, so the host can be followed across networks (RFC 7721 3).
    case eui64(MACAddress)
  }

  public struct Configuration: Sendable {
    public var interfaceIdentifiers: InterfaceIdentifiers
    /// Net_Iface of RFC 7217 5: the interface's name or index, as bytes.
    public var interfaceName: [UInt8] = []
    /// Network_ID of RFC 7217 5 (for example a Wi-Fi SSID); empty for none.
    public var networkID: [UInt8] = []
    /// DupAddrDetectTransmits (RFC 4862 5.1); 0 turns DAD off.
    public var duplicateAddressDetectionTransmits = 1
    /// RetransTimer (RFC 4861 10): between probes, and after the last one.
    public var retransmitTimer = Duration.seconds(1)
    /// MAX_RTR_SOLICITATIONS (RFC 4861 10); 0 sends none.
    public var routerSolicitations = 3
    /// The most addresses the link holds, of every origin (Linux's `max_addresses` is 16 too).
    /// A prefix advertised once the list is full is refused and counted in `refusedPrefixes`.
    public var maximumAddresses = 16

    public init(interfaceIdentifiers: InterfaceIdentifiers) { self.interfaceIdentifiers = interfaceIdentifiers }
  }

  public enum Origin: Equatable, Sendable {
    /// fe80::/64 with the link's interface identifier (RFC 4862 5.3).
    case linkLocal
    /// Given by the caller (`--ipv6=ADDR/PREFIX`): lifetimes infinite.
    case manual
    /// From a prefix of a Router Advertisement (RFC 4862 5.5.3).
    case autoconfigured
    /// From a DHCPv6 server (RFC 8415), added by the caller like a manual address.
    case dhcpv6
  }

  /// RFC 4862 2. An invalid address is removed from the list.
  public enum State: Equatable, Sendable {
    /// Being checked by DAD: not a source, and receives nothing but DAD's messages.
    case tentative
    case preferred
    /// Past its preferred lifetime: kept for existing connections, not for new ones (5.5.4).
    case deprecated
  }

  public struct Address: Equatable, Sendable {
    /// The address and the length of its prefix.
    public var network: IPv6Network
    public var origin: Origin
    public var state: State
    /// When the address becomes deprecated, and invalid; nil for never (infinite lifetimes).
    public var preferredUntil: Instant?
    public var validUntil: Instant?
    /// RFC 7217's DAD_Counter: the duplicates this prefix's address has met.
    public var duplicateCount = 0
    /// DAD's progress: probes sent, and when the next one (or the end) is due.
    var probesSent = 0
    var probeDue: Instant?

    public var address: IPv6Address { network.address }
  }

  public enum Action: Equatable, Sendable {
    /// Join this multicast group: send an MLD report for it (the solicited-node group of a
    /// tentative address, RFC 4862 5.4.2).
    case joinGroup(IPv6Address)
    /// Leave this multicast group (no address needs it any more).
    case leaveGroup(IPv6Address)
    /// Send a Neighbor Solicitation for `target` from the unspecified address to the target's
    /// solicited-node group, with no link-layer address option (RFC 4862 5.4.2).
    case probe(target: IPv6Address)
    /// DAD is done: the address may now be used and must answer Neighbor Solicitations. The
    /// caller may announce it with an unsolicited Neighbor Advertisement (RFC 4861 7.2.6).
    case assign(Address)
    /// The address's preferred lifetime ended (RFC 4862 5.5.4): no new connections from it.
    case deprecate(IPv6Address)
    /// A deprecated address got a new preferred lifetime (RFC 4862 5.5.3 e).
    case prefer(IPv6Address)
    /// Stop using the address: its valid lifetime ended or DAD found a duplicate. Connections
    /// on it are to be reset.
    case remove(IPv6Network)
    /// DAD found `address` in use by another node (RFC 4862 5.4.5: log it). A RFC 7217 address
    /// is retried with the next DAD counter; others stay removed.
    case duplicate(IPv6Address, origin: Origin)
    /// Send a Router Solicitation from `source`, to all-routers (RFC 4861 6.3.7); with a
    /// source link-layer address option unless `source` is the unspecified address (4.1).
    case solicitRouters(source: IPv6Address)
    /// A router's advertisement: it is a default router for `lifetime` (0: no longer one,
    /// RFC 4861 6.3.4).
    case defaultRouter(IPv6Address, lifetime: Duration)
    /// A prefix with the L flag: on the link for `validLifetime` seconds (0: no longer;
    /// `NDPOption.infiniteLifetime`: forever), RFC 4861 6.3.4.
    case onLinkPrefix(IPv6Network, validLifetime: UInt32)
    /// The MTU option of an advertisement, as received (RFC 4861 6.3.4 bounds it by the link's).
    case linkMTU(UInt32)
    /// The RDNSS option of an advertisement, as received (RFC 8106 5.1).
    case dnsServers([IPv6Address], lifetime: UInt32)
  }

  public enum Error: Swift.Error, Equatable, Sendable {
    /// The list already holds `Configuration.maximumAddresses` addresses.
    case full
    /// The address is already on the link.
    case exists
  }

  /// IDGEN_RETRIES (RFC 7217 6): new identifiers after a first duplicate.
  public static let identifierRetries = 3
  /// MAX_RTR_SOLICITATION_DELAY (RFC 4861 10).
  static let maximumSolicitationDelayMilliseconds: UInt64 = 1000
  /// RTR_SOLICITATION_INTERVAL (RFC 4861 10).
  static let solicitationInterval = Duration.seconds(4)
  /// RFC 4862 5.5.3 e.
  static let twoHours = Duration.seconds(7200)

  public let configuration: Configuration
  public private(set) var addresses: [Address] = []
  /// Prefixes of Router Advertisements refused because the list was full.
  public private(set) var refusedPrefixes = 0
  var random: SplitMix64
  var solicitationsSent = 0
  var solicitationDue: Instant?

  public init(seed: UInt64, configuration: Configuration) {
    self.configuration = configuration
    random = SplitMix64(seed: seed)
  }

  /// When `poll` must next be called.
  public var nextDeadline: Instant? {
    var next = solicitationDue
    for address in addresses {
      // Only a preferred address waits for its preferred lifetime (DAD's end deprecates a
      // tentative one whose preferred lifetime ran out).
      let preferred = address.state == .preferred ? address.preferredUntil : nil
      for due in [address.state == .tentative ? address.probeDue : nil, preferred, address.validUntil] {
        if let due, next.map({ due < $0 }) ?? true { next = due }
      }
    }
    return next
  }

  /// The state of `address` on the link, nil if it is not there.
  public func state(of address: IPv6Address) -> State? {
    addresses.first { $0.address == address }?.state
  }

  /// Starts (or restarts) the link: addresses other than manual and DHCPv6 ones are dropped,
  /// those go through DAD again, a link-local address is formed (RFC 4862 5.3) and routers are
  /// solicited (RFC 4861 6.3.7), the first after a random 0 to 1 s delay.
  public mutating func start(now: Instant) -> [Action] {
    var actions: [Action] = []
    let kept = addresses.filter { $0.origin == .manual || $0.origin == .dhcpv6 }
    for address in addresses where address.state != .tentative { actions.append(.remove(address.network)) }
    addresses = []
    for var address in kept {
      address.state = .tentative
      actions += add(address, now: now)
    }
    let linkLocal = IPv6Network(address: .linkLocal(interfaceIdentifier: 0), prefixLength: 64)
    actions += addGenerated(prefix: linkLocal, origin: .linkLocal, duplicates: 0, now: now, preferred: nil, valid: nil)
    solicitationsSent = 0
    solicitationDue = configuration.routerSolicitations > 0 ? now + randomDelay() : nil
    return actions
  }

  /// Adds a manual (`--ipv6`) or DHCPv6 address, with infinite lifetimes unless given: it is
  /// tentative until DAD is done.
  public mutating func add(
    _ network: IPv6Network, origin: Origin = .manual, preferredUntil: Instant? = nil, validUntil: Instant? = nil,
    now: Instant
  ) throws(Error) -> [Action] {
    guard state(of: network.address) == nil else { throw .exists }
    guard addresses.count < configuration.maximumAddresses else { throw .full }
    return add(
      Address(network: network, origin: origin, state: .tentative, preferredUntil: preferredUntil, validUntil: validUntil),
      now: now)
  }

  /// Runs the timers due at `now`: router solicitations, DAD probes and their end, and
  /// lifetimes.
  public mutating func poll(now: Instant) -> [Action] {
    var actions = solicitRouters(now: now)
    var index = 0
    while index < addresses.count {
      if let valid = addresses[index].validUntil, valid <= now {
        actions += remove(at: index)
        continue
      }
      actions += runDuplicateAddressDetection(at: index, now: now)
      if addresses[index].state == .preferred, let preferred = addresses[index].preferredUntil, preferred <= now {
        addresses[index].state = .deprecated
        actions.append(.deprecate(addresses[index].address))
      }
      index += 1
    }
    return actions
  }

  /// Takes a Neighbor Solicitation received from `source`. One for a tentative address from
  /// the unspecified address is another node's DAD for it: a duplicate (RFC 4862 5.4.3). One
  /// for a tentative address from elsewhere is to be dropped unanswered (`state(of:)` tells).
  public mutating func receive(_ solicitation: NeighborSolicitation, source: IPv6Address, now: Instant) -> [Action] {
    guard source.isUnspecified else { return [] }
    return duplicateFound(solicitation.targetAddress, now: now)
  }

  /// Takes a Neighbor Advertisement: one for a tentative address shows a duplicate (RFC 4862
  /// 5.4.4). One for an address in use is the caller's to log; it changes nothing here.
  public mutating func receive(_ advertisement: NeighborAdvertisement, now: Instant) -> [Action] {
    duplicateFound(advertisement.targetAddress, now: now)
  }

  /// Takes a valid Router Advertisement from `source` (a link-local address): stops router
  /// solicitation if it names a default router (RFC 4861 6.3.7), passes on the router, the
  /// on-link prefixes, the MTU and the DNS servers, and autoconfigures addresses from its
  /// prefixes (RFC 4862 5.5.3).
  public mutating func receive(_ advertisement: RouterAdvertisement, source: IPv6Address, now: Instant) -> [Action] {
    if advertisement.routerLifetime != 0 { solicitationDue = nil }
    var actions: [Action] = [.defaultRouter(source, lifetime: .seconds(Int64(advertisement.routerLifetime)))]
    for information in advertisement.prefixes {
      // RFC 4862 5.5.3 b and c, RFC 4861 6.3.4 (and Linux skips the whole option for c too).
      guard !information.prefix.address.isLinkLocal, !information.prefix.address.isMulticast,
        information.preferredLifetime <= information.validLifetime
      else { continue }
      if information.onLink {
        actions.append(.onLinkPrefix(information.prefix, validLifetime: information.validLifetime))
      }
      if information.autonomous { actions += autoconfigure(information, now: now) }
    }
    if let mtu = advertisement.options.mtu { actions.append(.linkMTU(mtu)) }
    for case .recursiveDNSServers(let lifetime, let servers) in advertisement.options {
      actions.append(.dnsServers(servers, lifetime: lifetime))
    }
    return actions
  }

  // MARK: Interface identifiers

  /// The interface identifier for `prefix` (its first 64 bits) after `duplicates` duplicates
  /// (RFC 7217 5), or the modified EUI-64; nil when RFC 7217 6's retries are spent.
  public func interfaceIdentifier(prefix: IPv6Address, duplicates: Int) -> UInt64? {
    switch configuration.interfaceIdentifiers {
    case .eui64(let hardwareAddress):
      return duplicates == 0 ? hardwareAddress.modifiedEUI64 : nil
    case .stable(let secret0, let secret1):
      // RFC 7217 5: a reserved identifier (RFC 5453) counts as a duplicate.
      var counter = duplicates
      while counter <= Self.identifierRetries {
        var hash = SipHash24(key0: secret0, key1: secret1)
        append(prefix.high, to: &hash)
        for field in [configuration.interfaceName, configuration.networkID] {
          append(UInt64(field.count), to: &hash)  // the lengths keep the fields apart
          for byte in field { hash.append(byte) }
        }
        hash.append(UInt32(counter))
        let identifier = hash.finalize()
        if !Self.isReserved(identifier) { return identifier }
        counter += 1
      }
      return nil
    }
  }

  /// RFC 5453 and its registry: the subnet-router anycast identifier (0), the reserved subnet
  /// anycast ones (fdff:ffff:ffff:ff80 to fdff:ffff:ffff:ffff) and the proxy mobile ones
  /// (0200:5eff:fe00:0000 to 0200:5eff:fe00:5213).
  public static func isReserved(_ identifier: UInt64) -> Bool {
    identifier == 0 || identifier >= 0xfdff_ffff_ffff_ff80
      || (0x0200_5eff_fe00_0000...0x0200_5eff_fe00_5213).contains(identifier)
  }

  func append(_ value: UInt64, to hash: inout SipHash24) {
    for shift in stride(from: 56, through: 0, by: -8) { hash.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
  }

  // MARK: Addresses

  /// A tentative address with a random delay before its first probe (RFC 4862 5.4.2; Linux
  /// delays every address's first probe, not only the first after the link comes up), or a
  /// preferred one at once when DAD is off.
  mutating func add(_ address: Address, now: Instant) -> [Action] {
    var address = address
    let group = address.address.solicitedNodeMulticast
    let joined = addresses.contains { $0.address.solicitedNodeMulticast == group }
    var actions: [Action] = joined ? [] : [.joinGroup(group)]
    if configuration.duplicateAddressDetectionTransmits > 0 {
      address.state = .tentative
      address.probesSent = 0
      address.probeDue = now + randomDelay()
      addresses.append(address)
    } else {
      addresses.append(address)
      actions += succeeded(at: addresses.count - 1, now: now)
    }
    return actions
  }

  /// Forms the address of `prefix` (a /64) with the interface identifier for `duplicates`.
  mutating func addGenerated(
    prefix: IPv6Network, origin: Origin, duplicates: Int, now: Instant, preferred: Instant?, valid: Instant?
  ) -> [Action] {
    guard addresses.count < configuration.maximumAddresses,
      let identifier = interfaceIdentifier(prefix: prefix.address, duplicates: duplicates)
    else { return [] }
    let network = IPv6Network(address: IPv6Address(high: prefix.address.high, low: identifier), prefixLength: 64)
    guard state(of: network.address) == nil else { return [] }
    return add(
      Address(
        network: network, origin: origin, state: .tentative, preferredUntil: preferred, validUntil: valid,
        duplicateCount: duplicates),
      now: now)
  }

  mutating func remove(at index: Int) -> [Action] {
    let address = addresses.remove(at: index)
    var actions: [Action] = [.remove(address.network)]
    let group = address.address.solicitedNodeMulticast
    if !addresses.contains(where: { $0.address.solicitedNodeMulticast == group }) { actions.append(.leaveGroup(group)) }
    return actions
  }

  /// RFC 4862 5.4.2: DupAddrDetectTransmits probes RetransTimer apart; RetransTimer after the
  /// last with no duplicate, the address is preferred (or deprecated if its preferred
  /// lifetime ran out meanwhile).
  mutating func runDuplicateAddressDetection(at index: Int, now: Instant) -> [Action] {
    guard addresses[index].state == .tentative, let due = addresses[index].probeDue, due <= now else { return [] }
    if addresses[index].probesSent < configuration.duplicateAddressDetectionTransmits {
      addresses[index].probesSent += 1
      addresses[index].probeDue = now + configuration.retransmitTimer
      return [.probe(target: addresses[index].address)]
    }
    return succeeded(at: index, now: now)
  }

  mutating func succeeded(at index: Int, now: Instant) -> [Action] {
    addresses[index].probeDue = nil
    let expired = addresses[index].preferredUntil.map { $0 <= now } ?? false
    addresses[index].state = expired ? .deprecated : .preferred
    var actions: [Action] = [.assign(addresses[index])]
    if expired { actions.append(.deprecate(addresses[index].address)) }
    return actions
  }

  /// RFC 4862 5.4.5 and RFC 7217 6: a tentative address is a duplicate. It goes; a generated
  /// one comes back with the next DAD counter while retries remain.
  mutating func duplicateFound(_ target: IPv6Address, now: Instant) -> [Action] {
    guard let index = addresses.firstIndex(where: { $0.address == target && $0.state == .tentative }) else { return [] }
    let address = addresses[index]
    var actions = remove(at: index)
    actions.append(.duplicate(target, origin: address.origin))
    guard address.origin == .linkLocal || address.origin == .autoconfigured,
      case .stable = configuration.interfaceIdentifiers, address.duplicateCount < Self.identifierRetries
    else { return actions }
    let prefix = IPv6Network(address: IPv6Address(high: target.high, low: 0), prefixLength: 64)
    let retry = addGenerated(
      prefix: prefix, origin: address.origin, duplicates: address.duplicateCount + 1, now: now,
      preferred: address.preferredUntil, valid: address.validUntil)
    return actions + retry
  }

  // MARK: Router Advertisements

  /// RFC 4862 5.5.3 d and e for one prefix with the A flag (b and c already checked).
  mutating func autoconfigure(_ information: NDPPrefixInformation, now: Instant) -> [Action] {
    // Only a /64 leaves room for a 64-bit interface identifier (RFC 4862 5.5.3 d, RFC 4291
    // 2.5.1); Linux ignores other lengths the same way.
    guard information.prefix.prefixLength == 64 else { return [] }
    let prefixHigh = information.prefix.address.high
    let preferred = Self.end(of: information.preferredLifetime, now: now)
    guard let index = addresses.firstIndex(where: { $0.origin == .autoconfigured && $0.address.high == prefixHigh })
    else {
      guard information.validLifetime != 0 else { return [] }
      guard addresses.count < configuration.maximumAddresses else {
        refusedPrefixes += 1
        return []
      }
      return addGenerated(
        prefix: information.prefix, origin: .autoconfigured, duplicates: 0, now: now, preferred: preferred,
        valid: Self.end(of: information.validLifetime, now: now))
    }
    let valid = Self.twoHourRule(received: information.validLifetime, current: addresses[index].validUntil, now: now)
    addresses[index].validUntil = valid
    // The preferred lifetime as received, but never past the valid one.
    addresses[index].preferredUntil = Self.earlier(preferred, valid)
    var actions: [Action] = []
    if let valid, valid <= now { return remove(at: index) }
    let stillPreferred = addresses[index].preferredUntil.map { $0 > now } ?? true
    if addresses[index].state == .deprecated, stillPreferred {
      addresses[index].state = .preferred
      actions.append(.prefer(addresses[index].address))
    } else if addresses[index].state == .preferred, !stillPreferred {
      addresses[index].state = .deprecated
      actions.append(.deprecate(addresses[index].address))
    }
    return actions
  }

  /// RFC 4862 5.5.3 e: the advertised valid lifetime if it is over two hours or past the
  /// remaining one; else the remaining one if that is two hours or less; else two hours. This
  /// keeps a forged advertisement from cutting an address's life short.
  static func twoHourRule(received: UInt32, current: Instant?, now: Instant) -> Instant? {
    let advertised = end(of: received, now: now)
    guard let advertisedEnd = advertised else { return nil }
    if advertisedEnd - now > twoHours { return advertised }
    if let current, advertisedEnd > current { return advertised }
    if let current, current - now <= twoHours { return current }
    return now + twoHours
  }

  /// The end of a lifetime of `seconds` from `now`; nil for infinite.
  static func end(of seconds: UInt32, now: Instant) -> Instant? {
    seconds == NDPOption.infiniteLifetime ? nil : now + .seconds(Int64(seconds))
  }

  static func earlier(_ a: Instant?, _ b: Instant?) -> Instant? {
    guard let a else { return b }
    guard let b else { return a }
    return min(a, b)
  }

  // MARK: Router solicitation

  /// RFC 4861 6.3.7: MAX_RTR_SOLICITATIONS solicitations RTR_SOLICITATION_INTERVAL apart,
  /// from the link-local address once DAD has passed it, else from the unspecified address.
  mutating func solicitRouters(now: Instant) -> [Action] {
    guard let due = solicitationDue, due <= now else { return [] }
    solicitationsSent += 1
    solicitationDue = solicitationsSent < configuration.routerSolicitations ? now + Self.solicitationInterval : nil
    let linkLocal = addresses.first { $0.origin == .linkLocal && $0.state != .tentative }
    return [.solicitRouters(source: linkLocal?.address ?? .unspecified)]
  }

  /// 0 to MAX_RTR_SOLICITATION_DELAY, in whole milliseconds.
  mutating func randomDelay() -> Duration {
    .milliseconds(Int64(random.next() % (Self.maximumSolicitationDelayMilliseconds + 1)))
  }
}
