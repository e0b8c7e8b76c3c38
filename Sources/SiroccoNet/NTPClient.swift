// An SNTP client (RFC 4330; RFC 5905 client mode): asks one or more NTP servers for the
// time and keeps the offset between the platform's wall clock and theirs. It is itself a
// wall clock (`now()`: the platform's, corrected), which the runtime gives the application
// when `--ntp-server=` is set.
//
// Each request goes from a fresh random port with a random transmit timestamp (RFC 9109),
// which the server must echo as the origin: a reply from another address or port, or with
// another origin, is dropped and counted (`mismatched`). A reply is then refused when it is
// a kiss-of-death (stratum 0 and code RATE, which doubles that server's poll interval, or
// DENY or RSTR, which stop asking it, RFC 5905 7.4), when the server is unsynchronised (leap
// indicator 3, stratum 0 with another code, stratum 16 or more), or when it is implausible (not mode 4, a zero transmit time, a time before
// `earliestTime`, a negative or too long round trip, a root distance over
// `maximumRootDistance`). From an accepted reply, with T1/T4 the client's send/receive times
// and T2/T3 the server's (RFC 4330 5): offset = ((T2 - T1) + (T3 - T4)) / 2, delay =
// (T4 - T1) - (T3 - T2). T4 is T1 plus the monotonic time the exchange took, so a jump of the
// platform's clock meanwhile does not count.
//
// Each server's sample is the one with the shortest round trip of its last eight (RFC 5905
// 10's clock filter: a reply that waited in a queue says less). The clock's offset is the
// median of the servers' samples when three or more have one (one false server cannot move
// it), else the sample with the shortest round trip. It steps: SNTP does not slew. Polling
// starts at once with a burst of four requests 2 s apart (chrony's iburst), then every
// `minimumPoll` doubling to `maximumPoll` while replies come; an unanswered request is
// retried after 4, 8, 16... seconds, up to the poll interval.
//
// Read first: RFC 4330 4 and 5 (the client's fields and checks), RFC 5905 7.3 and 7.4 (the
// header, kiss codes) and 8 (the on-wire protocol), RFC 9109 (port and timestamp).

import SiroccoDevices
import SiroccoWire

public final class NTPClient: WallClock {
  public struct Configuration: Sendable {
    public var servers: [IPAddress]
    public var minimumPoll: Duration = .seconds(64)
    public var maximumPoll: Duration = .seconds(1024)
    /// How long a request waits for its reply.
    public var timeout: Duration = .seconds(2)
    /// The longest round trip accepted.
    public var maximumDelay: Duration = .seconds(3)
    /// The largest root distance (root delay / 2 + root dispersion) accepted (RFC 5905's
    /// MAXDIST is 1 s; chrony's default, 3 s).
    public var maximumRootDistance: Duration = .milliseconds(1500)
    /// No server's time before this is believed (nanoseconds since 1970; 2025-01-01).
    public var earliestTime: Int64 = 1_735_689_600 * 1_000_000_000
    /// Requests answered in quick succession at start, and the time between them.
    public var burst = 4
    public var burstInterval: Duration = .seconds(2)
    /// Samples each server's clock filter keeps.
    public var filterLength = 8

    public init(servers: [IPAddress]) { self.servers = servers }
  }

  /// One server's answer.
  public struct Sample: Equatable, Sendable {
    public var server: IPAddress
    /// The server's clock minus the platform's, in nanoseconds.
    public var offset: Int64
    /// The round trip, in nanoseconds.
    public var delay: Int64
    public var stratum: UInt8
    public var taken: Instant
  }

  public struct Counters: Equatable, Sendable {
    public var requests = 0
    public var accepted = 0
    public var timeouts = 0
    /// From another address or port than the server asked, or with another origin.
    public var mismatched = 0
    public var malformed = 0
    public var kissOfDeath = 0
    public var unsynchronised = 0
    public var implausible = 0
  }

  struct Server {
    var address: IPAddress
    var interval: Duration
    var nextPoll: Instant
    var failures = 0
    /// Asked no more (DENY, RSTR).
    var denied = false
    var socket: (any UDPEndpoint)?
    var nonce = NTPTimestamp.zero
    var sentWall: Int64 = 0
    var sentAt = Instant.zero
    /// The latest samples, oldest first; `sample` is the one with the shortest round trip.
    var filter: [Sample] = []
    var sample: Sample?
    /// Replies still wanted at `burstInterval` before the poll interval applies.
    var burst: Int
  }

  public let configuration: Configuration
  let stack: any NetworkStack
  let platformClock: any WallClock
  let entropy: any EntropySource
  var servers: [Server]
  /// The servers' clock minus the platform's, in nanoseconds; nil until a server answered.
  public private(set) var offset: Int64?
  public private(set) var counters = Counters()
  let log: ((Text) -> Void)?

  public init(stack: any NetworkStack, configuration: Configuration, clock: any WallClock, entropy: any EntropySource, now: Instant,
              log: ((Text) -> Void)? = nil) {
    self.stack = stack
    self.configuration = configuration
    self.platformClock = clock
    self.entropy = entropy
    self.log = log
    servers = configuration.servers.map {
      Server(address: $0, interval: configuration.minimumPoll, nextPoll: now, burst: max(0, configuration.burst - 1))
    }
  }

  /// The platform's wall clock, corrected by the servers' offset once one answered.
  public func now() -> WallTime {
    WallTime(nanosecondsSinceEpoch: platformClock.now().nanosecondsSinceEpoch &+ (offset ?? 0))
  }

  /// Whether a server has answered.
  public var isSynchronised: Bool { offset != nil }

  /// Changes of the offset so far (WallClock): a reader carrying a reading forward reads again.
  public private(set) var settings = 0

  /// The servers' latest accepted samples.
  public var samples: [Sample] { servers.compactMap { $0.sample } }

  /// Reads replies, sends the requests due. Returns when it must run again at the latest.
  public func step(now: Instant) -> Instant? {
    var deadline: Instant?
    for index in servers.indices where !servers[index].denied {
      if servers[index].socket != nil { receive(index, now: now) }
      if servers[index].socket != nil, now >= servers[index].sentAt + configuration.timeout {
        counters.timeouts += 1
        servers[index].socket?.close()
        servers[index].socket = nil
        servers[index].failures += 1
        let retry = configuration.timeout * (1 << min(servers[index].failures, 16))
        servers[index].nextPoll = now + min(retry, servers[index].interval)
      }
      if servers[index].socket == nil, !servers[index].denied, now >= servers[index].nextPoll { send(index, now: now) }
      guard !servers[index].denied else { continue }
      let next = servers[index].socket != nil ? servers[index].sentAt + configuration.timeout : servers[index].nextPoll
      deadline = deadline.map { min($0, next) } ?? next
    }
    return deadline
  }

  func send(_ index: Int, now: Instant) {
    guard let socket = try? stack.bind(udpPort: 0, receiveCapacity: 4, transmitCapacity: 2) else {
      servers[index].nextPoll = now + configuration.timeout
      return
    }
    let wall = platformClock.now().nanosecondsSinceEpoch
    let nonce = NTPTimestamp(rawValue: entropy.randomUInt64() | 1)
    do {
      try socket.send(NTPPacket.request(transmit: nonce).bytes, to: servers[index].address, port: NTPPacket.port)
    } catch {
      socket.close()
      servers[index].nextPoll = now + configuration.timeout  // no route or address yet
      return
    }
    counters.requests += 1
    servers[index].socket = socket
    servers[index].nonce = nonce
    servers[index].sentWall = wall
    servers[index].sentAt = now
  }

  func receive(_ index: Int, now: Instant) {
    guard let socket = servers[index].socket else { return }
    while let datagram = socket.receive() {
      guard datagram.source == servers[index].address, datagram.sourcePort == NTPPacket.port else {
        counters.mismatched += 1
        continue
      }
      let parsed = datagram.payload.withUnsafeBytes { bytes in Result { () throws(NTPError) in try NTPPacket.parse(bytes) } }
      guard case .success(let packet) = parsed else {
        counters.malformed += 1
        continue
      }
      guard packet.origin == servers[index].nonce else {
        counters.mismatched += 1
        continue
      }
      socket.close()
      servers[index].socket = nil
      handle(packet, from: index, now: now)
      return
    }
  }

  /// A reply that answers the outstanding request.
  func handle(_ packet: NTPPacket, from index: Int, now: Instant) {
    let address = servers[index].address
    servers[index].nextPoll = now + servers[index].interval
    if let kiss = packet.kissCode, [NTPPacket.kissRate, NTPPacket.kissDeny, NTPPacket.kissRestrict].contains(kiss) {
      counters.kissOfDeath += 1
      if kiss == NTPPacket.kissDeny || kiss == NTPPacket.kissRestrict {
        servers[index].denied = true
        servers[index].sample = nil
        servers[index].filter = []
        log?("NTP: \(address) refuses to serve this client (kiss-of-death \(Self.kissText(kiss))): no longer asked")
      } else {
        servers[index].interval = min(servers[index].interval * 2, configuration.maximumPoll)
        servers[index].burst = 0
        servers[index].nextPoll = now + max(servers[index].interval, configuration.minimumPoll * 2)
        log?("NTP: \(address) sent kiss-of-death \(Self.kissText(kiss)): polling it every \(servers[index].interval.components.seconds) s")
      }
      return
    }
    // Stratum 0 without a kiss code this client knows: unsynchronised too (chronyd answers
    // so, with leap indicator 3, before it has a source).
    if packet.leap == 3 || packet.stratum == 0 || packet.stratum >= 16 {
      counters.unsynchronised += 1
      return
    }
    let t1 = servers[index].sentWall
    let t4 = t1 &+ (now - servers[index].sentAt).nanoseconds
    let t2 = packet.receive.nanosecondsSinceEpoch
    let t3 = packet.transmit.nanosecondsSinceEpoch
    let delay = (t4 - t1) - (t3 - t2)
    let rootDistance = Int64(packet.rootDelay) * 1_000_000_000 / 2 / 65_536 + Int64(packet.rootDispersion) * 1_000_000_000 / 65_536
    guard packet.mode == .server, packet.version == 3 || packet.version == 4, packet.transmit != .zero, packet.receive != .zero,
      t3 >= configuration.earliestTime, t2 >= configuration.earliestTime, t3 >= t2, delay >= 0,
      delay <= configuration.maximumDelay.nanoseconds, rootDistance <= configuration.maximumRootDistance.nanoseconds
    else {
      counters.implausible += 1
      return
    }
    counters.accepted += 1
    servers[index].failures = 0
    servers[index].filter.append(Sample(server: address, offset: ((t2 - t1) + (t3 - t4)) / 2, delay: delay, stratum: packet.stratum, taken: now))
    if servers[index].filter.count > configuration.filterLength { servers[index].filter.removeFirst() }
    servers[index].sample = servers[index].filter.min { $0.delay < $1.delay }
    if servers[index].burst > 0 {
      servers[index].burst -= 1
      servers[index].nextPoll = now + configuration.burstInterval
    } else {
      servers[index].interval = min(servers[index].interval * 2, configuration.maximumPoll)
    }
    choose(now: now)
  }

  /// The offset from the servers' fresh samples: their median when three or more have one,
  /// else the one with the shortest round trip.
  func choose(now: Instant) {
    let fresh = samples.filter { now - $0.taken <= configuration.maximumPoll * 2 }
    guard let best = fresh.min(by: { $0.delay < $1.delay }) else { return }
    var chosen = best.offset
    if fresh.count >= 3 {
      let sorted = fresh.map { $0.offset }.sorted()
      chosen = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
    let previous = offset
    if previous != chosen { settings &+= 1 }
    offset = chosen
    if previous == nil {
      log?("NTP: clock set \(Self.seconds(chosen)) s from the platform's by \(best.server) (stratum \(best.stratum), round trip \(best.delay / 1000) us)")
    } else if let previous, abs(chosen - previous) > 128_000_000 {
      log?("NTP: clock stepped by \(Self.seconds(chosen - previous)) s")
    }
  }

  /// Nanoseconds as signed seconds with three decimals: "+3600.002".
  static func seconds(_ nanoseconds: Int64) -> Text {
    let milliseconds = nanoseconds.magnitude / 1_000_000
    var text: Text = nanoseconds < 0 ? "-" : "+"
    text.append(decimal: milliseconds / 1000)
    text.append(byte: UInt8(ascii: "."))
    text.append(decimal: milliseconds % 1000, width: 3)
    return text
  }

  /// A kiss code's four ASCII bytes ("RATE"), anything else as "?".
  static func kissText(_ code: UInt32) -> Text {
    var text: Text = ""
    for shift: UInt32 in [24, 16, 8, 0] {
      let byte = UInt8(truncatingIfNeeded: code >> shift)
      text.append(byte: byte >= 0x20 && byte < 0x7f ? byte : UInt8(ascii: "?"))
    }
    return text
  }
}
