// HTTP/1.1 requests (RFC 9112): parsed incrementally from the bytes a connection received,
// with limits on every part, so a client can neither make the server hold unbounded input
// nor confuse its framing. Bodies come with a Content-Length or chunked; other transfer
// codings are refused. Each refusal carries the status to answer with (400, 413, 414, 431,
// 501, 505); after one the connection is closed.
//
// Read first: RFC 9112 sections 2-7 (message syntax, request line, fields, body length) and
// RFC 9110 section 5 (field names and values).

import SiroccoWire

/// Bounds on what one request may take.
public struct HTTPLimits: Sendable {
  /// The request line, in bytes (414 past it).
  public var requestLine = 8192
  /// Header fields (431 past it).
  public var headerCount = 100
  /// The whole header section, request line included (431 past it).
  public var headerBytes = 16384
  /// A request body (413 past it).
  public var body = 1 << 20
  public init() {}
}

public struct HTTPRequest: Sendable, Equatable {
  /// The header section as it arrived (request line and field lines, without the empty line
  /// that ends it): the parser's buffer, shared rather than copied, indexed as that buffer is.
  let section: ArraySlice<UInt8>
  let methodRange: Range<Int>
  /// The request target in `section`; empty for an absolute-form target without a path,
  /// which is "/".
  let targetRange: Range<Int>
  /// 0 for HTTP/1.0, 1 for HTTP/1.1.
  public let minorVersion: Int
  /// Each field line's name and value (without the white space around it), in `section`.
  let fields: [(name: Range<Int>, value: Range<Int>)]
  public internal(set) var body: [UInt8] = []

  public var method: [UInt8] { Array(section[methodRange]) }
  /// The request target as sent (origin form: path and query, still percent-encoded).
  public var target: [UInt8] { targetRange.isEmpty ? [UInt8(ascii: "/")] : Array(section[targetRange]) }
  public var headers: [(name: [UInt8], value: [UInt8])] { fields.map { (Array(section[$0.name]), Array(section[$0.value])) } }

  public static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
    lhs.method == rhs.method && lhs.target == rhs.target && lhs.minorVersion == rhs.minorVersion
      && lhs.body == rhs.body && lhs.fields.count == rhs.fields.count
      && zip(lhs.headers, rhs.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
  }

  /// The value of the field named `name` (compared without case), if any. Several field
  /// lines of the same name are one list, joined with ", " (RFC 9110 5.3).
  public func header(_ name: String) -> [UInt8]? {
    var value: [UInt8]?
    for field in fields where asciiEqualsIgnoringCase(section[field.name], name) {
      if value == nil { value = Array(section[field.value]) } else { value! += Array(", ".utf8) + section[field.value] }
    }
    return value
  }

  /// How many field lines are named `name` (compared without case).
  func count(of name: String) -> Int { fields.count(where: { asciiEqualsIgnoringCase(section[$0.name], name) }) }

  public func methodIs(_ name: String) -> Bool { section[methodRange].elementsEqual(name.utf8) }

  /// Whether the connection stays open after the response (RFC 9112 9.3): HTTP/1.1 unless
  /// "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
  public var keepAlive: Bool {
    let connection = header("connection").map { tokens($0) } ?? []
    if minorVersion >= 1 { return !connection.contains { asciiEqualsIgnoringCase($0, "close") } }
    return connection.contains { asciiEqualsIgnoringCase($0, "keep-alive") }
  }

  /// The target without its query, still percent-encoded.
  var rawPath: ArraySlice<UInt8> {
    guard !targetRange.isEmpty else { return [UInt8(ascii: "/")][...] }
    let target = section[targetRange]
    return target[..<(target.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex)]
  }

  /// The path of the target, percent-decoded, without the query; nil when it is not a valid
  /// origin-form path (or decodes to a NUL byte).
  public var path: [UInt8]? {
    let raw = rawPath
    guard raw.first == UInt8(ascii: "/") else { return nil }
    return percentDecoded(raw)
  }

  /// The query (after "?"), as sent.
  public var query: [UInt8]? {
    let target = section[targetRange]
    guard let question = target.firstIndex(of: UInt8(ascii: "?")) else { return nil }
    return Array(target[(question + 1)...])
  }
}

/// Why a request was refused, with the status to answer.
public struct HTTPRequestError: Error, Equatable, Sendable {
  public var status: Int
  public var reason: String
  public init(_ status: Int, _ reason: String) {
    self.status = status
    self.reason = reason
  }
}

/// Parses the requests a connection receives, one after another (pipelining): feed it what
/// arrived, take requests while it has complete ones. However a request is split, its bytes
/// are examined a bounded number of times and consumed bytes are not moved per request, so
/// a client trickling bytes or sending a million one-byte chunks costs linear time.
public struct HTTPRequestParser: Sendable {
  public let limits: HTTPLimits
  /// Bytes received; those before `start` are consumed.
  var storage: [UInt8] = []
  var start = 0
  /// Where the request under way is: its header section (`scanned` bytes past `start`
  /// already searched for its end), or its body, with a Content-Length or chunked (RFC 9112
  /// 7.1).
  enum Phase: Sendable {
    case head(scanned: Int)
    case body(remaining: Int)
    case chunkSize
    case chunkData(remaining: Int)
    case chunkEnd
    case trailer(bytes: Int)
  }
  var phase = Phase.head(scanned: 0)
  /// The request whose body is under way, and its body so far.
  var pending: HTTPRequest?
  var body: [UInt8] = []
  /// The request line under way is complete and within its limit.
  var requestLineChecked = false

  /// The longest chunk-size line, extensions included.
  static let chunkLineLimit = 4096

  public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

  /// Bytes received and not yet consumed by the request under way.
  public var buffered: ArraySlice<UInt8> { storage[start...] }

  public mutating func append(_ bytes: [UInt8]) {
    compact()
    storage += bytes
  }

  /// Reads straight into the parser's buffer, with no array between: `read` is given room
  /// for `maximum` bytes and returns how many it wrote there. Returns that count.
  public mutating func append(maximum: Int, reading read: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
    guard maximum > 0 else { return 0 }
    compact()
    let end = storage.count
    storage.append(contentsOf: repeatElement(0, count: maximum))
    let taken = storage.withUnsafeMutableBytes { read(UnsafeMutableRawBufferPointer(rebasing: $0[end...])) }
    storage.removeLast(maximum - min(max(taken, 0), maximum))
    return min(max(taken, 0), maximum)
  }

  /// Consumed bytes go once they are at least half of what is kept: amortized linear, and
  /// the buffer keeps its capacity.
  mutating func compact() {
    if start > 0, start >= storage.count - start {
      storage.removeSubrange(0..<start)
      start = 0
    }
  }

  /// Whether no part of a request has arrived: between requests.
  public var isIdle: Bool {
    if case .head = phase { return start == storage.count }
    return false
  }

  /// The next complete request, nil while it has not all arrived. After an error the
  /// connection must be closed: its framing can no longer be trusted.
  public mutating func next() throws(HTTPRequestError) -> HTTPRequest? {
    while true {
      switch phase {
      case .head(let scanned):
        if let request = try head(scanned: scanned) { return request }
        if case .head = phase { return nil }
      case .body(let remaining):
        let left = takeBody(remaining)
        guard left == 0 else {
          phase = .body(remaining: left)
          return nil
        }
        return finishBody()
      case .chunkSize:
        guard let line = try takeChunkLine(limit: Self.chunkLineLimit, tooLong: HTTPRequestError(400, "chunk size line too long")) else {
          return nil
        }
        let size = try chunkSize(line, decoded: body.count)
        phase = size == 0 ? .trailer(bytes: 0) : .chunkData(remaining: size)
      case .chunkData(let remaining):
        let left = takeBody(remaining)
        guard left == 0 else {
          phase = .chunkData(remaining: left)
          return nil
        }
        phase = .chunkEnd
      case .chunkEnd:
        guard try takeChunkLine(limit: 0, tooLong: HTTPRequestError(400, "chunk data longer than its size")) != nil else { return nil }
        phase = .chunkSize
      case .trailer(let bytes):
        // Trailer fields are checked and dropped: a static server has no use for them.
        let tooLong = HTTPRequestError(431, "trailer section longer than " + String(limits.headerBytes) + " bytes")
        guard let line = try takeChunkLine(limit: limits.headerBytes - bytes, tooLong: tooLong) else { return nil }
        if line.isEmpty { return finishBody() }
        _ = try Self.parseField(line)
        phase = .trailer(bytes: bytes + line.count + 2)
      }
    }
  }

  /// The refusals of a request line or header section that is too long (made when thrown).
  var tooLongLine: HTTPRequestError { HTTPRequestError(414, "request line longer than " + String(limits.requestLine) + " bytes") }
  var tooLongSection: HTTPRequestError { HTTPRequestError(431, "header section longer than " + String(limits.headerBytes) + " bytes") }

  /// The header section of the next request, once it has all arrived. A request without a
  /// body is returned; one with a body moves the parser to it and returns nil.
  mutating func head(scanned: Int) throws(HTTPRequestError) -> HTTPRequest? {
    let newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
    // RFC 9112 2.2: empty lines before a request line are ignored.
    if scanned == 0 {
      while start < storage.count, storage[start] == carriageReturn || storage[start] == newline { start += 1 }
    }
    if !requestLineChecked {
      // Searched from where the last search stopped; its length without the CR.
      let from = start + max(0, scanned - 1), to = min(storage.count, start + limits.requestLine + 2)
      if from < to, let end = storage[from..<to].firstIndex(of: newline) {
        guard end - start - (end > start && storage[end - 1] == carriageReturn ? 1 : 0) <= limits.requestLine else { throw tooLongLine }
        requestLineChecked = true
      } else if storage.count - start - (storage.last == carriageReturn ? 1 : 0) > limits.requestLine {
        throw tooLongLine
      }
    }
    guard let headerEnd = Self.endOfHeaders(storage, from: start + max(0, scanned - 3), stop: start + limits.headerBytes + 4) else {
      if storage.count - start >= limits.headerBytes + 4 { throw tooLongSection }
      // What is not a method is refused at once (a TLS hello, noise), not after a timeout.
      guard storage[start..<min(storage.count, start + 32)].prefix(while: { $0 != UInt8(ascii: " ") }).allSatisfy(isTokenCharacter) else {
        throw HTTPRequestError(400, "malformed request line")
      }
      phase = .head(scanned: storage.count - start)
      return nil
    }
    // The section's size is what comes before its final empty line, however it arrived.
    guard headerEnd.start - start <= limits.headerBytes else { throw tooLongSection }
    // Parsed where it lies: the request keeps the section (shared, not copied) and where its
    // parts are. Lines end in LF, a CR before it dropped.
    let section = storage[start..<headerEnd.start]
    var lineStart = section.startIndex
    func nextLine() -> ArraySlice<UInt8> {
      let end = section[lineStart...].firstIndex(of: newline) ?? section.endIndex
      let line = section[lineStart..<(end > lineStart && section[end - 1] == carriageReturn ? end - 1 : end)]
      lineStart = min(end + 1, section.endIndex)
      return line
    }
    let requestLine = nextLine()
    if requestLine.count > limits.requestLine { throw tooLongLine }
    let (method, target, minor) = try Self.parseRequestLine(requestLine)
    let fieldCount = lineStart == section.endIndex ? 0 : section[lineStart...].count(where: { $0 == newline }) + 1
    guard fieldCount <= limits.headerCount else { throw HTTPRequestError(431, "more than " + String(limits.headerCount) + " header fields") }
    var fields: [(name: Range<Int>, value: Range<Int>)] = []
    fields.reserveCapacity(fieldCount)
    for _ in 0..<fieldCount { fields.append(try Self.parseField(nextLine())) }
    let request = HTTPRequest(section: section, methodRange: method, targetRange: target, minorVersion: minor, fields: fields)
    if request.minorVersion >= 1 {
      let hosts = request.count(of: "host")
      guard hosts == 1 else { throw HTTPRequestError(400, hosts == 0 ? "no Host field" : "more than one Host field") }
    }
    start = headerEnd.end
    phase = .head(scanned: 0)
    requestLineChecked = false
    // The body's length (RFC 9112 6.3).
    let hasLength = request.count(of: "content-length") > 0
    if request.count(of: "transfer-encoding") > 0 {
      // Both framings at once is how requests are smuggled past a proxy: refused (6.1).
      guard request.minorVersion >= 1 else { throw HTTPRequestError(400, "Transfer-Encoding in an HTTP/1.0 request") }
      guard !hasLength else { throw HTTPRequestError(400, "both Transfer-Encoding and Content-Length") }
      let codings = request.fields.filter { asciiEqualsIgnoringCase(section[$0.name], "transfer-encoding") }
        .flatMap { tokens(Array(section[$0.value])) }
      guard let last = codings.last, asciiEqualsIgnoringCase(last, "chunked") else {
        throw HTTPRequestError(400, codings.isEmpty ? "empty Transfer-Encoding" : "chunked is not the final transfer coding")
      }
      guard codings.count == 1 else { throw HTTPRequestError(501, "transfer codings other than chunked are not supported") }
      pending = request
      phase = .chunkSize
      return nil
    }
    if hasLength {
      let lengths = request.fields.filter { asciiEqualsIgnoringCase(section[$0.name], "content-length") }.map { section[$0.value] }
      guard lengths.allSatisfy({ $0.elementsEqual(lengths[0]) }), let length = asciiDecimal(lengths[0]) else {
        throw HTTPRequestError(400, "bad Content-Length")
      }
      guard length <= limits.body else { throw HTTPRequestError(413, "body longer than " + String(limits.body) + " bytes") }
      if length > 0 {
        pending = request
        phase = .body(remaining: length)
        return nil
      }
    }
    return request
  }

  /// Moves up to `remaining` received bytes into the body; returns how many are still to
  /// come.
  mutating func takeBody(_ remaining: Int) -> Int {
    let taken = min(remaining, storage.count - start)
    body.append(contentsOf: storage[start..<(start + taken)])
    start += taken
    return remaining - taken
  }

  /// The request whose body is complete.
  mutating func finishBody() -> HTTPRequest? {
    var request = pending
    request?.body = body
    pending = nil
    body = []
    phase = .head(scanned: 0)
    return request
  }

  /// The next line of chunked framing without its CR LF, taken out; nil while it has not
  /// all arrived. These lines must end in CR LF (RFC 9112 7.1): a bare LF is the seed of
  /// chunk-smuggling disagreements and is refused. `tooLong` is thrown for a line of more
  /// than `limit` bytes.
  mutating func takeChunkLine(limit: Int, tooLong: HTTPRequestError) throws(HTTPRequestError) -> ArraySlice<UInt8>? {
    let window = storage[start..<min(storage.count, start + limit + 2)]
    guard let end = window.firstIndex(of: UInt8(ascii: "\n")) else {
      if storage.count - start > limit + 1 { throw tooLong }
      return nil
    }
    guard end > start, storage[end - 1] == UInt8(ascii: "\r") else { throw HTTPRequestError(400, "bare LF in chunked framing") }
    let line = storage[start..<(end - 1)]
    guard line.count <= limit else { throw tooLong }
    start = end + 1
    return line
  }

  /// chunk-size [ chunk-ext ] (RFC 9112 7.1, 7.1.1): the hexadecimal size, checked against
  /// what the body may still take; extensions are ignored.
  func chunkSize(_ line: ArraySlice<UInt8>, decoded: Int) throws(HTTPRequestError) -> Int {
    var size = 0
    var index = line.startIndex
    while index < line.endIndex, let value = asciiHexDigit(line[index]) {
      size = size * 16 + Int(value)
      guard size <= limits.body - decoded else { throw HTTPRequestError(413, "body longer than " + String(limits.body) + " bytes") }
      index += 1
    }
    guard index > line.startIndex else { throw HTTPRequestError(400, "bad chunk size") }
    let rest = trimmingWhitespace(line[index...])
    guard rest.isEmpty || rest.first == UInt8(ascii: ";"),
      rest.allSatisfy({ $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7f) })
    else { throw HTTPRequestError(400, "bad chunk size") }
    return size
  }

  /// Where the header section ends: the empty line (CRLF CRLF, or LF LF as RFC 9112 2.2
  /// lets a recipient accept), searched from `from` to no further than `stop`.
  static func endOfHeaders(_ bytes: [UInt8], from: Int, stop: Int) -> (start: Int, end: Int)? {
    var index = from
    let stop = min(bytes.count, stop)
    while index < stop {
      if bytes[index] == UInt8(ascii: "\n") {
        if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { return (index, index + 2) }
        if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") {
          return (index, index + 3)
        }
      }
      index += 1
    }
    return nil
  }

  /// method SP request-target SP HTTP-version (RFC 9112 3): where the method and the target
  /// are in `line` (the target's path alone for an absolute-form target; empty when that
  /// has none: "/"), and the minor version.
  static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPRequestError) -> (method: Range<Int>, target: Range<Int>, minor: Int) {
    let space = UInt8(ascii: " ")
    guard let first = line.firstIndex(of: space), let second = line[(first + 1)...].firstIndex(of: space),
      !line[(second + 1)...].contains(space)
    else { throw HTTPRequestError(400, "malformed request line") }
    let method = line[..<first]
    guard !method.isEmpty, method.allSatisfy(isTokenCharacter) else { throw HTTPRequestError(400, "malformed request line") }
    let target = line[(first + 1)..<second]
    guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw HTTPRequestError(400, "malformed request target") }
    let version = line[(second + 1)...]
    let v = version.startIndex
    guard version.count == 8, version[v..<(v + 5)].elementsEqual("HTTP/".utf8), version[v + 6] == UInt8(ascii: "."),
      let major = digit(version[v + 5]), let minor = digit(version[v + 7])
    else { throw HTTPRequestError(400, "malformed HTTP version") }
    guard major == 1 else { throw HTTPRequestError(505, "HTTP/" + String(major) + "." + String(minor) + " is not supported") }
    // Absolute form (RFC 9112 3.2.2): keep the path; asterisk form only for OPTIONS.
    if let scheme = target.firstIndex(of: UInt8(ascii: ":")), target.first != UInt8(ascii: "/"),
      target.endIndex > scheme + 2, target[scheme + 1] == UInt8(ascii: "/"), target[scheme + 2] == UInt8(ascii: "/")
    {
      let rest = target[(scheme + 3)...]
      let path = rest.firstIndex(of: UInt8(ascii: "/")).map { $0..<rest.endIndex } ?? rest.endIndex..<rest.endIndex
      return (method.indices, path, minor)
    } else if !target.elementsEqual("*".utf8) || !method.elementsEqual("OPTIONS".utf8), target.first != UInt8(ascii: "/") {
      throw HTTPRequestError(400, "request target is not a path")
    }
    return (method.indices, target.indices, minor)
  }

  /// field-name ":" OWS field-value OWS (RFC 9112 5): where the name and the value are in
  /// `line`; no space before the colon, no obsolete line folding.
  static func parseField(_ line: ArraySlice<UInt8>) throws(HTTPRequestError) -> (name: Range<Int>, value: Range<Int>) {
    guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw HTTPRequestError(400, "header field without a colon") }
    let name = line[..<colon]
    guard !name.isEmpty, name.allSatisfy(isTokenCharacter) else {
      throw HTTPRequestError(400, name.first == UInt8(ascii: " ") || name.first == UInt8(ascii: "\t")
        ? "obsolete line folding" : "bad header field name")
    }
    let value = trimmingWhitespace(line[(colon + 1)...])
    guard value.allSatisfy({ $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7f) }) else {
      throw HTTPRequestError(400, "control character in a header field value")
    }
    return (name.indices, value.indices)
  }
}

/// tchar (RFC 9110 5.6.2).
func isTokenCharacter(_ byte: UInt8) -> Bool {
  switch byte {
  case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
  default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
  }
}

func digit(_ byte: UInt8) -> Int? {
  byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
}


/// Whether the bytes are `b`'s, ASCII letters compared without case; `b` is not copied into
/// an array.
func asciiEqualsIgnoringCase(_ a: some Collection<UInt8>, _ b: String) -> Bool {
  a.count == b.utf8.count && zip(a, b.utf8).allSatisfy { asciiLowercase($0) == asciiLowercase($1) }
}

/// Without optional white space (spaces and tabs) at either end (RFC 9110 5.6.3).
func trimmingWhitespace(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
  var part = bytes
  while let first = part.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { part = part.dropFirst() }
  while let last = part.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { part = part.dropLast() }
  return part
}

/// The comma-separated elements of a field value, trimmed, empty ones left out; a comma
/// inside a quoted string (an entity tag such as "a,b") does not separate.
func tokens(_ value: [UInt8]) -> [[UInt8]] {
  var elements: [[UInt8]] = []
  var start = 0, index = 0, quoted = false
  func add(_ end: Int) {
    let part = trimmingWhitespace(value[start..<end])
    if !part.isEmpty { elements.append(Array(part)) }
  }
  while index < value.count {
    switch value[index] {
    case UInt8(ascii: "\""): quoted.toggle()
    case UInt8(ascii: "\\") where quoted: index += 1  // quoted-pair (RFC 9110 5.6.4)
    case UInt8(ascii: ",") where !quoted:
      add(index)
      start = index + 1
    default: break
    }
    index += 1
  }
  add(min(index, value.count))
  return elements
}

/// %XX decoded; nil for a bad escape or one that decodes to NUL.
func percentDecoded(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
  var result: [UInt8] = []
  result.reserveCapacity(bytes.count)
  var index = bytes.startIndex
  while index < bytes.endIndex {
    if bytes[index] == UInt8(ascii: "%") {
      guard index + 2 < bytes.endIndex, let high = asciiHexDigit(bytes[index + 1]), let low = asciiHexDigit(bytes[index + 2]) else { return nil }
      let byte = high << 4 | low
      guard byte != 0 else { return nil }
      result.append(byte)
      index += 3
    } else {
      result.append(bytes[index])
      index += 1
    }
  }
  return result
}
