// A wrapper device that loses, duplicates and reorders frames in both directions, and
// delays the frames it sends, as an impaired link would (smoltcp's FaultInjector in
// spirit): for testing a stack against real peers where tc netem is not available.
// Probabilities are per mille; a fixed seed makes a run repeatable. Delayed frames leave on
// a later `receive` or `transmit` once due: the event loop wakes for them at `nextDue`.

import SiroccoWire

/// What a `FaultInjector` does to the frames (the same for every device it wraps).
public struct FaultConfiguration: Sendable, Equatable {
  public var lossPerMille = 0
  public var duplicatePerMille = 0
  /// A frame held back and delivered after the next one.
  public var reorderPerMille = 0
  /// Every frame sent waits this long before it leaves (netem's `delay`, egress only:
  /// the round trip grows by this much).
  public var delay: Duration = .zero
  /// Frames waiting out the delay at most; more are lost (netem's `limit`).
  public var delayLimit = 10_000
  public var seed: UInt64 = 0x5eed_fa17
  public init(lossPerMille: Int = 0, duplicatePerMille: Int = 0, reorderPerMille: Int = 0, delay: Duration = .zero) {
    self.lossPerMille = lossPerMille
    self.duplicatePerMille = duplicatePerMille
    self.reorderPerMille = reorderPerMille
    self.delay = delay
  }
}

public final class FaultInjector<Inner: NetworkDevice>: NetworkDevice {
  public typealias Configuration = FaultConfiguration

  public let inner: Inner
  public let configuration: Configuration
  let clock: (any MonotonicClock)?
  var state: UInt64
  /// Frames waiting out the delay, oldest first, with when each may leave.
  var delayed: BoundedQueue<(due: Instant, frame: [UInt8])>?
  /// Received frames to hand over before reading the device again (duplicates, held frames).
  var receiveBacklog: [[UInt8]] = []
  var heldReceive: [UInt8]?
  var heldTransmit: [UInt8]?
  /// Frames lost, duplicated and reordered so far, both directions.
  public private(set) var lost = 0
  public private(set) var duplicated = 0
  public private(set) var reordered = 0

  /// `clock` is needed only for a delay.
  public init(_ inner: Inner, configuration: Configuration, clock: (any MonotonicClock)? = nil) {
    precondition(configuration.delay == .zero || clock != nil, "a delay needs a clock")
    self.inner = inner
    self.configuration = configuration
    self.clock = clock
    state = configuration.seed
  }

  /// When the oldest delayed frame is due to leave, if any waits.
  public var nextDue: Instant? { delayed?.first?.due }

  /// Sends the delayed frames that are due.
  public func sendDue() {
    guard let clock, let first = delayed?.first else { return }
    let now = clock.now()
    guard first.due <= now else { return }
    while let first = delayed?.first, first.due <= now {
      _ = delayed?.pop()
      _ = sendNow(first.frame)
    }
  }

  public var macAddress: MACAddress { inner.macAddress }
  public var mtu: Int { inner.mtu }

  func roll(_ perMille: Int) -> Bool {
    guard perMille > 0 else { return false }
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int(state >> 33) % 1000 < perMille
  }

  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    sendDue()
    if !receiveBacklog.isEmpty {
      let frame = receiveBacklog.removeFirst()
      frame.withUnsafeBytes { body($0) }
      return true
    }
    var delivered = false
    let read = inner.receive { frame in
      if roll(configuration.lossPerMille) {
        lost += 1
        return
      }
      if heldReceive == nil, roll(configuration.reorderPerMille) {
        heldReceive = [UInt8](frame)
        reordered += 1
        return
      }
      body(frame)
      delivered = true
      if roll(configuration.duplicatePerMille) {
        receiveBacklog.append([UInt8](frame))
        duplicated += 1
      }
      if let held = heldReceive {
        receiveBacklog.append(held)
        heldReceive = nil
      }
    }
    if !read, let held = heldReceive {  // nothing more came: the held frame goes now
      heldReceive = nil
      held.withUnsafeBytes { body($0) }
      return true
    }
    return read || delivered
  }

  public func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    var frame = [UInt8](repeating: 0, count: length)
    frame.withUnsafeMutableBytes { body($0) }
    if roll(configuration.lossPerMille) {
      lost += 1
      return true  // gone on the wire, as far as the sender can tell
    }
    if heldTransmit == nil, roll(configuration.reorderPerMille) {
      heldTransmit = frame
      reordered += 1
      return true
    }
    var sent = send(frame)
    if roll(configuration.duplicatePerMille) {
      duplicated += 1
      sent = send(frame) && sent
    }
    if let held = heldTransmit {
      heldTransmit = nil
      _ = send(held)
    }
    return sent
  }

  private func send(_ frame: [UInt8]) -> Bool {
    guard configuration.delay != .zero, let clock else { return sendNow(frame) }
    sendDue()
    if delayed == nil { delayed = BoundedQueue(capacity: max(configuration.delayLimit, 1)) }
    if delayed?.push((clock.now() + configuration.delay, frame)) != true { lost += 1 }
    return true
  }

  private func sendNow(_ frame: [UInt8]) -> Bool {
    inner.transmit(length: frame.count) { buffer in
      frame.withUnsafeBytes { buffer.copyMemory(from: $0) }
    }
  }
}

