// HTTP/1.1 responses: the status line and header fields (RFC 9112 4, 5), written as bytes.
// The body follows separately (the server streams it).

import SiroccoWire

public struct HTTPResponseHead: Sendable {
  public var status: Int
  /// The fields added so far, written out: each "Name: value" and CR LF, in the order added.
  public private(set) var fields: [UInt8] = []

  public init(status: Int) { self.status = status }

  public mutating func add(_ name: String, _ value: String) {
    writing { Self.writeField(name, value, to: &$0) }
  }

  /// A field whose value is a decimal number (Content-Length), written without a String.
  public mutating func add(_ name: String, decimal value: Int) {
    writing { text in
      text.append(name)
      text.append(literal: ": ")
      text.append(decimal: value)
      text.append(literal: "\r\n")
    }
  }

  /// Fields written out already, each ending in CR LF (what a server says of a resource
  /// every time, made once), to follow those added so far.
  public mutating func add(rendered fields: [UInt8]) {
    reserve(fields.count)
    self.fields += fields
  }

  /// Room for the usual head at the first field: one allocation per head.
  mutating func reserve(_ count: Int) {
    if fields.capacity < fields.count + count { fields.reserveCapacity(max(512, 2 * fields.count + count)) }
  }

  /// `write` over `fields` as `Text` (swapped in and back, not copied).
  mutating func writing(_ body: (inout Text) -> Void) {
    reserve(64)
    var text = Text()
    swap(&text.bytes, &fields)
    body(&text)
    swap(&text.bytes, &fields)
  }

  /// The status line and fields, each ending in CR LF, then the empty line.
  public var bytes: [UInt8] {
    var bytes: [UInt8] = []
    write(into: &bytes)
    return bytes
  }

  /// `bytes`, appended to `output` (a connection's pending output, say).
  public func write(into output: inout [UInt8]) {
    var text = Text()
    swap(&text.bytes, &output)
    defer { swap(&text.bytes, &output) }
    text.bytes.reserveCapacity(text.bytes.count + 48 + fields.count)
    text.append(literal: "HTTP/1.1 ")
    text.append(decimal: status)
    text.append(byte: UInt8(ascii: " "))
    text.append(Self.reason(status))
    text.append(literal: "\r\n")
    text.bytes += fields
    text.append(literal: "\r\n")
  }

  /// One field, "Name: value" and CR LF.
  static func writeField(_ name: String, _ value: String, to text: inout Text) {
    text.append(name)
    text.append(literal: ": ")
    text.append(value)
    text.append(literal: "\r\n")
  }

  /// The reason phrase of the statuses this server sends (RFC 9110 15).
  public static func reason(_ status: Int) -> String {
    switch status {
    case 200: "OK"
    case 204: "No Content"
    case 206: "Partial Content"
    case 301: "Moved Permanently"
    case 304: "Not Modified"
    case 400: "Bad Request"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 408: "Request Timeout"
    case 412: "Precondition Failed"
    case 413: "Content Too Large"
    case 414: "URI Too Long"
    case 416: "Range Not Satisfiable"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 501: "Not Implemented"
    case 503: "Service Unavailable"
    case 505: "HTTP Version Not Supported"
    default: "Status"
    }
  }
}

/// Content-Type by file extension (the common web types; application/octet-stream else).
public enum MediaType {
  static let types: [(String, String)] = [
    ("html", "text/html; charset=utf-8"), ("htm", "text/html; charset=utf-8"), ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"), ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"), ("txt", "text/plain; charset=utf-8"), ("md", "text/markdown; charset=utf-8"),
    ("xml", "application/xml"), ("svg", "image/svg+xml"), ("png", "image/png"), ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"), ("gif", "image/gif"), ("webp", "image/webp"), ("avif", "image/avif"), ("ico", "image/x-icon"),
    ("woff", "font/woff"), ("woff2", "font/woff2"), ("ttf", "font/ttf"), ("otf", "font/otf"), ("pdf", "application/pdf"),
    ("wasm", "application/wasm"), ("mp4", "video/mp4"), ("webm", "video/webm"), ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"), ("wav", "audio/wav"), ("zip", "application/zip"), ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
  ]

  /// The type for a path's extension, compared without case.
  public static func forPath(_ path: [UInt8]) -> String {
    let name = path.pieces(separatedBy: UInt8(ascii: "/")).last.map { Array($0) } ?? []
    guard let dot = name.lastIndex(of: UInt8(ascii: ".")) else { return "application/octet-stream" }
    let ext = name[(dot + 1)...].map(asciiLowercase)
    return types.first { $0.0.utf8.elementsEqual(ext) }?.1 ?? "application/octet-stream"
  }
}
