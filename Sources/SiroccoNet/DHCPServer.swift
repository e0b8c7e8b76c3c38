// A DHCPv4 server (RFC 2131, options RFC 2132), charrua's role in MirageOS: an address pool,
// static leases by hardware address, the options a client needs (mask, broadcast, routers,
// DNS servers, domain, MTU, lease time with T1 and T2), and the whole exchange: DISCOVER and
// OFFER (the address held for the client a while), REQUEST and ACK or NAK in each of the
// client's states (selecting, init-reboot, renewing, rebinding), DECLINE (the address set
// aside), RELEASE, INFORM. Clients are known by their identifier (option 61) or else their
// hardware address. Leases carry wall-clock expiry times so that an application can keep them
// across restarts (`leases`, `onLeasesChanged`, and `init(leases:)`; DHCPLeaseFile.swift
// keeps them on a block device).
//
// Conflict detection (given the link it serves): before a pool address is offered, the
// server asks who holds it with an ARP request (`Link.probe`) and waits `probeTime`; an
// answer sets the address aside as a DECLINE would and the next one is probed. ISC dhcpd and
// dnsmasq do the same with a ping; ARP also finds hosts that drop pings. An address found
// free is not probed again for `probeMemory`, nor one the client already holds.
//
// Replies go where RFC 2131 4.1 says, with one simplification: to a relay (giaddr) when there
// is one; to the client's own address when it has one (ciaddr); otherwise broadcast (a reply
// to a client without an address is never unicast to yiaddr, which would need an ARP entry
// the client cannot answer yet; every client takes broadcast replies).
//
// Read first: RFC 2131 3.1 (the exchange), 4.3 (the server's side, table 3 for the REQUEST
// states), 4.1 (where replies go); RFC 2132 9 (the DHCP options).

import SiroccoDevices
import SiroccoWire

public final class DHCPServer {
  public struct Configuration: Sendable {
    /// The server's own address and the network it serves.
    public var network: IPv4Network
    /// The addresses handed out (the server's own and the network's first and last are
    /// never).
    public var pool: ClosedRange<IPv4Address>
    /// Addresses reserved for hardware addresses: always that address for that client.
    public var staticLeases: [(hardware: MACAddress, address: IPv4Address)] = []
    public var routers: [IPv4Address] = []
    public var dnsServers: [IPv4Address] = []
    public var domainName: [UInt8] = []
    public var mtu: UInt16? = nil
    /// Seconds a lease lasts (option 51); T1 is half of it, T2 seven eighths (RFC 2131 4.4.5).
    public var leaseTime: UInt32 = 3600
    /// How long an offered address is kept for the client that was offered it.
    public var offerHold: Duration = .seconds(30)
    /// How long an address a client declined (in use by someone else) is not offered.
    public var declineHold: Duration = .seconds(600)
    /// How long an address is probed before it is offered (zero: not probed).
    public var probeTime: Duration = .milliseconds(500)
    /// How long an address found free is offered without probing it again.
    public var probeMemory: Duration = .seconds(60)

    public init(network: IPv4Network, pool: ClosedRange<IPv4Address>) {
      self.network = network
      self.pool = pool
    }

    /// The server's address.
    public var address: IPv4Address { network.address }
  }

  /// A binding of an address to a client, until `expires` (wall-clock seconds since 1970).
  public struct Lease: Equatable, Sendable {
    public var client: [UInt8]
    public var hardware: MACAddress
    public var address: IPv4Address
    public var expires: Int64
    public var hostName: [UInt8]

    public init(client: [UInt8], hardware: MACAddress, address: IPv4Address, expires: Int64, hostName: [UInt8] = []) {
      self.client = client
      self.hardware = hardware
      self.address = address
      self.expires = expires
      self.hostName = hostName
    }
  }

  public struct Counters: Sendable {
    public var discovers = 0
    public var offers = 0
    public var requests = 0
    public var acks = 0
    public var naks = 0
    public var declines = 0
    public var releases = 0
    public var informs = 0
    /// Addresses found in use by an ARP probe before they were offered.
    public var conflicts = 0
    /// Datagrams that were not a DHCP request we could read.
    public var malformed = 0
    /// DISCOVERs that found no free address.
    public var exhausted = 0
  }

  /// A reply and where it goes.
  public struct Reply: Equatable, Sendable {
    public var message: DHCPMessage
    public var destination: IPv4Address
    public var port: UInt16
  }

  struct Offer {
    var client: [UInt8]
    var address: IPv4Address
    var until: Instant
  }

  /// An offer waiting for its address's probe.
  struct Probe {
    var reply: Reply
    var discover: DHCPMessage
    var client: [UInt8]
    var until: Instant
    /// Addresses probed for this DISCOVER so far (a bound on how many it may try).
    var attempts: Int
  }

  public let configuration: Configuration
  let socket: (any UDPEndpoint)?
  /// The link whose ARP probes check addresses before they are offered (nil: no probes).
  let probeLink: Link?
  var probes: [Probe] = []
  var probedFree: [(address: IPv4Address, until: Instant)] = []
  /// Addresses probed for one DISCOVER at most; then the client's next DISCOVER starts over.
  static let probeAttempts = 4
  /// The leases handed out (current and expired ones kept until their address is needed:
  /// a client coming back gets its old address).
  public private(set) var leases: [Lease]
  /// Where each address's and each client's lease is in `leases`.
  var byAddress: [IPv4Address: Int] = [:]
  var byClient: [[UInt8]: Int] = [:]
  /// Every pool address below this has a lease record (where the search for a never-leased
  /// address starts).
  var cursor: UInt32
  var offers: [Offer] = []
  var declined: [(address: IPv4Address, until: Instant)] = []
  public private(set) var counters = Counters()
  /// Called after the leases changed (bound, renewed, released, declined): to keep them.
  /// Its second argument is the index of the one record that changed (renewed, released or
  /// appended), or nil when records moved (one was removed): a store can write just that.
  public var onLeasesChanged: (([Lease], Int?) -> Void)?
  let log: ((Text) -> Void)?

  /// Serves on `socket` (bound to port 67; nil: `respond` is called directly), starting with
  /// `leases` (kept from an earlier run), probing addresses on `link` before offering them
  /// (nil, or a zero `probeTime`: offered at once).
  public init(socket: (any UDPEndpoint)?, configuration: Configuration, leases: [Lease] = [], probing link: Link? = nil,
              log: ((Text) -> Void)? = nil) {
    self.socket = socket
    self.configuration = configuration
    // Leases outside the network, and all but the last of two for one address or client
    // (a damaged or hand-made file), are dropped.
    var kept: [Lease] = []
    var addresses: Set<IPv4Address> = []
    var clients: Set<[UInt8]> = []
    for lease in leases.reversed() where configuration.network.contains(lease.address) {
      guard addresses.insert(lease.address).inserted, clients.insert(lease.client).inserted else { continue }
      kept.append(lease)
    }
    self.leases = kept.reversed()
    cursor = configuration.pool.lowerBound.rawValue
    self.probeLink = configuration.probeTime > .zero ? link : nil
    self.log = log
    reindex()
  }

  // MARK: The lease records

  func lease(of client: [UInt8]) -> Lease? { byClient[client].map { leases[$0] } }
  func lease(at address: IPv4Address) -> Lease? { byAddress[address].map { leases[$0] } }

  /// Rebuilds the indexes after records were removed (the search for a free address starts
  /// over).
  func reindex() {
    byAddress = [:]
    byClient = [:]
    for (index, lease) in leases.enumerated() {
      byAddress[lease.address] = index
      byClient[lease.client] = index
    }
    cursor = configuration.pool.lowerBound.rawValue
  }

  func removeLeases(where condition: (Lease) -> Bool) {
    let count = leases.count
    leases.removeAll(where: condition)
    if leases.count != count { reindex() }
  }

  /// Answers what arrived, and sends the offers whose probes have ended. `time` is the wall
  /// clock, in seconds since 1970. Returns when it must run again at the latest.
  public func step(now: Instant, time: Int64) -> Instant? {
    guard let socket else { return nil }
    while let datagram = socket.receive() {
      let parsed = datagram.payload.withUnsafeBytes { bytes in Result { () throws(DHCPError) in try DHCPMessage.parse(bytes) } }
      guard case .success(let message) = parsed else {
        if case .failure(let error) = parsed { dropped("\(error)") }
        continue
      }
      guard let reply = respond(to: message, now: now, time: time) else { continue }
      if reply.message.options.messageType == .offer, probeFirst(reply, for: message, now: now) { continue }
      send(reply)
    }
    if !probes.isEmpty { finishProbes(now: now, time: time) }
    offers.removeAll { $0.until <= now }
    declined.removeAll { $0.until <= now }
    probedFree.removeAll { $0.until <= now }
    return (offers.map { $0.until } + probes.map { $0.until }).min()
  }

  func send(_ reply: Reply) {
    guard let socket else { return }
    let length = reply.message.bufferLength
    var bytes = [UInt8](repeating: 0, count: length)
    bytes.withUnsafeMutableBytes { reply.message.emit(into: $0) }
    try? socket.send(bytes, to: .v4(reply.destination), port: reply.port)
  }

  // MARK: Conflict probes

  /// Holds `reply`, an OFFER, while its address is probed, if it needs a probe; false: send
  /// it now.
  func probeFirst(_ reply: Reply, for discover: DHCPMessage, now: Instant, attempts: Int = 1) -> Bool {
    guard let link = probeLink else { return false }
    let address = reply.message.yourAddress
    let client = clientKey(discover)
    if let index = probes.firstIndex(where: { $0.client == client }) {
      if probes[index].reply.message.yourAddress == address {
        probes[index].reply = reply  // a retransmitted DISCOVER: the offer answers the latest
        probes[index].discover = discover
        return true
      }
      link.endProbe(probes[index].reply.message.yourAddress)
      probes.remove(at: index)
    }
    guard staticAddress(for: discover.clientHardwareAddress) == nil,
      lease(of: client)?.address != address,
      !probedFree.contains(where: { $0.address == address && $0.until > now })
    else { return false }
    link.probe(address)
    probes.append(Probe(reply: reply, discover: discover, client: client, until: now + configuration.probeTime, attempts: attempts))
    return true
  }

  /// Sends the offers whose addresses nobody claimed; an address claimed is set aside and
  /// the client is offered (and the server probes) another.
  func finishProbes(now: Instant, time: Int64) {
    guard let link = probeLink else { return }
    var index = 0
    while index < probes.count {
      let probe = probes[index]
      let address = probe.reply.message.yourAddress
      let claimant = link.claimant(of: address)
      guard claimant != nil || probe.until <= now else {
        index += 1
        continue
      }
      probes.remove(at: index)
      link.endProbe(address)
      guard let claimant else {
        probedFree.append((address, now + configuration.probeMemory))
        send(probe.reply)
        continue
      }
      counters.conflicts += 1
      declined.append((address, now + configuration.declineHold))
      offers.removeAll { $0.client == probe.client }
      log?("\(address) is in use by \(claimant) (it answered the ARP probe): set aside, not offered")
      guard probe.attempts < Self.probeAttempts, let next = offer(to: probe.discover, client: probe.client, now: now, time: time) else { continue }
      if !probeFirst(next, for: probe.discover, now: now, attempts: probe.attempts + 1) { send(next) }
    }
  }

  // MARK: The exchange

  /// The reply to `message`, if it gets one.
  public func respond(to message: DHCPMessage, now: Instant, time: Int64) -> Reply? {
    guard message.operation == .bootRequest, let type = message.options.messageType else {
      dropped(message.operation == .bootRequest ? "no DHCP message type" : "a BOOTREPLY sent to the server")
      return nil
    }
    let client = clientKey(message)
    let ours = message.options.serverIdentifier.map { $0 == configuration.address }
    switch type {
    case .discover:
      counters.discovers += 1
      return offer(to: message, client: client, now: now, time: time)
    case .request:
      counters.requests += 1
      return request(message, client: client, ours: ours, now: now, time: time)
    case .decline:
      guard ours == true, let address = message.options.requestedAddress else { return nil }
      counters.declines += 1
      removeLeases { $0.client == client && $0.address == address }
      offers.removeAll { $0.client == client }
      declined.append((address, now + configuration.declineHold))
      log?("\(message.clientHardwareAddress) declined \(address): in use by another host, set aside")
      onLeasesChanged?(leases, nil)
      return nil
    case .release:
      guard ours != false else { return nil }
      if let index = byClient[client], leases[index].address == message.clientAddress {
        counters.releases += 1
        leases[index].expires = min(leases[index].expires, time)  // kept: the client gets it again
        log?("\(message.clientHardwareAddress) released \(message.clientAddress)")
        onLeasesChanged?(leases, index)
      }
      return nil
    case .inform:
      counters.informs += 1
      guard message.clientAddress != .any else { return nil }
      var answer = reply(.ack, to: message, address: .any, leased: false)
      answer.destination = message.relayAgentAddress != .any ? message.relayAgentAddress : message.clientAddress
      return answer
    default:
      dropped("a \(type) is not a client's message")
      return nil
    }
  }

  /// Counts a malformed message; logs the 1st, 2nd, 4th, 8th... (a flood logs little).
  func dropped(_ reason: @autoclosure () -> Text) {
    counters.malformed += 1
    guard counters.malformed & (counters.malformed - 1) == 0 else { return }
    log?("dropped a malformed DHCP message (\(counters.malformed) so far): \(reason())")
  }

  /// How a client is known: its identifier (option 61), else its hardware address.
  func clientKey(_ message: DHCPMessage) -> [UInt8] {
    let identifier = message.options.clientIdentifier ?? DHCPClientIdentifier(hardwareAddress: message.clientHardwareAddress)
    return [identifier.type] + identifier.identifier
  }

  /// An OFFER of the address `choose` picks, held for the client; nil when none is free.
  func offer(to message: DHCPMessage, client: [UInt8], now: Instant, time: Int64) -> Reply? {
    guard let address = choose(for: client, message, now: now, time: time) else {
      counters.exhausted += 1
      log?("no free address for \(message.clientHardwareAddress): the pool is exhausted")
      return nil
    }
    offers.removeAll { $0.client == client }
    offers.append(Offer(client: client, address: address, until: now + configuration.offerHold))
    counters.offers += 1
    return reply(.offer, to: message, address: address)
  }

  /// REQUEST in the client's states of RFC 2131 4.3.2.
  func request(_ message: DHCPMessage, client: [UInt8], ours: Bool?, now: Instant, time: Int64) -> Reply? {
    let requested = message.options.requestedAddress
    if let ours {
      // SELECTING: an answer to an offer, ours or another server's.
      guard ours else {
        offers.removeAll { $0.client == client }
        return nil
      }
      guard let requested, message.clientAddress == .any,
        offers.contains(where: { $0.client == client && $0.address == requested })
          || isAllowed(requested, for: client, message, now: now, time: time)
      else { return nak(message, "the address offered is no longer available") }
      return bind(requested, to: client, message, time: time)
    }
    if let requested, message.clientAddress == .any {
      // INIT-REBOOT: the client checks the address it had.
      guard configuration.network.contains(requested) else { return nak(message, "wrong network") }
      let known = lease(of: client)
      guard known != nil || staticAddress(for: message.clientHardwareAddress) != nil else { return nil }  // no record: silent
      guard isAllowed(requested, for: client, message, now: now, time: time),
        known?.address == requested || staticAddress(for: message.clientHardwareAddress) == requested
      else { return nak(message, "that address is not yours") }
      return bind(requested, to: client, message, time: time)
    }
    // RENEWING (unicast) or REBINDING (broadcast): the client has its address.
    let address = message.clientAddress
    guard address != .any else { return nil }
    if lease(of: client)?.address == address, isAllowed(address, for: client, message, now: now, time: time) {
      return bind(address, to: client, message, time: time)
    }
    // Another client's, or not one of ours: a NAK for ours, silence otherwise.
    guard configuration.network.contains(address) else { return nil }
    return nak(message, "that address is not yours")
  }

  /// Binds `address` to the client and makes the ACK.
  func bind(_ address: IPv4Address, to client: [UInt8], _ message: DHCPMessage, time: Int64) -> Reply {
    offers.removeAll { $0.client == client }
    let lease = Lease(client: client, hardware: message.clientHardwareAddress, address: address,
                      expires: time + Int64(configuration.leaseTime), hostName: message.options.hostName)
    var changed: Int?
    if let index = byClient[client], leases[index].address == address {
      leases[index] = lease  // a renewal: the record stays where it is (and on the device)
      changed = index
    } else {
      let count = leases.count
      if byAddress[address] != nil || byClient[client] != nil { removeLeases { $0.address == address || $0.client == client } }
      leases.append(lease)
      byAddress[address] = leases.count - 1
      byClient[client] = leases.count - 1
      changed = leases.count == count + 1 ? leases.count - 1 : nil
    }
    counters.acks += 1
    log?("leased \(address) to \(message.clientHardwareAddress) for \(configuration.leaseTime) s")
    onLeasesChanged?(leases, changed)
    return reply(.ack, to: message, address: address)
  }

  func nak(_ message: DHCPMessage, _ reason: StaticString) -> Reply {
    counters.naks += 1
    var options = DHCPOptions()
    options.messageType = .nak
    options.serverIdentifier = configuration.address
    options.message = Array(UnsafeBufferPointer(start: reason.utf8Start, count: reason.utf8CodeUnitCount))
    let answer = DHCPMessage(
      operation: .bootReply, transactionID: message.transactionID, clientHardwareAddress: message.clientHardwareAddress,
      broadcast: message.relayAgentAddress != .any, relayAgentAddress: message.relayAgentAddress, options: options)
    // RFC 2131 4.1: a NAK is broadcast, or sent to the relay with the broadcast bit.
    let relayed = message.relayAgentAddress != .any
    return Reply(message: answer, destination: relayed ? message.relayAgentAddress : .broadcast,
                 port: relayed ? DHCPMessage.serverPort : DHCPMessage.clientPort)
  }

  /// An OFFER or ACK for `address` with the options the configuration gives.
  func reply(_ type: DHCPMessageType, to message: DHCPMessage, address: IPv4Address, leased: Bool = true) -> Reply {
    var options = DHCPOptions()
    options.messageType = type
    options.serverIdentifier = configuration.address
    if leased {
      options.leaseTime = configuration.leaseTime
      options.renewalTime = configuration.leaseTime / 2
      options.rebindingTime = UInt32(UInt64(configuration.leaseTime) * 7 / 8)
    }
    options.subnetMask = IPv4Address(rawValue: configuration.network.mask)
    options.broadcastAddress = configuration.network.broadcastAddress
    options.routers = configuration.routers
    options.domainNameServers = configuration.dnsServers
    options.domainName = configuration.domainName
    options.interfaceMTU = configuration.mtu
    let answer = DHCPMessage(
      operation: .bootReply, transactionID: message.transactionID, clientHardwareAddress: message.clientHardwareAddress,
      broadcast: message.broadcast, clientAddress: message.clientAddress, yourAddress: address,
      serverAddress: configuration.address, relayAgentAddress: message.relayAgentAddress, options: options)
    if message.relayAgentAddress != .any {
      return Reply(message: answer, destination: message.relayAgentAddress, port: DHCPMessage.serverPort)
    }
    if message.clientAddress != .any, type != .offer {
      return Reply(message: answer, destination: message.clientAddress, port: DHCPMessage.clientPort)
    }
    return Reply(message: answer, destination: .broadcast, port: DHCPMessage.clientPort)
  }

  // MARK: Addresses

  func staticAddress(for hardware: MACAddress) -> IPv4Address? {
    configuration.staticLeases.first { $0.hardware == hardware }?.address
  }

  /// Whether `address` may be the client's: its static one, or in the pool and not bound
  /// (unexpired) or offered to another client, reserved for another, or set aside.
  func isAllowed(_ address: IPv4Address, for client: [UInt8], _ message: DHCPMessage, now: Instant, time: Int64) -> Bool {
    if let fixed = staticAddress(for: message.clientHardwareAddress) { return address == fixed }
    guard configuration.pool.contains(address), address != configuration.address,
      address != configuration.network.networkAddress, address != configuration.network.broadcastAddress,
      !configuration.staticLeases.contains(where: { $0.address == address }),
      !declined.contains(where: { $0.address == address && $0.until > now }),
      !offers.contains(where: { $0.address == address && $0.client != client && $0.until > now }),
      !(lease(at: address).map { $0.client != client && $0.expires > time } ?? false)
    else { return false }
    return true
  }

  /// The address to offer: the client's static one; the one it had or was offered; the one it
  /// asks for; else the first free one in the pool, then the one whose lease ended longest ago.
  func choose(for client: [UInt8], _ message: DHCPMessage, now: Instant, time: Int64) -> IPv4Address? {
    if let fixed = staticAddress(for: message.clientHardwareAddress) { return fixed }
    for candidate in [offers.first { $0.client == client }?.address, lease(of: client)?.address,
                      message.options.requestedAddress]
    {
      if let candidate, isAllowed(candidate, for: client, message, now: now, time: time) { return candidate }
    }
    // A never-leased address, from the cursor (addresses below it all have records).
    let last = configuration.pool.upperBound.rawValue
    var raw = max(cursor, configuration.pool.lowerBound.rawValue)
    while raw <= last {
      let address = IPv4Address(rawValue: raw)
      if byAddress[address] == nil {
        if isAllowed(address, for: client, message, now: now, time: time) { return address }
      } else if raw == cursor, cursor < UInt32.max {
        cursor += 1
      }
      if raw == UInt32.max { break }
      raw += 1
    }
    // Else the one whose lease ended longest ago.
    var oldest: Lease?
    for lease in leases where configuration.pool.contains(lease.address) && isAllowed(lease.address, for: client, message, now: now, time: time) {
      if oldest == nil || lease.expires < oldest!.expires { oldest = lease }
    }
    return oldest?.address
  }
}
