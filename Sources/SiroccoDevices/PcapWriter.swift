// A wrapper device that records every frame it receives or sends in the classic pcap
// format (https://www.tcpdump.org/manpages/pcap-savefile.5.html), readable by `tcpdump -r`.

import SiroccoWire

public final class PcapWriter<Inner: NetworkDevice>: NetworkDevice {
  public let inner: Inner
  let sink: any ByteSink
  let clock: any WallClock
  public let snapshotLength: Int
  /// Frames written to the file so far.
  public private(set) var recordedFrames = 0

  /// Wraps `inner`; writes the file header to `sink` at once.
  public init(_ inner: Inner, sink: any ByteSink, clock: any WallClock, snapshotLength: Int = 65535) {
    self.inner = inner
    self.sink = sink
    self.clock = clock
    self.snapshotLength = snapshotLength
    var header = [UInt8](repeating: 0, count: 24)
    header.withUnsafeMutableBytes { bytes in
      // Written in the host's order (little-endian here), as libpcap does; readers detect it
      // from the magic number.
      bytes.storeBytes(of: UInt32(0xa1b2_c3d4), toByteOffset: 0, as: UInt32.self)  // magic, microseconds
      bytes.storeBytes(of: UInt16(2), toByteOffset: 4, as: UInt16.self)  // version 2.4
      bytes.storeBytes(of: UInt16(4), toByteOffset: 6, as: UInt16.self)
      bytes.storeBytes(of: UInt32(0), toByteOffset: 8, as: UInt32.self)  // thiszone
      bytes.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)  // sigfigs
      bytes.storeBytes(of: UInt32(snapshotLength), toByteOffset: 16, as: UInt32.self)
      bytes.storeBytes(of: UInt32(1), toByteOffset: 20, as: UInt32.self)  // LINKTYPE_ETHERNET
      sink.write(UnsafeRawBufferPointer(bytes))
    }
  }

  public var macAddress: MACAddress { inner.macAddress }
  public var mtu: Int { inner.mtu }

  public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    inner.receive { frame in
      record(frame)
      body(frame)
    }
  }

  public func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    inner.transmit(length: length) { frame in
      body(frame)
      record(UnsafeRawBufferPointer(frame))
    }
  }

  func record(_ frame: UnsafeRawBufferPointer) {
    let time = clock.now().nanosecondsSinceEpoch
    let captured = min(frame.count, snapshotLength)
    withUnsafeTemporaryAllocation(byteCount: 16, alignment: 4) { header in
      header.storeBytes(of: UInt32(truncatingIfNeeded: time / 1_000_000_000), toByteOffset: 0, as: UInt32.self)
      header.storeBytes(of: UInt32(truncatingIfNeeded: time % 1_000_000_000 / 1000), toByteOffset: 4, as: UInt32.self)
      header.storeBytes(of: UInt32(captured), toByteOffset: 8, as: UInt32.self)
      header.storeBytes(of: UInt32(frame.count), toByteOffset: 12, as: UInt32.self)
      sink.write(UnsafeRawBufferPointer(header))
    }
    sink.write(frame.slice(from: 0, length: captured))
    recordedFrames += 1
  }
}
