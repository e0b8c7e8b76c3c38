// Driving the interface: what `poll` returns, and when `pollAt` asks to be polled again (never
// while idle: no busy polling).

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

final class PollTests: XCTestCase {
  func testPollReportsWhetherTheReceiveBudgetRanOut() throws {
    let harness = Harness { $0.receiveBudget = 4 }
    XCTAssertFalse(harness.poll(), "nothing to read")

    harness.inject(udpFrame(port: 1, [1]), udpFrame(port: 1, [2]), udpFrame(port: 1, [3]))
    XCTAssertFalse(harness.poll(), "three frames fit a budget of four")
    XCTAssertTrue(harness.device.inbox.isEmpty)
    XCTAssertEqual(harness.counters.receivedFrames, 3)

    for index in 0..<5 { harness.inject(udpFrame(port: 1, [UInt8(index)])) }
    XCTAssertTrue(harness.poll(), "budget ran out: poll again without sleeping")
    XCTAssertEqual(harness.device.inbox.count, 1, "the fifth frame waits")
    XCTAssertEqual(harness.counters.receivedFrames, 7)
    XCTAssertFalse(harness.poll())
    XCTAssertTrue(harness.device.inbox.isEmpty)
    XCTAssertEqual(harness.counters.receivedFrames, 8)

    for index in 0..<4 { harness.inject(udpFrame(port: 1, [UInt8(index)])) }
    XCTAssertTrue(harness.poll(), "exactly the budget: more may be waiting")
    XCTAssertTrue(harness.device.inbox.isEmpty)
    XCTAssertFalse(harness.poll())
  }

  func testDefaultBudgetIs64() throws {
    let harness = Harness()
    XCTAssertEqual(harness.link.configuration.receiveBudget, 64)
    for _ in 0..<100 { harness.inject(pattern(10)) }
    XCTAssertTrue(harness.poll())
    XCTAssertEqual(harness.device.inbox.count, 36)
    XCTAssertFalse(harness.poll())
    XCTAssertEqual(harness.counters.receivedFrames, 100)
  }

  func testPollSendsQueuedDatagramsEvenWhenTheBudgetRunsOut() throws {
    let harness = Harness { $0.receiveBudget = 1 }
    let socket = try harness.stack.bindUDP(port: 7)
    try socket.send([1], to: .v4(.broadcast), port: 9)
    harness.inject(pattern(10), pattern(10))
    XCTAssertTrue(harness.poll())
    XCTAssertEqual(harness.sent().count, 1)
  }

  func testPollAtIsNilWhenIdleAfterTheAnnouncements() throws {
    let harness = Harness { $0.announcements = 2 }
    harness.poll(at: .zero)
    XCTAssertEqual(harness.stack.pollAt(now: .zero), at(seconds: 2))
    harness.poll(at: at(seconds: 2))
    XCTAssertEqual(harness.sent().count, 2)
    XCTAssertNil(harness.stack.pollAt(now: at(seconds: 2)))
    XCTAssertNil(harness.stack.pollAt(now: at(seconds: 1000)))
    // Traffic that leaves nothing pending keeps it idle.
    harness.learn()
    _ = try harness.exchange(echoRequestFrame([1]))
    XCTAssertNil(harness.stack.pollAt(now: harness.now))
    // And polling it as often as one likes sends nothing.
    for step in 1...1000 { harness.poll(at: at(seconds: 2 + Double(step))) }
    XCTAssertEqual(harness.sent().count, 0)
  }

  func testPollAtIsNilWithoutAnnouncements() throws {
    let harness = Harness { $0.announcements = 0 }
    XCTAssertNil(harness.stack.pollAt(now: .zero))
    harness.poll()
    XCTAssertEqual(harness.sent().count, 0)
  }

  func testPollAtIsTheEarliestPendingDeadline() throws {
    let harness = Harness { $0.announcements = 2 }
    harness.poll(at: .zero)
    XCTAssertEqual(harness.sent().count, 1)
    let socket = try harness.stack.bindUDP(port: 7)
    try socket.send([1], to: .v4(peerIP), port: 9)
    XCTAssertEqual(harness.stack.pollAt(now: at(seconds: 0.5)), at(seconds: 0.5), "a datagram is queued")
    harness.poll(at: at(seconds: 0.5))
    XCTAssertEqual(harness.sent().count, 1, "the ARP request")
    XCTAssertEqual(harness.stack.pollAt(now: at(seconds: 0.5)), at(seconds: 1.5), "the ARP retry comes first")
    harness.inject(arpReplyFrame())
    harness.poll(at: at(seconds: 0.6))
    XCTAssertEqual(harness.sent().count, 1, "the datagram")
    XCTAssertEqual(harness.stack.pollAt(now: at(seconds: 0.6)), at(seconds: 2), "then the announcement")
  }

  func testFlushSendsARPRetriesWithoutReadingTheDevice() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 7)
    try socket.send([1], to: .v4(peerIP), port: 9)
    harness.stack.flush(now: .zero)
    XCTAssertEqual(harness.sent().count, 1)
    harness.inject(arpReplyFrame())
    harness.stack.flush(now: at(seconds: 1))
    let retry = try parseARPFrame(try XCTUnwrap(harness.sent().first))
    XCTAssertEqual(retry.1.targetProtocolAddress, peerIP)
    XCTAssertEqual(harness.device.inbox.count, 1, "the reply was not read")
    XCTAssertEqual(harness.counters.receivedFrames, 0)
  }
}
