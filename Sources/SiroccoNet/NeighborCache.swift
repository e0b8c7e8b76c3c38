// The IPv6 neighbour cache: Neighbor Unreachability Detection as pure state.
//
// Read first: RFC 4861 7.3 (NUD: the states INCOMPLETE, REACHABLE, STALE, DELAY, PROBE), 7.2.2
// (address resolution, queueing, "address unreachable"), 7.2.3 and 7.2.5 (what a received
// solicitation or advertisement does to an entry), 6.3.4 and 8.3 (Router Advertisement and
// Redirect), 10 (the constants) and appendix C (the state table). Time is passed in and no
// frame is built here: the link that runs the cache sends the solicitations it asks for.
//
// Not done: RFC 7048's backoff and its UNREACHABLE state (an entry is deleted after its last
// probe, as RFC 4861 says); a Redirect without a target link-layer address does not create an
// INCOMPLETE entry (the first packet to the target starts a resolution anyway); anycast
// advertisement delays (RFC 4861 7.2.7) belong to the sender, not here.

import SiroccoDevices
import SiroccoWire

public struct NeighborCache {
  public struct Configuration: Sendable {
    /// BaseReachableTime (RFC 4861 10): ReachableTime is drawn from half to one and a half of it.
    public var baseReachableTime: Duration = .seconds(30)
    /// RetransTimer (RFC 4861 10): time between solicitations for one neighbour.
    public var retransmitTimer: Duration = .seconds(1)
    /// DELAY_FIRST_PROBE_TIME (RFC 4861 10): time in DELAY before the first probe.
    public var delayFirstProbeTime: Duration = .seconds(5)
    /// MAX_MULTICAST_SOLICIT (RFC 4861 10): solicitations before an INCOMPLETE entry fails.
    public var maximumMulticastSolicitations = 3
    /// MAX_UNICAST_SOLICIT (RFC 4861 10): probes before a PROBE entry is deleted.
    public var maximumUnicastSolicitations = 3
    /// ReachableTime is drawn again when it is older than this (RFC 4861 6.3.4: "at least
    /// every few hours").
    public var reachableTimeLifetime: Duration = .seconds(2 * 3600)
    /// Entries kept, INCOMPLETE ones included.
    public var capacity = 512
    /// INCOMPLETE entries (destinations waiting for a resolution) at once.
    public var pendingDestinations = 64
    /// Packets kept per waiting destination (the oldest go first; RFC 4861 7.2.2: at least one).
    public var packetsPerDestination = 8
    public init() {}
  }

  /// The reachability states of RFC 4861 7.3.2.
  public enum State: Equatable, Sendable {
    /// Resolution under way: multicast solicitations, packets waiting.
    case incomplete
    /// Confirmed reachable within the last ReachableTime.
    case reachable
    /// Not known to be reachable; nothing is done until a packet is sent to it.
    case stale
    /// A packet was sent to a STALE entry; waiting for an upper-layer confirmation.
    case delay
    /// Unicast solicitations are being sent to the cached link-layer address.
    case probe
  }

  /// What the cache holds for one neighbour.
  public struct Neighbor: Equatable, Sendable {
    public var state: State
    /// nil only while INCOMPLETE.
    public var linkLayerAddress: MACAddress?
    public var isRouter: Bool
    /// Packets waiting for the resolution (INCOMPLETE only).
    public var queuedPackets: Int

    public init(state: State, linkLayerAddress: MACAddress?, isRouter: Bool, queuedPackets: Int) {
      self.state = state
      self.linkLayerAddress = linkLayerAddress
      self.isRouter = isRouter
      self.queuedPackets = queuedPackets
    }
  }

  struct Entry {
    var state: State
    var linkLayerAddress: MACAddress?
    var isRouter = false
    var packets: [[UInt8]] = []
    var solicitationsSent = 0
    /// INCOMPLETE, PROBE: the next solicitation (or the failure); DELAY: the first probe;
    /// REACHABLE: when it becomes STALE.
    var deadline: Instant
    /// The last change of state or address: the older, the more evictable.
    var updated: Instant

    /// REACHABLE entries past their time are STALE (RFC 4861 7.3.3); the change is made
    /// lazily, so that `due` is not woken for it.
    func state(at now: Instant) -> State {
      state == .reachable && deadline <= now ? .stale : state
    }
  }

  public private(set) var configuration: Configuration
  var entries: [IPv6Address: Entry] = [:]
  var random: SplitMix64
  /// The current ReachableTime, and when it was drawn.
  public private(set) var reachableTime: Duration = .zero
  var reachableTimeDrawn: Instant

  /// `seed` comes from the platform's entropy: ReachableTime must differ between nodes
  /// (RFC 4861 6.3.2). `now` starts the ReachableTime's lifetime.
  public init(configuration: Configuration = Configuration(), seed: UInt64, now: Instant) {
    self.configuration = configuration
    random = SplitMix64(seed: seed)
    reachableTimeDrawn = now
    drawReachableTime(now: now)
  }

  /// Entries held, INCOMPLETE ones included.
  public var count: Int { entries.count }

  /// The entry for `address` as it stands at `now`; nil when there is none.
  public func neighbor(_ address: IPv6Address, now: Instant) -> Neighbor? {
    guard let entry = entries[address] else { return nil }
    return Neighbor(
      state: entry.state(at: now), linkLayerAddress: entry.linkLayerAddress, isRouter: entry.isRouter,
      queuedPackets: entry.packets.count)
  }

  /// The cached link-layer address for `address`, without using it (no state changes).
  public func lookup(_ address: IPv6Address) -> MACAddress? { entries[address]?.linkLayerAddress }

  // MARK: Router Advertisement parameters (RFC 4861 6.3.4)

  /// A Router Advertisement's non-zero Reachable Time: ReachableTime is drawn again at once.
  /// Zero or negative (unspecified) changes nothing.
  public mutating func setBaseReachableTime(_ time: Duration, now: Instant) {
    guard time > .zero else { return }
    configuration.baseReachableTime = time
    drawReachableTime(now: now)
  }

  /// A Router Advertisement's non-zero Retrans Timer; zero or negative changes nothing.
  /// Solicitations already scheduled keep their time.
  public mutating func setRetransmitTimer(_ time: Duration) {
    guard time > .zero else { return }
    configuration.retransmitTimer = time
  }

  /// A uniformly random value between 0.5 and 1.5 times BaseReachableTime (RFC 4861 6.3.2).
  mutating func drawReachableTime(now: Instant) {
    let base = UInt64(max(configuration.baseReachableTime.nanoseconds, 2))
    reachableTime = .nanoseconds(Int64(base / 2 + random.next() % (base + 1)))
    reachableTimeDrawn = now
  }

  /// Makes the entry REACHABLE for ReachableTime from `now`, drawing ReachableTime again if it
  /// is older than `reachableTimeLifetime`.
  mutating func markReachable(_ entry: inout Entry, now: Instant) {
    if now - reachableTimeDrawn >= configuration.reachableTimeLifetime { drawReachableTime(now: now) }
    entry.state = .reachable
    entry.deadline = now + reachableTime
    entry.solicitationsSent = 0
    entry.updated = now
  }

  static func markStale(_ entry: inout Entry, now: Instant) {
    entry.state = .stale
    entry.solicitationsSent = 0
    entry.updated = now
  }

  // MARK: Sending (RFC 4861 7.2.2, 7.3.3)

  public enum Resolution: Equatable, Sendable {
    /// Send the packet to this link-layer address now (the packet was not kept).
    case send(MACAddress)
    /// Queued; a multicast Neighbor Solicitation for the address must go to its
    /// solicited-node address now (the first packet for a new INCOMPLETE entry).
    case queuedSendSolicitation
    /// Queued behind a solicitation already sent.
    case queued
    /// Queued, and the oldest waiting packet was dropped to make room.
    case queuedDroppedOldest
    /// Not queued (dropped): too many destinations are waiting already, or the table is full
    /// of INCOMPLETE entries.
    case tableFull

    var sendAddress: MACAddress? {
      if case .send(let address) = self { return address }
      return nil
    }
  }


  /// The link-layer address to send to `address` now, as `resolve` would give it, without a
  /// packet: nil when there is no entry or it is INCOMPLETE (then `resolve` queues). One
  /// table lookup on the path every packet takes; only a STALE entry is written back (to DELAY).
  public mutating func sendingAddress(_ address: IPv6Address, now: Instant) -> MACAddress? {
    guard let entry = entries[address] else { return nil }
    switch entry.state(at: now) {
    case .incomplete:
      return nil
    case .stale:
      return resolve(address, packet: [], now: now).sendAddress
    case .reachable, .delay, .probe:
      return entry.linkLayerAddress
    }
  }

  /// Where to send `packet` (an IPv6 packet without its Ethernet header) for the neighbour
  /// `address`: a cached address (a STALE entry goes to DELAY, RFC 4861 7.3.3), or the packet
  /// waits for a resolution (RFC 4861 7.2.2).
  public mutating func resolve(_ address: IPv6Address, packet: [UInt8], now: Instant) -> Resolution {
    if var entry = entries[address] {
      switch entry.state(at: now) {
      case .incomplete:
        let dropped = entry.packets.appendDroppingOldest(packet, limit: configuration.packetsPerDestination)
        entries[address] = entry
        return dropped ? .queuedDroppedOldest : .queued
      case .stale:
        entry.state = .delay
        entry.deadline = now + configuration.delayFirstProbeTime
        entry.solicitationsSent = 0
        entries[address] = entry
      case .reachable, .delay, .probe:
        break
      }
      // Every state but INCOMPLETE has an address (RFC 4861 7.3.2).
      return .send(entry.linkLayerAddress!)
    }
    var waiting = 0
    for entry in entries.values where entry.state == .incomplete { waiting += 1 }
    guard waiting < configuration.pendingDestinations else { return .tableFull }
    guard entries.count < configuration.capacity || evict(now: now, onlyStale: false) else { return .tableFull }
    entries[address] = Entry(
      state: .incomplete, packets: [packet], solicitationsSent: 1,
      deadline: now + configuration.retransmitTimer, updated: now)
    return .queuedSendSolicitation
  }

  // MARK: Receiving (RFC 4861 7.2.3, 7.2.5, 6.2.6, 6.3.4, 8.3)

  /// What a received message did to an entry.
  public struct Update: Equatable, Sendable {
    /// Packets that were waiting for the neighbour, oldest first: send them to
    /// `linkLayerAddress` now.
    public var released: [[UInt8]] = []
    /// The entry's link-layer address after the message; nil when there is no entry.
    public var linkLayerAddress: MACAddress?
    /// The entry was a router and no longer is: remove it from the default router list
    /// (RFC 4861 7.2.5, 6.2.6).
    public var noLongerRouter = false
    /// Nothing was recorded because the table is full of entries in use (see `learn`).
    public var refused = false

    public init(
      released: [[UInt8]] = [], linkLayerAddress: MACAddress? = nil, noLongerRouter: Bool = false, refused: Bool = false
    ) {
      self.released = released
      self.linkLayerAddress = linkLayerAddress
      self.noLongerRouter = noLongerRouter
      self.refused = refused
    }
  }

  /// A validated Neighbor Advertisement for `target` (RFC 4861 7.2.5), with its target
  /// link-layer address option if it had one and its R, S and O flags. Without an entry for
  /// the target, nothing happens (no entry is created).
  public mutating func receiveAdvertisement(
    target: IPv6Address, linkLayerAddress: MACAddress?, router: Bool, solicited: Bool, override: Bool, now: Instant
  ) -> Update {
    guard var entry = entries[target] else { return Update() }
    var update = Update()
    if entry.state == .incomplete {
      // Without the option the advertisement is useless here (7.2.5 first paragraph).
      guard let linkLayerAddress else { return Update() }
      entry.linkLayerAddress = linkLayerAddress
      if solicited { markReachable(&entry, now: now) } else { Self.markStale(&entry, now: now) }
      update.released = entry.packets
      entry.packets = []
    } else {
      let changed = linkLayerAddress != nil && linkLayerAddress != entry.linkLayerAddress
      if changed && !override {
        // 7.2.5 (a): a REACHABLE entry goes STALE, but nothing is recorded; otherwise ignored.
        if entry.state(at: now) == .reachable {
          Self.markStale(&entry, now: now)
          entries[target] = entry
        }
        return Update(linkLayerAddress: entry.linkLayerAddress)
      }
      // 7.2.5 (b): override, no option, or the same address.
      if changed { entry.linkLayerAddress = linkLayerAddress }
      if solicited {
        markReachable(&entry, now: now)
      } else if changed {
        Self.markStale(&entry, now: now)
      }
    }
    update.noLongerRouter = entry.isRouter && !router
    entry.isRouter = router
    update.linkLayerAddress = entry.linkLayerAddress
    entries[target] = entry
    return update
  }

  /// Which message carried a source link-layer address (what it says about IsRouter).
  public enum Source: Equatable, Sendable {
    /// RFC 4861 7.2.3: IsRouter is kept (false for a new entry).
    case neighborSolicitation
    /// RFC 4861 6.2.6: the sender is a host; IsRouter becomes false.
    case routerSolicitation
    /// RFC 4861 6.3.4: the sender is a router; IsRouter becomes true.
    case routerAdvertisement
    /// RFC 4861 8.3: the target of a Redirect is a router unless it is the destination
    /// itself (then it is a host on the link).
    case redirect(targetIsRouter: Bool)
  }

  /// A link-layer address for `address` learned from a validated message that was not an
  /// answer (RFC 4861 7.2.3, 6.2.6, 6.3.4, 8.3): a new entry is STALE; an entry with another
  /// address takes the new one and goes STALE; an INCOMPLETE entry is resolved (STALE) and its
  /// packets released; the same address changes no state.
  ///
  /// The flood bound: when the table is full, a new entry may only replace a STALE one (the
  /// oldest), never one that is REACHABLE, DELAY, PROBE or INCOMPLETE. Anyone on the link can
  /// send solicitations from made-up addresses; they may churn the entries nobody is using,
  /// not the ones traffic depends on. When there is no STALE entry the new one is not
  /// created (`refused`): the sender is asked again by a resolution if we ever send to it.
  public mutating func learn(
    _ address: IPv6Address, linkLayerAddress: MACAddress, from source: Source, now: Instant
  ) -> Update {
    var update = Update()
    var entry: Entry
    if let existing = entries[address] {
      entry = existing
      if entry.state == .incomplete {
        update.released = entry.packets
        entry.packets = []
        entry.linkLayerAddress = linkLayerAddress
        Self.markStale(&entry, now: now)
      } else if entry.linkLayerAddress != linkLayerAddress {
        entry.linkLayerAddress = linkLayerAddress
        Self.markStale(&entry, now: now)
      }
    } else {
      guard entries.count < configuration.capacity || evict(now: now, onlyStale: true) else {
        return Update(refused: true)
      }
      entry = Entry(state: .stale, linkLayerAddress: linkLayerAddress, deadline: now, updated: now)
    }
    switch source {
    case .neighborSolicitation: break
    case .routerSolicitation:
      update.noLongerRouter = entry.isRouter
      entry.isRouter = false
    case .routerAdvertisement: entry.isRouter = true
    case .redirect(let targetIsRouter):
      update.noLongerRouter = entry.isRouter && !targetIsRouter
      entry.isRouter = targetIsRouter
    }
    update.linkLayerAddress = linkLayerAddress
    entries[address] = entry
    return update
  }

  /// An upper-layer hint that the neighbour is reachable (RFC 4861 7.3.1: e.g. TCP acknowledged
  /// new data). Makes an entry with an address REACHABLE; does nothing to an INCOMPLETE entry
  /// or an unknown address. Returns whether the entry was confirmed.
  @discardableResult
  public mutating func confirm(_ address: IPv6Address, now: Instant) -> Bool {
    guard var entry = entries[address], entry.state != .incomplete else { return false }
    markReachable(&entry, now: now)
    entries[address] = entry
    return true
  }

  /// Forgets `address` (e.g. its interface address was removed); returns its waiting packets.
  /// Drops the waiting packets `isDiscarded` picks (their source has left the link); the
  /// entries stay as they are. Returns how many went.
  public mutating func discardPackets(where isDiscarded: ([UInt8]) -> Bool) -> Int {
    var discarded = 0
    for (address, entry) in entries where !entry.packets.isEmpty {
      let kept = entry.packets.filter { !isDiscarded($0) }
      discarded += entry.packets.count - kept.count
      entries[address]?.packets = kept
    }
    return discarded
  }

  public mutating func remove(_ address: IPv6Address) -> [[UInt8]] {
    entries.removeValue(forKey: address)?.packets ?? []
  }

  // MARK: Timers (RFC 4861 7.2.2, 7.3.3)

  /// A Neighbor Solicitation to send now.
  public struct Solicitation: Equatable, Sendable {
    public var target: IPv6Address
    /// nil: multicast, to `target.solicitedNodeMulticast` (INCOMPLETE); otherwise a unicast
    /// probe to `target` at this link-layer address (PROBE).
    public var unicast: MACAddress?

    public init(target: IPv6Address, unicast: MACAddress?) {
      self.target = target
      self.unicast = unicast
    }
  }

  /// A neighbour that did not answer; its entry is gone.
  public struct Unreachable: Equatable, Sendable {
    public var address: IPv6Address
    /// Packets that waited for it (INCOMPLETE), oldest first: dropped; the caller counts them
    /// and may send ICMPv6 address unreachable for each (RFC 4861 7.2.2).
    public var droppedPackets: [[UInt8]]
    /// It was a router: the caller removes it from the default router list.
    public var wasRouter: Bool

    public init(address: IPv6Address, droppedPackets: [[UInt8]], wasRouter: Bool) {
      self.address = address
      self.droppedPackets = droppedPackets
      self.wasRouter = wasRouter
    }
  }

  /// The work due at `now`, each list in address order.
  public struct Work: Equatable, Sendable {
    public var solicitations: [Solicitation] = []
    public var unreachable: [Unreachable] = []
    public init() {}
  }

  /// Runs the timers due at `now`: INCOMPLETE entries solicit again every RetransTimer and
  /// fail after MAX_MULTICAST_SOLICIT; a DELAY entry not confirmed within
  /// DELAY_FIRST_PROBE_TIME goes to PROBE and probes at once; PROBE entries probe every
  /// RetransTimer and are deleted one RetransTimer after the MAX_UNICAST_SOLICIT-th probe.
  public mutating func due(now: Instant) -> Work {
    var work = Work()
    var addresses: [IPv6Address] = []
    for (address, entry) in entries where entry.state != .reachable && entry.state != .stale && entry.deadline <= now {
      addresses.append(address)
    }
    addresses.sort()
    for address in addresses {
      guard var entry = entries[address] else { continue }
      let limit =
        entry.state == .incomplete ? configuration.maximumMulticastSolicitations : configuration.maximumUnicastSolicitations
      if entry.state == .delay {
        entry.state = .probe
        entry.solicitationsSent = 0
        entry.updated = now
      } else if entry.solicitationsSent >= limit {
        entries[address] = nil
        work.unreachable.append(Unreachable(address: address, droppedPackets: entry.packets, wasRouter: entry.isRouter))
        continue
      }
      entry.solicitationsSent += 1
      entry.deadline = now + configuration.retransmitTimer
      entries[address] = entry
      work.solicitations.append(Solicitation(target: address, unicast: entry.linkLayerAddress))
    }
    return work
  }

  /// When `due` next has work, or nil when nothing is INCOMPLETE, DELAY or PROBE (a
  /// REACHABLE entry's expiry needs no wake-up).
  public var nextDeadline: Instant? {
    var earliest: Instant?
    for entry in entries.values where entry.state != .reachable && entry.state != .stale {
      if earliest == nil || entry.deadline < earliest! { earliest = entry.deadline }
    }
    return earliest
  }

  // MARK: Eviction

  /// How readily an entry makes room: STALE first, then PROBE (probably gone), DELAY, REACHABLE;
  /// INCOMPLETE never (its packets would be lost; `pendingDestinations` bounds those).
  static func evictionRank(_ state: State) -> Int? {
    switch state {
    case .stale: 0
    case .probe: 1
    case .delay: 2
    case .reachable: 3
    case .incomplete: nil
    }
  }

  /// Removes the most evictable entry, the oldest among equals; with `onlyStale`, only a STALE
  /// one. Returns whether room was made.
  mutating func evict(now: Instant, onlyStale: Bool) -> Bool {
    var victim: (address: IPv6Address, rank: Int, updated: Instant)?
    for (address, entry) in entries {
      guard let rank = Self.evictionRank(entry.state(at: now)), !onlyStale || rank == 0 else { continue }
      if let best = victim, best.rank < rank || (best.rank == rank && best.updated <= entry.updated) { continue }
      victim = (address, rank, entry.updated)
    }
    guard let victim else { return false }
    entries[victim.address] = nil
    return true
  }
}
