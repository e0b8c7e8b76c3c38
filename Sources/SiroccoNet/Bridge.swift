// An 802.1D learning bridge over raw network devices (its ports): each frame's source
// address is learnt on the port it came in by, per VLAN (independent VLAN learning: a tag's
// 12-bit ID, 0 untagged); a frame to a known unicast address goes out of that port only
// (and is dropped if that is the port it came in by), any other (broadcast, multicast,
// unknown) is flooded out of every other port. The table holds at most `tableSize`
// addresses, the oldest learnt leaving first, and forgets an address `ageing` after its last
// frame. A port may admit only frames its filter matches (a compiled pcap-filter
// expression in Examples/bridge). A frame is sent from the receiving device's buffer where
// the sending device can (spt, unix TAPs), else copied once into its transmit buffer; tags
// are forwarded as they are. Over devices with offloads (TAPs with the
// virtio-net header), a TCP segment of up to 64 KiB the sender's kernel left uncut, or a
// checksum left to complete, is forwarded whole with that work still pending, as a Linux
// bridge forwards a GSO packet; a port without the offload gets the finished frames.

import SiroccoDevices
import SiroccoWire

public final class LearningBridge {
  public struct Configuration: Sendable {
    /// Addresses remembered at most.
    public var tableSize = 4096
    /// How long an address is remembered after its last frame.
    public var ageing: Duration = .seconds(300)
    /// Frames taken from one port in a turn before the next port's.
    public var burst = 64

    public init() {}
  }

  public struct Counters: Equatable, Sendable {
    /// Frames sent out of one port, to a learnt address.
    public var forwarded = 0
    /// Frames sent out of every other port (broadcast, multicast, unknown destination).
    public var flooded = 0
    /// Frames to an address learnt on the port they came in by: dropped.
    public var local = 0
    /// Frames a port's filter did not admit.
    public var filtered = 0
    /// Frames shorter than an Ethernet header.
    public var malformed = 0
    /// Frames longer than the outgoing port sends, or that it failed to send (per port).
    public var dropped = 0
    /// Frames forwarded with offload work pending (a checksum, a segment to cut), per port:
    /// handed on whole, or finished here for a port without the offload.
    public var offloaded = 0
    public var finishedHere = 0
    public var learnt = 0
    /// Addresses seen on another port than the one they were learnt on.
    public var moved = 0
    /// Addresses forgotten to make room, and forgotten after `ageing`.
    public var evicted = 0
    public var aged = 0
  }

  struct Key: Hashable {
    var vlan: UInt16
    var address: UInt64
  }

  struct Entry {
    var port: Int
    var seen: Instant
    /// Which insertion this is (to tell a stale entry of `order` from the live one).
    var serial: UInt64
  }

  public let ports: [any NetworkDevice]
  /// A port's admission test (nil: every frame).
  let admits: [((UnsafeRawBufferPointer) -> Bool)?]
  public let configuration: Configuration
  public private(set) var counters = Counters()
  var table: [Key: Entry] = [:]
  /// Keys in the order they were learnt, with the serial they were learnt under.
  var order: [(key: Key, serial: UInt64)] = []
  var orderStart = 0
  var serial: UInt64 = 0
  var nextPort = 0

  /// `admits[i]`: what port `i` lets in (nil or missing: everything).
  public init(ports: [any NetworkDevice], admits: [((UnsafeRawBufferPointer) -> Bool)?] = [], configuration: Configuration = Configuration()) {
    precondition(ports.count >= 2, "a bridge has two ports or more")
    precondition(configuration.tableSize >= 1, "the table holds one address at least")
    self.ports = ports
    self.admits = (0..<ports.count).map { $0 < admits.count ? admits[$0] : nil }
    self.configuration = configuration
  }

  /// Addresses learnt now.
  public var tableCount: Int { table.count }

  /// The port address `mac` was learnt on in `vlan`, if it is remembered.
  public func port(of mac: MACAddress, vlan: UInt16 = 0, now: Instant) -> Int? {
    guard let entry = table[Key(vlan: vlan, address: mac.rawValue)], now - entry.seen <= configuration.ageing else { return nil }
    return entry.port
  }

  /// Moves the frames waiting on the ports, at most `burst` from each in turn (the port
  /// served first rotates); whether more may wait.
  public func poll(now: Instant) -> Bool {
    var more = false
    for offset in 0..<ports.count {
      let index = (nextPort + offset) % ports.count
      var moved = 0
      while moved < configuration.burst,
        ports[index].receive(forwarding: { frame, pending in forward(frame, pending: pending, from: index, now: now) })
      {
        moved += 1
      }
      if moved == configuration.burst { more = true }
    }
    nextPort = (nextPort + 1) % ports.count
    return more
  }

  func forward(_ frame: UnsafeRawBufferPointer, pending: TransmitOffload? = nil, from index: Int, now: Instant) {
    guard frame.count >= 14 else {
      counters.malformed += 1
      return
    }
    if let admit = admits[index], !admit(frame) {
      counters.filtered += 1
      return
    }
    let destination = Self.address(frame, 0)
    let source = Self.address(frame, 6)
    let type = UInt16(frame[12]) << 8 | UInt16(frame[13])
    var vlan: UInt16 = 0
    if (type == 0x8100 || type == 0x88a8 || type == 0x9100) && frame.count >= 16 {
      vlan = (UInt16(frame[14]) << 8 | UInt16(frame[15])) & 0x0fff
    }
    if source & (1 << 40) == 0 { learn(Key(vlan: vlan, address: source), port: index, now: now) }
    if destination & (1 << 40) == 0, let entry = table[Key(vlan: vlan, address: destination)] {
      if now - entry.seen > configuration.ageing {
        table[Key(vlan: vlan, address: destination)] = nil
        counters.aged += 1
      } else if entry.port == index {
        counters.local += 1
        return
      } else {
        if send(frame, pending: pending, to: entry.port) { counters.forwarded += 1 }
        return
      }
    }
    for port in ports.indices where port != index { _ = send(frame, pending: pending, to: port) }
    counters.flooded += 1
  }

  func send(_ frame: UnsafeRawBufferPointer, pending: TransmitOffload?, to port: Int) -> Bool {
    let device = ports[port]
    if let pending {
      counters.offloaded += 1
      guard !device.accepts(pending) else {
        guard frame.count <= device.maximumFrameLength(for: pending), device.transmit(frame, offload: pending) else {
          counters.dropped += 1
          return false
        }
        return true
      }
      counters.finishedHere += 1
      var sent = true
      SoftwareOffload.finish(frame, pending) { piece in sent = send(piece, pending: nil, to: port) && sent }
      return sent
    }
    guard frame.count <= device.maximumFrameLength, device.transmit(frame, offload: nil) else {
      counters.dropped += 1
      return false
    }
    return true
  }

  static func address(_ frame: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for index in offset..<(offset + 6) { value = value << 8 | UInt64(frame[index]) }
    return value
  }

  func learn(_ key: Key, port: Int, now: Instant) {
    if var entry = table[key] {
      if entry.port != port {
        counters.moved += 1
        entry.port = port
      }
      entry.seen = now
      table[key] = entry
      return
    }
    if table.count >= configuration.tableSize { evictOldest() }
    serial &+= 1
    table[key] = Entry(port: port, seen: now, serial: serial)
    order.append((key, serial))
    counters.learnt += 1
    // Drop what eviction has passed over once it is half the queue.
    if orderStart > 1024, orderStart * 2 > order.count {
      order.removeFirst(orderStart)
      orderStart = 0
    }
  }

  /// Forgets the address learnt longest ago (entries forgotten otherwise are skipped).
  func evictOldest() {
    while orderStart < order.count {
      let (key, serial) = order[orderStart]
      orderStart += 1
      if let entry = table[key], entry.serial == serial {
        table[key] = nil
        counters.evicted += 1
        return
      }
    }
  }
}
