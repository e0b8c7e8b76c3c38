// Authoritative answers from zones held in memory: the lookup of RFC 1034 4.3.2 with
// wildcards (RFC 4592), negative answers with the SOA for caching (RFC 2308), in-zone CNAME
// chains, referrals with glue below a zone cut, ANY answered with one RRset (RFC 8482), and
// REFUSED for names outside every zone. No transport here: the server reads a query, asks
// `answer`, and writes the response at the size its transport allows.
//
// Read first: RFC 1034 4.3.2 (the algorithm) and 3.6.2 (CNAME alone at its name); RFC 2181
// 5 (RRsets) and 6.1 (zone cuts); RFC 4592 (wildcards: the closest encloser, the source of
// synthesis, no synthesis below an existing name, empty non-terminals exist); RFC 2308 3 and
// 5 (the SOA in negative answers, its TTL the smaller of its own and its minimum); RFC 8482 4.
// DNAME is refused when a zone is loaded (no RFC 6672 substitution here).

import SiroccoWire

/// Why a zone was refused when loaded.
public struct ZoneError: Error, Equatable, Sendable {
  public var message: String
  public init(_ message: String) { self.message = message }
}

/// One zone: its records by name and type, checked when loaded.
public struct Zone: Sendable {
  public let origin: DNSName
  public let soa: ResourceRecord
  /// The RRsets by owner, then type.
  var nodes: [DNSName: [RecordType: [ResourceRecord]]] = [:]
  /// Every name that exists: owners, and the empty non-terminals between them and the origin.
  var names: Set<DNSName> = []

  /// The zone of `records`: exactly one SOA, at `origin`; every owner at or below it; a CNAME
  /// alone at its name; no DNAME.
  public init(origin: DNSName, records: [ResourceRecord]) throws(ZoneError) {
    self.origin = origin
    var soa: ResourceRecord? = nil
    for record in records {
      guard record.name.isSubdomain(of: origin) else { throw ZoneError("\(record.name) is outside the zone \(origin)") }
      guard record.type != .dname else { throw ZoneError("\(record.name): DNAME is not served (no RFC 6672 substitution)") }
      if record.type == .soa {
        guard record.name == origin, soa == nil else { throw ZoneError("\(record.name): one SOA only, at the zone's origin \(origin)") }
        soa = record
      }
      nodes[record.name, default: [:]][record.type, default: []].append(record)
      var name = record.name
      while names.insert(name).inserted, name != origin, let parent = name.parent { name = parent }
    }
    guard let soa else { throw ZoneError("the zone \(origin) has no SOA record") }
    self.soa = soa
    for (name, types) in nodes where types[.cname] != nil && types.count > 1 {
      throw ZoneError("\(name): a CNAME shares its name with other records (RFC 1034 3.6.2)")
    }
  }

  /// The zone cut at or above `name` and below the origin (a name holding NS records), if any.
  func cut(above name: DNSName) -> DNSName? {
    let depth = name.labelCount - origin.labelCount
    var level = depth - 1  // from just below the origin down to `name`
    while level >= 0 {
      let candidate = name.dropping(labels: level)
      if candidate != origin, nodes[candidate]?[.ns] != nil { return candidate }
      level -= 1
    }
    return nil
  }

  /// The SOA for a negative answer: its TTL the smaller of its own and its minimum (RFC 2308 3).
  var negativeSOA: ResourceRecord {
    var record = soa
    if case .soa(let data) = soa.data { record.ttl = min(soa.ttl, data.minimum) }
    return record
  }
}

/// The zones a server is authoritative for, and how it answers.
public struct Authority: Sendable {
  public var zones: [Zone]

  public init(zones: [Zone]) { self.zones = zones }

  /// The zone whose origin is the longest suffix of `name`.
  func zone(for name: DNSName) -> Zone? {
    var best: Zone? = nil
    for zone in zones where name.isSubdomain(of: zone.origin) {
      if best == nil || zone.origin.labelCount > best!.origin.labelCount { best = zone }
    }
    return best
  }

  /// The response to `query` (before it is cut to a transport's size).
  public func answer(_ query: DNSMessage) -> DNSMessage {
    var response = DNSMessage(id: query.id, questions: query.questions)
    response.flags.isResponse = true
    response.flags.opcode = query.flags.opcode
    response.flags.recursionDesired = query.flags.recursionDesired
    response.flags.checkingDisabled = query.flags.checkingDisabled
    if let edns = query.edns {
      response.edns = EDNS(udpPayloadSize: 1232)
      guard edns.version == 0 else {
        response.responseCode = .badVersion  // RFC 6891 6.1.3
        response.questions = []
        return response
      }
    }
    guard query.flags.opcode == .query else {
      response.responseCode = .notImplemented
      return response
    }
    guard !query.flags.isResponse, query.questions.count == 1 else {
      response.responseCode = .formatError
      return response
    }
    let question = query.questions[0]
    guard question.recordClass == .internet || question.recordClass == .any, let zone = zone(for: question.name) else {
      response.responseCode = .refused
      return response
    }
    response.flags.authoritative = true
    resolve(question.name, question.type, in: zone, into: &response, chain: 0)
    addGlue(for: &response, in: zone)
    return response
  }

  /// Answers for `name` and `type` from `zone` into `response`, following in-zone CNAMEs (at
  /// most 8, as BIND and NSD bound their chains).
  func resolve(_ name: DNSName, _ type: RecordType, in zone: Zone, into response: inout DNSMessage, chain: Int) {
    if let cut = zone.cut(above: name), let delegation = zone.nodes[cut]?[.ns] {
      // A referral: the delegation's NS records, not authoritative (glue added after).
      if response.answers.isEmpty { response.flags.authoritative = false }
      response.authority += delegation
      return
    }
    var owner = name
    var node = zone.nodes[name]
    if node == nil, !zone.names.contains(name) {
      // RFC 4592: the closest encloser, then its wildcard.
      var encloser = name
      while !zone.names.contains(encloser), let parent = encloser.parent { encloser = parent }
      if let wildcard = encloser.prepending([UInt8(ascii: "*")]), let synthesized = zone.nodes[wildcard] {
        node = synthesized
        owner = wildcard
      } else {
        response.responseCode = .nameError
        response.authority.append(zone.negativeSOA)
        return
      }
    }
    let types = node ?? [:]
    func synthesize(_ records: [ResourceRecord]) -> [ResourceRecord] {
      owner == name ? records : records.map { record in
        var copy = record
        copy.name = name
        return copy
      }
    }
    if type != .cname, let cname = types[.cname]?.first {
      response.answers += synthesize([cname])
      if case .cname(let target) = cname.data, chain < 8, target.isSubdomain(of: zone.origin) {
        resolve(target, type, in: zone, into: &response, chain: chain + 1)
      }
      return
    }
    if type == .any, let first = types.keys.sorted().first, let records = types[first] {
      response.answers += synthesize(records)  // RFC 8482 4.2: one RRset
      return
    }
    if let records = types[type] {
      response.answers += synthesize(records)
      return
    }
    // NODATA: the name exists, the type does not (a CNAME chain keeps what it found).
    response.authority.append(zone.negativeSOA)
  }

  /// The addresses of the names the answer and authority sections point at (NS, MX and SRV
  /// targets) when they lie in the zone: the glue of a referral, and what a resolver would
  /// ask next.
  func addGlue(for response: inout DNSMessage, in zone: Zone) {
    var seen: Set<DNSName> = []
    for record in response.answers + response.authority {
      guard let target = record.data.targetName, target.isSubdomain(of: zone.origin), seen.insert(target).inserted else { continue }
      for type in [RecordType.a, .aaaa] {
        if let records = zone.nodes[target]?[type] { response.additional += records }
      }
    }
  }
}
