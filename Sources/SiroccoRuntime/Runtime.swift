// The runtime's side of a target: parameters, manifest checks, and the event loop that
// polls the network stack and the application, then sleeps until the next deadline or device.
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
  /// Where error lines go: standard error where the target has one (unix; spt under
  /// sirocco-spt), else the console.
  var errors: any Console { get }
  var monotonicClock: any MonotonicClock { get }
  var wallClock: any WallClock { get }
  var entropy: any EntropySource { get }
  /// Blocks until `deadline` (nil: no deadline) or until a network device may have a frame.
  func wait(until deadline: Instant?)
}

/// Exit statuses shared by every target (documented in docs/architecture.md, "Exit statuses").
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
    .choice("log-level", ["error", "warning", "info", "debug"], default: "info", help: "least severe log level shown"),
  ]

  /// The parameters of an application with a network device the stack carries, on every
  /// target: its address and gateway, how it takes addresses.
  public static let networkParameters: [ParameterDeclaration] = [
    .ipv4Network("ipv4", default: nil, help: "address and network of the first network device (none given: DHCP)"),
    .ipv4Address("ipv4-gateway", default: nil, help: "default gateway for off-link destinations"),
    .ipv6Network("ipv6", default: nil, help: "a static IPv6 address and prefix of the first network device"),
    .ipv6Address("ipv6-gateway", default: nil, help: "IPv6 default gateway of the first network device"),
    .boolean("accept-router-advertisements", default: true,
             help: "take IPv6 router advertisements: SLAAC addresses, default routers, prefixes, MTU"),
    .boolean("dhcp", default: true, help: "take an IPv4 address by DHCP on each network device given no IPv4 address"),
    .string("name", default: nil, help: "host name sent to DHCP servers (default: the application's name)", placeholder: "HOST"),
    .string("dns-server", default: nil, help: "DNS servers to ask, comma-separated, before those DHCP and router advertisements give",
            placeholder: "ADDRESS,..."),
    .boolean("ipv4-only", help: "no IPv6 on any network device"),
    .boolean("ipv6-only", help: "no IPv4 on any network device"),
  ]

  /// How long an application with any network device (raw ones too) keeps polling after
  /// traffic: the next frame of a busy flow usually arrives sooner than a sleep and a
  /// wake-up take; an idle unikernel still sleeps.
  public static let pollingParameters: [ParameterDeclaration] = [
    .integer("busy-poll", default: 50, range: 0...100_000,
             help: "after traffic, poll devices this many microseconds before sleeping (0: sleep at once)"),
  ]

  /// The SNTP client's parameter, for an application with a network device that keeps it
  /// (`Unikernel.synchronisesWallClock`).
  public static let ntpParameters: [ParameterDeclaration] = [
    .string("ntp-server", default: nil, help: "NTP servers to set the wall clock from (SNTP), comma-separated", placeholder: "ADDRESS,..."),
  ]

  /// The parameters of the network device `name`, on every target (MirageOS's convention):
  /// `--NAME-ipv4`, `--NAME-ipv4-gateway`, `--NAME-ipv6` and `--NAME-ipv6-gateway`. The first
  /// device's may also be given without the prefix (one or the other). A device given no
  /// IPv4 address takes one by DHCP, unless `--dhcp=false`.
  public static func deviceParameters(_ name: String) -> [ParameterDeclaration] {
    [
      .ipv4Network(addressParameter(of: name), default: nil, help: String(Text("address and network of network device '\(name)'"))),
      .ipv4Address(gatewayParameter(of: name), default: nil, help: String(Text("default gateway on network device '\(name)'"))),
      .ipv6Network(ipv6Parameter(of: name), default: nil, help: String(Text("static IPv6 address and prefix of network device '\(name)'"))),
      .ipv6Address(ipv6GatewayParameter(of: name), default: nil, help: String(Text("IPv6 default gateway on network device '\(name)'"))),
    ]
  }

  static func addressParameter(of device: String) -> String { String(Text("\(device)-ipv4")) }
  static func gatewayParameter(of device: String) -> String { String(Text("\(device)-ipv4-gateway")) }
  static func ipv6Parameter(of device: String) -> String { String(Text("\(device)-ipv6")) }
  static func ipv6GatewayParameter(of device: String) -> String { String(Text("\(device)-ipv6-gateway")) }

  /// The IPv6 address and gateway of the network device `name` (both optional), from its own
  /// parameters or (the first device) the unprefixed ones; a refusal when both are given.
  static func ipv6Addressing(of name: String, index: Int, parameters: BootParameters)
    -> Result<(address: IPv6Network?, gateway: IPv6Address?), ParameterError>
  {
    let own = ipv6Parameter(of: name)
    let ownGateway = ipv6GatewayParameter(of: name)
    let first = index == 0
    if first {
      for (shared, specific) in [("ipv6", own), ("ipv6-gateway", ownGateway)]
      where parameters.isGiven(shared) && parameters.isGiven(specific) {
        return .failure(.conflicting(shared, specific))
      }
    }
    return .success((
      parameters.ipv6Network(own) ?? (first ? parameters.ipv6Network("ipv6") : nil),
      parameters.ipv6Address(ownGateway) ?? (first ? parameters.ipv6Address("ipv6-gateway") : nil)
    ))
  }

  /// Which families the stack runs: both, unless `--ipv4-only` or `--ipv6-only` (not both,
  /// and not with the other family's addresses given).
  static func families(_ parameters: BootParameters) -> Result<(ipv4: Bool, ipv6: Bool), ParameterError> {
    guard parameters.declares("ipv4-only") else { return .success((true, true)) }  // no network device
    let ipv4Only = parameters.boolean("ipv4-only")
    let ipv6Only = parameters.boolean("ipv6-only")
    if ipv4Only, ipv6Only { return .failure(.conflicting("ipv4-only", "ipv6-only")) }
    for (only, other) in [(ipv4Only, "ipv6"), (ipv6Only, "ipv4")] where only && parameters.isGiven(other) {
      return .failure(.conflicting(ipv4Only ? "ipv4-only" : "ipv6-only", other))
    }
    return .success((!ipv6Only, !ipv4Only))
  }

  /// The address and gateway of the network device `name`, the `index`th declared (both
  /// optional), from its own parameters or (the first device) the unprefixed ones; a
  /// refusal when both are given.
  static func addressing(of name: String, index: Int, parameters: BootParameters)
    -> Result<(address: IPv4Network?, gateway: IPv4Address?), ParameterError>
  {
    let own = addressParameter(of: name)
    let ownGateway = gatewayParameter(of: name)
    let first = index == 0
    if first {
      for (shared, specific) in [("ipv4", own), ("ipv4-gateway", ownGateway)]
      where parameters.isGiven(shared) && parameters.isGiven(specific) {
        return .failure(.conflicting(shared, specific))
      }
    }
    return .success((
      parameters.ipv4Network(own) ?? (first ? parameters.ipv4Network("ipv4") : nil),
      parameters.ipv4Address(ownGateway) ?? (first ? parameters.ipv4Address("ipv4-gateway") : nil)
    ))
  }

  /// Whether `name` is a host name (RFC 1123 2.1, RFC 952): labels of 1 to 63 letters, digits
  /// and hyphens, neither starting nor ending with a hyphen, 253 bytes at most in all.
  public static func isHostName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= 253 else { return false }
    for label in bytes.pieces(separatedBy: UInt8(ascii: "."), keepingEmpty: true) {
      guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else { return false }
      for byte in label {
        let ok = (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7a) || byte == UInt8(ascii: "-")
        if !ok { return false }
      }
    }
    return true
  }

  /// All declarations for `App` on a platform that adds `platformParameters`.
  public static func declarations<App: Unikernel>(
    for app: App.Type, platformParameters: [ParameterDeclaration]
  ) -> [ParameterDeclaration] {
    var all = parameters
    // (A test the compiler decides for an application without network devices, whose image
    // then links none of their parameters.)
    if App.devices.contains(where: { $0.kind == .network && !$0.raw }) {
      all = networkParameters + (App.synchronisesWallClock ? ntpParameters : []) + parameters
      for device in App.devices where device.kind == .network && !device.raw { all += deviceParameters(device.name) }
    }
    if App.devices.contains(where: { $0.kind == .network }) { all += pollingParameters }
    all += platformParameters
    for declaration in App.parameters {
      precondition(!all.contains { $0.name.utf8Equals(declaration.name) }, "an application parameter reuses a runtime parameter name")
      all.append(declaration)
    }
    return all
  }

  /// Starts `App` on `platform` with attached `networks` and `blocks` (in manifest order)
  /// and runs it until it exits: the stack gets a link on each network device, but for
  /// those declared raw, which go to the application. Returns the exit status.
  public static func run<App: Unikernel, Device: NetworkDevice>(
    _ app: App.Type, platform: some Platform, parameters: BootParameters,
    networks: [(name: String, device: Device)], blocks: [(name: String, device: any BlockDevice)] = []
  ) -> Int32 {
    let level = logLevel(parameters)
    let log = Logger(source: "sirocco", level: level, console: platform.console)
    func isRaw(_ name: String) -> Bool { App.devices.contains { $0.raw && $0.name.utf8Equals(name) } }
    var raws: [(name: String, attachment: NetworkAttachment)] = []
    for network in networks where isRaw(network.name) {
      log.info("\(network.name): \(network.device.macAddress) mtu \(network.device.mtu) raw")
      raws.append((network.name, .raw(network.device)))
    }
    var links: Links<Device>
    switch Links.make(
      networks: networks.filter { !isRaw($0.name) }, parameters: parameters, hostName: (parameters.declares("name") ? parameters.string("name") : nil) ?? App.name, entropy: platform.entropy,
      now: platform.monotonicClock.now(), log: log)
    {
    case .success(let made): links = made
    case .failure(let error):
      platform.errors.print("\(App.name): \(error)")
      return ExitStatus.usage
    }
    links.raws = raws
    return loop(app, platform: platform, parameters: parameters, level: level, log: log, networks: links, blocks: blocks)
  }

  /// `run` with stacks that are not Sirocco's own on a network device: on unix, the host's
  /// sockets.
  public static func run<App: Unikernel>(
    _ app: App.Type, platform: some Platform, parameters: BootParameters, networkSet: some NetworkSet,
    blocks: [(name: String, device: any BlockDevice)] = []
  ) -> Int32 {
    let level = logLevel(parameters)
    let log = Logger(source: "sirocco", level: level, console: platform.console)
    return loop(app, platform: platform, parameters: parameters, level: level, log: log, networks: networkSet, blocks: blocks)
  }

  /// `run` for an application that declares no network device: the same loop without the
  /// network core, which an image that starts its application this way does not link.
  public static func run<App: Unikernel>(
    _ app: App.Type, platform: some Platform, parameters: BootParameters,
    blocks: [(name: String, device: any BlockDevice)] = []
  ) -> Int32 {
    let level = logLevel(parameters)
    let log = Logger(source: "sirocco", level: level, console: platform.console)
    return loop(app, platform: platform, parameters: parameters, level: level, log: log, networks: NoNetworks(), blocks: blocks)
  }

  /// The addresses a list parameter (`--dns-server=`, `--ntp-server=`) gives: none when it is
  /// not declared or not given.
  static func addresses(_ name: String, _ parameters: BootParameters) -> Result<[IPAddress], ParameterError> {
    guard parameters.declares(name), let list = parameters.string(name) else { return .success([]) }
    var addresses: [IPAddress] = []
    for item in Array(list.utf8).pieces(separatedBy: UInt8(ascii: ",")) {
      guard let address = IPAddress(utf8: item) else {
        return .failure(.badValue(name, value: list, expected: "IPv4 or IPv6 addresses separated by commas"))
      }
      addresses.append(address)
    }
    return .success(addresses)
  }

  public static func logLevel(_ parameters: BootParameters) -> LogLevel {
    LogLevel(parameters.string("log-level") ?? "info") ?? .info
  }

  static func loop<App: Unikernel>(
    _ app: App.Type, platform: some Platform, parameters: BootParameters, level: LogLevel, log: Logger,
    networks: some NetworkSet, blocks: [(name: String, device: any BlockDevice)]
  ) -> Int32 {
    for block in blocks {
      log.info("\(block.name): \(block.device.sectorCount) sectors of \(block.device.sectorSize) bytes")
    }
    let clock = platform.monotonicClock
    // --ntp-server: the application's wall clock is the one the servers correct.
    var timeSync: NTPClient?
    switch App.synchronisesWallClock ? networks.timeSync(parameters, platform: platform, now: clock.now(), log: log) : .success(nil) {
    case .success(let client): timeSync = client
    case .failure(let error):
      platform.errors.print("\(App.name): \(error)")
      return ExitStatus.usage
    }
    let boot = Boot(
      parameters: parameters, platform: platform, wallClock: timeSync,
      log: Logger(source: App.name, level: level, console: platform.console), networks: networks.named,
      attachments: networks.attachments,
      // Only a forwarding application's image holds the forwarding code.
      router: App.forwardsPackets ? networks.router : nil, blocks: blocks)
    var application: App
    do {
      application = try App(boot: boot)
    } catch {
      Logger(source: "sirocco", level: .error, console: platform.errors).error("\(App.name) failed to start: \(error.message)")
      return ExitStatus.failure
    }
    while true {
      let now = clock.now()
      let busy = networks.poll(now: now)
      let synchronise = timeSync?.step(now: now)
      let step = application.step(now: now)
      if case .exit(let status) = step {
        // What the last step sent still leaves (unless it waits for ARP: that is dropped).
        networks.finish(now: now, log: log)
        return status
      }
      var deadline: Instant?
      if case .wait(let until) = step { deadline = until }
      if let next = synchronise { deadline = deadline.map { min($0, next) } ?? next }
      if let next = networks.flush(now: now) { deadline = deadline.map { min($0, next) } ?? next }
      if busy { continue }
      platform.wait(until: deadline)
    }
  }
}

/// The loop's network side: the stacks on the attached network devices (Sirocco's own, or
/// on unix the host's sockets).
public protocol NetworkSet {
  /// The stacks by device name, for `Boot.network`.
  var named: [(name: String, stack: any NetworkStack)] { get }
  /// Sirocco's links and the raw devices by device name, for `Boot.link` and
  /// `Boot.rawNetwork` (none when the host's sockets carry the devices).
  var attachments: [(name: String, attachment: NetworkAttachment)] { get }
  /// Sirocco's stack as a router, for `Boot.router` (nil when the host's sockets carry the
  /// devices, or there are none).
  var router: (any Router)? { get }
  /// Polls every stack; whether any may have more to read at once.
  func poll(now: Instant) -> Bool
  /// Sends what every stack has queued. Returns the earliest time one must be polled.
  func flush(now: Instant) -> Instant?
  /// The last flush before the unikernel exits; logs each stack's counters.
  func finish(now: Instant, log: Logger)
  /// The SNTP client `--ntp-server=` asks for, on the first stack (nil: none asked for).
  func timeSync(_ parameters: BootParameters, platform: some Platform, now: Instant, log: Logger) -> Result<NTPClient?, ParameterError>
}

extension NetworkSet {
  public var router: (any Router)? { nil }

  public func timeSync(_ parameters: BootParameters, platform: some Platform, now: Instant, log: Logger) -> Result<NTPClient?, ParameterError> {
    switch Runtime.addresses("ntp-server", parameters) {
    case .success(let servers):
      guard !servers.isEmpty, let stack = named.first?.stack else { return .success(nil) }
      return .success(NTPClient(stack: stack, configuration: NTPClient.Configuration(servers: servers), clock: platform.wallClock,
                                entropy: platform.entropy, now: now, log: { line in log.info(line) }))
    case .failure(let error): return .failure(error)
    }
  }
}

/// An application without network devices.
struct NoNetworks: NetworkSet {
  var named: [(name: String, stack: any NetworkStack)] { [] }
  var attachments: [(name: String, attachment: NetworkAttachment)] { [] }
  func poll(now: Instant) -> Bool { false }
  func flush(now: Instant) -> Instant? { nil }
  func finish(now: Instant, log: Logger) {}
  /// No network: no SNTP client (and none linked into the image).
  func timeSync(_ parameters: BootParameters, platform: some Platform, now: Instant, log: Logger) -> Result<NTPClient?, ParameterError> {
    .success(nil)
  }
}

/// Sirocco's own stack over the attached network devices: one link per device.
struct Links<Device: NetworkDevice>: NetworkSet {
  let stack: Stack<Device>
  let names: [String]
  let log: Logger
  /// What was last logged: each link's address generation, and duplicates found.
  final class Logged {
    var generations: [Int] = []
    var leases: [DHCPClient.Lease?] = []
    var duplicates: UInt64 = 0
    var conflicts: UInt64 = 0
  }
  let logged = Logged()
  var named: [(name: String, stack: any NetworkStack)] { names.map { ($0, stack) } }
  var router: (any Router)? { stack.links.isEmpty ? nil : stack }
  /// The devices declared raw, which the stack has no link on.
  var raws: [(name: String, attachment: NetworkAttachment)] = []
  var attachments: [(name: String, attachment: NetworkAttachment)] { stack.links.map { ($0.name, .link($0)) } + raws }

  /// One stack with a link per network device, each with its own address and gateway (see
  /// `Runtime.addressing`). An application that declares no network device has no such
  /// parameters and gets no link.
  static func make(
    networks: [(name: String, device: Device)], parameters: BootParameters, hostName: String, entropy: any EntropySource,
    now: Instant, log: Logger
  ) -> Result<Links, ParameterError> {
    // Every device's parameters are checked before any link starts.
    if parameters.declares("name"), let name = parameters.string("name"), !Runtime.isHostName(name) {
      return .failure(.badValue("name", value: name, expected: "a host name: dot-separated labels of letters, digits and hyphens (RFC 1123)"))
    }
    let families: (ipv4: Bool, ipv6: Bool)
    switch Runtime.families(parameters) {
    case .success(let found): families = found
    case .failure(let error): return .failure(error)
    }
    typealias Addressing = (
      network: (name: String, device: Device), ipv4: IPv4Network?, ipv4Gateway: IPv4Address?, ipv6: IPv6Network?,
      ipv6Gateway: IPv6Address?
    )
    var addressings: [Addressing] = []
    for (index, network) in networks.enumerated() where parameters.declares(Runtime.addressParameter(of: network.name)) {
      var addressing: Addressing = (network, nil, nil, nil, nil)
      switch Runtime.ipv6Addressing(of: network.name, index: index, parameters: parameters) {
      case .success(let found): (addressing.ipv6, addressing.ipv6Gateway) = (found.address, found.gateway)
      case .failure(let error): return .failure(error)
      }
      if families.ipv4 {
        switch Runtime.addressing(of: network.name, index: index, parameters: parameters) {
        case .success(let found): (addressing.ipv4, addressing.ipv4Gateway) = (found.address, found.gateway)
        case .failure(let error): return .failure(error)
        }
      }
      addressings.append(addressing)
    }
    let dnsServers: [IPAddress]
    switch Runtime.addresses("dns-server", parameters) {
    case .success(let found): dnsServers = found
    case .failure(let error): return .failure(error)
    }
    let stack = Stack<Device>(seed: entropy.randomUInt64())
    stack.configuredDNSServers = dnsServers
    for addressing in addressings {
      let network = addressing.network
      var configuration = Link.Configuration(name: network.name, macAddress: network.device.macAddress, mtu: network.device.mtu)
      configuration.ipv6 = families.ipv6
      configuration.acceptRouterAdvertisements =
        !parameters.declares("accept-router-advertisements") || parameters.boolean("accept-router-advertisements")
      let link = stack.attach(network.device, configuration: configuration)
      if let address = addressing.ipv4 { stack.add(address, to: link) }
      if let gateway = addressing.ipv4Gateway { stack.setDefaultGateway(gateway, on: link) }
      if let address = addressing.ipv6 { try? stack.add(address, to: link, now: now) }
      if let gateway = addressing.ipv6Gateway { stack.setDefaultGateway(gateway, on: link) }
      let dhcp = families.ipv4 && addressing.ipv4 == nil && (!parameters.declares("dhcp") || parameters.boolean("dhcp"))
      if dhcp {
        var client = DHCPClient.Configuration()
        client.hostName = Array(hostName.utf8.prefix(255))
        stack.startDHCP(on: link, configuration: client, now: now)
      }
      var line: Text = "\(link)"
      if let address = addressing.ipv6 { line.append(" \(address) (tentative)") }
      if let gateway = addressing.ipv4Gateway { line.append(" gateway \(gateway)") }
      if let gateway = addressing.ipv6Gateway { line.append(" gateway \(gateway)") }
      if dhcp { line.append(" dhcp") }
      if families.ipv6, configuration.acceptRouterAdvertisements { line.append(" slaac") }
      log.info(line)
    }
    let links = Links(stack: stack, names: addressings.map { $0.network.name }, log: log)
    links.logged.generations = stack.links.map { $0.generation }
    links.logged.leases = stack.links.map { _ in nil }
    return .success(links)
  }

  func poll(now: Instant) -> Bool { stack.poll(now: now) }

  func flush(now: Instant) -> Instant? {
    stack.flush(now: now)
    noteAddressChanges()
    return stack.pollAt(now: now)
  }

  /// Logs a link's line when its addresses changed (DAD done, SLAAC, a lease), each DHCP
  /// lease taken, renewed or lost, and a warning when duplicate address detection or a DHCP
  /// probe found an address in use elsewhere.
  func noteAddressChanges() {
    for link in stack.links where link.index < logged.leases.count && link.dhcp?.lease != logged.leases[link.index] {
      let lease = link.dhcp?.lease
      switch (logged.leases[link.index], lease) {
      case (let old?, nil): log.info("\(link.name): DHCP lease of \(old.address) ended")
      case (let old, let new?):
        var line: Text = "\(link.name): DHCP lease \(new.address) from \(new.server) for \((new.expiry - new.start).nanoseconds / 1_000_000_000) s"
        if old?.address == new.address { line.append(" (renewed)") }
        for router in new.routers.prefix(1) { line.append(", router \(router)") }
        if !new.dnsServers.isEmpty { line.append(", DNS") }
        for server in new.dnsServers { line.append(" \(server)") }
        if let mtu = new.mtu { line.append(", MTU \(mtu)") }
        log.info(line)
      case (nil, nil): break
      }
      logged.leases[link.index] = lease
    }
    if stack.counters.dhcpConflicts != logged.conflicts {
      logged.conflicts = stack.counters.dhcpConflicts
      log.warning("DHCP: an offered address is in use by another host: declined (\(logged.conflicts) so far)")
    }
    for link in stack.links where link.index < logged.generations.count && link.generation != logged.generations[link.index] {
      logged.generations[link.index] = link.generation
      log.info("\(link)")
    }
    let duplicates = stack.counters.duplicateAddresses
    if duplicates != logged.duplicates {
      logged.duplicates = duplicates
      log.warning("duplicate address detection: an address is in use by another node and was not taken (\(duplicates) so far)")
    }
  }

  func finish(now: Instant, log: Logger) {
    stack.flush(now: now)
    for link in stack.links { log.debug("\(link.name): \(link.counters)") }
    log.debug("stack: \(stack.counters)")
  }
}
