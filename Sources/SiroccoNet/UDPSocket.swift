// UDP sockets: bind, send-to, receive-from.
//
// Read first: RFC 768; RFC 1122 4.1.3 (checksums, port unreachable); RFC 6056 3.3.1
// (random ephemeral ports). Datagrams are copied into and out of bounded per-socket queues;
// a full queue drops (and counts) rather than grows.

import SiroccoDevices
import SiroccoWire

/// A received datagram.
public struct UDPDatagram: Equatable, Sendable {
  public var source: IPAddress
  public var sourcePort: UInt16
  /// Our address, or the broadcast address it was sent to.
  public var destination: IPAddress
  public var payload: [UInt8]

  public init(source: IPAddress, sourcePort: UInt16, destination: IPAddress, payload: [UInt8]) {
    self.source = source
    self.sourcePort = sourcePort
    self.destination = destination
    self.payload = payload
  }
}

public enum UDPBindError: Error, Equatable, Sendable {
  case portInUse(UInt16)
  /// Every ephemeral port is taken.
  case noPortAvailable
  /// The host's sockets refused (the socket stack on unix), for this reason.
  case host(String)
}

public enum UDPSendError: Error, Equatable, Sendable {
  /// The transmit queue is full: poll the stack, then try again.
  case queueFull
  /// Larger than one unfragmented datagram on every link.
  case tooLong(maximum: Int)
  /// The socket was closed.
  case closed
  /// Port 0 is not a valid destination.
  case invalidDestinationPort
  /// No route leads to the destination (the host's sockets: an IPv6 destination from an
  /// IPv4 socket).
  case noRoute
}

public final class UDPSocket {
  public let port: UInt16
  public private(set) var isClosed = false
  /// What the socket shares with its stack (the queue of sockets with datagrams to send).
  let context: SocketContext
  var receiveQueue: BoundedQueue<UDPDatagram>
  var transmitQueue: BoundedQueue<(destination: IPAddress, port: UInt16, payload: [UInt8])>

  init(port: UInt16, context: SocketContext, receiveCapacity: Int, transmitCapacity: Int) {
    self.port = port
    self.context = context
    self.receiveQueue = BoundedQueue(capacity: receiveCapacity)
    self.transmitQueue = BoundedQueue(capacity: transmitCapacity)
  }

  /// The oldest datagram received and not yet taken, if any.
  public func receive() -> UDPDatagram? { receiveQueue.pop() }

  public var hasReceived: Bool { !receiveQueue.isEmpty }

  /// The largest payload `send` accepts to an IPv4 destination: one unfragmented datagram on
  /// the link with the smallest MTU (`maximumPayload(to:)` for either family).
  public var maximumPayload: Int { context.udpMaximumPayload.v4 }

  /// The largest payload `send` accepts to `destination`'s family.
  public func maximumPayload(to destination: IPAddress) -> Int {
    destination.ipv4 != nil ? context.udpMaximumPayload.v4 : context.udpMaximumPayload.v6
  }

  /// Queues `payload` for `destination`:`port`; it leaves on the stack's next poll.
  public func send(_ payload: [UInt8], to destination: IPAddress, port: UInt16) throws(UDPSendError) {
    guard !isClosed else { throw .closed }
    guard port != 0 else { throw .invalidDestinationPort }
    let maximum = maximumPayload(to: destination)
    guard payload.count <= maximum else { throw .tooLong(maximum: maximum) }
    let wasIdle = transmitQueue.isEmpty
    guard transmitQueue.push((destination, port, payload)) else { throw .queueFull }
    if wasIdle { context.udpTransmitReady.append(self) }
  }

  /// Unbinds the port (the stack lets it go on its next look). Queued datagrams in both
  /// directions are discarded.
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    receiveQueue.removeAll()
    transmitQueue.removeAll()
  }
}

extension Stack {
  /// Binds a UDP socket to `port`; port 0 picks a random free ephemeral port (49152-65535).
  public func bindUDP(
    port: UInt16 = 0, receiveCapacity: Int = 64, transmitCapacity: Int = 64
  ) throws(UDPBindError) -> UDPSocket {
    var chosen = port
    if chosen == 0 {
      let first = UInt16(49152)
      let range = 65536 - Int(first)
      let start = Int(random.next() % UInt64(range))
      var found: UInt16?
      for step in 0..<range {
        let candidate = first + UInt16((start + step) % range)
        if udpSocket(bound: candidate) == nil {
          found = candidate
          break
        }
      }
      guard let found else { throw .noPortAvailable }
      chosen = found
    } else if udpSocket(bound: chosen) != nil {
      throw .portInUse(chosen)
    }
    let socket = UDPSocket(port: chosen, context: context, receiveCapacity: receiveCapacity, transmitCapacity: transmitCapacity)
    udpSockets[chosen] = socket
    return socket
  }

  /// `isBroadcast`: sent to a broadcast address (IP or link layer), so a closed port is not
  /// answered with an ICMP error.
  /// The open socket bound to `port`, if any (a closed one is let go here).
  func udpSocket(bound port: UInt16) -> UDPSocket? {
    guard let socket = udpSockets[port] else { return nil }
    guard !socket.isClosed else {
      udpSockets[port] = nil
      return nil
    }
    return socket
  }

  func processUDP(
    _ datagram: UnsafeRawBufferPointer, packet: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress,
    isBroadcast: Bool, link: Link, now: Instant
  ) {
    let udp: UDPHeader
    do {
      udp = try UDPHeader.parse(datagram, source: source, destination: destination, verifyChecksum: verifyTransportChecksum)
    } catch {
      return counters.drop(error == .badChecksum ? .badUDPChecksum : .malformedUDP)
    }
    if udp.destinationPort == DHCPMessage.clientPort, udp.sourcePort == DHCPMessage.serverPort, link.dhcp != nil,
      source.ipv4 != nil
    {
      return receiveDHCP(datagram.slice(from: UDPHeader.length, length: udp.payloadLength), link: link, now: now)
    }
    guard let socket = udpSocket(bound: udp.destinationPort) else {
      counters.drop(.noUDPSocket)
      if !isBroadcast {
        switch source {
        case .v4(let source):
          sendICMPError(.destinationUnreachable(code: .port, nextHopMTU: 0), quoting: packet, to: source, now: now)
        case .v6(let source):
          sendICMPv6Error(.destinationUnreachable(code: .port), quoting: packet, to: source, via: link, now: now)
        }
      }
      return
    }
    let payload = [UInt8](datagram.slice(from: UDPHeader.length, length: udp.payloadLength))
    let received = UDPDatagram(source: source, sourcePort: udp.sourcePort, destination: destination, payload: payload)
    guard socket.receiveQueue.push(received) else { return counters.drop(.udpReceiveQueueFull) }
    counters.udpDatagramsDelivered &+= 1
  }

  func flushUDP(now: Instant) {
    let ready = context.udpTransmitReady
    context.udpTransmitReady = []
    for socket in ready where !socket.isClosed {
      while let outgoing = socket.transmitQueue.pop() {
        let length = UDPHeader.length + outgoing.payload.count
        let header = UDPHeader(sourcePort: socket.port, destinationPort: outgoing.port, payloadLength: outgoing.payload.count)
        switch outgoing.destination {
        case .v4(let destination):
          sendIPv4(to: destination, protocol: .udp, payloadLength: length, now: now) { body, source in
            outgoing.payload.withUnsafeBytes { body.suffix(from: UDPHeader.length).copyMemory(from: $0) }
            header.emit(into: body, source: source, destination: destination)
          }
        case .v6(let destination):
          sendIPv6(to: destination, nextHeader: .udp, payloadLength: length, now: now) { body, source in
            outgoing.payload.withUnsafeBytes { body.suffix(from: UDPHeader.length).copyMemory(from: $0) }
            header.emit(into: body, source: source, destination: destination)
          }
        }
      }
    }
  }
}

extension UDPBindError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .portInUse(let port): "port " + String(port) + " is already bound"
    case .noPortAvailable: "no ephemeral port is free"
    case .host(let reason): reason
    }
  }
}

extension UDPSendError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .queueFull: "transmit queue full"
    case .tooLong(let maximum): "datagram too long (at most " + String(maximum) + " bytes)"
    case .closed: "socket closed"
    case .invalidDestinationPort: "destination port 0"
    case .noRoute: "no route to the destination"
    }
  }
}
