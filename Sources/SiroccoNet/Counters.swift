// The stack's counters: frames and bytes each way over all links, what each protocol did,
// and every dropped frame or packet by reason. Each link also counts its own traffic
// (`LinkCounters`).

/// Why the stack dropped a frame or a packet. Every drop is counted under exactly one.
public enum DropReason: Int, CaseIterable, Sendable {
  /// Shorter than an Ethernet header.
  case malformedEthernet
  /// Destination MAC neither ours nor broadcast.
  case notForUs
  /// Carries an 802.1Q tag (this interface is untagged).
  case vlanTagged
  /// An EtherType the core does not handle (IPv6 on a link where it is off).
  case unknownEtherType
  case malformedARP
  /// ARP for something other than IPv4 over Ethernet.
  case unsupportedARP
  case malformedIPv4
  case badIPv4Checksum
  /// Destination address neither ours nor a broadcast we accept (multicast included).
  case ipv4NotForUs
  /// A fragment that fits no datagram: empty, past 64 KiB, or not a multiple of 8 bytes
  /// though more follow.
  case ipv4Fragment
  /// A fragment overlapping what its datagram already had (or disagreeing about its end):
  /// the whole datagram is discarded (RFC 5722).
  case fragmentOverlap
  /// A fragment past the reassembly bounds (fragments per datagram, bytes).
  case reassemblyLimit
  /// A datagram in reassembly discarded to make room for a newer one (counted per datagram).
  case reassemblyEvicted
  /// A datagram that did not arrive whole in time (counted per datagram).
  case reassemblyTimeout
  /// Source address broadcast, multicast, loopback or our own (RFC 1122 3.2.1.3).
  case martianSource
  /// An IP protocol without a handler (answered with ICMP protocol unreachable).
  case unknownProtocol
  case malformedICMP
  case badICMPChecksum
  case malformedUDP
  case badUDPChecksum
  /// No socket bound to the destination port (answered with ICMP port unreachable).
  case noUDPSocket
  /// The socket's receive queue was full.
  case udpReceiveQueueFull
  /// No route: off-link destination and no gateway.
  case noRoute
  /// A packet waiting for ARP was pushed out by newer ones, or the table of waiting
  /// destinations was full.
  case arpQueueOverflow
  /// ARP got no answer after every retry; the packets waiting for it were dropped.
  case arpUnresolved
  /// The device refused the frame.
  case transmitFailed
  /// Larger than the MTU and not to be fragmented (a TCP segment, or past 64 KiB).
  case oversized
  case malformedTCP
  case badTCPChecksum
  /// A segment for no connection and no listener (answered with a reset unless it is one).
  case noTCPConnection
  /// A SYN for a listener whose accept queue is full (a full backlog otherwise gets a SYN
  /// cookie), or a SYN when the connection table is full.
  case tcpBacklogFull
  /// Out-of-order data beyond the connection's reassembly bound.
  case tcpOutOfOrderLimit
  /// Data beyond the stack's bound on all TCP buffers together (`tcpMemoryLimit`).
  case tcpMemoryLimit
  case malformedIPv6
  /// Destination neither one of our IPv6 addresses in use nor a group joined on the link.
  case ipv6NotForUs
  /// Extension headers refused as RFC 8200 says (answered with a Parameter Problem where it
  /// says to), or a fragment that fits no packet.
  case ipv6ExtensionHeader
  case malformedICMPv6
  case badICMPv6Checksum
  /// A Neighbor Discovery or MLD message that failed RFC 4861's or RFC 3810's checks (hop
  /// limit 255, source, target, Router Alert).
  case invalidNDP
  /// A packet waiting for neighbour discovery pushed out by newer ones, or too many
  /// destinations waiting.
  case ndpQueueOverflow
  /// Neighbour discovery got no answer; the packets waiting for it were dropped.
  case neighborUnreachable
  /// A datagram to the DHCP client's port that is not a DHCP message (DHCP.swift's checks).
  case malformedDHCP
  /// A packet waiting for its next hop's link-layer address when its source address left
  /// the link (a lease ran out, an address lifetime ended).
  case sourceRemoved
  /// A forwarded packet whose TTL or hop limit ran out (ICMP time exceeded sent back).
  case timeExceeded
}

extension DropReason: CustomStringConvertible {
  public var description: String {
    switch self {
    case .malformedEthernet: "malformed-ethernet"
    case .notForUs: "not-for-us"
    case .vlanTagged: "vlan-tagged"
    case .unknownEtherType: "unknown-ethertype"
    case .malformedARP: "malformed-arp"
    case .unsupportedARP: "unsupported-arp"
    case .malformedIPv4: "malformed-ipv4"
    case .badIPv4Checksum: "bad-ipv4-checksum"
    case .ipv4NotForUs: "ipv4-not-for-us"
    case .ipv4Fragment: "ipv4-fragment"
    case .fragmentOverlap: "fragment-overlap"
    case .reassemblyLimit: "reassembly-limit"
    case .reassemblyEvicted: "reassembly-evicted"
    case .reassemblyTimeout: "reassembly-timeout"
    case .martianSource: "martian-source"
    case .unknownProtocol: "unknown-protocol"
    case .malformedICMP: "malformed-icmp"
    case .badICMPChecksum: "bad-icmp-checksum"
    case .malformedUDP: "malformed-udp"
    case .badUDPChecksum: "bad-udp-checksum"
    case .noUDPSocket: "no-udp-socket"
    case .udpReceiveQueueFull: "udp-receive-queue-full"
    case .noRoute: "no-route"
    case .arpQueueOverflow: "arp-queue-overflow"
    case .arpUnresolved: "arp-unresolved"
    case .transmitFailed: "transmit-failed"
    case .oversized: "oversized"
    case .malformedTCP: "malformed-tcp"
    case .badTCPChecksum: "bad-tcp-checksum"
    case .noTCPConnection: "no-tcp-connection"
    case .tcpBacklogFull: "tcp-backlog-full"
    case .tcpOutOfOrderLimit: "tcp-out-of-order-limit"
    case .tcpMemoryLimit: "tcp-memory-limit"
    case .malformedIPv6: "malformed-ipv6"
    case .ipv6NotForUs: "ipv6-not-for-us"
    case .ipv6ExtensionHeader: "ipv6-extension-header"
    case .malformedICMPv6: "malformed-icmpv6"
    case .badICMPv6Checksum: "bad-icmpv6-checksum"
    case .invalidNDP: "invalid-ndp"
    case .ndpQueueOverflow: "ndp-queue-overflow"
    case .neighborUnreachable: "neighbor-unreachable"
    case .malformedDHCP: "malformed-dhcp"
    case .sourceRemoved: "source-removed"
    case .timeExceeded: "time-exceeded"
    }
  }
}

public struct NetworkCounters: Equatable, Sendable {
  public var receivedFrames: UInt64 = 0
  public var receivedBytes: UInt64 = 0
  public var transmittedFrames: UInt64 = 0
  public var transmittedBytes: UInt64 = 0
  public var echoRepliesSent: UInt64 = 0
  public var arpRequestsSent: UInt64 = 0
  public var arpRepliesSent: UInt64 = 0
  public var udpDatagramsDelivered: UInt64 = 0
  /// Fragments kept for reassembly (the one that completes a datagram is counted by what
  /// becomes of the datagram), datagrams reassembled, and fragments sent.
  public var ipv4FragmentsQueued: UInt64 = 0
  public var ipv4DatagramsReassembled: UInt64 = 0
  public var ipv4FragmentsSent: UInt64 = 0
  public var icmpErrorsSent: UInt64 = 0
  /// ICMP messages received that the core does not act on (errors, echo replies).
  public var icmpIgnored: UInt64 = 0
  public var tcpSegmentsReceived: UInt64 = 0
  public var tcpSegmentsSent: UInt64 = 0
  public var tcpResetsSent: UInt64 = 0
  public var tcpChallengeACKs: UInt64 = 0
  public var tcpRetransmissionTimeouts: UInt64 = 0
  public var tcpFastRetransmits: UInt64 = 0
  public var tcpRetransmittedSegments: UInt64 = 0
  /// Tail loss probes sent (RFC 8985 7).
  public var tcpTailLossProbes: UInt64 = 0
  public var tcpSYNCookiesSent: UInt64 = 0
  public var tcpPAWSRejected: UInt64 = 0
  public var tcpSYNCookiesAccepted: UInt64 = 0
  /// IPv6: fragments kept, packets reassembled, fragments sent.
  public var ipv6FragmentsQueued: UInt64 = 0
  public var ipv6DatagramsReassembled: UInt64 = 0
  public var ipv6FragmentsSent: UInt64 = 0
  public var neighborSolicitationsSent: UInt64 = 0
  public var neighborAdvertisementsSent: UInt64 = 0
  public var routerSolicitationsSent: UInt64 = 0
  public var mldReportsSent: UInt64 = 0
  /// Neighbor Discovery messages taken (solicitations, advertisements; router advertisements
  /// when the link accepts them), whether or not they concern this node, and MLD queries.
  public var ndpMessagesReceived: UInt64 = 0
  public var mldQueriesReceived: UInt64 = 0
  /// Addresses duplicate address detection found in use by another node (RFC 4862 5.4.5).
  public var duplicateAddresses: UInt64 = 0
  /// DHCP client messages sent and server messages taken (parsed; the client may still
  /// ignore one not meant for it), and offered addresses found in use while probing.
  public var dhcpMessagesSent: UInt64 = 0
  public var dhcpMessagesReceived: UInt64 = 0
  public var dhcpConflicts: UInt64 = 0
  /// Packets forwarded (through a `PacketForwarder`), each family.
  public var ipv4Forwarded: UInt64 = 0
  public var ipv6Forwarded: UInt64 = 0
  /// Of those, TCP segments of up to 64 KiB forwarded whole with their offload work pending
  /// (the outgoing device cuts them), and such segments cut here for a device or a path
  /// that could not take them whole.
  public var forwardedWhole: UInt64 = 0
  public var forwardedCutHere: UInt64 = 0
  var drops = [UInt64](repeating: 0, count: DropReason.allCases.count)

  public init() {}

  public subscript(reason: DropReason) -> UInt64 {
    get { drops[reason.rawValue] }
    set { drops[reason.rawValue] = newValue }
  }

  public var totalDrops: UInt64 {
    var total: UInt64 = 0
    for count in drops { total &+= count }
    return total
  }

  mutating func drop(_ reason: DropReason, count: Int = 1) {
    drops[reason.rawValue] &+= UInt64(count)
  }
}

extension NetworkCounters: CustomStringConvertible {
  /// One line: traffic totals, then each non-zero drop counter.
  public var description: String {
    var text = "rx " + String(receivedFrames) + " frames " + String(receivedBytes) + " bytes, tx " + String(transmittedFrames)
      + " frames " + String(transmittedBytes) + " bytes"
    text += ", echo replies " + String(echoRepliesSent)
    if tcpSegmentsReceived + tcpSegmentsSent > 0 {
      text += ", tcp in " + String(tcpSegmentsReceived) + " out " + String(tcpSegmentsSent) + " resent "
        + String(tcpRetransmittedSegments) + " timeouts " + String(tcpRetransmissionTimeouts) + " fast-retransmits "
        + String(tcpFastRetransmits) + " tail-probes " + String(tcpTailLossProbes)
    }
    if ipv4Forwarded + ipv6Forwarded > 0 {
      text += ", forwarded ipv4 " + String(ipv4Forwarded) + " ipv6 " + String(ipv6Forwarded)
      if forwardedWhole + forwardedCutHere > 0 {
        text += " (offloaded: whole " + String(forwardedWhole) + " cut here " + String(forwardedCutHere) + ")"
      }
    }
    text += ", drops " + String(totalDrops)
    for reason in DropReason.allCases where self[reason] != 0 {
      text += " " + reason.description + "=" + String(self[reason])
    }
    return text
  }
}

/// One link's traffic: frames and bytes each way (the stack's counters hold the totals).
public struct LinkCounters: Equatable, Sendable {
  public var receivedFrames: UInt64 = 0
  public var receivedBytes: UInt64 = 0
  public var transmittedFrames: UInt64 = 0
  public var transmittedBytes: UInt64 = 0
  /// Frames the device refused.
  public var transmitFailures: UInt64 = 0

  public init() {}
}

extension LinkCounters: CustomStringConvertible {
  public var description: String {
    "rx " + String(receivedFrames) + " frames " + String(receivedBytes) + " bytes, tx " + String(transmittedFrames)
      + " frames " + String(transmittedBytes) + " bytes, tx failures " + String(transmitFailures)
  }
}
