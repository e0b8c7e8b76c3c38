// dhcp-server: a DHCPv4 server on network device `service`, for the network of its own
// static address (--ipv4): leases from --pool (by default every address after the server's
// own to the end of its network), static leases by hardware address (--static), and the
// options --routers, --dns-servers, --domain, --mtu and --lease-time. Every pool address is
// checked with an ARP probe before it is offered (--probe-time). Leases are kept on block
// device `leases` (--block:leases=FILE, any size from 1 KiB; left out, `sirocco run` attaches
// a scratch file and leases last one run).

import Sirocco

@main
struct DHCPServerApp: Unikernel {
  static let name = "dhcp-server"
  static var devices: [DeviceDeclaration] { [.network("service"), .block("leases", optional: true)] }
  static let parameters: [ParameterDeclaration] = [
    .string("pool", default: nil, help: "the addresses handed out (default: those after the server's own)", placeholder: "FIRST-LAST"),
    .string("static", default: nil, help: "static leases, comma-separated", placeholder: "MAC=ADDRESS,..."),
    .string("routers", default: nil, help: "routers offered (option 3), comma-separated", placeholder: "ADDRESS,..."),
    .string("dns-servers", default: nil, help: "DNS servers offered (option 6), comma-separated", placeholder: "ADDRESS,..."),
    .string("domain", default: nil, help: "the domain name offered (option 15)", placeholder: "NAME"),
    .integer("mtu", default: nil, range: 68...65535, help: "the interface MTU offered (option 26)"),
    .integer("lease-time", default: 3600, range: 60...31_536_000, help: "seconds a lease lasts"),
    .integer("probe-time", default: 500, range: 0...10_000, help: "milliseconds an address is probed by ARP before it is offered (0: no probe)"),
  ]

  let server: DHCPServer
  let wallClock: any WallClock

  init(boot: Boot) throws(BootFailure) {
    guard let link = boot.link("service") else {
      throw BootFailure("the DHCP server needs Sirocco's stack on a TAP device (--net:service=TAP), not the host's sockets")
    }
    guard let network = link.ipv4.first else {
      throw BootFailure("the DHCP server needs a static address: --ipv4=ADDRESS/PREFIX")
    }
    var pool = IPv4Address(rawValue: network.address.rawValue + 1)...IPv4Address(rawValue: network.broadcastAddress.rawValue - 1)
    if let text = boot.parameters.string("pool") {
      let parts = text.utf8.split(separator: UInt8(ascii: "-"))
      guard parts.count == 2, let first = IPv4Address(utf8: parts[0]), let last = IPv4Address(utf8: parts[1]), first <= last,
        network.contains(first), network.contains(last)
      else {
        throw BootFailure("--pool: '\(text)' is not a range of addresses in \(network) (expected FIRST-LAST, such as 10.0.0.100-10.0.0.199)")
      }
      pool = first...last
    }
    guard pool.lowerBound <= pool.upperBound else { throw BootFailure("--pool: no address left after the server's own in \(network)") }
    var configuration = DHCPServer.Configuration(network: network, pool: pool)
    configuration.routers = try Self.addresses(boot, "routers")
    configuration.dnsServers = try Self.addresses(boot, "dns-servers")
    configuration.domainName = Array((boot.parameters.string("domain") ?? "").utf8)
    configuration.mtu = boot.parameters.integer("mtu").map { UInt16($0) }
    configuration.leaseTime = UInt32(boot.parameters.integer("lease-time") ?? 3600)
    configuration.probeTime = .milliseconds(Int64(boot.parameters.integer("probe-time") ?? 500))
    if let list = boot.parameters.string("static") {
      for item in list.utf8.split(separator: UInt8(ascii: ",")) {
        let parts = item.split(separator: UInt8(ascii: "="))
        let text = String(decoding: item, as: UTF8.self)
        guard parts.count == 2, let hardware = MACAddress(String(decoding: parts[0], as: UTF8.self)),
          let address = IPv4Address(utf8: parts[1]), network.contains(address)
        else { throw BootFailure("--static: '\(text)' is not MAC=ADDRESS with the address in \(network)") }
        configuration.staticLeases.append((hardware, address))
      }
    }
    let socket: any UDPEndpoint
    do {
      socket = try boot.network("service").bind(udpPort: 67, receiveCapacity: 256, transmitCapacity: 256)
    } catch {
      throw BootFailure("cannot bind UDP port 67: \(error)")
    }
    let log = boot.log
    let file = DHCPLeaseFile(device: boot.block("leases"), network: network)
    var leases: [DHCPServer.Lease] = []
    do {
      leases = try file.load()
    } catch {
      throw BootFailure("cannot read the leases on block device 'leases': \(error)")
    }
    if file.damagedRecords > 0 { log.warning("\(file.damagedRecords) damaged lease records on block device 'leases' skipped") }
    if file.capacity == 0 { log.warning("block device 'leases' has no room for a lease: leases are kept in memory only") }
    server = DHCPServer(socket: socket, configuration: configuration, leases: leases, probing: link, log: { line in log.info(line) })
    var failed = false
    server.onLeasesChanged = { leases, changed in
      switch Result(catching: { () throws(BlockError) in try file.save(leases, changed: changed) }) {
      case .success: failed = false
      case .failure(let error):
        if !failed { log.error("cannot write the leases to block device 'leases': \(error)") }
        failed = true
      }
    }
    wallClock = boot.wallClock
    log.info("serving DHCP on \(network): pool \(pool.lowerBound)-\(pool.upperBound), leases of \(configuration.leaseTime) s, \(leases.count) kept (room for \(file.capacity))")
  }

  static func addresses(_ boot: Boot, _ name: String) throws(BootFailure) -> [IPv4Address] {
    guard let list = boot.parameters.string(name) else { return [] }
    var addresses: [IPv4Address] = []
    for item in list.utf8.split(separator: UInt8(ascii: ",")) {
      guard let address = IPv4Address(utf8: item) else {
        throw BootFailure("--\(name): '\(String(decoding: item, as: UTF8.self))' is not an IPv4 address")
      }
      addresses.append(address)
    }
    return addresses
  }

  mutating func step(now: Instant) -> Step {
    .wait(until: server.step(now: now, time: wallClock.now().secondsSinceEpoch))
  }
}
