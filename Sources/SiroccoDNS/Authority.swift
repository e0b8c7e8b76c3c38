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
  @_disfavoredOverload
  public init(_ message: String) { self.message = message }
  /// Built as `Text` (smaller code than String's interpolation in Embedded Swift).
  public init(_ message: Text) { self.message = String(message) }
}

/// One zone: its records by name and type, checked when loaded.
public struct Zone: Sendable {
  public let origin: DNSName
  public let soa: ResourceRecord
  /// The records at one name: its RRsets in the order the zone gave their first records.
  public struct Node: Sendable {
    public internal(set) var rrsets: [[ResourceRecord]] = []

    /// The RRset of `type`, if the name has one.
    public subscript(type: RecordType) -> [ResourceRecord]? {
      for rrset in rrsets where rrset[0].type == type { return rrset }
      return nil
    }

    mutating func append(_ record: ResourceRecord) {
      if let index = rrsets.firstIndex(where: { $0[0].type == record.type }) {
        rrsets[index].append(record)
      } else {
        rrsets.append([record])
      }
    }
  }

  /// The records by owner.
  public internal(set) var nodes: [DNSName: Node] = [:]
  /// Every name that exists: owners, and the empty non-terminals between them and the origin.
  var names: Set<DNSName> = []
  /// Some name below the origin holds NS records (most zones have no delegation, and then no
  /// query looks for a cut).
  var hasCuts = false

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
      nodes[record.name, default: Node()].append(record)
      if record.type == .ns, record.name != origin { hasCuts = true }
      var name = record.name
      while names.insert(name).inserted, name != origin, let parent = name.parent { name = parent }
    }
    guard let soa else { throw ZoneError("the zone \(origin) has no SOA record") }
    self.soa = soa
    for (name, node) in nodes where node[.cname] != nil && node.rrsets.count > 1 {
      throw ZoneError("\(name): a CNAME shares its name with other records (RFC 1034 3.6.2)")
    }
  }

  /// The SOA's serial.
  public var serial: UInt32 {
    guard case .soa(let data) = soa.data else { return 0 }
    return data.serial
  }

  /// The SOA for a negative answer: its TTL the smaller of its own and its minimum (RFC 2308 3).
  var negativeSOA: ResourceRecord {
    var record = soa
    if case .soa(let data) = soa.data { record.ttl = min(soa.ttl, data.minimum) }
    return record
  }
}

/// The zones a server is authoritative for, and how it answers. Where the RFCs leave a
/// choice (what goes in the authority and additional sections, which RRset answers ANY, how
/// errors look), the answers are NSD 4's, which the differential test holds them to.
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

  /// CNAMEs followed for one answer, at most (NSD's bound; a loop ends sooner, when a CNAME
  /// already in the answer comes round again).
  static let maximumChain = 18

  /// The response to `query` (before it is cut to a transport's size).
  public func answer(_ query: DNSMessage) -> DNSMessage {
    var response = DNSMessage(id: query.id, questions: query.questions)
    response.flags.isResponse = true
    response.flags.opcode = query.flags.opcode
    response.flags.recursionDesired = query.flags.recursionDesired
    if let edns = query.edns {
      response.edns = EDNS(udpPayloadSize: 1232, dnssecOK: edns.dnssecOK)
      guard edns.version == 0 else {
        // RFC 6891 6.1.3: BADVERS, with the question and the query's flags, our OPT at version 0.
        response.flags = query.flags
        response.flags.isResponse = true
        response.flags.authenticData = false
        response.edns?.dnssecOK = false
        response.responseCode = .badVersion
        return response
      }
    }
    switch query.flags.opcode {
    case .query: break
    case .notify:
      // No NOTIFY is accepted (this server has no primaries): REFUSED for a zone it serves.
      response.questions = []
      let served = query.questions.first.map { question in zones.contains { $0.origin == question.name } } ?? false
      response.responseCode = served ? .refused : .nameError
      return response
    default:
      // NOTIMP with the query's flags and no question.
      response.flags = query.flags
      response.flags.isResponse = true
      response.questions = []
      response.responseCode = .notImplemented
      return response
    }
    guard query.questions.count == 1, query.answers.isEmpty, query.authority.isEmpty || query.questions[0].type == .ixfr,
      query.additional.isEmpty, query.flags.responseCode == 0
    else {
      if query.questions.isEmpty, query.edns != nil, query.answers.isEmpty, query.authority.isEmpty {
        return response  // RFC 7873 14: a query with only an OPT record (a cookie) gets NOERROR
      }
      // FORMERR, without the question or an OPT record; the RD bit kept unless the questions
      // were too many.
      response.flags = DNSFlags()
      response.flags.isResponse = true
      response.flags.opcode = query.flags.opcode
      response.flags.recursionDesired = query.questions.count < 2 && query.flags.recursionDesired
      response.questions = []
      response.edns = nil
      response.responseCode = .formatError
      return response
    }
    let question = query.questions[0]
    switch question.recordClass {
    case .internet, .any: break
    case .chaos:
      response.responseCode = .refused
      response.edns?.options = [ExtendedError.notSupported.option]
      return response
    default:
      response.questions = []
      response.responseCode = .refused
      return response
    }
    // DS at a zone's apex is the parent's (RFC 4035 3.1.4.1): asked of the parent zone when
    // it is served here too.
    var found = zone(for: question.name)
    if question.type == .ds, let child = found, child.origin == question.name, let parent = question.name.parent,
      let above = zone(for: parent)
    {
      found = above
    }
    guard let zone = found else {
      response.responseCode = .refused
      response.edns?.options = [ExtendedError.notAuthoritative.option]
      return response
    }
    var lookup = Lookup(authority: self, response: response, type: question.type, classAny: question.recordClass == .any)
    lookup.run(question.name, in: zone)
    return lookup.response
  }
}

/// Extended DNS errors (RFC 8914) a response may carry in its OPT record.
public struct ExtendedError: Sendable {
  public var infoCode: UInt16
  public static let prohibited = ExtendedError(infoCode: 18)
  public static let notAuthoritative = ExtendedError(infoCode: 20)
  public static let notSupported = ExtendedError(infoCode: 21)

  /// The EDNS option (code 15): the info code, no text.
  public var option: EDNSOption { EDNSOption(code: 15, data: [UInt8(infoCode >> 8), UInt8(infoCode & 0xff)]) }
}

/// One answer under way: RFC 1034 4.3.2 through CNAMEs, zone by zone.
struct Lookup {
  let authority: Authority
  var response: DNSMessage
  let type: RecordType
  /// Class ANY: answered from the IN data, not authoritatively, without SOA or NS.
  let classAny: Bool
  /// The addresses for the additional section: A records before AAAA, as NSD orders them.
  var addressesA: [ResourceRecord] = []
  var addressesAAAA: [ResourceRecord] = []

  init(authority: Authority, response: DNSMessage, type: RecordType, classAny: Bool) {
    self.authority = authority
    self.response = response
    self.type = type
    self.classAny = classAny
  }

  mutating func run(_ name: DNSName, in zone: Zone) {
    response.flags.authoritative = !classAny
    resolve(name, in: zone)
    response.additional = addressesA + addressesAAAA
  }

  mutating func resolve(_ start: DNSName, in startZone: Zone) {
    var name = start
    var zone = startZone
    var chain = 0
    while true {
      // Below a zone cut (or at one, but for DS, which the parent holds: RFC 4035 3.1.4.1):
      // a referral, not authoritative unless a CNAME led here.
      if let cut = zone.cut(above: name, includingName: type != .ds), let delegation = zone.nodes[cut]?[.ns] {
        if response.answers.isEmpty { response.flags.authoritative = false }
        response.authority += delegation
        response.glueIsRequired = true
        addAddresses(for: delegation, in: zone)
        return
      }
      guard let (node, owner) = zone.node(for: name) else {
        response.responseCode = .nameError
        if !classAny { response.authority.append(zone.negativeSOA) }
        return
      }
      func synthesize(_ records: [ResourceRecord]) -> [ResourceRecord] {
        owner == name ? records : records.map { record in
          var copy = record
          copy.name = name
          return copy
        }
      }
      if type != .cname, let cname = node[.cname] {
        // A loop ends when a CNAME comes round again.
        guard !response.answers.contains(where: { $0.type == .cname && $0.name == name }) else { return }
        response.answers += synthesize(cname)
        // ANY at a CNAME: the CNAME alone (RFC 8482 4.2 lets a server pick one RRset).
        guard type != .any, chain < Authority.maximumChain, case .cname(let target) = cname[0].data else { return }
        // Into another zone served here, or out (then the CNAMEs alone).
        guard let next = authority.zone(for: target) else { return }
        chain += 1
        name = target
        zone = next
        continue
      }
      if type == .any {
        guard let rrset = Self.anyChoice(node) else {
          if !classAny { response.authority.append(zone.negativeSOA) }
          return
        }
        response.answers += synthesize(rrset)
        addAddresses(for: rrset, in: zone)
        return
      }
      guard let rrset = node[type] else {
        // NODATA: the name exists, the type does not.
        if !classAny { response.authority.append(zone.negativeSOA) }
        return
      }
      response.answers += synthesize(rrset)
      addAddresses(for: rrset, in: zone)
      // The zone's NS records, as NSD adds them to positive answers (optional: left out
      // without TC when they do not fit).
      if !classAny, type != .ds, type != .dnskey, let apex = zone.nodes[zone.origin]?[.ns],
        !(type == .ns && name == zone.origin)
      {
        response.authority += apex
        response.authorityIsOptional = true
        addAddresses(for: apex, in: zone)
      }
      return
    }
  }

  /// ANY's one RRset, as NSD picks it: the first A, AAAA, SOA, MX or PTR in the zone's order,
  /// else the last of the other types (DNSSEC's types last of all).
  static func anyChoice(_ node: Zone.Node) -> [ResourceRecord]? {
    var other: [ResourceRecord]? = nil
    var dnssec: [ResourceRecord]? = nil
    for rrset in node.rrsets {
      switch rrset[0].type {
      case .a, .aaaa, .soa, .mx, .ptr: return rrset
      case .dnskey, .rrsig, .nsec: dnssec = rrset
      default: other = rrset
      }
    }
    return other ?? dnssec
  }

  /// The addresses of the names `rrset` points at (NS, MX, SRV targets), from `zone` only:
  /// an NS target's even below a cut (glue), an MX or SRV target's only above one; a target
  /// a wildcard covers gets the synthesized addresses. Nothing already in the response
  /// twice.
  mutating func addAddresses(for rrset: [ResourceRecord], in zone: Zone) {
    let glue = rrset[0].type == .ns
    for record in rrset {
      guard let target = record.data.targetName, target.isSubdomain(of: zone.origin),
        authority.zone(for: target)?.origin == zone.origin
      else { continue }
      if !glue, zone.cut(above: target, includingName: true) != nil { continue }
      guard let (node, owner) = zone.node(for: target) else { continue }
      for addressType in [RecordType.a, .aaaa] {
        guard var records = node[addressType] else { continue }
        if owner != target { records = records.map { record in
          var copy = record
          copy.name = target
          return copy
        } }
        let present = { (list: [ResourceRecord]) in list.contains { $0.type == addressType && $0.name == target } }
        if present(response.answers) || present(response.authority) || present(addressesA) || present(addressesAAAA) {
          continue
        }
        if addressType == .a { addressesA += records } else { addressesAAAA += records }
      }
    }
  }
}

extension Zone {
  /// The zone cut at or above `name` (at `name` itself only if `includingName`) and below the
  /// origin: a name holding NS records, the highest on the way down.
  func cut(above name: DNSName, includingName: Bool) -> DNSName? {
    guard hasCuts else { return nil }
    let depth = name.labelCount - origin.labelCount
    var level = depth - 1  // from just below the origin down to `name`
    let lowest = includingName ? 0 : 1
    while level >= lowest {
      let candidate = name.dropping(labels: level)
      if nodes[candidate]?[.ns] != nil { return candidate }
      level -= 1
    }
    return nil
  }

  /// The records at `name` and their owner: the name's own, or for a name that does not exist
  /// the wildcard at its closest encloser (RFC 4592) with the wildcard's name; nil for a
  /// name that does not exist and no wildcard covers. An empty non-terminal exists (no
  /// records).
  func node(for name: DNSName) -> (Zone.Node, DNSName)? {
    if let node = nodes[name] { return (node, name) }
    if names.contains(name) { return (Zone.Node(), name) }
    var encloser = name
    while !names.contains(encloser), let parent = encloser.parent { encloser = parent }
    guard let wildcard = encloser.prepending([UInt8(ascii: "*")]), let node = nodes[wildcard] else { return nil }
    return (node, wildcard)
  }
}
