// The DHCPv4 client's state machine: what to send and when, and what a lease gives. Pure
// state, as smoltcp's and SwiftNIO's state machines are: the caller hands in the messages
// received, the time and the result of the address probe, and carries out the actions it
// gets back (send a message, probe an address with ARP, bind or drop an address). The link
// that runs it does the I/O.
//
// Read first: RFC 2131 3.1 and 4.4 (the states: INIT, SELECTING, REQUESTING, BOUND,
// RENEWING, REBINDING; figure 5), 4.1 (retransmission: 4 s doubling to 64 s, each randomised
// by ±1 s), 4.4.5 (T1 and T2: half and 7/8 of the lease; retransmissions in RENEWING and
// REBINDING at half the time left, at least 60 s), 3.1.5 and 4.4.1 (DECLINE an address in
// use, then wait 10 s), RFC 2132 (the options), RFC 5227 2.1 (probing an address before
// using it: 3 probes 1 to 2 s apart, then 2 s of quiet).

import SiroccoDevices
import SiroccoWire

public struct DHCPClient: Sendable {
  public struct Configuration: Sendable {
    /// Sent as option 12 (RFC 2132 3.14): dnsmasq registers it in its DNS.
    public var hostName: [UInt8] = []
    /// Requests before a REQUESTING client starts over with DISCOVER.
    public var requestAttempts = 4
    /// Probe the offered address with ARP before taking it (RFC 5227).
    public var probe = true

    public init() {}
  }

  /// What the server gave: the address and its network, and the options a host uses.
  public struct Lease: Equatable, Sendable {
    public var address: IPv4Network
    public var server: IPv4Address
    public var routers: [IPv4Address]
    public var dnsServers: [IPv4Address]
    public var classlessRoutes: [DHCPClasslessRoute]
    public var domainName: [UInt8]
    public var mtu: Int?
    /// When the lease was granted (the REQUEST's send time, RFC 2131 4.4.1), and its
    /// renewal (T1), rebinding (T2) and expiry times.
    public var start: Instant
    public var renewal: Instant
    public var rebinding: Instant
    public var expiry: Instant
  }

  public enum State: Equatable, Sendable {
    case initial, selecting, requesting, probing, declined, bound, renewing, rebinding
  }

  public enum Action: Equatable, Sendable {
    /// Send `message` from `source` (0.0.0.0 before an address is bound) to `destination`
    /// (255.255.255.255, or the server when renewing), UDP port 68 to port 67.
    case send(DHCPMessage, source: IPv4Address, destination: IPv4Address)
    /// Send an ARP probe for `address` (sender address 0.0.0.0, RFC 5227 2.1.1).
    case probe(IPv4Address)
    /// Start using the lease's address (after an ARP announcement, RFC 5227 2.3).
    case bind(Lease)
    /// Stop using `address`: the lease expired, was refused (NAK) or replaced. Connections
    /// on it are to be reset.
    case unbind(IPv4Network)
  }

  public let configuration: Configuration
  public let hardwareAddress: MACAddress
  public private(set) var state = State.initial
  public private(set) var lease: Lease?
  var random: SplitMix64
  var transactionID: UInt32 = 0
  /// When the current exchange began (the `secs` field), the next timer, and the current
  /// retransmission interval (seconds, before randomisation).
  var exchangeStart = Instant.zero
  var deadline: Instant?
  var interval = 4
  var attempts = 0
  /// The offer being requested or probed, and the server that made it.
  var offered: (message: DHCPMessage, server: IPv4Address)?
  var requestSent = Instant.zero
  var probesSent = 0
  var conflict = false

  public init(hardwareAddress: MACAddress, seed: UInt64, configuration: Configuration = Configuration()) {
    self.hardwareAddress = hardwareAddress
    self.configuration = configuration
    random = SplitMix64(seed: seed)
  }

  /// When `poll` must next be called.
  public var nextDeadline: Instant? { deadline }

  /// The address being probed with ARP before it is taken (RFC 5227), if any.
  public var probingAddress: IPv4Address? { state == .probing ? offered?.message.yourAddress : nil }

  /// Whether the client is waiting for an OFFER or an ACK with no address yet: the server
  /// may send them to the offered address, which the link does not hold (RFC 2131 4.1: the
  /// client leaves the broadcast bit clear because it can take such unicasts).
  public var isAcquiring: Bool { state == .selecting || state == .requesting }

  /// Starts (or restarts) acquiring an address: INIT, then SELECTING with a DISCOVER.
  public mutating func start(now: Instant) -> [Action] {
    var actions: [Action] = []
    if let lease { actions.append(.unbind(lease.address)) }
    lease = nil
    offered = nil
    state = .selecting
    transactionID = UInt32(truncatingIfNeeded: random.next())
    exchangeStart = now
    interval = 4
    actions.append(discover(now: now))
    return actions
  }

  /// Runs the timers due at `now`.
  public mutating func poll(now: Instant) -> [Action] {
    guard let due = deadline, due <= now else { return [] }
    switch state {
    case .initial:
      return []
    case .selecting:
      return [discover(now: now)]
    case .requesting:
      guard attempts < configuration.requestAttempts, let offered else { return start(now: now) }
      return [request(offered.message.yourAddress, server: offered.server, now: now)]
    case .probing:
      guard let offered else { return start(now: now) }
      if probesSent < 3 {
        probesSent += 1
        // RFC 5227 2.1.1: probes PROBE_MIN to PROBE_MAX (1 to 2 s) apart, then
        // ANNOUNCE_WAIT (2 s) after the last.
        deadline = now + (probesSent < 3 ? .milliseconds(1000 + Int64(random.next() % 1000)) : .seconds(2))
        return [.probe(offered.message.yourAddress)]
      }
      return bind(offered.message, server: offered.server, now: now)
    case .declined:
      return start(now: now)
    case .bound:
      // Polled late (or given a lease of zero seconds): past the expiry the address is gone,
      // past T2 the client rebinds at once (RFC 2131 4.4.5).
      guard let lease, now < lease.expiry else { return start(now: now) }
      state = now >= lease.rebinding ? .rebinding : .renewing
      transactionID = UInt32(truncatingIfNeeded: random.next())
      exchangeStart = now
      return renewOrRebind(now: now)
    case .renewing, .rebinding:
      guard let lease else { return start(now: now) }
      if now >= lease.expiry { return start(now: now) }
      if state == .renewing, now >= lease.rebinding { state = .rebinding }
      return renewOrRebind(now: now)
    }
  }

  /// Takes a DHCP message received on port 68.
  public mutating func receive(_ message: DHCPMessage, now: Instant) -> [Action] {
    guard message.operation == .bootReply, message.transactionID == transactionID,
      message.clientHardwareAddress == hardwareAddress, let type = message.options.messageType
    else { return [] }
    switch (state, type) {
    case (.selecting, .offer):
      // The first acceptable offer (RFC 2131 4.4.1 lets the client choose).
      guard let server = message.options.serverIdentifier, Self.isUsable(message) else { return [] }
      offered = (message, server)
      state = .requesting
      attempts = 0
      interval = 4
      return [request(message.yourAddress, server: server, now: now)]
    case (.requesting, .ack):
      guard let offered, message.yourAddress == offered.message.yourAddress, Self.isUsable(message) else { return [] }
      self.offered = (message, offered.server)
      guard configuration.probe else { return bind(message, server: offered.server, now: now) }
      state = .probing
      probesSent = 1
      conflict = false
      deadline = now + .milliseconds(1000 + Int64(random.next() % 1000))
      return [.probe(message.yourAddress)]
    case (.renewing, .ack), (.rebinding, .ack):
      guard let lease, Self.isUsable(message) else { return [] }
      let server = message.options.serverIdentifier ?? lease.server
      var actions: [Action] = []
      if message.yourAddress != lease.address.address { actions.append(.unbind(lease.address)) }
      return actions + bind(message, server: server, now: now)
    case (.requesting, .nak), (.renewing, .nak), (.rebinding, .nak):
      // RFC 2131 3.1.4 and 4.4.4: back to INIT.
      return start(now: now)
    default:
      return []
    }
  }

  /// Another host answered for the address being probed, or claimed it (RFC 5227 2.1.1):
  /// DECLINE it, then start over after 10 s (RFC 2131 3.1.5).
  public mutating func addressInUse(_ address: IPv4Address, now: Instant) -> [Action] {
    guard state == .probing, let offered, offered.message.yourAddress == address else { return [] }
    var options = DHCPOptions()
    options.messageType = .decline
    options.requestedAddress = address
    options.serverIdentifier = offered.server
    options.clientIdentifier = DHCPClientIdentifier(hardwareAddress: hardwareAddress)
    let decline = DHCPMessage(
      operation: .bootRequest, transactionID: transactionID, clientHardwareAddress: hardwareAddress, options: options)
    self.offered = nil
    state = .declined
    deadline = now + .seconds(10)
    return [.send(decline, source: .any, destination: .broadcast)]
  }

  // MARK: Messages

  mutating func discover(now: Instant) -> Action {
    var options = baseOptions(.discover)
    options.parameterRequestList = Self.requested
    deadline = now + jittered()
    return .send(message(options, now: now), source: .any, destination: .broadcast)
  }

  /// A REQUEST in REQUESTING (RFC 2131 4.3.2: server identifier and requested address,
  /// `ciaddr` zero), broadcast.
  mutating func request(_ address: IPv4Address, server: IPv4Address, now: Instant) -> Action {
    var options = baseOptions(.request)
    options.requestedAddress = address
    options.serverIdentifier = server
    options.parameterRequestList = Self.requested
    attempts += 1
    requestSent = now
    deadline = now + jittered()
    return .send(message(options, now: now), source: .any, destination: .broadcast)
  }

  /// A REQUEST in RENEWING (unicast to the server) or REBINDING (broadcast), with `ciaddr`
  /// and neither server identifier nor requested address (RFC 2131 4.3.2); the next try at
  /// half the time left to T2 or to expiry, at least 60 s (4.4.5).
  mutating func renewOrRebind(now: Instant) -> [Action] {
    guard let lease else { return start(now: now) }
    var options = baseOptions(.request)
    options.parameterRequestList = Self.requested
    var request = message(options, now: now)
    request.clientAddress = lease.address.address
    requestSent = now
    let limit = state == .renewing ? lease.rebinding : lease.expiry
    let half = Duration.nanoseconds((limit - now).nanoseconds / 2)
    deadline = min(limit, now + max(half, .seconds(60)))
    return [.send(request, source: lease.address.address, destination: state == .renewing ? lease.server : .broadcast)]
  }

  func baseOptions(_ type: DHCPMessageType) -> DHCPOptions {
    var options = DHCPOptions()
    options.messageType = type
    options.clientIdentifier = DHCPClientIdentifier(hardwareAddress: hardwareAddress)
    options.hostName = configuration.hostName
    options.maximumMessageSize = 1500
    return options
  }

  func message(_ options: DHCPOptions, now: Instant) -> DHCPMessage {
    let seconds = max((now - exchangeStart).nanoseconds / 1_000_000_000, 0)
    return DHCPMessage(
      operation: .bootRequest, transactionID: transactionID, clientHardwareAddress: hardwareAddress,
      secondsElapsed: UInt16(clamping: seconds), options: options)
  }

  /// The next retransmission interval, randomised by ±1 s; then doubled, up to 64 s.
  mutating func jittered() -> Duration {
    let milliseconds = Int64(interval) * 1000 - 1000 + Int64(random.next() % 2001)
    interval = min(interval * 2, 64)
    return .milliseconds(milliseconds)
  }

  // MARK: Binding

  mutating func bind(_ ack: DHCPMessage, server: IPv4Address, now: Instant) -> [Action] {
    let options = ack.options
    // No lease time: RFC 2131 says the server must send one; take an hour rather than
    // nothing. The times count from the REQUEST (4.4.1).
    let leaseSeconds = Int64(options.leaseTime ?? 3600)
    let granted = requestSent
    let renewalSeconds = min(Int64(options.renewalTime ?? UInt32(leaseSeconds / 2)), leaseSeconds)
    let rebindingSeconds = min(max(Int64(options.rebindingTime ?? UInt32(leaseSeconds * 7 / 8)), renewalSeconds), leaseSeconds)
    let lease = Lease(
      address: Self.network(of: ack), server: server, routers: options.routers,
      dnsServers: options.domainNameServers, classlessRoutes: options.classlessStaticRoutes, domainName: options.domainName,
      mtu: options.interfaceMTU.map { Int($0) }, start: granted, renewal: granted + .seconds(renewalSeconds),
      rebinding: granted + .seconds(rebindingSeconds), expiry: granted + .seconds(leaseSeconds))
    self.lease = lease
    offered = nil
    state = .bound
    interval = 4
    deadline = lease.renewal
    return [.bind(lease)]
  }

  /// The options asked for (RFC 2132 9.8): mask, routers, DNS, domain name, MTU, broadcast,
  /// lease, T1, T2, classless routes.
  static let requested: [DHCPOptionCode] = [
    .subnetMask, .routers, .domainNameServers, .domainName, .interfaceMTU, .broadcastAddress, .leaseTime, .renewalTime,
    .rebindingTime, .classlessStaticRoutes,
  ]

  /// Whether an OFFER's or ACK's address can be a host's: not 0.0.0.0, broadcast, multicast
  /// or loopback, nor the network or broadcast address of the subnet it comes with (a host
  /// never sends from those, RFC 1122 3.2.1.3; a /31 or /32 has no such addresses, RFC 3021).
  /// The client ignores a message that offers one, as it does one it cannot use.
  static func isUsable(_ message: DHCPMessage) -> Bool {
    let address = message.yourAddress
    guard !address.isUnspecified && !address.isBroadcast && !address.isMulticast && !address.isLoopback else { return false }
    let network = network(of: message)
    return network.prefixLength >= 31 || (address != network.networkAddress && address != network.broadcastAddress)
  }

  /// The address a message offers with its subnet: option 1's mask, else the classful one.
  static func network(of message: DHCPMessage) -> IPv4Network {
    let address = message.yourAddress
    let prefix = message.options.subnetMask.map { prefixLength(of: $0) } ?? classfulPrefix(of: address)
    return IPv4Network(address: address, prefixLength: prefix)
  }

  /// The prefix length of a contiguous mask (a non-contiguous one counts its leading ones).
  static func prefixLength(of mask: IPv4Address) -> Int { (~mask.rawValue).leadingZeroBitCount }

  /// Without option 1 (RFC 2131 4.4.1 leaves the default to the client): the classful mask.
  static func classfulPrefix(of address: IPv4Address) -> Int {
    switch address.rawValue >> 29 {
    case 0...3: 8
    case 4...5: 16
    default: 24
    }
  }
}
