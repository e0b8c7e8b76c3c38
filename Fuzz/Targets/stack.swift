// Fuzz target with state: a stack with one link on an in-memory device, with a TCP listener, an
// established connection (a scripted handshake at the start of every run) and a UDP socket.
// The input is a first byte of configuration bits, then operations: raw frames, frames built
// from a few fields (TCP on the connection or to the listener, UDP, ICMP, ARP; checksums
// right), clock steps, and what an application does (read, write, close, abort, accept,
// connect, UDP send). After each operation: the counters add up (every frame received is
// counted once, and dropped for one reason or handled), TCP memory stays within its bound and
// matches the connections' buffers, sequence numbers are ordered, and every frame sent parses
// with valid checksums. Configuration bits: 0 verify checksums, 1 a 4 KiB TCP memory limit,
// 2 8 KiB TCP buffers, 3 at most 4 connections, 4 checksum offload and TSO on the device,
// 5 options (MSS, window scale, SACK, timestamps) on the handshake's SYN, 6 a DHCP client on
// the link (then one operation is a server's OFFER, ACK or NAK for its current exchange).

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire

let ourMAC = MACAddress(2, 0, 0, 0, 0, 2)
let ourIP = IPv4Address(10, 0, 0, 2)
let peerMAC = MACAddress(2, 0, 0, 0, 0, 1)
let peerIP = IPv4Address(10, 0, 0, 1)
let serverPort: UInt16 = 80
let peerPort: UInt16 = 5000
let udpPort: UInt16 = 7
let operationsPerRun = 96

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStack(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var input = FuzzInput(data, size)
  let session = Session(bits: input.byte())
  var operations = 0
  while !input.isAtEnd, operations < operationsPerRun {
    session.perform(&input)
    session.check()
    operations += 1
  }
  return 0
}

/// Counters that say what became of a received frame.
struct Outcomes {
  /// Drops counted while a frame is received and dispatched: at most one per frame. (Data
  /// cut at the TCP memory or reassembly bounds is counted from a segment that was handled.)
  static let receiveReasons: [DropReason] = [
    .malformedEthernet, .notForUs, .vlanTagged, .unknownEtherType, .malformedARP, .unsupportedARP, .malformedIPv4,
    .badIPv4Checksum, .ipv4NotForUs, .ipv4Fragment, .martianSource, .unknownProtocol, .malformedICMP,
    .badICMPChecksum, .malformedUDP, .badUDPChecksum, .noUDPSocket, .udpReceiveQueueFull, .malformedTCP,
    .badTCPChecksum, .noTCPConnection, .tcpBacklogFull, .fragmentOverlap, .reassemblyLimit, .malformedDHCP,
  ]
  /// Drops counted while sending what a frame asked for (an echo reply).
  static let sendReasons: [DropReason] = [.noRoute, .arpQueueOverflow, .transmitFailed, .oversized]

  var received: UInt64
  var dropped: UInt64
  var sendDropped: UInt64
  var handled: UInt64

  init(_ counters: NetworkCounters) {
    received = counters.receivedFrames
    dropped = Self.receiveReasons.reduce(0) { $0 + counters[$1] }
    sendDropped = Self.sendReasons.reduce(0) { $0 + counters[$1] }
    handled = counters.udpDatagramsDelivered + counters.icmpIgnored + counters.echoRepliesSent + counters.tcpSegmentsReceived
      + counters.ipv4FragmentsQueued + counters.dhcpMessagesReceived
  }
}

final class Session {
  let device: MemoryNetworkDevice
  let stack: Stack<MemoryNetworkDevice>
  let link: Link
  var now = Instant(nanoseconds: 1_000_000_000)
  let listener: TCPListener
  let udp: UDPSocket
  /// The connection the handshake established, then those accepted or opened.
  var connections: [TCPConnection] = []
  /// The peer's next sequence number on the first connection, and the end of what the
  /// stack has sent on it.
  var peerNext: UInt32 = 100
  var ourNext: UInt32 = 0
  var injectedFrames: UInt64 = 0
  var injectedBytes: UInt64 = 0

  init(bits: UInt8) {
    var configuration = StackConfiguration()
    configuration.verifyChecksums = bits & 1 != 0
    if bits & 2 != 0 { configuration.tcpMemoryLimit = 4096 }
    if bits & 8 != 0 { configuration.maximumTCPConnections = 4 }
    var linkConfiguration = Link.Configuration(name: "service", macAddress: ourMAC)
    linkConfiguration.announcements = 0
    linkConfiguration.ipv6 = false
    device = MemoryNetworkDevice(macAddress: ourMAC)
    if bits & 16 != 0 { device.emulatedOffloads = [.transmitChecksum, .tcpSegmentation] }
    stack = Stack(configuration: configuration, seed: 0x5eed)
    link = stack.attach(device, configuration: linkConfiguration)
    stack.add(IPv4Network(address: ourIP, prefixLength: 24), to: link)
    stack.addNeighbor(peerIP, at: peerMAC, on: link, now: now)
    var tcp = TCPConnection.Configuration()
    if bits & 4 != 0 {
      tcp.receiveBufferSize = 8192
      tcp.sendBufferSize = 8192
      tcp.outOfOrderLimit = 4096
    }
    listener = try! stack.listenTCP(port: serverPort, backlog: 2, configuration: tcp)
    udp = try! stack.bindUDP(port: udpPort, receiveCapacity: 4, transmitCapacity: 4)
    handshake(options: bits & 32 != 0)
    if bits & 64 != 0 {
      stack.startDHCP(on: link, now: now)
      takeSent()
    }
  }

  func handshake(options: Bool) {
    let synOptions = options
      ? TCPOptions(maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true, timestamp: .init(value: 1, echoReply: 0))
      : TCPOptions()
    inject(tcpFrame(sourcePort: peerPort, sequence: peerNext, acknowledgment: 0, flags: .syn, window: 65535, options: synOptions))
    poll()
    peerNext &+= 1
    let timestamp = options ? TCPOptions(timestamp: .init(value: 2, echoReply: 0)) : TCPOptions()
    inject(tcpFrame(sourcePort: peerPort, sequence: peerNext, acknowledgment: ourNext, flags: .ack, window: 65535, options: timestamp))
    poll()
    guard let connection = listener.accept() else {
      require(false, "the scripted handshake did not establish a connection")
      return
    }
    require(connection.isEstablished, "handshake left \(connection)")
    connections.append(connection)
    check()
  }

  // MARK: Operations

  func perform(_ input: inout FuzzInput) {
    switch input.byte() % 16 {
    case 0: frame(input.bytes(Int(input.uint16() % 1600)))
    case 1: connectionSegment(&input)
    case 2: listenerSegment(&input)
    case 3: udpDatagram(&input)
    case 4: icmpMessage(&input)
    case 5: arpPacket(&input)
    case 6:
      let step = Int64(input.uint16())
      now = now + .nanoseconds(input.byte() & 1 == 0 ? step * 1_000_000 : step * 1_000_000_000 / 16)
      poll()
    case 7:
      _ = connection(&input)?.read(maximum: Int(input.byte()) * 64)
      poll()
    case 8:
      let count = Int(input.uint16() % 20000)
      _ = connection(&input)?.write(pattern(count))
      poll()
    case 9:
      connection(&input)?.close()
      poll()
    case 10:
      connection(&input)?.abort()
      poll()
    case 11:
      if connections.count < 8, let connection = listener.accept() { connections.append(connection) }
    case 12:
      let count = Int(input.byte()) * 8
      _ = try? udp.send(pattern(count), to: .v4(input.byte() & 1 == 0 ? peerIP : IPv4Address(10, 0, 0, 3)), port: peerPort)
      while udp.receive() != nil {}
      poll()
    case 13:
      let port = UInt16(input.byte()) + 1
      if connections.count < 8, let connection = try? stack.connectTCP(to: .v4(peerIP), port: port, now: now) {
        connections.append(connection)
      }
      poll()
    case 14:
      let raw = input.bytes(Int(input.byte()))
      frame(ethernetFrame(ipv4Packet(protocol: IPProtocol(rawValue: input.byte()), raw)))
    default:
      if let dhcp = link.dhcp { dhcpReply(&input, to: dhcp) } else { poll() }
    }
  }

  func connection(_ input: inout FuzzInput) -> TCPConnection? {
    let index = Int(input.byte())
    return connections.isEmpty ? nil : connections[index % connections.count]
  }

  /// A segment on the first connection: sequence and acknowledgment near what each side
  /// expects, the fields and payload length from the input.
  func connectionSegment(_ input: inout FuzzInput) {
    let flags = TCPFlags(rawValue: UInt16(input.byte() & 0x3f))
    let sequence = peerNext &+ UInt32(bitPattern: Int32(Int8(bitPattern: input.byte())) * 64)
    let acknowledgment = ourNext &+ UInt32(bitPattern: Int32(Int8(bitPattern: input.byte())) * 64)
    let window = input.uint16()
    let options = tcpOptions(input.byte(), &input)
    let payload = pattern(Int(input.byte()) * 8, offset: Int(sequence))
    inject(tcpFrame(
      sourcePort: peerPort, sequence: sequence, acknowledgment: acknowledgment, flags: flags, window: window,
      options: options, payload: payload))
    if sequence == peerNext { peerNext &+= UInt32(payload.count) + (flags.contains(.syn) ? 1 : 0) + (flags.contains(.fin) ? 1 : 0) }
    poll()
  }

  /// A segment from another port of the peer, to the listener (or a closed port).
  func listenerSegment(_ input: inout FuzzInput) {
    let sourcePort = 6000 + UInt16(input.byte() % 8)
    let flags = TCPFlags(rawValue: UInt16(input.byte() & 0x3f))
    let sequence = input.uint32()
    let acknowledgment = input.uint32()
    let options = tcpOptions(input.byte(), &input)
    let port = input.byte() & 1 == 0 ? serverPort : 81
    inject(tcpFrame(
      sourcePort: sourcePort, port: port, sequence: sequence, acknowledgment: acknowledgment, flags: flags, window: 65535,
      options: options, payload: pattern(Int(input.byte() % 16) * 16)))
    poll()
  }

  func tcpOptions(_ bits: UInt8, _ input: inout FuzzInput) -> TCPOptions {
    var options = TCPOptions()
    if bits & 1 != 0 { options.maximumSegmentSize = input.uint16() }
    if bits & 2 != 0 { options.windowScale = input.byte() % 16 }
    if bits & 4 != 0 { options.sackPermitted = true }
    if bits & 8 != 0 { options.timestamp = .init(value: input.uint32(), echoReply: input.uint32()) }
    if bits & 16 != 0 {
      let left = ourNext &+ UInt32(input.uint16())
      options.sackBlocks = SACKBlocks([SACKBlock(left: left, right: left &+ UInt32(input.uint16()))])
    }
    return options
  }

  func udpDatagram(_ input: inout FuzzInput) {
    let port = input.byte() & 1 == 0 ? udpPort : UInt16(input.byte())
    let broadcast = input.byte() & 1 == 1
    let payload = pattern(Int(input.byte()) * 4)
    let destination = broadcast ? IPv4Address(10, 0, 0, 255) : ourIP
    let header = UDPHeader(sourcePort: peerPort, destinationPort: port, payloadLength: payload.count)
    var datagram = [UInt8](repeating: 0, count: UDPHeader.length) + payload
    datagram.withUnsafeMutableBytes { header.emit(into: $0, source: peerIP, destination: destination) }
    frame(ethernetFrame(ipv4Packet(destination: destination, protocol: .udp, datagram)))
  }

  /// A server's answer to the client's current exchange: its type, the address offered, the
  /// lease time, mask and router from the input; broadcast or unicast to the address.
  func dhcpReply(_ input: inout FuzzInput, to client: DHCPClient) {
    var options = DHCPOptions()
    options.messageType = DHCPMessageType(rawValue: input.byte() % 9)
    options.serverIdentifier = peerIP
    options.leaseTime = UInt32(input.uint16())
    options.subnetMask = IPv4Address(rawValue: ~0 << (input.byte() % 33))
    if input.byte() & 1 == 0 { options.routers = [peerIP] }
    let offered = IPv4Address(10, 0, 0, input.byte())
    let message = DHCPMessage(
      operation: .bootReply, transactionID: client.transactionID, clientHardwareAddress: ourMAC, yourAddress: offered,
      options: options)
    let payload = emitted(message.bufferLength) { message.emit(into: $0) }
    let destination = input.byte() & 1 == 0 ? IPv4Address.broadcast : offered
    let header = UDPHeader(sourcePort: DHCPMessage.serverPort, destinationPort: DHCPMessage.clientPort, payloadLength: payload.count)
    var datagram = [UInt8](repeating: 0, count: UDPHeader.length) + payload
    datagram.withUnsafeMutableBytes { header.emit(into: $0, source: peerIP, destination: destination) }
    frame(ethernetFrame(ipv4Packet(destination: destination, protocol: .udp, datagram), to: destination.isBroadcast ? .broadcast : ourMAC))
  }

  func icmpMessage(_ input: inout FuzzInput) {
    let type = input.byte() % 16
    var bytes = [type & 1 == 0 ? 8 : type, input.byte() % 4, 0, 0] + input.bytes(4) + pattern(Int(input.byte()) * 8)
    if bytes.count < ICMPv4Message.headerLength { return }
    let sum = bytes.withUnsafeBytes { InternetChecksum.compute($0) }
    bytes[2] = UInt8(sum >> 8)
    bytes[3] = UInt8(sum & 0xff)
    let source = input.byte() & 1 == 0 ? peerIP : IPv4Address(192, 0, 2, 1)
    frame(ethernetFrame(ipv4Packet(source: source, protocol: .icmp, bytes)))
  }

  func arpPacket(_ input: inout FuzzInput) {
    let host = input.byte()
    let packet = ARPPacket(
      operation: ARPOperation(rawValue: UInt16(input.byte() % 3)),
      senderHardwareAddress: MACAddress(2, 0, 0, 0, 0, host), senderProtocolAddress: IPv4Address(10, 0, 0, host),
      targetHardwareAddress: .zero, targetProtocolAddress: IPv4Address(10, 0, 0, input.byte() % 4))
    var bytes = [UInt8](repeating: 0, count: ARPPacket.length)
    bytes.withUnsafeMutableBytes { packet.emit(into: $0) }
    frame(ethernetFrame(bytes, type: .arp, to: .broadcast, from: MACAddress(2, 0, 0, 0, 0, host)))
  }

  // MARK: Frames

  /// Injects one frame, polls, and checks that the frame was accounted for.
  func frame(_ bytes: [UInt8]) {
    inject(bytes)
    poll()
  }

  func inject(_ frame: [UInt8]) {
    let before = Outcomes(stack.counters)
    device.inject(frame)
    injectedFrames += 1
    injectedBytes += UInt64(frame.count)
    stack.poll(now: now)
    let after = Outcomes(stack.counters)
    let dropped = after.dropped - before.dropped
    let handled = after.handled - before.handled
    let context = "frame of \(frame.count) bytes: \(hex(frame.prefix(80)))"
    require(after.received == before.received + 1, "not counted as received: \(context)")
    require(dropped + handled <= 1, "dropped \(dropped) times and handled \(handled): \(context)")
    require(
      dropped + handled == 1 || after.sendDropped > before.sendDropped || isARP(frame),
      "neither dropped nor handled: \(context)")
    takeSent()
  }

  func poll() {
    stack.poll(now: now)
    takeSent()
  }

  /// Checks every frame the stack sent, and follows what it sent on the first connection.
  func takeSent() {
    for frame in device.takeTransmitted() {
      require(frame.count <= device.mtu + EthernetHeader.minimumLength, "a frame of \(frame.count) bytes sent")
      frame.withUnsafeBytes { examineSent($0) }
    }
  }

  func examineSent(_ frame: UnsafeRawBufferPointer) {
    guard let ethernet = try? EthernetHeader.parse(frame) else { return require(false, "sent: \(hex(frame))") }
    require(ethernet.source == ourMAC && ethernet.vlan == nil, "sent from \(ethernet)")
    let payload = frame.suffix(from: ethernet.headerLength)
    if ethernet.etherType == .arp {
      require((try? ARPPacket.parse(payload)) != nil, "sent a bad ARP packet: \(hex(frame))")
      return
    }
    require(ethernet.etherType == .ipv4, "sent \(ethernet)")
    guard let ip = try? IPv4Header.parse(payload) else { return require(false, "sent a bad IPv4 header: \(hex(frame))") }
    // From our address, or one a lease gave; from 0.0.0.0 only a DHCP client's message.
    let source = ip.source == ourIP || link.owns(ip.source) || (ip.source.isUnspecified && ip.protocol == .udp && link.dhcp != nil)
    require(ip.totalLength == payload.count && source, "sent \(ip) in \(payload.count) bytes")
    // A datagram past the MTU (an echo reply to a reassembled request) leaves in fragments:
    // never TCP, every piece but the last a multiple of 8 bytes.
    if ip.isFragment {
      require(ip.protocol != .tcp && (!ip.moreFragments || ip.payloadLength % 8 == 0), "sent the fragment \(ip)")
      return
    }
    let body = payload.slice(from: ip.headerLength, length: ip.payloadLength)
    switch ip.protocol {
    case .tcp:
      guard let tcp = try? TCPHeader.parse(body, source: ip.source, destination: ip.destination) else {
        return require(false, "sent a bad TCP segment: \(hex(frame))")
      }
      if ip.destination == peerIP, tcp.destinationPort == peerPort, tcp.sourcePort == serverPort {
        let length = UInt32(body.count - tcp.headerLength) + (tcp.flags.contains(.syn) ? 1 : 0) + (tcp.flags.contains(.fin) ? 1 : 0)
        let end = tcp.sequenceNumber &+ length
        if ourNext == 0 || Int32(bitPattern: end &- ourNext) > 0 { ourNext = end }
      }
    case .udp:
      require((try? UDPHeader.parse(body, source: ip.source, destination: ip.destination)) != nil, "sent bad UDP: \(hex(frame))")
    case .icmp:
      require((try? ICMPv4Message.parse(body)) != nil, "sent bad ICMP: \(hex(frame))")
    default:
      require(false, "sent \(ip)")
    }
  }

  // MARK: Invariants

  func check() {
    let counters = stack.counters
    require(counters.receivedFrames == injectedFrames && counters.receivedBytes == injectedBytes, "received \(counters)")
    require(
      stack.tcpBufferedBytes >= 0 && stack.tcpBufferedBytes <= stack.tcpMemoryLimit,
      "TCP holds \(stack.tcpBufferedBytes) bytes, limit \(stack.tcpMemoryLimit)")
    require(stack.tcpConnections.count <= stack.configuration.maximumTCPConnections, "connections")
    var accounted = 0
    for connection in stack.tcpConnections.values {
      let held = connection.state == .closed
        ? 0 : connection.receiveBuffer.count + connection.sendBuffer.count + connection.outOfOrderBytes
      require(connection.accountedBytes == held, "\(connection) holds \(held) bytes, accounted \(connection.accountedBytes)")
      accounted += connection.accountedBytes
      require(
        connection.outOfOrderBytes == connection.outOfOrder.reduce(0) { $0 + $1.bytes.count }
          && connection.outOfOrderBytes <= connection.configuration.outOfOrderLimit,
        "\(connection): out of order \(connection.outOfOrderBytes)")
      require(
        connection.sndUna <= connection.sndNxt && connection.sndNxt <= connection.sndMax,
        "\(connection): una \(connection.sndUna) nxt \(connection.sndNxt) max \(connection.sndMax)")
    }
    require(accounted == stack.tcpBufferedBytes, "connections hold \(accounted) bytes, the stack counts \(stack.tcpBufferedBytes)")
  }
}

// MARK: Building frames

func isARP(_ frame: [UInt8]) -> Bool {
  frame.withUnsafeBytes { bytes in
    guard let ethernet = try? EthernetHeader.parse(bytes), ethernet.etherType == .arp, ethernet.vlan == nil else { return false }
    return (try? ARPPacket.parse(bytes.suffix(from: ethernet.headerLength))) != nil
  }
}

/// `count` bytes 0, 1, 2... from `offset`: recognisable payloads that cost no input.
func pattern(_ count: Int, offset: Int = 0) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &+ offset) } }

func ethernetFrame(_ payload: [UInt8], type: EtherType = .ipv4, to: MACAddress = ourMAC, from: MACAddress = peerMAC) -> [UInt8] {
  let header = EthernetHeader(destination: to, source: from, etherType: type)
  return emitted(header.headerLength) { header.emit(into: $0) } + payload
}

func ipv4Packet(source: IPv4Address = peerIP, destination: IPv4Address = ourIP, protocol: IPProtocol, _ payload: [UInt8]) -> [UInt8] {
  let header = IPv4Header(
    totalLength: min(IPv4Header.minimumLength + payload.count, 65535), protocol: `protocol`, source: source,
    destination: destination)
  return emitted(IPv4Header.minimumLength) { header.emit(into: $0) } + payload
}

func tcpFrame(
  sourcePort: UInt16, port: UInt16 = serverPort, sequence: UInt32, acknowledgment: UInt32, flags: TCPFlags,
  window: UInt16, options: TCPOptions = TCPOptions(), payload: [UInt8] = []
) -> [UInt8] {
  let header = TCPHeader(
    sourcePort: sourcePort, destinationPort: port, sequenceNumber: sequence, acknowledgmentNumber: acknowledgment,
    flags: flags, window: window, options: options)
  var segment = [UInt8](repeating: 0, count: header.headerLength) + payload
  segment.withUnsafeMutableBytes { header.emit(into: $0, source: peerIP, destination: ourIP) }
  return ethernetFrame(ipv4Packet(protocol: .tcp, segment))
}
