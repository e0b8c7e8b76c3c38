// The in-process benchmark of the network core in its short form, as CI's guard against
// regressions (absolute times are too noisy on shared runners for anything finer):
// sirocco-benchmarks, built in release in the unix kit's scratch directory (so its Sirocco
// modules are the ones the unix kit links), echoes 200,000 ICMP requests per size and
// family, best of 3. The steady state must allocate nothing on the heap per frame (counted
// by CAllocationCounter, which replaces malloc and its kin in that program, and which the
// program checks sees the Swift runtime's allocations), and the frame rate must stay above
// a floor about a quarter of this machine's figures when it was set (BENCHMARKS.md, "Network
// core, in process"): a run four times slower fails. The same program then serves 20,000
// requests for a small page through StaticSiteServer (parsing, one store lookup, the
// response written): at most 6 heap allocations per request (4 on 2026-12-06, 38 before the
// parser worked in place) and a quarter of that day's rate.
// Then TCP's timers with 10,000 connections against 100 (the timer wheel's guard).
// Scripts/bench runs the same benchmark longer and compares each figure with its last record.

import Foundation
import XCTest

final class BenchmarkRegressionTests: XCTestCase {
  /// Frames per second below which a size and family fails: about a quarter of the figures
  /// of 2026-12-06 (6.58, 6.25, 2.62 and 2.75 million frames/s; BENCHMARKS.md).
  static let floors: [String: Double] = [
    "IPv4 56": 1_600_000, "IPv6 56": 1_500_000, "IPv4 1400": 650_000, "IPv6 1400": 650_000,
  ]

  /// sirocco-benchmarks, built in release in the unix kit's scratch directory (nil and a
  /// failure recorded if it does not build).
  func benchmarkProgram() throws -> String? {
    // The unix kit first, so that the benchmark's build reuses its modules.
    if let failure = buildApplication(Paths.example("hello"), target: "unix", timeout: 1200) {
      XCTFail(failure)
      return nil
    }
    let scratch = Paths.root.appendingPathComponent(".build-unix")
    let built = try runCommand(
      ["swift", "build", "--quiet", "-c", "release", "--package-path", Paths.root.path, "--scratch-path", scratch.path,
       "--product", "sirocco-benchmarks"], timeout: 1200)
    XCTAssertEqual(built.status, 0, built.output + built.error)
    return built.status == 0 ? scratch.appendingPathComponent("release/sirocco-benchmarks").path : nil
  }

  func testEchoAllocatesNothingPerFrameAndKeepsAboveItsFloor() throws {
    guard let benchmark = try benchmarkProgram() else { return }
    let outcome = try runCommand([benchmark, "200000", "3"], timeout: 300)
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    print(outcome.output)
    XCTAssertTrue(outcome.output.contains("allocation counter: in effect"), outcome.output)
    // "echo IPv4 payload 56 B: 4123456 frames/s (243 ns/frame, 0.0 allocations/frame)"
    var seen: Set<String> = []
    for line in outcome.output.split(separator: "\n") where line.hasPrefix("echo IPv") {
      let words = line.split(separator: " ")
      let key = "\(words[1]) \(words[3])"
      let rate = try XCTUnwrap(Double(words[5]), String(line))
      let allocations = try XCTUnwrap(words.firstIndex(of: "allocations/frame)").flatMap { Double(words[$0 - 1]) }, String(line))
      let floor = try XCTUnwrap(Self.floors[key], "unexpected size and family: \(line)")
      seen.insert(key)
      XCTAssertEqual(allocations, 0, "\(key): the echo path allocates on the heap: \(line)")
      XCTAssertGreaterThanOrEqual(rate, floor, "\(key): below a quarter of the slowest recorded rate: \(line)")
    }
    XCTAssertEqual(seen, Set(Self.floors.keys), outcome.output)
    // "http small page: 650000 requests/s (1538 ns/request, 2.0 allocations/request, 549 B/response)"
    let http = try XCTUnwrap(outcome.output.split(separator: "\n").first { $0.hasPrefix("http small page:") }, outcome.output)
    let words = http.split(separator: " ")
    let rate = try XCTUnwrap(Double(words[3]), String(http))
    let allocations = try XCTUnwrap(words.firstIndex(of: "allocations/request,").flatMap { Double(words[$0 - 1]) }, String(http))
    XCTAssertLessThanOrEqual(allocations, Self.httpAllocationBound, "the request path allocates more than it did: \(http)")
    XCTAssertGreaterThanOrEqual(rate, Self.httpFloor, "below a quarter of the recorded rate: \(http)")
    XCTAssertTrue(http.hasSuffix("549 B/response)"), "the response is not the page's: \(http)")
  }

  /// TCP's timers (`sirocco-benchmarks timers`): a keep-alive probe coming due among 10,000
  /// connections costs at most 3 times what it costs among 100, and so does an idle turn.
  /// With the timer wheel both ratios were 0.75-1.2 on 2026-12-06; scanning the connections
  /// for the next deadline, as the stack did before it, made the probe's 10.4-11.9.
  func testTCPTimersCostNoMoreAmongTenThousandConnectionsThanAmongAHundred() throws {
    guard let benchmark = try benchmarkProgram() else { return }
    let outcome = try runCommand([benchmark, "timers", "3"], timeout: 300)
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    print(outcome.output)
    // "tcp timers, 10000 connections: idle turn 221 ns, 913 ns per keep-alive probe (10000 probes)"
    var costs: [Int: (idle: Double, probe: Double)] = [:]
    for line in outcome.output.split(separator: "\n") where line.hasPrefix("tcp timers, ") && line.hasSuffix("probes)") {
      let words = line.split(separator: " ")
      let connections = try XCTUnwrap(Int(words[2]), String(line))
      let idle = try XCTUnwrap(Double(words[6]), String(line))
      let probe = try XCTUnwrap(Double(words[8]), String(line))
      XCTAssertTrue(line.hasSuffix("(\(connections) probes)"), "every connection sends its probe: \(line)")
      costs[connections] = (idle, probe)
    }
    let few = try XCTUnwrap(costs[100], outcome.output), many = try XCTUnwrap(costs[10_000], outcome.output)
    XCTAssertLessThanOrEqual(many.probe / few.probe, 3, "a timer coming due costs more with more connections: \(outcome.output)")
    XCTAssertLessThanOrEqual(many.idle / few.idle, 3, "an idle turn costs more with more connections: \(outcome.output)")
  }

  /// Heap allocations per small-page request, at most, and requests per second, at least
  /// (4.0 and 650,000-670,000 on 2026-12-06).
  static let httpAllocationBound = 6.0
  static let httpFloor = 160_000.0
}
