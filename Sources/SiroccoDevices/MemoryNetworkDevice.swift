// An in-memory network device: frames are queued in memory. Two devices on one `MemoryLink`
// are wired back to back, which is how the network core is tested without any I/O.

import SiroccoWire

/// A bidirectional link between two in-memory devices (or one device and a test).
public final class MemoryLink {
  /// Frames travelling from side A to side B, and from B to A, oldest first.
  public var towardB: [[UInt8]] = []
  public var towardA: [[UInt8]] = []
  public init() {}
}

public final class MemoryNetworkDevice: NetworkDevice {
  public enum Side { case a, b }

  public let macAddress: MACAddress
  public let mtu: Int
  public let link: MemoryLink
  public let side: Side
  /// When false, `transmit` fails (to test how the stack counts a full device).
  public var acceptsTransmit = true
  /// The offloads this device emulates (`SoftwareOffload`): none unless a test turns them on.
  public var emulatedOffloads: NetworkOffloads = []
  /// Frames handed to `transmit`, before any were cut into segments.
  public private(set) var transmitCalls = 0
  /// The last frame handed to `transmit` with offload work, as it was handed over (its
  /// checksum field still the pseudo-header's sum).
  public private(set) var lastOffloaded: (frame: [UInt8], offload: TransmitOffload)?
  /// Frames injected with offload work pending (`inject(_:pending:)`), received before the
  /// inbox's.
  var pendingInbox: [(frame: [UInt8], pending: TransmitOffload)] = []

  public init(macAddress: MACAddress, mtu: Int = 1500, link: MemoryLink = MemoryLink(), side: Side = .a) {
    self.macAddress = macAddress
    self.mtu = mtu
    self.link = link
    self.side = side
  }

  /// Frames sent to this device and not yet received by it.
  public var inbox: [[UInt8]] {
    get { side == .a ? link.towardA : link.towardB }
    set { if side == .a { link.towardA = newValue } else { link.towardB = newValue } }
  }

  /// Frames this device sent that the other side has not taken yet.
  public var outbox: [[UInt8]] {
    get { side == .a ? link.towardB : link.towardA }
    set { if side == .a { link.towardB = newValue } else { link.towardA = newValue } }
  }

  /// Queues `frame` for this device to receive.
  public func inject(_ frame: [UInt8]) { inbox.append(frame) }

  /// Queues `frame` with offload work pending, as a TAP with offloads hands over a frame its
  /// kernel left unfinished: `receive(forwarding:)` lends it with the work pending, `receive`
  /// as it is (`FinishedFrames` finishes it).
  public func inject(_ frame: [UInt8], pending: TransmitOffload) { pendingInbox.append((frame, pending)) }

  /// Removes and returns everything this device has sent.
  public func takeTransmitted() -> [[UInt8]] {
    let frames = outbox
    outbox = []
    return frames
  }

  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    if !pendingInbox.isEmpty {
      let frame = pendingInbox.removeFirst().frame
      frame.withUnsafeBytes { body($0) }
      return true
    }
    guard !inbox.isEmpty else { return false }
    let frame = inbox.removeFirst()
    frame.withUnsafeBytes { body($0) }
    return true
  }

  public func receive(forwarding body: (UnsafeRawBufferPointer, _ pending: TransmitOffload?) -> Void) -> Bool {
    guard !pendingInbox.isEmpty else { return receive { body($0, nil) } }
    let (frame, pending) = pendingInbox.removeFirst()
    frame.withUnsafeBytes { body($0, pending) }
    return true
  }

  public func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    transmit(length: length, offload: nil, body)
  }

  public var offloads: NetworkOffloads { emulatedOffloads }

  public func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(length >= 0 && length <= maximumFrameLength(for: offload), "frame longer than the device's MTU allows")
    precondition(offload == nil || emulatedOffloads.contains(.transmitChecksum), "offload asked of a device without it")
    guard acceptsTransmit else { return false }
    transmitCalls += 1
    var frame = [UInt8](repeating: 0, count: length)
    frame.withUnsafeMutableBytes { body($0) }
    if let offload {
      lastOffloaded = (frame, offload)
      outbox.append(contentsOf: SoftwareOffload.finish(frame, offload))
    } else {
      outbox.append(frame)
    }
    return true
  }
}
