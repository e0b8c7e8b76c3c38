// A static-site HTTP/1.1 server over any `NetworkStack`'s TCP and any `KeyValueStore`: GET
// and HEAD, persistent connections and pipelining, conditional requests and byte ranges,
// `index.html` for directories, a 404 page, idle and slow-client timeouts, and one access
// log line per request. Driven by the application's step: `step(now:date:)` does what can be
// done without waiting and says when it wants to be called again.

import SiroccoDevices
import SiroccoNet
import SiroccoStore
import SiroccoWire

public final class StaticSiteServer {
  public struct Configuration: Sendable {
    public var limits = HTTPLimits()
    /// A connection with no request under way is closed after this long.
    public var idleTimeout: Duration = .seconds(60)
    /// A request, header section and body, must arrive within this long of its first byte
    /// however slowly it trickles (slowloris): 408 and a close. A response the client takes
    /// nothing of for this long is aborted.
    public var requestTimeout: Duration = .seconds(10)
    /// Connections served at once, at most; more wait in the listener's backlog.
    public var maximumConnections = 1024
    /// The page served for a directory.
    public var indexName = "index.html"
    /// The store's page for 404 answers, if it has one.
    public var notFoundPage = "404.html"
    public init() {}
  }

  final class Connection {
    let stream: any TCPStream
    var parser: HTTPRequestParser
    /// Bytes of the current response not yet taken by the stream, and the part of the body
    /// still to read from the store.
    var output: [UInt8] = []
    var body: (key: String, next: Int, end: Int, size: Int)?
    var closeAfterResponse = false
    /// Our FIN is sent: input is read and dropped until the client closes too.
    var closed = false
    /// Requests are waiting to be answered after this turn's share.
    var hasMore = false
    /// When the connection last made progress, and when the request under way began.
    var lastProgress: Instant
    var requestStarted: Instant?

    init(stream: any TCPStream, limits: HTTPLimits, now: Instant) {
      self.stream = stream
      parser = HTTPRequestParser(limits: limits)
      lastProgress = now
    }

    var isSending: Bool { !output.isEmpty || body != nil }
    /// Bytes of the response still to go: in the output, and in the store.
    var unsent: Int { output.count + (body.map { $0.end - $0.next } ?? 0) }
  }

  public let configuration: Configuration
  let listener: any TCPListening
  let store: any KeyValueStore
  let log: ((String) -> Void)?
  /// The Date field's value, made once per second.
  var dateCache: (seconds: Int64, text: String) = (-1, "")
  /// What every answer about a resource says of it, by key (its bytes: a String key would
  /// link Unicode normalization's tables into an Embedded image for hashing): made at its
  /// first request and used while the store gives the same size and modification time.
  var described: [[UInt8]: Description] = [:]
  /// The index page's key, as bytes.
  let indexKey: [UInt8]
  /// Resources described at most (past it the descriptions are dropped and made afresh).
  static let describedLimit = 1024

  /// A resource's validators and the fields every answer about it carries: Content-Type,
  /// ETag, Last-Modified and Accept-Ranges, written out.
  struct Description {
    var resource: HTTPResource
    var entityTag: [UInt8]
    var fields: [UInt8]
  }
  var connections: [Connection] = []
  /// Requests answered, and connections closed by a timeout.
  public private(set) var requestsServed = 0
  public private(set) var timeouts = 0

  /// `log` gets one line per request: client, request line, status, body bytes; nil for no
  /// access log (then no line is even made).
  public init(listener: any TCPListening, store: any KeyValueStore, configuration: Configuration = Configuration(),
              log: ((String) -> Void)?) {
    self.listener = listener
    self.store = store
    self.configuration = configuration
    self.log = log
    indexKey = normalizedKey(Array(configuration.indexName.utf8)) ?? Array(configuration.indexName.utf8)
  }

  public var openConnections: Int { connections.count }

  /// The wall clock's last reading, the monotonic time it was taken at, and the clock's
  /// `settings` then.
  var wallReading: (at: Instant, nanoseconds: Int64, settings: Int)?

  /// `step(now:date:)` with the date from `wallClock`, read at most once a second of `now`
  /// and carried forward by `now` in between (a clock read is a system call on spt; the Date
  /// field counts whole seconds), and read again at once when the clock is set (NTP).
  public func step(now: Instant, wallClock: any WallClock) -> Instant? {
    if wallReading.map({ now.nanoseconds - $0.at.nanoseconds >= 1_000_000_000 || now < $0.at || $0.settings != wallClock.settings })
      ?? true
    {
      wallReading = (now, wallClock.now().nanosecondsSinceEpoch, wallClock.settings)
    }
    let wall = WallTime(nanosecondsSinceEpoch: wallReading!.nanoseconds + (now.nanoseconds - wallReading!.at.nanoseconds))
    return step(now: now, date: wall.secondsSinceEpoch)
  }

  /// Serves what can be served now. `date` is the wall clock, in seconds since 1970, for the
  /// Date field. Returns when the server next needs a step without new traffic.
  public func step(now: Instant, date: Int64) -> Instant? {
    while connections.count < configuration.maximumConnections, let stream = listener.nextConnection() {
      connections.append(Connection(stream: stream, limits: configuration.limits, now: now))
    }
    let wasFull = connections.count >= configuration.maximumConnections
    var next: Instant?
    var index = 0
    while index < connections.count {
      let connection = connections[index]
      if serve(connection, now: now, date: date) {
        index += 1
        let deadline = connection.hasMore ? now : deadline(connection)
        next = next.map { min($0, deadline) } ?? deadline
      } else {
        connections.remove(at: index)
      }
    }
    // Room again: connections waiting in the backlog are taken at once, not at the next SYN.
    if wasFull, connections.count < configuration.maximumConnections { next = now }
    return next
  }

  /// Requests one connection may have answered in one turn, so that a client pipelining
  /// without end does not starve the others.
  static let requestsPerTurn = 16

  /// One connection's turn; false once it is finished with.
  func serve(_ connection: Connection, now: Instant, date: Int64) -> Bool {
    let stream = connection.stream
    if stream.error != nil || stream.state == .closed { return false }
    if connection.closed {
      guard drain(connection) else { return false }  // the stack finishes the close alone
      guard now < deadline(connection) else {
        stream.abort()
        return false
      }
      return true
    }
    connection.hasMore = false
    var answered = 0
    while true {
      if connection.isSending {
        let before = connection.unsent
        send(connection)
        if connection.unsent < before { connection.lastProgress = now }
        if connection.isSending { break }
        // The response is out: a request already under way is timed from now.
        if connection.requestStarted != nil { connection.requestStarted = now }
      }
      // After a refusal or "Connection: close", nothing more is parsed or answered.
      if connection.closeAfterResponse { return closeAndDrain(connection, now: now) }
      if answered == Self.requestsPerTurn {
        connection.hasMore = true
        break
      }
      // A complete request already parsed is answered before more is read (pipelining
      // without unbounded buffering); reading goes on until one is complete or none is left.
      var request: HTTPRequest?
      do {
        request = try connection.parser.next()
        while request == nil {
          // Read straight into the parser's buffer.
          let received = connection.parser.append(maximum: min(stream.availableBytes, 65536)) { stream.read(into: $0) }
          if received == 0 { break }
          // Empty lines between requests (RFC 9112 2.2) do not keep a connection alive.
          if connection.parser.buffered.suffix(received).contains(where: { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }) {
            connection.lastProgress = now
            if connection.requestStarted == nil { connection.requestStarted = now }
          }
          request = try connection.parser.next()
        }
      } catch {
        respond(connection, status: error.status, reason: error.reason, date: date)
        continue
      }
      guard let request else {
        if connection.parser.isIdle { connection.requestStarted = nil }
        break
      }
      connection.requestStarted = connection.parser.isIdle ? nil : now
      answered += 1
      answer(request, on: connection, date: date)
    }
    // The client sent its FIN: nothing more can arrive, and a partial request never completes.
    if stream.isReceiveFinished, !connection.isSending { return closeAndDrain(connection, now: now) }
    if now >= deadline(connection) {
      timeouts += 1
      guard connection.requestStarted != nil, !connection.isSending else {
        stream.abort()
        return false
      }
      // A request that did not arrive in time: 408, sent (within the request timeout again)
      // before the close, like any other refusal.
      respond(connection, status: 408, reason: "request not received in time", date: date)
      connection.requestStarted = nil
      connection.lastProgress = now
      send(connection)
      return connection.isSending || closeAndDrain(connection, now: now)
    }
    return true
  }

  /// Sends our FIN. The connection is kept until the client's FIN (or a timeout), its input
  /// read and dropped: closing a socket with unread input would reset the connection and
  /// could destroy the response in flight.
  func closeAndDrain(_ connection: Connection, now: Instant) -> Bool {
    connection.stream.close()
    connection.closed = true
    connection.lastProgress = now
    return drain(connection)
  }

  /// Reads and drops what arrived; false once the client has closed its side too.
  func drain(_ connection: Connection) -> Bool {
    let stream = connection.stream
    while !stream.read(maximum: 65536).isEmpty {}
    return !stream.isReceiveFinished && stream.state != .closed
  }

  /// When the connection is timed out: a response the client stops taking, a request that
  /// does not finish arriving within the request timeout of its first byte however it
  /// trickles in (slowloris), an idle connection, or a closed one whose client does not
  /// close its side.
  func deadline(_ connection: Connection) -> Instant {
    if connection.closed || connection.isSending { return connection.lastProgress + configuration.requestTimeout }
    if let started = connection.requestStarted { return started + configuration.requestTimeout }
    return connection.lastProgress + configuration.idleTimeout
  }

  /// Moves the response into the stream as far as it takes it. The output is topped up from
  /// the body first, so a head and a small body leave in one write (one segment, or one
  /// system call on host sockets), and a large body in writes of up to 64 KiB; nothing is
  /// read from the store that the stream has no room for.
  func send(_ connection: Connection) {
    let stream = connection.stream
    while true {
      if let body = connection.body {
        let room = min(stream.writableBytes - connection.output.count, body.end - body.next, 65536 - connection.output.count)
        if room > 0 {
          // A whole value is asked for whole: a cache in front of the store hands over the
          // bytes it keeps, uncopied.
          let whole = body.next == 0 && room == body.size
          guard let bytes = try? (whole ? store.get(body.key) : store.get(body.key, offset: body.next, length: room)),
            !bytes.isEmpty, !whole || bytes.count == room
          else {
            // The store failed under a response already begun: nothing honest to send but a close.
            connection.body = nil
            connection.closeAfterResponse = true
            stream.abort()
            return
          }
          // (Taken whole when nothing is waiting: a large file's 64 KiB copied once less.)
          if connection.output.isEmpty { connection.output = bytes } else { connection.output += bytes }
          connection.body = (body.key, body.next + bytes.count, body.end, body.size)
        }
        if connection.body!.next == body.end { connection.body = nil }
      }
      guard !connection.output.isEmpty else { return }
      let written = stream.write(connection.output)
      // All taken (the usual case): the buffer is kept for the next response.
      if written == connection.output.count { connection.output.removeAll(keepingCapacity: true) } else { connection.output.removeFirst(written) }
      if !connection.output.isEmpty || connection.body == nil { return }
    }
  }

  /// Answers one parsed request.
  func answer(_ request: HTTPRequest, on connection: Connection, date: Int64) {
    requestsServed += 1
    if !request.keepAlive { connection.closeAfterResponse = true }
    let isHead = request.methodIs("HEAD")
    func logged(_ status: Int, _ bytes: Int) {
      guard let log else { return }
      log(connection.stream.remoteAddress.description + " \"" + String(decoding: request.method, as: UTF8.self) + " "
        + String(decoding: request.target, as: UTF8.self) + " HTTP/1." + String(request.minorVersion) + "\" "
        + String(status) + " " + String(bytes))
    }
    guard request.methodIs("GET") || isHead else {
      var head = baseHead(405, date: date)
      head.add("Allow", "GET, HEAD")
      return logged(405, finish(connection, head: consume head, body: Array("method not allowed\n".utf8), isHead: isHead))
    }
    // The path percent-decoded only if it has an escape (else the bytes as they arrived).
    let rawPath = request.rawPath
    let decoded = rawPath.contains(UInt8(ascii: "%")) ? percentDecoded(rawPath).map { $0[...] } : rawPath
    guard let path = decoded, path.first == UInt8(ascii: "/"), let normalized = normalizedKey(path) else {
      return logged(400, finish(connection, head: baseHead(400, date: date), body: Array("bad request target\n".utf8), isHead: isHead))
    }
    // One lookup in the store (two for a directory's index page).
    var resource = normalized
    var resourceKey = String(decoding: normalized, as: UTF8.self)
    var metadata = store.metadata(resourceKey)
    if metadata == .dictionary {
      // A directory: its index page, at a URL that ends in "/" so relative links work.
      guard path.last == UInt8(ascii: "/") else {
        var head = baseHead(301, date: date)
        head.add("Location", String(decoding: path, as: UTF8.self) + "/")
        finish(connection, head: consume head, body: [], isHead: isHead)
        return logged(301, 0)
      }
      resource = normalized.isEmpty ? indexKey : normalized + [UInt8(ascii: "/")] + indexKey
      resourceKey = String(decoding: resource, as: UTF8.self)
      metadata = store.metadata(resourceKey)
    }
    guard case .value(let size, let modified) = metadata else {
      return notFound(connection, date: date, isHead: isHead, logged: logged)
    }
    let description = describe(resource, HTTPResource(size: size, modified: modified))
    var head = baseHead(200, date: date)
    head.add(rendered: description.fields)
    switch decide(request, for: description.resource, entityTag: description.entityTag) {
    case .notModified:
      head.status = 304
      finish(connection, head: consume head, body: [], isHead: true)
      logged(304, 0)
    case .preconditionFailed:
      head.status = 412
      finish(connection, head: consume head, body: [], isHead: isHead)
      logged(412, 0)
    case .unsatisfiable:
      head.status = 416
      head.add("Content-Range", "bytes */" + String(size))
      finish(connection, head: consume head, body: [], isHead: isHead)
      logged(416, 0)
    case .whole:
      stream(connection, head: consume head, key: resourceKey, start: 0, end: size, size: size, isHead: isHead)
      logged(200, isHead ? 0 : size)
    case .range(let start, let end):
      head.status = 206
      head.add("Content-Range", "bytes " + String(start) + "-" + String(end - 1) + "/" + String(size))
      stream(connection, head: consume head, key: resourceKey, start: start, end: end, size: size, isHead: isHead)
      logged(206, isHead ? 0 : end - start)
    }
  }

  /// The resource's description, made now if it has none or the store's answers changed.
  func describe(_ key: [UInt8], _ resource: HTTPResource) -> Description {
    if let known = described[key], known.resource == resource { return known }
    let tag = resource.entityTag
    var fields = Text()
    for (name, value) in [
      ("Content-Type", MediaType.forPath(key)), ("ETag", tag), ("Last-Modified", HTTPDate.format(resource.modified)),
      ("Accept-Ranges", "bytes"),
    ] {
      HTTPResponseHead.writeField(name, value, to: &fields)
    }
    if described.count >= Self.describedLimit { described.removeAll(keepingCapacity: true) }
    let description = Description(resource: resource, entityTag: Array(tag.utf8), fields: fields.bytes)
    described[key] = description
    return description
  }

  func notFound(_ connection: Connection, date: Int64, isHead: Bool, logged: (Int, Int) -> Void) {
    var head = baseHead(404, date: date)
    head.add("Content-Type", "text/html; charset=utf-8")
    let page = (try? store.get(configuration.notFoundPage)) ?? Array("<!doctype html><title>Not found</title><h1>Not found</h1>\n".utf8)
    logged(404, finish(connection, head: consume head, body: page, isHead: isHead))
  }

  func baseHead(_ status: Int, date: Int64) -> HTTPResponseHead {
    var head = HTTPResponseHead(status: status)
    if dateCache.seconds != date { dateCache = (date, HTTPDate.format(date)) }
    head.add("Date", dateCache.text)
    head.add("Server", "Sirocco")
    return head
  }

  /// A response whose body is in hand; returns the body bytes it sends. (The head is taken,
  /// not copied: its fields are written on in place.)
  @discardableResult
  func finish(_ connection: Connection, head: consuming HTTPResponseHead, body: [UInt8], isHead: Bool) -> Int {
    if head.status != 304 { head.add("Content-Length", decimal: body.count) }
    if connection.closeAfterResponse { head.add("Connection", "close") }
    head.write(into: &connection.output)
    if !isHead { connection.output += body }
    return isHead ? 0 : body.count
  }

  /// A response whose body comes from the store as the client takes it.
  func stream(_ connection: Connection, head: consuming HTTPResponseHead, key: String, start: Int, end: Int, size: Int, isHead: Bool) {
    head.add("Content-Length", decimal: end - start)
    if connection.closeAfterResponse { head.add("Connection", "close") }
    // Room for the head and a small body at once (kept for the connection's next responses).
    connection.output.reserveCapacity(connection.output.count + 48 + head.fields.count + (isHead ? 0 : min(end - start, 65536)))
    head.write(into: &connection.output)
    if !isHead, end > start { connection.body = (key, start, end, size) }
  }

  func respond(_ connection: Connection, status: Int, reason: String, date: Int64) {
    connection.closeAfterResponse = true
    var head = baseHead(status, date: date)
    head.add("Content-Type", "text/plain; charset=utf-8")
    finish(connection, head: consume head, body: Array((reason + "\n").utf8), isHead: false)
    log?(connection.stream.remoteAddress.description + " \"-\" " + String(status) + " (" + reason + ")")
  }
}
