// Loss detection and recovery. A scoreboard of the segments in flight (each with its send
// time and its SACKed, lost and retransmitted marks) drives:
// - RACK-TLP (RFC 8985): a segment is lost once a segment sent after it has been delivered
//   and a reordering window has passed; lost retransmissions are found the same way; a tail
//   loss probe turns a lost tail into SACK information instead of a retransmission timeout;
// - RFC 6675's DupThresh rule (three segments SACKed above a hole) and its pipe: lost
//   segments are resent first, then new data, while the pipe is below the congestion window;
// - without SACK, NewReno (RFC 6582): three duplicate ACKs mark the first segment lost, and
//   each partial ACK in recovery the next one.
// Read first: RFC 8985 sections 6-7, RFC 6675 sections 4-5, RFC 6582 section 3.

import SiroccoDevices
import SiroccoWire

/// One segment sent and not yet cumulatively acknowledged.
struct SentSegment {
  var start: SequenceNumber
  /// One past the last sequence number; a FIN counts one.
  var end: SequenceNumber
  /// When it was last (re)transmitted.
  var sent: Instant
  var isFIN = false
  var isSACKed = false
  var isLost = false
  var isRetransmitted = false

  var length: Int { end - start }
}

/// The segments in flight in sequence order: sent at the back, acknowledged at the front.
/// The storage goes when the last segment is acknowledged, as the send buffer's does.
struct SentSegments {
  private var storage: [SentSegment] = []
  private var head = 0

  var count: Int { storage.count - head }
  var isEmpty: Bool { head == storage.count }
  var first: SentSegment? { isEmpty ? nil : storage[head] }
  var last: SentSegment? { isEmpty ? nil : storage[storage.count - 1] }

  subscript(index: Int) -> SentSegment {
    get { storage[head + index] }
    set { storage[head + index] = newValue }
  }

  mutating func append(_ segment: SentSegment) { storage.append(segment) }

  /// Cuts the segment at `index` in two at `sequence` (inside it); both keep its marks.
  /// For a large segment (TSO) of which the peer SACKed a part.
  mutating func split(at index: Int, sequence: SequenceNumber) {
    var second = storage[head + index]
    second.start = sequence
    storage[head + index].end = sequence
    storage.insert(second, at: head + index + 1)
  }

  mutating func removeFirst() {
    head += 1
    if head == storage.count {
      storage = []
      head = 0
    } else if head >= 64, head * 2 >= storage.count {
      storage.removeFirst(head)
      head = 0
    }
  }

  /// The index of the first segment that ends after `sequence`.
  func firstIndex(endingAfter sequence: SequenceNumber) -> Int {
    var low = 0
    var high = count
    while low < high {
      let middle = (low + high) / 2
      if self[middle].end - sequence > 0 { high = middle } else { low = middle + 1 }
    }
    return low
  }
}

/// RACK's record of the most recently sent segment known delivered (RFC 8985 6.1).
struct RACKState {
  var sent = Instant.zero
  var end = SequenceNumber(0)
  /// The round trip of that segment, in nanoseconds.
  var rtt: Int64 = 0
  /// The highest end of a segment delivered (FACK).
  var forwardEnd: SequenceNumber?
  /// A segment was delivered after one sent later: the path reorders.
  var reorderingSeen = false
  /// The reordering window in quarters of the least round trip: grows by one per round
  /// trip with a D-SACK, back to one after 16 recoveries (RFC 8985 6.2 step 4).
  var windowMultiplier = 1
  var multiplierRoundEnd: SequenceNumber?
  var recoveriesSinceGrowth = 0
  /// The least round trip lately seen, in nanoseconds, and when it was taken.
  var minimumRTT: Int64 = .max
  var minimumRTTTaken = Instant.zero
}

extension TCPConnection {
  /// Bytes thought to be in the network (RFC 6675 SetPipe, in bytes): sent, less what the
  /// peer holds (SACKed, or counted by duplicate ACKs without SACK) and what is lost.
  var pipe: Int { max(sndMax - sndUna - sackedBytes - lostBytes - renoSACKedBytes, 0) }

  /// Records a segment just sent for the first time.
  func recordSent(start: SequenceNumber, length: Int, isFIN: Bool, now: Instant) {
    flight.append(SentSegment(start: start, end: start + length, sent: now, isFIN: isFIN))
  }

  /// Drops the segments a cumulative ACK covers, noting the ones delivered for RACK.
  func removeAcknowledged(upTo acknowledgment: SequenceNumber, now: Instant) {
    while let first = flight.first, first.end - acknowledgment <= 0 {
      if first.isSACKed { sackedBytes -= first.length } else { delivered(first, now: now) }
      if first.isLost { lostBytes -= first.length }
      flight.removeFirst()
    }
    // A segment acknowledged in part (the peer took only some of it): keep the rest.
    if let first = flight.first, first.start < acknowledgment {
      let trimmed = acknowledgment - first.start
      if first.isSACKed { sackedBytes -= trimmed }
      if first.isLost { lostBytes -= trimmed }
      flight[0].start = acknowledgment
    }
  }

  /// Marks what the peer's SACK blocks cover (RFC 2018), cutting a segment the blocks cover
  /// in part (a TSO segment the network cut up). Blocks below the cumulative ACK (D-SACK,
  /// RFC 2883) or beyond anything sent are ignored: a hostile peer cannot make the
  /// scoreboard claim data that never left.
  func recordSACK(_ blocks: SACKBlocks, now: Instant) {
    for block in blocks {
      let left = SequenceNumber(block.left)
      let right = SequenceNumber(block.right)
      guard left < right, sndUna < right, right - sndMax <= 0 else { continue }
      var index = flight.firstIndex(endingAfter: left)
      while index < flight.count, flight[index].start < right {
        if flight[index].isSACKed {
          index += 1
          continue
        }
        if flight[index].start < left {
          flight.split(at: index, sequence: left)
          index += 1
          continue
        }
        if right < flight[index].end { flight.split(at: index, sequence: right) }
        let segment = flight[index]
        flight[index].isSACKed = true
        sackedBytes += segment.length
        if segment.isLost {
          flight[index].isLost = false
          lostBytes -= segment.length
        }
        delivered(segment, now: now)
        index += 1
      }
    }
  }

  /// Clears every SACK mark: after repeated timeouts the peer may have reneged (RFC 2018 8).
  func forgetSACK() {
    guard sackedBytes > 0 else { return }
    for index in 0..<flight.count where flight[index].isSACKed { flight[index].isSACKed = false }
    sackedBytes = 0
  }

  /// RACK's update for a segment newly acknowledged or SACKed (RFC 8985 6.2, steps 1-3).
  func delivered(_ segment: SentSegment, now: Instant) {
    let rtt = now.nanoseconds &- segment.sent.nanoseconds
    // An ACK sooner than any round trip answers the original, not this retransmission.
    if segment.isRetransmitted, rtt < rack.minimumRTT { return }
    if rtt < rack.minimumRTT || (now - rack.minimumRTTTaken).nanoseconds > 10_000_000_000 {
      rack.minimumRTT = rtt
      rack.minimumRTTTaken = now
    }
    if let forward = rack.forwardEnd, segment.end < forward {
      if !segment.isRetransmitted { rack.reorderingSeen = true }
    } else {
      rack.forwardEnd = segment.end
    }
    if rack.sent < segment.sent || (rack.sent == segment.sent && rack.end < segment.end) {
      rack.sent = segment.sent
      rack.end = segment.end
      rack.rtt = rtt
    }
  }

  /// RACK's reordering window (RFC 8985 6.2 step 4): a quarter of the least round trip, or
  /// none in recovery or past DupThresh while no reordering has been seen.
  var reorderingWindow: Int64 {
    guard rack.minimumRTT != .max else { return 0 }
    if !rack.reorderingSeen, recoveryPoint != nil || sackedBytes >= 3 * sendMSS { return 0 }
    return min(Int64(rack.windowMultiplier) * rack.minimumRTT / 4, smoothedRTT ?? rack.minimumRTT)
  }

  /// A D-SACK: a retransmission was needless, so the path reorders more than the window
  /// allowed for: widen it, at most once a round trip.
  func duplicateReported() {
    rack.reorderingSeen = true
    if let end = rack.multiplierRoundEnd, sndUna - end < 0 { return }
    rack.windowMultiplier = min(rack.windowMultiplier + 1, 64)
    rack.multiplierRoundEnd = sndMax
    rack.recoveriesSinceGrowth = 0
  }

  /// Marks lost the segments RACK or DupThresh says are; returns whether any newly were.
  /// Arms the reordering timer for those not yet late enough (RFC 8985 6.2 step 5).
  @discardableResult
  func detectLosses(now: Instant) -> Bool {
    rackDeadline = nil
    guard sackEnabled, !flight.isEmpty else { return false }
    let window = reorderingWindow
    var sackedAbove = 0  // bytes
    var newlyLost = false
    var earliest: Int64?
    for index in stride(from: flight.count - 1, through: 0, by: -1) {
      let segment = flight[index]
      if segment.isSACKed {
        sackedAbove += segment.length
        continue
      }
      guard !segment.isLost else { continue }
      // RFC 6675 IsLost: more than (DupThresh - 1) segments' worth SACKed above it (unless
      // the path reorders).
      var lost = sackedAbove > 2 * sendMSS && !rack.reorderingSeen
      if !lost, segment.sent < rack.sent || (segment.sent == rack.sent && segment.end - rack.end < 0) {
        let remaining = segment.sent.nanoseconds &+ rack.rtt &+ window &- now.nanoseconds
        if remaining <= 0 { lost = true } else { earliest = min(earliest ?? remaining, remaining) }
      }
      if lost {
        flight[index].isLost = true
        lostBytes += segment.length
        newlyLost = true
      }
    }
    if let earliest { rackDeadline = Instant(nanoseconds: now.nanoseconds &+ earliest) }
    return newlyLost
  }

  /// Marks the first segment lost (NewReno's retransmission of the first unacknowledged
  /// segment, RFC 6582 3.2 steps 2 and 4).
  func markFirstLost() {
    guard let first = flight.first, !first.isLost, !first.isSACKed else { return }
    flight[0].isLost = true
    lostBytes += first.length
  }

  /// After a retransmission timeout everything not SACKed is lost (RFC 8985 6.3).
  func markAllLost() {
    for index in 0..<flight.count where !flight[index].isLost && !flight[index].isSACKed {
      flight[index].isLost = true
      lostBytes += flight[index].length
    }
  }

  /// A loss found outside recovery: reduce the window once and recover until everything now
  /// in flight is acknowledged (RFC 6675 5 step 4, RFC 6582).
  func enterRecovery(now: Instant) {
    rack.recoveriesSinceGrowth += 1
    if rack.recoveriesSinceGrowth >= 16 {
      rack.windowMultiplier = 1
      rack.recoveriesSinceGrowth = 0
    }
    congestionEvent(now: now, timeout: false)
    recoveryPoint = sndMax
    isTimeoutRecovery = false
    congestionWindow = slowStartThreshold
    // The first retransmission leaves at once, whatever the pipe (RFC 6675 step 4.2).
    retransmitFirstLost = true
    probeDeadline = nil
    rttSample = nil
    context.counters.tcpFastRetransmits &+= 1
    context.tcpReady(self)
  }

  /// Resends the segment at `index`, marked lost.
  func retransmit<Sink: TCPSegmentSink>(at index: Int, now: Instant, sink: Sink) {
    let segment = flight[index]
    if segment.isFIN {
      sendSegment(flags: [.ack, .fin], sequence: segment.start, payloadLength: 0, now: now, sink: sink)
    } else {
      sendSegment(
        flags: [.ack, .psh], sequence: segment.start, payloadLength: segment.length, dataOffset: segment.start - dataStart,
        now: now, sink: sink)
    }
    if segment.isLost {
      flight[index].isLost = false
      lostBytes -= segment.length
    }
    flight[index].isRetransmitted = true
    flight[index].sent = now
  }

  /// Arms the tail loss probe (RFC 8985 7.2) while data is in flight outside recovery: two
  /// round trips, plus the peer's worst delayed ACK when one segment is out; not past the RTO.
  func scheduleTailProbe(now: Instant) {
    probeDeadline = nil
    guard sackEnabled, recoveryPoint == nil, probeEnd == nil, !flight.isEmpty, let smoothed = smoothedRTT else { return }
    var timeout = max(2 * smoothed, 2_000_000)
    if flight.count == 1 { timeout = max(timeout, smoothed + smoothed / 2 + 200_000_000) }
    let deadline = Instant(nanoseconds: now.nanoseconds &+ timeout)
    if let rtoDeadline, rtoDeadline < deadline { return }
    probeDeadline = deadline
  }

  /// Sends the tail loss probe (RFC 8985 7.3): a new segment if the windows allow one,
  /// otherwise the last segment again.
  func sendTailProbe<Sink: TCPSegmentSink>(now: Instant, sink: Sink) -> Bool {
    let offset = sndMax - dataStart
    let unsent = sendBuffer.count - offset
    if unsent > 0, sndWnd - (sndMax - sndUna) > 0 {
      let length = min(unsent, sendMSS, sndWnd - (sndMax - sndUna))
      sendNew(length: length, now: now, sink: sink)
      probeEnd = sndMax
      probeWasRetransmission = false
    } else if let last = flight.last, !last.isSACKed {
      // The last segment again; past a lone FIN, the last data with it, which the peer can
      // SACK (a FIN out of order is only acknowledged).
      var index = flight.count - 1
      if last.isFIN, index > 0, !flight[index - 1].isSACKed { index -= 1 }
      retransmit(at: index, now: now, sink: sink)
      probeEnd = last.end
      probeWasRetransmission = true
    } else {
      return false
    }
    context.counters.tcpTailLossProbes &+= 1
    rtoDeadline = Instant(nanoseconds: now.nanoseconds &+ rto)
    return true
  }

  /// The ACK for a tail loss probe: if the probe was a retransmission and the peer did not
  /// report it as a duplicate (D-SACK), it repaired a loss, and the window is reduced as
  /// for fast recovery (RFC 8985 7.4).
  func checkTailProbe(acknowledgment: SequenceNumber, duplicateReported: Bool, now: Instant) {
    guard let end = probeEnd else { return }
    if duplicateReported {
      probeEnd = nil
      return
    }
    guard acknowledgment - end >= 0 else { return }
    probeEnd = nil
    if probeWasRetransmission, recoveryPoint == nil {
      congestionEvent(now: now, timeout: false)
      congestionWindow = slowStartThreshold
    }
  }
}
