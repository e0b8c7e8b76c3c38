// two-links: a guest with two network devices, for the tests that attach both (each with
// its own address, `--service-ipv4` and `--uplink-ipv4`). The network core answers ARP and
// ping on each; the guest itself only says where it answers and waits.

import Sirocco

@main
struct TwoLinks: Unikernel {
  static let name = "two-links"
  static let devices: [DeviceDeclaration] = [.network("service"), .network("uplink")]

  init(boot: Boot) throws(BootFailure) {
    boot.log.info("answering on \(boot.network("service").address) and \(boot.network("uplink").address)")
  }

  mutating func step(now: Instant) -> Step { .idle }
}
