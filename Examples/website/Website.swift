// website: serves a static site from a ustar archive on block device `site` (made with
// `tar -cf site.tar -C DIR .`), over HTTP/1.1 on --port: index.html for directories, the
// archive's 404.html for what is missing, conditional requests and byte ranges. Files are
// kept in memory after their first request (--file-cache bytes, LRU), so a hot page costs
// no read of the device; a changed archive is served after a restart.

import Sirocco

@main
struct Website: Unikernel {
  static let name = "website"
  static var devices: [DeviceDeclaration] { [.network("service"), .block("site")] }
  static let parameters: [ParameterDeclaration] = [
    .integer("port", default: 80, range: 1...65535, help: "TCP port to serve HTTP on"),
    .integer("request-timeout", default: 10, range: 1...3600,
             help: "seconds a request may take to arrive from its first byte, or a response to make progress"),
    .integer("idle-timeout", default: 60, range: 1...86400, help: "seconds an idle keep-alive connection is kept"),
    .integer("file-cache", default: 8 << 20, range: 0...(1 << 30),
             help: "bytes of files kept in memory after their first request (0: none); files over a sixteenth of it are read each time"),
    .boolean("access-log", default: false, help: "print one line per request on the console (client, request line, status, body bytes)"),
  ]

  let server: StaticSiteServer
  let wallClock: any WallClock

  init(boot: Boot) throws(BootFailure) {
    let port = boot.parameters.integer("port") ?? 80
    let archive: TarStore
    do {
      archive = try TarStore(device: boot.block("site"))
    } catch {
      throw BootFailure("block device 'site': " + error.description)
    }
    // A hot page costs no device read: what the archive held when first asked is served
    // until a restart.
    let store = CachedStore(archive, capacity: boot.parameters.integer("file-cache") ?? 8 << 20)
    let service = boot.network("service")
    let listener: any TCPListening
    do {
      listener = try service.listen(tcpPort: UInt16(port), backlog: 1024)
    } catch {
      throw BootFailure("cannot listen on TCP port " + String(port) + ": " + error.description)
    }
    let log = boot.log
    var configuration = StaticSiteServer.Configuration()
    configuration.requestTimeout = .seconds(Int64(boot.parameters.integer("request-timeout") ?? 10))
    configuration.idleTimeout = .seconds(Int64(boot.parameters.integer("idle-timeout") ?? 60))
    // The access log, when asked for, on the console whatever the log level (as a web
    // server's access log is apart from its error log); without it no line is made at all.
    let console = boot.console
    let accessLog: ((String) -> Void)? = boot.parameters.boolean("access-log") ? { line in console.print(line) } : nil
    server = StaticSiteServer(listener: listener, store: store, configuration: configuration, log: accessLog)
    wallClock = boot.wallClock
    let kept = "keeping up to " + String(store.capacity) + " bytes of files of at most " + String(store.largestValue) + " bytes in memory"
    log.info("serving " + String(archive.valueCount) + " files over HTTP on port " + String(port) + ", " + kept)
  }

  mutating func step(now: Instant) -> Step {
    .wait(until: server.step(now: now, wallClock: wallClock))
  }
}
