// Examples/website serving its demo site from a tar archive: with curl (GET, HEAD, 304,
// ranges, 404, keep-alive reuse, pipelining) and wrk (256 connections, no errors), on unix
// over the host's sockets and on spt over TAP in a namespace.

import Foundation
import XCTest

final class WebsiteTests: XCTestCase {
  var archive: TemporaryFile!

  override func setUpWithError() throws {
    try requireNamespaces()
    for tool in ["/usr/bin/curl", "/usr/bin/wrk"] where !FileManager.default.isExecutableFile(atPath: tool) {
      throw XCTSkip("\(tool) is not installed (apt-get install curl wrk)")
    }
    try Examples.buildAll()
    archive = try TemporaryFile()
    let made = try runCommand(["tar", "--format=ustar", "-cf", archive.url.path, "-C", Paths.example("website") + "/site", "."])
    XCTAssertEqual(made.status, 0, made.error)
  }

  /// curl's view of one request: status, then the headers and body it printed.
  func curl(_ namespace: Namespace, _ arguments: [String]) throws -> String {
    try namespace.exec(["curl", "-s", "-i", "--max-time", "5"] + arguments, timeout: 10).output
  }

  func checkSite(_ namespace: Namespace, base: String, label: String) throws {
    let home = try curl(namespace, [base + "/"])
    XCTAssertTrue(home.hasPrefix("HTTP/1.1 200 OK"), "\(label): \(home)")
    XCTAssertTrue(home.contains("Hello from a Sirocco unikernel"), label)
    let tag = home.split(separator: "\r\n").first { $0.lowercased().hasPrefix("etag:") }.map { String($0.dropFirst(6)) } ?? ""
    XCTAssertTrue(try curl(namespace, ["-H", "If-None-Match: \(tag)", base + "/"]).hasPrefix("HTTP/1.1 304"), label)
    let head = try curl(namespace, ["-I", base + "/css/site.css"])
    XCTAssertTrue(head.contains("Content-Type: text/css; charset=utf-8"), "\(label): \(head)")
    let range = try curl(namespace, ["-H", "Range: bytes=0-3", base + "/css/site.css"])
    XCTAssertTrue(range.hasPrefix("HTTP/1.1 206") && range.hasSuffix("body"), "\(label): \(range)")
    let missing = try curl(namespace, [base + "/nope"])
    XCTAssertTrue(missing.hasPrefix("HTTP/1.1 404") && missing.contains("Nothing here"), label)
    // Keep-alive: curl reuses one connection for both URLs.
    let reuse = try namespace.exec(
      ["curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects} ", base + "/", base + "/css/site.css"], timeout: 10)
    XCTAssertEqual(reuse.output, "1 0 ", label)
    // Pipelining: three requests in one write, three answers in order.
    let host = base.replacingOccurrences(of: "http://", with: "").split(separator: ":")
    let pipelined = try namespace.shell(
      "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /nope HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nHEAD / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'"
        + " | socat -t 3 - TCP:\(host[0]):\(host[1]) | grep -a '^HTTP/1.1'", timeout: 10)
    XCTAssertEqual(pipelined.output, "HTTP/1.1 200 OK\r\nHTTP/1.1 404 Not Found\r\nHTTP/1.1 200 OK\r\n", label)
    // wrk: 256 connections for 5 s, no errors of any kind.
    let load = try namespace.exec(["wrk", "-t", "2", "-c", "256", "-d", "5s", base + "/"], timeout: 30)
    XCTAssertEqual(load.status, 0, load.error)
    XCTAssertTrue(load.output.contains("Requests/sec"), load.output)
    XCTAssertFalse(load.output.contains("Socket errors"), "\(label): \(load.output)")
    XCTAssertFalse(load.output.contains("Non-2xx"), "\(label): \(load.output)")
  }

  func testUnixOnHostSockets() throws {
    let namespace = try Namespace()
    let guest = try Guest(
      namespace, example: "website", devices: ["--net-socket:service=127.0.0.1", "--block:site=\(archive.url.path)"],
      parameters: ["--port=8080", "--log-level=warning"], readyLine: "")
    defer { guest.stop() }
    try waitForHTTP(namespace, "http://127.0.0.1:8080/")
    try checkSite(namespace, base: "http://127.0.0.1:8080", label: "unix")
  }

  func testSPTOverTAP() throws {
    let namespace = try Namespace()
    let guest = try Guest(
      namespace, example: "website", target: "spt", devices: ["--net:service=tap0", "--block:site=\(archive.url.path)"],
      parameters: ["--port=80", "--log-level=warning"], readyLine: "")
    defer { guest.stop() }
    try waitForHTTP(namespace, "http://\(namespace.guestAddress):80/")
    try checkSite(namespace, base: "http://\(namespace.guestAddress):80", label: "spt")
  }

  /// Waits (bounded) until the server answers.
  func waitForHTTP(_ namespace: Namespace, _ url: String) throws {
    for _ in 0..<50 {
      if try namespace.exec(["curl", "-s", "-o", "/dev/null", "--max-time", "1", url], timeout: 5).status == 0 { return }
      usleep(100_000)
    }
    XCTFail("no answer from \(url)")
  }
}
