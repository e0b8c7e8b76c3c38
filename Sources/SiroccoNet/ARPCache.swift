// The ARP cache: resolved neighbours with expiry, and packets waiting for a resolution.
//
// Read first: RFC 826 ("Packet reception": the merge rule), RFC 1122 2.3.2.1 (flush stale
// entries; limit the request rate to one per second per destination) and 2.3.2.2 (keep at
// least the latest packet queued for an unresolved destination). Pure state: time is passed
// in, frames are built by the interface.

import SiroccoDevices
import SiroccoWire

public struct ARPCache {
  public struct Configuration: Sendable {
    /// How long a learned mapping is used before it is resolved again.
    public var entryLifetime: Duration = .seconds(60)
    /// Time between requests for one destination (RFC 1122: at most one per second).
    public var requestInterval: Duration = .seconds(1)
    /// Requests sent before the waiting packets are dropped as unresolved.
    public var maximumRequests = 3
    /// Mappings kept; when full, the one closest to expiry makes room.
    public var capacity = 512
    /// Destinations that may wait for a resolution at once.
    public var pendingDestinations = 64
    /// Packets kept per waiting destination (the oldest go first).
    public var packetsPerDestination = 8
    public init() {}
  }

  struct Entry {
    var macAddress: MACAddress
    var expires: Instant
  }

  struct Pending {
    var packets: [[UInt8]] = []
    var requestsSent = 0
    var nextRequest: Instant
  }

  public let configuration: Configuration
  var entries: [IPv4Address: Entry] = [:]
  var pending: [IPv4Address: Pending] = [:]

  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
  }

  /// Mappings currently held (expired ones included until they are looked up or evicted).
  public var count: Int { entries.count }

  /// The MAC address for `address`, unless unknown or expired (an expired entry is removed).
  public mutating func lookup(_ address: IPv4Address, now: Instant) -> MACAddress? {
    guard let entry = entries[address] else { return nil }
    guard entry.expires > now else {
      entries[address] = nil
      return nil
    }
    return entry.macAddress
  }

  /// Records a mapping (RFC 826: we were the target, or the sender was already known) and
  /// returns the packets that were waiting for it, oldest first.
  public mutating func insert(_ address: IPv4Address, _ macAddress: MACAddress, now: Instant) -> [[UInt8]] {
    if entries[address] == nil, entries.count >= configuration.capacity { evictOne() }
    entries[address] = Entry(macAddress: macAddress, expires: now + configuration.entryLifetime)
    return pending.removeValue(forKey: address)?.packets ?? []
  }

  /// The merge step of RFC 826: refreshes a mapping only if one is already held. Returns
  /// the packets waiting for it, if the address was being resolved.
  public mutating func update(_ address: IPv4Address, _ macAddress: MACAddress, now: Instant) -> [[UInt8]]? {
    guard entries[address] != nil || pending[address] != nil else { return nil }
    return insert(address, macAddress, now: now)
  }

  public enum EnqueueResult: Equatable {
    /// Queued; a request must be sent now (the first packet for this destination).
    case queuedSendRequest
    /// Queued behind a request already sent.
    case queued
    /// Queued, and the oldest waiting packet was dropped to make room.
    case queuedDroppedOldest
    /// Not queued: too many destinations are waiting already.
    case tableFull
  }

  /// Holds `packet` (an IPv4 packet, without Ethernet header) until `address` resolves.
  public mutating func enqueue(_ packet: [UInt8], for address: IPv4Address, now: Instant) -> EnqueueResult {
    if var waiting = pending[address] {
      let dropped = waiting.packets.appendDroppingOldest(packet, limit: configuration.packetsPerDestination)
      pending[address] = waiting
      return dropped ? .queuedDroppedOldest : .queued
    }
    guard pending.count < configuration.pendingDestinations else { return .tableFull }
    pending[address] = Pending(packets: [packet], requestsSent: 1, nextRequest: now + configuration.requestInterval)
    return .queuedSendRequest
  }

  /// Drops the waiting packets `isDiscarded` picks (their source has left the link); a
  /// resolution left with none goes on, as one started without a packet would. Returns how
  /// many went.
  public mutating func discardPackets(where isDiscarded: ([UInt8]) -> Bool) -> Int {
    var discarded = 0
    for (address, waiting) in pending {
      let kept = waiting.packets.filter { !isDiscarded($0) }
      discarded += waiting.packets.count - kept.count
      pending[address]?.packets = kept
    }
    return discarded
  }

  /// Whether a resolution of `address` is under way.
  public func isResolving(_ address: IPv4Address) -> Bool { pending[address] != nil }

  /// The work due at `now`: destinations to ask again, and the packets of destinations that
  /// ran out of retries (dropped here; the caller counts them).
  public mutating func due(now: Instant) -> (retry: [IPv4Address], unresolvedPackets: Int) {
    var retry: [IPv4Address] = []
    var unresolved = 0
    var expired: [IPv4Address] = []
    for (address, waiting) in pending where waiting.nextRequest <= now {
      if waiting.requestsSent >= configuration.maximumRequests {
        expired.append(address)
        unresolved += waiting.packets.count
      } else {
        retry.append(address)
      }
    }
    for address in expired { pending[address] = nil }
    for address in retry {
      pending[address]?.requestsSent += 1
      pending[address]?.nextRequest = now + configuration.requestInterval
    }
    return (retry, unresolved)
  }

  /// When `due` next has work, or nil when nothing is waiting.
  public var nextDeadline: Instant? {
    var earliest: Instant?
    for waiting in pending.values where earliest == nil || waiting.nextRequest < earliest! {
      earliest = waiting.nextRequest
    }
    return earliest
  }

  mutating func evictOne() {
    var victim: IPv4Address?
    var soonest: Instant?
    for (address, entry) in entries where soonest == nil || entry.expires < soonest! {
      victim = address
      soonest = entry.expires
    }
    if let victim { entries[victim] = nil }
  }
}

extension Array {
  /// Appends `element` to a queue of at most `limit` (at least the newest is kept), the
  /// oldest going first: the newest packet is the likeliest still wanted. Returns whether
  /// any was dropped. (ARP's and NDP's queues of packets waiting for a resolution.)
  mutating func appendDroppingOldest(_ element: Element, limit: Int) -> Bool {
    let keep = Swift.max(limit, 1) - 1
    let dropped = count > keep
    if dropped { removeFirst(count - keep) }
    append(element)
    return dropped
  }
}
