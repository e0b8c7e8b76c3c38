// Fuzz target: the HTTP/1.1 request parser (RFC 9112), with the validators and ranges a
// request carries (RFC 9110 13-14) and HTTP dates. The input after two control bytes is a
// connection's byte stream; it is parsed whole and again in pieces (sizes drawn from the
// first byte): both must give the same requests, and both refuse or neither does (the status
// may differ: noise past the request-line limit is 414 whole, 400 when its first piece shows
// it is no method). Small limits when the second byte is odd, so each limit is reached.

import SiroccoHTTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var input = FuzzInput(data, size)
  var split = UInt32(input.byte()) &+ 1
  var limits = HTTPLimits()
  if input.byte() & 1 == 1 {
    limits.requestLine = 64
    limits.headerCount = 8
    limits.headerBytes = 256
    limits.body = 512
  }
  let stream = input.rest()

  var whole = HTTPRequestParser(limits: limits)
  whole.append(stream)
  let expected = drain(&whole)

  var pieces = HTTPRequestParser(limits: limits)
  var outcome = Outcome()
  var offset = 0
  while offset < stream.count, outcome.refusal == nil {
    split = split &* 1_103_515_245 &+ 12345
    let length = min(Int(split >> 16 & 15) + 1, stream.count - offset)
    // Pieces appended as arrays, or read straight into the parser's buffer as the server does.
    if split & 0x8000_0000 == 0 {
      pieces.append(Array(stream[offset..<(offset + length)]))
    } else {
      let start = offset
      let taken = pieces.append(maximum: length) { room in
        stream.withUnsafeBytes { room.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
        return length
      }
      require(taken == length, "a read into the buffer took \(taken) of \(length) bytes")
    }
    offset += length
    let more = drain(&pieces)
    outcome.requests += more.requests
    outcome.refusal = more.refusal
  }
  require(
    outcome.requests == expected.requests && (outcome.refusal == nil) == (expected.refusal == nil),
    "parsed whole: \(expected); in pieces: \(outcome)")
  if expected.refusal == nil {
    require(pieces.buffered.count == whole.buffered.count && pieces.isIdle == whole.isIdle, "left over differs")
  }

  for request in expected.requests { examine(request) }
  return 0
}

struct Outcome: CustomStringConvertible {
  var requests: [HTTPRequest] = []
  var refusal: HTTPRequestError?
  var description: String {
    "\(requests.count) requests \(requests.map { String(decoding: $0.method + [32] + $0.target, as: UTF8.self) }), refusal "
      + (refusal.map { "\($0.status) \($0.reason)" } ?? "none")
  }
}

/// Every complete request `parser` holds, and its refusal if it refuses one.
func drain(_ parser: inout HTTPRequestParser) -> Outcome {
  var outcome = Outcome()
  do {
    while let request = try parser.next() { outcome.requests.append(request) }
  } catch {
    outcome.refusal = error
  }
  return outcome
}

/// What a server asks of a request: framing, path, validators, range; dates round-trip.
func examine(_ request: HTTPRequest) {
  _ = request.keepAlive
  _ = request.query
  if let path = request.path { require(!path.contains(0), "a path with a NUL byte") }
  for size in [0, 1, 1000] {
    let decision = decide(request, for: HTTPResource(size: size, modified: 1_700_000_000))
    if case .range(let start, let end) = decision {
      require(start >= 0 && start < end && end <= size, "range \(start)..<\(end) of \(size) bytes")
    }
  }
  for field in request.headers {
    guard let date = HTTPDate.parse(field.value) else { continue }
    let text = HTTPDate.format(date)
    require(HTTPDate.parse(Array(text.utf8)) == date, "\(date) formats as \(text), which parses differently")
  }
}
