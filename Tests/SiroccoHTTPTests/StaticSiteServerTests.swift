// The static-site server over scripted in-memory streams (a client that sends bytes and
// takes what the server writes, with a send window the test controls) and a MemoryStore.
// End-to-end tests with curl and wrk on real TCP belong to the website example.

import SiroccoDevices
@testable import SiroccoHTTP
import SiroccoNet
import SiroccoStore
import SiroccoWire
import XCTest

final class ScriptedStream: TCPStream {
  var inbound: [UInt8] = []
  var outbound: [UInt8] = []
  var peerClosed = false
  var closed = false
  var aborted = false
  /// Bytes `write` takes before the client reads (the send window).
  var window = Int.max

  var description: String { "scripted" }
  var localAddress: IPAddress { .v4(IPv4Address(10, 0, 0, 2)) }
  var localPort: UInt16 { 80 }
  var remoteAddress: IPAddress { .v4(IPv4Address(10, 0, 0, 1)) }
  var remotePort: UInt16 { 5000 }
  var state: TCPState { aborted || (closed && peerClosed) ? .closed : closed ? .finWait1 : peerClosed ? .closeWait : .established }
  var error: TCPError? { aborted ? .aborted : nil }
  var isEstablished: Bool { state == .established }
  var availableBytes: Int { inbound.count }
  var isReceiveFinished: Bool { peerClosed && inbound.isEmpty }
  var writableBytes: Int { closed || aborted ? 0 : max(window - outbound.count, 0) }

  func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    let count = min(buffer.count, inbound.count)
    for index in 0..<count { buffer[index] = inbound[index] }
    inbound.removeFirst(count)
    return count
  }

  func read(maximum: Int) -> [UInt8] {
    let count = min(maximum, inbound.count)
    defer { inbound.removeFirst(count) }
    return Array(inbound[0..<count])
  }

  func write(_ bytes: UnsafeRawBufferPointer) -> Int { write(Array(bytes)) }

  func write(_ bytes: [UInt8]) -> Int {
    let count = min(bytes.count, writableBytes)
    outbound += bytes[0..<count]
    return count
  }

  func close() { closed = true }
  func abort() { aborted = true }

  /// Takes what the server sent so far, as text.
  func take() -> String {
    defer { outbound = [] }
    return String(decoding: outbound, as: UTF8.self)
  }
}

final class ScriptedListener: TCPListening {
  var waiting: [ScriptedStream] = []
  var port: UInt16 { 80 }
  func nextConnection() -> (any TCPStream)? { waiting.isEmpty ? nil : waiting.removeFirst() }
  func close() {}
}

/// A store whose contents a test replaces under the running server.
final class ReplaceableStore: KeyValueStore {
  var current: MemoryStore
  init(_ store: MemoryStore) { current = store }
  func exists(_ key: String) -> StoreEntryKind? { current.exists(key) }
  func get(_ key: String) throws(StoreError) -> [UInt8] { try current.get(key) }
  func get(_ key: String, offset: Int, length: Int) throws(StoreError) -> [UInt8] { try current.get(key, offset: offset, length: length) }
  func list(_ key: String) throws(StoreError) -> [(name: String, kind: StoreEntryKind)] { try current.list(key) }
  func size(_ key: String) throws(StoreError) -> Int { try current.size(key) }
  func lastModified(_ key: String) throws(StoreError) -> Int64 { try current.lastModified(key) }
  func digest(_ key: String) throws(StoreError) -> [UInt8] { try current.digest(key) }
}

final class StaticSiteServerTests: XCTestCase {
  let big: [UInt8] = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
  var store: MemoryStore {
    MemoryStore([
      ("index.html", Array("<h1>home</h1>".utf8), 784_111_777),
      ("docs/index.html", Array("<h1>docs</h1>".utf8), 784_111_777),
      ("docs/page.css", Array("p{}".utf8), 784_111_777),
      ("404.html", Array("<h1>missing</h1>".utf8), 784_111_777),
      ("media/big.bin", big, 784_111_777),
    ])
  }
  var now = Instant(nanoseconds: 1_000_000_000)
  var lines: [String] = []

  func server(_ configuration: StaticSiteServer.Configuration = .init()) -> (StaticSiteServer, ScriptedListener) {
    let listener = ScriptedListener()
    let server = StaticSiteServer(listener: listener, store: store, configuration: configuration) { self.lines.append($0) }
    return (server, listener)
  }

  func exchange(_ request: String, server: StaticSiteServer, listener: ScriptedListener) -> (ScriptedStream, String) {
    let stream = ScriptedStream()
    stream.inbound = Array(request.utf8)
    listener.waiting.append(stream)
    _ = server.step(now: now, date: 1_700_000_000)
    return (stream, stream.take())
  }

  func testGETHEADIndexAnd404() {
    let (server, listener) = server()
    let (_, home) = exchange("GET / HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(home.hasPrefix("HTTP/1.1 200 OK\r\n"), home)
    XCTAssertTrue(home.contains("Content-Type: text/html; charset=utf-8\r\n"), home)
    XCTAssertTrue(home.contains("Content-Length: 13\r\n"), home)
    XCTAssertTrue(home.contains("Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n"), home)
    XCTAssertTrue(home.contains("Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), home)
    XCTAssertTrue(home.hasSuffix("\r\n\r\n<h1>home</h1>"), home)
    let (_, head) = exchange("HEAD /docs/page.css HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(head.contains("Content-Length: 3\r\n") && head.hasSuffix("\r\n\r\n"), head)
    let (_, redirect) = exchange("GET /docs HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(redirect.hasPrefix("HTTP/1.1 301 ") && redirect.contains("Location: /docs/\r\n"), redirect)
    let (_, docs) = exchange("GET /docs/ HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(docs.hasSuffix("<h1>docs</h1>"), docs)
    let (_, missing) = exchange("GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(missing.hasPrefix("HTTP/1.1 404 Not Found\r\n") && missing.hasSuffix("<h1>missing</h1>"), missing)
    let (_, escape) = exchange("GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(escape.hasPrefix("HTTP/1.1 400 "), escape)
    let (_, post) = exchange("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", server: server, listener: listener)
    XCTAssertTrue(post.hasPrefix("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD\r\n"), post)
    XCTAssertEqual(lines.first, "10.0.0.1 \"GET / HTTP/1.1\" 200 13")
    XCTAssertEqual(lines.count, 7)
    // The log counts the body bytes sent: none for HEAD, whatever the status.
    XCTAssertEqual(lines[5], "10.0.0.1 \"GET /../etc/passwd HTTP/1.1\" 400 19")
    _ = exchange("HEAD /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
    XCTAssertEqual(lines.last, "10.0.0.1 \"HEAD /../etc/passwd HTTP/1.1\" 400 0")
  }

  /// A wall clock that counts its readings.
  final class CountingWallClock: WallClock {
    var time: Int64
    var reads = 0
    var settings = 0
    init(_ time: Int64) { self.time = time }
    func now() -> WallTime {
      reads += 1
      return WallTime(nanosecondsSinceEpoch: time)
    }
  }

  /// Stepped with the wall clock, the server reads it once a second of the monotonic clock
  /// and carries the date forward in between; a clock stepped without saying so is seen
  /// within a second, one set by its owner (NTP: `settings`) at once.
  func testTheWallClockIsReadOnceASecond() {
    let (server, listener) = server()
    let clock = CountingWallClock(1_700_000_000_900_000_000)  // 0.9 s into a second
    func date(at offset: Int64) -> String {
      let stream = ScriptedStream()
      stream.inbound = Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
      listener.waiting.append(stream)
      _ = server.step(now: now + .nanoseconds(offset), wallClock: clock)
      let response = stream.take()
      return String(response.split(separator: "\r\n").first { $0.hasPrefix("Date: ") } ?? "none")
    }
    XCTAssertEqual(date(at: 0), "Date: Tue, 14 Nov 2023 22:13:20 GMT")
    for step in 1..<100 { _ = server.step(now: now + .milliseconds(step), wallClock: clock) }
    XCTAssertEqual(clock.reads, 1, "one reading for a hundred steps within a second")
    // 0.2 s later by the monotonic clock the wall clock's second has turned: carried forward.
    XCTAssertEqual(date(at: 200_000_000), "Date: Tue, 14 Nov 2023 22:13:21 GMT")
    XCTAssertEqual(clock.reads, 1)
    // The clock is set back an hour: seen at the next reading, a second after the last.
    clock.time -= 3_600_000_000_000
    XCTAssertEqual(date(at: 1_000_000_000), "Date: Tue, 14 Nov 2023 21:13:20 GMT")
    XCTAssertEqual(clock.reads, 2)
    // Set forward two hours by its owner: the next step reads it at once.
    clock.time += 7_200_000_000_000
    clock.settings += 1
    XCTAssertEqual(date(at: 1_000_000_001), "Date: Tue, 14 Nov 2023 23:13:20 GMT")
    XCTAssertEqual(clock.reads, 3)
  }

  func testPipelinedRequestsAnsweredInOrderAndConnectionClose() {
    let (server, listener) = server()
    let (stream, responses) = exchange(
      "GET /docs/page.css HTTP/1.1\r\nHost: h\r\n\r\nGET /nope HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      server: server, listener: listener)
    let statuses = responses.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
    XCTAssertEqual(statuses, ["200", "404", "200"])
    XCTAssertTrue(responses.hasSuffix("Connection: close\r\n\r\n<h1>home</h1>"), responses)
    XCTAssertTrue(stream.closed)
  }

  /// After a refusal or "Connection: close", bytes that follow are not parsed as requests:
  /// one answer, a FIN, and the rest read and dropped until the client closes.
  func testNothingIsAnsweredAfterARefusalOrAClose() {
    let (server, listener) = server()
    for text in [
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
      let served = server.requestsServed
      let (stream, responses) = exchange(text, server: server, listener: listener)
      XCTAssertEqual(responses.components(separatedBy: "HTTP/1.1 ").count - 1, 1, responses)
      XCTAssertTrue(stream.closed)
      XCTAssertLessThanOrEqual(server.requestsServed - served, 1)
      // The client sends more, then closes: all dropped, and the connection let go.
      stream.inbound = Array("GET /y HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
      _ = server.step(now: now, date: 0)
      XCTAssertEqual(stream.take(), "")
      stream.peerClosed = true
      _ = server.step(now: now, date: 0)
      XCTAssertEqual(server.openConnections, 0)
      XCTAssertFalse(stream.aborted)
    }
  }

  /// A client pipelining without end gets a share per step, and the server asks to be
  /// stepped again at once.
  func testPipelinedRequestsAreAnsweredInShares() {
    let (server, listener) = server()
    let stream = ScriptedStream()
    stream.inbound = Array(String(repeating: "GET /docs/page.css HTTP/1.1\r\nHost: h\r\n\r\n", count: 40).utf8)
    listener.waiting.append(stream)
    var counts: [Int] = []
    for _ in 0..<3 {
      let next = server.step(now: now, date: 0)
      counts.append(stream.take().components(separatedBy: "HTTP/1.1 200").count - 1)
      if counts.count < 3 { XCTAssertEqual(next, now) }
    }
    XCTAssertEqual(counts, [16, 16, 8])
  }

  /// A body larger than one read arrives whole within one step (the native stack announces
  /// nothing more once the client has sent everything).
  func testALargeBodyIsReadWithinOneStep() {
    let (server, listener) = server()
    let (_, response) = exchange(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n" + String(repeating: "x", count: 200_000)
        + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
    XCTAssertEqual(response.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }, ["405", "200"])
  }

  /// Empty lines between requests do not keep an idle connection open.
  func testEmptyLinesDoNotKeepAConnectionAlive() {
    var configuration = StaticSiteServer.Configuration()
    configuration.idleTimeout = .seconds(60)
    let (server, listener) = server(configuration)
    let stream = ScriptedStream()
    listener.waiting.append(stream)
    _ = server.step(now: now, date: 0)
    now = now + .seconds(59)
    stream.inbound = Array("\r\n".utf8)
    _ = server.step(now: now, date: 0)
    XCTAssertFalse(stream.aborted)
    now = now + .seconds(2)
    _ = server.step(now: now, date: 0)
    XCTAssertTrue(stream.aborted, "idle 61 s since its last request byte")
  }

  /// A request with a chunked body gets its answer (405), and the body is consumed, so the
  /// connection stays usable for the next request.
  func testChunkedBodyIsConsumedAndTheConnectionKept() {
    let (server, listener) = server()
    let (stream, responses) = exchange(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
      server: server, listener: listener)
    let statuses = responses.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
    XCTAssertEqual(statuses, ["405", "200"])
    XCTAssertFalse(stream.closed)
  }

  func testConditionalAndRangeRequests() {
    let (server, listener) = server()
    let tag = HTTPResource(size: 13, modified: 784_111_777).entityTag
    let (_, notModified) = exchange("GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \(tag)\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(notModified.hasPrefix("HTTP/1.1 304 Not Modified\r\n") && notModified.hasSuffix("\r\n\r\n"), notModified)
    XCTAssertFalse(notModified.contains("Content-Length"), notModified)
    let (_, failed) = exchange("GET / HTTP/1.1\r\nHost: h\r\nIf-Match: \"stale\"\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(failed.hasPrefix("HTTP/1.1 412 Precondition Failed\r\n") && failed.hasSuffix("Content-Length: 0\r\n\r\n"), failed)
    let (_, partial) = exchange("GET /media/big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=100-199\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(partial.hasPrefix("HTTP/1.1 206 Partial Content\r\n"), partial)
    XCTAssertTrue(partial.contains("Content-Range: bytes 100-199/200000\r\n") && partial.contains("Content-Length: 100\r\n"), partial)
    let (_, outside) = exchange("GET /media/big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=300000-\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(outside.hasPrefix("HTTP/1.1 416 ") && outside.contains("Content-Range: bytes */200000\r\n"), outside)
  }

  /// What the server says of a resource (type, validators) is written out once and kept,
  /// after the Date and Server fields and before the length; when the store's answers for
  /// it change, so does every field, and the old validator no longer matches.
  func testResourceFieldsFollowTheStore() {
    let store = ReplaceableStore(MemoryStore([("index.html", Array("<h1>home</h1>".utf8), 784_111_777)]))
    let listener = ScriptedListener()
    let server = StaticSiteServer(listener: listener, store: store, log: nil)
    let first = HTTPResource(size: 13, modified: 784_111_777).entityTag
    for _ in 0..<2 {
      let (_, home) = exchange("GET / HTTP/1.1\r\nHost: h\r\n\r\n", server: server, listener: listener)
      XCTAssertEqual(home, "HTTP/1.1 200 OK\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\nServer: Sirocco\r\n"
        + "Content-Type: text/html; charset=utf-8\r\nETag: \(first)\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        + "Accept-Ranges: bytes\r\nContent-Length: 13\r\n\r\n<h1>home</h1>")
    }
    XCTAssertEqual(server.described.count, 1)
    store.current = MemoryStore([("index.html", Array("<h1>changed home</h1>".utf8), 1_600_000_000)])
    let second = HTTPResource(size: 21, modified: 1_600_000_000).entityTag
    XCTAssertNotEqual(first, second)
    let (_, changed) = exchange("GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \(first)\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(changed.hasPrefix("HTTP/1.1 200 OK\r\n"), changed)
    XCTAssertTrue(changed.contains("ETag: \(second)\r\n") && changed.contains("Content-Length: 21\r\n"), changed)
    XCTAssertTrue(changed.contains("Last-Modified: Sun, 13 Sep 2020 12:26:40 GMT\r\n"), changed)
    XCTAssertTrue(changed.hasSuffix("\r\n\r\n<h1>changed home</h1>"), changed)
    let (_, current) = exchange("GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \(second)\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(current.hasPrefix("HTTP/1.1 304 Not Modified\r\n") && current.contains("ETag: \(second)\r\n"), current)
  }

  /// Descriptions are bounded: past the limit they are dropped and made afresh.
  func testDescriptionsAreBounded() {
    let files = (0..<(StaticSiteServer.describedLimit + 10)).map { ("f\($0).txt", Array("x".utf8), Int64(1_000_000)) }
    let listener = ScriptedListener()
    let server = StaticSiteServer(listener: listener, store: MemoryStore(files), log: nil)
    for index in 0..<files.count {
      // Each client closes its side after its request, so connections do not pile up.
      let stream = ScriptedStream()
      stream.inbound = Array("HEAD /f\(index).txt HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
      stream.peerClosed = true
      listener.waiting.append(stream)
      _ = server.step(now: now, date: 1_700_000_000)
      let answer = stream.take()
      XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.contains("Content-Type: text/plain; charset=utf-8\r\n"), answer)
      XCTAssertLessThanOrEqual(server.described.count, StaticSiteServer.describedLimit)
    }
    // Emptied once, by the first file past the limit: it and the 9 after it are described.
    XCTAssertEqual(server.described.count, 10)
  }

  /// A large body goes as the client takes it; the bytes are the store's, in order.
  func testBodiesStreamWithBackpressure() {
    let (server, listener) = server()
    let stream = ScriptedStream()
    stream.window = 10_000
    stream.inbound = Array("GET /media/big.bin HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
    listener.waiting.append(stream)
    var received: [UInt8] = []
    for _ in 0..<100 {
      _ = server.step(now: now, date: 0)
      received += stream.outbound
      stream.outbound = []
    }
    let text = String(decoding: received.prefix(300), as: UTF8.self)
    let headerEnd = text.range(of: "\r\n\r\n")!
    let headerLength = text.utf8.distance(from: text.utf8.startIndex, to: headerEnd.upperBound)
    XCTAssertEqual(Array(received[headerLength...]), big)
  }

  func testSlowAndIdleClientsAreTimedOut() {
    var configuration = StaticSiteServer.Configuration()
    configuration.requestTimeout = .seconds(10)
    configuration.idleTimeout = .seconds(60)
    let (server, listener) = server(configuration)
    let slow = ScriptedStream()
    slow.inbound = Array("GET / HTTP/1.1\r\nHo".utf8)  // and then nothing
    let idle = ScriptedStream()
    listener.waiting += [slow, idle]
    _ = server.step(now: now, date: 0)
    now = now + .seconds(11)
    _ = server.step(now: now, date: 0)
    XCTAssertTrue(slow.take().hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
    XCTAssertTrue(slow.closed)
    XCTAssertFalse(idle.closed || idle.aborted)
    now = now + .seconds(50)
    _ = server.step(now: now, date: 0)
    XCTAssertTrue(idle.aborted)
    XCTAssertEqual(server.openConnections, 0)
    XCTAssertEqual(server.timeouts, 2)
  }

  /// A 408 larger than the client's window is still delivered whole before the close.
  func testA408IsDeliveredWhole() {
    var configuration = StaticSiteServer.Configuration()
    configuration.requestTimeout = .seconds(10)
    let (server, listener) = server(configuration)
    let slow = ScriptedStream()
    slow.window = 20
    slow.inbound = Array("GET / HTTP/1.1\r\nHo".utf8)
    listener.waiting.append(slow)
    _ = server.step(now: now, date: 0)
    now = now + .seconds(11)
    var received = ""
    for _ in 0..<20 where !slow.closed {
      _ = server.step(now: now, date: 0)
      received += slow.take()
      now = now + .milliseconds(100)
    }
    XCTAssertTrue(received.hasPrefix("HTTP/1.1 408 ") && received.hasSuffix("request not received in time\n"), received)
    XCTAssertTrue(slow.closed)
    XCTAssertFalse(slow.aborted)
  }

  /// A client that sends a byte now and then does not keep a request alive past the request
  /// timeout: the clock runs from the request's first byte.
  func testTrickledRequestIsTimedOutFromItsFirstByte() {
    var configuration = StaticSiteServer.Configuration()
    configuration.requestTimeout = .seconds(10)
    let (server, listener) = server(configuration)
    let slow = ScriptedStream()
    listener.waiting.append(slow)
    let text = Array("GET / HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8)
    var sent = 0
    for _ in 0..<30 where !slow.closed {
      slow.inbound += [text[sent % text.count]]
      sent += 1
      _ = server.step(now: now, date: 0)
      now = now + .milliseconds(500)
    }
    XCTAssertTrue(slow.take().hasPrefix("HTTP/1.1 408 "))
    XCTAssertTrue(slow.closed)
    XCTAssertEqual(sent, 21, "closed at the step 10 s after the first byte")
  }

  func testOversizedHeadersGet431AndAClose() {
    let (server, listener) = server()
    let (stream, response) = exchange(
      "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "y", count: 20_000) + "\r\n\r\n", server: server, listener: listener)
    XCTAssertTrue(response.hasPrefix("HTTP/1.1 431 "), response)
    XCTAssertTrue(stream.closed)
  }
}
