// HTTP/1.1 request parsing: well-formed requests (pipelined, split anywhere, bodies), every
// limit, and a corpus of malformed requests, each refused with its status.

@testable import SiroccoHTTP
import XCTest

final class HTTPRequestTests: XCTestCase {
  func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

  func parseAll(_ text: String, limits: HTTPLimits = HTTPLimits()) throws -> [HTTPRequest] {
    var parser = HTTPRequestParser(limits: limits)
    parser.append(bytes(text))
    var requests: [HTTPRequest] = []
    while let request = try parser.next() { requests.append(request) }
    return requests
  }

  /// The requests parsed from `text` fed one byte at a time, and the parser after them.
  func parseByteByByte(_ text: String) throws -> ([HTTPRequest], HTTPRequestParser) {
    var parser = HTTPRequestParser()
    var requests: [HTTPRequest] = []
    for byte in bytes(text) {
      parser.append([byte])
      while let request = try parser.next() { requests.append(request) }
    }
    return (requests, parser)
  }

  func testASimpleGET() throws {
    let requests = try parseAll("GET /index.html?x=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent:  curl/8  \r\n\r\n")
    XCTAssertEqual(requests.count, 1)
    let request = requests[0]
    XCTAssertTrue(request.methodIs("GET"))
    XCTAssertEqual(request.target, bytes("/index.html?x=1"))
    XCTAssertEqual(request.path, bytes("/index.html"))
    XCTAssertEqual(request.query, bytes("x=1"))
    XCTAssertEqual(request.minorVersion, 1)
    XCTAssertEqual(request.header("HOST"), bytes("example.org"))
    XCTAssertEqual(request.header("user-agent"), bytes("curl/8"), "surrounding white space trimmed")
    XCTAssertTrue(request.keepAlive)
  }

  func testPipelinedRequestsSplitAtEveryByte() throws {
    let text = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
      + "POST /c HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"
    let whole = try parseAll(text)
    XCTAssertEqual(whole.map { String(decoding: $0.target, as: UTF8.self) }, ["/a", "/b", "/c"])
    XCTAssertEqual(whole[2].body, bytes("hello"))
    XCTAssertEqual(whole.map(\.keepAlive), [true, false, false])
    // The same bytes arriving one at a time give the same requests.
    let (pieces, parser) = try parseByteByByte(text)
    XCTAssertEqual(pieces, whole)
    XCTAssertTrue(parser.buffered.isEmpty)
  }

  func testLeniencies() throws {
    // Bare LF line ends and empty lines before a request (RFC 9112 2.2); absolute form.
    let requests = try parseAll("\r\n\nGET http://example.org/p%20q HTTP/1.1\nHost: example.org\n\n")
    XCTAssertEqual(requests.first?.path, bytes("/p q"))
    let keepAlive10 = try parseAll("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    XCTAssertTrue(keepAlive10[0].keepAlive)
    XCTAssertFalse(try parseAll("GET / HTTP/1.0\r\n\r\n")[0].keepAlive)
    XCTAssertEqual(try parseAll("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")[0].target, bytes("*"))
  }

  /// Bytes read straight into the parser's buffer (as the server reads a connection) make
  /// the same requests as bytes appended; a reader that claims more than its room is held to it.
  func testReadingStraightIntoTheBuffer() throws {
    let text = bytes("GET /a HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\nGET /b?q HTTP/1.1\r\nHost: h\r\n\r\n")
    var parser = HTTPRequestParser()
    var offset = 0, requests: [HTTPRequest] = []
    while offset < text.count {
      let taken = parser.append(maximum: 7) { room in
        let count = min(5, text.count - offset)  // less than offered
        text.withUnsafeBytes { room.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
        return count
      }
      XCTAssertEqual(taken, min(5, text.count - offset))
      offset += taken
      while let request = try parser.next() { requests.append(request) }
    }
    XCTAssertEqual(requests, try parseAll(String(decoding: text, as: UTF8.self)))
    XCTAssertEqual(requests.map(\.target), [bytes("/a"), bytes("/b?q")])
    XCTAssertEqual(requests[0].header("accept"), bytes("*/*"))
    XCTAssertTrue(parser.isIdle)
    XCTAssertEqual(parser.append(maximum: 4) { _ in 1000 }, 4, "a reader's count is bounded by the room it was given")
    XCTAssertEqual(parser.buffered.count, 4)
    XCTAssertEqual(parser.append(maximum: 0) { _ in XCTFail("no room, no read"); return 0 }, 0)
  }

  func testLimits() throws {
    var limits = HTTPLimits()
    limits.requestLine = 64
    limits.headerBytes = 256
    limits.headerCount = 5
    limits.body = 10
    func status(_ text: String) -> Int? {
      do {
        _ = try parseAll(text, limits: limits)
        return nil
      } catch { return (error as? HTTPRequestError)?.status }
    }
    XCTAssertEqual(status("GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\nHost: h\r\n\r\n"), 414)
    XCTAssertEqual(status("GET /" + String(repeating: "a", count: 100)), 414, "an unfinished long request line")
    XCTAssertEqual(status("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "b", count: 300) + "\r\n\r\n"), 431)
    XCTAssertEqual(status("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "b", count: 300)), 431, "unfinished")
    XCTAssertEqual(status("GET / HTTP/1.1\r\nHost: h\r\n" + String(repeating: "A: 1\r\n", count: 6) + "\r\n"), 431)
    XCTAssertEqual(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"), 413)
    XCTAssertNil(status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"))
  }

  func testChunkedBodies() throws {
    // Sizes in either case, extensions, a trailer, then a pipelined request.
    let text = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
      + "5;name=value\r\nhello\r\nA \r\n, chunked!\r\n0\r\nX-Sum: 1\r\n\r\n"
      + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    let whole = try parseAll(text)
    guard whole.count == 2 else { return XCTFail("\(whole.count) requests") }
    XCTAssertEqual(whole[0].body, bytes("hello, chunked!"))
    XCTAssertEqual(whole[1].target, bytes("/next"))
    // Split at every byte: the same requests, and idle only between them.
    let (pieces, parser) = try parseByteByByte(text)
    XCTAssertEqual(pieces, whole)
    XCTAssertTrue(parser.isIdle)
    var partial = HTTPRequestParser()
    partial.append(bytes("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"))
    XCTAssertNil(try partial.next())
    XCTAssertFalse(partial.isIdle, "a body under way is not idle")
    XCTAssertTrue(partial.buffered.isEmpty)
  }

  /// A million one-byte chunks, and a body trickled a byte at a time, parse in linear time:
  /// consumed bytes are not moved and the body is not copied per chunk.
  func testManySmallChunks() throws {
    var limits = HTTPLimits()
    limits.body = 1_000_000
    var parser = HTTPRequestParser(limits: limits)
    parser.append(bytes("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"))
    let chunk = bytes("1\r\nA\r\n")
    var block: [UInt8] = []
    for _ in 0..<10_000 { block += chunk }
    for _ in 0..<100 {
      parser.append(block)
      XCTAssertNil(try parser.next())
    }
    parser.append(bytes("0\r\n\r\n"))
    let request = try parser.next()
    XCTAssertEqual(request?.body.count, 1_000_000)
    XCTAssertEqual(request?.body.allSatisfy { $0 == UInt8(ascii: "A") }, true)
    XCTAssertTrue(parser.isIdle)
  }

  /// The limits give the same answer however the bytes are split.
  func testLimitsDoNotDependOnHowBytesArrive() throws {
    var limits = HTTPLimits()
    limits.requestLine = 40
    limits.headerBytes = 100
    func outcome(_ text: String, split: Bool) -> Int {
      var parser = HTTPRequestParser(limits: limits)
      do {
        for piece in split ? bytes(text).map({ [$0] }) : [bytes(text)] {
          parser.append(piece)
          if try parser.next() != nil { return 200 }
        }
        return 0
      } catch { return error.status }
    }
    let line = "GET /" + String(repeating: "a", count: 26) + " HTTP/1.1"  // 40 bytes
    // The section before its final empty line: 40 + 2 + 9 + 3 + 45 + 1 (its last CR) = 100 bytes.
    let fitting = line + "\r\nHost: h\r\nX: " + String(repeating: "b", count: 45) + "\r\n\r\n"
    XCTAssertEqual(outcome(fitting, split: false), 200)
    XCTAssertEqual(outcome(fitting, split: true), 200)
    let longLine = "GET /" + String(repeating: "a", count: 27) + " HTTP/1.1\r\nHost: h\r\n\r\n"
    XCTAssertEqual(outcome(longLine, split: false), 414)
    XCTAssertEqual(outcome(longLine, split: true), 414)
    let longSection = line + "\r\nHost: h\r\nX: " + String(repeating: "b", count: 46) + "\r\n\r\n"
    XCTAssertEqual(outcome(longSection, split: false), 431)
    XCTAssertEqual(outcome(longSection, split: true), 431)
  }

  func testChunkedLimits() {
    var limits = HTTPLimits()
    limits.body = 10
    limits.headerBytes = 64
    func status(_ body: String) -> Int? {
      do {
        _ = try parseAll("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body, limits: limits)
        return nil
      } catch { return (error as? HTTPRequestError)?.status }
    }
    XCTAssertNil(status("5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"), "exactly the limit")
    XCTAssertEqual(status("5\r\n01234\r\n6\r\n"), 413, "refused at the size line, before the data")
    XCTAssertEqual(status("0\r\nX: " + String(repeating: "t", count: 80) + "\r\n\r\n"), 431, "trailer too long")
    XCTAssertEqual(status("0\r\nX: " + String(repeating: "t", count: 80)), 431, "unfinished trailer too long")
    XCTAssertEqual(status("1;" + String(repeating: "e", count: 5000)), 400, "endless chunk extension")
  }

  /// Every one refused, with the right status, and never a crash.
  func testMalformedRequestCorpus() throws {
    let corpus: [(String, Int)] = [
      ("GET\r\n\r\n", 400),
      ("GET /\r\n\r\n", 400),
      ("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400),
      ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
      ("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
      ("GET / HTTP/1.1\r\n\r\n", 400),
      ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
      ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
      ("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400),
      ("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400),
      ("GET / http/1.1\r\nHost: h\r\n\r\n", 400),
      ("GET index.html HTTP/1.1\r\nHost: h\r\n\r\n", 400),
      ("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
      ("GET / HTTP/1.1\r\nHost h\r\n\r\n", 400),
      ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
      ("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),
      ("GET / HTTP/1.1\r\n: empty\r\nHost: h\r\n\r\n", 400),
      ("GET / HTTP/1.1\r\nHost: h\u{01}\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
      ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Field: x\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 413),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n0\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxx\n0\r\n\r\n", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello", 400),
      ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n", 400),
      ("GET /a\u{7f}b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ]
    for (text, expected) in corpus {
      XCTAssertThrowsError(try parseAll(text), text.debugDescription) { error in
        XCTAssertEqual((error as? HTTPRequestError)?.status, expected, text.debugDescription)
      }
    }
    // Bad escapes make no path (the server answers 400); %00 never becomes a byte.
    for target in ["/a%2", "/a%zz", "/a%00b"] {
      XCTAssertNil(try parseAll("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n")[0].path, target)
    }
  }

  /// Random bytes and random mutations of a valid request: every outcome is a request, a
  /// refusal or a wait for more, never a trap.
  func testRandomInputNeverTraps() {
    var state: UInt64 = 0x1234_5678
    func next() -> UInt64 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return state >> 33
    }
    let valid = bytes("GET /index.html HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
    for round in 0..<5000 {
      var input = valid
      if round % 2 == 0 {
        for _ in 0..<(1 + next() % 4) { input[Int(next() % UInt64(input.count))] = UInt8(truncatingIfNeeded: next()) }
      } else {
        input = (0..<Int(next() % 200)).map { _ in UInt8(truncatingIfNeeded: next()) }
      }
      var parser = HTTPRequestParser()
      parser.append(input)
      for _ in 0..<4 { _ = try? parser.next() }
    }
  }
}

final class HTTPDateTests: XCTestCase {
  func testFormatAndTheThreeFormsParsed() {
    XCTAssertEqual(HTTPDate.format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
    XCTAssertEqual(HTTPDate.format(0), "Thu, 01 Jan 1970 00:00:00 GMT")
    XCTAssertEqual(HTTPDate.format(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT")
    XCTAssertEqual(HTTPDate.format(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT")
    for text in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
      XCTAssertEqual(HTTPDate.parse(Array(text.utf8)), 784_111_777, text)
    }
    for seconds: Int64 in [0, 1, 86_399, 86_400, 951_868_799, 4_102_444_800, 1_763_712_000] {
      XCTAssertEqual(HTTPDate.parse(Array(HTTPDate.format(seconds).utf8)), seconds)
    }
    for bad in ["", "yesterday", "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT"] {
      XCTAssertNil(HTTPDate.parse(Array(bad.utf8)), bad)
    }
  }
}
