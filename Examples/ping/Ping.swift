// ping: answers ARP and ICMP echo requests on network device `service`. The network core
// does the answering; the application only logs the addresses it answers on and the DNS
// servers it was given (a DHCP lease, Router Advertisements) whenever they change.

import Sirocco

@main
struct Ping: Unikernel {
  static let name = "ping"
  static var devices: [DeviceDeclaration] { [.network("service")] }

  let network: any NetworkStack
  let link: Link?
  let log: Logger
  var generation = 0

  init(boot: Boot) throws(BootFailure) {
    network = boot.network("service")
    link = boot.link("service")
    log = boot.log
    log.info("answering ARP and ICMP echo requests on every address of 'service'")
  }

  mutating func step(now: Instant) -> Step {
    if let link, link.generation != generation {
      generation = link.generation
      var line: Text = "answering on"
      for address in network.addresses { line.append(" \(address)") }
      if network.addresses.isEmpty { line.append(" no address") }
      let servers = network.dnsServers
      if !servers.isEmpty { line.append("; DNS servers") }
      for server in servers { line.append(" \(server)") }
      log.info(line)
    }
    return .idle
  }
}
