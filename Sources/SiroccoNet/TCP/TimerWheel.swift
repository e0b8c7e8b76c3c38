// TCP's timers, filed by when they come due, so that a timer coming due costs the timers
// filed beside it rather than a scan of every connection: a hierarchical timing wheel
// (Varghese and Lauck, "Hashed and Hierarchical Timing Wheels", scheme 7; the shape of
// Linux's classic timer wheel) of two levels of 256 slots. Level 0 has a slot per tick of
// 2^20 ns (about 1.05 ms) for the next 268 ms; level 1 a slot per 256 ticks (268 ms) for the
// next 68.7 s, each slot's timers moved down into level 0 as its time comes. A later
// deadline (a keep-alive) waits in level 1's farthest slot and is filed again when that
// comes up. Each slot is a doubly linked list threaded through the timers themselves, so
// filing, moving and forgetting a timer take constant time and no allocation; the links
// are unowned (the timers' owner keeps them, and forgets them here before letting go).

import SiroccoDevices

/// What the wheel files: it keeps its bookkeeping in the timer.
protocol WheelTimer: AnyObject {
  /// The deadline the timer is filed under (nil: not filed), its slot, and its neighbours
  /// in that slot's list. The wheel's alone.
  var wheelDeadline: Instant? { get set }
  var wheelSlot: Int { get set }
  var wheelNext: Self? { get set }
  var wheelPrevious: Self? { get set }
}

struct TimerWheel<Timer: WheelTimer> {
  /// Slots 0..<256 are level 0's, 256..<512 level 1's.
  var heads: [Timer?]
  /// One bit per slot that holds timers.
  var occupied: [UInt64]
  /// The level-0 tick whose slot runs next: every earlier tick's has run.
  var current: Int64 = 0
  /// Timers filed.
  private(set) var count = 0

  init() {
    heads = Array(repeating: nil, count: 512)
    occupied = Array(repeating: 0, count: 8)
  }

  /// Ticks are 2^20 ns.
  static func tick(_ instant: Instant) -> Int64 { instant.nanoseconds >> 20 }

  /// Files `timer` to come due at `deadline` (moving it if it is filed already).
  mutating func file(_ timer: Timer, at deadline: Instant, now: Instant) {
    if count == 0 { current = max(current, Self.tick(now)) }  // an empty wheel starts from now
    let slot = slot(for: deadline)
    if timer.wheelDeadline != nil {
      timer.wheelDeadline = deadline
      if timer.wheelSlot == slot { return }
      unlink(timer)
    } else {
      timer.wheelDeadline = deadline
      count += 1
    }
    link(timer, into: slot)
  }

  /// Takes `timer` out of the wheel, if it is filed.
  mutating func forget(_ timer: Timer) {
    guard timer.wheelDeadline != nil else { return }
    unlink(timer)
    timer.wheelDeadline = nil
    count -= 1
  }

  /// Moves to `now`: the timers due are taken out, and returned as a list through
  /// `wheelNext` (the first; nil when none is due).
  mutating func expire(now: Instant) -> Timer? {
    var due: Timer?
    let target = Self.tick(now)
    while count > 0, current <= target {
      if current & 255 == 0 { cascade() }
      let slot = Int(current & 255)
      if occupied[slot >> 6] & (1 << UInt64(slot & 63)) != 0 { run(slot, now: now, due: &due) }
      if current == target { break }
      // Past empty slots at once: to the next level-1 boundary if level 0 is empty.
      if occupied[0] | occupied[1] | occupied[2] | occupied[3] == 0 {
        current = min(target, (current | 255) + 1)
      } else {
        current += 1
      }
    }
    if count == 0 { current = max(current, target) }
    return due
  }

  /// The earliest deadline filed; nil when nothing is.
  var nextDeadline: Instant? {
    let level0 = firstOccupied(level: 0, from: Int(current & 255))
    guard let slot = level0 ?? firstOccupied(level: 1, from: Int((current >> 8 + 1) & 255)) else { return nil }
    var earliest = heads[slot]!.wheelDeadline!
    var node = heads[slot]!.wheelNext
    while let timer = node {
      if timer.wheelDeadline! < earliest { earliest = timer.wheelDeadline! }
      node = timer.wheelNext
    }
    return earliest
  }

  // MARK: Slots

  /// Level 0 for a tick within 256 of the current one (the current slot for one past),
  /// level 1 within 256 level-1 ticks, its farthest slot beyond.
  func slot(for deadline: Instant) -> Int {
    let tick = max(Self.tick(deadline), current)
    if tick - current < 256 { return Int(tick & 255) }
    return 256 + Int(min(tick >> 8, current >> 8 + 255) & 255)
  }

  mutating func link(_ timer: Timer, into slot: Int) {
    timer.wheelSlot = slot
    timer.wheelPrevious = nil
    timer.wheelNext = heads[slot]
    heads[slot]?.wheelPrevious = timer
    heads[slot] = timer
    occupied[slot >> 6] |= 1 << UInt64(slot & 63)
  }

  mutating func unlink(_ timer: Timer) {
    let slot = timer.wheelSlot
    if let previous = timer.wheelPrevious { previous.wheelNext = timer.wheelNext } else { heads[slot] = timer.wheelNext }
    timer.wheelNext?.wheelPrevious = timer.wheelPrevious
    timer.wheelNext = nil
    timer.wheelPrevious = nil
    if heads[slot] == nil { occupied[slot >> 6] &= ~(1 << UInt64(slot & 63)) }
  }

  /// Takes a slot's whole list out (clearing the slot).
  mutating func detach(_ slot: Int) -> Timer? {
    let head = heads[slot]
    heads[slot] = nil
    occupied[slot >> 6] &= ~(1 << UInt64(slot & 63))
    return head
  }

  /// Runs a level-0 slot: the timers due onto the `due` list, the others (later in this
  /// tick) back.
  mutating func run(_ slot: Int, now: Instant, due: inout Timer?) {
    var node = detach(slot)
    while let timer = node {
      node = timer.wheelNext
      if timer.wheelDeadline! <= now {
        timer.wheelNext = due
        timer.wheelPrevious = nil
        timer.wheelDeadline = nil
        count -= 1
        due = timer
      } else {
        link(timer, into: slot)
      }
    }
  }

  /// At a level-1 boundary: the level-1 slot whose time has come moves down into level 0
  /// (one beyond it, waiting in the farthest slot, goes back to level 1).
  mutating func cascade() {
    var node = detach(256 + Int((current >> 8) & 255))
    while let timer = node {
      node = timer.wheelNext
      link(timer, into: slot(for: timer.wheelDeadline!))
    }
  }

  /// The first slot of `level` holding timers, from slot `from` on, round the level.
  func firstOccupied(level: Int, from: Int) -> Int? {
    let base = level * 4
    var word = from >> 6
    var bits = occupied[base + word] & (~0 << UInt64(from & 63))
    for _ in 0...4 {
      if bits != 0 { return level * 256 + word << 6 + bits.trailingZeroBitCount }
      word = (word + 1) & 3
      bits = occupied[base + word]
    }
    return nil
  }
}
