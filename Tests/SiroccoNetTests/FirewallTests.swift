// The firewall on a stack with two in-memory links: lan (10.0.0.2/24, the inside host
// 10.0.0.1) and wan (192.0.2.2/24, the outside server 192.0.2.1). Masquerading, a port
// forward, rules and the default policy, ICMP errors translated inside and out, TTL, the
// connection table's TCP states, its bound and its evictions, the rules' text with the
// column of every error, and segments with offload work pending translated whole (their
// partial checksums patched) or cut here for a link without the offload.

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

private let wanMAC = MACAddress(0x02, 0, 0, 0, 1, 0x02)
private let wanIP = IPv4Address(192, 0, 2, 2)
private let serverMAC = MACAddress(0x02, 0, 0, 0, 1, 0x01)
private let serverIP = IPv4Address(192, 0, 2, 1)

private final class TwoLinks {
  let lan = MemoryNetworkDevice(macAddress: ourMAC)
  let wan = MemoryNetworkDevice(macAddress: wanMAC)
  let stack: Stack<MemoryNetworkDevice>
  let firewall: Firewall
  var now = Instant.zero

  init(rules text: String, maximum: Int = 1024) throws {
    stack = Stack(seed: 7)
    var configuration = Link.Configuration(name: "lan", macAddress: ourMAC)
    configuration.announcements = 0
    configuration.ipv6 = false
    let lanLink = stack.attach(lan, configuration: configuration)
    configuration.name = "wan"
    configuration.macAddress = wanMAC
    let wanLink = stack.attach(wan, configuration: configuration)
    stack.add(ourNetwork, to: lanLink)
    stack.add(IPv4Network(address: wanIP, prefixLength: 24), to: wanLink)
    stack.addNeighbor(peerIP, at: peerMAC, on: lanLink, now: now)
    stack.addNeighbor(serverIP, at: serverMAC, on: wanLink, now: now)
    var tracking = ConnectionTracker.Configuration()
    tracking.maximum = maximum
    firewall = Firewall(rules: try FirewallRules.parse(text, links: ["lan", "wan"]), router: stack, tracker: tracking, seed: 1)
  }

  /// Sends `packet` in on `device` (from its peer) and returns what left each side.
  func cross(_ packet: [UInt8], from device: MemoryNetworkDevice) -> (lan: [[UInt8]], wan: [[UInt8]]) {
    let source = device === lan ? peerMAC : serverMAC
    device.inject(ethernetFrame(to: device.macAddress, from: source, type: .ipv4, packet))
    stack.poll(now: now)
    return (lan.takeTransmitted().map { Array($0[14...]) }, wan.takeTransmitted().map { Array($0[14...]) })
  }
}

/// A TCP segment (20-byte header, `flags`) with its checksum over the pseudo-header.
private func tcpSegment(
  from source: IPv4Address, _ sourcePort: UInt16, to destination: IPv4Address, _ destinationPort: UInt16, flags: UInt8,
  timeToLive: UInt8 = 64, _ payload: [UInt8] = []
) -> [UInt8] {
  var segment = [UInt8](repeating: 0, count: 20) + payload
  segment[0] = UInt8(sourcePort >> 8)
  segment[1] = UInt8(sourcePort & 0xff)
  segment[2] = UInt8(destinationPort >> 8)
  segment[3] = UInt8(destinationPort & 0xff)
  segment[12] = 5 << 4
  segment[13] = flags
  segment[14] = 0xff
  let checksum = referenceChecksum(pseudoHeader(source: source, destination: destination, protocol: 6, segment))
  segment[16] = UInt8(checksum >> 8)
  segment[17] = UInt8(checksum & 0xff)
  return ipv4Packet(from: source, to: destination, protocol: .tcp, timeToLive: timeToLive, segment)
}

/// Checks a forwarded IPv4 packet's header and transport checksums by the reference sum.
private func assertChecksumsHold(_ packet: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
  XCTAssertEqual(referenceChecksum(Array(packet[0..<20])), 0, "IPv4 header checksum", file: file, line: line)
  let source = IPv4Address(rawValue: UInt32(be16(packet, 12)) << 16 | UInt32(be16(packet, 14)))
  let destination = IPv4Address(rawValue: UInt32(be16(packet, 16)) << 16 | UInt32(be16(packet, 18)))
  let body = Array(packet[20...])
  switch packet[9] {
  case 6, 17:
    XCTAssertEqual(
      referenceChecksum(pseudoHeader(source: source, destination: destination, protocol: packet[9], body)), 0,
      "transport checksum", file: file, line: line)
  case 1: XCTAssertEqual(referenceChecksum(body), 0, "ICMP checksum", file: file, line: line)
  default: break
  }
}

private let natRules = """
  masquerade out wan
  forward in wan tcp 8080 to 10.0.0.1 port 80
  allow in lan out wan
  deny in wan udp
  """

/// The sum a sender's kernel leaves in a TCP checksum field for its device to complete: the
/// pseudo-header's, for `length` bytes of TCP, uncomplemented.
private func partialChecksum(from source: IPv4Address, to destination: IPv4Address, length: Int) -> UInt16 {
  ~referenceChecksum(pseudoHeader(source: source, destination: destination, protocol: 6, [UInt8](repeating: 0, count: length)))
}

/// `packet` (IPv4, TCP) with its checksum field holding the partial sum instead.
private func leftToTheDevice(_ packet: [UInt8]) -> [UInt8] {
  var packet = packet
  let source = IPv4Address(rawValue: UInt32(be16(packet, 12)) << 16 | UInt32(be16(packet, 14)))
  let destination = IPv4Address(rawValue: UInt32(be16(packet, 16)) << 16 | UInt32(be16(packet, 18)))
  let sum = partialChecksum(from: source, to: destination, length: packet.count - 20)
  packet[36] = UInt8(sum >> 8)
  packet[37] = UInt8(sum & 0xff)
  return packet
}

final class FirewallTests: XCTestCase {
  func testSegmentsWithOffloadWorkPendingCrossTheNATWholeOrAreCutHere() throws {
    for wanOffloads in [true, false] {
      let net = try TwoLinks(rules: natRules)
      net.lan.emulatedOffloads = [.transmitChecksum, .tcpSegmentation, .receiveCoalesced]
      net.wan.emulatedOffloads = wanOffloads ? net.lan.emulatedOffloads : []
      _ = net.cross(tcpSegment(from: peerIP, 40000, to: serverIP, 80, flags: 0x02), from: net.lan)
      _ = net.cross(tcpSegment(from: serverIP, 80, to: wanIP, 40000, flags: 0x12), from: net.wan)
      // 4,000 bytes the inside host's kernel left to cut into 1,000-byte segments.
      let segment = leftToTheDevice(tcpSegment(from: peerIP, 40000, to: serverIP, 80, flags: 0x18, pattern(4000)))
      let calls = net.wan.transmitCalls
      net.lan.inject(
        ethernetFrame(to: ourMAC, from: peerMAC, type: .ipv4, segment),
        pending: TransmitOffload(checksumStart: 34, checksumOffset: 16, headerLength: 54, segmentSize: 1000))
      net.stack.poll(now: net.now)
      let pieces = net.wan.takeTransmitted().map { Array($0[14...]) }
      XCTAssertEqual(pieces.count, 4, "wan offloads \(wanOffloads)")
      XCTAssertEqual(net.wan.transmitCalls - calls, wanOffloads ? 1 : 4, "handed on whole, or cut here")
      var payload: [UInt8] = []
      for piece in pieces {
        XCTAssertEqual(Array(piece[12..<16]), [192, 0, 2, 2], "translated")
        XCTAssertEqual(piece[8], 63)
        assertChecksumsHold(piece)
        payload += piece[40...]
      }
      XCTAssertEqual(payload, pattern(4000))
      XCTAssertEqual(net.stack.counters.forwardedWhole, wanOffloads ? 1 : 0)
      XCTAssertEqual(net.stack.counters.forwardedCutHere, wanOffloads ? 0 : 1)
      guard wanOffloads else { continue }
      // The partial sum handed on is the translated pseudo-header's: completed over the whole
      // segment, as the outgoing kernel's segmentation starts from it, the sum holds.
      let (handed, offload) = try XCTUnwrap(net.wan.lastOffloaded)
      XCTAssertEqual(be16(handed, 14 + 36), partialChecksum(from: wanIP, to: serverIP, length: 4020))
      var whole = handed
      whole.withUnsafeMutableBytes { InternetChecksum.complete(in: $0, start: offload.checksumStart, offset: offload.checksumOffset) }
      assertChecksumsHold(Array(whole[14...]))
      // The answer, a checksum left to complete (no segmentation), comes back to the inside
      // host with the destination translated in its partial sum.
      let answer = leftToTheDevice(tcpSegment(from: serverIP, 80, to: wanIP, 40000, flags: 0x10, pattern(100)))
      net.wan.inject(
        ethernetFrame(to: wanMAC, from: serverMAC, type: .ipv4, answer),
        pending: TransmitOffload(checksumStart: 34, checksumOffset: 16, headerLength: 0, segmentSize: 0))
      net.lan.emulatedOffloads = [.transmitChecksum]
      net.stack.poll(now: net.now)
      let back = try XCTUnwrap(net.lan.takeTransmitted().first.map { Array($0[14...]) })
      XCTAssertEqual(Array(back[16..<20]), [10, 0, 0, 1])
      assertChecksumsHold(back)
      XCTAssertEqual(net.stack.counters.forwardedWhole, 2)
    }
  }

  func testMasqueradeTranslatesBothWaysAndKeepsTheSendersPortWhenFree() throws {
    let net = try TwoLinks(rules: natRules)
    let out = net.cross(tcpSegment(from: peerIP, 40000, to: serverIP, 80, flags: 0x02), from: net.lan)
    XCTAssertEqual(out.wan.count, 1)
    let syn = try XCTUnwrap(out.wan.first)
    XCTAssertEqual(Array(syn[12..<16]), [192, 0, 2, 2], "source: the wan address")
    XCTAssertEqual(be16(syn, 20), 40000, "port kept (RFC 4787 REQ-3)")
    XCTAssertEqual(syn[8], 63, "TTL one less")
    assertChecksumsHold(syn)
    // The answer comes back to 10.0.0.1:40000.
    let back = net.cross(tcpSegment(from: serverIP, 80, to: wanIP, 40000, flags: 0x12), from: net.wan)
    let synACK = try XCTUnwrap(back.lan.first)
    XCTAssertEqual(Array(synACK[16..<20]), [10, 0, 0, 1])
    XCTAssertEqual(be16(synACK, 22), 40000)
    assertChecksumsHold(synACK)
    _ = net.cross(tcpSegment(from: peerIP, 40000, to: serverIP, 80, flags: 0x10), from: net.lan)
    let connection = try XCTUnwrap(net.firewall.tracker.connections.first)
    XCTAssertEqual(connection.tcp, .established)
    XCTAssertTrue(connection.assured)
    // Another inside host with the same port gets another one.
    net.stack.addNeighbor(otherIP, at: otherMAC, on: net.stack.links[0], now: net.now)
    let second = net.cross(tcpSegment(from: otherIP, 40000, to: serverIP, 80, flags: 0x02), from: net.lan).wan
    XCTAssertEqual(second.count, 1)
    XCTAssertNotEqual(be16(second[0], 20), 40000, "the port was taken: another one")
    XCTAssertGreaterThanOrEqual(be16(second[0], 20), 1024)
    assertChecksumsHold(second[0])
    XCTAssertEqual(net.firewall.ruleCounters[0].connections, 2)
    XCTAssertEqual(net.firewall.ruleCounters[0].packets, 4)
  }

  func testUDPAndEchoAreTranslatedAndAZeroUDPChecksumStaysZero() throws {
    let net = try TwoLinks(rules: natRules)
    var datagram = udpDatagram(from: peerIP, sourcePort: 5353, to: serverIP, port: 53, Array("query".utf8), checksum: false)
    let out = net.cross(ipv4Packet(from: peerIP, to: serverIP, protocol: .udp, datagram), from: net.lan).wan
    XCTAssertEqual(out.count, 1)
    XCTAssertEqual(be16(out[0], 26), 0, "no checksum stays none")
    datagram = udpDatagram(from: peerIP, sourcePort: 6000, to: serverIP, port: 53, Array("query".utf8))
    let checked = net.cross(ipv4Packet(from: peerIP, to: serverIP, protocol: .udp, datagram), from: net.lan).wan
    assertChecksumsHold(try XCTUnwrap(checked.first))
    let echo = icmpMessage(.echoRequest(identifier: 77, sequenceNumber: 1), pattern(32))
    let request = try XCTUnwrap(net.cross(ipv4Packet(from: peerIP, to: serverIP, protocol: .icmp, echo), from: net.lan).wan.first)
    assertChecksumsHold(request)
    let reply = icmpMessage(.echoReply(identifier: be16(request, 24), sequenceNumber: 1), pattern(32))
    let answered = try XCTUnwrap(net.cross(ipv4Packet(from: serverIP, to: wanIP, protocol: .icmp, reply), from: net.wan).lan.first)
    XCTAssertEqual(Array(answered[16..<20]), [10, 0, 0, 1])
    XCTAssertEqual(be16(answered, 24), 77, "the identifier as the host sent it")
    assertChecksumsHold(answered)
  }

  func testAnICMPErrorAboutAConnectionIsTranslatedInsideAndOut() throws {
    let net = try TwoLinks(rules: natRules)
    net.stack.addNeighbor(otherIP, at: otherMAC, on: net.stack.links[0], now: net.now)
    _ = net.cross(tcpSegment(from: otherIP, 40000, to: serverIP, 80, flags: 0x02), from: net.lan)
    let sent = net.cross(tcpSegment(from: peerIP, 40000, to: serverIP, 80, flags: 0x02), from: net.lan).wan[0]
    let port = be16(sent, 20)
    XCTAssertNotEqual(port, 40000)
    // A router beyond says the server is unreachable, quoting the segment as it saw it.
    let router = IPv4Address(192, 0, 2, 99)
    let error = icmpMessage(.destinationUnreachable(code: .host, nextHopMTU: 0), Array(sent[0..<28]))
    let back = net.cross(ipv4Packet(from: router, to: wanIP, protocol: .icmp, error), from: net.wan).lan
    let translated = try XCTUnwrap(back.first)
    XCTAssertEqual(Array(translated[12..<16]), [192, 0, 2, 99], "from the router still")
    XCTAssertEqual(Array(translated[16..<20]), [10, 0, 0, 1], "to the inside host")
    let quoted = Array(translated[28...])
    XCTAssertEqual(Array(quoted[12..<16]), [10, 0, 0, 1], "the quoted source as the host sent it")
    XCTAssertEqual(be16(quoted, 20), 40000, "and its port")
    XCTAssertEqual(referenceChecksum(Array(quoted[0..<20])), 0, "the quoted header's checksum")
    assertChecksumsHold(translated)
    XCTAssertEqual(net.firewall.counters.related, 1)
    // One about nothing tracked is dropped.
    let stray = icmpMessage(.destinationUnreachable(code: .host, nextHopMTU: 0), Array(tcpSegment(from: wanIP, 1, to: serverIP, 2, flags: 2)[0..<28]))
    XCTAssertTrue(net.cross(ipv4Packet(from: router, to: peerIP, protocol: .icmp, stray), from: net.wan).lan.isEmpty)
    XCTAssertEqual(net.firewall.counters.invalid, 1)
  }

  func testPortForwardRulesPolicyAndStraySegments() throws {
    let net = try TwoLinks(rules: natRules)
    // To the wan address's port 8080: to 10.0.0.1:80, the client's address kept.
    let forwarded = try XCTUnwrap(net.cross(tcpSegment(from: serverIP, 5555, to: wanIP, 8080, flags: 0x02), from: net.wan).lan.first)
    XCTAssertEqual(Array(forwarded[12..<20]), [192, 0, 2, 1, 10, 0, 0, 1])
    XCTAssertEqual(be16(forwarded, 22), 80)
    assertChecksumsHold(forwarded)
    let answer = try XCTUnwrap(net.cross(tcpSegment(from: peerIP, 80, to: serverIP, 5555, flags: 0x12), from: net.lan).wan.first)
    XCTAssertEqual(Array(answer[12..<16]), [192, 0, 2, 2], "the answer comes from the wan address")
    XCTAssertEqual(be16(answer, 20), 8080)
    assertChecksumsHold(answer)
    XCTAssertEqual(net.firewall.ruleCounters[2].connections, 1, "counted on the forward")
    // From wan toward the inside: UDP meets the deny rule, TCP the policy.
    let udp = udpDatagram(from: serverIP, to: peerIP, port: 53, [1])
    XCTAssertTrue(net.cross(ipv4Packet(from: serverIP, to: peerIP, protocol: .udp, udp), from: net.wan).lan.isEmpty)
    XCTAssertTrue(net.cross(tcpSegment(from: serverIP, 1, to: peerIP, 22, flags: 0x02), from: net.wan).lan.isEmpty)
    XCTAssertEqual(net.firewall.ruleCounters[1].packets, 1, "deny in wan udp")
    XCTAssertEqual(net.firewall.ruleCounters[3].packets, 1, "the policy")
    XCTAssertEqual(net.firewall.counters.denied, 2)
    // A segment of no connection that is not a SYN is dropped; TTL 1 is answered.
    XCTAssertTrue(net.cross(tcpSegment(from: peerIP, 1, to: serverIP, 2, flags: 0x10), from: net.lan).wan.isEmpty)
    XCTAssertEqual(net.firewall.counters.invalid, 1)
    let exceeded = net.cross(tcpSegment(from: peerIP, 2, to: serverIP, 3, flags: 0x02, timeToLive: 1), from: net.lan)
    XCTAssertTrue(exceeded.wan.isEmpty)
    XCTAssertEqual(exceeded.lan.first?[20], 11, "ICMP time exceeded back to the sender")
    XCTAssertEqual(net.stack.counters[.timeExceeded], 1)
  }

  func testAFullTableEvictsUnansweredConnectionsAndRefusesWhenOnlyAnsweredOnesRemain() throws {
    let net = try TwoLinks(rules: natRules, maximum: 16)
    // Eight answered connections.
    for port in UInt16(1000)..<1008 {
      _ = net.cross(tcpSegment(from: peerIP, port, to: serverIP, 80, flags: 0x02), from: net.lan)
      _ = net.cross(tcpSegment(from: serverIP, 80, to: wanIP, port, flags: 0x12), from: net.wan)
      _ = net.cross(tcpSegment(from: peerIP, port, to: serverIP, 80, flags: 0x10), from: net.lan)
    }
    // A flood of SYNs: the table stays at its bound, the oldest unanswered pushed out.
    for port in UInt16(2000)..<2100 {
      XCTAssertEqual(net.cross(tcpSegment(from: peerIP, port, to: serverIP, 80, flags: 0x02), from: net.lan).wan.count, 1)
    }
    XCTAssertEqual(net.firewall.tracker.count, 16)
    XCTAssertEqual(net.firewall.tracker.evicted, 92)
    for port in UInt16(1000)..<1008 {
      let data = net.cross(tcpSegment(from: serverIP, 80, to: wanIP, port, flags: 0x18, [1, 2, 3]), from: net.wan)
      XCTAssertEqual(data.lan.count, 1, "answered connection \(port) kept")
    }
    // Sixteen answered connections: a new one is refused.
    for port in UInt16(2092)..<2100 {
      _ = net.cross(tcpSegment(from: serverIP, 80, to: wanIP, port, flags: 0x12), from: net.wan)
      _ = net.cross(tcpSegment(from: peerIP, port, to: serverIP, 80, flags: 0x10), from: net.lan)
    }
    XCTAssertTrue(net.cross(tcpSegment(from: peerIP, 3000, to: serverIP, 80, flags: 0x02), from: net.lan).wan.isEmpty)
    XCTAssertEqual(net.firewall.counters.tableFull, 1)
    // Time passes: they expire, and there is room again.
    net.now = net.now + .seconds(100_000)
    XCTAssertEqual(net.cross(tcpSegment(from: peerIP, 3001, to: serverIP, 80, flags: 0x02), from: net.lan).wan.count, 1)
  }

  func testTCPStatesAndTimeouts() {
    var tracker = ConnectionTracker()
    let key = FlowKey(
      source: IPv6Address(ipv4Mapped: peerIP), destination: IPv6Address(ipv4Mapped: serverIP), sourcePort: 1, destinationPort: 2,
      protocolNumber: 6)
    let slot = tracker.insert(original: key, reply: key.reversed, rule: 0, ruleSet: 0, now: .zero)!
    var states: [TrackedTCPState] = []
    for (isReply, flags) in [(false, UInt8(0x02)), (true, 0x12), (false, 0x10), (false, 0x11), (true, 0x11), (false, 0x02), (true, 0x04)] {
      tracker.update(slot: slot, isReply: isReply, tcpFlags: flags, length: 40, now: .zero)
      states.append(tracker[slot].tcp)
    }
    XCTAssertEqual(states, [.synSent, .synReceived, .established, .closing, .timeWait, .synSent, .closed])
    XCTAssertEqual(tracker[slot].expires, .zero + .seconds(10))
    XCTAssertNotNil(tracker.lookup(key.reversed, now: at(seconds: 9)))
    XCTAssertNil(tracker.lookup(key, now: at(seconds: 10)), "timed out: forgotten")
    XCTAssertEqual(tracker.count, 0)
  }

  func testRulesAreReadAndEveryErrorNamesItsLineAndColumn() throws {
    let rules = try FirewallRules.parse(
      "# comment\npolicy allow\n  deny in wan out lan tcp dst port 22   # ssh\nallow\nmasquerade out wan\nforward in wan udp 53 to 10.0.0.9\n",
      links: ["lan", "wan"])
    XCTAssertEqual(rules.policy, .allow)
    XCTAssertEqual(rules.rules.count, 2)
    XCTAssertEqual(rules.rules[0].action, .deny)
    XCTAssertEqual(rules.rules[0].input, 1)
    XCTAssertEqual(rules.rules[0].output, 0)
    XCTAssertEqual(rules.rules[0].line, 3)
    XCTAssertEqual(rules.rules[0].text, "deny in wan out lan tcp dst port 22")
    XCTAssertEqual(rules.rules[0].filter?.expression, " tcp dst port 22   ")
    XCTAssertNil(rules.rules[1].filter)
    XCTAssertEqual(rules.masquerade, [1])
    let forward = try XCTUnwrap(rules.forwards.first)
    XCTAssertEqual(rules.forwards.count, 1)
    XCTAssertEqual(forward.input, 1)
    XCTAssertEqual(forward.protocolNumber, 17)
    XCTAssertEqual(forward.port, 53)
    XCTAssertEqual(forward.target, IPv4Address(10, 0, 0, 9))
    XCTAssertEqual(forward.targetPort, 53)
    XCTAssertEqual(forward.text, "forward in wan udp 53 to 10.0.0.9")
    let cases: [(String, String)] = [
      ("allow in lan tcp[", "line 1, column 17: syntax error"),
      ("allow in dmz", "line 1, column 10: no interface 'dmz' (there are: lan, wan)"),
      ("allow in", "line 1, column 9: expected an interface name after 'in'"),
      ("allow in lan in wan", "line 1, column 14: 'in' given twice"),
      ("\npermit all", "line 2, column 1: unknown rule 'permit' (expected allow, deny, forward, masquerade or policy)"),
      ("policy maybe", "line 1, column 13: expected 'allow' or 'deny' after 'policy'"),
      ("masquerade wan", "line 1, column 15: expected 'out NAME' after 'masquerade'"),
      ("forward in wan tcp 0 to 10.0.0.1", "line 1, column 20: '0' is not a port (expected 1-65535)"),
      ("forward in wan tcp 80 to 10.0.0", "line 1, column 26: '10.0.0' is not an IPv4 address (expected a.b.c.d)"),
      ("forward in wan tcp 80 to 10.0.0.1 port 8 extra", "line 1, column 42: unexpected 'extra' (expected the end of the line)"),
      ("forward in wan tcp 80 to 10.0.0.1\nforward in wan tcp 80 to 10.0.0.2", "line 2, column 34: port 80 is forwarded twice"),
      ("deny ip6 and", "line 1, column 13: syntax error: the expression ends too early"),
    ]
    for (text, expected) in cases {
      XCTAssertThrowsError(try FirewallRules.parse(text, links: ["lan", "wan"]), text) { error in
        XCTAssertEqual("\(error)", expected, text)
      }
    }
  }

  func testAReloadKeepsTrackedConnectionsAndAppliesToNewOnes() throws {
    let net = try TwoLinks(rules: natRules)
    _ = net.cross(tcpSegment(from: peerIP, 1000, to: serverIP, 80, flags: 0x02), from: net.lan)
    net.firewall.reload(try FirewallRules.parse("masquerade out wan\ndeny", links: ["lan", "wan"]))
    XCTAssertEqual(net.cross(tcpSegment(from: serverIP, 80, to: wanIP, 1000, flags: 0x12), from: net.wan).lan.count, 1)
    XCTAssertEqual(net.cross(tcpSegment(from: peerIP, 1000, to: serverIP, 80, flags: 0x10), from: net.lan).wan.count, 1)
    XCTAssertTrue(net.cross(tcpSegment(from: peerIP, 1001, to: serverIP, 80, flags: 0x02), from: net.lan).wan.isEmpty)
    XCTAssertEqual(net.firewall.reloads, 1)
    XCTAssertEqual(net.firewall.ruleCounters[0].packets, 1, "the new deny rule")
  }
}
