// The API an application's network code is written against, whatever carries it: Sirocco's
// own stack on the network devices (`Stack`, `TCPListener`, `TCPConnection`, `UDPSocket`),
// or on the unix target the host's sockets (`SiroccoUnix`'s host stack), as MirageOS
// offers its socket stack beside its direct one. The same application code runs on both.

import SiroccoDevices
import SiroccoWire

/// TCP and UDP over IP on the network devices (or the host's sockets).
public protocol NetworkStack: AnyObject {
  /// The addresses the stack answers on now, over all its links (they change while the
  /// unikernel runs: DHCP, SLAAC).
  var addresses: [IPAddress] { get }
  /// The DNS servers to ask, best first: from DHCP leases and Router Advertisements (RFC
  /// 8106) on Sirocco's stack, from the host's resolver configuration on its sockets.
  var dnsServers: [IPAddress] { get }
  /// Listens on `tcpPort` for connections, at most `backlog` waiting to be taken.
  func listen(tcpPort: UInt16, backlog: Int, configuration: TCPConnection.Configuration) throws(TCPListenError)
    -> any TCPListening
  /// Opens a connection (active open): it becomes established, or fails with `error`, later.
  func connect(to address: IPAddress, tcpPort: UInt16, now: Instant, configuration: TCPConnection.Configuration)
    throws(TCPConnectError) -> any TCPStream
  /// Binds a UDP socket to `udpPort` (0: a random ephemeral port).
  func bind(udpPort: UInt16, receiveCapacity: Int, transmitCapacity: Int) throws(UDPBindError) -> any UDPEndpoint
}

extension NetworkStack {
  public func listen(tcpPort: UInt16, backlog: Int = 128) throws(TCPListenError) -> any TCPListening {
    try listen(tcpPort: tcpPort, backlog: backlog, configuration: TCPConnection.Configuration())
  }

  public func connect(to address: IPAddress, tcpPort: UInt16, now: Instant) throws(TCPConnectError) -> any TCPStream {
    try connect(to: address, tcpPort: tcpPort, now: now, configuration: TCPConnection.Configuration())
  }

  public func bind(udpPort: UInt16 = 0) throws(UDPBindError) -> any UDPEndpoint {
    try bind(udpPort: udpPort, receiveCapacity: 64, transmitCapacity: 64)
  }
}

/// A listening TCP port.
public protocol TCPListening: AnyObject {
  var port: UInt16 { get }
  /// The next established connection, if any.
  func nextConnection() -> (any TCPStream)?
  /// Stops listening; connections already taken are unaffected.
  func close()
}

/// One TCP connection, from the application's side: a byte stream each way.
public protocol TCPStream: AnyObject {
  /// One line naming the connection and its state, for logs.
  var description: String { get }
  /// Our address on the connection (the one the peer sent to, or the route's source).
  var localAddress: IPAddress { get }
  var localPort: UInt16 { get }
  var remoteAddress: IPAddress { get }
  var remotePort: UInt16 { get }
  var state: TCPState { get }
  /// Why the connection ended, if not by an orderly close.
  var error: TCPError? { get }
  var isEstablished: Bool { get }
  /// Bytes received and not yet read.
  var availableBytes: Int { get }
  /// The peer has closed and every byte before its FIN has been read.
  var isReceiveFinished: Bool { get }
  /// Bytes `write` takes now (0: full, or closing).
  var writableBytes: Int { get }
  func read(into buffer: UnsafeMutableRawBufferPointer) -> Int
  func read(maximum: Int) -> [UInt8]
  @discardableResult func write(_ bytes: UnsafeRawBufferPointer) -> Int
  @discardableResult func write(_ bytes: [UInt8]) -> Int
  /// Half-closes: FIN after the data written so far.
  func close()
  /// Resets the connection at once.
  func abort()
}

/// A bound UDP port.
public protocol UDPEndpoint: AnyObject {
  var port: UInt16 { get }
  var isClosed: Bool { get }
  var hasReceived: Bool { get }
  /// The largest payload `send` takes.
  var maximumPayload: Int { get }
  func receive() -> UDPDatagram?
  func send(_ payload: [UInt8], to destination: IPAddress, port: UInt16) throws(UDPSendError)
  func close()
}

extension Stack: NetworkStack {
  public var addresses: [IPAddress] {
    var all: [IPAddress] = []
    for link in links {
      for network in link.ipv4 { all.append(.v4(network.address)) }
      for network in link.ipv6 { all.append(.v6(network.address)) }
    }
    return all
  }

  public var dnsServers: [IPAddress] {
    var all = configuredDNSServers
    for link in links {
      for server in link.dnsServers where !all.contains(server) { all.append(server) }
    }
    return all
  }

  public func listen(tcpPort: UInt16, backlog: Int, configuration: TCPConnection.Configuration) throws(TCPListenError)
    -> any TCPListening
  {
    try listenTCP(port: tcpPort, backlog: backlog, configuration: configuration)
  }

  public func connect(to address: IPAddress, tcpPort: UInt16, now: Instant, configuration: TCPConnection.Configuration)
    throws(TCPConnectError) -> any TCPStream
  {
    try connectTCP(to: address, port: tcpPort, now: now, configuration: configuration)
  }

  public func bind(udpPort: UInt16, receiveCapacity: Int, transmitCapacity: Int) throws(UDPBindError) -> any UDPEndpoint {
    try bindUDP(port: udpPort, receiveCapacity: receiveCapacity, transmitCapacity: transmitCapacity)
  }
}

extension TCPListener: TCPListening {
  public func nextConnection() -> (any TCPStream)? { accept() }
}

extension TCPConnection: TCPStream {}

extension UDPSocket: UDPEndpoint {}
