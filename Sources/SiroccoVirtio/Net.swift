// The virtio guest's network device: a virtio-net device (virtio 1.2, 5.1) on one of the
// transports, queue 0 receiving and queue 1 transmitting, each frame behind the 12-byte
// virtio-net header. Receive buffers are the driver's own, lent to the device and lent again
// to the stack when filled; a frame the device says is longer than its buffer, or shorter
// than a header and an Ethernet header, is dropped and counted. With CSUM and HOST_TSO4/6
// the device completes checksums and cuts TCP segments on transmit; with GUEST_CSUM it says
// which received checksums need no verifying; with GUEST_TSO4/6 and MRG_RXBUF it hands over
// TCP segments coalesced up to 64 KiB, over several receive buffers, which the driver
// copies into one for the stack (a frame in one buffer is lent as it is).
//
// Read first: virtio 1.2 5.1.3 (features), 5.1.4 (configuration: MAC, MTU), 5.1.6 (the
// header; num_buffers is 1 without MRG_RXBUF), 5.1.6.3 (receive buffers of at least 1526
// bytes without GUEST_TSO or MRG_RXBUF), 5.1.6.4 (a frame over num_buffers buffers).

import Sirocco

public final class VirtioNetworkDevice: NetworkDevice {
  enum Feature {
    static let checksum: UInt64 = 1 << 0
    static let guestChecksum: UInt64 = 1 << 1
    static let mtu: UInt64 = 1 << 3
    static let mac: UInt64 = 1 << 5
    static let guestTSO4: UInt64 = 1 << 7
    static let guestTSO6: UInt64 = 1 << 8
    static let hostTSO4: UInt64 = 1 << 11
    static let hostTSO6: UInt64 = 1 << 12
    static let mergeableReceiveBuffers: UInt64 = 1 << 15
  }

  /// The traffic and the driver's exchanges with the device (each notification and each
  /// interrupt status read is a VM exit: frames per exit is how well the two batch), and
  /// what the device got wrong or the driver could not do, each frame counted once.
  public struct Counters: Equatable, Sendable {
    /// Frames handed to the stack (a coalesced one counts once) and taken from it.
    public var receivedFrames: UInt64 = 0
    public var transmittedFrames: UInt64 = 0
    /// Queue notifications written to the device: receive buffers given back, frames to send
    /// (EVENT_IDX leaves out those the device said it needs no word of).
    public var notifications: UInt64 = 0
    /// Interrupt status reads (virtio-mmio; MSI-X needs none): one per batch of frames,
    /// when the receive queue has run dry.
    public var interruptStatusReads: UInt64 = 0
    /// A used receive buffer too short for the header and an Ethernet header.
    public var runtFrames: UInt64 = 0
    /// A frame the driver had no transmit buffer or descriptor for.
    public var transmitQueueFull: UInt64 = 0
    /// A frame said to span no buffers, more than the queue holds, or more bytes than the
    /// largest coalesced frame (MRG_RXBUF).
    public var malformedFrames: UInt64 = 0
    /// A frame whose later buffers the device had not used (MRG_RXBUF).
    public var incompleteFrames: UInt64 = 0
  }

  /// The 12-byte header of VERSION_1 devices: virtio_net_hdr and num_buffers.
  static let headerLength = 12
  /// Receive buffers: a header and the largest frame (1514 bytes and a VLAN tag, rounded up);
  /// with MRG_RXBUF a coalesced frame spans several.
  static let receiveBufferSize = 2048
  /// The largest coalesced frame (GUEST_TSO): 64 KiB of IP and the Ethernet header.
  static let largestCoalescedFrame = 65536 + 14

  public let macAddress: MACAddress
  public let mtu: Int
  public let offloads: NetworkOffloads
  let transport: any VirtioTransport
  let receiveQueue: Virtqueue
  let transmitQueue: Virtqueue
  /// The driver's buffers, one per slot (`receiveSlots` and `transmitSlots` say which slot
  /// each head in flight holds): the device fills the receive ones and reads the others.
  let receiveBuffers: UnsafeMutableRawPointer
  let transmitBuffers: UnsafeMutableRawPointer
  let transmitBufferSize: Int
  /// Transmit buffers free for a frame; for each head in flight, the buffer it holds (both
  /// queues' heads are the driver's record, never read back from shared memory).
  var freeTransmit: [UInt16] = []
  var transmitSlots: [UInt16]
  var receiveSlots: [Int]
  /// With MRG_RXBUF: a frame spanning several buffers is copied here, whole, for the stack.
  let reassembly: UnsafeMutableRawPointer?
  public private(set) var counters = Counters()

  /// Starts the device on `transport`: features, both queues (`queueSize` entries, or the
  /// device's maximum if smaller), every receive buffer given, DRIVER_OK. `offloads`: false
  /// for plain frames (a raw device, a forwarding application's links): no checksum or
  /// segmentation features asked for.
  public init(transport: any VirtioTransport, queueSize: UInt16 = 256, fallbackMAC: MACAddress, offloads: Bool = true)
    throws(VirtioStartError)
  {
    self.transport = transport
    // Coalesced frames (GUEST_TSO) only into mergeable buffers (else each receive buffer
    // would need 64 KiB), and only with GUEST_CSUM, as the specification requires.
    let coalescing = Feature.mergeableReceiveBuffers | Feature.guestChecksum
    let offloaded =
      offloads
      ? Feature.checksum | Feature.guestChecksum | Feature.hostTSO4 | Feature.hostTSO6 | Feature.guestTSO4 | Feature.guestTSO6 : 0
    try transport.negotiate(
      required: 0,
      wanted: offloaded | Feature.mtu | Feature.mac | Feature.mergeableReceiveBuffers | VirtioFeature.eventIndex,
      dependencies: [(Feature.guestTSO4, coalescing), (Feature.guestTSO6, coalescing)])
    let features = transport.features
    let eventIndex = features & VirtioFeature.eventIndex != 0
    let size = Self.queueSize(queueSize, maximum: min(transport.maximumQueueSize(0), transport.maximumQueueSize(1)))
    guard size > 0 else { throw .missingQueue(transport.maximumQueueSize(0) == 0 ? 0 : 1) }
    receiveQueue = Virtqueue(size: size, eventIndex: eventIndex)
    transmitQueue = Virtqueue(size: size, eventIndex: eventIndex)
    try transport.setUp(queue: receiveQueue, at: 0)
    try transport.setUp(queue: transmitQueue, at: 1)
    if features & Feature.mac != 0 {
      var raw: UInt64 = 0
      for index in 0..<6 { raw = raw << 8 | UInt64(transport.configuration8(index)) }
      macAddress = MACAddress(rawValue: raw)
    } else {
      macAddress = fallbackMAC
    }
    let configuredMTU = features & Feature.mtu != 0
      ? Int(transport.configuration8(10)) | Int(transport.configuration8(11)) << 8 : 1500
    mtu = min(max(configuredMTU, 576), 1500)
    var offloads: NetworkOffloads = []
    if features & Feature.checksum != 0 {
      offloads.insert(.transmitChecksum)
      if features & (Feature.hostTSO4 | Feature.hostTSO6) == Feature.hostTSO4 | Feature.hostTSO6 { offloads.insert(.tcpSegmentation) }
    }
    if features & (Feature.guestTSO4 | Feature.guestTSO6) != 0 { offloads.insert(.receiveCoalesced) }
    self.offloads = offloads
    transmitBufferSize = offloads.contains(.tcpSegmentation) ? Self.headerLength + 65536 + 18 : Self.receiveBufferSize
    receiveBuffers = .allocate(byteCount: Int(size) * Self.receiveBufferSize, alignment: 4096)
    transmitBuffers = .allocate(byteCount: Int(size) * transmitBufferSize, alignment: 4096)
    guestChecksum = features & Feature.guestChecksum != 0
    reassembly = features & Feature.mergeableReceiveBuffers != 0
      ? .allocate(byteCount: Self.largestCoalescedFrame, alignment: 64) : nil
    receiveSlots = Array(repeating: 0, count: Int(size))
    transmitSlots = Array(repeating: 0, count: Int(size))
    for slot in 0..<size { giveReceiveBuffer(at: slot) }
    freeTransmit = (0..<size).reversed().map { $0 }
    receiveQueue.interrupts(true)
    transmitQueue.interrupts(false)
    transport.start()
    notifyIfAsked(receiveQueue, 0)
  }

  /// Tells the device of new buffers on `queue` (index `index`) unless EVENT_IDX says it
  /// needs no word of them.
  func notifyIfAsked(_ queue: Virtqueue, _ index: UInt16) {
    guard queue.kick() else { return }
    transport.notify(index)
    counters.notifications &+= 1
  }

  deinit {
    receiveBuffers.deallocate()
    transmitBuffers.deallocate()
    reassembly?.deallocate()
  }

  /// Whether the device tells which received checksums need no verifying.
  let guestChecksum: Bool

  /// The queue size both queues take: `wanted`, or the device's maximum if smaller, a power
  /// of two (0 when a queue is missing).
  static func queueSize(_ wanted: UInt16, maximum: UInt16) -> UInt16 {
    guard maximum > 0 else { return 0 }
    var size: UInt16 = 1
    while size < 32768, size * 2 <= min(wanted, maximum) { size *= 2 }
    return size
  }

  /// Lends receive buffer `slot` to the device.
  func giveReceiveBuffer(at slot: UInt16) {
    let slot = Int(slot)
    let address = UInt64(UInt(bitPattern: receiveBuffers + slot * Self.receiveBufferSize))
    guard let head = receiveQueue.add([Virtqueue.Buffer(address: address, length: UInt32(Self.receiveBufferSize), deviceWrites: true)])
    else { return }
    receiveSlots[Int(head)] = slot
  }


  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    receive(offloaded: { frame, _ in body(frame) })
  }

  public func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    var rechecked = false
    while true {
      guard let completion = receiveQueue.next() else {
        // Nothing more: lower the interrupt (a virtio-mmio line stays up until acknowledged;
        // once per batch, not per frame: the status read is a VM exit), ask for an
        // interrupt at the next frame (used_event moves on), then look once more, in case
        // one came in before the device could see the request (once: a device whose used
        // index makes no sense must not keep the loop going).
        guard !rechecked else { return false }
        rechecked = true
        if transport.acknowledgeInterrupt() != nil { counters.interruptStatusReads &+= 1 }
        receiveQueue.interrupts(true)
        if receiveQueue.hasCompletions { continue }
        return false
      }
      let slot = receiveSlots[Int(completion.head)]
      defer {
        giveReceiveBuffer(at: UInt16(slot))
        notifyIfAsked(receiveQueue, 0)
      }
      let length = Int(completion.length)
      guard length >= Self.headerLength + 14 else {
        counters.runtFrames &+= 1
        continue
      }
      let buffer = UnsafeRawBufferPointer(start: receiveBuffers + slot * Self.receiveBufferSize, count: length)
      let verified = guestChecksum && VirtioNetHeader.checksumVerified(buffer)
      let pieces = reassembly == nil ? 1 : Int(UInt16(littleEndian: buffer.load(fromByteOffset: 10, as: UInt16.self)))
      guard pieces > 1 else {
        guard pieces == 1 else {
          counters.malformedFrames &+= 1
          continue
        }
        counters.receivedFrames &+= 1
        body(UnsafeRawBufferPointer(rebasing: buffer[Self.headerLength...]), verified)
        return true
      }
      guard let frame = gather(first: UnsafeRawBufferPointer(rebasing: buffer[Self.headerLength...]), pieces: pieces) else { continue }
      counters.receivedFrames &+= 1
      body(frame, verified)
      return true
    }
  }

  /// A frame of `pieces` buffers (MRG_RXBUF), `first` the first one's bytes after the
  /// header: the rest taken from the used ring and given back, the whole copied into the
  /// reassembly buffer. Nil (counted) when the count is past what the queue holds, the
  /// bytes past the largest coalesced frame, or the device has not used the rest.
  func gather(first: UnsafeRawBufferPointer, pieces: Int) -> UnsafeRawBufferPointer? {
    guard let reassembly, pieces <= Int(receiveQueue.size) else {
      counters.malformedFrames &+= 1
      return nil
    }
    var length = first.count
    var fits = length <= Self.largestCoalescedFrame
    if fits { reassembly.copyMemory(from: first.baseAddress!, byteCount: length) }
    for _ in 1..<pieces {
      guard let completion = receiveQueue.next() else {
        counters.incompleteFrames &+= 1
        return nil
      }
      let slot = receiveSlots[Int(completion.head)]
      let piece = Int(completion.length)
      if fits, length + piece <= Self.largestCoalescedFrame {
        (reassembly + length).copyMemory(from: receiveBuffers + slot * Self.receiveBufferSize, byteCount: piece)
      } else {
        fits = false
      }
      length += piece
      giveReceiveBuffer(at: UInt16(slot))
    }
    guard fits else {
      counters.malformedFrames &+= 1
      return nil
    }
    return UnsafeRawBufferPointer(start: reassembly, count: length)
  }

  public func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    transmit(length: length, offload: nil, body)
  }

  public func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(length >= 0 && Self.headerLength + length <= transmitBufferSize, "frame larger than the device takes")
    precondition(offload == nil || !offloads.isEmpty, "offload asked of a device without it")
    while let done = transmitQueue.next() { freeTransmit.append(transmitSlots[Int(done.head)]) }
    guard let slot = freeTransmit.popLast() else {
      counters.transmitQueueFull &+= 1
      return false
    }
    let buffer = UnsafeMutableRawBufferPointer(start: transmitBuffers + Int(slot) * transmitBufferSize, count: Self.headerLength + length)
    VirtioNetHeader.emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<VirtioNetHeader.length]), offload: offload)
    buffer.storeBytes(of: UInt16(0), toByteOffset: VirtioNetHeader.length, as: UInt16.self)  // num_buffers
    body(UnsafeMutableRawBufferPointer(rebasing: buffer[Self.headerLength...]))
    let address = UInt64(UInt(bitPattern: buffer.baseAddress))
    guard let head = transmitQueue.add([Virtqueue.Buffer(address: address, length: UInt32(buffer.count), deviceWrites: false)]) else {
      freeTransmit.append(slot)
      counters.transmitQueueFull &+= 1
      return false
    }
    transmitSlots[Int(head)] = slot
    counters.transmittedFrames &+= 1
    notifyIfAsked(transmitQueue, 1)
    return true
  }

}

extension VirtioNetworkDevice.Counters: TextConvertible {
  /// One line: the traffic, the exchanges and frames per notification, the drops.
  public func write(to text: inout Text) {
    let frames = receivedFrames &+ transmittedFrames
    let perNotification = notifications == 0 ? 0 : frames * 100 / notifications
    text.append("rx \(receivedFrames) frames, tx \(transmittedFrames) frames, \(notifications) notifications (")
    text.append("\(perNotification / 100).\(perNotification % 100 / 10)\(perNotification % 10) frames each), ")
    text.append("\(interruptStatusReads) interrupt status reads, drops: runt \(runtFrames) malformed \(malformedFrames) ")
    text.append("incomplete \(incompleteFrames) tx-full \(transmitQueueFull)")
  }
}
