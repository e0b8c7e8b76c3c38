// Helpers shared by the network core tests: the addresses of a small test network, frame
// builders written with the wire types, parsers for what the stack sent, a reference checksum
// (independent of `InternetChecksum`), and a harness that drives a stack with one link over
// an in-memory device with a test-controlled clock.

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

// MARK: The test network

/// The interface under test: 10.0.0.2/24 at 02:00:00:00:00:02.
let ourMAC = MACAddress(0x02, 0, 0, 0, 0, 0x02)
let ourIP = IPv4Address(10, 0, 0, 2)
let ourNetwork = IPv4Network(address: ourIP, prefixLength: 24)
/// The on-link peer most tests talk to.
let peerMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)
let peerIP = IPv4Address(10, 0, 0, 1)
/// A second on-link host.
let otherMAC = MACAddress(0x02, 0, 0, 0, 0, 0x03)
let otherIP = IPv4Address(10, 0, 0, 3)
/// The router, for off-link destinations.
let gatewayMAC = MACAddress(0x02, 0, 0, 0, 0, 0xfe)
let gatewayIP = IPv4Address(10, 0, 0, 254)
/// An off-link host.
let remoteIP = IPv4Address(192, 0, 2, 7)
let subnetBroadcast = IPv4Address(10, 0, 0, 255)

/// `seconds` after the origin of the monotonic clock.
func at(seconds: Double) -> Instant { Instant(nanoseconds: Int64(seconds * 1_000_000_000)) }

// MARK: Errors and buffers

struct TestError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Runs a wire parser over `bytes`, turning its typed error into a test error.
func parseWire<T>(
  _ bytes: [UInt8], _ what: String, _ body: (UnsafeRawBufferPointer) throws(WireError) -> T
) throws -> T {
  let result = bytes.withUnsafeBytes { raw in Result { () throws(WireError) -> T in try body(raw) } }
  switch result {
  case .success(let value): return value
  case .failure(let error): throw TestError("\(what) did not parse (\(error)): \(hex(bytes))")
  }
}

/// A zeroed buffer of `count` bytes that `body` fills.
func filled(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: count)
  bytes.withUnsafeMutableBytes { body($0) }
  return bytes
}

/// Lowercase hex, for failure messages.
func hex(_ bytes: [UInt8]) -> String {
  let digits = Array("0123456789abcdef")
  var text = ""
  for byte in bytes {
    text.append(digits[Int(byte >> 4)])
    text.append(digits[Int(byte & 0xf)])
  }
  return text
}

/// Bytes from a hex string; whitespace is ignored so vectors can be laid out by field.
func bytes(_ text: String) -> [UInt8] {
  var result: [UInt8] = []
  var high: UInt8?
  for scalar in text.unicodeScalars where scalar != " " && scalar != "\n" {
    let value = UInt8(scalar.value)
    let nibble: UInt8
    switch scalar {
    case "0"..."9": nibble = value - 0x30
    case "a"..."f": nibble = value - 0x61 + 10
    default: preconditionFailure("not a lowercase hex digit in a test vector: \(scalar)")
    }
    if let pending = high {
      result.append(pending << 4 | nibble)
      high = nil
    } else {
      high = nibble
    }
  }
  precondition(high == nil, "odd number of hex digits in a test vector")
  return result
}

/// A reference Internet checksum (RFC 1071), written independently of the code under test:
/// a plain 16-bit one's-complement sum over big-endian words.
func referenceChecksum(_ data: [UInt8]) -> UInt16 {
  var sum: UInt32 = 0
  var index = 0
  while index < data.count {
    let high = UInt32(data[index]) << 8
    let low = index + 1 < data.count ? UInt32(data[index + 1]) : 0
    sum += high | low
    sum = (sum & 0xffff) + (sum >> 16)
    index += 2
  }
  return ~UInt16(sum)
}

/// The IPv4 pseudo-header (RFC 768) followed by `segment`, for the reference checksum.
func pseudoHeader(source: IPv4Address, destination: IPv4Address, protocol number: UInt8, _ segment: [UInt8]) -> [UInt8] {
  var data: [UInt8] = []
  for address in [source, destination] {
    data += [UInt8(address.rawValue >> 24), UInt8(address.rawValue >> 16 & 0xff),
             UInt8(address.rawValue >> 8 & 0xff), UInt8(address.rawValue & 0xff)]
  }
  data += [0, number, UInt8(segment.count >> 8), UInt8(segment.count & 0xff)]
  return data + segment
}

func be16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) }

/// `count` bytes 0, 1, 2... (mod 256) plus `offset`: recognisable payloads.
func pattern(_ count: Int, offset: Int = 0) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 + offset) } }

// MARK: Building frames

func ethernetFrame(
  to destination: MACAddress = ourMAC, from source: MACAddress = peerMAC, type: EtherType, _ payload: [UInt8],
  padTo minimum: Int = 0
) -> [UInt8] {
  let header = EthernetHeader(destination: destination, source: source, etherType: type)
  var frame = filled(header.headerLength) { header.emit(into: $0) } + payload
  if frame.count < minimum { frame += [UInt8](repeating: 0, count: minimum - frame.count) }
  return frame
}

func arpPacket(
  _ operation: ARPOperation, senderMAC: MACAddress = peerMAC, senderIP: IPv4Address = peerIP,
  targetMAC: MACAddress = .zero, targetIP: IPv4Address = ourIP
) -> [UInt8] {
  let packet = ARPPacket(
    operation: operation, senderHardwareAddress: senderMAC, senderProtocolAddress: senderIP,
    targetHardwareAddress: targetMAC, targetProtocolAddress: targetIP)
  return filled(ARPPacket.length) { packet.emit(into: $0) }
}

/// An ARP request from `senderIP` at `senderMAC` asking for `targetIP`, broadcast.
func arpRequestFrame(
  from senderMAC: MACAddress = peerMAC, _ senderIP: IPv4Address = peerIP, for targetIP: IPv4Address = ourIP
) -> [UInt8] {
  ethernetFrame(
    to: .broadcast, from: senderMAC, type: .arp,
    arpPacket(.request, senderMAC: senderMAC, senderIP: senderIP, targetIP: targetIP))
}

/// An ARP reply: `senderIP` is at `senderMAC`, addressed to `targetIP` at `targetMAC`.
func arpReplyFrame(
  from senderMAC: MACAddress = peerMAC, _ senderIP: IPv4Address = peerIP,
  to targetMAC: MACAddress = ourMAC, _ targetIP: IPv4Address = ourIP
) -> [UInt8] {
  ethernetFrame(
    to: targetMAC, from: senderMAC, type: .arp,
    arpPacket(.reply, senderMAC: senderMAC, senderIP: senderIP, targetMAC: targetMAC, targetIP: targetIP))
}

/// An IPv4 packet (20-byte header, valid checksum) around `payload`.
func ipv4Packet(
  from source: IPv4Address = peerIP, to destination: IPv4Address = ourIP, protocol number: IPProtocol,
  identification: UInt16 = 0x1c46, timeToLive: UInt8 = 64, moreFragments: Bool = false, fragmentOffset: Int = 0,
  _ payload: [UInt8]
) -> [UInt8] {
  let header = IPv4Header(
    totalLength: IPv4Header.minimumLength + payload.count, identification: identification, dontFragment: false,
    moreFragments: moreFragments, fragmentOffset: fragmentOffset, timeToLive: timeToLive, protocol: number,
    source: source, destination: destination)
  return filled(IPv4Header.minimumLength) { header.emit(into: $0) } + payload
}

/// A UDP datagram (header and payload) with a checksum over the pseudo-header, or none.
func udpDatagram(
  from source: IPv4Address = peerIP, sourcePort: UInt16 = 5000, to destination: IPv4Address = ourIP,
  port destinationPort: UInt16, _ payload: [UInt8], checksum: Bool = true
) -> [UInt8] {
  let header = UDPHeader(sourcePort: sourcePort, destinationPort: destinationPort, payloadLength: payload.count)
  var datagram = [UInt8](repeating: 0, count: UDPHeader.length) + payload
  datagram.withUnsafeMutableBytes {
    header.emit(into: $0, source: source, destination: destination, fillChecksum: checksum)
  }
  return datagram
}

/// An ICMP message: the eight-byte header and `payload`, with its checksum.
func icmpMessage(_ message: ICMPv4Message, _ payload: [UInt8] = []) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: ICMPv4Message.headerLength) + payload
  bytes.withUnsafeMutableBytes { message.emit(into: $0) }
  return bytes
}

/// A DHCP server's `type` answer to `request`: `offered` (none in a NAK) with a `lease`-second
/// lease on a /24, `router`, DNS servers 10.0.0.53 and `server`, and an MTU of 1400.
func dhcpReply(
  _ type: DHCPMessageType, to request: DHCPMessage, server: IPv4Address, offered: IPv4Address, router: IPv4Address,
  lease: UInt32 = 120
) -> DHCPMessage {
  var options = DHCPOptions()
  options.messageType = type
  options.serverIdentifier = server
  if type != .nak {
    options.leaseTime = lease
    options.subnetMask = IPv4Address(255, 255, 255, 0)
    options.routers = [router]
    options.domainNameServers = [IPv4Address(10, 0, 0, 53), server]
    options.interfaceMTU = 1400
  }
  return DHCPMessage(
    operation: .bootReply, transactionID: request.transactionID, clientHardwareAddress: request.clientHardwareAddress,
    yourAddress: type == .nak ? .any : offered, options: options)
}

/// A UDP datagram from the peer in an Ethernet frame addressed to us.
func udpFrame(
  from source: IPv4Address = peerIP, sourcePort: UInt16 = 5000, to destination: IPv4Address = ourIP,
  port destinationPort: UInt16, _ payload: [UInt8], checksum: Bool = true, ethernetTo: MACAddress = ourMAC
) -> [UInt8] {
  ethernetFrame(
    to: ethernetTo, type: .ipv4,
    ipv4Packet(
      from: source, to: destination, protocol: .udp,
      udpDatagram(from: source, sourcePort: sourcePort, to: destination, port: destinationPort, payload, checksum: checksum)),
    padTo: EthernetHeader.minimumFrameLength)
}

/// An echo request from the peer in an Ethernet frame (padded to the Ethernet minimum).
func echoRequestFrame(
  from source: IPv4Address = peerIP, to destination: IPv4Address = ourIP, identifier: UInt16 = 0x4d2,
  sequenceNumber: UInt16 = 1, _ data: [UInt8], ethernetTo: MACAddress = ourMAC
) -> [UInt8] {
  ethernetFrame(
    to: ethernetTo, type: .ipv4,
    ipv4Packet(
      from: source, to: destination, protocol: .icmp,
      icmpMessage(.echoRequest(identifier: identifier, sequenceNumber: sequenceNumber), data)),
    padTo: EthernetHeader.minimumFrameLength)
}

// MARK: Parsing what the stack sent

struct SentIPv4 {
  var ethernet: EthernetHeader
  var header: IPv4Header
  /// The whole IP packet, header first.
  var packet: [UInt8]
  /// The IP payload.
  var payload: [UInt8]
}

func parseEthernet(_ frame: [UInt8]) throws -> (EthernetHeader, [UInt8]) {
  let header = try parseWire(frame, "Ethernet header") { (raw) throws(WireError) in try EthernetHeader.parse(raw) }
  return (header, Array(frame[header.headerLength...]))
}

/// An ARP frame the stack sent: checks its length (42: no padding, no trailing bytes).
func parseARPFrame(_ frame: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> (EthernetHeader, ARPPacket) {
  let (ethernet, payload) = try parseEthernet(frame)
  guard ethernet.etherType == .arp else { throw TestError("not an ARP frame: \(ethernet)") }
  XCTAssertEqual(frame.count, EthernetHeader.minimumLength + ARPPacket.length, "ARP frame length", file: file, line: line)
  let packet = try parseWire(payload, "ARP packet") { (raw) throws(WireError) in try ARPPacket.parse(raw) }
  return (ethernet, packet)
}

/// An IPv4 frame the stack sent. Checks what every packet it sends must satisfy: version 4,
/// no options, a header checksum that verifies by the reference sum, a total length equal to
/// the frame's (the stack does not pad), our source address (`source`, unless nil) and our TTL.
func parseIPv4Frame(
  _ frame: [UInt8], source: IPv4Address? = ourIP, timeToLive: UInt8 = 64, file: StaticString = #filePath, line: UInt = #line
) throws -> SentIPv4 {
  let (ethernet, packet) = try parseEthernet(frame)
  guard ethernet.etherType == .ipv4 else { throw TestError("not an IPv4 frame: \(ethernet)") }
  XCTAssertEqual(ethernet.source, ourMAC, "Ethernet source", file: file, line: line)
  let header = try parseWire(packet, "IPv4 header") { (raw) throws(WireError) in try IPv4Header.parse(raw) }
  XCTAssertEqual(packet[0], 0x45, "version 4, IHL 5", file: file, line: line)
  XCTAssertEqual(referenceChecksum(Array(packet[0..<20])), 0, "IPv4 header checksum", file: file, line: line)
  XCTAssertEqual(header.totalLength, packet.count, "IPv4 total length is the frame's", file: file, line: line)
  XCTAssertEqual(header.timeToLive, timeToLive, "TTL", file: file, line: line)
  if let source { XCTAssertEqual(header.source, source, "IPv4 source", file: file, line: line) }
  XCTAssertFalse(header.isFragment, "fragment", file: file, line: line)
  return SentIPv4(ethernet: ethernet, header: header, packet: packet, payload: Array(packet[20...]))
}

/// The ICMP message of a sent packet, its checksum verified by the reference sum.
func parseICMP(_ sent: SentIPv4, file: StaticString = #filePath, line: UInt = #line) throws -> (ICMPv4Message, [UInt8]) {
  XCTAssertEqual(sent.header.protocol, .icmp, "IP protocol", file: file, line: line)
  XCTAssertEqual(referenceChecksum(sent.payload), 0, "ICMP checksum", file: file, line: line)
  let message = try parseWire(sent.payload, "ICMP message") { (raw) throws(WireError) in try ICMPv4Message.parse(raw) }
  return (message, Array(sent.payload[ICMPv4Message.headerLength...]))
}

/// The UDP header and payload of a sent packet, its checksum non-zero and verified by the
/// reference sum over the pseudo-header.
func parseUDP(_ sent: SentIPv4, file: StaticString = #filePath, line: UInt = #line) throws -> (UDPHeader, [UInt8]) {
  XCTAssertEqual(sent.header.protocol, .udp, "IP protocol", file: file, line: line)
  let checksumField = be16(sent.payload, 6)
  XCTAssertNotEqual(checksumField, 0, "the stack always sends a UDP checksum", file: file, line: line)
  XCTAssertEqual(
    referenceChecksum(pseudoHeader(source: sent.header.source, destination: sent.header.destination, protocol: 17, sent.payload)),
    0, "UDP checksum", file: file, line: line)
  let header = try parseWire(sent.payload, "UDP header") { (raw) throws(WireError) in
    try UDPHeader.parse(raw, source: sent.header.source, destination: sent.header.destination)
  }
  XCTAssertEqual(header.length, sent.payload.count, "UDP length", file: file, line: line)
  return (header, Array(sent.payload[UDPHeader.length...]))
}

// MARK: The harness

/// What a harness is built with: the link's and the stack's configuration, and the link's
/// address and gateway (10.0.0.2/24, none).
struct Setup {
  var link = Link.Configuration(name: "service", macAddress: ourMAC)
  var stack = StackConfiguration()
  /// The link's IPv4 address (nil: none, as for a link that takes one by DHCP).
  var ipv4: IPv4Network? = ourNetwork
  var gateway: IPv4Address?
  /// A static IPv6 address, added when the link runs IPv6 (`link.ipv6`).
  var ipv6Address: IPv6Network?

  // The settings tests change most, forwarded.
  var announcements: Int {
    get { link.announcements }
    set { link.announcements = newValue }
  }
  var announcementInterval: Duration {
    get { link.announcementInterval }
    set { link.announcementInterval = newValue }
  }
  var arp: ARPCache.Configuration {
    get { link.arp }
    set { link.arp = newValue }
  }
  var receiveBudget: Int {
    get { link.receiveBudget }
    set { link.receiveBudget = newValue }
  }
  var verifyChecksums: Bool {
    get { stack.verifyChecksums }
    set { stack.verifyChecksums = newValue }
  }
  var timeToLive: UInt8 {
    get { stack.timeToLive }
    set { stack.timeToLive = newValue }
  }
  var icmpErrorRate: Int {
    get { stack.icmpErrorRate }
    set { stack.icmpErrorRate = newValue }
  }
  var icmpErrorBurst: Int {
    get { stack.icmpErrorBurst }
    set { stack.icmpErrorBurst = newValue }
  }
  var maximumTCPConnections: Int {
    get { stack.maximumTCPConnections }
    set { stack.maximumTCPConnections = newValue }
  }
  var challengeACKLimit: Int {
    get { stack.challengeACKLimit }
    set { stack.challengeACKLimit = newValue }
  }
  var tcpMemoryLimit: Int {
    get { stack.tcpMemoryLimit }
    set { stack.tcpMemoryLimit = newValue }
  }
  var reassembly: FragmentReassembly<IPv4FragmentKey>.Configuration {
    get { stack.reassembly }
    set { stack.reassembly = newValue }
  }
}

/// A stack with one link on an in-memory device, and the time the test has reached.
final class Harness {
  let device: MemoryNetworkDevice
  let stack: Stack<MemoryNetworkDevice>
  let link: Link
  var now: Instant

  /// Announcements are off unless `configure` turns them on, so tests see only their frames.
  init(
    start: Instant = .zero, seed: UInt64 = 0x5eed, mtu: Int = 1500,
    configure: (inout Setup) -> Void = { _ in }
  ) {
    var setup = Setup()
    setup.link.mtu = mtu
    setup.announcements = 0
    setup.link.ipv6 = false  // IPv6 tests turn it on (IPv6Tests.swift)
    configure(&setup)
    device = MemoryNetworkDevice(macAddress: setup.link.macAddress, mtu: mtu)
    stack = Stack(configuration: setup.stack, seed: seed)
    link = stack.attach(device, configuration: setup.link)
    if let ipv4 = setup.ipv4 { stack.add(ipv4, to: link) }
    if let gateway = setup.gateway { stack.setDefaultGateway(gateway, on: link) }
    now = start
    if let address = setup.ipv6Address { try! stack.add(address, to: link, now: start) }
  }

  /// A harness whose link runs IPv6 at fd00::2/64 (and IPv4 as usual), its link-local address
  /// the EUI-64 one; without DAD and router solicitations unless `configure` sets them, so
  /// the addresses are in use at once. What starting sent is discarded.
  static func ipv6(start: Instant = .zero, configure: (inout Setup) -> Void = { _ in }) -> Harness {
    let harness = Harness(start: start) { setup in
      setup.link.ipv6 = true
      setup.link.duplicateAddressDetectionTransmits = 0
      setup.link.routerSolicitations = 0
      setup.link.interfaceIdentifiers = .eui64(ourMAC)
      setup.ipv6Address = ourNetwork6
      configure(&setup)
    }
    harness.poll()
    _ = harness.sent()
    return harness
  }

  var counters: NetworkCounters { stack.counters }

  func inject(_ frames: [UInt8]...) { for frame in frames { device.inject(frame) } }

  /// Polls at the current time; returns what `poll` returned.
  @discardableResult
  func poll() -> Bool { stack.poll(now: now) }

  /// Moves the clock to `instant` and polls.
  @discardableResult
  func poll(at instant: Instant) -> Bool {
    now = instant
    return poll()
  }

  /// Moves the clock on by `duration` and polls.
  @discardableResult
  func advance(_ duration: Duration) -> Bool { poll(at: now + duration) }

  /// What the ARP cache holds for `address` now (looked up in a copy, leaving the cache as it is).
  func resolved(_ address: IPv4Address) -> MACAddress? {
    var cache = link.arp
    return cache.lookup(address, now: now)
  }

  /// Removes and returns what the stack sent.
  func sent() -> [[UInt8]] { device.takeTransmitted() }

  /// The peer asks for our address, so the stack learns it; the reply is discarded.
  func learn(_ mac: MACAddress = peerMAC, _ address: IPv4Address = peerIP) {
    inject(arpRequestFrame(from: mac, address))
    poll()
    _ = sent()
  }

  /// Injects `frames`, polls, and returns exactly one frame sent in answer (failing otherwise).
  func exchange(_ frames: [UInt8]..., file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
    for frame in frames { device.inject(frame) }
    poll()
    let output = sent()
    guard output.count == 1 else { throw TestError("expected one frame sent, got \(output.count): \(output.map(hex))") }
    return output[0]
  }

  /// Injects `frames`, polls, and asserts nothing was sent.
  func expectSilence(_ frames: [UInt8]..., file: StaticString = #filePath, line: UInt = #line) {
    for frame in frames { device.inject(frame) }
    poll()
    let output = sent()
    XCTAssertEqual(output.count, 0, "unexpected frames sent: \(output.map(hex))", file: file, line: line)
  }

  /// Asserts that exactly the drops in `expected` were counted, each that many times.
  func assertDrops(_ expected: [DropReason: UInt64], file: StaticString = #filePath, line: UInt = #line) {
    for reason in DropReason.allCases {
      XCTAssertEqual(counters[reason], expected[reason] ?? 0, "drops for \(reason)", file: file, line: line)
    }
  }
}

/// A TCP segment (header and payload) from the peer to us, with a valid checksum.
func tcpSegment(
  from source: IPv4Address = peerIP, sourcePort: UInt16 = 5000, to destination: IPv4Address = ourIP,
  port: UInt16, sequence: UInt32, acknowledgment: UInt32 = 0, flags: TCPFlags, window: UInt16 = 65535,
  urgentPointer: UInt16 = 0, options: TCPOptions = TCPOptions(), _ payload: [UInt8] = []
) -> [UInt8] {
  let header = TCPHeader(
    sourcePort: sourcePort, destinationPort: port, sequenceNumber: sequence, acknowledgmentNumber: acknowledgment,
    flags: flags, window: window, urgentPointer: urgentPointer, options: options)
  var segment = [UInt8](repeating: 0, count: header.headerLength + payload.count)
  segment.withUnsafeMutableBytes { bytes in
    for (index, byte) in payload.enumerated() { bytes[header.headerLength + index] = byte }
    header.emit(into: bytes, source: source, destination: destination)
  }
  return segment
}

/// An Ethernet frame carrying `tcpSegment(...)`.
func tcpFrame(
  sourcePort: UInt16 = 5000, port: UInt16, sequence: UInt32, acknowledgment: UInt32 = 0, flags: TCPFlags,
  window: UInt16 = 65535, urgentPointer: UInt16 = 0, options: TCPOptions = TCPOptions(), _ payload: [UInt8] = []
) -> [UInt8] {
  ethernetFrame(type: .ipv4, ipv4Packet(protocol: .tcp, tcpSegment(
    sourcePort: sourcePort, port: port, sequence: sequence, acknowledgment: acknowledgment, flags: flags,
    window: window, urgentPointer: urgentPointer, options: options, payload)))
}

/// The TCP header of a frame the stack sent, its checksum verified.
func parseTCPFrame(_ frame: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> TCPHeader {
  let sent = try parseIPv4Frame(frame, file: file, line: line)
  XCTAssertEqual(sent.header.protocol, .tcp, "IP protocol", file: file, line: line)
  return try parseWire(sent.payload, "TCP header") { (raw) throws(WireError) in
    try TCPHeader.parse(raw, source: sent.header.source, destination: sent.header.destination)
  }
}

/// A peer at `sourcePort` opens a connection to `port` with raw frames (SYN, then the ACK of
/// the SYN-ACK, its sequence numbers starting at `sequence`). Returns our next sequence number.
@discardableResult
func handshake(_ harness: Harness, sourcePort: UInt16 = 5000, port: UInt16, sequence: UInt32 = 100) throws -> UInt32 {
  harness.inject(tcpFrame(sourcePort: sourcePort, port: port, sequence: sequence, flags: .syn))
  harness.poll()
  let synACK = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
  harness.inject(tcpFrame(sourcePort: sourcePort, port: port, sequence: sequence &+ 1, acknowledgment: synACK.sequenceNumber &+ 1, flags: .ack))
  harness.poll()
  return synACK.sequenceNumber &+ 1
}

// MARK: IPv6

/// Our static IPv6 address and its prefix, the peer's, and link-local addresses.
let ourIP6 = IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 2)
let ourNetwork6 = IPv6Network(address: ourIP6, prefixLength: 64)
let peerIP6 = IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 1)
let ourLinkLocal = IPv6Address.linkLocal(interfaceIdentifier: ourMAC.modifiedEUI64)
let peerLinkLocal = IPv6Address.linkLocal(interfaceIdentifier: peerMAC.modifiedEUI64)

/// An IPv6 packet around `payload`.
func ipv6Packet(
  from source: IPv6Address = peerIP6, to destination: IPv6Address = ourIP6, nextHeader: IPProtocol, hopLimit: UInt8 = 64,
  _ payload: [UInt8]
) -> [UInt8] {
  let header = IPv6Header(
    payloadLength: payload.count, nextHeader: nextHeader, hopLimit: hopLimit, source: source, destination: destination)
  return filled(IPv6Header.length) { header.emit(into: $0) } + payload
}

/// An ICMPv6 message with its checksum; `data` follows the first eight bytes of errors and
/// echo (Neighbor Discovery and MLD messages carry their own body).
func icmpv6(
  _ message: ICMPv6Message, from source: IPv6Address = peerIP6, to destination: IPv6Address = ourIP6, _ data: [UInt8] = []
) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: max(message.bufferLength, ICMPv6Message.headerLength + data.count))
  for (index, byte) in data.enumerated() { bytes[ICMPv6Message.headerLength + index] = byte }
  bytes.withUnsafeMutableBytes { message.emit(into: $0, source: source, destination: destination) }
  return bytes
}

/// An ICMPv6 message from `source` to `destination` in a frame to `ethernetTo`.
func icmpv6Frame(
  _ message: ICMPv6Message, from source: IPv6Address = peerIP6, to destination: IPv6Address = ourIP6,
  ethernetTo: MACAddress = ourMAC, hopLimit: UInt8 = 64, _ data: [UInt8] = []
) -> [UInt8] {
  ethernetFrame(
    to: ethernetTo, type: .ipv6,
    ipv6Packet(from: source, to: destination, nextHeader: .icmpv6, hopLimit: hopLimit, icmpv6(message, from: source, to: destination, data)))
}

/// A frame the stack sent over IPv6: its Ethernet and IPv6 headers and the IPv6 payload.
func parseIPv6Frame(_ frame: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws
  -> (ethernet: EthernetHeader, header: IPv6Header, payload: [UInt8])
{
  let (ethernet, packet) = try parseEthernet(frame)
  guard ethernet.etherType == .ipv6 else { throw TestError("not an IPv6 frame: \(ethernet)") }
  XCTAssertEqual(ethernet.source, ourMAC, "Ethernet source", file: file, line: line)
  let header = try parseWire(packet, "IPv6 header") { (raw) throws(WireError) in try IPv6Header.parse(raw) }
  XCTAssertEqual(header.totalLength, packet.count, "IPv6 payload length is the frame's", file: file, line: line)
  return (ethernet, header, Array(packet[IPv6Header.length...]))
}

/// The ICMPv6 message of a sent frame, its checksum verified.
func parseICMPv6Frame(_ frame: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws
  -> (ethernet: EthernetHeader, header: IPv6Header, message: ICMPv6Message, data: [UInt8])
{
  let (ethernet, header, payload) = try parseIPv6Frame(frame, file: file, line: line)
  var body = payload
  if header.nextHeader == .hopByHop { body = Array(payload[8...]) }  // MLD's Router Alert
  let message = try parseWire(body, "ICMPv6 message") { (raw) throws(WireError) in
    try ICMPv6Message.parse(raw, source: header.source, destination: header.destination)
  }
  return (ethernet, header, message, Array(body[ICMPv6Message.headerLength...]))
}
