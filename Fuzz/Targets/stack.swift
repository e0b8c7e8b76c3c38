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
// the link (then one operation is a server's OFFER, ACK or NAK for its current exchange),
// 7 IPv6 on the link (fd00::2/64 and an EUI-64 link-local address, both through duplicate
// address detection; the handshake over IPv6) and sixteen more operations: TCP to the
// listener, UDP, ICMPv6 and Neighbor Discovery messages, MLD queries, raw IPv6 packets with
// any next header (extension headers as the input makes them), fragments of an echo request,
// packets too big, and UDP sends and connections to IPv6 destinations (resolved, waiting for
// a neighbour that never answers, or off-link with no route). Without bit 7 the operations
// and their fields are what they were before IPv6 was added, so older inputs mean the same.

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
let ourIP6 = IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 2)
let peerIP6 = IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 1)
/// On the link's prefix, never answering neighbour discovery.
let absentIP6 = IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 9)
/// Off the link, with no route to it.
let remoteIP6 = IPv6Address(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
let ourLinkLocal = IPv6Address.linkLocal(interfaceIdentifier: ourMAC.modifiedEUI64)
let peerLinkLocal = IPv6Address.linkLocal(interfaceIdentifier: peerMAC.modifiedEUI64)
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
    .malformedIPv6, .ipv6NotForUs, .ipv6ExtensionHeader, .malformedICMPv6, .badICMPv6Checksum, .invalidNDP,
  ]
  /// Drops counted while sending what a frame asked for (an echo reply).
  static let sendReasons: [DropReason] = [.noRoute, .arpQueueOverflow, .transmitFailed, .oversized, .ndpQueueOverflow]

  var received: UInt64
  var dropped: UInt64
  var sendDropped: UInt64
  var handled: UInt64

  init(_ counters: NetworkCounters) {
    received = counters.receivedFrames
    dropped = Self.receiveReasons.reduce(0) { $0 + counters[$1] }
    sendDropped = Self.sendReasons.reduce(0) { $0 + counters[$1] }
    handled = counters.udpDatagramsDelivered + counters.icmpIgnored + counters.echoRepliesSent + counters.tcpSegmentsReceived
      + counters.ipv4FragmentsQueued + counters.dhcpMessagesReceived + counters.ipv6FragmentsQueued
      + counters.ndpMessagesReceived + counters.mldQueriesReceived
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
  /// IPv6 on the link, and the first connection over it.
  let ipv6: Bool
  /// Every IPv6 address the link has held or was probing: what it may send from.
  var ourAddresses6: Set<IPv6Address> = []
  /// The IPv4 addresses the link held when the last poll began: a poll may send from one and
  /// then lose it (a DHCP renewal goes out, then the server's NAK is read).
  var heldIPv4: Set<IPv4Address> = []

  init(bits: UInt8) {
    ipv6 = bits & 128 != 0
    var configuration = StackConfiguration()
    configuration.verifyChecksums = bits & 1 != 0
    if bits & 2 != 0 { configuration.tcpMemoryLimit = 4096 }
    if bits & 8 != 0 { configuration.maximumTCPConnections = 4 }
    var linkConfiguration = Link.Configuration(name: "service", macAddress: ourMAC)
    linkConfiguration.announcements = 0
    linkConfiguration.ipv6 = ipv6
    linkConfiguration.interfaceIdentifiers = .eui64(ourMAC)
    linkConfiguration.routerSolicitations = 1
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
    if ipv6 {
      try! stack.add(IPv6Network(address: ourIP6, prefixLength: 64), to: link, now: now)
      noteAddresses()
      poll()
      // Duplicate address detection: after a random delay of up to a second, one probe each,
      // then a second's wait.
      for _ in 0..<3 {
        now = now + .seconds(1)
        poll()
      }
      require(link.owns(ourIP6) && link.owns(ourLinkLocal), "IPv6 addresses not in use: \(link.ipv6)")
      stack.addNeighbor(peerIP6, at: peerMAC, on: link, now: now)
      stack.addNeighbor(peerLinkLocal, at: peerMAC, on: link, now: now)
    }
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
    inject(tcpFrame(
      sourcePort: peerPort, sequence: peerNext, acknowledgment: 0, flags: .syn, window: 65535, options: synOptions, ipv6: ipv6))
    poll()
    peerNext &+= 1
    let timestamp = options ? TCPOptions(timestamp: .init(value: 2, echoReply: 0)) : TCPOptions()
    inject(tcpFrame(
      sourcePort: peerPort, sequence: peerNext, acknowledgment: ourNext, flags: .ack, window: 65535, options: timestamp,
      ipv6: ipv6))
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
    let operation = input.byte() % (ipv6 ? 32 : 16)
    switch operation < 26 ? operation : operation - 16 {
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
    case 15:
      if let dhcp = link.dhcp { dhcpReply(&input, to: dhcp) } else { poll() }
    case 16: listenerSegment(&input, ipv6: true)
    case 17: udpDatagram6(&input)
    case 18: icmpv6Message(&input)
    case 19: neighborDiscovery(&input)
    case 20: listenerQuery(&input)
    case 21:
      let nextHeader = IPProtocol(rawValue: input.byte())
      let destination = input.byte() & 1 == 0 ? ourIP6 : IPv6Address.allNodes
      frame(ipv6Frame(ipv6Packet(destination: destination, nextHeader: nextHeader, input.bytes(Int(input.byte())))))
    case 22: echoFragment(&input)
    case 23:
      let count = Int(input.byte()) * 8
      _ = try? udp.send(pattern(count), to: .v6(destination6(input.byte())), port: peerPort)
      while udp.receive() != nil {}
      poll()
    case 24:
      let port = UInt16(input.byte()) + 1
      if connections.count < 8, let connection = try? stack.connectTCP(to: .v6(destination6(input.byte())), port: port, now: now) {
        connections.append(connection)
      }
      poll()
    default: packetTooBig(&input)
    }
  }

  /// Where the application sends over IPv6: the peer (resolved), its link-local address, a
  /// neighbour that never answers, or off the link.
  func destination6(_ choice: UInt8) -> IPv6Address { [peerIP6, peerLinkLocal, absentIP6, remoteIP6][Int(choice % 4)] }

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
      options: options, payload: payload, ipv6: ipv6))
    if sequence == peerNext { peerNext &+= UInt32(payload.count) + (flags.contains(.syn) ? 1 : 0) + (flags.contains(.fin) ? 1 : 0) }
    poll()
  }

  /// A segment from another port of the peer, to the listener (or a closed port).
  func listenerSegment(_ input: inout FuzzInput, ipv6: Bool = false) {
    let sourcePort = 6000 + UInt16(input.byte() % 8)
    let flags = TCPFlags(rawValue: UInt16(input.byte() & 0x3f))
    let sequence = input.uint32()
    let acknowledgment = input.uint32()
    let options = tcpOptions(input.byte(), &input)
    let port = input.byte() & 1 == 0 ? serverPort : 81
    inject(tcpFrame(
      sourcePort: sourcePort, port: port, sequence: sequence, acknowledgment: acknowledgment, flags: flags, window: 65535,
      options: options, payload: pattern(Int(input.byte() % 16) * 16), ipv6: ipv6))
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

  // MARK: IPv6 operations

  /// A UDP datagram over IPv6 from the peer (or its link-local address) to our address, our
  /// link-local address or all nodes.
  func udpDatagram6(_ input: inout FuzzInput) {
    let port = input.byte() & 1 == 0 ? udpPort : UInt16(input.byte())
    let choice = input.byte()
    let source = choice & 1 == 0 ? peerIP6 : peerLinkLocal
    let destination = [ourIP6, ourLinkLocal, IPv6Address.allNodes][Int(choice >> 1) % 3]
    let payload = pattern(Int(input.byte()) * 4)
    let header = UDPHeader(sourcePort: peerPort, destinationPort: port, payloadLength: payload.count)
    var datagram = [UInt8](repeating: 0, count: UDPHeader.length) + payload
    datagram.withUnsafeMutableBytes { header.emit(into: $0, source: source, destination: destination) }
    frame(ipv6Frame(ipv6Packet(source: source, destination: destination, nextHeader: .udp, datagram)))
  }

  /// An ICMPv6 message with a right checksum: an echo request (even types), or any type with
  /// the input's code and four bytes; from the peer or off the link, to us or all nodes.
  func icmpv6Message(_ input: inout FuzzInput) {
    let type = input.byte()
    let code = input.byte() % 4
    let rest = input.uint32()
    let message: ICMPv6Message = type & 1 == 0
      ? .echoRequest(identifier: UInt16(rest >> 16), sequenceNumber: UInt16(truncatingIfNeeded: rest))
      : .other(type: type, code: code, rest: rest)
    let addressing = input.byte()
    let source = [peerIP6, peerLinkLocal, remoteIP6, absentIP6][Int(addressing % 4)]
    let destination = addressing & 4 == 0 ? ourIP6 : (addressing & 8 == 0 ? ourLinkLocal : IPv6Address.allNodes)
    let data = pattern(Int(input.byte()) * 8)
    frame(ipv6Frame(icmpv6Packet(message, data: data, source: source, destination: destination, hopLimit: input.byte())))
  }

  /// A Neighbor Discovery message: a solicitation, an advertisement, a router advertisement,
  /// a router solicitation or a redirect, about one of our addresses (a tentative one
  /// included), the peer's, or a stranger's; hop limit 255 unless the input says otherwise.
  func neighborDiscovery(_ input: inout FuzzInput) {
    let kind = input.byte()
    let targets = [ourIP6, ourLinkLocal, peerIP6, absentIP6] + link.addressConfiguration.addresses.map(\.address)
    let target = targets[Int(input.byte()) % targets.count]
    let flags = input.byte()
    let hardware = MACAddress(2, 0, 0, 0, 0, input.byte() % 4)
    let hopLimit: UInt8 = flags & 0x80 == 0 ? 255 : input.byte()
    let fromUnspecified = flags & 0x40 != 0
    let message: ICMPv6Message
    var source = flags & 0x20 == 0 ? peerLinkLocal : peerIP6
    var destination = target.solicitedNodeMulticast
    switch kind % 5 {
    case 0:
      if fromUnspecified { source = .unspecified }
      if flags & 0x10 != 0 { destination = target }
      message = .neighborSolicitation(NeighborSolicitation(
        targetAddress: target, options: fromUnspecified ? [] : [.sourceLinkLayerAddress(hardware)]))
    case 1:
      destination = flags & 0x10 == 0 ? .allNodes : ourLinkLocal
      message = .neighborAdvertisement(NeighborAdvertisement(
        router: flags & 1 != 0, solicited: flags & 2 != 0 && !destination.isMulticast, override: flags & 4 != 0,
        targetAddress: target, options: flags & 8 == 0 ? [.targetLinkLayerAddress(hardware)] : []))
    case 2:
      source = peerLinkLocal
      destination = .allNodes
      var options: [NDPOption] = [.sourceLinkLayerAddress(peerMAC)]
      if flags & 1 != 0 {
        let prefix = IPv6Address(0xfd00, 0, 0, UInt16(input.byte() % 4), 0, 0, 0, 0)
        options.append(.prefixInformation(NDPPrefixInformation(
          prefix: IPv6Network(address: prefix, prefixLength: flags & 2 == 0 ? 64 : Int(input.byte() % 129)),
          onLink: flags & 4 != 0, autonomous: flags & 8 != 0, validLifetime: UInt32(input.uint16()),
          preferredLifetime: UInt32(input.uint16()))))
      }
      if flags & 16 != 0 { options.append(.mtu(UInt32(input.uint16()))) }
      if flags & 32 != 0 { options.append(.recursiveDNSServers(lifetime: UInt32(input.uint16()), addresses: [peerIP6])) }
      message = .routerAdvertisement(RouterAdvertisement(
        currentHopLimit: input.byte(), routerLifetime: input.uint16(), reachableTime: UInt32(input.uint16()),
        retransmitTimer: UInt32(input.uint16() % 5000), options: options))
    case 3:
      destination = .allRouters
      message = .routerSolicitation(RouterSolicitation(options: [.sourceLinkLayerAddress(hardware)]))
    default:
      destination = ourLinkLocal
      message = .redirect(Redirect(targetAddress: peerLinkLocal, destinationAddress: target))
    }
    frame(ipv6Frame(icmpv6Packet(message, source: source, destination: destination, hopLimit: hopLimit)))
  }

  /// An MLD query, general or for one of our groups, with the Router Alert it must carry
  /// (or without, when the input says).
  func listenerQuery(_ input: inout FuzzInput) {
    let flags = input.byte()
    let group = flags & 1 == 0 ? IPv6Address.unspecified : ourIP6.solicitedNodeMulticast
    let query = ICMPv6Message.multicastListenerQuery(MulticastListenerQuery(
      maximumResponseCode: input.uint16(), multicastAddress: group, robustnessVariable: flags >> 5))
    let destination = group.isUnspecified ? IPv6Address.allNodes : group
    var message = emitted(query.bufferLength) { _ in }
    message.withUnsafeMutableBytes { query.emit(into: $0, source: peerLinkLocal, destination: destination) }
    let packet: [UInt8]
    if flags & 2 == 0 {
      let alert = emitted(IPv6RouterAlertHeader.length) { IPv6RouterAlertHeader().emit(into: $0) }
      packet = ipv6Packet(source: peerLinkLocal, destination: destination, nextHeader: .hopByHop, hopLimit: 1, alert + message)
    } else {
      packet = ipv6Packet(source: peerLinkLocal, destination: destination, nextHeader: .icmpv6, hopLimit: 1, message)
    }
    frame(ipv6Frame(packet))
  }

  /// A piece of an echo request of 2,008 bytes whose whole is the same for every
  /// identification: pieces of one identification reassemble into a valid request (or
  /// overlap, or never complete).
  func echoFragment(_ input: inout FuzzInput) {
    let identification = UInt32(input.byte() % 4)
    let whole = fragmentedEcho
    let offset = Int(input.byte()) % (whole.count / 8) * 8
    let length = (Int(input.byte() % 128) + 1) * 8
    let end = min(offset + length, whole.count)
    let last = input.byte() & 1 == 1
    let more = end < whole.count && !last
    let header = IPv6FragmentHeader(nextHeader: .icmpv6, offset: offset, moreFragments: more, identification: identification)
    let fragment = emitted(IPv6FragmentHeader.length) { header.emit(into: $0) } + Array(whole[offset..<end])
    frame(ipv6Frame(ipv6Packet(destination: ourIP6, nextHeader: .ipv6Fragment, fragment)))
  }

  /// A Packet Too Big from a router, quoting a packet we sent to the peer or off the link.
  func packetTooBig(_ input: inout FuzzInput) {
    let mtu = UInt32(input.uint16())
    let quotedDestination = input.byte() & 1 == 0 ? peerIP6 : remoteIP6
    let quoted = ipv6Packet(source: ourIP6, destination: quotedDestination, nextHeader: .tcp, pattern(40))
    frame(ipv6Frame(icmpv6Packet(.packetTooBig(mtu: mtu), data: quoted, source: peerLinkLocal, destination: ourIP6)))
  }

  /// Checks an IPv6 packet the stack sent: from an address of ours (or ::, for duplicate
  /// address detection and MLD before there is one), its headers sound, its ICMPv6, UDP or
  /// TCP valid; fragments never of TCP.
  func examineSent6(_ payload: UnsafeRawBufferPointer, ethernet: EthernetHeader, frame: UnsafeRawBufferPointer) {
    guard let ip = try? IPv6Header.parse(payload), ip.totalLength == payload.count else {
      return require(false, "sent a bad IPv6 header: \(hex(frame))")
    }
    require(ip.source.isUnspecified || ourAddresses6.contains(ip.source), "sent from \(ip.source): \(hex(frame))")
    require(!ip.destination.isMulticast || ethernet.destination == MACAddress(multicast: ip.destination), "sent to \(ethernet)")
    let body = payload.suffix(from: IPv6Header.length)
    guard let headers = try? IPv6ExtensionHeaders.walk(body, nextHeader: ip.nextHeader) else {
      return require(false, "sent bad extension headers: \(hex(frame))")
    }
    if let fragment = headers.fragment, !fragment.isAtomic {
      let data = body.count - headers.upperLayerOffset
      require(
        (fragment.offset != 0 || fragment.nextHeader != .tcp) && (!fragment.moreFragments || data % 8 == 0),
        "sent the fragment \(fragment)")
      return
    }
    let upper = body.suffix(from: headers.upperLayerOffset)
    switch headers.upperLayerProtocol {
    case .icmpv6:
      guard let message = try? ICMPv6Message.parse(upper, source: ip.source, destination: ip.destination) else {
        return require(false, "sent bad ICMPv6: \(hex(frame))")
      }
      switch message {
      case .echoReply, .destinationUnreachable, .packetTooBig, .timeExceeded, .parameterProblem:
        require(!ip.source.isUnspecified, "sent \(message) from ::")
      case .neighborSolicitation, .neighborAdvertisement, .routerSolicitation:
        require(ip.hopLimit == 255, "sent \(message) with hop limit \(ip.hopLimit)")
      case .multicastListenerReport:
        require(ip.hopLimit == 1 && headers.routerAlert == 0, "sent an MLD report without its router alert: \(hex(frame))")
      default:
        require(false, "sent \(message)")
      }
    case .udp:
      require((try? UDPHeader.parse(upper, source: ip.source, destination: ip.destination)) != nil, "sent bad UDP: \(hex(frame))")
    case .tcp:
      guard let tcp = try? TCPHeader.parse(upper, source: .v6(ip.source), destination: .v6(ip.destination)) else {
        return require(false, "sent a bad TCP segment: \(hex(frame))")
      }
      if ipv6, ip.destination == peerIP6, tcp.destinationPort == peerPort, tcp.sourcePort == serverPort {
        followFirstConnection(tcp, payloadLength: upper.count - tcp.headerLength)
      }
    default:
      require(false, "sent \(ip)")
    }
  }

  /// Follows the end of what the stack has sent on the first connection.
  func followFirstConnection(_ tcp: TCPHeader, payloadLength: Int) {
    let length = UInt32(payloadLength) + (tcp.flags.contains(.syn) ? 1 : 0) + (tcp.flags.contains(.fin) ? 1 : 0)
    let end = tcp.sequenceNumber &+ length
    if ourNext == 0 || Int32(bitPattern: end &- ourNext) > 0 { ourNext = end }
  }

  // MARK: Frames

  /// Injects one frame, polls, and checks that the frame was accounted for.
  func frame(_ bytes: [UInt8]) {
    inject(bytes)
    poll()
  }

  func inject(_ frame: [UInt8]) {
    noteAddresses()
    let before = Outcomes(stack.counters)
    device.inject(frame)
    injectedFrames += 1
    injectedBytes += UInt64(frame.count)
    stack.poll(now: now)
    let after = Outcomes(stack.counters)
    let dropped = after.dropped - before.dropped
    let handled = after.handled - before.handled
    func context() -> String { "frame of \(frame.count) bytes: \(hex(frame.prefix(80)))" }
    require(after.received == before.received + 1, "not counted as received: \(context())")
    require(dropped + handled <= 1, "dropped \(dropped) times and handled \(handled): \(context())")
    require(
      dropped + handled == 1 || after.sendDropped > before.sendDropped || isARP(frame),
      "neither dropped nor handled: \(context())")
    takeSent()
  }

  func poll() {
    noteAddresses()
    heldIPv4 = Set(link.ipv4.map { $0.address })
    stack.poll(now: now)
    takeSent()
  }

  /// Remembers the IPv6 addresses the link holds or probes (a poll may send from one and then
  /// lose it: a lifetime ends, a duplicate is found).
  func noteAddresses() {
    for network in link.ipv6 { ourAddresses6.insert(network.address) }
    for address in link.addressConfiguration.addresses { ourAddresses6.insert(address.address) }
  }

  /// Checks every frame the stack sent, and follows what it sent on the first connection.
  func takeSent() {
    noteAddresses()
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
    if ethernet.etherType == .ipv6 { return examineSent6(payload, ethernet: ethernet, frame: frame) }
    require(ethernet.etherType == .ipv4, "sent \(ethernet)")
    guard let ip = try? IPv4Header.parse(payload) else { return require(false, "sent a bad IPv4 header: \(hex(frame))") }
    // From our address, or one a lease gave (perhaps taken back in the same poll); from
    // 0.0.0.0 only a DHCP client's message.
    let source = ip.source == ourIP || link.owns(ip.source) || heldIPv4.contains(ip.source)
      || (ip.source.isUnspecified && ip.protocol == .udp && link.dhcp != nil)
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
      if !ipv6, ip.destination == peerIP, tcp.destinationPort == peerPort, tcp.sourcePort == serverPort {
        followFirstConnection(tcp, payloadLength: body.count - tcp.headerLength)
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
    // Reassembly and neighbour discovery stay within their bounds.
    for (count, bytes, limits) in [
      (stack.reassembly.count, stack.reassembly.bufferedBytes, stack.configuration.reassembly),
      (stack.reassembly6.count, stack.reassembly6.bufferedBytes, stack.configuration.reassembly),
    ] {
      require(count <= limits.maximumDatagrams && bytes <= limits.maximumBytes, "reassembly holds \(count), \(bytes) bytes")
    }
    let neighbors = link.neighbors.configuration
    require(link.neighbors.count <= neighbors.capacity, "\(link.neighbors.count) neighbours")
    var waiting = 0
    for (address, _) in link.neighbors.entries {
      let queued = link.neighbors.neighbor(address, now: now)?.queuedPackets ?? 0
      require(queued <= neighbors.packetsPerDestination, "\(queued) packets wait for \(address)")
      if queued > 0 { waiting += 1 }
    }
    require(waiting <= neighbors.pendingDestinations, "\(waiting) destinations wait")
    require(link.addressConfiguration.addresses.count <= link.addressConfiguration.configuration.maximumAddresses, "addresses")
  }
}

// MARK: Building frames

func isARP(_ frame: [UInt8]) -> Bool {
  frame.withUnsafeBytes { bytes in
    guard let ethernet = try? EthernetHeader.parse(bytes), ethernet.etherType == .arp, ethernet.vlan == nil else { return false }
    return (try? ARPPacket.parse(bytes.suffix(from: ethernet.headerLength))) != nil
  }
}

/// `count` bytes 0, 1, 2... from `offset`: recognisable payloads that cost no input. Cut from
/// one table: a byte-by-byte loop under coverage instrumentation cost a tenth of the run time.
func pattern(_ count: Int, offset: Int = 0) -> [UInt8] {
  let start = Int(UInt8(truncatingIfNeeded: offset))
  return Array(patternTable[start..<(start + min(count, patternTable.count - 256))])
}

/// The echo request `echoFragment` cuts into pieces.
let fragmentedEcho = icmpv6Bytes(.echoRequest(identifier: 1, sequenceNumber: 1), data: pattern(2000), source: peerIP6, destination: ourIP6)

let patternTable: [UInt8] = (0..<(256 + 65536)).map { UInt8(truncatingIfNeeded: $0) }

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

/// An IPv6 packet; `ipv6Frame` puts it in an Ethernet frame.
func ipv6Packet(
  source: IPv6Address = peerIP6, destination: IPv6Address, nextHeader: IPProtocol, hopLimit: UInt8 = 64, _ payload: [UInt8]
) -> [UInt8] {
  let header = IPv6Header(
    payloadLength: min(payload.count, 65535), nextHeader: nextHeader, hopLimit: hopLimit, source: source,
    destination: destination)
  return emitted(IPv6Header.length) { header.emit(into: $0) } + payload
}

/// An Ethernet frame of an IPv6 packet, to us or to the group its destination is.
func ipv6Frame(_ packet: [UInt8]) -> [UInt8] {
  let destination = packet.withUnsafeBytes { IPv6Address(bytes: $0[24..<40]) }
  return ethernetFrame(packet, type: .ipv6, to: destination.isMulticast ? MACAddress(multicast: destination) : ourMAC)
}

/// An ICMPv6 message with `data` after its first eight bytes (echo, errors, other types) and
/// its checksum.
func icmpv6Bytes(_ message: ICMPv6Message, data: [UInt8] = [], source: IPv6Address, destination: IPv6Address) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: message.bufferLength) + data
  bytes.withUnsafeMutableBytes { message.emit(into: $0, source: source, destination: destination) }
  return bytes
}

func icmpv6Packet(
  _ message: ICMPv6Message, data: [UInt8] = [], source: IPv6Address, destination: IPv6Address, hopLimit: UInt8 = 64
) -> [UInt8] {
  ipv6Packet(
    source: source, destination: destination, nextHeader: .icmpv6, hopLimit: hopLimit,
    icmpv6Bytes(message, data: data, source: source, destination: destination))
}

/// A TCP segment from the peer to us, over IPv4 or IPv6.
func tcpFrame(
  sourcePort: UInt16, port: UInt16 = serverPort, sequence: UInt32, acknowledgment: UInt32, flags: TCPFlags,
  window: UInt16, options: TCPOptions = TCPOptions(), payload: [UInt8] = [], ipv6: Bool = false
) -> [UInt8] {
  let header = TCPHeader(
    sourcePort: sourcePort, destinationPort: port, sequenceNumber: sequence, acknowledgmentNumber: acknowledgment,
    flags: flags, window: window, options: options)
  var segment = [UInt8](repeating: 0, count: header.headerLength) + payload
  if ipv6 {
    segment.withUnsafeMutableBytes { header.emit(into: $0, source: .v6(peerIP6), destination: .v6(ourIP6)) }
    return ipv6Frame(ipv6Packet(destination: ourIP6, nextHeader: .tcp, segment))
  }
  segment.withUnsafeMutableBytes { header.emit(into: $0, source: peerIP, destination: ourIP) }
  return ethernetFrame(ipv4Packet(protocol: .tcp, segment))
}
