// firewall: a router and stateful firewall between the network devices lan and wan, with
// NAT. The rules are a text file on the block device rules (padded with NUL bytes to a
// multiple of 512: `truncate -s %512 FILE`), read again when it changes: connections already
// tracked go on under the new rules. docs/firewall.md has the rules' language:
//
//   masquerade out wan
//   forward in wan tcp 8080 to 10.0.0.2 port 80
//   allow in lan out wan
//
//   sirocco run --target spt Examples/firewall --net:lan=tap0 --net:wan=tap1 \
//     --block:rules=Examples/firewall/example.rules --lan-ipv4=10.0.0.1/24 \
//     --wan-ipv4=192.168.1.2/24 --wan-ipv4-gateway=192.168.1.1

import Sirocco

@main
struct FirewallApp: Unikernel {
  static let name = "firewall"
  static var forwardsPackets: Bool { true }
  static var devices: [DeviceDeclaration] { [.network("lan"), .network("wan"), .block("rules")] }
  static let parameters: [ParameterDeclaration] = [
    .integer("connections", default: 65536, range: 16...4_000_000, help: "connections tracked at most"),
    .integer("tcp-timeout", default: 86400, range: 60...1_000_000, help: "seconds an idle established TCP connection is kept"),
    .integer("udp-timeout", default: 120, range: 10...1_000_000, help: "seconds an idle answered UDP flow is kept"),
    .integer("reload-interval", default: 1, range: 0...3600, help: "seconds between looks at the rules for a change (0: never)"),
    .integer("report-interval", default: 0, range: 0...86400, help: "seconds between reports of the counters (0: at each load only)"),
  ]

  let firewall: Firewall
  let rulesDevice: any BlockDevice
  let log: Logger
  let reloadInterval: Duration?
  let reportInterval: Duration?
  var rulesText: [UInt8]
  var nextReload: Instant
  var nextReport: Instant
  var nextSweep: Instant = .zero

  init(boot: Boot) throws(BootFailure) {
    guard let router = boot.router else { throw BootFailure("the firewall needs Sirocco's own stack on lan and wan") }
    log = boot.log
    rulesDevice = boot.block("rules")
    rulesText = try Self.read(rulesDevice)
    let rules: FirewallRules
    do {
      rules = try FirewallRules.parse(utf8: rulesText, links: router.links.map { $0.name })
    } catch {
      throw BootFailure("rules: \(error)")
    }
    var tracking = ConnectionTracker.Configuration()
    tracking.maximum = boot.parameters.integer("connections") ?? 65536
    tracking.tcpEstablished = .seconds(Int64(boot.parameters.integer("tcp-timeout") ?? 86400))
    tracking.udpReplied = .seconds(Int64(boot.parameters.integer("udp-timeout") ?? 120))
    firewall = Firewall(rules: rules, router: router, tracker: tracking, seed: boot.entropy.randomUInt64())
    let reload = boot.parameters.integer("reload-interval") ?? 1
    let report = boot.parameters.integer("report-interval") ?? 0
    reloadInterval = reload > 0 ? .seconds(Int64(reload)) : nil
    reportInterval = report > 0 ? .seconds(Int64(report)) : nil
    let now = boot.monotonicClock.now()
    nextReload = now + (reloadInterval ?? .zero)
    nextReport = now + (reportInterval ?? .zero)
    boot.log.info("\(rules.rules.count) rules, \(rules.forwards.count) port forwards, \(tracking.maximum) connections at most")
    for line in firewall.report() { boot.log.info(line) }
  }

  /// The rules device's text: up to the first NUL byte, 1 MiB at most.
  static func read(_ device: any BlockDevice) throws(BootFailure) -> [UInt8] {
    var text: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: device.sectorSize, alignment: 16)
    defer { buffer.deallocate() }
    let sectors = min(device.sectorCount, UInt64((1 << 20) / device.sectorSize))
    for index in 0..<sectors {
      do {
        try device.read(sector: index, into: buffer)
      } catch {
        throw BootFailure("rules: sector \(index) could not be read: \(error)")
      }
      if let end = buffer.firstIndex(of: 0) {
        text.append(contentsOf: buffer[..<end])
        return text
      }
      text.append(contentsOf: buffer)
    }
    return text
  }

  mutating func step(now: Instant) -> Step {
    if now >= nextSweep {
      firewall.sweep(now: now)
      nextSweep = now + .seconds(1)
    }
    if let reloadInterval, now >= nextReload {
      nextReload = now + reloadInterval
      reload()
    }
    if let reportInterval, now >= nextReport {
      nextReport = now + reportInterval
      for line in firewall.report() { log.info(line) }
    }
    var deadline = nextSweep
    if reloadInterval != nil { deadline = min(deadline, nextReload) }
    if reportInterval != nil { deadline = min(deadline, nextReport) }
    return .wait(until: deadline)
  }

  /// Loads the rules again if their text changed; a text that does not parse is refused
  /// with one line, and the rules in force stay.
  mutating func reload() {
    let text: [UInt8]
    do { text = try Self.read(rulesDevice) } catch {
      log.error("\(error)")
      return
    }
    guard text != rulesText else { return }
    rulesText = text
    do {
      let rules = try FirewallRules.parse(utf8: text, links: firewall.router.links.map { $0.name })
      for line in firewall.report() { log.info(line) }
      firewall.reload(rules)
      log.info("rules reloaded: \(rules.rules.count) rules, \(rules.forwards.count) port forwards; \(firewall.tracker.count) connections kept")
    } catch {
      log.error("rules not reloaded: \(error) (the rules in force stay)")
    }
  }
}
