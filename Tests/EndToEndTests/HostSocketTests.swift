// The unix target's socket stack (`--net-socket:NAME=ADDRESS[,ADDRESS]`): the examples,
// unchanged, on the host's own TCP and UDP, on a namespace's loopback, over IPv4 and IPv6;
// one run as user nobody to show it needs no root.

import Foundation
import XCTest

final class HostSocketTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat")])
    try Examples.buildAll()
  }

  static let socket = ["--net-socket:service=127.0.0.1"]

  func unixBinary(_ example: String) -> String { Paths.example(example) + "/_build/unix/" + example }

  func testTCPEchoRunsAsAnUnprivilegedUser() throws {
    let namespace = try Namespace()
    let script = """
      set -e
      head -c 1000000 /dev/urandom > "$DIR/in"
      setpriv --reuid=nobody --regid=nogroup --clear-groups \(unixBinary("tcp-echo")) \(Self.socket[0]) --port=7007 > "$DIR/log" 2>&1 < /dev/null &
      trap "kill $! 2>/dev/null" EXIT
      for i in $(seq 1 50); do grep -q "echoing TCP" "$DIR/log" && break; sleep 0.1; done
      for round in 1 2 3 4 5 6 7 8 9 10; do
        socat -t 5 OPEN:$DIR/in,rdonly!!OPEN:$DIR/out,creat,trunc,wronly TCP:127.0.0.1:7007
        cmp "$DIR/in" "$DIR/out"
      done
      ps -o user= -p $!
      cat "$DIR/log"
      """
    let outcome = try namespace.shell(script, timeout: 60)
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    XCTAssertTrue(outcome.output.contains("nobody"), outcome.output)
    XCTAssertTrue(outcome.output.contains("service: the host's sockets on 127.0.0.1"), outcome.output)
  }

  func testBulkBothWaysAndUDPEcho() throws {
    let namespace = try Namespace()
    let data = try TemporaryFile()
    try data.handle.close()
    try runCommand(["sh", "-c", "head -c 20000000 /dev/urandom > \(data.url.path)"])
    let expected = try sha256Digest(data.url.path)
    let sink = try Guest(namespace, example: "tcp-bulk", devices: Self.socket, parameters: ["--mode=sink"], readyLine: "sink listening")
    let sent = try namespace.exec(["socat", "-u", "OPEN:\(data.url.path),rdonly", "TCP:127.0.0.1:5001"], timeout: 60)
    XCTAssertEqual(sent.status, 0, sent.error)
    let deadline = Date().addingTimeInterval(30)
    while sink.process.isRunning, Date() < deadline { usleep(10_000) }
    let report = sink.stop()
    XCTAssertTrue(report.contains("received 20000000 bytes"), report)
    XCTAssertTrue(report.contains("sha256 \(expected)"), report)

    let source = try Guest(
      namespace, example: "tcp-bulk", devices: Self.socket, parameters: ["--mode=source", "--bytes=20000000"],
      readyLine: "source listening")
    let fetched = try namespace.shell("socat -u TCP:127.0.0.1:5001 - | sha256sum", timeout: 60)
    let digest = String(fetched.output.prefix(64))
    let deadline2 = Date().addingTimeInterval(30)
    while source.process.isRunning, Date() < deadline2 { usleep(10_000) }
    let sourceReport = source.stop()
    XCTAssertTrue(sourceReport.contains("sent 20000000 bytes"), sourceReport)
    XCTAssertTrue(sourceReport.contains("sha256 \(digest)"), "\(sourceReport) vs \(digest)")

    let echo = try Guest(namespace, example: "udp-echo", devices: Self.socket, readyLine: "echoing UDP")
    let answer = try namespace.shell("echo datagram | socat -t 1 - UDP:127.0.0.1:7", timeout: 10)
    XCTAssertEqual(answer.output, "datagram\n", answer.error + echo.stop())
  }

  /// Active open against a real Linux peer, and half-close both ways as on Sirocco's own
  /// stack: tcp-bulk connects out to socat; as a source it sends and shuts its side down
  /// (socat then sees the end of the stream), as a sink it reads until socat's FIN.
  func testActiveOpenAndHalfCloseAgainstLinux() throws {
    let namespace = try Namespace()
    let script = """
      set -e
      head -c 3000000 /dev/urandom > "$DIR/in"
      # The unikernel sends 3 MB and half-closes: socat's copy ends at the FIN.
      timeout 30 socat -u TCP-LISTEN:6001,bind=127.0.0.1,reuseaddr CREATE:$DIR/got &
      listener=$!
      sleep 0.3
      timeout 30 \(unixBinary("tcp-bulk")) \(Self.socket[0]) --mode=source --bytes=3000000 --connect=127.0.0.1 --port=6001 > "$DIR/source.log" 2>&1
      wait $listener
      echo "got $(stat -c %s $DIR/got) bytes $(sha256sum < $DIR/got | cut -c1-64)"
      cat "$DIR/source.log"
      # socat sends the file and half-closes: the unikernel reads to the FIN, then closes.
      timeout 30 socat -u OPEN:$DIR/in,rdonly TCP-LISTEN:6002,bind=127.0.0.1,reuseaddr &
      sender=$!
      sleep 0.3
      timeout 30 \(unixBinary("tcp-bulk")) \(Self.socket[0]) --mode=sink --connect=127.0.0.1 --port=6002 > "$DIR/sink.log" 2>&1
      wait $sender
      echo "sent $(sha256sum < $DIR/in | cut -c1-64)"
      cat "$DIR/sink.log"
      """
    let outcome = try namespace.shell(script, timeout: 120)
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    let lines = outcome.output.split(separator: "\n")
    let got = try XCTUnwrap(lines.first { $0.hasPrefix("got ") }, outcome.output)
    XCTAssertTrue(got.hasPrefix("got 3000000 bytes "), outcome.output)
    XCTAssertTrue(outcome.output.contains("sent 3000000 bytes"), outcome.output)
    XCTAssertTrue(outcome.output.contains("sha256 " + got.suffix(64)), "the source's digest is not what socat got: \(outcome.output)")
    let sent = try XCTUnwrap(lines.first { $0.hasPrefix("sent ") && !$0.contains("bytes") }, outcome.output)
    XCTAssertTrue(outcome.output.contains("received 3000000 bytes"), outcome.output)
    XCTAssertTrue(outcome.output.contains("sha256 " + sent.suffix(64)), "the sink's digest is not what socat sent: \(outcome.output)")
  }

  /// One device on an address of each family: TCP and UDP answered on both, an active open
  /// over IPv6, a family the device has no address of refused as no route.
  func testBothFamiliesOnOneDevice() throws {
    let namespace = try Namespace()
    let dual = "--net-socket:service=127.0.0.1,::1"
    let script = """
      set -e
      head -c 200000 /dev/urandom > "$DIR/in"
      \(unixBinary("tcp-echo")) \(dual) --port=7007 > "$DIR/tcp.log" 2>&1 < /dev/null &
      tcp=$!
      \(unixBinary("udp-echo")) \(dual) > "$DIR/udp.log" 2>&1 < /dev/null &
      udp=$!
      trap "kill $tcp $udp 2>/dev/null" EXIT
      for i in $(seq 1 50); do grep -q "echoing TCP" "$DIR/tcp.log" && grep -q "echoing UDP" "$DIR/udp.log" && break; sleep 0.1; done
      for peer in TCP4:127.0.0.1:7007 TCP6:[::1]:7007; do
        socat -t 5 OPEN:$DIR/in,rdonly!!OPEN:$DIR/out,creat,trunc,wronly $peer
        cmp "$DIR/in" "$DIR/out" && echo "echoed over $peer"
      done
      echo four | socat -t 1 - UDP4:127.0.0.1:7
      echo six | socat -t 1 - UDP6:[::1]:7
      # Active open over IPv6: tcp-bulk sends 1 MB to socat on [::1]:6003.
      timeout 30 socat -u TCP6-LISTEN:6003,bind=[::1],reuseaddr CREATE:$DIR/got &
      listener=$!
      sleep 0.3
      timeout 30 \(unixBinary("tcp-bulk")) \(dual) --mode=source --bytes=1000000 --connect=::1 --port=6003 > "$DIR/source.log" 2>&1
      wait $listener
      echo "got $(stat -c %s $DIR/got) bytes $(sha256sum < $DIR/got | cut -c1-64)"
      cat "$DIR/source.log"
      # With IPv4 alone, an IPv6 destination has no route.
      timeout 30 \(unixBinary("tcp-bulk")) --net-socket:service=127.0.0.1 --mode=source --connect=::1 --port=6003 \
        > "$DIR/noroute.log" 2>&1 || echo "status $?"
      cat "$DIR/noroute.log"
      cat "$DIR/tcp.log"
      """
    let outcome = try namespace.shell(script, timeout: 120)
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    let output = outcome.output
    XCTAssertTrue(output.contains("echoed over TCP4:127.0.0.1:7007") && output.contains("echoed over TCP6:[::1]:7007"), output)
    XCTAssertTrue(output.contains("four\n") && output.contains("six\n"), "UDP not echoed on both families: \(output)")
    let got = try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix("got ") }, output)
    XCTAssertTrue(got.hasPrefix("got 1000000 bytes "), output)
    XCTAssertTrue(output.contains("sha256 " + got.suffix(64)), "the source's digest is not what socat got: \(output)")
    XCTAssertTrue(output.contains("status 1") && output.contains("no route"), "an IPv6 destination with IPv4 alone: \(output)")
    XCTAssertTrue(output.contains("service: the host's sockets on 127.0.0.1 and ::1"), output)
  }

  func testBadSocketOptionsAreRefused() throws {
    let namespace = try Namespace()
    let bad = try namespace.exec([unixBinary("tcp-echo"), "--net-socket:service=300.1.2.3"], timeout: 10)
    XCTAssertEqual(bad.status, 2)
    XCTAssertTrue(bad.error.contains("bad address '300.1.2.3'"), bad.error)
    // Two addresses of one family, a link-local address (it needs an interface), three.
    for value in ["::1,::2", "127.0.0.1,127.0.0.2", "fe80::1", "127.0.0.1,::1,::2", "127.0.0.1,"] {
      let refused = try namespace.exec([unixBinary("tcp-echo"), "--net-socket:service=" + value], timeout: 10)
      XCTAssertEqual(refused.status, 2, value + ": " + refused.error)
      XCTAssertTrue(refused.error.contains("bad address '\(value)'") && refused.error.split(separator: "\n").count == 1, refused.error)
    }
    let mixed = try namespace.exec([unixBinary("tcp-bulk"), "--net-socket:service=127.0.0.1", "--net:other=tap0"], timeout: 10)
    XCTAssertEqual(mixed.status, 2, mixed.error)
    // A port the host will not give: the application fails to start, saying why.
    let busy = try namespace.shell(
      "socat TCP-LISTEN:7009,bind=127.0.0.1 - & sleep 0.3; \(unixBinary("tcp-echo")) \(Self.socket[0]) --port=7009; echo status $?; kill %1",
      timeout: 10)
    XCTAssertTrue(busy.output.contains("status 1"), busy.output + busy.error)
    XCTAssertTrue(busy.error.contains("failed to start: cannot listen on TCP port 7009: port 7009 is already listening"),
                  "the refusal is not on standard error: " + busy.output + busy.error)
  }
}
