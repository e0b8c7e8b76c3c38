// A stateful firewall and NAT on the stack's forwarding path (a `PacketForwarder`): the first
// packet of a connection is matched against the rules (FirewallRules.swift) and, admitted,
// tracked (ConnectionTracker.swift); every later packet of it, either way, is found by one
// lookup and forwarded translated, without the rules. IPv4 connections leaving by a
// masquerading interface take its address and, when theirs is taken, another port (or ICMP
// identifier); port forwards send connections to one of the firewall's ports on to an inside
// host. ICMP errors about a tracked connection pass, translated inside and out; other ICMP
// errors, TCP segments of no connection that are not a SYN, and echo replies no one asked for
// are dropped and counted. What is addressed to the firewall itself, and is neither a reply
// nor port-forwarded, is the stack's to answer (ping, or nothing listening).
//
// Read first: RFC 3022 (traditional NAT), RFC 4787 and RFC 5382 (NAT behaviour for UDP and
// TCP: endpoint-independent mapping, port preservation when free), RFC 5508 (ICMP through a
// NAT: errors translated, the embedded packet too), RFC 1624 (incremental checksum update).

import SiroccoDevices
import SiroccoFilter
import SiroccoWire

/// What the firewall did with the packets it saw.
public struct FirewallCounters: Equatable, Sendable {
  /// Packets forwarded: of tracked connections, and ICMP errors about them.
  public var forwarded: UInt64 = 0
  public var related: UInt64 = 0
  /// Connections admitted (by a rule, the policy or a port forward) and refused.
  public var admitted: UInt64 = 0
  public var denied: UInt64 = 0
  /// Packets of no connection that cannot open one (a TCP segment without SYN, an echo
  /// reply, an ICMP error about nothing tracked).
  public var invalid: UInt64 = 0
  /// Packets too short or broken for their protocol's header.
  public var malformed: UInt64 = 0
  /// New connections refused because the table was full of answered ones.
  public var tableFull: UInt64 = 0
  /// New connections through a masquerading interface that has no address, or no port free.
  public var untranslatable: UInt64 = 0

  public init() {}
}

/// One rule's (or port forward's, or the policy's) count since the rules were last loaded.
public struct RuleCounters: Equatable, Sendable {
  /// Connections it admitted, or packets it refused (deny).
  public var connections: UInt64 = 0
  /// Packets and bytes it decided on: every packet of the connections it admitted, both
  /// ways; every packet it refused.
  public var packets: UInt64 = 0
  public var bytes: UInt64 = 0
}

public final class Firewall: PacketForwarder {
  /// The stack it forwards through (which holds it as its forwarder in turn: the two live as
  /// long as each other, the unikernel's life).
  public let router: any Router
  public private(set) var rules: FirewallRules
  public private(set) var tracker: ConnectionTracker
  public private(set) var counters = FirewallCounters()
  /// By rule index, then the port forwards, then the policy (last).
  public private(set) var ruleCounters: [RuleCounters]
  /// How many times the rules were replaced.
  public private(set) var reloads = 0
  /// A frame made for the rules when the packet came without one (put together from fragments).
  var scratch: [UInt8] = []
  var random: SplitMix64

  /// A firewall with `rules` on `router`'s forwarding path (it becomes the router's forwarder).
  public init(rules: FirewallRules, router: any Router, tracker: ConnectionTracker.Configuration = .init(), seed: UInt64) {
    self.router = router
    self.rules = rules
    self.tracker = ConnectionTracker(configuration: tracker)
    self.ruleCounters = Self.counters(for: rules)
    self.random = SplitMix64(seed: seed)
    router.forwarder = self
  }

  /// Replaces the rules. Tracked connections go on as they were (translations included);
  /// the counters start again.
  public func reload(_ rules: FirewallRules) {
    self.rules = rules
    ruleCounters = Self.counters(for: rules)
    reloads += 1
  }

  /// Counters at zero for each rule, port forward and the policy of `rules`.
  static func counters(for rules: FirewallRules) -> [RuleCounters] {
    Array(repeating: RuleCounters(), count: rules.rules.count + rules.forwards.count + 1)
  }

  /// Counts a packet of `length` bytes that rule `index` decided on (`opening`: the first of
  /// a connection it admitted, or one it refused).
  func count(rule index: Int, length: Int, opening: Bool) {
    if opening { ruleCounters[index].connections &+= 1 }
    ruleCounters[index].packets &+= 1
    ruleCounters[index].bytes &+= UInt64(length)
  }

  /// Forgets connections that timed out, a share of the table per call.
  public func sweep(now: Instant) {
    tracker.sweep(now: now, budget: 4096)
  }

  // MARK: The packets

  /// A packet's protocol fields, as the firewall reads them.
  struct Parsed {
    var key: FlowKey
    var isIPv4: Bool
    /// Where the transport header starts in the packet.
    var transport: Int
    var tcpFlags: UInt8 = 0
    /// ICMP: whether it is an error, an echo request or an echo reply.
    var isICMPError = false
    var isEchoRequest = false
    var isEchoReply = false
  }

  public func receive(
    _ packet: UnsafeRawBufferPointer, frame: UnsafeRawBufferPointer?, on link: Link, now: Instant
  ) -> Bool {
    guard let parsed = Self.parse(packet) else {
      counters.malformed &+= 1
      return true
    }
    if let (slot, isReply) = tracker.lookup(parsed.key, now: now) {
      if !parsed.isICMPError {
        tracker.update(slot: slot, isReply: isReply, tcpFlags: parsed.tcpFlags, length: packet.count, now: now)
        let connection = tracker[slot]
        if connection.ruleSet == reloads, connection.rule >= 0 {
          count(rule: connection.rule, length: packet.count, opening: false)
        }
        counters.forwarded &+= 1
        send(packet, parsed, connection: connection, isReply: isReply, on: link, now: now)
        return true
      }
    }
    if parsed.isICMPError { return related(packet, parsed, on: link, now: now) }
    let destination = parsed.key.destination
    let tcp = parsed.key.protocolNumber == IPProtocol.tcp.rawValue
    // What only continues a connection and has none: the stack's if it is to us (a RST
    // answers a stray segment), else dropped.
    if (tcp && parsed.tcpFlags & 0x12 != 0x02) || parsed.isEchoReply {
      if isLocal(destination) { return false }
      counters.invalid &+= 1
      return true
    }
    // A port forward?
    var target = destination
    var targetPort = parsed.key.destinationPort
    var decision: Int? = nil
    if parsed.isIPv4, Self.owns(link, destination) {
      for (index, forward) in rules.forwards.enumerated()
      where forward.input == link.index && forward.protocolNumber == parsed.key.protocolNumber
        && forward.port == parsed.key.destinationPort
      {
        target = IPv6Address(ipv4Mapped: forward.target)
        targetPort = forward.targetPort
        decision = rules.rules.count + index
        break
      }
    }
    if decision == nil, isLocal(destination) { return false }
    let targetAddress = IPAddress.v6(target).unmapped
    let out = router.outgoingLink(to: targetAddress, now: now)
    if decision == nil {
      let index = match(packet, frame: frame, input: link, output: out)
      let allowed = index < rules.rules.count ? rules.rules[index].action == .allow : rules.policy == .allow
      if !allowed {
        count(rule: index, length: packet.count, opening: true)
        counters.denied &+= 1
        return true
      }
      decision = index
    }
    guard let out else {
      // No route: the router says so to the sender.
      router.forward(packet, to: targetAddress, arrivedOn: link, now: now) { _, _ in }
      return true
    }
    // The reply's key: from the target, to us (masquerading) or the sender.
    var reply = FlowKey(
      source: target, destination: parsed.key.source, sourcePort: targetPort, destinationPort: parsed.key.sourcePort,
      protocolNumber: parsed.key.protocolNumber)
    if parsed.isIPv4, rules.masquerade.contains(out.index), !rules.masquerade.contains(link.index) {
      guard let address = out.ipv4.first?.address else {
        counters.untranslatable &+= 1
        return true
      }
      reply.destination = IPv6Address(ipv4Mapped: address)
      guard choosePort(&reply, echo: parsed.isEchoRequest) else {
        counters.untranslatable &+= 1
        return true
      }
    } else if tracker.isInUse(reply) {
      // Another connection's translation already took these ports: this one would be lost in it.
      counters.untranslatable &+= 1
      return true
    }
    guard let rule = decision,
      let slot = tracker.insert(original: parsed.key, reply: reply, rule: rule, ruleSet: reloads, now: now)
    else {
      counters.tableFull &+= 1
      return true
    }
    counters.admitted &+= 1
    count(rule: rule, length: packet.count, opening: true)
    tracker.update(slot: slot, isReply: false, tcpFlags: parsed.tcpFlags, length: packet.count, now: now)
    counters.forwarded &+= 1
    send(packet, parsed, connection: tracker[slot], isReply: false, on: link, now: now)
    return true
  }

  /// The first rule that matches (its index), or the policy's index past the port forwards.
  func match(_ packet: UnsafeRawBufferPointer, frame: UnsafeRawBufferPointer?, input: Link, output: Link?) -> Int {
    for (index, rule) in rules.rules.enumerated() {
      if let wanted = rule.input, wanted != input.index { continue }
      if let wanted = rule.output, wanted != output?.index { continue }
      if let filter = rule.filter {
        let matched: Bool
        if let frame {
          matched = filter.matches(frame)
        } else {
          // Put together from fragments: the rules see it behind an Ethernet header of our own.
          let length = EthernetHeader.minimumLength + packet.count
          if scratch.count < length { scratch = [UInt8](repeating: 0, count: length) }
          matched = scratch.withUnsafeMutableBytes { bytes in
            let made = bytes.slice(from: 0, length: length)
            let etherType: EtherType = packet.readUInt8(at: 0) >> 4 == 4 ? .ipv4 : .ipv6
            EthernetHeader(destination: input.macAddress, source: MACAddress(rawValue: 0), etherType: etherType).emit(into: made)
            made.suffix(from: EthernetHeader.minimumLength).copyMemory(from: packet)
            return filter.matches(UnsafeRawBufferPointer(made))
          }
        }
        if !matched { continue }
      }
      return index
    }
    return rules.rules.count + rules.forwards.count
  }

  /// Finds a free port for the reply key (keeping the sender's when free: RFC 4787 REQ-3's
  /// port preservation), changing `reply.destinationPort` (an echo's identifier: both ports).
  func choosePort(_ reply: inout FlowKey, echo: Bool) -> Bool {
    func free(_ port: UInt16) -> Bool {
      var candidate = reply
      candidate.destinationPort = port
      if echo { candidate.sourcePort = port }
      return !tracker.isInUse(candidate)
    }
    if free(reply.destinationPort) { return true }
    // Ports from 1024 (identifiers from 0), from a random start, one after another.
    let low: UInt32 = echo ? 0 : 1024
    let span = 65536 - low
    var port = low + UInt32(truncatingIfNeeded: random.next()) % span
    for _ in 0..<min(span, 4096) {
      if free(UInt16(port)) {
        reply.destinationPort = UInt16(port)
        if echo { reply.sourcePort = UInt16(port) }
        return true
      }
      port = port + 1 >= 65536 ? low : port + 1
    }
    return false
  }

  /// Forwards a packet of `connection` translated: its source and destination become what
  /// the other direction's key says they are to its peer.
  func send(
    _ packet: UnsafeRawBufferPointer, _ parsed: Parsed, connection: TrackedConnection, isReply: Bool, on link: Link,
    now: Instant
  ) {
    let other = isReply ? connection.original : connection.reply
    // Translated: from where the other side sent to, to where it came from.
    let source = other.destination
    let destination = other.source
    let sourcePort = other.destinationPort
    let destinationPort = other.sourcePort
    let address = IPAddress.v6(destination).unmapped
    let key = parsed.key
    guard source != key.source || destination != key.destination || sourcePort != key.sourcePort
      || destinationPort != key.destinationPort
    else {
      router.forward(packet, to: address, arrivedOn: link, now: now) { _, _ in }
      return
    }
    router.forward(packet, to: address, arrivedOn: link, now: now) { copy, partialChecksum in
      Self.translate(
        copy, transport: parsed.transport, protocolNumber: key.protocolNumber,
        source: UInt32(truncatingIfNeeded: source.low), destination: UInt32(truncatingIfNeeded: destination.low),
        sourcePort: sourcePort, destinationPort: destinationPort, echo: parsed.isEchoRequest || parsed.isEchoReply,
        identifier: isReply ? destinationPort : sourcePort, partialChecksum: partialChecksum)
    }
  }

  /// An ICMP error: passed on if it is about a tracked connection (translated: RFC 5508),
  /// else the stack's if it is to us, else dropped.
  func related(_ packet: UnsafeRawBufferPointer, _ parsed: Parsed, on link: Link, now: Instant) -> Bool {
    let icmp = parsed.transport
    let inner = icmp + 8
    guard let quoted = Self.parse(packet.suffix(from: inner), quoted: true), quoted.isIPv4 == parsed.isIPv4,
      let (slot, isReply) = tracker.lookup(quoted.key.reversed, now: now)
    else {
      if isLocal(parsed.key.destination) { return false }
      counters.invalid &+= 1
      return true
    }
    let connection = tracker[slot]
    // The error goes the way of `isReply`; the packet it quotes went the other way, and is
    // put back as it was before translation.
    let quotedKey = isReply ? connection.original : connection.reply
    let peerKey = isReply ? connection.reply : connection.original
    let outerDestination = quotedKey.source
    // From the far end itself: its address as the receiver knows it.
    let outerSource = parsed.key.source == peerKey.source ? quotedKey.destination : parsed.key.source
    let address = IPAddress.v6(outerDestination).unmapped
    counters.related &+= 1
    guard parsed.isIPv4, quotedKey != quoted.key || outerDestination != parsed.key.destination || outerSource != parsed.key.source
    else {
      router.forward(packet, to: address, arrivedOn: link, now: now) { _, _ in }
      return true
    }
    router.forward(packet, to: address, arrivedOn: link, now: now) { copy, _ in
      copy.writeUInt32(UInt32(truncatingIfNeeded: outerSource.low), at: 12)
      copy.writeUInt32(UInt32(truncatingIfNeeded: outerDestination.low), at: 16)
      let embedded = copy.suffix(from: inner)
      let headerLength = Int(embedded[0] & 0xf) * 4
      Self.translate(
        embedded, transport: quoted.transport, protocolNumber: quotedKey.protocolNumber,
        source: UInt32(truncatingIfNeeded: quotedKey.source.low), destination: UInt32(truncatingIfNeeded: quotedKey.destination.low),
        sourcePort: quotedKey.sourcePort, destinationPort: quotedKey.destinationPort, echo: quoted.isEchoRequest || quoted.isEchoReply,
        identifier: quoted.isEchoReply ? quotedKey.destinationPort : quotedKey.sourcePort)
      if embedded.count >= headerLength {
        embedded.writeUInt16(0, at: 10)
        embedded.writeUInt16(InternetChecksum.compute(UnsafeRawBufferPointer(embedded.slice(from: 0, length: headerLength))), at: 10)
      }
      let message = copy.suffix(from: icmp)
      message.writeUInt16(0, at: 2)
      message.writeUInt16(InternetChecksum.compute(UnsafeRawBufferPointer(message)), at: 2)
    }
    return true
  }

  // MARK: Reading and rewriting

  /// The key and the fields the firewall reads; nil when the transport header is cut short.
  /// `quoted`: the packet an ICMP error quotes (only its first 8 transport bytes need be there).
  static func parse(_ packet: UnsafeRawBufferPointer, quoted: Bool = false) -> Parsed? {
    guard packet.count >= 1 else { return nil }
    let isIPv4 = packet[0] >> 4 == 4
    let source: IPv6Address
    let destination: IPv6Address
    let protocolNumber: UInt8
    let transport: Int
    if isIPv4 {
      guard packet.count >= IPv4Header.minimumLength else { return nil }
      let headerLength = Int(packet[0] & 0xf) * 4
      guard headerLength >= IPv4Header.minimumLength else { return nil }
      source = IPv6Address(ipv4Mapped: IPv4Address.read(from: packet, at: 12))
      destination = IPv6Address(ipv4Mapped: IPv4Address.read(from: packet, at: 16))
      protocolNumber = packet[9]
      transport = headerLength
      // A quoted fragment past the first carries no transport header.
      if quoted, packet.readUInt16(at: 6) & 0x1fff != 0 { return nil }
    } else {
      guard packet[0] >> 4 == 6, packet.count >= IPv6Header.length else { return nil }
      source = IPv6Address.read(from: packet, at: 8)
      destination = IPv6Address.read(from: packet, at: 24)
      if quoted {
        protocolNumber = packet[6]
        transport = IPv6Header.length
      } else {
        guard let headers = try? IPv6ExtensionHeaders.walk(packet.suffix(from: IPv6Header.length), nextHeader: IPProtocol(rawValue: packet[6]))
        else { return nil }
        protocolNumber = headers.upperLayerProtocol.rawValue
        transport = IPv6Header.length + headers.upperLayerOffset
      }
    }
    var parsed = Parsed(
      key: FlowKey(source: source, destination: destination, sourcePort: 0, destinationPort: 0, protocolNumber: protocolNumber),
      isIPv4: isIPv4, transport: transport)
    let available = packet.count - transport
    switch protocolNumber {
    case IPProtocol.tcp.rawValue:
      guard available >= (quoted ? 8 : 20) else { return nil }
      parsed.key.sourcePort = packet.readUInt16(at: transport)
      parsed.key.destinationPort = packet.readUInt16(at: transport + 2)
      if !quoted { parsed.tcpFlags = packet[transport + 13] }
    case IPProtocol.udp.rawValue:
      guard available >= 8 else { return nil }
      parsed.key.sourcePort = packet.readUInt16(at: transport)
      parsed.key.destinationPort = packet.readUInt16(at: transport + 2)
    case IPProtocol.icmp.rawValue where isIPv4, IPProtocol.icmpv6.rawValue where !isIPv4:
      guard available >= 8 else { return nil }
      let type = packet[transport]
      parsed.isEchoRequest = isIPv4 ? type == 8 : type == 128
      parsed.isEchoReply = isIPv4 ? type == 0 : type == 129
      parsed.isICMPError = isIPv4 ? (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) : (type >= 1 && type <= 4)
      if parsed.isEchoRequest || parsed.isEchoReply {
        let identifier = packet.readUInt16(at: transport + 4)
        parsed.key.sourcePort = identifier
        parsed.key.destinationPort = identifier
      }
      if quoted { parsed.isICMPError = false }
    default:
      break
    }
    return parsed
  }

  /// Rewrites an IPv4 packet's addresses and ports (an echo's identifier) and patches the
  /// transport checksum for them (RFC 1624); the IP header checksum is the caller's. The
  /// packet may be cut short (quoted in an ICMP error): what is not there is not patched.
  /// A partial checksum (a segment whose device completes it: the field holds the
  /// pseudo-header's sum, uncomplemented) takes the address change only: the device sums
  /// the ports itself.
  static func translate(
    _ packet: UnsafeMutableRawBufferPointer, transport: Int, protocolNumber: UInt8, source: UInt32, destination: UInt32,
    sourcePort: UInt16, destinationPort: UInt16, echo: Bool, identifier: UInt16, partialChecksum: Bool = false
  ) {
    let view = UnsafeRawBufferPointer(packet)
    let oldSource = view.readUInt32(at: 12)
    let oldDestination = view.readUInt32(at: 16)
    packet.writeUInt32(source, at: 12)
    packet.writeUInt32(destination, at: 16)
    let available = packet.count - transport
    func patch(at offset: Int, zeroMeansNone: Bool, addresses: Bool, _ changes: [(UInt16, UInt16)]) {
      guard available >= offset + 2, !partialChecksum || addresses else { return }
      var checksum = view.readUInt16(at: transport + offset)
      // A partial checksum is the sum itself: complemented, it adjusts as a checksum does.
      if partialChecksum {
        checksum = ~checksum
      } else if zeroMeansNone, checksum == 0 {
        return
      }
      if addresses {
        checksum = adjust(checksum, UInt16(oldSource >> 16), UInt16(source >> 16))
        checksum = adjust(checksum, UInt16(oldSource & 0xffff), UInt16(source & 0xffff))
        checksum = adjust(checksum, UInt16(oldDestination >> 16), UInt16(destination >> 16))
        checksum = adjust(checksum, UInt16(oldDestination & 0xffff), UInt16(destination & 0xffff))
      }
      if partialChecksum {
        checksum = ~checksum
      } else {
        for (old, new) in changes { checksum = adjust(checksum, old, new) }
        if zeroMeansNone, checksum == 0 { checksum = 0xffff }
      }
      packet.writeUInt16(checksum, at: transport + offset)
    }
    switch protocolNumber {
    case IPProtocol.tcp.rawValue, IPProtocol.udp.rawValue:
      guard available >= 4 else { return }
      let oldSourcePort = view.readUInt16(at: transport)
      let oldDestinationPort = view.readUInt16(at: transport + 2)
      packet.writeUInt16(sourcePort, at: transport)
      packet.writeUInt16(destinationPort, at: transport + 2)
      let udp = protocolNumber == IPProtocol.udp.rawValue
      patch(
        at: udp ? 6 : 16, zeroMeansNone: udp, addresses: true,
        [(oldSourcePort, sourcePort), (oldDestinationPort, destinationPort)])
    case IPProtocol.icmp.rawValue where echo:
      guard available >= 6 else { return }
      let old = view.readUInt16(at: transport + 4)
      packet.writeUInt16(identifier, at: transport + 4)
      patch(at: 2, zeroMeansNone: false, addresses: false, [(old, identifier)])
    default:
      break
    }
  }

  /// RFC 1624 eqn. 3: the checksum after a 16-bit word of what it covers went from `old` to
  /// `new`: ~(~HC + ~m + m').
  static func adjust(_ checksum: UInt16, _ old: UInt16, _ new: UInt16) -> UInt16 {
    var sum = UInt32(~checksum) + UInt32(~old) + UInt32(new)
    sum = (sum & 0xffff) + (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16)
    return ~UInt16(sum)
  }

  static func owns(_ link: Link, _ address: IPv6Address) -> Bool {
    address.ipv4Mapped.map { link.owns($0) } ?? link.owns(address)
  }

  func isLocal(_ address: IPv6Address) -> Bool {
    for link in router.links where Self.owns(link, address) { return true }
    return false
  }

  // MARK: Reports

  /// One line per rule, port forward and the policy, with its counters.
  public func report() -> [Text] {
    var lines: [Text] = []
    func line(_ label: String, _ counters: RuleCounters, deny: Bool) {
      lines.append(
        "\(label): \(counters.connections) \(deny ? "refused" : "connections"), \(counters.packets) packets, \(counters.bytes) bytes")
    }
    for (index, rule) in rules.rules.enumerated() {
      line("rule " + String(rule.line) + " '" + rule.text + "'", ruleCounters[index], deny: rule.action == .deny)
    }
    for (index, forward) in rules.forwards.enumerated() {
      line("rule " + String(forward.line) + " '" + forward.text + "'", ruleCounters[rules.rules.count + index], deny: false)
    }
    line(rules.policy == .allow ? "policy allow" : "policy deny", ruleCounters[ruleCounters.count - 1], deny: rules.policy == .deny)
    lines.append(
      "connections \(tracker.count) of \(tracker.configuration.maximum) (evicted \(tracker.evicted), expired \(tracker.expired)), forwarded \(counters.forwarded), related \(counters.related), admitted \(counters.admitted), denied \(counters.denied), invalid \(counters.invalid), malformed \(counters.malformed), table full \(counters.tableFull), untranslatable \(counters.untranslatable), offloaded segments whole \(router.counters.forwardedWhole) cut here \(router.counters.forwardedCutHere)"
    )
    return lines
  }
}
