// Examples/udp-echo on the unix target, exercised with socat inside a namespace.

import Foundation
import XCTest

final class UDPEchoTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("socat", "socat")])
    try Examples.buildAll()
  }

  func socat(_ namespace: Namespace, payload: String, port: Int) throws -> Outcome {
    let input = try TemporaryFile()
    try payload.write(to: input.url, atomically: true, encoding: .utf8)
    return try namespace.exec(
      ["socat", "-t", "1", "-", "UDP:\(namespace.guestAddress):\(port)"], timeout: 20, input: input.url)
  }

  func testEchoesDatagrams() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "udp-echo", target: target, parameters: ["--port=5000"], readyLine: "echoing UDP")
      for index in 0..<5 {
        let message = "datagram \(index) from socat to \(target)"
        let outcome = try socat(namespace, payload: message, port: 5000)
        XCTAssertEqual(outcome.status, 0, outcome.error + guest.stop())
        XCTAssertEqual(outcome.output, message)
      }
      // The largest datagram that fits the MTU unfragmented: 1500 - 20 - 8 bytes.
      let message = String((0..<1472).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
      let outcome = try socat(namespace, payload: message, port: 5000)
      XCTAssertEqual(outcome.status, 0, outcome.error + guest.stop())
      XCTAssertEqual(outcome.output.count, 1472, target)
      XCTAssertEqual(outcome.output, message, target)
    }
  }

  /// A closed port answers ICMP port unreachable: socat sees "Connection refused".
  func testClosedPortIsRefused() throws {
    for target in Examples.targets {
      let namespace = try Namespace()
      let guest = try Guest(namespace, example: "udp-echo", target: target, parameters: ["--port=5000"], readyLine: "echoing UDP")
      let outcome = try socat(namespace, payload: "anyone?", port: 5001)
      XCTAssertNotEqual(outcome.status, 0, target)
      XCTAssertTrue(outcome.error.contains("Connection refused"), "\(target): " + outcome.error + guest.stop())
    }
  }
}
