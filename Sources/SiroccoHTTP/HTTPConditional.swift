// Conditional and range requests on a static resource (RFC 9110 13, 14): ETag and
// Last-Modified validators, If-Match / If-Unmodified-Since (412), If-None-Match /
// If-Modified-Since (304), If-Range, and one byte range (206, or 416 when none of it
// exists). A request for several ranges gets the whole resource (RFC 9110 14.2 lets a
// server ignore Range), not a multipart answer.

import SiroccoWire

/// What the server knows of a resource.
public struct HTTPResource: Sendable, Equatable {
  public var size: Int
  /// Seconds since 1970.
  public var modified: Int64
  public init(size: Int, modified: Int64) {
    self.size = size
    self.modified = modified
  }

  /// A strong validator from the modification time and the size, as nginx makes one: a
  /// read-only store changes neither without the other changing the archive.
  public var entityTag: String { "\"" + hex(UInt64(bitPattern: modified)) + "-" + hex(UInt64(size)) + "\"" }
}

public enum HTTPDecision: Equatable, Sendable {
  /// 200 with the whole resource.
  case whole
  /// 206 with bytes `start..<end`.
  case range(start: Int, end: Int)
  /// 304: the client's copy is current.
  case notModified
  /// 416: the range asks for nothing the resource has.
  case unsatisfiable
  /// 412: If-Match or If-Unmodified-Since does not hold.
  case preconditionFailed
}

/// What to answer a GET or HEAD for `resource`, from the request's validators and range.
/// `entityTag` is the resource's, made already (made here, only if a validator needs it,
/// when nil).
public func decide(_ request: HTTPRequest, for resource: HTTPResource, entityTag: [UInt8]? = nil) -> HTTPDecision {
  var tag: [UInt8] { entityTag ?? Array(resource.entityTag.utf8) }
  // RFC 9110 13.2.2: If-Match, else If-Unmodified-Since; then If-None-Match, else
  // If-Modified-Since; then If-Range. If-Match compares strongly (a W/ tag never matches).
  if let match = request.header("if-match") {
    let tags = tokens(match)
    if !tags.contains(where: { $0 == [UInt8(ascii: "*")] || $0 == tag }) { return .preconditionFailed }
  } else if let since = request.header("if-unmodified-since"), let date = HTTPDate.parse(since), resource.modified > date {
    return .preconditionFailed
  }
  if let match = request.header("if-none-match") {
    let tags = tokens(match)
    if tags.contains(where: { $0 == [UInt8(ascii: "*")] || weakMatch($0, tag) }) { return .notModified }
  } else if let since = request.header("if-modified-since"), let date = HTTPDate.parse(since), resource.modified <= date {
    return .notModified
  }
  guard let range = request.header("range") else { return .whole }
  // If-Range: the range only if the client's validator still holds (a strong ETag or the date).
  if let condition = request.header("if-range") {
    if condition.first == UInt8(ascii: "\"") {
      if condition != tag { return .whole }
    } else if HTTPDate.parse(condition) != resource.modified {
      return .whole
    }
  }
  return parseRange(range, size: resource.size)
}

/// "bytes=first-last", "bytes=first-" or "bytes=-suffix" (RFC 9110 14.1.2).
func parseRange(_ value: [UInt8], size: Int) -> HTTPDecision {
  guard value.count > 6, asciiEqualsIgnoringCase(Array(value[0..<6]), "bytes=") else { return .whole }
  let specs = tokens(Array(value[6...]))
  guard specs.count == 1, let spec = specs.first, let dash = spec.firstIndex(of: UInt8(ascii: "-")) else { return .whole }
  let first = Array(spec[..<dash])
  let last = Array(spec[(dash + 1)...])
  if first.isEmpty {
    guard let suffix = asciiDecimal(last) else { return .whole }
    guard suffix > 0, size > 0 else { return .unsatisfiable }
    return .range(start: max(size - suffix, 0), end: size)
  }
  guard let start = asciiDecimal(first) else { return .whole }
  guard start < size else { return .unsatisfiable }
  if last.isEmpty { return .range(start: start, end: size) }
  guard let end = asciiDecimal(last), end >= start else { return .whole }
  return .range(start: start, end: min(end + 1, size))
}

/// Weak comparison (RFC 9110 8.8.3.2): equal opaque tags, W/ ignored.
func weakMatch(_ a: [UInt8], _ b: [UInt8]) -> Bool {
  func opaque(_ tag: [UInt8]) -> [UInt8] { tag.starts(with: "W/".utf8) ? Array(tag.dropFirst(2)) : tag }
  return opaque(a) == opaque(b)
}

func hex(_ value: UInt64) -> String {
  let digits = Array("0123456789abcdef".utf8)
  var bytes: [UInt8] = []
  var rest = value
  repeat {
    bytes.append(digits[Int(rest & 0xf)])
    rest >>= 4
  } while rest != 0
  return String(decoding: bytes.reversed(), as: UTF8.self)
}
