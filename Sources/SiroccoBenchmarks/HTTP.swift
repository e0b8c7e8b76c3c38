// The static site server's own work per request, without a network: `StaticSiteServer` over
// a replay connection that hands it wrk's request for "/" (GET, HTTP/1.1, one Host field)
// each time it reads and swallows every response, in front of a `CachedStore` as the website
// example keeps its archive. What is measured is parsing the request, finding the page,
// deciding the answer and writing the response: requests per second, and heap allocations
// per request (CAllocationCounter).

import CAllocationCounter
import Sirocco

/// A connection that replays one request per read, `remaining` times, and swallows writes.
final class ReplayStream: TCPStream {
  let request: [UInt8]
  var remaining: Int
  var responseBytes = 0
  init(request: [UInt8], count: Int) {
    self.request = request
    self.remaining = count
  }

  var description: String { "replay" }
  var localAddress: IPAddress { .v4(IPv4Address(10, 0, 0, 2)) }
  var localPort: UInt16 { 8080 }
  var remoteAddress: IPAddress { .v4(IPv4Address(10, 0, 0, 1)) }
  var remotePort: UInt16 { 40000 }
  var state: TCPState { .established }
  var error: TCPError? { nil }
  var isEstablished: Bool { true }
  var availableBytes: Int { remaining > 0 ? request.count : 0 }
  var isReceiveFinished: Bool { false }
  var writableBytes: Int { 1 << 20 }

  func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    guard remaining > 0, buffer.count >= request.count else { return 0 }
    remaining -= 1
    request.withUnsafeBytes { buffer.copyMemory(from: $0) }
    return request.count
  }

  func read(maximum: Int) -> [UInt8] {
    guard remaining > 0, maximum >= request.count else { return [] }
    remaining -= 1
    return request
  }

  func write(_ bytes: UnsafeRawBufferPointer) -> Int {
    responseBytes += bytes.count
    return bytes.count
  }

  func write(_ bytes: [UInt8]) -> Int {
    responseBytes += bytes.count
    return bytes.count
  }

  func close() {}
  func abort() {}
}

/// Hands out one connection, once.
final class ReplayListener: TCPListening {
  var pending: ReplayStream?
  init(_ stream: ReplayStream) { pending = stream }
  var port: UInt16 { 8080 }
  func nextConnection() -> (any TCPStream)? {
    defer { pending = nil }
    return pending
  }
  func close() {}
}

struct HTTPResult {
  var requestsPerSecond = 0.0
  var nanosecondsPerRequest = 0.0
  var allocationsPerRequest = 0.0
  var responseBytes = 0
}

/// `requests` requests for the example site's small page, answered one connection's turn at a
/// time; the first hundred (the page's first read, the description made) are not counted.
func benchmarkHTTP(requests: Int) -> HTTPResult {
  let page = Array("<!doctype html><title>Sirocco</title><h1>It works</h1>\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 270)
  let store = CachedStore(MemoryStore([("index.html", page, 1_764_000_000), ("404.html", Array("not found\n".utf8), 1_764_000_000)]),
                          capacity: 8 << 20)
  let warmUp = 100
  let stream = ReplayStream(request: Array("GET / HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n\r\n".utf8), count: requests + warmUp)
  let server = StaticSiteServer(listener: ReplayListener(stream), store: store, log: nil)
  let now = Instant(nanoseconds: 1_000_000_000)
  let date: Int64 = 1_765_000_000
  while server.requestsServed < warmUp { _ = server.step(now: now, date: date) }
  let (bytesBefore, servedBefore) = (stream.responseBytes, server.requestsServed)
  let start = monotonicNanoseconds()
  let allocations = sirocco_allocations()
  while server.requestsServed < requests + warmUp { _ = server.step(now: now, date: date) }
  let allocated = Double(sirocco_allocations() - allocations)
  let elapsed = Double(monotonicNanoseconds() - start)
  // A turn answers up to 16 requests: what was counted is what was served in between.
  let served = server.requestsServed - servedBefore
  return HTTPResult(requestsPerSecond: Double(served) / (elapsed / 1e9), nanosecondsPerRequest: elapsed / Double(served),
                    allocationsPerRequest: allocated / Double(served), responseBytes: (stream.responseBytes - bytesBefore) / served)
}
