// TCP in the stack: listeners, the connection table, demultiplexing, resets for
// segments nobody owns, and the output of connections with something to send.
//
// Read first: RFC 9293 3.10 (event processing), 3.5 (reset generation), RFC 6528 (initial
// sequence numbers), RFC 6056 (ephemeral ports).

import SiroccoDevices
import SiroccoWire

public enum TCPListenError: Error, Equatable, Sendable {
  case portInUse(UInt16)
  /// The host's sockets refused (the socket stack on unix), for this reason.
  case host(String)
}

public enum TCPConnectError: Error, Equatable, Sendable {
  case noPortAvailable
  case invalidDestination
  /// No route leads to the destination (or its link has no address of its family).
  case noRoute
  /// The stack holds `maximumTCPConnections` already.
  case tooManyConnections
  /// The host's sockets refused (the socket stack on unix), for this reason.
  case host(String)
}

extension TCPListenError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .portInUse(let port): "port " + String(port) + " is already listening"
    case .host(let reason): reason
    }
  }
}

extension TCPConnectError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .noPortAvailable: "no ephemeral port is free"
    case .invalidDestination: "not a unicast destination"
    case .noRoute: "no route to the destination"
    case .tooManyConnections: "the stack holds its maximum of TCP connections"
    case .host(let reason): reason
    }
  }
}

/// A passive open: connections to `port` are accepted here (RFC 9293 LISTEN).
public final class TCPListener {
  public let port: UInt16
  /// Connections established or being established, at most (RFC 9293 3.10.1: a backlog).
  public let backlog: Int
  let configuration: TCPConnection.Configuration
  var ready: BoundedQueue<TCPConnection>
  var embryonic = 0
  public private(set) var isClosed = false

  init(port: UInt16, backlog: Int, configuration: TCPConnection.Configuration) {
    self.port = port
    self.backlog = backlog
    self.configuration = configuration
    ready = BoundedQueue(capacity: backlog)
  }

  /// The next established connection, if any.
  public func accept() -> TCPConnection? { ready.pop() }

  /// Stops listening (the stack lets the port go on its next look); connections already
  /// accepted are unaffected, those waiting to be are reset.
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    while let connection = ready.pop() { connection.abort() }
  }

  var isFull: Bool { ready.count + embryonic >= backlog }

  func established(_ connection: TCPConnection) {
    embryonic -= 1
    if isClosed || !ready.push(connection) { connection.abort() }
  }
}

/// Where a TCP connection's segments go: the stack, on the link its route leaves by. A
/// connection hands its segments to a sink on output instead of holding the stack.
protocol TCPSegmentSink {
  /// What the device on the connection's link does for it (checksums, segmentation).
  var offloads: NetworkOffloads { get }
  /// Sends `header` and `payloadLength` bytes of `connection`'s send buffer from `dataOffset`.
  func transmit(_ header: TCPHeader, from connection: TCPConnection, payloadLength: Int, dataOffset: Int, now: Instant)
}

/// Where a packet leaves, for either family.
enum IPPath {
  case v4(IPv4Path)
  case v6(IPv6Path)

  var link: Link {
    switch self {
    case .v4(let path): path.link
    case .v6(let path): path.link
    }
  }
}

/// The stack's sink for one connection's output in one flush: the route looked up once.
struct TCPOutput<Device: NetworkDevice>: TCPSegmentSink {
  let stack: Stack<Device>
  let path: IPPath?
  /// The offloads of the device the route leaves by.
  var offloads: NetworkOffloads {
    guard let path else { return [] }
    return stack.devices[path.link.index].offloads
  }

  func transmit(_ header: TCPHeader, from connection: TCPConnection, payloadLength: Int, dataOffset: Int, now: Instant) {
    stack.transmitTCP(header, from: connection, path: path, payloadLength: payloadLength, dataOffset: dataOffset, now: now)
  }
}

extension Stack {
  /// Listens on `port` for connections, to any of the stack's addresses.
  public func listenTCP(
    port: UInt16, backlog: Int = 128, configuration: TCPConnection.Configuration = TCPConnection.Configuration()
  ) throws(TCPListenError) -> TCPListener {
    precondition(port != 0 && backlog > 0, "listen on a port, with room for a connection")
    guard listener(on: port) == nil else { throw .portInUse(port) }
    let listener = TCPListener(port: port, backlog: backlog, configuration: configuration)
    tcpListeners[port] = listener
    return listener
  }

  /// Opens a connection to `address`:`port` (active open); it becomes established, or fails
  /// with `error`, after later polls.
  public func connectTCP(
    to destination: IPAddress, port: UInt16, now: Instant,
    configuration: TCPConnection.Configuration = TCPConnection.Configuration()
  ) throws(TCPConnectError) -> TCPConnection {
    switch destination {
    case .v4(let address):
      guard !address.isUnspecified, !address.isBroadcast, !address.isMulticast, !isDirectedBroadcast(address) else {
        throw .invalidDestination
      }
    case .v6(let address):
      guard !address.isUnspecified, !address.isMulticast, !address.isLoopback else { throw .invalidDestination }
    }
    guard port != 0 else { throw .invalidDestination }
    guard let path = path(to: destination, now: now) else { throw .noRoute }
    let source: IPAddress
    switch path {
    case .v4(let path): source = .v4(path.source)
    case .v6(let path): source = .v6(path.source)
    }
    // The bound holds for connections in every state, ours as well as the peers' (found by
    // Scripts/fuzz interface: only passive opens were checked).
    forgetClosedConnections()
    guard tcpConnections.count < self.configuration.maximumTCPConnections else { throw .tooManyConnections }
    let first = UInt16(49152)
    let range = 65536 - Int(first)
    let start = Int(random.next() % UInt64(range))
    var chosen: TCPEndpoints?
    for step in 0..<range {
      let candidate = TCPEndpoints(
        localAddress: source, localPort: first + UInt16((start + step) % range), remoteAddress: destination,
        remotePort: port)
      if tcpConnections[candidate] == nil, listener(on: candidate.localPort) == nil {
        chosen = candidate
        break
      }
    }
    guard let endpoints = chosen else { throw .noPortAvailable }
    let connection = TCPConnection(
      endpoints: endpoints, context: context, mtu: pathMTU(to: destination, now: now), configuration: configuration,
      state: .synSent,
      initialSequence: initialSequence(for: endpoints, now: now))
    connection.congestionWindow = connection.initialWindow
    tcpConnections[endpoints] = connection
    context.tcpReady(connection)
    return connection
  }

  /// Whether `address` is the directed broadcast of a network on any link.
  func isDirectedBroadcast(_ address: IPv4Address) -> Bool {
    for link in links where link.isDirectedBroadcast(address) { return true }
    return false
  }

  /// The open listener on `port`, if any (a closed one is let go here).
  func listener(on port: UInt16) -> TCPListener? {
    guard let listener = tcpListeners[port] else { return nil }
    guard !listener.isClosed else {
      tcpListeners[port] = nil
      return nil
    }
    return listener
  }

  /// Where a packet to `destination` leaves, for either family.
  func path(to destination: IPAddress, via link: Link? = nil, now: Instant) -> IPPath? {
    switch destination {
    case .v4(let address): path(to: address, now: now).map { .v4($0) }
    case .v6(let address): path(to: address, via: link, now: now).map { .v6($0) }
    }
  }

  /// The MTU toward `address`: its link's (for IPv6, less if a Packet Too Big said so); the
  /// least a link may have without a route.
  func pathMTU(to address: IPAddress, now: Instant) -> Int {
    switch path(to: address, now: now) {
    case .v4(let path): path.link.ipv4MTU
    case .v6(let path): mtu6(to: address.ipv6 ?? path.hop, on: path.link, now: now)
    case nil: address.ipv4 != nil ? Link.minimumMTU : IPv6Header.minimumMTU
    }
  }

  /// RFC 6528: ISN = M + F(local address, local port, remote address, remote port, secret),
  /// M a 4-microsecond clock, F SipHash-2-4 keyed with a secret drawn at start.
  func initialSequence(for endpoints: TCPEndpoints, now: Instant) -> SequenceNumber {
    var hash = SipHash24(key0: tcpSecret.0, key1: tcpSecret.1)
    hash.append(endpoints.localAddress)
    hash.append(endpoints.localPort)
    hash.append(endpoints.remoteAddress)
    hash.append(endpoints.remotePort)
    let clock = UInt32(truncatingIfNeeded: now.nanoseconds / 4000)
    return SequenceNumber(clock &+ UInt32(truncatingIfNeeded: hash.finalize()))
  }

  /// Removes the connections that reached CLOSED from the table.
  func forgetClosedConnections() {
    guard !context.closedConnections.isEmpty else { return }
    let closed = context.closedConnections
    context.closedConnections = []
    for connection in closed {
      tcpTimers.forget(connection)
      if tcpConnections[connection.endpoints] === connection { tcpConnections[connection.endpoints] = nil }
      if let listener = connection.listener {
        listener.embryonic -= 1
        connection.listener = nil
      }
    }
  }

  func processTCP(
    _ segment: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress, isBroadcast: Bool, now: Instant
  ) {
    forgetClosedConnections()
    let tcp: TCPHeader
    do {
      tcp = try TCPHeader.parse(segment, source: source, destination: destination, verifyChecksum: verifyTransportChecksum)
    } catch {
      return counters.drop(error == .badChecksum ? .badTCPChecksum : .malformedTCP)
    }
    // RFC 9293 3.10.7.1: nothing for broadcast or multicast destinations.
    guard !isBroadcast, tcp.destinationPort != 0, tcp.sourcePort != 0 else { return counters.drop(.malformedTCP) }
    let payload = segment.suffix(from: tcp.headerLength)
    let endpoints = TCPEndpoints(
      localAddress: destination, localPort: tcp.destinationPort, remoteAddress: source, remotePort: tcp.sourcePort)
    // A new SYN for a connection in TIME-WAIT reopens it when its sequence number (or its
    // timestamp) is past the old incarnation's (RFC 9293 3.6.1, RFC 6191).
    if let old = tcpConnections[endpoints], old.state == .timeWait, tcp.flags.contains(.syn), !tcp.flags.contains(.ack),
      !tcp.flags.contains(.rst), listener(on: tcp.destinationPort) != nil
    {
      let newerSequence = SequenceNumber(tcp.sequenceNumber) - old.rcvNxt > 0
      let newerTimestamp = old.timestampsEnabled
        && tcp.options.timestamp.map { Int32(bitPattern: $0.value &- old.timestampRecent) > 0 } ?? false
      if newerSequence || newerTimestamp {
        old.enterClosed(error: nil)
        forgetClosedConnections()
      }
    }
    if let connection = tcpConnections[endpoints] {
      counters.tcpSegmentsReceived &+= 1
      connection.receive(tcp, payload: payload, now: now)
      // A timer the segment started (a delayed ACK) must wake the interface.
      noteDeadline(of: connection, now: now)
      return
    }
    // A SYN for a listener (RFC 9293 3.10.7.2).
    if let listener = listener(on: tcp.destinationPort), tcp.flags.contains(.syn), !tcp.flags.contains(.ack),
      !tcp.flags.contains(.rst)
    {
      guard !listener.isFull, tcpConnections.count < configuration.maximumTCPConnections else {
        // A flood, or a slow application: answer with a cookie while accepted connections
        // can still be queued (RFC 4987 3.6); otherwise drop.
        guard !listener.ready.isFull else { return counters.drop(.tcpBacklogFull) }
        counters.tcpSegmentsReceived &+= 1
        return sendCookie(for: endpoints, syn: tcp, now: now)
      }
      counters.tcpSegmentsReceived &+= 1
      let connection = TCPConnection(
        endpoints: endpoints, context: context, mtu: pathMTU(to: source, now: now), configuration: listener.configuration,
        state: .synReceived, initialSequence: initialSequence(for: endpoints, now: now))
      connection.irs = SequenceNumber(tcp.sequenceNumber)
      connection.rcvNxt = connection.irs + 1
      connection.acceptOptions(of: tcp)
      connection.sndWnd = Int(tcp.window)  // never scaled on a SYN (RFC 7323 2.2)
      connection.synNeedsSending = true
      connection.listener = listener
      listener.embryonic += 1
      tcpConnections[endpoints] = connection
      context.tcpReady(connection)
      return
    }
    // The ACK that completes a cookie handshake.
    if let listener = listener(on: tcp.destinationPort),
      let connection = connectionFromCookie(tcp, endpoints: endpoints, listener: listener, now: now)
    {
      counters.tcpSegmentsReceived &+= 1
      if !payload.isEmpty || tcp.flags.contains(.fin) { connection.receive(tcp, payload: payload, now: now) }
      noteDeadline(of: connection, now: now)
      return
    }
    // Nobody owns it: a reset (RFC 9293 3.10.7.1), except in answer to a reset.
    counters.drop(.noTCPConnection)
    guard !tcp.flags.contains(.rst) else { return }
    if tcp.flags.contains(.ack) {
      context.sendReset(for: endpoints, sequence: SequenceNumber(tcp.acknowledgmentNumber), acknowledgment: nil)
    } else {
      let length = payload.count + (tcp.flags.contains(.syn) ? 1 : 0) + (tcp.flags.contains(.fin) ? 1 : 0)
      context.sendReset(for: endpoints, sequence: SequenceNumber(0), acknowledgment: SequenceNumber(tcp.sequenceNumber) + length)
    }
  }

  /// Files `connection` in the timer wheel by its deadline, and keeps `nextTCPDeadline` no
  /// later than it.
  func noteDeadline(of connection: TCPConnection, now: Instant) {
    guard let deadline = connection.deadline, connection.state != .closed else { return tcpTimers.forget(connection) }
    tcpTimers.file(connection, at: deadline, now: now)
    if nextTCPDeadline.map({ deadline < $0 }) ?? true { nextTCPDeadline = deadline }
  }

  /// Sends a segment for `connection` on `path` (nil: no route, the segment is dropped and
  /// counted): the header, and `payloadLength` bytes of its send buffer from `dataOffset`,
  /// copied straight into the frame.
  func transmitTCP(
    _ header: TCPHeader, from connection: TCPConnection, path: IPPath?, payloadLength: Int, dataOffset: Int, now: Instant
  ) {
    let endpoints = connection.endpoints
    let length = header.headerLength + payloadLength
    let fillPayload: (UnsafeMutableRawBufferPointer) -> Void = { segment in
      if payloadLength > 0 {
        _ = connection.sendBuffer.peek(at: dataOffset, into: segment.slice(from: header.headerLength, length: payloadLength))
      }
    }
    /// What the device on `link` finishes, if it offloads checksums: the checksum after
    /// `ipHeaderLength` bytes of IP header, and a segment longer than the MSS cut into
    /// MSS-sized ones (TSO).
    func deviceOffload(on link: Link, ipHeaderLength: Int, ipv6: Bool) -> TransmitOffload? {
      guard devices[link.index].offloads.contains(.transmitChecksum) else { return nil }
      let headers = EthernetHeader.minimumLength + ipHeaderLength
      return TransmitOffload(
        checksumStart: headers, checksumOffset: TCPHeader.checksumOffset, headerLength: headers + header.headerLength,
        segmentSize: payloadLength > connection.sendMSS ? connection.sendMSS : 0, ipv6: ipv6)
    }
    var sent = false
    switch (path, endpoints.localAddress, endpoints.remoteAddress) {
    case (.v4(var path)?, .v4(let source), .v4(let destination)):
      // A connection's address is its own even when the route's link would pick another.
      path.source = source
      let offload = deviceOffload(on: path.link, ipHeaderLength: IPv4Header.minimumLength, ipv6: false)
      sent = sendIPv4(on: path, to: destination, protocol: .tcp, payloadLength: length, now: now, offload: offload) { segment in
        fillPayload(segment)
        header.emit(into: segment, source: source, destination: destination, fillChecksum: offload == nil)
      }
    case (.v6(var path)?, .v6(let source), .v6(let destination)):
      path.source = source
      let offload = deviceOffload(on: path.link, ipHeaderLength: IPv6Header.length, ipv6: true)
      sent = sendIPv6(on: path, to: destination, nextHeader: .tcp, payloadLength: length, now: now, offload: offload) { segment in
        fillPayload(segment)
        header.emit(into: segment, source: .v6(source), destination: .v6(destination), fillChecksum: offload == nil)
      }
    default:
      counters.drop(.noRoute)
    }
    if sent { counters.tcpSegmentsSent &+= 1 }
  }

  /// Sends a segment that belongs to no connection (a reset, a cookie SYN-ACK) from the
  /// local address `endpoints` names.
  @discardableResult
  func sendBareTCP(_ header: TCPHeader, endpoints: TCPEndpoints, now: Instant) -> Bool {
    switch (path(to: endpoints.remoteAddress, now: now), endpoints.localAddress, endpoints.remoteAddress) {
    case (.v4(var path)?, .v4(let source), .v4(let destination)):
      path.source = source
      return sendIPv4(on: path, to: destination, protocol: .tcp, payloadLength: header.headerLength, now: now) { segment in
        header.emit(into: segment, source: source, destination: destination)
      }
    case (.v6(var path)?, .v6(let source), .v6(let destination)):
      path.source = source
      return sendIPv6(on: path, to: destination, nextHeader: .tcp, payloadLength: header.headerLength, now: now) { segment in
        header.emit(into: segment, source: .v6(source), destination: .v6(destination))
      }
    default:
      counters.drop(.noRoute)
      return false
    }
  }

  /// Sends queued resets, runs expired timers, and lets every connection with something to
  /// say send it.
  func flushTCP(now: Instant) {
    forgetClosedConnections()
    if !pendingCookies.isEmpty {
      let cookies = pendingCookies
      pendingCookies = []
      for cookie in cookies {
        let header = TCPHeader(
          sourcePort: cookie.endpoints.localPort, destinationPort: cookie.endpoints.remotePort,
          sequenceNumber: cookie.sequence, acknowledgmentNumber: cookie.acknowledgment, flags: [.syn, .ack],
          window: 65535, options: TCPOptions(maximumSegmentSize: cookie.mss))
        sendBareTCP(header, endpoints: cookie.endpoints, now: now)
      }
    }
    if !context.pendingResets.isEmpty {
      let resets = context.pendingResets
      context.pendingResets = []
      for reset in resets {
        var flags: TCPFlags = .rst
        if reset.acknowledgment != nil { flags.insert(.ack) }
        let header = TCPHeader(
          sourcePort: reset.endpoints.localPort, destinationPort: reset.endpoints.remotePort,
          sequenceNumber: reset.sequence.rawValue, acknowledgmentNumber: reset.acknowledgment?.rawValue ?? 0,
          flags: flags, window: 0)
        if sendBareTCP(header, endpoints: reset.endpoints, now: now) { counters.tcpResetsSent &+= 1 }
      }
    }
    // Every connection with a deadline is filed in the wheel at it: only connections that
    // received or sent (or whose timers ran) can have moved theirs, and they are filed again
    // as they do. The wheel hands back those whose filing came due; one whose deadline moved
    // later without a note (a timer restarted inside) is filed again at it.
    if let next = nextTCPDeadline, next <= now {
      var due = tcpTimers.expire(now: now)
      while let connection = due {
        due = connection.wheelNext
        connection.wheelNext = nil
        guard connection.state != .closed else { continue }
        if connection.deadline.map({ $0 <= now }) ?? false { connection.timersExpired(now: now) }
        noteDeadline(of: connection, now: now)
      }
      nextTCPDeadline = tcpTimers.nextDeadline
    }
    while !context.tcpTransmitReady.isEmpty {
      let ready = context.tcpTransmitReady
      context.tcpTransmitReady = []
      for connection in ready {
        connection.isQueuedForOutput = false
        let path = self.path(to: connection.endpoints.remoteAddress, now: now)
        connection.output(now: now, sink: TCPOutput(stack: self, path: path))
        noteDeadline(of: connection, now: now)
      }
    }
    forgetClosedConnections()
  }
}

extension TCPConnection: WheelTimer {}
