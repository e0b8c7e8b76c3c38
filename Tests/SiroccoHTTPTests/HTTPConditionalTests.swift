// Validators, conditional requests, byte ranges, media types and response heads.

@testable import SiroccoHTTP
import XCTest

final class HTTPConditionalTests: XCTestCase {
  let resource = HTTPResource(size: 1000, modified: 784_111_777)

  func request(_ fields: [String]) throws -> HTTPRequest {
    var parser = HTTPRequestParser()
    parser.append(Array(("GET /f HTTP/1.1\r\nHost: h\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n").utf8))
    return try XCTUnwrap(try parser.next())
  }

  func testValidators() throws {
    let tag = resource.entityTag
    XCTAssertEqual(tag, "\"2ebc98a1-3e8\"")
    XCTAssertEqual(decide(try request([]), for: resource), .whole)
    XCTAssertEqual(decide(try request(["If-None-Match: " + tag]), for: resource), .notModified)
    XCTAssertEqual(decide(try request(["If-None-Match: \"other\", W/" + tag]), for: resource), .notModified, "weak comparison")
    XCTAssertEqual(decide(try request(["If-None-Match: *"]), for: resource), .notModified)
    XCTAssertEqual(decide(try request(["If-None-Match: \"other\""]), for: resource), .whole)
    XCTAssertEqual(decide(try request(["If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"]), for: resource), .notModified)
    XCTAssertEqual(decide(try request(["If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT"]), for: resource), .whole)
    XCTAssertEqual(decide(try request(["If-Modified-Since: garbage"]), for: resource), .whole)
    // Preconditions (412): If-Match compares strongly; If-Unmodified-Since only without it.
    XCTAssertEqual(decide(try request(["If-Match: \"other\", " + tag]), for: resource), .whole)
    XCTAssertEqual(decide(try request(["If-Match: *"]), for: resource), .whole)
    XCTAssertEqual(decide(try request(["If-Match: W/" + tag]), for: resource), .preconditionFailed, "strong comparison")
    XCTAssertEqual(decide(try request(["If-Match: \"other\""]), for: resource), .preconditionFailed)
    XCTAssertEqual(decide(try request(["If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT"]), for: resource), .preconditionFailed)
    XCTAssertEqual(decide(try request(["If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT"]), for: resource), .whole)
    XCTAssertEqual(decide(try request(["If-Unmodified-Since: garbage"]), for: resource), .whole, "an invalid date is ignored")
    XCTAssertEqual(
      decide(try request(["If-Match: " + tag, "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT"]), for: resource), .whole,
      "If-Match wins over If-Unmodified-Since")
    XCTAssertEqual(
      decide(try request(["If-Match: \"other\"", "If-None-Match: " + tag]), for: resource), .preconditionFailed,
      "preconditions before If-None-Match")
    // A list over several field lines is one list; a comma inside a quoted tag separates nothing.
    XCTAssertEqual(decide(try request(["If-Match: \"other\"", "If-Match: " + tag]), for: resource), .whole)
    XCTAssertEqual(decide(try request(["If-None-Match: \"a,b\", " + tag]), for: resource), .notModified)
    XCTAssertEqual(tokens(Array("\"a,b\" , c,,\"d\\\",e\"".utf8)).map { String(decoding: $0, as: UTF8.self) }, ["\"a,b\"", "c", "\"d\\\",e\""])
    // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    XCTAssertEqual(
      decide(try request(["If-None-Match: \"other\"", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"]), for: resource), .whole)
  }

  func testRanges() throws {
    func range(_ value: String, _ more: [String] = []) throws -> HTTPDecision {
      decide(try request(["Range: " + value] + more), for: resource)
    }
    XCTAssertEqual(try range("bytes=0-99"), .range(start: 0, end: 100))
    XCTAssertEqual(try range("bytes=900-"), .range(start: 900, end: 1000))
    XCTAssertEqual(try range("bytes=-100"), .range(start: 900, end: 1000))
    XCTAssertEqual(try range("bytes=-5000"), .range(start: 0, end: 1000))
    XCTAssertEqual(try range("bytes=990-5000"), .range(start: 990, end: 1000))
    XCTAssertEqual(try range("bytes=1000-"), .unsatisfiable)
    XCTAssertEqual(try range("bytes=-0"), .unsatisfiable)
    XCTAssertEqual(try range("bytes=5-2"), .whole, "invalid: ignored")
    XCTAssertEqual(try range("bytes=0-1,5-6"), .whole, "several ranges: the whole resource")
    XCTAssertEqual(try range("items=0-1"), .whole)
    XCTAssertEqual(try range("bytes=0-9", ["If-Range: " + resource.entityTag]), .range(start: 0, end: 10))
    XCTAssertEqual(try range("bytes=0-9", ["If-Range: \"stale\""]), .whole)
    XCTAssertEqual(try range("bytes=0-9", ["If-Range: Sun, 06 Nov 1994 08:49:37 GMT"]), .range(start: 0, end: 10))
    XCTAssertEqual(try range("bytes=0-9", ["If-Range: Mon, 07 Nov 1994 08:49:37 GMT"]), .whole)
  }

  func testMediaTypesAndResponseHead() {
    XCTAssertEqual(MediaType.forPath(Array("/index.HTML".utf8)), "text/html; charset=utf-8")
    XCTAssertEqual(MediaType.forPath(Array("/a/b.css".utf8)), "text/css; charset=utf-8")
    XCTAssertEqual(MediaType.forPath(Array("/movie.mp4".utf8)), "video/mp4")
    XCTAssertEqual(MediaType.forPath(Array("/noextension".utf8)), "application/octet-stream")
    XCTAssertEqual(MediaType.forPath(Array("/dir.d/file".utf8)), "application/octet-stream")
    var head = HTTPResponseHead(status: 206)
    head.add("Content-Range", "bytes 0-9/1000")
    head.add("Content-Length", "10")
    XCTAssertEqual(String(decoding: head.bytes, as: UTF8.self),
                   "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/1000\r\nContent-Length: 10\r\n\r\n")
    // Fields written out ahead go where they were added: between others, or last.
    var between = HTTPResponseHead(status: 200)
    between.add("Date", "d")
    between.add(rendered: Array("ETag: \"1\"\r\n".utf8))
    between.add("Content-Length", "0")
    XCTAssertEqual(String(decoding: between.bytes, as: UTF8.self), "HTTP/1.1 200 OK\r\nDate: d\r\nETag: \"1\"\r\nContent-Length: 0\r\n\r\n")
    var last = HTTPResponseHead(status: 404)
    last.add(rendered: Array("X: y\r\n".utf8))
    var output = Array("before|".utf8)
    last.write(into: &output)
    XCTAssertEqual(String(decoding: output, as: UTF8.self), "before|HTTP/1.1 404 Not Found\r\nX: y\r\n\r\n")
    for status in [200, 304, 416, 505] {
      XCTAssertTrue(String(decoding: HTTPResponseHead(status: status).bytes, as: UTF8.self).hasPrefix("HTTP/1.1 \(status) "), "\(status)")
    }
  }
}
