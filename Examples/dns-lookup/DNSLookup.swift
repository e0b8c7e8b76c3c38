// dns-lookup: looks up the names in --names (comma-separated) for --type records through the
// DNS servers from --dns-server, DHCP or router advertisements, logs one line per name, and
// exits: 0 when every name got an answer (records, no such name, no data), 1 otherwise. With
// --rounds, the names are looked up again every --interval seconds (from the cache while
// their TTLs last); the last line gives the resolver's counters.

import Sirocco

@main
struct DNSLookup: Unikernel {
  static let name = "dns-lookup"
  static var devices: [DeviceDeclaration] { [.network("service")] }
  static let parameters: [ParameterDeclaration] = [
    .string("names", default: nil, help: "names to look up, comma-separated", placeholder: "NAME,..."),
    .string("type", default: "A", help: "the record type: A, AAAA, MX, TXT... or TYPE123", placeholder: "TYPE"),
    .integer("timeout", default: 2, range: 1...60, help: "seconds to wait for an answer before asking again"),
    .integer("attempts", default: 2, range: 1...10, help: "times each server is asked"),
    .integer("rounds", default: 1, range: 1...100, help: "times the names are looked up"),
    .integer("interval", default: 1, range: 0...3600, help: "seconds between rounds"),
    .integer("wait", default: 30, range: 1...3600, help: "seconds to wait for an address and a DNS server"),
  ]

  let resolver: Resolver
  let stack: any NetworkStack
  let names: [DNSName]
  let type: RecordType
  let log: Logger
  let interval: Duration
  var roundsLeft: Int
  var lookups: [Resolver.Lookup] = []
  var nextRound: Instant
  let giveUp: Instant
  var failed = false

  init(boot: Boot) throws(BootFailure) {
    guard let list = boot.parameters.string("names") else { throw BootFailure("--names: expected the names to look up, comma-separated") }
    var names: [DNSName] = []
    for item in list.utf8.split(separator: UInt8(ascii: ",")) {
      do {
        names.append(try DNSName(text: item, origin: .root))
      } catch {
        throw BootFailure("--names: '\(String(decoding: item, as: UTF8.self))' is not a domain name (\(error))")
      }
    }
    let typeText = boot.parameters.string("type") ?? "A"
    guard let type = RecordType(text: typeText.utf8) else {
      throw BootFailure("--type: '\(typeText)' is not a record type (expected A, AAAA, MX, TXT... or TYPE123)")
    }
    self.names = names
    self.type = type
    stack = boot.network("service")
    var configuration = Resolver.Configuration()
    configuration.timeout = .seconds(Int64(boot.parameters.integer("timeout") ?? 2))
    configuration.attempts = boot.parameters.integer("attempts") ?? 2
    resolver = Resolver(stack: stack, seed: boot.entropy.randomUInt64(), configuration: configuration)
    log = boot.log
    interval = .seconds(Int64(boot.parameters.integer("interval") ?? 1))
    roundsLeft = boot.parameters.integer("rounds") ?? 1
    let now = boot.monotonicClock.now()
    nextRound = now
    giveUp = now + .seconds(Int64(boot.parameters.integer("wait") ?? 30))
  }

  mutating func step(now: Instant) -> Step {
    let next = resolver.step(now: now)
    if !lookups.isEmpty {
      guard lookups.allSatisfy({ $0.result != nil }) else { return .wait(until: next) }
      report()
      lookups = []
      roundsLeft -= 1
      nextRound = now + interval
      if roundsLeft == 0 {
        let counters = resolver.counters
        log.info("queries \(counters.queries), retries \(counters.retries), over TCP \(counters.tcpFallbacks), mismatched \(counters.mismatched), from the cache \(counters.cacheHits)")
        return .exit(failed ? 1 : 0)
      }
    }
    // The first round waits for an address and a server (DHCP may still be under way).
    if resolver.servers.isEmpty || stack.addresses.isEmpty {
      guard now < giveUp else {
        log.error(resolver.servers.isEmpty ? "no DNS server to ask (give --dns-server, or take one by DHCP)" : "no address")
        return .exit(1)
      }
      return .wait(until: min(giveUp, now + .milliseconds(100)))
    }
    guard now >= nextRound else { return .wait(until: nextRound) }
    lookups = names.map { resolver.lookup($0, type: type, now: now) }
    return .wait(until: now)
  }

  mutating func report() {
    for lookup in lookups {
      switch lookup.result {
      case .records(let records)?:
        for record in records { log.info("\(lookup.name) \(lookup.type) \(record.data) ttl \(record.ttl)") }
      case .noSuchName?: log.info("\(lookup.name) \(lookup.type): no such name")
      case .noData?: log.info("\(lookup.name) \(lookup.type): no such data")
      case .failed(let error)?:
        failed = true
        log.warning("\(lookup.name) \(lookup.type): \(error)")
      case nil: break
      }
    }
  }
}
