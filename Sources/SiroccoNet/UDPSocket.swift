// UDP sockets: bind, send-to, receive-from.
//
// Read first: RFC 768; RFC 1122 4.1.3 (checksums, port unreachable); RFC 6056 3.3.1
// (random ephemeral ports). Datagrams are copied into and out of bounded per-socket queues;
// a full queue drops (and counts) rather than grows.

import SiroccoDevices
import SiroccoWire

/// A received datagram.
public struct UDPDatagram: Equatable, Sendable {
  public var source: IPv4Address
  public var sourcePort: UInt16
  /// Our address, or the broadcast address it was sent to.
  public var destination: IPv4Address
  public var payload: [UInt8]

  public init(source: IPv4Address, sourcePort: UInt16, destination: IPv4Address, payload: [UInt8]) {
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
  /// The transmit queue is full: poll the interface, then try again.
  case queueFull
  /// Larger than one unfragmented datagram on this interface.
  case tooLong(maximum: Int)
  /// The socket was closed.
  case closed
  /// Port 0 is not a valid destination.
  case invalidDestinationPort
}

public final class UDPSocket {
  public let port: UInt16
  public private(set) var isClosed = false
  /// Not owned, as with TCP's listeners and connections: the interface owns its sockets, and
  /// a strong reference back made a cycle that kept every interface with a socket alive.
  unowned(unsafe) let interface: Interface
  var receiveQueue: BoundedQueue<UDPDatagram>
  var transmitQueue: BoundedQueue<(destination: IPv4Address, port: UInt16, payload: [UInt8])>

  init(port: UInt16, interface: Interface, receiveCapacity: Int, transmitCapacity: Int) {
    self.port = port
    self.interface = interface
    self.receiveQueue = BoundedQueue(capacity: receiveCapacity)
    self.transmitQueue = BoundedQueue(capacity: transmitCapacity)
  }

  /// The oldest datagram received and not yet taken, if any.
  public func receive() -> UDPDatagram? { receiveQueue.pop() }

  public var hasReceived: Bool { !receiveQueue.isEmpty }

  /// The largest payload `send` accepts on this interface.
  public var maximumPayload: Int { interface.configuration.mtu - IPv4Header.minimumLength - UDPHeader.length }

  /// Queues `payload` for `destination`:`port`; it leaves on the interface's next poll.
  public func send(_ payload: [UInt8], to destination: IPv4Address, port: UInt16) throws(UDPSendError) {
    guard !isClosed else { throw .closed }
    guard port != 0 else { throw .invalidDestinationPort }
    guard payload.count <= maximumPayload else { throw .tooLong(maximum: maximumPayload) }
    let wasIdle = transmitQueue.isEmpty
    guard transmitQueue.push((destination, port, payload)) else { throw .queueFull }
    if wasIdle { interface.udpTransmitReady.append(self) }
  }

  /// Unbinds the port. Queued datagrams in both directions are discarded.
  public func close() {
    guard !isClosed else { return }
    isClosed = true
    receiveQueue.removeAll()
    transmitQueue.removeAll()
    interface.udpSockets[port] = nil
  }
}

extension Interface {
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
        if udpSockets[candidate] == nil {
          found = candidate
          break
        }
      }
      guard let found else { throw .noPortAvailable }
      chosen = found
    } else if udpSockets[chosen] != nil {
      throw .portInUse(chosen)
    }
    let socket = UDPSocket(port: chosen, interface: self, receiveCapacity: receiveCapacity, transmitCapacity: transmitCapacity)
    udpSockets[chosen] = socket
    return socket
  }

  /// `isBroadcast`: sent to a broadcast address (IP or link layer), so a closed port is not
  /// answered with an ICMP error.
  func processUDP<Device: NetworkDevice>(
    _ datagram: UnsafeRawBufferPointer, packet: UnsafeRawBufferPointer, header: IPv4Header, isBroadcast: Bool,
    now: Instant, device: Device
  ) {
    let udp: UDPHeader
    do {
      udp = try UDPHeader.parse(
        datagram, source: header.source, destination: header.destination,
        verifyChecksum: verifyTransportChecksum)
    } catch {
      return counters.drop(error == .badChecksum ? .badUDPChecksum : .malformedUDP)
    }
    guard let socket = udpSockets[udp.destinationPort] else {
      counters.drop(.noUDPSocket)
      if !isBroadcast {
        sendICMPError(.destinationUnreachable(code: .port, nextHopMTU: 0), quoting: packet, to: header.source, now: now, device: device)
      }
      return
    }
    let payload = [UInt8](datagram.slice(from: UDPHeader.length, length: udp.payloadLength))
    let received = UDPDatagram(
      source: header.source, sourcePort: udp.sourcePort, destination: header.destination, payload: payload)
    guard socket.receiveQueue.push(received) else { return counters.drop(.udpReceiveQueueFull) }
    counters.udpDatagramsDelivered &+= 1
  }

  func flushUDP<Device: NetworkDevice>(now: Instant, device: Device) {
    let ready = udpTransmitReady
    udpTransmitReady = []
    for socket in ready where !socket.isClosed {
      while let outgoing = socket.transmitQueue.pop() {
        let length = UDPHeader.length + outgoing.payload.count
        let source = ipv4.address
        sendIPv4(to: outgoing.destination, protocol: .udp, payloadLength: length, now: now, device: device) { body in
          outgoing.payload.withUnsafeBytes { body.suffix(from: UDPHeader.length).copyMemory(from: $0) }
          UDPHeader(sourcePort: socket.port, destinationPort: outgoing.port, payloadLength: outgoing.payload.count)
            .emit(into: body, source: source, destination: outgoing.destination)
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
    }
  }
}
