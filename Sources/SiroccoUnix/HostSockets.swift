// The unix target's socket stack: the TCP/UDP API (`NetworkStack`) over the host's own
// sockets, as MirageOS's socket stack, so an application runs without TAP or root while it
// is developed: `--net-socket:NAME=ADDRESS[,ADDRESS]`, an address of each family at most
// (listeners and UDP sockets bind every address, one host socket each; connections and
// datagrams leave from the address of the destination's family). The host's TCP does the
// protocol; a stream's `state` is what a socket lets one see (SYN-SENT, ESTABLISHED,
// CLOSE-WAIT, FIN-WAIT-1, CLOSED).
//
// Every descriptor is non-blocking and in the stack's own epoll set, edge-triggered; that
// set is in the event loop's, so the loop sleeps once a step moved nothing and wakes when a
// socket's state changes. Each loop turn takes the edges first, and a socket that had none
// since a read found it empty is not asked again: a step over a thousand idle connections
// makes no system call.

import CSiroccoUnix
import Glibc
import Sirocco

/// The host sockets' readiness, shared by the stacks and their sockets.
final class HostActivity {
  /// Whether the application moved data through a host socket since the loop last asked: it
  /// may have more to move at once (edge-triggered readiness says nothing more).
  var moved = false
  /// The sockets' epoll set (edge-triggered); it is itself in the event loop's set.
  let pollDescriptor: Int32
  /// By descriptor: an edge came (or the socket is new) since a read last found nothing.
  var ready: [Bool] = []
  /// Where TCP and UDP reads land before they are copied out at their length.
  var scratch = [UInt8](repeating: 0, count: 65536)

  init(pollDescriptor: Int32) { self.pollDescriptor = pollDescriptor }

  /// Puts a new socket in the set; it counts as ready until a read finds it empty. Returns 0
  /// or -errno.
  func watch(_ fd: Int32) -> Int32 {
    let result = sirocco_poll_add_edge(pollDescriptor, fd, UInt64(UInt32(bitPattern: fd)))
    if result == 0 { markReady(fd) }
    return result
  }

  func markReady(_ fd: Int32) {
    let index = Int(fd)
    if index >= ready.count { ready += [Bool](repeating: false, count: index + 1 - ready.count + 64) }
    ready[index] = true
  }

  func isReady(_ fd: Int32) -> Bool { fd >= 0 && Int(fd) < ready.count && ready[Int(fd)] }

  /// A read or accept found nothing: wait for the next edge.
  func clear(_ fd: Int32) {
    if isReady(fd) { ready[Int(fd)] = false }
  }

  /// Takes the edges that came since the last call, without waiting.
  func harvest() {
    var tags = [UInt64](repeating: 0, count: 16)
    while true {
      let count = tags.withUnsafeMutableBufferPointer { sirocco_poll_wait(pollDescriptor, -1, $0.baseAddress, 16, 0) }
      for index in 0..<max(Int(count), 0) { markReady(Int32(truncatingIfNeeded: tags[index])) }
      if count < 16 { return }
    }
  }
}

/// An address as the C helpers take and give one: its bytes in network order, 4 or 16.
extension IPAddress {
  var socketBytes: [UInt8] {
    var bytes = [UInt8](repeating: 0, count: ipv4 != nil ? 4 : 16)
    bytes.withUnsafeMutableBytes { buffer in
      switch self {
      case .v4(let address): address.write(to: buffer, at: 0)
      case .v6(let address): address.write(to: buffer, at: 0)
      }
    }
    return bytes
  }

  /// The address in the first `length` (4 or 16) of `bytes`.
  init(socketBytes bytes: [UInt8], length: Int32) {
    self = bytes.withUnsafeBytes { length == 16 ? .v6(.read(from: $0, at: 0)) : .v4(.read(from: $0, at: 0)) }
  }

  /// Whether `other` is of this address's family.
  func isSameFamily(as other: IPAddress) -> Bool { (ipv4 != nil) == (other.ipv4 != nil) }

  /// A socket's own or peer's address and port (`sirocco_socket_name`), nil if it has none.
  static func ofSocket(_ fd: Int32, peer: Bool) -> (address: IPAddress, port: UInt16)? {
    var bytes = [UInt8](repeating: 0, count: 16)
    var length: Int32 = 0
    var port: UInt16 = 0
    guard sirocco_socket_name(fd, peer ? 1 : 0, &bytes, &length, &port) == 0 else { return nil }
    return (IPAddress(socketBytes: bytes, length: length), port)
  }
}

final class HostNetworkStack: NetworkStack {
  /// At most one of each family, IPv4 first.
  let addresses: [IPAddress]
  let activity: HostActivity

  init(addresses: [IPAddress], activity: HostActivity) {
    self.addresses = addresses
    self.activity = activity
  }

  /// The address of `destination`'s family, if the device has one.
  func address(like destination: IPAddress) -> IPAddress? {
    addresses.first { $0.isSameFamily(as: destination) }
  }

  /// The `nameserver` lines of the host's /etc/resolv.conf (resolv.conf(5)), in order.
  var dnsServers: [IPAddress] {
    guard let file = fopen("/etc/resolv.conf", "r") else { return [] }
    defer { fclose(file) }
    var servers: [IPAddress] = []
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), file) != nil {
      let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
      if words.count >= 2, words[0] == "nameserver", let server = IPAddress(words[1]) { servers.append(server) }
    }
    return servers
  }

  /// Puts a new socket in the set; nil if it could not be (then the socket is closed, since
  /// it would never wake the loop).
  func watch(_ fd: Int32) -> String? {
    let result = activity.watch(fd)
    guard result != 0 else { return nil }
    Glibc.close(fd)
    return "cannot add a socket to the event loop: " + Self.reason(-result)
  }

  static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }

  /// What `configuration` becomes on a host socket, or the one line saying which setting
  /// the host's TCP cannot honour per socket (Linux keeps the RTO bounds, retransmission
  /// limits, TIME-WAIT, reassembly and delayed-ACK timing per route or system-wide). Nagle,
  /// buffer sizes, keep-alive and SYN retries become socket options; congestion control
  /// too: the default, CUBIC, where the kernel lets this user choose it (else the kernel's
  /// own), NewReno always (else the socket is refused).
  static func options(_ configuration: TCPConnection.Configuration) -> Result<sirocco_tcp_options, TCPHostRefusal> {
    let standard = TCPConnection.Configuration()
    let fixed: [(String, Bool)] = [
      ("minimumRTO", configuration.minimumRTO == standard.minimumRTO),
      ("maximumRTO", configuration.maximumRTO == standard.maximumRTO),
      ("initialRTO", configuration.initialRTO == standard.initialRTO),
      ("maximumRetransmissions", configuration.maximumRetransmissions == standard.maximumRetransmissions),
      ("timeWaitDuration", configuration.timeWaitDuration == standard.timeWaitDuration),
      ("outOfOrderLimit", configuration.outOfOrderLimit == standard.outOfOrderLimit),
      ("delayedACK", configuration.delayedACK == standard.delayedACK),
    ]
    if let (name, _) = fixed.first(where: { !$0.1 }) {
      return .failure(TCPHostRefusal(message: "the host's sockets cannot honour TCPConnection.Configuration." + name
        + " (Linux sets it per route or system-wide): expected its default, or Sirocco's own stack (--net)"))
    }
    func seconds(_ duration: Duration) -> Int32 { Int32(clamping: max(duration.components.seconds, 1)) }
    guard configuration.receiveBufferSize > 0, configuration.sendBufferSize > 0, configuration.maximumSYNRetransmissions >= 1,
      configuration.maximumSYNRetransmissions <= 127
    else {
      return .failure(TCPHostRefusal(message: "TCPConnection.Configuration: buffer sizes must be positive and maximumSYNRetransmissions 1...127"))
    }
    let keepAlive = configuration.keepAlive
    return .success(sirocco_tcp_options(
      no_delay: configuration.noDelay ? 1 : 0,
      receive_buffer: Int32(clamping: configuration.receiveBufferSize), send_buffer: Int32(clamping: configuration.sendBufferSize),
      keep_alive_idle: keepAlive.map(seconds) ?? 0, keep_alive_interval: seconds(configuration.keepAliveInterval),
      keep_alive_probes: Int32(clamping: configuration.keepAliveProbes), syn_retries: Int32(configuration.maximumSYNRetransmissions),
      congestion: configuration.congestionControl == standard.congestionControl ? 1 : 2 | 4))
  }

  func listen(tcpPort: UInt16, backlog: Int, configuration: TCPConnection.Configuration) throws(TCPListenError)
    -> any TCPListening
  {
    var options: sirocco_tcp_options
    switch Self.options(configuration) {
    case .success(let made): options = made
    case .failure(let refusal): throw .host(refusal.message)
    }
    var descriptors: [Int32] = []
    for address in addresses {
      let fd = address.socketBytes.withUnsafeBufferPointer {
        sirocco_tcp_listen($0.baseAddress, Int32($0.count), tcpPort, Int32(clamping: backlog), &options)
      }
      guard fd >= 0 else {
        for listening in descriptors { Glibc.close(listening) }
        if -fd == EADDRINUSE { throw .portInUse(tcpPort) }
        throw .host("cannot listen on " + Self.endpoint(address, tcpPort) + ": " + Self.reason(-fd))
      }
      if let problem = watch(fd) {
        for listening in descriptors { Glibc.close(listening) }
        throw .host(problem)
      }
      descriptors.append(fd)
    }
    return HostTCPListener(port: tcpPort, fileDescriptors: descriptors, stack: self)
  }

  /// `address:port`, an IPv6 address in brackets.
  static func endpoint(_ address: IPAddress, _ port: UInt16) -> String {
    (address.ipv6 != nil ? "[" + address.description + "]" : address.description) + ":" + String(port)
  }

  func connect(to address: IPAddress, tcpPort: UInt16, now: Instant, configuration: TCPConnection.Configuration)
    throws(TCPConnectError) -> any TCPStream
  {
    // Only a family the device has an address of has a route.
    guard let local = self.address(like: address) else { throw .noRoute }
    guard tcpPort != 0, !address.isUnspecified, address.ipv4?.isBroadcast != true, !address.isMulticast else {
      throw .invalidDestination
    }
    var options: sirocco_tcp_options
    switch Self.options(configuration) {
    case .success(let made): options = made
    case .failure(let refusal): throw .host(refusal.message)
    }
    let to = address.socketBytes
    let fd = local.socketBytes.withUnsafeBufferPointer { from in
      to.withUnsafeBufferPointer { sirocco_tcp_connect(from.baseAddress, $0.baseAddress, Int32($0.count), tcpPort, &options) }
    }
    guard fd >= 0 else { throw .host("cannot connect to " + Self.endpoint(address, tcpPort) + ": " + Self.reason(-fd)) }
    if let problem = watch(fd) { throw .host(problem) }
    return HostTCPStream(fileDescriptor: fd, connecting: true, localAddress: local, activity: activity)
  }

  /// One host socket per address, all on one port: the first bound chooses it when
  /// `udpPort` is 0, and the others take the same.
  func bind(udpPort: UInt16, receiveCapacity: Int, transmitCapacity: Int) throws(UDPBindError) -> any UDPEndpoint {
    var sockets: [(address: IPAddress, fd: Int32)] = []
    var port = udpPort
    for address in addresses {
      let fd = address.socketBytes.withUnsafeBufferPointer { sirocco_udp_bind($0.baseAddress, Int32($0.count), port) }
      guard fd >= 0 else {
        for socket in sockets { Glibc.close(socket.fd) }
        if -fd == EADDRINUSE { throw .portInUse(port) }
        throw .host("cannot bind UDP " + Self.endpoint(address, port) + ": " + Self.reason(-fd))
      }
      if let problem = watch(fd) {
        for socket in sockets { Glibc.close(socket.fd) }
        throw .host(problem)
      }
      if port == 0 { port = IPAddress.ofSocket(fd, peer: false)?.port ?? 0 }
      sockets.append((address, fd))
    }
    return HostUDPSocket(sockets: sockets, port: port, activity: activity)
  }
}

/// A configuration the host's sockets cannot carry: one line saying which setting and why.
struct TCPHostRefusal: Error {
  var message: String
}

final class HostTCPListener: TCPListening {
  let port: UInt16
  /// One per address; -1 once closed.
  var fileDescriptors: [Int32]
  let stack: HostNetworkStack

  init(port: UInt16, fileDescriptors: [Int32], stack: HostNetworkStack) {
    self.port = port
    self.fileDescriptors = fileDescriptors
    self.stack = stack
  }

  deinit { close() }

  func nextConnection() -> (any TCPStream)? {
    for (index, fd) in fileDescriptors.enumerated() where fd >= 0 && stack.activity.isReady(fd) {
      let accepted = sirocco_tcp_accept(fd)
      guard accepted >= 0 else {
        // None waiting; or one that gave up, or no descriptor left: then the loop comes back
        // at once, as no new edge will announce the rest of the queue.
        if -accepted == EAGAIN { stack.activity.clear(fd) } else { stack.activity.moved = true }
        continue
      }
      stack.activity.moved = true
      guard stack.watch(accepted) == nil else { return nil }
      return HostTCPStream(
        fileDescriptor: accepted, connecting: false, localAddress: stack.addresses[index], activity: stack.activity)
    }
    return nil
  }

  func close() {
    for fd in fileDescriptors where fd >= 0 { Glibc.close(fd) }
    fileDescriptors = fileDescriptors.map { _ in -1 }
  }
}

final class HostTCPStream: TCPStream {
  /// -1 once released.
  var fileDescriptor: Int32
  var connecting: Bool
  var receiveFinished = false
  var sendClosed = false
  var error: TCPError?
  let localAddress: IPAddress
  var localPort: UInt16 = 0
  var remoteAddress = IPAddress.v4(IPv4Address(0, 0, 0, 0))
  var remotePort: UInt16 = 0
  let activity: HostActivity

  init(fileDescriptor: Int32, connecting: Bool, localAddress: IPAddress, activity: HostActivity) {
    self.fileDescriptor = fileDescriptor
    self.connecting = connecting
    self.localAddress = localAddress
    self.activity = activity
    if !connecting { learnNames() }
  }

  deinit { release() }

  func learnNames() {
    if let local = IPAddress.ofSocket(fileDescriptor, peer: false) { localPort = local.port }
    if let remote = IPAddress.ofSocket(fileDescriptor, peer: true) { (remoteAddress, remotePort) = remote }
  }

  /// A non-blocking connect finishes when the socket has a peer, or fails with SO_ERROR.
  func checkConnect() {
    guard connecting, fileDescriptor >= 0 else { return }
    let code = sirocco_socket_error(fileDescriptor)
    if code != 0 { return fail(code) }
    guard IPAddress.ofSocket(fileDescriptor, peer: true) != nil else { return }
    connecting = false
    learnNames()
  }

  func fail(_ code: Int32) {
    switch code {
    case ECONNREFUSED: error = error ?? .refused
    case ETIMEDOUT, EHOSTUNREACH, ENETUNREACH: error = error ?? .timedOut
    default: error = error ?? .reset
    }
    release()
  }

  func release() {
    guard fileDescriptor >= 0 else { return }
    Glibc.close(fileDescriptor)
    fileDescriptor = -1
  }

  /// Notices the peer's FIN without reading data.
  func checkEnd() {
    guard fileDescriptor >= 0, !connecting, !receiveFinished, activity.isReady(fileDescriptor) else { return }
    let end = sirocco_socket_at_end(fileDescriptor)
    if end < 0 { return fail(-end) }
    if end == 1 { finishReceive() }
  }

  func finishReceive() {
    receiveFinished = true
    if sendClosed { release() }
  }

  var state: TCPState {
    checkConnect()
    checkEnd()
    if error != nil || fileDescriptor < 0 { return .closed }
    if connecting { return .synSent }
    switch (receiveFinished, sendClosed) {
    case (false, false): return .established
    case (true, false): return .closeWait
    case (false, true): return .finWait1
    case (true, true): return .closed
    }
  }

  var isEstablished: Bool { state == .established }

  var availableBytes: Int {
    guard fileDescriptor >= 0, !connecting, activity.isReady(fileDescriptor) else { return 0 }
    return max(Int(sirocco_socket_pending(fileDescriptor)), 0)
  }

  var isReceiveFinished: Bool {
    checkEnd()
    return receiveFinished
  }

  var writableBytes: Int {
    checkConnect()
    return fileDescriptor >= 0 && !connecting && !sendClosed ? 65536 : 0
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    checkConnect()
    guard fileDescriptor >= 0, !connecting, !receiveFinished, buffer.count > 0, activity.isReady(fileDescriptor) else { return 0 }
    let count = sirocco_socket_receive(fileDescriptor, buffer.baseAddress, buffer.count)
    if count > 0 {
      activity.moved = true
      return count
    }
    if count == 0 {
      finishReceive()
    } else if -count == Int(EAGAIN) {
      activity.clear(fileDescriptor)
    } else if -count != Int(EINTR) {
      fail(Int32(-count))
    }
    return 0
  }

  /// Reads through the stack's scratch buffer: no 64 KiB array made and zeroed per call.
  func read(maximum: Int) -> [UInt8] {
    guard activity.isReady(fileDescriptor) else { return [] }
    let length = min(maximum, activity.scratch.count)
    let count = activity.scratch.withUnsafeMutableBytes { read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<length])) }
    return Array(activity.scratch[..<count])
  }

  @discardableResult
  func write(_ bytes: UnsafeRawBufferPointer) -> Int {
    checkConnect()
    guard fileDescriptor >= 0, !connecting, !sendClosed, bytes.count > 0 else { return 0 }
    let count = sirocco_socket_send(fileDescriptor, bytes.baseAddress, bytes.count)
    if count > 0 {
      activity.moved = true
      return count
    }
    if -count != Int(EAGAIN), -count != Int(EINTR) { fail(Int32(-count)) }
    return 0
  }

  @discardableResult
  func write(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBytes { write($0) } }

  func close() {
    guard fileDescriptor >= 0 else { return }
    if connecting { return release() }
    guard !sendClosed else { return }
    sendClosed = true
    _ = sirocco_socket_shutdown_write(fileDescriptor)
    if receiveFinished { release() }
  }

  func abort() {
    if fileDescriptor >= 0 {
      sirocco_tcp_abort(fileDescriptor)
      fileDescriptor = -1
    }
    error = error ?? .aborted
  }

  var description: String {
    "TCP (host) :" + String(localPort) + " > " + HostNetworkStack.endpoint(remoteAddress, remotePort) + " " + state.description
  }
}

final class HostUDPSocket: UDPEndpoint {
  /// One per address of the device, all bound to `port`; empty once closed.
  var sockets: [(address: IPAddress, fd: Int32)]
  let port: UInt16
  let activity: HostActivity
  /// A datagram read ahead to answer `hasReceived`.
  var pending: UDPDatagram?
  /// The socket read first next time, so that a busy one does not starve the other.
  var next = 0

  init(sockets: [(address: IPAddress, fd: Int32)], port: UInt16, activity: HostActivity) {
    self.sockets = sockets
    self.port = port
    self.activity = activity
  }

  deinit { close() }

  var isClosed: Bool { sockets.isEmpty }
  /// One IPv4 datagram without fragmentation on an Ethernet MTU, as the native stack has it
  /// (over IPv6, 20 bytes less: `send` holds datagrams to that).
  var maximumPayload: Int { 1500 - 20 - 8 }

  var hasReceived: Bool {
    if pending == nil { pending = readOne() }
    return pending != nil
  }

  func receive() -> UDPDatagram? {
    if let datagram = pending {
      pending = nil
      return datagram
    }
    return readOne()
  }

  func readOne() -> UDPDatagram? {
    for step in 0..<sockets.count {
      let (address, fd) = sockets[(next + step) % sockets.count]
      var source = [UInt8](repeating: 0, count: 16)
      var length: Int32 = 0
      var sourcePort: UInt16 = 0
      // Through the stack's scratch buffer, as TCP reads: no buffer of its own per socket.
      let count = activity.scratch.withUnsafeMutableBytes {
        sirocco_udp_receive(fd, $0.baseAddress, $0.count, &source, &length, &sourcePort)
      }
      guard count >= 0 else { continue }
      next = (next + step + 1) % sockets.count
      activity.moved = true
      return UDPDatagram(
        source: IPAddress(socketBytes: source, length: length), sourcePort: sourcePort, destination: address,
        payload: Array(activity.scratch[0..<min(count, activity.scratch.count)]))
    }
    return nil
  }

  func send(_ payload: [UInt8], to address: IPAddress, port: UInt16) throws(UDPSendError) {
    guard !sockets.isEmpty else { throw .closed }
    // Only a family the device has an address of has a route.
    guard let socket = sockets.first(where: { $0.address.isSameFamily(as: address) }) else { throw .noRoute }
    guard port != 0 else { throw .invalidDestinationPort }
    let maximum = address.ipv4 != nil ? maximumPayload : 1500 - 40 - 8
    guard payload.count <= maximum else { throw .tooLong(maximum: maximum) }
    let destination = address.socketBytes
    let count = payload.withUnsafeBytes { bytes in
      destination.withUnsafeBufferPointer {
        sirocco_udp_send(socket.fd, bytes.baseAddress, bytes.count, $0.baseAddress, Int32($0.count), port)
      }
    }
    if count == -Int(EAGAIN) || count == -Int(ENOBUFS) { throw .queueFull }
    if count >= 0 { activity.moved = true }
    // Other errors (an ICMP error reported back) lose the datagram, as on the wire.
  }

  func close() {
    for socket in sockets { Glibc.close(socket.fd) }
    sockets = []
    pending = nil
  }
}

/// The loop's network side with the socket stack: nothing to poll or send (the host's TCP
/// does that). A step that moved data is followed by another at once: edge-triggered
/// readiness does not announce what is still waiting.
struct HostNetworks: NetworkSet {
  let named: [(name: String, stack: any NetworkStack)]
  var attachments: [(name: String, attachment: NetworkAttachment)] { [] }
  let activity: HostActivity

  func poll(now: Instant) -> Bool {
    activity.harvest()
    return false
  }

  func flush(now: Instant) -> Instant? {
    guard activity.moved else { return nil }
    activity.moved = false
    return now
  }

  func finish(now: Instant, log: Logger) {}
}
