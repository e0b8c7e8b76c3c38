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
}

extension NetworkDevice {
  /// The largest frame this device sends: the MTU plus an Ethernet header and a VLAN tag.
  public var maximumFrameLength: Int { mtu + 18 }
}
