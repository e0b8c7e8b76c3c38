// bridge: an L2 learning bridge between the raw network devices port0, port1... (two, or
// as many as Ports.swift says: 802.1D, addresses learnt per port and VLAN, known unicast
// forwarded out of one port, the rest flooded; a table of --table-size addresses at most,
// each forgotten --ageing seconds after its last frame). --port0-filter, --port1-filter...
// admit only the frames that match a pcap-filter expression (tcpdump's language,
// docs/filter.md) on that port. The network core has no link on any port: the bridge has no
// address of its own. On TAPs with offloads
// (`sirocco run` gives them on unix and spt), a TCP segment of up to 64 KiB that the
// sender's kernel left uncut crosses whole, as through a Linux bridge.
//
//   sirocco run --target spt Examples/bridge --net:port0=tap0 --net:port1=tap1

import Sirocco

@main
struct Bridge: Unikernel {
  static let name = "bridge"
  /// It forwards frames between its devices: offloaded segments pass whole (spt links the
  /// forwarding devices; `sirocco run` gives the TAPs offloads).
  static let forwardsPackets = true
  static let ports = (0..<portCount).map { "port" + String($0) }
  static var devices: [DeviceDeclaration] { ports.map { .rawNetwork($0) } }
  static let parameters: [ParameterDeclaration] = [
    .integer("table-size", default: 4096, range: 16...1_000_000, help: "addresses the bridge remembers at most"),
    .integer("ageing", default: 300, range: 1...1_000_000, help: "seconds an address is remembered after its last frame"),
  ] + ports.map {
    .string($0 + "-filter", default: nil, help: "admit on " + $0 + " only the frames this pcap-filter expression matches", placeholder: "EXPRESSION")
  }

  let bridge: LearningBridge
  let log: Logger
  /// Evictions when the table was last said to be full, and moves when they were last
  /// counted (each logged at powers of two: a flood or a flapping address cannot flood the log).
  var evictionsLogged = 0
  var movesLogged = 0
  /// Whether the first frame forwarded with its offload work pending was logged.
  var offloadLogged = false

  init(boot: Boot) throws(BootFailure) {
    let names = Self.ports
    var admits: [((UnsafeRawBufferPointer) -> Bool)?] = []
    for name in names {
      guard let expression = boot.parameters.string(name + "-filter") else {
        admits.append(nil)
        continue
      }
      do {
        let filter = try PacketFilter(expression)
        admits.append({ frame in filter.matches(frame) })
        boot.log.info("\(name) admits only '\(expression)'")
      } catch {
        throw BootFailure("--" + name + "-filter: " + error.description)
      }
    }
    var configuration = LearningBridge.Configuration()
    configuration.tableSize = boot.parameters.integer("table-size") ?? 4096
    configuration.ageing = .seconds(Int64(boot.parameters.integer("ageing") ?? 300))
    let ports = names.map { boot.rawNetwork($0) }
    bridge = LearningBridge(ports: ports, admits: admits, configuration: configuration)
    log = boot.log
    let offloads = ports.allSatisfy { $0.offloads.contains([.transmitChecksum, .tcpSegmentation]) }
    var joined = ""
    for (index, port) in ports.enumerated() {
      joined += (index == 0 ? "" : index == ports.count - 1 ? " and " : ", ") + names[index] + " " + port.macAddress.description
    }
    boot.log.info("bridging \(joined): \(configuration.tableSize) addresses at most, forgotten after \(boot.parameters.integer("ageing") ?? 300) s, \(offloads ? "TCP segments of up to 64 KiB forwarded whole" : "plain frames")")
  }

  mutating func step(now: Instant) -> Step {
    let more = bridge.poll(now: now)
    let evicted = bridge.counters.evicted
    if evicted > 0, evicted >= 2 * evictionsLogged {
      log.warning("table full: \(bridge.configuration.tableSize) addresses, forgetting the oldest learnt (\(evicted) so far)")
      evictionsLogged = evicted
    }
    let moved = bridge.counters.moved
    if moved > 0, moved >= 2 * movesLogged {
      log.info("addresses moved between ports: \(moved) so far")
      movesLogged = moved
    }
    if !offloadLogged, bridge.counters.offloaded > 0 {
      log.info("first frame with offload work pending: forwarded \(bridge.counters.finishedHere > 0 ? "finished here (a port without offloads)" : "whole")")
      offloadLogged = true
    }
    return more ? .wait(until: now) : .idle
  }
}
