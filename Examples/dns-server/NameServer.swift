// dns-server: an authoritative name server for the zone files (NAME.zone, in the master-file
// format NSD and BIND read) compiled into the image from Resources/zones of the application's
// directory, and those in a ustar archive on the optional block device `zones` (`sirocco run
// --block:zones=DIR` packs a directory), over UDP and TCP on --port. A zone in both is served
// from whichever has the greater SOA serial. Zone transfers (AXFR) to the networks in
// --axfr-allow; response-rate limiting of UDP answers (--rate-limit); with --reload-interval,
// the archive is read again that often and a zone whose SOA serial grew is served from then
// on (a restart reloads too).

import Sirocco

@main
struct NameServer: Unikernel {
  static let name = "dns-server"
  static var devices: [DeviceDeclaration] { [.network("service"), .block("zones", optional: true)] }
  /// Answers do not depend on the date (SOA serials are the zone's own): no SNTP client in
  /// the image, which keeps it under 512 KiB.
  static let synchronisesWallClock = false
  static let parameters: [ParameterDeclaration] = [
    .integer("port", default: 53, range: 1...65535, help: "UDP and TCP port to answer on"),
    .string("axfr-allow", default: nil, help: "networks and addresses allowed to transfer zones, comma-separated",
            placeholder: "NET,..."),
    .integer("rate-limit", default: 200, range: 0...1_000_000,
             help: "identical UDP responses per second to one client network (/24, /64) before limiting; 0: none"),
    .integer("rate-limit-slip", default: 2, range: 0...100,
             help: "every Nth limited response is sent truncated instead of dropped (0: none)"),
    .integer("idle-timeout", default: 10, range: 1...3600, help: "seconds an idle TCP connection is kept"),
    .integer("reload-interval", default: 0, range: 0...86400,
             help: "seconds between readings of the archive for zones with a greater serial; 0: never"),
  ]

  let server: DNSServer
  let device: any BlockDevice
  /// The zones compiled into the image, and those read from the archive.
  let compiled: [ZoneSource]
  var sources: [ZoneSource]
  let reloadInterval: Duration?
  var nextReload: Instant?
  let log: Logger

  init(boot: Boot) throws(BootFailure) {
    log = boot.log
    device = boot.block("zones")
    if boot.resources.exists("zones") == .dictionary {
      do {
        compiled = try ZoneArchive.loadAll(from: boot.resources, under: "zones")
      } catch {
        throw BootFailure("the image's Resources: " + error.message)
      }
    } else {
      compiled = []
    }
    let store: TarStore
    do {
      store = try TarStore(device: device)
    } catch {
      throw BootFailure("block device 'zones': " + error.description)
    }
    do {
      sources = try ZoneArchive.loadAll(from: store)
    } catch {
      throw BootFailure("block device 'zones': " + error.message)
    }
    guard !compiled.isEmpty || !sources.isEmpty else {
      throw BootFailure("no zone to serve: expected zone files (NAME.zone) in the archive on block device 'zones' or compiled into the image from Resources/zones")
    }
    var configuration = DNSServer.Configuration()
    configuration.idleTimeout = .seconds(Int64(boot.parameters.integer("idle-timeout") ?? 10))
    if let list = boot.parameters.string("axfr-allow") {
      for item in Array(list.utf8).pieces(separatedBy: UInt8(ascii: ",")) {
        let text = String(decoding: item, as: UTF8.self)
        if let network = IPNetwork(text) {
          configuration.transferClients.append(network)
        } else if let address = IPv4Address(text) {
          configuration.transferClients.append(.v4(IPv4Network(address: address, prefixLength: 32)))
        } else if let address = IPv6Address(text) {
          configuration.transferClients.append(.v6(IPv6Network(address: address, prefixLength: 128)))
        } else {
          throw BootFailure("--axfr-allow: '" + text + "' is not an address or a network (expected 10.0.0.1, 10.0.0.0/24 or fd00::/64)")
        }
      }
    }
    let rate = boot.parameters.integer("rate-limit") ?? 200
    if rate > 0 {
      configuration.rateLimit = ResponseRateLimiter.Configuration(
        responsesPerSecond: rate, slip: boot.parameters.integer("rate-limit-slip") ?? 2)
    }
    let port = UInt16(boot.parameters.integer("port") ?? 53)
    let service = boot.network("service")
    let udp: any UDPEndpoint
    let tcp: any TCPListening
    do {
      udp = try service.bind(udpPort: port, receiveCapacity: 512, transmitCapacity: 512)
    } catch {
      throw BootFailure("cannot bind UDP port \(port): \(error)")
    }
    do {
      tcp = try service.listen(tcpPort: port, backlog: 256)
    } catch {
      throw BootFailure("cannot listen on TCP port \(port): \(error)")
    }
    let log = boot.log
    let served = Self.serving(compiled: compiled, archived: sources, log: boot.log)
    server = DNSServer(udp: [udp], tcp: tcp, authority: Authority(zones: served.map { $0.source.zone }),
                       configuration: configuration, log: { line in log.info(line) })
    let interval = boot.parameters.integer("reload-interval") ?? 0
    reloadInterval = interval > 0 ? .seconds(Int64(interval)) : nil
    for (source, fromImage) in served {
      let place = fromImage ? "the image's Resources/" : "the archive's "
      log.info("serving \(source.zone.origin) (serial \(source.zone.serial), \(source.zone.nodes.count) names) from \(place)\(source.key)")
    }
    log.info("answering on UDP and TCP port \(port)")
  }

  /// The zones served: each compiled into the image, unless the archive holds the same zone
  /// with a greater serial; the archive's others. `log`: the archive's zones set aside (nil:
  /// say nothing, as when nothing changed).
  static func serving(compiled: [ZoneSource], archived: [ZoneSource], log: Logger?) -> [(source: ZoneSource, fromImage: Bool)] {
    var served = compiled.map { (source: $0, fromImage: true) }
    for source in archived {
      guard let index = served.firstIndex(where: { $0.source.zone.origin == source.zone.origin }) else {
        served.append((source, false))
        continue
      }
      let image = served[index].source.zone.serial
      if serialGreater(source.zone.serial, than: image) {
        served[index] = (source, false)
      } else {
        log?.warning("\(source.key) in the archive has serial \(source.zone.serial), not greater than \(image) compiled into the image: serving the image's")
      }
    }
    return served
  }

  mutating func step(now: Instant) -> Step {
    if let reloadInterval {
      if let nextReload, now >= nextReload { reload() }
      if nextReload == nil || now >= nextReload! { nextReload = now + reloadInterval }
    }
    let next = server.step(now: now)
    guard let nextReload else { return .wait(until: next) }
    return .wait(until: next.map { min($0, nextReload) } ?? nextReload)
  }

  /// Reads the archive again: a zone file whose size or date changed is read, and served if
  /// its serial is greater than the one served (RFC 1982); a zone whose file is gone is no
  /// longer served (or served from the image again, if compiled in). Whatever cannot be read
  /// is logged and the zone served stays.
  mutating func reload() {
    let store: TarStore
    let keys: [String]
    do {
      store = try TarStore(device: device)
    } catch {
      log.warning("reload: block device 'zones': " + error.description)
      return
    }
    do {
      keys = try ZoneArchive.zoneFiles(in: store)
    } catch {
      log.warning("reload: " + error.message)
      return
    }
    let served = Self.serving(compiled: compiled, archived: sources, log: nil)
    var fresh: [ZoneSource] = []
    var changed = false
    for key in keys {
      let old = sources.first { $0.key.utf8Equals(key) }
      if let old, (try? store.size(key)) == old.size, (try? store.lastModified(key)) == old.modified {
        fresh.append(old)
        continue
      }
      do {
        let source = try ZoneArchive.load(key, from: store)
        if let current = served.first(where: { $0.source.zone.origin == source.zone.origin })?.source,
          !serialGreater(source.zone.serial, than: current.zone.serial)
        {
          log.warning("reload: \(key) changed but its serial \(source.zone.serial) is not greater than \(current.zone.serial): still serving the old zone")
          if let old = sources.first(where: { $0.zone.origin == source.zone.origin }) { fresh.append(old) }
          continue
        }
        log.info("reload: serving \(source.zone.origin) serial \(source.zone.serial) from \(key)")
        fresh.append(source)
        changed = true
      } catch {
        log.warning("reload: " + error.message + " (the zone served stays)")
        if let old { fresh.append(old) }
      }
    }
    for source in sources where !fresh.contains(where: { $0.zone.origin == source.zone.origin }) {
      let again = compiled.contains { $0.zone.origin == source.zone.origin }
      log.info("reload: \(source.zone.origin) is no longer in the archive: " + (again ? "serving the image's again" : "no longer served"))
      changed = true
    }
    sources = fresh
    guard changed else { return }
    server.authority = Authority(zones: Self.serving(compiled: compiled, archived: fresh, log: nil).map { $0.source.zone })
  }
}
