// Examples/tcp-echo on both targets, against socat inside a namespace.

import Foundation
import XCTest

final class TCPEchoTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat"), ("python3", "python3")])
    try Examples.buildAll()
  }

  /// Sends `data` through socat to the echo server and returns what came back.
  func echo(_ namespace: Namespace, _ data: Data, port: Int = 7) throws -> (Outcome, Data) {
    let input = try TemporaryFile()
    let output = try TemporaryFile()
    try data.write(to: input.url)
    let outcome = try namespace.exec([
      "socat", "-t", "5", "OPEN:\(input.url.path),rdonly!!OPEN:\(output.url.path),creat,trunc,wronly",
      "TCP:\(namespace.guestAddress):\(port)",
    ], timeout: 60)
    return (outcome, try Data(contentsOf: output.url))
  }

  func testEchoesSmallAndLargeStreams() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "tcp-echo", target: target, readyLine: "echoing TCP")
      let line = Data("hello from socat to \(target)\n".utf8)
      let (small, smallEcho) = try echo(namespace, line)
      XCTAssertEqual(small.status, 0, small.error + guest.stop())
      XCTAssertEqual(smallEcho, line, target)
      var generator = SystemRandomNumberGenerator()
      let large = Data((0..<8_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
      let (big, bigEcho) = try echo(namespace, large)
      XCTAssertEqual(big.status, 0, big.error + guest.stop())
      XCTAssertEqual(bigEcho.count, large.count, target)
      XCTAssertTrue(bigEcho == large, "\(target): the echoed stream differs")
    }
  }

  func testClosedPortIsRefusedWithAReset() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "tcp-echo", target: target, readyLine: "echoing TCP")
      let (outcome, _) = try echo(namespace, Data("x".utf8), port: 8)
      XCTAssertNotEqual(outcome.status, 0, target)
      XCTAssertTrue(outcome.error.contains("Connection refused"), "\(target): \(outcome.error)" + guest.stop())
    }
  }

  /// A thousand connections open at once (Python's sockets, that is Linux's TCP), each
  /// echoing its own message.
  func testThousandConcurrentConnections() throws {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("clients.py").path
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "tcp-echo", target: target, parameters: ["--backlog=1024"], readyLine: "echoing TCP")
      let outcome = try namespace.exec(["python3", script, namespace.guestAddress, "7", "1000"], timeout: 120)
      XCTAssertEqual(outcome.status, 0, "\(target): \(outcome.output)\(outcome.error)" + guest.stop())
      XCTAssertEqual(outcome.output, "1000 ok\n", target)
    }
  }

  /// Several clients at once, each with its own stream.
  func testConcurrentConnections() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "tcp-echo", target: target, readyLine: "echoing TCP")
      let script = """
        set -e
        for i in $(seq 1 50); do
          head -c $((i * 2000)) /dev/urandom > "$DIR/in.$i"
          socat -t 5 OPEN:$DIR/in.$i,rdonly!!OPEN:$DIR/out.$i,creat,trunc,wronly TCP:\(namespace.guestAddress):7 &
        done
        wait
        for i in $(seq 1 50); do cmp "$DIR/in.$i" "$DIR/out.$i"; done
        echo all-equal
        """
      let outcome = try namespace.shell(script, timeout: 120)
      XCTAssertEqual(outcome.status, 0, "\(target): \(outcome.output)\(outcome.error)" + guest.stop())
      XCTAssertTrue(outcome.output.contains("all-equal"), target)
    }
  }
}

/// Examples/tcp-bulk against socat, checked by SHA-256 at both ends: 20 MB each way on both
/// targets, and 100 MB each way over an impaired link.
final class TCPBulkTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat")])
    try Examples.buildAll()
  }

  /// The impaired link of the transfer test: loss 5% and reordering 25% each way, 10 ms of
  /// delay, from the unikernel's fault injector (this kernel has no netem).
  static let faults = ["--fault-loss=50", "--fault-reorder=250", "--fault-delay=10"]
  /// CI moves 25 MB each way; SIROCCO_FAULT_BYTES=100000000 is the full campaign
  /// (Scripts/bench-tcp-loss, figures in BENCHMARKS.md).
  static var bytes: Int { Int(ProcessInfo.processInfo.environment["SIROCCO_FAULT_BYTES"] ?? "") ?? 25_000_000 }

  /// 20 MB each way on both targets, with and without the virtio-net header offloads (on
  /// by default on both: on spt `sirocco run` asks the tender for them, which its command
  /// line shows), one after the other on the same TAP.
  func testVerifiedTransfersBothWays() throws {
    let data = try TemporaryFile()
    try data.handle.close()
    try runCommand(["sh", "-c", "head -c 20000000 /dev/urandom > \(data.url.path)"])
    let expected = try sha256Digest(data.url.path)
    let variants: [(target: String, devices: [String], parameters: [String])] = Examples.targets.flatMap { target in
      target == "spt"
        ? [(target, ["--net:service=tap0"], []), (target, ["--net:service=tap0", "--net-offload=false"], [])]
        : [(target, ["--net:service=tap0"], []), (target, ["--net:service=tap0"], ["--net-offload=false"])]
    }
    // One TAP for all: a guest with plain frames after one with offloads finds them off.
    let namespace = try Namespace()
    for variant in variants {
      let label = "\(variant.target) \(variant.devices + variant.parameters)"
      // Linux -> unikernel.
      let sink = try Guest(
        namespace, example: "tcp-bulk", target: variant.target, devices: variant.devices,
        parameters: ["--mode=sink"] + variant.parameters, readyLine: "sink listening")
      if variant.target == "spt", Examples.siroccoTender("spt", checks: "the tender given --net-offload by default") {
        let tender = sink.tenderArguments
        XCTAssertEqual(tender.contains("--net-offload"), !variant.devices.contains("--net-offload=false"), "\(label): \(tender)")
      }
      let peer = "TCP:\(namespace.guestAddress):5001"
      _ = try namespace.sendBulk(
        data.url.path, bytes: 20_000_000, expected: expected, to: sink, peer: peer, timeout: 60, label: label)
      // Unikernel -> Linux.
      let source = try Guest(
        namespace, example: "tcp-bulk", target: variant.target, devices: variant.devices,
        parameters: ["--mode=source", "--bytes=20000000"] + variant.parameters, readyLine: "source listening")
      _ = try namespace.receiveBulk(bytes: 20_000_000, from: source, peer: peer, timeout: 60, label: label)
    }
  }

  /// tcp-bulk without a digest (`--digest=false`, as Scripts/bench-tcp runs it): a source
  /// sends its fixed pattern, whose SHA-256 Linux checks; a sink compares every byte with the
  /// pattern, says so, and exits 1 naming the first byte of a stream that differs. 5 MB each,
  /// on both targets.
  func testPatternStreamsAreCheckedByTheirReceivers() throws {
    let bytes = 5_000_000
    let period = 2048 * 256
    let piece = (0..<period).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
    var stream: [UInt8] = []
    while stream.count < bytes { stream += piece.prefix(bytes - stream.count) }
    let pattern = try TemporaryFile()
    try pattern.handle.write(contentsOf: stream)
    stream[1_234_567] ^= 0x40
    let corrupt = try TemporaryFile()
    try corrupt.handle.write(contentsOf: stream)
    let expected = try sha256Digest(pattern.url.path)
    let namespace = try Namespace()
    let peer = "TCP:\(namespace.guestAddress):5001"
    for target in Examples.targets {
      // Linux -> unikernel: the pattern, then a stream with one byte changed.
      for (file, good) in [(pattern, true), (corrupt, false)] {
        let sink = try Guest(
          namespace, example: "tcp-bulk", target: target, parameters: ["--mode=sink", "--digest=false"], readyLine: "sink listening")
        let sent = try namespace.exec(["socat", "-u", "OPEN:\(file.url.path),rdonly", peer], timeout: 60)
        XCTAssertEqual(sent.status, 0, "\(target): \(sent.error)")
        sink.waitForExit(seconds: 60)
        let report = sink.stop()
        XCTAssertTrue(report.contains("received \(bytes) bytes"), "\(target): \(report)")
        if good {
          XCTAssertTrue(report.contains("the pattern, checked"), "\(target): \(report)")
          XCTAssertEqual(sink.process.terminationStatus, 0, "\(target): \(report)")
        } else {
          XCTAssertTrue(report.contains("not the pattern from byte 1234567"), "\(target): \(report)")
          XCTAssertEqual(sink.process.terminationStatus, 1, "\(target): \(report)")
        }
      }
      // Unikernel -> Linux: the pattern, unhashed at the source, checked here.
      let source = try Guest(
        namespace, example: "tcp-bulk", target: target, parameters: ["--mode=source", "--bytes=\(bytes)", "--digest=false"],
        readyLine: "source listening")
      let received = try TemporaryFile()
      let fetched = try namespace.exec(["sh", "-c", "socat -u \(peer) - > \(received.url.path)"], timeout: 60)
      XCTAssertEqual(fetched.status, 0, "\(target): \(fetched.error)")
      source.waitForExit(seconds: 60)
      let report = source.stop()
      XCTAssertTrue(report.contains("sent \(bytes) bytes") && report.contains("the pattern, not hashed"), "\(target): \(report)")
      XCTAssertEqual(try sha256Digest(received.url.path), expected, "\(target): the source's stream is not the pattern")
    }
  }

  func testTransfersEachWayUnderLossReorderingAndDelay() throws {
    let data = try TemporaryFile()
    try data.handle.close()
    try runCommand(["sh", "-c", "head -c \(Self.bytes) /dev/urandom > \(data.url.path)"])
    let expected = try sha256Digest(data.url.path)
    let namespace = try Namespace()

    // Linux -> unikernel.
    let sink = try Guest(
      namespace, example: "tcp-bulk", parameters: ["--mode=sink"] + Self.faults, readyLine: "sink listening")
    let sent = try namespace.exec(["socat", "-u", "OPEN:\(data.url.path),rdonly", "TCP:\(namespace.guestAddress):5001"], timeout: 600)
    XCTAssertEqual(sent.status, 0, sent.error)
    sink.waitForExit(seconds: 60)
    let sinkReport = sink.stop()
    XCTAssertTrue(sinkReport.contains("fault injection on: loss 50, duplicate 0, reorder 250 per thousand, delay 10 ms"), sinkReport)
    XCTAssertTrue(sinkReport.contains("received \(Self.bytes) bytes"), sinkReport)
    XCTAssertTrue(sinkReport.contains("sha256 \(expected)"), sinkReport)

    // Unikernel -> Linux.
    let source = try Guest(
      namespace, example: "tcp-bulk", parameters: ["--mode=source", "--bytes=\(Self.bytes)", "--log-level=debug"] + Self.faults,
      readyLine: "source listening")
    let received = try TemporaryFile()
    let fetched = try namespace.exec(["sh", "-c", "socat -u TCP:\(namespace.guestAddress):5001 - > \(received.url.path)"], timeout: 900)
    XCTAssertEqual(fetched.status, 0, fetched.error)
    let fetchedDigest = try sha256Digest(received.url.path)
    source.waitForExit(seconds: 60)
    let sourceReport = source.stop()
    XCTAssertTrue(sourceReport.contains("sent \(Self.bytes) bytes"), sourceReport)
    XCTAssertTrue(sourceReport.contains("sha256 \(fetchedDigest)"), "\(sourceReport) vs \(fetchedDigest)")
    print("impaired link: " + sinkReport.split(separator: "\n").filter { $0.contains("tcp-bulk:") }.joined(separator: " ")
      + " / " + sourceReport.split(separator: "\n").filter { $0.contains("tcp-bulk:") || $0.contains("tcp in") }.joined(separator: " "))
  }
}

/// A bounded SYN flood (hping3, spoofed sources) against tcp-echo with a small backlog:
/// legitimate clients are still served, by SYN cookies, on both targets.
final class SYNFloodTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat"), ("hping3", "hping3"), ("tcpdump", "tcpdump")])
    try Examples.buildAll()
  }

  /// tcpdump on the namespace's tap0, printing the guest's SYN-ACKs to Linux's own address
  /// (not to the flood's spoofed ones), one line each with its options.
  final class SYNACKCapture {
    let process = Process()
    let output: TemporaryFile
    let error: TemporaryFile

    init(_ namespace: Namespace) throws {
      output = try TemporaryFile()
      error = try TemporaryFile()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = ["ip", "netns", "exec", namespace.name, "tcpdump", "-i", "tap0", "-n", "-l", "--immediate-mode",
                           "src host \(namespace.guestAddress) and dst host \(namespace.hostAddress) and tcp[13] & 0x12 == 0x12"]
      process.standardOutput = output.handle
      process.standardError = error.handle
      try process.run()
      let deadline = Date().addingTimeInterval(10)
      while !error.contents.contains("listening on"), process.isRunning, Date() < deadline { usleep(20_000) }
    }

    /// Stops the capture (after a moment for the last packets to be printed); the SYN-ACK
    /// lines it printed.
    func stop() -> [Substring] {
      usleep(300_000)
      if process.isRunning { process.interrupt() }
      process.waitUntilExit()
      return output.contents.split(separator: "\n").filter { $0.contains("Flags [S.]") }
    }
  }

  func testLegitimateConnectionsAreAcceptedDuringAFlood() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(
        namespace, example: "tcp-echo", target: target, parameters: ["--backlog=8"], readyLine: "echoing TCP")
      // 30,000 SYNs from random sources at about 5,000 a second, in the background.
      let flood = Process()
      flood.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      flood.arguments = ["ip", "netns", "exec", namespace.name, "timeout", "20", "hping3", "-q", "-S", "-p", "7",
                         "-i", "u200", "-c", "30000", "--rand-source", namespace.guestAddress]
      flood.standardOutput = FileHandle.nullDevice
      flood.standardError = FileHandle.nullDevice
      try flood.run()
      defer { if flood.isRunning { flood.terminate() } }
      usleep(500_000)
      let capture = try SYNACKCapture(namespace)
      var served = 0
      for index in 0..<10 {
        let input = try TemporaryFile()
        let message = "client \(index) during the flood on \(target)"
        try message.write(to: input.url, atomically: true, encoding: .utf8)
        let echoed = try runCommand(
          ["ip", "netns", "exec", namespace.name, "socat", "-t", "0.5", "-T", "5", "-", "TCP:\(namespace.guestAddress):7,connect-timeout=5"],
          timeout: 20, input: input.url)
        if echoed.status == 0, echoed.output == message { served += 1 }
      }
      let floodRan = flood.isRunning || flood.terminationStatus == 0
      let synACKs = capture.stop()
      XCTAssertTrue(floodRan, "the flood did not run")
      XCTAssertEqual(served, 10, "\(target): only \(served) of 10 clients served during the flood\n" + guest.stop())
      // Linux offers timestamps in its SYN: a SYN-ACK without them is a cookie (SYNCookies.swift
      // encodes only the MSS). Every client got one while the flood filled the backlog.
      let cookies = synACKs.filter { !$0.contains("TS val") }
      XCTAssertGreaterThanOrEqual(synACKs.count, 10, "\(target): \(synACKs.joined(separator: "\n"))")
      XCTAssertEqual(cookies.count, synACKs.count, "\(target): SYN-ACKs that were not cookies:\n" + synACKs.joined(separator: "\n"))
      print("\(target): \(served) of 10 clients served during the flood, by \(cookies.count) cookie SYN-ACKs")
    }
  }
}
