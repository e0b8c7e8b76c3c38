// A stub resolver for applications (RFC 1034 5.3.1, RFC 1123 6.1.3): lookups through the
// recursive servers the stack was given (DHCP, router advertisements, `--dns-server=`) or the
// application names, over any `NetworkStack`. Each query leaves from a fresh random port with
// a random ID, and a response counts only from the server asked, to that port, with that ID
// and the question asked (RFC 5452); anything else is dropped and counted. A server that does
// not answer in time, or answers SERVFAIL, REFUSED or the like, is left for the next (each
// server `attempts` times in turn); a truncated answer is asked again over TCP (RFC 7766). The
// answers, and the negative ones that carry an SOA (RFC 2308 5), are cached for their TTL
// (at most a day) in a bounded cache. Driven by the application's step like the servers:
// `step(now:)` says when it wants to be called again.

import SiroccoDevices
import SiroccoNet
import SiroccoWire

/// Why a lookup found nothing.
public enum ResolverError: Error, Equatable, Sendable {
  /// No server to ask (none configured, none from DHCP or router advertisements yet).
  case noServers
  /// No server answered in time, every attempt.
  case timedOut
  /// The last server to answer said this (SERVFAIL, REFUSED...), and none answered better.
  case serverFailure(ResponseCode)
}

extension ResolverError: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    switch self {
    case .noServers: text.append(literal: "no DNS server to ask")
    case .timedOut: text.append(literal: "no DNS server answered in time")
    case .serverFailure(let code): text.append("the DNS servers answered \(code)")
    }
  }
}

/// What a lookup found.
public enum LookupResult: Equatable, Sendable {
  /// The records of the type asked for, at the end of any CNAMEs, their TTLs what is left.
  case records([ResourceRecord])
  /// The name does not exist (NXDOMAIN).
  case noSuchName
  /// The name exists, without records of that type.
  case noData
  case failed(ResolverError)
}

public final class Resolver {
  public struct Configuration: Sendable {
    /// The servers to ask, in order; empty: the stack's (`NetworkStack.dnsServers`).
    public var servers: [IPAddress] = []
    /// How long to wait for one answer before asking again.
    public var timeout: Duration = .seconds(2)
    /// Times each server is asked before the lookup fails.
    public var attempts = 2
    /// Answers kept, at most (the soonest to expire make room).
    public var cacheCapacity = 512
    /// The longest an answer is kept, whatever its TTL.
    public var maximumTTL: UInt32 = 86400
    public var port: UInt16 = 53
    public init() {}
  }

  public struct Counters: Sendable {
    public var queries = 0
    /// Queries asked again (after a timeout or a failure), and over TCP after a truncation.
    public var retries = 0
    public var tcpFallbacks = 0
    /// Datagrams dropped: from another address or port, another ID, another question, or not
    /// a response at all.
    public var mismatched = 0
    public var cacheHits = 0
  }

  /// One lookup; `result` is set when it is done.
  public final class Lookup {
    public let name: DNSName
    public let type: RecordType
    public internal(set) var result: LookupResult?

    init(name: DNSName, type: RecordType) {
      self.name = name
      self.type = type
    }
  }

  /// A question on its way to the servers, for every lookup that asked it.
  final class Flight {
    let question: DNSQuestion
    var lookups: [Lookup]
    var attempt = -1
    var server: IPAddress = .v4(.any)
    var id: UInt16 = 0
    var socket: (any UDPEndpoint)?
    var stream: (any TCPStream)?
    var tcpQuerySent = false
    var tcpInput: [UInt8] = []
    var deadline = Instant.zero
    var lastFailure: ResolverError = .timedOut

    init(question: DNSQuestion, lookup: Lookup) {
      self.question = question
      lookups = [lookup]
    }
  }

  struct CacheKey: Hashable {
    var name: DNSName
    var type: RecordType
  }

  struct CacheEntry {
    var result: LookupResult
    var stored: Instant
    var expires: Instant
  }

  public let configuration: Configuration
  let stack: any NetworkStack
  var random: SplitMix64
  var flights: [Flight] = []
  var cache: [CacheKey: CacheEntry] = [:]
  public private(set) var counters = Counters()

  /// `seed` from the platform's entropy: query IDs must be unpredictable (RFC 5452 9.2).
  public init(stack: any NetworkStack, seed: UInt64, configuration: Configuration = Configuration()) {
    self.stack = stack
    self.configuration = configuration
    random = SplitMix64(seed: seed)
  }

  /// The servers asked now.
  public var servers: [IPAddress] { configuration.servers.isEmpty ? stack.dnsServers : configuration.servers }

  /// Looks up `type` records of `name`: from the cache at once, else asked of the servers
  /// (the result comes in a later step).
  public func lookup(_ name: DNSName, type: RecordType, now: Instant) -> Lookup {
    let lookup = Lookup(name: name, type: type)
    let key = CacheKey(name: name, type: type)
    if let entry = cache[key] {
      if entry.expires > now {
        counters.cacheHits += 1
        lookup.result = aged(entry, now: now)
        return lookup
      }
      cache[key] = nil
    }
    if let flight = flights.first(where: { $0.question.name == name && $0.question.type == type }) {
      flight.lookups.append(lookup)
      return lookup
    }
    let flight = Flight(question: DNSQuestion(name: name, type: type), lookup: lookup)
    flights.append(flight)
    advance(flight, now: now)
    return lookup
  }

  /// Works on the lookups under way; returns when it next needs a step without traffic.
  public func step(now: Instant) -> Instant? {
    var next: Instant?
    var index = 0
    while index < flights.count {
      let flight = flights[index]
      serve(flight, now: now)
      if flight.lookups.first?.result != nil {
        flights.remove(at: index)
        continue
      }
      next = next.map { min($0, flight.deadline) } ?? flight.deadline
      index += 1
    }
    return next
  }

  public var pendingLookups: Int { flights.reduce(0) { $0 + $1.lookups.count } }

  // MARK: Asking

  /// Asks the next server (or fails the lookup once every attempt is spent).
  func advance(_ flight: Flight, now: Instant) {
    flight.socket?.close()
    flight.socket = nil
    flight.stream?.abort()
    flight.stream = nil
    let servers = self.servers
    guard !servers.isEmpty else { return finish(flight, .failed(.noServers), now: now) }
    flight.attempt += 1
    if flight.attempt > 0 { counters.retries += 1 }
    guard flight.attempt < servers.count * max(1, configuration.attempts) else {
      return finish(flight, .failed(flight.lastFailure), now: now)
    }
    flight.server = servers[flight.attempt % servers.count]
    flight.id = UInt16(truncatingIfNeeded: random.next())
    flight.deadline = now + configuration.timeout
    // A fresh random port for each query (RFC 5452 9.2).
    guard let socket = try? stack.bind(udpPort: 0, receiveCapacity: 8, transmitCapacity: 4) else {
      flight.lastFailure = .timedOut
      return advance(flight, now: now)
    }
    flight.socket = socket
    counters.queries += 1
    try? socket.send(query(flight).emit(maximumSize: 512), to: flight.server, port: configuration.port)
  }

  func query(_ flight: Flight) -> DNSMessage {
    var message = DNSMessage(id: flight.id, questions: [flight.question])
    message.flags.recursionDesired = true
    message.edns = EDNS(udpPayloadSize: 1232)
    return message
  }

  /// Asks the same server the same question over TCP, after a truncated answer.
  func fallBackToTCP(_ flight: Flight, now: Instant) {
    flight.socket?.close()
    flight.socket = nil
    counters.tcpFallbacks += 1
    flight.deadline = now + configuration.timeout
    flight.tcpQuerySent = false
    flight.tcpInput = []
    guard let stream = try? stack.connect(to: flight.server, tcpPort: configuration.port, now: now) else {
      return advance(flight, now: now)
    }
    flight.stream = stream
  }

  func serve(_ flight: Flight, now: Instant) {
    if let socket = flight.socket {
      while let datagram = socket.receive() {
        guard datagram.source == flight.server, datagram.sourcePort == configuration.port,
          let response = datagram.payload.withUnsafeBytes({ matching($0, flight) })
        else {
          counters.mismatched += 1
          continue
        }
        if response.flags.truncated { return fallBackToTCP(flight, now: now) }
        return take(response, for: flight, now: now)
      }
    }
    if let stream = flight.stream {
      if stream.error != nil || stream.state == .closed { return advance(flight, now: now) }
      if stream.isEstablished, !flight.tcpQuerySent {
        let message = query(flight).emit()
        stream.write([UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message)
        flight.tcpQuerySent = true
      }
      flight.tcpInput += stream.read(maximum: 65538)
      if flight.tcpInput.count >= 2 {
        let length = Int(flight.tcpInput[0]) << 8 | Int(flight.tcpInput[1])
        if flight.tcpInput.count >= 2 + length {
          let response = flight.tcpInput[2..<(2 + length)].withUnsafeBytes { matching($0, flight) }
          guard let response else {
            counters.mismatched += 1
            return advance(flight, now: now)
          }
          stream.close()
          flight.stream = nil
          return take(response, for: flight, now: now)
        }
      }
      if stream.isReceiveFinished { return advance(flight, now: now) }
    }
    if now >= flight.deadline {
      flight.lastFailure = .timedOut
      advance(flight, now: now)
    }
  }

  /// The response in `bytes` if it answers `flight`'s query: a response, its ID, its question.
  func matching(_ bytes: UnsafeRawBufferPointer, _ flight: Flight) -> DNSMessage? {
    guard let response = try? DNSMessage.parse(bytes), response.flags.isResponse, response.id == flight.id,
      response.flags.opcode == .query, response.questions.count == 1, response.questions[0] == flight.question
    else { return nil }
    return response
  }

  // MARK: Answers

  /// A response to `flight`: an answer, a negative answer, or a failure that sends the
  /// question to the next server.
  func take(_ response: DNSMessage, for flight: Flight, now: Instant) {
    let code = response.responseCode
    guard code == .noError || code == .nameError else {
      flight.lastFailure = .serverFailure(code)
      return advance(flight, now: now)
    }
    // Through the CNAMEs to the records of the type asked for (RFC 1034 5.3.3).
    var name = flight.question.name
    var ttl = configuration.maximumTTL
    var hops = 0
    while true {
      let records = response.answers.filter { $0.name == name && $0.type == flight.question.type }
      if !records.isEmpty {
        for record in records { ttl = min(ttl, record.ttl) }
        return finish(flight, .records(records), ttl: ttl, now: now)
      }
      guard hops < 16, flight.question.type != .cname,
        let cname = response.answers.first(where: { $0.name == name && $0.type == .cname }),
        case .cname(let target) = cname.data
      else { break }
      ttl = min(ttl, cname.ttl)
      name = target
      hops += 1
    }
    // Negative: cached for the SOA's negative TTL when the response has one (RFC 2308 5).
    let soa = response.authority.first { $0.type == .soa }
    var negativeTTL: UInt32? = nil
    if let soa, case .soa(let data) = soa.data { negativeTTL = min(soa.ttl, data.minimum, ttl) }
    finish(flight, code == .nameError ? .noSuchName : .noData, ttl: negativeTTL, now: now)
  }

  /// Ends `flight` with `result`, cached for `ttl` seconds (none: not cached).
  func finish(_ flight: Flight, _ result: LookupResult, ttl: UInt32? = nil, now: Instant) {
    flight.socket?.close()
    flight.socket = nil
    flight.stream?.close()
    flight.stream = nil
    for lookup in flight.lookups { lookup.result = result }
    guard let ttl, ttl > 0 else { return }
    if cache.count >= configuration.cacheCapacity { makeRoom(now: now) }
    let lifetime = min(ttl, configuration.maximumTTL)
    cache[CacheKey(name: flight.question.name, type: flight.question.type)] =
      CacheEntry(result: result, stored: now, expires: now + .seconds(Int64(lifetime)))
  }

  /// Drops what has expired, and if that is not enough the entry expiring soonest.
  func makeRoom(now: Instant) {
    cache = cache.filter { $0.value.expires > now }
    guard cache.count >= configuration.cacheCapacity,
      let soonest = cache.min(by: { $0.value.expires < $1.value.expires })?.key
    else { return }
    cache[soonest] = nil
  }

  /// A cached result, its records' TTLs lowered by the time spent in the cache.
  func aged(_ entry: CacheEntry, now: Instant) -> LookupResult {
    guard case .records(let records) = entry.result else { return entry.result }
    let spent = UInt32(clamping: (now - entry.stored).nanoseconds / 1_000_000_000)
    return .records(records.map { record in
      var copy = record
      copy.ttl = record.ttl > spent ? record.ttl - spent : 0
      return copy
    })
  }
}
