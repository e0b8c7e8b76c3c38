// Fuzz target: the DHCP server's side. The input is a lease device image (its length in the
// first two bytes, then that many bytes, padded to whole sectors) and then DHCP messages,
// each preceded by its two-byte length and a byte of seconds to advance the clock. The lease
// file must load leases of the served network only; the server, started with them, must
// answer each message that parses with a BOOTREPLY for the same transaction and an address in
// its network (or none), that emits and parses back; its leases stay in the network, one per
// address; saved as they change (one record at a time) and then whole, they load back.

import SiroccoDevices
import SiroccoNet
import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDHCPServer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var input = FuzzInput(data, size)
  let network = IPv4Network(address: IPv4Address(10, 0, 0, 1), prefixLength: 24)
  let image = input.bytes(Int(input.uint16()))
  let device = MemoryBlockDevice(sectors: max(2, (image.count + 511) / 512))
  device.storage.replaceSubrange(0..<image.count, with: image)
  let file = DHCPLeaseFile(device: device, network: network)
  guard let loaded = try? file.load() else { return 0 }
  require(loaded.allSatisfy { network.contains($0.address) }, "a lease outside \(network) loaded: \(loaded)")
  var configuration = DHCPServer.Configuration(network: network, pool: IPv4Address(10, 0, 0, 100)...IPv4Address(10, 0, 0, 103))
  configuration.staticLeases = [(MACAddress(2, 0, 0, 0, 0, 9), IPv4Address(10, 0, 0, 50))]
  let server = DHCPServer(socket: nil, configuration: configuration, leases: loaded)
  var saveFailed = false
  var changes = 0
  server.onLeasesChanged = { leases, changed in
    changes += 1
    if (try? file.save(leases, changed: changed)) == nil { saveFailed = true }
  }
  var now = Instant(nanoseconds: 1_000_000_000)
  var time: Int64 = 1_800_000_000
  while !input.isAtEnd {
    let length = Int(input.uint16())
    let step = Int64(input.byte())
    now = now + .seconds(step)
    time += step
    let bytes = input.bytes(length)
    let parsed = bytes.withUnsafeBytes { raw in Result { () throws(DHCPError) in try DHCPMessage.parse(raw) } }
    guard case .success(let message) = parsed else { continue }
    guard let reply = server.respond(to: message, now: now, time: time) else { continue }
    require(reply.message.operation == .bootReply, "a reply that is not a BOOTREPLY: \(reply.message)")
    require(reply.message.transactionID == message.transactionID, "another transaction's reply: \(reply.message)")
    require(reply.message.yourAddress == .any || network.contains(reply.message.yourAddress), "an address outside \(network): \(reply.message)")
    let out = emitted(reply.message.bufferLength) { reply.message.emit(into: $0) }
    let again = out.withUnsafeBytes { raw in Result { () throws(DHCPError) in try DHCPMessage.parse(raw) } }
    require((try? again.get()) == reply.message, "\(reply.message) does not parse back")
  }
  let leases = server.leases
  require(leases.allSatisfy { network.contains($0.address) }, "a lease outside \(network): \(leases)")
  require(Set(leases.map { $0.address }).count == leases.count, "an address leased twice: \(leases)")
  let saved = leases.filter { !$0.client.isEmpty && $0.client.count <= 64 }
  require(!saveFailed, "a save as the leases changed failed")
  // What the saves as they went (one record at a time) left, then a whole save.
  if changes > 0, let back = try? DHCPLeaseFile(device: device, network: network).load() {
    require(back == Array(saved.prefix(file.capacity)), "\(saved) saved as they changed, \(back) loaded")
  }
  guard (try? file.save(leases)) != nil, let back = try? DHCPLeaseFile(device: device, network: network).load() else {
    require(false, "the leases could not be saved and loaded: \(leases)")
    return 0
  }
  require(back == Array(saved.prefix(file.capacity)), "\(saved) saved, \(back) loaded")
  return 0
}
