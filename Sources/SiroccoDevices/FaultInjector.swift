// A wrapper device that loses, duplicates and reorders frames in both directions, as an
// impaired link would (smoltcp's FaultInjector in spirit): for testing a stack against real
// peers where tc netem is not available. Probabilities are per mille; a fixed seed makes a
// run repeatable.

import SiroccoWire

public final class FaultInjector<Inner: NetworkDevice>: NetworkDevice {
  public struct Configuration: Sendable, Equatable {
    public var lossPerMille = 0
    public var duplicatePerMille = 0
    /// A frame held back and delivered after the next one.
    public var reorderPerMille = 0
    public var seed: UInt64 = 0x5eed_fa17
    public init(lossPerMille: Int = 0, duplicatePerMille: Int = 0, reorderPerMille: Int = 0) {
      self.lossPerMille = lossPerMille
      self.duplicatePerMille = duplicatePerMille
      self.reorderPerMille = reorderPerMille
    }
  }

  public let inner: Inner
  public let configuration: Configuration
  var state: UInt64
  /// Received frames to hand over before reading the device again (duplicates, held frames).
  var receiveBacklog: [[UInt8]] = []
  var heldReceive: [UInt8]?
  var heldTransmit: [UInt8]?
  /// Frames lost, duplicated and reordered so far, both directions.
  public private(set) var lost = 0
  public private(set) var duplicated = 0
  public private(set) var reordered = 0

  public init(_ inner: Inner, configuration: Configuration) {
    self.inner = inner
    self.configuration = configuration
    state = configuration.seed
  }

  public var macAddress: MACAddress { inner.macAddress }
  public var mtu: Int { inner.mtu }

  func roll(_ perMille: Int) -> Bool {
    guard perMille > 0 else { return false }
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int(state >> 33) % 1000 < perMille
  }

  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
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
    inner.transmit(length: frame.count) { buffer in
      frame.withUnsafeBytes { buffer.copyMemory(from: $0) }
    }
  }
}
