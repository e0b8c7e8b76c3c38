// Examples/website serving its demo site from a tar archive, on unix over the host's sockets,
// on unix, spt and virtio (QEMU) over TAP in a namespace: with curl (GET, HEAD, 304, ranges,
// 404, keep-alive reuse, pipelining), wrk (256 connections for 10 s, no errors), a corpus of malformed and
// oversized requests and slowloris clients (http_checks.py), and a 100 MB file checked by
// its SHA-256, whole and in a range; a damaged archive refused at boot.

import Foundation
import XCTest

final class WebsiteTests: XCTestCase {
  var archive: TemporaryFile!

  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("curl", "curl"), ("wrk", "wrk"), ("socat", "socat"), ("python3", "python3")])
    try Examples.buildAll()
    archive = try TemporaryFile()
    let made = try runCommand(["tar", "--format=ustar", "-cf", archive.url.path, "-C", Paths.example("website") + "/site", "."])
    XCTAssertEqual(made.status, 0, made.error)
  }

  /// The spt image links no Unicode normalization tables: hashing or comparing String keys
  /// on the request path would link them (about 50 KB of tables and code in an Embedded
  /// image), so the website keys what it keeps by bytes. The ping and DNS images hold none
  /// either.
  func testImagesLinkNoUnicodeNormalizationTables() throws {
    try requireTools([("nm", "binutils")])
    for example in ["website", "ping", "dns-server"] {
      let built = try runCommand([Paths.tool, "build", "--target", "spt", Paths.example(example)], timeout: 900)
      XCTAssertEqual(built.status, 0, built.error)
      let symbols = try runCommand(["nm", built.output.trimmingCharacters(in: .whitespacesAndNewlines)])
      XCTAssertEqual(symbols.status, 0, symbols.error)
      XCTAssertTrue(symbols.output.contains(" T ") || symbols.output.contains(" t "), "\(example): no symbols listed")
      let tables = symbols.output.split(separator: "\n").filter { $0.contains("_swift_stdlib_nfd_decomp") || $0.contains("_swift_stdlib_normData") }
      XCTAssertEqual(tables, [], "\(example).spt links Unicode normalization")
    }
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
    XCTAssertTrue(try curl(namespace, ["-H", "If-Match: \"stale\"", base + "/"]).hasPrefix("HTTP/1.1 412"), label)
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
    // Hostile clients: every malformed request refused with its status and a close, slow
    // clients cut off at the request timeout while others are served.
    let address = String(host[0]), port = String(host[1])
    let corpus = try namespace.exec(["python3", Self.checks, "corpus", address, port], timeout: 240)
    XCTAssertEqual(corpus.status, 0, "\(label): \(corpus.output)\(corpus.error)")
    let slowloris = try namespace.exec(["python3", Self.checks, "slowloris", address, port, "64", "2"], timeout: 30)
    XCTAssertEqual(slowloris.status, 0, "\(label): \(slowloris.output)\(slowloris.error)")
    print("\(label): corpus \(corpus.output)\(label): \(slowloris.output)", terminator: "")
    // wrk: 256 connections for 10 s, no errors of any kind.
    let load = try namespace.exec(["wrk", "-t", "2", "-c", "256", "-d", "10s", base + "/"], timeout: 40)
    XCTAssertEqual(load.status, 0, load.error)
    XCTAssertTrue(load.output.contains("Requests/sec"), load.output)
    XCTAssertFalse(load.output.contains("Socket errors"), "\(label): \(load.output)")
    XCTAssertFalse(load.output.contains("Non-2xx"), "\(label): \(load.output)")
  }

  static let checks = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("http_checks.py").path

  /// The website on `target`, serving `archive`: unix on the host's loopback ("unix-tap": on
  /// the TAP), spt on the TAP.
  func startWebsite(_ namespace: Namespace, target: String, toolOptions: [String] = [], archive: String, blockOptions: [String] = [],
                    parameters: [String] = []) throws -> (Guest, base: String)
  {
    let unix = target == "unix"
    let guest = try Guest(
      namespace, example: "website", target: target == "unix-tap" ? "unix" : target, toolOptions: toolOptions,
      devices: [unix ? "--net-socket:service=127.0.0.1" : "--net:service=tap0", "--block:site=\(archive)"] + blockOptions,
      parameters: ["--port=8080", "--log-level=warning", "--request-timeout=2"] + parameters, readyLine: "")
    let base = "http://\(unix ? "127.0.0.1" : namespace.guestAddress):8080"
    try waitForHTTP(namespace, base + "/")
    return (guest, base)
  }

  /// The access log is asked for (`--access-log`): then one console line per request,
  /// whatever the log level (here warning); without it, none.
  func testAccessLogLinesOnlyWhenAskedFor() throws {
    let namespace = try Namespace()
    for asked in [false, true] {
      let (guest, base) = try startWebsite(namespace, target: "spt", archive: archive.url.path, parameters: asked ? ["--access-log"] : [])
      XCTAssertTrue(try curl(namespace, [base + "/"]).hasPrefix("HTTP/1.1 200"))
      XCTAssertTrue(try curl(namespace, [base + "/nope"]).hasPrefix("HTTP/1.1 404"))
      let output = guest.stop()
      let lines = output.split(separator: "\n").filter { $0.contains("\"GET /") }
      if asked {
        XCTAssertTrue(lines.contains { $0.hasPrefix("10.0.0.1 ") && $0.contains("\"GET / HTTP/1.1\" 200 ") }, output)
        XCTAssertTrue(lines.contains { $0.contains("\"GET /nope HTTP/1.1\" 404 ") }, output)
      } else {
        XCTAssertEqual(lines, [], "an access-log line without --access-log")
      }
    }
  }

  func testUnixOnHostSockets() throws {
    let namespace = try Namespace()
    let (guest, base) = try startWebsite(namespace, target: "unix", archive: archive.url.path)
    defer { guest.stop() }
    try checkSite(namespace, base: base, label: "unix")
    XCTAssertTrue(guest.process.isRunning, "unix: the server survived")
  }

  /// The unix target on Sirocco's own stack over TAP: the same checks as spt, malformed
  /// corpus, slowloris and wrk included.
  func testUnixOverTAP() throws {
    let namespace = try Namespace()
    let (guest, base) = try startWebsite(namespace, target: "unix-tap", archive: archive.url.path)
    defer { guest.stop() }
    XCTAssertEqual(base, "http://\(namespace.guestAddress):8080")
    try checkSite(namespace, base: base, label: "unix-tap")
    XCTAssertTrue(guest.process.isRunning, "unix-tap: the server survived")
  }

  /// An archive with one damaged header (a checksum digit changed in the third entry's
  /// header) is refused at boot on every target: exit 1 (the application failed to start),
  /// and one ERROR line on standard error naming the device, the block and its byte offset.
  func testCorruptArchiveIsRefusedWithOneLine() throws {
    var bytes = try Data(contentsOf: archive.url)
    var headers: [Int] = []
    var offset = 0
    while offset + 512 <= bytes.count, bytes[offset + 257..<offset + 262].elementsEqual("ustar".utf8) {
      headers.append(offset)
      let size = Int(String(decoding: bytes[offset + 124..<offset + 135], as: UTF8.self), radix: 8) ?? 0
      offset += 512 + (size + 511) / 512 * 512
    }
    XCTAssertGreaterThan(headers.count, 3, "the demo site's archive")
    let damaged = headers[2]
    bytes[damaged + 153] ^= 1  // the checksum's last octal digit, still a digit
    let corrupt = try TemporaryFile()
    try bytes.write(to: corrupt.url)
    let block = damaged / 512
    let namespace = try Namespace()
    for target in ["unix", "unix-tap", "spt"] {
      let device = target == "unix" ? "--net-socket:service=127.0.0.1" : "--net:service=tap0"
      let outcome = try namespace.exec(
        [Paths.tool, "run", "--target", target == "spt" ? "spt" : "unix", Paths.example("website"), device,
         "--block:site=\(corrupt.url.path)", "--", "--port=8080"], timeout: 300)
      XCTAssertFalse(outcome.signaled, target)
      XCTAssertEqual(outcome.status, 1, "\(target): \(outcome.output)\(outcome.error)")
      // Standard error has the refusal as its one line (after the tool's build progress);
      // the console (standard output) only the INFO lines of the devices.
      let expected = "ERROR sirocco: website failed to start: block device 'site': not a tar archive, or a damaged one: "
        + "header checksum mismatch at block \(block) (byte \(block * 512))"
      // Solo5's tender has one console, standard output, for everything the guest writes.
      let errors = outcome.diagnosticLines
      let console = outcome.output.split(separator: "\n").filter { !$0.hasPrefix("INFO ") }
      let oneConsole = !Examples.siroccoTender(target, checks: "the guest's own standard error")
      XCTAssertEqual(oneConsole ? console : errors, [Substring(expected)], "\(target): \(outcome.output)\(outcome.error)")
      XCTAssertEqual(oneConsole ? errors : console, [], "\(target): \(outcome.output)\(outcome.error)")
    }
  }

  /// Here `sirocco run` packs the site directory itself, padded to whole 4 KiB sectors.
  func testSPTOverTAP() throws {
    let namespace = try Namespace()
    let (guest, base) = try startWebsite(
      namespace, target: "spt", archive: Paths.example("website") + "/site", blockOptions: ["--block-sector-size:site=4096"])
    defer { guest.stop() }
    let packed = try FileManager.default.attributesOfItem(atPath: Paths.example("website") + "/_build/spt/site.tar")[.size] as? Int ?? 0
    XCTAssertTrue(packed > 0 && packed % 4096 == 0, "the packed archive is whole 4 KiB sectors: \(packed) bytes")
    try checkSite(namespace, base: base, label: "spt")
    XCTAssertTrue(guest.process.isRunning, "spt: the server survived")
  }

  /// Under QEMU (TCG), the archive on virtio-blk and the service on virtio-net: over
  /// virtio-mmio on microvm, over virtio-pci on q35.
  func testVirtioOverTAPOnMicrovmAndQ35() throws {
    try requireTools([("qemu-system-x86_64", "qemu-system-x86")])
    let built = try runCommand([Paths.tool, "build", "--target", "virtio", Paths.example("website")], timeout: 900)
    XCTAssertEqual(built.status, 0, built.error)
    for machine in ["microvm", "q35"] {
      let namespace = try Namespace()
      let (guest, base) = try startWebsite(namespace, target: "virtio", toolOptions: ["--machine=\(machine)"], archive: archive.url.path)
      defer { guest.stop() }
      try checkSite(namespace, base: base, label: "virtio \(machine)")
      XCTAssertTrue(guest.process.isRunning, "virtio \(machine): the server survived")
    }
  }

  /// The file cache: a page is served as first read until a restart, even once the archive
  /// changes under the running unikernel; a file over the largest kept (a sixteenth of
  /// --file-cache) is read afresh each time, and --file-cache=0 keeps nothing.
  func testKeptFilesChangeOnlyAfterARestartAndLargerOnesAreReadAfresh() throws {
    let site = try TemporaryDirectory()
    try Data("version one\n".utf8).write(to: site.url.appendingPathComponent("index.html"))
    try Data(repeating: UInt8(ascii: "a"), count: 8192).write(to: site.url.appendingPathComponent("large.txt"))
    let tarball = try TemporaryFile()
    XCTAssertEqual(try runCommand(["tar", "--format=ustar", "-cf", tarball.url.path, "-C", site.path, "."]).status, 0)
    /// Rewrites `old` in the archive in place (the running unikernel's device reads this file).
    func rewrite(_ old: Data, _ new: Data) throws {
      let range = try XCTUnwrap(try Data(contentsOf: tarball.url).range(of: old), "\(old.count) bytes not in the archive")
      let handle = try FileHandle(forWritingTo: tarball.url)
      try handle.seek(toOffset: UInt64(range.lowerBound))
      try handle.write(contentsOf: new)
      try handle.close()
    }
    for target in ["unix-tap", "spt"] {
      let namespace = try Namespace()
      var (guest, base) = try startWebsite(namespace, target: target, archive: tarball.url.path, parameters: ["--file-cache=65536"])
      XCTAssertTrue(try curl(namespace, [base + "/"]).hasSuffix("version one\n"), target)
      XCTAssertTrue(try curl(namespace, [base + "/large.txt"]).hasSuffix(String(repeating: "a", count: 8192)), target)
      try rewrite(Data("version one".utf8), Data("version two".utf8))
      try rewrite(Data(repeating: UInt8(ascii: "a"), count: 8192), Data(repeating: UInt8(ascii: "b"), count: 8192))
      XCTAssertTrue(try curl(namespace, [base + "/"]).hasSuffix("version one\n"), "\(target): kept until a restart")
      XCTAssertTrue(try curl(namespace, [base + "/large.txt"]).hasSuffix(String(repeating: "b", count: 8192)),
                    "\(target): 8192 bytes are over 65536/16, read afresh")
      _ = guest.stop()
      (guest, base) = try startWebsite(namespace, target: target, archive: tarball.url.path, parameters: ["--file-cache=65536"])
      XCTAssertTrue(try curl(namespace, [base + "/"]).hasSuffix("version two\n"), "\(target): read again after the restart")
      _ = guest.stop()
      // Nothing kept: each request reads the archive.
      (guest, base) = try startWebsite(namespace, target: target, archive: tarball.url.path, parameters: ["--file-cache=0"])
      XCTAssertTrue(try curl(namespace, [base + "/"]).hasSuffix("version two\n"), target)
      try rewrite(Data("version two".utf8), Data("version one".utf8))
      XCTAssertTrue(try curl(namespace, [base + "/"]).hasSuffix("version one\n"), "\(target): --file-cache=0 keeps nothing")
      _ = guest.stop()
      try rewrite(Data(repeating: UInt8(ascii: "b"), count: 8192), Data(repeating: UInt8(ascii: "a"), count: 8192))
    }
  }

  /// 100 MB of random bytes served from the archive: the whole file and a range in its middle
  /// arrive with the SHA-256 of the original, from unix on host sockets and on TAP, and spt.
  func testLargeFileVerifiedByHash() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-large-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let big = directory.appendingPathComponent("big.bin").path, tarball = directory.appendingPathComponent("large.tar").path
    let made = try runCommand(["bash", "-c", "head -c 100000000 /dev/urandom > \(big) && tar --format=ustar -cf \(tarball) -C \(directory.path) big.bin"])
    XCTAssertEqual(made.status, 0, made.error)
    let expected = try runCommand(["bash", "-c", "sha256sum < \(big); tail -c +50000001 \(big) | head -c 1000000 | sha256sum"]).output
    for target in ["unix", "unix-tap", "spt"] {
      let namespace = try Namespace()
      let (guest, base) = try startWebsite(namespace, target: target, archive: tarball)
      defer { guest.stop() }
      let start = Date()
      let got = try namespace.shell(
        "curl -sf --max-time 60 \(base)/big.bin | sha256sum; curl -sf --max-time 10 -r 50000000-50999999 \(base)/big.bin | sha256sum",
        timeout: 90)
      XCTAssertEqual(got.output, expected, "\(target): \(got.error)")
      print("\(target): 100 MB and a 1 MB range verified in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
    }
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
