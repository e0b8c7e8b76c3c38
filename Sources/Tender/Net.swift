// Network devices, tender side: attached as Solo5's tenders attach them (a TAP interface that
// exists and is up, its MTU, the MAC given or a random locally administered one), and the
// system calls the filter allows on them: read and write of frames on the TAP descriptor
// (spt: the guest's own calls; hvt: the tender's, for NET_READ and NET_WRITE).

import CSiroccoSPTTender
import CSiroccoUnix

struct AttachedNetwork {
  var index: Int
  var fileDescriptor: Int32
  var mac: [UInt8]
  var mtu: Int

  static func attach(name: String, tap: String, mac: [UInt8]?, offload: Bool, index: Int) -> Result<AttachedNetwork, TenderError> {
    let up = sirocco_interface_up(tap)
    guard up >= 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot use TAP interface '\(tap)': \(Tender.describe(-up))")) }
    guard up == 1 else { return .failure(TenderError("--net:\(name)=\(tap): TAP interface '\(tap)' is down (ip link set \(tap) up)")) }
    let mtu = sirocco_interface_mtu(tap)
    guard mtu > 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot read the MTU of '\(tap)': \(Tender.describe(-mtu))")) }
    let fd = sirocco_tap_open(tap, offload ? 1 : 0)  // (retries a TAP a torn-down ring still holds)
    guard fd >= 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot attach TAP interface '\(tap)': \(Tender.describe(-fd))")) }
    var address = mac ?? []
    if address.isEmpty {
      var random = [UInt8](repeating: 0, count: 6)
      _ = random.withUnsafeMutableBytes { sirocco_random($0.baseAddress, 6) }
      random[0] = (random[0] & 0xfe) | 0x02  // unicast, locally administered
      address = random
    }
    return .success(AttachedNetwork(index: index, fileDescriptor: fd, mac: address, mtu: Int(mtu)))
  }

  /// read(2) and write(2) on the TAP descriptor.
  var rules: [SeccompRule] {
    let fd = UInt64(UInt32(bitPattern: fileDescriptor))
    return [.allow(SIROCCO_SYSCALL_READ, first: fd), .allow(SIROCCO_SYSCALL_WRITE, first: fd)]
  }
}
