// HTTP/1.1 responses: the status line and header fields (RFC 9112 4, 5), written as bytes.
// The body follows separately (the server streams it).

import SiroccoWire

public struct HTTPResponseHead: Sendable {
  public var status: Int
  public var headers: [(name: String, value: String)] = []
  /// Fields already written out (each "Name: value" and CR LF), and how many of `headers`
  /// come before them: what a server says of a resource every time, made once.
  var rendered: (after: Int, bytes: [UInt8])?

  public init(status: Int) { self.status = status }

  public mutating func add(_ name: String, _ value: String) { headers.append((name, value)) }

  /// Fields written out already, each ending in CR LF, to follow those added so far.
  public mutating func add(rendered fields: [UInt8]) {
    precondition(rendered == nil, "one block of rendered fields per head")
    rendered = (headers.count, fields)
  }

  /// The status line and fields, each ending in CR LF, then the empty line.
  public var bytes: [UInt8] {
    var bytes: [UInt8] = []
    write(into: &bytes)
    return bytes
  }

  /// `bytes`, appended to `output` (a connection's pending output, say).
  public func write(into output: inout [UInt8]) {
    output.reserveCapacity(output.count + 160 + (rendered?.bytes.count ?? 0))
    output.append(contentsOf: "HTTP/1.1 ".utf8)
    appendDecimal(status, to: &output)
    output.append(UInt8(ascii: " "))
    output.append(contentsOf: Self.reason(status).utf8)
    output.append(contentsOf: [0x0d, 0x0a])
    for (index, header) in headers.enumerated() {
      if let rendered, rendered.after == index { output.append(contentsOf: rendered.bytes) }
      output.append(contentsOf: header.name.utf8)
      output.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: " ")])
      output.append(contentsOf: header.value.utf8)
      output.append(contentsOf: [0x0d, 0x0a])
    }
    if let rendered, rendered.after == headers.count { output.append(contentsOf: rendered.bytes) }
    output.append(contentsOf: [0x0d, 0x0a])
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
    let name = path.split(separator: UInt8(ascii: "/")).last.map { Array($0) } ?? []
    guard let dot = name.lastIndex(of: UInt8(ascii: ".")) else { return "application/octet-stream" }
    let ext = name[(dot + 1)...].map(asciiLowercase)
    return types.first { $0.0.utf8.elementsEqual(ext) }?.1 ?? "application/octet-stream"
  }
}

/// `value` in decimal, appended (no String made).
func appendDecimal(_ value: Int, to output: inout [UInt8]) {
  precondition(value >= 0, "a negative decimal in a response head")
  var divisor = 1
  while divisor <= value / 10 { divisor *= 10 }
  var rest = value
  while divisor > 0 {
    output.append(UInt8(ascii: "0") + UInt8(rest / divisor))
    rest %= divisor
    divisor /= 10
  }
}
