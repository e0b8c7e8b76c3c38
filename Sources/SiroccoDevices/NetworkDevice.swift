// The network device interface: Ethernet frames in and out, buffers lent by the device.

import SiroccoWire

/// An Ethernet device. Frames carry no preamble and no FCS.
///
/// Buffers are lent, not copied: `receive` lends the next received frame, `transmit` lends
/// a buffer to fill. A frame may be transmitted from inside `receive`'s closure (an echo
/// reply is built while the request is still lent), so a device keeps separate receive
/// and transmit buffers.
public protocol NetworkDevice: AnyObject {
  /// The device's own MAC address: the source of every frame the stack sends.
  var macAddress: MACAddress { get }
  /// The largest IP packet a frame can carry (1500 on Ethernet).
  var mtu: Int { get }
  /// Lends the next received frame to `body`. Returns false, without calling `body`, when
  /// no frame is waiting.
  func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool
  /// Lends a buffer of exactly `length` bytes (at most `mtu` + 18) for `body` to fill with
  /// a whole frame, then sends it. Returns false when the frame could not be sent (the
  /// device is full or failed); the caller counts the drop.
  func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool
  /// The offloads the device performs (none by default).
  var offloads: NetworkOffloads { get }
  /// `transmit` with offload work for the device (`offload` only if `offloads` allows it).
  func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool
  /// `receive`, also telling whether the device vouches for the frame's transport checksum.
  func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool
  /// `receive` for a forwarder: the frame as its sender left it, with the offload work
  /// still to do on it (a checksum to complete, a TCP segment of up to 64 KiB to cut) for
  /// `transmit(length:offload:)` on another device to hand on whole, or for
  /// `SoftwareOffload` to finish; nil when the frame is final (always, without offloads).
  /// (Plain `receive` lends frames as the device has them; `FinishedFrames` finishes them.)
  func receive(forwarding body: (UnsafeRawBufferPointer, _ pending: TransmitOffload?) -> Void) -> Bool
  /// Sends `frame` as it is, a frame another device lent (a forwarder's), with `offload`
  /// work for this device (only if it `accepts` it): what `transmit(length:offload:)` does
  /// with a copy, which a device that can send the frame from where it lies skips.
  func transmit(_ frame: UnsafeRawBufferPointer, offload: TransmitOffload?) -> Bool
}

extension NetworkDevice {
  /// The largest frame this device sends: the MTU plus an Ethernet header and a VLAN tag.
  public var maximumFrameLength: Int { mtu + 18 }
}

/// Work a device can do for the stack: the virtio-net header's offloads (a TAP opened with
/// IFF_VNET_HDR, a virtio NIC). A device without them sends and receives plain frames.
public struct NetworkOffloads: OptionSet, Sendable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  /// Completes a transport checksum on transmit: the stack writes only the pseudo-header
  /// sum and says where the checksum lies (`TransmitOffload`).
  public static let transmitChecksum = NetworkOffloads(rawValue: 1)
  /// Cuts a TCP segment (over IPv4 or IPv6) of up to 64 KiB into segments of `segmentSize`
  /// (TSO).
  public static let tcpSegmentation = NetworkOffloads(rawValue: 2)
  /// Hands over TCP segments coalesced beyond the MTU (up to 64 KiB) and says when a
  /// frame's transport checksum needs no verifying (`receive(offloaded:)`).
  public static let receiveCoalesced = NetworkOffloads(rawValue: 4)
}

/// How the device finishes a frame on transmit (the virtio-net header's fields).
public struct TransmitOffload: Sendable, Equatable {
  /// Offset in the frame where checksumming starts (the transport header), and of the
  /// checksum field from there.
  public var checksumStart: Int
  public var checksumOffset: Int
  /// The length of the Ethernet, IP and TCP headers every cut segment repeats.
  public var headerLength: Int
  /// The TCP payload of each segment to cut; 0 for a frame sent as it is.
  public var segmentSize: Int
  /// The segment to cut is TCP over IPv6 (virtio-net's GSO_TCPV6), not over IPv4.
  public var ipv6: Bool

  public init(checksumStart: Int, checksumOffset: Int, headerLength: Int, segmentSize: Int, ipv6: Bool = false) {
    self.checksumStart = checksumStart
    self.checksumOffset = checksumOffset
    self.headerLength = headerLength
    self.segmentSize = segmentSize
    self.ipv6 = ipv6
  }
}

extension NetworkDevice {
  /// None, unless a device says otherwise.
  public var offloads: NetworkOffloads { [] }

  /// `transmit` with offload work for the device; without offloads, the plain transmit.
  public func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    precondition(offload == nil, "offload asked of a device without offloads")
    return transmit(length: length, body)
  }

  /// `receive`, also telling whether the device vouches for the frame's transport checksum
  /// (verified, or never computed because the frame came from the host's own stack).
  public func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    receive { body($0, false) }
  }

  /// Final frames only, unless a device says otherwise.
  public func receive(forwarding body: (UnsafeRawBufferPointer, _ pending: TransmitOffload?) -> Void) -> Bool {
    receive { body($0, nil) }
  }

  /// A copy into the transmit buffer, unless a device says otherwise.
  public func transmit(_ frame: UnsafeRawBufferPointer, offload: TransmitOffload?) -> Bool {
    transmit(length: frame.count, offload: offload) { $0.copyMemory(from: frame) }
  }

  /// Whether this device's `transmit(length:offload:)` takes `offload` (a checksum to
  /// complete; a segment to cut as well when `segmentSize` is not 0).
  public func accepts(_ offload: TransmitOffload) -> Bool {
    offloads.contains(offload.segmentSize > 0 ? [.transmitChecksum, .tcpSegmentation] : .transmitChecksum)
  }

  /// The longest frame `transmit` takes: 64 KiB of IP and its Ethernet header for a segment
  /// the device cuts, `maximumFrameLength` otherwise.
  public func maximumFrameLength(for offload: TransmitOffload?) -> Int {
    (offload?.segmentSize ?? 0) > 0 ? 65535 + 18 : maximumFrameLength
  }
}

/// A device whose plain `receive` lends final frames only: a frame the device holds with
/// offload work pending (a TCP segment of up to 64 KiB left uncut, a checksum left to
/// complete) is finished in software and lent as the frames it stands for, one call each.
/// Everything else passes through (a forwarder's `receive(forwarding:)` and sends from where
/// a frame lies). What `Boot.rawNetwork` gives an application for a device with offloads.
public final class FinishedFrames: NetworkDevice {
  public let device: any NetworkDevice

  public init(_ device: any NetworkDevice) { self.device = device }

  public var macAddress: MACAddress { device.macAddress }
  public var mtu: Int { device.mtu }
  public var offloads: NetworkOffloads { device.offloads }

  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    device.receive(forwarding: { frame, pending in
      guard let pending else { return body(frame) }
      SoftwareOffload.finish(frame, pending, body)
    })
  }

  public func receive(offloaded body: (UnsafeRawBufferPointer, _ checksumVerified: Bool) -> Void) -> Bool {
    device.receive(offloaded: body)
  }

  public func receive(forwarding body: (UnsafeRawBufferPointer, _ pending: TransmitOffload?) -> Void) -> Bool {
    device.receive(forwarding: body)
  }

  public func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    device.transmit(length: length, body)
  }

  public func transmit(length: Int, offload: TransmitOffload?, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    device.transmit(length: length, offload: offload, body)
  }

  public func transmit(_ frame: UnsafeRawBufferPointer, offload: TransmitOffload?) -> Bool {
    device.transmit(frame, offload: offload)
  }
}
