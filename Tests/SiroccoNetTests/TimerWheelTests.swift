// The TCP timer wheel against a model: timers whose deadlines move earlier and later at
// random, in level 0 (up to 268 ms ahead), level 1 (up to 68.7 s) and beyond it, with time
// advancing by small steps and by jumps of more than a turn of level 0. A timer never comes
// due before its deadline, always at the first run at or after it, and the wheel's next
// deadline is the earliest filed.

import SiroccoDevices
@testable import SiroccoNet
import XCTest

final class TimerWheelTests: XCTestCase {
  final class Timer: WheelTimer {
    var wheelDeadline: Instant?
    var wheelSlot = 0
    unowned(unsafe) var wheelNext: Timer?
    unowned(unsafe) var wheelPrevious: Timer?
    /// The deadline its owner has now (as a connection's `deadline`).
    var deadline: Instant?
    var fired = 0
  }

  func testTimersComeDueAtTheirDeadlinesNeverEarlyWhateverTheirMoves() {
    var random = SplitMix64(seed: 0x5eed)
    func draw(_ bound: Int64) -> Int64 { Int64(random.next() % UInt64(bound)) }
    var wheel = TimerWheel<Timer>()
    let timers = (0..<300).map { _ in Timer() }
    var now = Instant(nanoseconds: 1_000_000_000_000)
    var fired = 0, farFired = 0
    /// The owner's side, as the stack notes a connection's deadline.
    func setDeadline(_ timer: Timer, _ deadline: Instant?) {
      timer.deadline = deadline
      if let deadline { wheel.file(timer, at: deadline, now: now) } else { wheel.forget(timer) }
    }
    for step in 0..<20_000 {
      // Move a few deadlines: level 0, level 1, beyond it, or none.
      for _ in 0..<3 {
        let timer = timers[Int(draw(Int64(timers.count)))]
        switch draw(20) {
        case 0: setDeadline(timer, nil)
        case 1: setDeadline(timer, now + .nanoseconds(70_000_000_000 + draw(100_000_000_000)))
        case 2, 3, 4: setDeadline(timer, now + .nanoseconds(draw(60_000_000_000)))
        default: setDeadline(timer, now + .nanoseconds(draw(300_000_000)))
        }
      }
      // Time goes on: mostly a little, sometimes past a turn of level 0 or several of level 1.
      let jump: Int64 = step % 997 == 0 ? 300_000_000 + draw(3_000_000_000) : step % 4999 == 0 ? 200_000_000_000 : draw(2_000_000)
      let before = now
      now = now + .nanoseconds(jump)
      var due = wheel.expire(now: now)
      while let timer = due {
        due = timer.wheelNext
        timer.wheelNext = nil
        XCTAssertNotNil(timer.deadline, "step \(step): a timer without a deadline came due")
        guard let deadline = timer.deadline else { continue }
        XCTAssertLessThanOrEqual(deadline, now, "step \(step): came due early")
        timer.fired += 1
        fired += 1
        if deadline - before > .seconds(68) { farFired += 1 }
        setDeadline(timer, draw(2) == 0 ? nil : now + .nanoseconds(draw(200_000_000)))
      }
      var earliest: Instant?
      for timer in timers {
        guard let deadline = timer.deadline else {
          XCTAssertNil(timer.wheelDeadline, "step \(step): a timer without a deadline is filed")
          continue
        }
        XCTAssertGreaterThan(deadline, now, "step \(step): a timer due was not handed back")
        XCTAssertEqual(timer.wheelDeadline, deadline, "step \(step): filed at another deadline")
        earliest = earliest.map { min($0, deadline) } ?? deadline
      }
      XCTAssertEqual(wheel.nextDeadline, earliest, "step \(step): the next deadline is not the earliest")
      XCTAssertEqual(wheel.count, timers.count { $0.deadline != nil })
    }
    XCTAssertGreaterThan(fired, 5000)
    XCTAssertGreaterThan(farFired, 0, "deadlines beyond level 1 came due")
    for timer in timers { wheel.forget(timer) }
    XCTAssertEqual(wheel.count, 0)
    XCTAssertNil(wheel.nextDeadline)
    XCTAssertEqual(wheel.occupied, [0, 0, 0, 0, 0, 0, 0, 0])
  }

  /// A deadline already past when filed, and one beyond level 1's reach, come due at the
  /// first run at or after them; nothing comes due before.
  func testPastAndFarDeadlines() {
    var wheel = TimerWheel<Timer>()
    let now = Instant(nanoseconds: 5_000_000_000)
    let past = Timer(), far = Timer()
    wheel.file(past, at: now - .milliseconds(5), now: now)
    wheel.file(far, at: now + .seconds(90), now: now)
    XCTAssertEqual(wheel.nextDeadline, now - .milliseconds(5))
    let first = wheel.expire(now: now)
    XCTAssertTrue(first === past && first?.wheelNext == nil)
    XCTAssertEqual(wheel.nextDeadline, now + .seconds(90))
    for second in stride(from: 1, through: 89, by: 4) {
      XCTAssertNil(wheel.expire(now: now + .seconds(second)), "\(second) s")
      XCTAssertEqual(wheel.nextDeadline, now + .seconds(90))
    }
    let last = wheel.expire(now: now + .seconds(90))
    XCTAssertTrue(last === far && last?.wheelNext == nil)
    XCTAssertNil(wheel.nextDeadline)
  }
}
