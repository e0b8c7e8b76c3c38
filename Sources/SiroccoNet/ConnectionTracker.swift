// Connection tracking, as a stateful firewall keeps it: every flow the rules admitted, known
// by the key of each direction (so a reply finds its connection in one lookup), with its
// TCP state and a timeout that each packet renews. The table is bounded: when it is full, a
// connection that never got an answer (a SYN flood's, a port scan's) makes room, the oldest
// first; connections that did get one are never pushed out, and a new connection is refused
// while only they fill the table (Linux's early drop does the same).
//
// Read first: Linux's nf_conntrack_proto_tcp.c (states and their timeouts), RFC 9293 3.3.2
// (TCP's state diagram), RFC 4787 4.3 and RFC 5382 5 (the timeouts NATs should keep: at
// least 2 minutes for UDP, 2 hours 4 minutes for an established TCP connection).

import SiroccoDevices
import SiroccoWire

/// One direction of a flow, as its packets carry it: addresses (IPv4 ones IPv4-mapped),
/// ports (ICMP echo: the identifier in both), protocol.
public struct FlowKey: Hashable, Sendable {
  public var source: IPv6Address
  public var destination: IPv6Address
  public var sourcePort: UInt16
  public var destinationPort: UInt16
  public var protocolNumber: UInt8

  public init(source: IPv6Address, destination: IPv6Address, sourcePort: UInt16, destinationPort: UInt16, protocolNumber: UInt8) {
    self.source = source
    self.destination = destination
    self.sourcePort = sourcePort
    self.destinationPort = destinationPort
    self.protocolNumber = protocolNumber
  }

  /// The key of the other direction before any translation: addresses and ports swapped.
  public var reversed: FlowKey {
    FlowKey(
      source: destination, destination: source, sourcePort: destinationPort, destinationPort: sourcePort,
      protocolNumber: protocolNumber)
  }
}

extension FlowKey: TextConvertible {
  public func write(to text: inout Text) {
    switch protocolNumber {
    case IPProtocol.tcp.rawValue: text.append("tcp ")
    case IPProtocol.udp.rawValue: text.append("udp ")
    case IPProtocol.icmp.rawValue, IPProtocol.icmpv6.rawValue: text.append("icmp ")
    default: text.append("proto \(Int(protocolNumber)) ")
    }
    func endpoint(_ address: IPv6Address, _ port: UInt16, into text: inout Text) {
      if let ipv4 = address.ipv4Mapped {
        text.append("\(ipv4)")
      } else {
        text.append("[\(address)]")
      }
      text.append(":\(Int(port))")
    }
    endpoint(source, sourcePort, into: &text)
    text.append(" > ")
    endpoint(destination, destinationPort, into: &text)
  }
}

/// Where a tracked TCP connection is, as seen from between its ends.
public enum TrackedTCPState: UInt8, Sendable {
  /// The first SYN went by; no answer yet.
  case synSent
  /// The answer (SYN-ACK) went by.
  case synReceived
  /// The handshake's last ACK went by.
  case established
  /// A FIN went by in one direction.
  case closing
  /// FINs went by both ways.
  case timeWait
  /// A RST went by.
  case closed
}

/// A connection the tracker holds.
public struct TrackedConnection: Sendable {
  /// The key of the packets that opened it, as they arrived.
  public var original: FlowKey
  /// The key replies arrive with: after translation, not simply `original.reversed`.
  public var reply: FlowKey
  public var tcp: TrackedTCPState
  /// FINs seen: bit 0 the original direction's, bit 1 the reply's.
  var fins: UInt8 = 0
  /// A packet went the reply way (UDP, ICMP), or the handshake finished (TCP).
  public var assured = false
  public var expires: Instant
  /// The rule that admitted it (an index in the rule set it was admitted under), or -1.
  public var rule: Int
  /// Which rule set `rule` belongs to (the firewall's reload count).
  public var ruleSet: Int
  /// Packets and bytes, both directions.
  public var packets: UInt64 = 0
  public var bytes: UInt64 = 0
  /// Tells a reused slot from the connection it held before.
  let serial: UInt64
}

public struct ConnectionTracker: Sendable {
  public struct Configuration: Sendable {
    /// Connections held at most.
    public var maximum = 65536
    public var tcpSYNSent: Duration = .seconds(120)
    public var tcpSYNReceived: Duration = .seconds(60)
    /// An established connection with no packet for this long is forgotten (RFC 5382
    /// REQ-5: at least 2 h 4 min; pf's default).
    public var tcpEstablished: Duration = .seconds(86400)
    public var tcpClosing: Duration = .seconds(120)
    public var tcpTimeWait: Duration = .seconds(120)
    public var tcpClosed: Duration = .seconds(10)
    /// UDP: until a reply, and after one (RFC 4787 REQ-5: at least 2 minutes).
    public var udp: Duration = .seconds(30)
    public var udpReplied: Duration = .seconds(120)
    public var icmp: Duration = .seconds(30)
    /// Any other protocol (GRE, ESP...), tracked by addresses only.
    public var other: Duration = .seconds(600)

    public init() {}
  }

  public let configuration: Configuration
  /// The connections, by slot; nil: free.
  public private(set) var slots: [TrackedConnection?] = []
  var free: [Int] = []
  /// Each direction's key: slot << 1 | direction (0: original, 1: reply).
  var index: [FlowKey: Int] = [:]
  /// Connections not yet assured, oldest first (entries whose serial no longer matches, or
  /// that became assured, are skipped): the ones a full table pushes out.
  var unassured: [(slot: Int, serial: UInt64)] = []
  var unassuredHead = 0
  var nextSerial: UInt64 = 1
  /// Where the next sweep for expired connections starts.
  var sweepCursor = 0
  public private(set) var count = 0
  /// Connections pushed out by a new one, and timed out.
  public private(set) var evicted: UInt64 = 0
  public private(set) var expired: UInt64 = 0

  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
  }

  /// The connection `key` belongs to and the direction it goes (true: the reply way), unless
  /// it timed out (then it is forgotten).
  public mutating func lookup(_ key: FlowKey, now: Instant) -> (slot: Int, isReply: Bool)? {
    guard let found = index[key] else { return nil }
    let slot = found >> 1
    guard let connection = slots[slot], connection.expires > now else {
      remove(slot)
      expired &+= 1
      return nil
    }
    return (slot, found & 1 == 1)
  }

  public subscript(slot: Int) -> TrackedConnection { slots[slot]! }

  /// Whether a connection already uses `key` (in either direction).
  public func isInUse(_ key: FlowKey) -> Bool { index[key] != nil }

  /// Starts tracking a connection; returns its slot, or nil when the table is full of
  /// assured connections. Pushes out the oldest unassured connection
  /// when the table is full.
  public mutating func insert(original: FlowKey, reply: FlowKey, rule: Int, ruleSet: Int, now: Instant) -> Int? {
    if count >= configuration.maximum, !makeRoom(now: now) { return nil }
    let tcp = original.protocolNumber == IPProtocol.tcp.rawValue
    let connection = TrackedConnection(
      original: original, reply: reply, tcp: .synSent, expires: now + (tcp ? configuration.tcpSYNSent : timeout(of: original, assured: false)),
      rule: rule, ruleSet: ruleSet, serial: nextSerial)
    nextSerial &+= 1
    let slot: Int
    if let reused = free.popLast() {
      slot = reused
      slots[slot] = connection
    } else {
      slot = slots.count
      slots.append(connection)
    }
    index[original] = slot << 1
    index[reply] = slot << 1 | 1
    unassured.append((slot, connection.serial))
    count += 1
    return slot
  }

  /// Notes a packet of `length` bytes of the connection in `slot` going the `isReply` way
  /// (`tcpFlags`: its TCP flags, for a TCP connection), and renews its timeout.
  public mutating func update(slot: Int, isReply: Bool, tcpFlags: UInt8, length: Int, now: Instant) {
    guard var connection = slots[slot] else { return }
    connection.packets &+= 1
    connection.bytes &+= UInt64(length)
    let timeout: Duration
    if connection.original.protocolNumber == IPProtocol.tcp.rawValue {
      timeout = track(&connection, isReply: isReply, flags: tcpFlags)
    } else {
      if isReply { connection.assured = true }
      timeout = self.timeout(of: connection.original, assured: connection.assured)
    }
    connection.expires = now + timeout
    slots[slot] = connection
  }

  /// The TCP state machine, after Linux's (without its window checks): the new timeout.
  func track(_ connection: inout TrackedConnection, isReply: Bool, flags: UInt8) -> Duration {
    let syn = flags & 0x02 != 0
    let ack = flags & 0x10 != 0
    let fin = flags & 0x01 != 0
    let rst = flags & 0x04 != 0
    if rst {
      connection.tcp = .closed
    } else {
      switch connection.tcp {
      case .synSent:
        if isReply, syn, ack { connection.tcp = .synReceived }
      case .synReceived:
        if !isReply, ack, !syn {
          connection.tcp = .established
          connection.assured = true
        }
      case .established, .closing:
        if fin {
          connection.fins |= isReply ? 2 : 1
          connection.tcp = connection.fins == 3 ? .timeWait : .closing
        }
      case .timeWait, .closed:
        // The same ports opened again (a new SYN from the side that opened them).
        if !isReply, syn, !ack {
          connection.tcp = .synSent
          connection.fins = 0
        }
      }
    }
    return switch connection.tcp {
    case .synSent: configuration.tcpSYNSent
    case .synReceived: configuration.tcpSYNReceived
    case .established: configuration.tcpEstablished
    case .closing: configuration.tcpClosing
    case .timeWait: configuration.tcpTimeWait
    case .closed: configuration.tcpClosed
    }
  }

  func timeout(of key: FlowKey, assured: Bool) -> Duration {
    switch key.protocolNumber {
    case IPProtocol.udp.rawValue: assured ? configuration.udpReplied : configuration.udp
    case IPProtocol.icmp.rawValue, IPProtocol.icmpv6.rawValue: configuration.icmp
    default: configuration.other
    }
  }

  /// Frees one slot: the oldest connection not yet assured, else one already timed out among
  /// the next 1,024 slots the sweep reaches (a bounded look, so that a table full of answered
  /// connections makes each refused one cost little: Linux's early drop looks at a few
  /// buckets too).
  mutating func makeRoom(now: Instant) -> Bool {
    while unassuredHead < unassured.count {
      let (slot, serial) = unassured[unassuredHead]
      unassuredHead += 1
      if let connection = slots[slot], connection.serial == serial, !connection.assured {
        remove(slot)
        evicted &+= 1
        compactUnassured()
        return true
      }
    }
    compactUnassured()
    return sweep(now: now, budget: 1024) > 0
  }

  /// Drops the queue's consumed head once it is large, so it does not grow without bound.
  mutating func compactUnassured() {
    if unassuredHead > 1024, unassuredHead * 2 > unassured.count {
      unassured.removeFirst(unassuredHead)
      unassuredHead = 0
    }
  }

  /// Forgets the connections that timed out among the next `budget` slots (a sweep goes
  /// round the table over successive calls). Returns how many it forgot.
  @discardableResult
  public mutating func sweep(now: Instant, budget: Int) -> Int {
    guard !slots.isEmpty else { return 0 }
    var forgotten = 0
    for _ in 0..<min(budget, slots.count) {
      if sweepCursor >= slots.count { sweepCursor = 0 }
      if let connection = slots[sweepCursor], connection.expires <= now {
        remove(sweepCursor)
        expired &+= 1
        forgotten += 1
      }
      sweepCursor += 1
    }
    // The queue of unassured connections only holds live ones' worth of entries.
    if unassured.count - unassuredHead > 2 * max(count, 512) {
      unassured = unassured[unassuredHead...].filter { entry in
        guard let connection = slots[entry.slot] else { return false }
        return connection.serial == entry.serial && !connection.assured
      }
      unassuredHead = 0
    }
    return forgotten
  }

  mutating func remove(_ slot: Int) {
    guard let connection = slots[slot] else { return }
    index[connection.original] = nil
    index[connection.reply] = nil
    slots[slot] = nil
    free.append(slot)
    count -= 1
  }

  /// Every connection, for reports.
  public var connections: [TrackedConnection] { slots.compactMap { $0 } }
}
