// The runtime's side of a target: parameters, manifest checks, and the event loop that
// polls the interfaces and the application, then sleeps until the next deadline or device.
//
// Loop (smoltcp poll/poll_at + Solo5 yield): poll every interface with the current time;
// step the application; flush what it queued; sleep in the platform until the earliest
// deadline or a ready device. Never spins while idle.

import SiroccoDevices
import SiroccoNet
import SiroccoWire

/// What a target provides to the loop, besides its network devices.
public protocol Platform: AnyObject {
  /// "unix", "spt", ...
  var name: String { get }
  var console: any Console { get }
  var monotonicClock: any MonotonicClock { get }
  var wallClock: any WallClock { get }
  var entropy: any EntropySource { get }
  /// Blocks until `deadline` (nil: no deadline) or until a network device may have a frame.
  func wait(until deadline: Instant?)
}

/// Exit statuses shared by every target (documented in docs/exit-status.md).
public enum ExitStatus {
  public static let success: Int32 = 0
  /// The platform or the application could not start (a device failed to open...).
  public static let failure: Int32 = 1
  /// A bad boot parameter or device option.
  public static let usage: Int32 = 2
}

public enum Runtime {
  /// The parameters every unikernel has, on every target.
  public static let parameters: [ParameterDeclaration] = [
    .ipv4Network("ipv4", default: IPv4Network(address: IPv4Address(10, 0, 0, 2), prefixLength: 24),
                 help: "address and network of the first network device"),
    .ipv4Address("ipv4-gateway", default: nil, help: "default gateway for off-link destinations"),
    .choice("log-level", ["error", "warning", "info", "debug"], default: "info", help: "least severe log level shown"),
  ]

  /// All declarations for `App` on a platform that adds `platformParameters`.
  public static func declarations<App: Unikernel>(
    for app: App.Type, platformParameters: [ParameterDeclaration]
  ) -> [ParameterDeclaration] {
    var all = parameters + platformParameters
    for declaration in App.parameters {
      precondition(!all.contains { $0.name.utf8Equals(declaration.name) }, "an application parameter reuses a runtime parameter name")
      all.append(declaration)
    }
    return all
  }

  /// Checks device attachments against the manifest: every name attached must be declared
  /// with that kind, and every declared device attached. Returns the one-line error.
  public static func checkAttachments(
    declared: [DeviceDeclaration], attached: [DeviceDeclaration]
  ) -> String? {
    for device in attached where !declared.contains(device) {
      let names = declared.filter { $0.kind == device.kind }.map { $0.name }
      let option = device.kind == .network ? "--net" : "--block"
      return "\(option):\(device.name): this unikernel declares no \(device.kind == .network ? "network" : "block") device '\(device.name)'; expected one of: "
        + (names.isEmpty ? "(none)" : names.joined(separator: ", "))
    }
    for device in declared where !attached.contains(device) {
      let option = device.kind == .network ? "--net:\(device.name)=TAP" : "--block:\(device.name)=FILE"
      return "\(device.kind == .network ? "network" : "block") device '\(device.name)' is declared but not attached: expected \(option)"
    }
    return nil
  }

  /// Starts `App` on `platform` with attached `networks` and `blocks` (in manifest order)
  /// and runs it until it exits. Returns the exit status.
  public static func run<App: Unikernel, Device: NetworkDevice>(
    _ app: App.Type, platform: some Platform, parameters: BootParameters,
    networks: [(name: String, device: Device)], blocks: [(name: String, device: any BlockDevice)] = []
  ) -> Int32 {
    let level = LogLevel(parameters.string("log-level") ?? "info") ?? .info
    let log = Logger(source: "sirocco", level: level, console: platform.console)
    var interfaces: [(name: String, interface: Interface)] = []
    for (index, network) in networks.enumerated() {
      // The first network device carries the configured address; others are reserved.
      guard index == 0, let address = parameters.ipv4Network("ipv4") else { continue }
      var configuration = Interface.Configuration(
        macAddress: network.device.macAddress, ipv4: address, gateway: parameters.ipv4Address("ipv4-gateway"),
        mtu: network.device.mtu)
      configuration.arp = ARPCache.Configuration()
      let interface = Interface(configuration: configuration, seed: platform.entropy.randomUInt64())
      interfaces.append((network.name, interface))
      var line = "\(network.name): \(network.device.macAddress) \(address) mtu \(network.device.mtu)"
      if let gateway = configuration.gateway { line += " gateway \(gateway)" }
      log.info(line)
    }
    for block in blocks {
      log.info("\(block.name): \(block.device.sectorCount) sectors of \(block.device.sectorSize) bytes")
    }
    let boot = Boot(
      parameters: parameters, platform: platform,
      log: Logger(source: App.name, level: level, console: platform.console), interfaces: interfaces, blocks: blocks)
    var application: App
    do {
      application = try App(boot: boot)
    } catch {
      log.error("\(App.name) failed to start: \(error.message)")
      return ExitStatus.failure
    }
    let clock = platform.monotonicClock
    while true {
      let now = clock.now()
      var busy = false
      for (index, entry) in interfaces.enumerated() where entry.interface.poll(now: now, device: networks[index].device) {
        busy = true
      }
      let step = application.step(now: now)
      if case .exit(let status) = step {
        // What the last step sent still leaves (unless it waits for ARP: that is dropped).
        for (index, entry) in interfaces.enumerated() {
          entry.interface.flush(now: now, device: networks[index].device)
          log.debug("\(entry.name): \(entry.interface.counters)")
        }
        return status
      }
      var deadline: Instant?
      if case .wait(let until) = step { deadline = until }
      for (index, entry) in interfaces.enumerated() {
        entry.interface.flush(now: now, device: networks[index].device)
        if let next = entry.interface.pollAt(now: now) { deadline = deadline.map { min($0, next) } ?? next }
      }
      if busy { continue }
      platform.wait(until: deadline)
    }
  }
}
