// TCP under real loss: Linux drops 5% of the frames each way with nftables (`numgen random`)
// in the namespace, so the loss is the kernel's, not the unikernel's own fault injector. Each
// way, on unix and on spt with and without offloads, the transfer arrives whole, checked by
// SHA-256. CI moves 20 MB each way; SIROCCO_LOSS_BYTES=100000000 is the full campaign
// (Scripts/bench-tcp-loss, figures in BENCHMARKS.md).

import Foundation
import XCTest

final class TCPLossTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat"), ("nft", "nftables")])
    try Examples.buildAll()
  }

  static var bytes: Int { Int(ProcessInfo.processInfo.environment["SIROCCO_LOSS_BYTES"] ?? "") ?? 20_000_000 }

  /// Drops `perMille` of the frames entering and leaving the namespace's stack over tap0.
  static func impair(_ namespace: Namespace, perMille: Int) throws -> Outcome {
    let rules = """
      table inet sirocco_loss {
        chain input { type filter hook input priority 0; iifname "tap0" numgen random mod 1000 < \(perMille) counter drop; }
        chain output { type filter hook output priority 0; oifname "tap0" numgen random mod 1000 < \(perMille) counter drop; }
      }
      """
    return try namespace.shell("nft -f - <<'RULES'\n\(rules)\nRULES")
  }

  /// How many frames the rules dropped, each way.
  static func drops(_ namespace: Namespace) throws -> (input: Int, output: Int) {
    let listing = try namespace.exec(["nft", "list", "table", "inet", "sirocco_loss"]).output
    let counts = listing.split(separator: "\n").compactMap { line -> Int? in
      guard let range = line.range(of: "packets ") else { return nil }
      return Int(line[range.upperBound...].prefix { $0.isNumber })
    }
    return (counts.first ?? 0, counts.dropFirst().first ?? 0)
  }

  func testTransfersArriveWholeUnderFivePercentLinuxSideLoss() throws {
    let bytes = Self.bytes
    let data = try TemporaryFile()
    try data.handle.close()
    try runCommand(["sh", "-c", "head -c \(bytes) /dev/urandom > \(data.url.path)"])
    let expected = try sha256Digest(data.url.path)
    let variants: [(target: String, devices: [String], parameters: [String])] = [
      ("unix", ["--net:service=tap0"], []),
      ("spt", ["--net:service=tap0"], []),  // offloads, by default
      ("spt", ["--net:service=tap0", "--net-offload=false"], []),
    ]
    let namespace = try Namespace()
    let impaired = try Self.impair(namespace, perMille: 50)
    XCTAssertEqual(impaired.status, 0, "nft: \(impaired.output)\(impaired.error)")
    let timeout = TimeInterval(max(120, bytes / 200_000))  // at least 200 kB/s
    for variant in variants {
      let label = "\(variant.target) \(variant.devices)"
      let before = try Self.drops(namespace)
      // Linux -> unikernel.
      var started = Date()
      let sink = try Guest(
        namespace, example: "tcp-bulk", target: variant.target, devices: variant.devices,
        parameters: ["--mode=sink"] + variant.parameters, readyLine: "sink listening")
      let peer = "TCP:\(namespace.guestAddress):5001"
      _ = try namespace.sendBulk(
        data.url.path, bytes: bytes, expected: expected, to: sink, peer: peer, timeout: timeout, label: label)
      let inbound = Date().timeIntervalSince(started)
      // Unikernel -> Linux.
      started = Date()
      let source = try Guest(
        namespace, example: "tcp-bulk", target: variant.target, devices: variant.devices,
        parameters: ["--mode=source", "--bytes=\(bytes)"] + variant.parameters, readyLine: "source listening")
      _ = try namespace.receiveBulk(bytes: bytes, from: source, peer: peer, timeout: timeout, label: label)
      let outbound = Date().timeIntervalSince(started)
      // The loss was real: Linux dropped frames both ways during the transfers.
      let after = try Self.drops(namespace)
      XCTAssertGreaterThan(after.input - before.input, 50, "\(label): nftables dropped too few frames from the unikernel")
      XCTAssertGreaterThan(after.output - before.output, 50, "\(label): nftables dropped too few frames to the unikernel")
      print("tcp-loss: \(label) \(bytes) bytes: in \(String(format: "%.1f", inbound)) s, out \(String(format: "%.1f", outbound)) s, "
        + "dropped \(after.input - before.input) from and \(after.output - before.output) to the unikernel")
    }
  }
}
