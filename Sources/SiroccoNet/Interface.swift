// A network interface: one Ethernet device with a static IPv4 configuration. Receives and
// dispatches frames (ARP, IPv4, ICMP, UDP), answers ARP and echo requests, and sends what
// its sockets queued.
//
// Poll-driven, after smoltcp's `Interface`: the core never reads a clock and never blocks.
// The caller passes the time to `poll`, and asks `pollAt` when it must be polled next.

import SiroccoDevices
import SiroccoWire

public final class Interface {
  public struct Configuration: Sendable {
    public var macAddress: MACAddress
    /// The interface's address and the on-link network.
    public var ipv4: IPv4Network
    /// Where packets for off-link destinations go; none: only the on-link network is reached.
    public var gateway: IPv4Address?
    /// The largest IP packet sent or accepted.
    public var mtu: Int
    public var timeToLive: UInt8 = 64
    public var arp = ARPCache.Configuration()
    /// Gratuitous ARP announcements at start, and the time between them (RFC 5227 2.3).
    public var announcements = 2
    public var announcementInterval: Duration = .seconds(2)
    /// Verify IPv4, ICMP and UDP checksums on input (off only for fuzzing).
    public var verifyChecksums = true
    /// Frames handled by one `poll` before it returns, so one busy device cannot starve the rest.
    public var receiveBudget = 64
    /// ICMP errors sent per second at most (token bucket, RFC 1812 4.3.2.8), and the burst.
    public var icmpErrorRate = 100
    public var icmpErrorBurst = 50
    /// Bounds on IPv4 fragment reassembly (datagrams, bytes, fragments, timeout).
    public var reassembly = FragmentReassembly<IPv4FragmentKey>.Configuration()
    /// TCP connections held at most, in every state (a global memory bound).
    public var maximumTCPConnections = 4096
    /// Bytes all TCP connections together hold at most in their buffers: received and not
    /// yet read, out of order, written and not yet acknowledged (a global memory bound).
    public var tcpMemoryLimit = 64 << 20
    /// Challenge ACKs (RFC 5961) sent per second over all connections, on average: each
    /// second's budget is drawn at random between half and one and a half times this, so
    /// an off-path attacker cannot count them to learn of a connection (CVE-2016-5696).
    public var challengeACKLimit = 1000

    public init(macAddress: MACAddress, ipv4: IPv4Network, gateway: IPv4Address? = nil, mtu: Int = 1500) {
      self.macAddress = macAddress
      self.ipv4 = ipv4
      self.gateway = gateway
      self.mtu = mtu
    }
  }

  public let configuration: Configuration
  public var macAddress: MACAddress { configuration.macAddress }
  public var ipv4: IPv4Network { configuration.ipv4 }
  public internal(set) var counters = InterfaceCounters()
  public internal(set) var arp: ARPCache

  var random: SplitMix64
  /// Bytes in every TCP connection's buffers (see `Configuration.tcpMemoryLimit`), and the
  /// limit, which may be changed at run time.
  public internal(set) var tcpBufferedBytes = 0
  public var tcpMemoryLimit: Int
  var tcpMemoryAvailable: Int { max(tcpMemoryLimit - tcpBufferedBytes, 0) }
  /// The device vouched for the transport checksum of the frame being processed.
  var frameChecksumVerified = false
  /// Whether the transport checksum of the frame being processed must be verified.
  var verifyTransportChecksum: Bool { configuration.verifyChecksums && !frameChecksumVerified }
  var identification: UInt16
  var announcementsSent = 0
  var nextAnnouncement: Instant?
  var icmpTokens: Int
  var icmpRefilled: Instant?
  var udpSockets: [UInt16: UDPSocket] = [:]
  var tcpListeners: [UInt16: TCPListener] = [:]
  var tcpConnections: [TCPEndpoints: TCPConnection] = [:]
  var tcpTransmitReady: [TCPConnection] = []
  /// The interface-wide challenge-ACK budget: what is left this second, and its start.
  var challengeACKsLeft = 0
  var challengeACKSecond: Instant?
  var pendingResets: [(endpoints: TCPEndpoints, sequence: SequenceNumber, acknowledgment: SequenceNumber?)] = []
  var nextTCPDeadline: Instant?
  /// Cookie SYN-ACKs to send: no connection exists for them (see SYNCookies.swift).
  var pendingCookies: [(endpoints: TCPEndpoints, sequence: UInt32, acknowledgment: UInt32, mss: UInt16)] = []
  /// The secret of RFC 6528's ISN function, drawn from the seed.
  let tcpSecret: (UInt64, UInt64)
  /// Packets whose next hop was resolved outside `poll` (by `addNeighbor`), sent by `flush`.
  var releasedPackets: [(packet: [UInt8], macAddress: MACAddress)] = []
  /// Datagrams arriving in fragments.
  var reassembly: FragmentReassembly<IPv4FragmentKey>
  var reassemblyEvictionsCounted = 0
  /// Sockets with datagrams to send, in the order they first queued one.
  var udpTransmitReady: [UDPSocket] = []

  /// The least MTU an interface works with: IPv4 hosts must take 576-byte datagrams (RFC
  /// 791, 1122 3.3.3). Platforms refuse a smaller device with one line before starting.
  public static let minimumMTU = 576

  /// - Parameter seed: random bits from the platform's entropy source (ephemeral ports,
  ///   IP identification).
  /// - Precondition: `configuration.mtu >= minimumMTU`: a programming error otherwise.
  public init(configuration: Configuration, seed: UInt64) {
    tcpMemoryLimit = configuration.tcpMemoryLimit
    precondition(configuration.mtu >= Self.minimumMTU, "an IPv4 interface must carry 576-byte packets (RFC 791)")
    self.configuration = configuration
    self.arp = ARPCache(configuration: configuration.arp)
    self.random = SplitMix64(seed: seed)
    self.identification = UInt16(truncatingIfNeeded: random.next())
    self.icmpTokens = configuration.icmpErrorBurst
    self.tcpSecret = (random.next(), random.next())
    self.reassembly = FragmentReassembly(configuration: configuration.reassembly)
  }

  /// Handles up to `receiveBudget` received frames, then sends whatever is due: queued
  /// datagrams, ARP retries, announcements. Returns true when the budget ran out (more
  /// frames may be waiting: poll again without sleeping).
  @discardableResult
  public func poll<Device: NetworkDevice>(now: Instant, device: Device) -> Bool {
    if announcementsSent < configuration.announcements, nextAnnouncement.map({ $0 <= now }) ?? true {
      sendARP(.announcement(of: ipv4.address, from: macAddress), to: .broadcast, device: device)
      announcementsSent += 1
      nextAnnouncement = now + configuration.announcementInterval
    }
    var handled = 0
    while handled < configuration.receiveBudget {
      let received = device.receive(offloaded: { frame, checksumVerified in
        self.frameChecksumVerified = checksumVerified
        self.process(frame: frame, now: now, device: device)
      })
      guard received else { break }
      handled += 1
    }
    flush(now: now, device: device)
    return handled == configuration.receiveBudget
  }

  /// Sends what sockets queued and what ARP has due, without reading the device.
  public func flush<Device: NetworkDevice>(now: Instant, device: Device) {
    if let due = reassembly.nextDeadline, due <= now { expireFragments(now: now, device: device) }
    let (retry, unresolved) = arp.due(now: now)
    counters.drop(.arpUnresolved, count: unresolved)
    for address in retry { sendARPRequest(for: address, device: device) }
    if !releasedPackets.isEmpty {
      let released = releasedPackets
      releasedPackets = []
      for entry in released { transmitIPv4(entry.packet, to: entry.macAddress, device: device) }
    }
    if !udpTransmitReady.isEmpty { flushUDP(now: now, device: device) }
    if !tcpTransmitReady.isEmpty || !pendingResets.isEmpty || !pendingCookies.isEmpty
      || nextTCPDeadline.map({ $0 <= now }) ?? false
    {
      flushTCP(now: now, device: device)
    }
  }

  /// When the interface next needs a `poll` even if no frame arrives: now, if sockets have
  /// datagrams queued; nil if nothing is pending at all.
  public func pollAt(now: Instant) -> Instant? {
    if hasPendingTransmit { return now }
    var deadline = arp.nextDeadline
    if let tcp = nextTCPDeadline { deadline = deadline.map { min($0, tcp) } ?? tcp }
    if let fragments = reassembly.nextDeadline { deadline = deadline.map { min($0, fragments) } ?? fragments }
    if announcementsSent < configuration.announcements {
      let next = nextAnnouncement ?? now
      deadline = deadline.map { min($0, next) } ?? next
    }
    return deadline
  }

  public var hasPendingTransmit: Bool {
    !udpTransmitReady.isEmpty || !releasedPackets.isEmpty || !tcpTransmitReady.isEmpty || !pendingResets.isEmpty
      || !pendingCookies.isEmpty
  }

  /// Records that `address` is at `macAddress`, as a received ARP reply would (the entry
  /// expires after the configured lifetime). Packets waiting for it are sent on the next poll.
  public func addNeighbor(_ address: IPv4Address, at macAddress: MACAddress, now: Instant) {
    for packet in arp.insert(address, macAddress, now: now) { releasedPackets.append((packet, macAddress)) }
  }

  // MARK: Receive

  func process<Device: NetworkDevice>(frame: UnsafeRawBufferPointer, now: Instant, device: Device) {
    counters.receivedFrames &+= 1
    counters.receivedBytes &+= UInt64(frame.count)
    let ethernet: EthernetHeader
    do { ethernet = try EthernetHeader.parse(frame) } catch { return counters.drop(.malformedEthernet) }
    guard ethernet.destination == macAddress || ethernet.destination.isBroadcast else {
      return counters.drop(.notForUs)
    }
    guard ethernet.vlan == nil else { return counters.drop(.vlanTagged) }
    let payload = frame.suffix(from: ethernet.headerLength)
    switch ethernet.etherType {
    case .arp: processARP(payload, now: now, device: device)
    case .ipv4: processIPv4(payload, linkBroadcast: ethernet.destination.isBroadcast, now: now, device: device)
    default: counters.drop(.unknownEtherType)
    }
  }

  func processARP<Device: NetworkDevice>(_ payload: UnsafeRawBufferPointer, now: Instant, device: Device) {
    let packet: ARPPacket
    do {
      packet = try ARPPacket.parse(payload)
    } catch {
      return counters.drop(error == .unsupported ? .unsupportedARP : .malformedARP)
    }
    let sender = packet.senderProtocolAddress
    let senderIsUsable = !sender.isUnspecified && !sender.isBroadcast && !sender.isMulticast
      && sender != ipv4.address && packet.senderHardwareAddress.isUnicast
    // RFC 826: merge first; then, if we are the target, add the sender.
    var released: [[UInt8]]?
    if senderIsUsable {
      released = arp.update(sender, packet.senderHardwareAddress, now: now)
    }
    if packet.targetProtocolAddress == ipv4.address {
      if senderIsUsable, released == nil {
        released = arp.insert(sender, packet.senderHardwareAddress, now: now)
      }
      if packet.operation == .request {
        let reply = ARPPacket(
          operation: .reply, senderHardwareAddress: macAddress, senderProtocolAddress: ipv4.address,
          targetHardwareAddress: packet.senderHardwareAddress, targetProtocolAddress: sender)
        if sendARP(reply, to: packet.senderHardwareAddress, device: device) {
          counters.arpRepliesSent &+= 1
        }
      }
    }
    // The packets were waiting for exactly this address: the sender is their next hop.
    for waiting in released ?? [] {
      transmitIPv4(waiting, to: packet.senderHardwareAddress, device: device)
    }
  }

  func processIPv4<Device: NetworkDevice>(
    _ payload: UnsafeRawBufferPointer, linkBroadcast: Bool, now: Instant, device: Device
  ) {
    let header: IPv4Header
    do {
      header = try IPv4Header.parse(payload, verifyChecksum: configuration.verifyChecksums)
    } catch {
      return counters.drop(error == .badChecksum ? .badIPv4Checksum : .malformedIPv4)
    }
    let source = header.source
    if source.isBroadcast || source.isMulticast || source.isLoopback || source == ipv4.address || source == directedBroadcast {
      return counters.drop(.martianSource)
    }
    let destination = header.destination
    let isBroadcast = destination.isBroadcast || destination == directedBroadcast
    guard destination == ipv4.address || isBroadcast else { return counters.drop(.ipv4NotForUs) }
    let packet = payload.slice(from: 0, length: header.totalLength)
    let body = packet.suffix(from: header.headerLength)
    guard !header.isFragment else {
      return reassemble(body, packet: packet, header: header, linkBroadcast: linkBroadcast, now: now, device: device)
    }
    switch header.protocol {
    case .icmp: processICMP(body, header: header, isBroadcast: isBroadcast, now: now, device: device)
    case .udp:
      processUDP(body, packet: packet, header: header, isBroadcast: isBroadcast || linkBroadcast, now: now, device: device)
    case .tcp:
      processTCP(body, header: header, isBroadcast: isBroadcast || linkBroadcast, now: now, device: device)
    default:
      counters.drop(.unknownProtocol)
      if !isBroadcast, !linkBroadcast {
        sendICMPError(.destinationUnreachable(code: .protocol, nextHopMTU: 0), quoting: packet, to: source, now: now, device: device)
      }
    }
  }

  /// The network's directed broadcast address; none on a /31 or /32, where every address is
  /// a host (RFC 3021).
  var directedBroadcast: IPv4Address? { ipv4.prefixLength < 31 ? ipv4.broadcastAddress : nil }

  // MARK: Send

  /// The on-link address a packet for `destination` is handed to, or nil without a route.
  func nextHop(for destination: IPv4Address) -> IPv4Address? {
    if ipv4.contains(destination) || destination.isBroadcast { return destination }
    return configuration.gateway
  }

  /// Sends an IPv4 packet of `payloadLength` bytes that `fill` writes. Resolves the next hop
  /// with ARP, queueing the packet while it waits. Returns false if the packet was dropped
  /// (and counted).
  @discardableResult
  func sendIPv4<Device: NetworkDevice>(
    to destination: IPv4Address, protocol: IPProtocol, payloadLength: Int, now: Instant, device: Device,
    offload: TransmitOffload? = nil, fill: (UnsafeMutableRawBufferPointer) -> Void
  ) -> Bool {
    let totalLength = IPv4Header.minimumLength + payloadLength
    // Past the MTU only for a segment the device cuts up (TSO) or a datagram sent in
    // fragments (never TCP: its segments fit the MSS), and never past 64 KiB.
    let segmented = (offload?.segmentSize ?? 0) > 0
    guard totalLength <= (segmented || `protocol` != .tcp ? 65535 : configuration.mtu) else {
      counters.drop(.oversized)
      return false
    }
    guard let hop = nextHop(for: destination) else {
      counters.drop(.noRoute)
      return false
    }
    identification &+= 1
    let header = IPv4Header(
      totalLength: totalLength, identification: identification, dontFragment: false,
      timeToLive: configuration.timeToLive, protocol: `protocol`, source: ipv4.address, destination: destination)
    if totalLength > configuration.mtu, !segmented {
      return sendFragments(of: header, to: hop, now: now, device: device, offload: offload, fill: fill)
    }
    if let hardware = hardwareAddress(of: hop, now: now) {
      let sent = device.transmit(length: EthernetHeader.minimumLength + totalLength, offload: offload) { frame in
        EthernetHeader(destination: hardware, source: macAddress, etherType: .ipv4).emit(into: frame)
        let packet = frame.suffix(from: EthernetHeader.minimumLength)
        fill(packet.suffix(from: IPv4Header.minimumLength))
        header.emit(into: packet)
      }
      return countTransmit(sent, length: EthernetHeader.minimumLength + totalLength)
    }
    // Waiting for ARP, the packet is kept whole: what the device would have finished is
    // finished here, and a segment too big to send as it is goes (TCP sends it again).
    guard totalLength <= configuration.mtu else {
      counters.drop(.oversized)
      return false
    }
    return deliver(packet(header, offload: offload, fill: fill), to: hop, now: now, device: device)
  }

  /// The link-layer address for the next hop `hop`: broadcast, or what ARP knows (nil: not
  /// resolved yet).
  func hardwareAddress(of hop: IPv4Address, now: Instant) -> MACAddress? {
    hop.isBroadcast || hop == directedBroadcast ? .broadcast : arp.lookup(hop, now: now)
  }

  /// The whole packet `header` describes, with the payload `fill` writes; a checksum left to
  /// the device (`offload`) is completed here.
  func packet(_ header: IPv4Header, offload: TransmitOffload?, fill: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
    var packet = [UInt8](repeating: 0, count: header.totalLength)
    packet.withUnsafeMutableBytes { bytes in
      fill(bytes.suffix(from: IPv4Header.minimumLength))
      header.emit(into: bytes)
      if let offload {
        let start = offload.checksumStart - EthernetHeader.minimumLength
        InternetChecksum.complete(in: bytes, start: start, offset: offload.checksumOffset)
      }
    }
    return packet
  }

  /// Sends a built packet to the next hop `hop`, at once if its address is known, else
  /// queued for ARP. Returns false if it was dropped (and counted).
  func deliver<Device: NetworkDevice>(_ packet: [UInt8], to hop: IPv4Address, now: Instant, device: Device) -> Bool {
    if let hardware = hardwareAddress(of: hop, now: now) { return transmitIPv4(packet, to: hardware, device: device) }
    switch arp.enqueue(packet, for: hop, now: now) {
    case .queuedSendRequest:
      sendARPRequest(for: hop, device: device)
    case .queued:
      break
    case .queuedDroppedOldest:
      counters.drop(.arpQueueOverflow)
    case .tableFull:
      counters.drop(.arpQueueOverflow)
      return false
    }
    return true
  }

  /// Sends an already built IPv4 packet to a resolved next hop.
  @discardableResult
  func transmitIPv4<Device: NetworkDevice>(_ packet: [UInt8], to hardware: MACAddress, device: Device) -> Bool {
    let length = EthernetHeader.minimumLength + packet.count
    let sent = device.transmit(length: length) { frame in
      EthernetHeader(destination: hardware, source: macAddress, etherType: .ipv4).emit(into: frame)
      packet.withUnsafeBytes { frame.suffix(from: EthernetHeader.minimumLength).copyMemory(from: $0) }
    }
    return countTransmit(sent, length: length)
  }

  @discardableResult
  func sendARP<Device: NetworkDevice>(_ packet: ARPPacket, to hardware: MACAddress, device: Device) -> Bool {
    let length = EthernetHeader.minimumLength + ARPPacket.length
    let sent = device.transmit(length: length) { frame in
      EthernetHeader(destination: hardware, source: macAddress, etherType: .arp).emit(into: frame)
      packet.emit(into: frame.suffix(from: EthernetHeader.minimumLength))
    }
    return countTransmit(sent, length: length)
  }

  func sendARPRequest<Device: NetworkDevice>(for address: IPv4Address, device: Device) {
    let request = ARPPacket(
      operation: .request, senderHardwareAddress: macAddress, senderProtocolAddress: ipv4.address,
      targetHardwareAddress: .zero, targetProtocolAddress: address)
    if sendARP(request, to: .broadcast, device: device) { counters.arpRequestsSent &+= 1 }
  }

  @discardableResult
  func countTransmit(_ sent: Bool, length: Int) -> Bool {
    if sent {
      counters.transmittedFrames &+= 1
      counters.transmittedBytes &+= UInt64(length)
    } else {
      counters.drop(.transmitFailed)
    }
    return sent
  }
}
