// Device attachment, as solo5-spt does it: every manifest entry must be attached by an
// option naming it; a TAP interface must exist and be up; a block file's size must be a
// whole number of sectors.

import CSiroccoSPTTender
import CSiroccoUnix

struct AttachedNetwork {
  var index: Int
  var fileDescriptor: Int32
  var mac: [UInt8]
  var mtu: Int
}

struct AttachedBlock {
  var index: Int
  var fileDescriptor: Int32
  var sectorSize: Int
  var capacity: UInt64
}

enum Attach {
  static func network(name: String, tap: String, mac: [UInt8]?, offload: Bool, index: Int) -> Result<AttachedNetwork, TenderError> {
    let up = sirocco_interface_up(tap)
    guard up >= 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot use TAP interface '\(tap)': \(describe(-up))")) }
    guard up == 1 else { return .failure(TenderError("--net:\(name)=\(tap): TAP interface '\(tap)' is down (ip link set \(tap) up)")) }
    let mtu = sirocco_interface_mtu(tap)
    guard mtu > 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot read the MTU of '\(tap)': \(describe(-mtu))")) }
    let fd = sirocco_tap_open(tap, offload ? 1 : 0)
    guard fd >= 0 else { return .failure(TenderError("--net:\(name)=\(tap): cannot attach TAP interface '\(tap)': \(describe(-fd))")) }
    var address = mac ?? []
    if address.isEmpty {
      var random = [UInt8](repeating: 0, count: 6)
      _ = random.withUnsafeMutableBytes { sirocco_random($0.baseAddress, 6) }
      random[0] = (random[0] & 0xfe) | 0x02  // unicast, locally administered
      address = random
    }
    return .success(AttachedNetwork(index: index, fileDescriptor: fd, mac: address, mtu: Int(mtu)))
  }

  static func block(name: String, path: String, sectorSize: Int, index: Int) -> Result<AttachedBlock, TenderError> {
    let fd = sirocco_spt_open(path, O_RDWR)
    guard fd >= 0 else { return .failure(TenderError("--block:\(name)=\(path): cannot open '\(path)': \(describe(sirocco_spt_errno()))")) }
    let end = lseek(fd, 0, SEEK_END)
    guard end >= sectorSize, end % sectorSize == 0 else {
      close(fd)
      return .failure(TenderError("--block:\(name)=\(path): size \(end) bytes is not a whole non-zero number of \(sectorSize)-byte sectors"))
    }
    return .success(AttachedBlock(index: index, fileDescriptor: fd, sectorSize: sectorSize, capacity: UInt64(end)))
  }

  static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}
