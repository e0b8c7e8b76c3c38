// two-links: a guest with two network devices, for the tests that attach both (each with
// its own address, `--service-ipv4` and `--uplink-ipv4`). The network core answers ARP and
// ping on each; the guest itself only says where it answers and waits.

import Sirocco

@main
struct TwoLinks: Unikernel {
  static let name = "two-links"
  static var devices: [DeviceDeclaration] { [.network("service"), .network("uplink")] }

  init(boot: Boot) throws(BootFailure) {
    // One stack over both devices: each link has its own address.
    var line: Text = "answering on"
    for (index, name) in ["service", "uplink"].enumerated() {
      if index > 0 { line.append(" and") }
      for network in boot.link(name)?.ipv4 ?? [] { line.append(" \(network.address)") }
    }
    boot.log.info(line)
  }

  mutating func step(now: Instant) -> Step { .idle }
}
