// ping: answers ARP and ICMP echo requests on network device `service`. The network core
// does the answering; the application only has to exist.

import Sirocco

@main
struct Ping: Unikernel {
  static let name = "ping"
  static let devices: [DeviceDeclaration] = [.network("service")]

  init(boot: Boot) throws(BootFailure) {
    _ = boot.network("service")
    boot.log.info("answering ARP and ICMP echo requests on every address of 'service'")
  }

  mutating func step(now: Instant) -> Step { .idle }
}
