// The pcap writer: a device that records every frame it receives or sends in the classic
// pcap format (https://www.tcpdump.org/manpages/pcap-savefile.5.html).

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

/// A `ByteSink` that keeps what is written.
final class MemorySink: ByteSink {
  var bytes: [UInt8] = []
  func write(_ buffer: UnsafeRawBufferPointer) { bytes += buffer }
}

/// A wall clock the test sets.
final class FixedWallClock: WallClock {
  var time: WallTime
  init(_ nanoseconds: Int64) { time = WallTime(nanosecondsSinceEpoch: nanoseconds) }
  func now() -> WallTime { time }
}

func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

/// One record header: seconds, microseconds, captured and original length, little-endian.
func recordHeader(seconds: UInt32, microseconds: UInt32, captured: Int, length: Int) -> [UInt8] {
  le32(seconds) + le32(microseconds) + le32(UInt32(captured)) + le32(UInt32(length))
}

final class PcapWriterTests: XCTestCase {
  func testGlobalHeader() {
    let sink = MemorySink()
    let writer = PcapWriter(MemoryNetworkDevice(macAddress: ourMAC), sink: sink, clock: FixedWallClock(0))
    XCTAssertEqual(
      hex(sink.bytes),
      hex(bytes("""
        d4c3b2a1 0200 0400
        00000000 00000000
        ffff0000 01000000
        """)))
    XCTAssertEqual(writer.snapshotLength, 65535)
    XCTAssertEqual(writer.recordedFrames, 0)
    XCTAssertEqual(writer.macAddress, ourMAC)
    XCTAssertEqual(writer.mtu, 1500)
  }

  func testRecordsReceivedAndTransmittedFrames() throws {
    let sink = MemorySink()
    let clock = FixedWallClock(1_700_000_000_123_456_789)
    let inner = MemoryNetworkDevice(macAddress: ourMAC)
    let writer = PcapWriter(inner, sink: sink, clock: clock)
    var configuration = Link.Configuration(name: "service", macAddress: ourMAC)
    configuration.announcements = 0
    configuration.ipv6 = false
    let stack = Stack<PcapWriter<MemoryNetworkDevice>>(seed: 1)
    stack.add(ourNetwork, to: stack.attach(writer, configuration: configuration))

    let request = arpRequestFrame()
    inner.inject(request)
    stack.poll(now: .zero)
    let reply = inner.takeTransmitted()
    XCTAssertEqual(reply.count, 1)

    clock.time = WallTime(nanosecondsSinceEpoch: 1_700_000_005_000_999_999)
    let socket = try stack.bindUDP(port: 7)
    try socket.send(pattern(100), to: .v4(.broadcast), port: 9)
    stack.poll(now: at(seconds: 5))
    let datagram = inner.takeTransmitted()
    XCTAssertEqual(datagram.count, 1)
    XCTAssertEqual(datagram[0].count, 14 + 20 + 8 + 100)

    var expected = Array(sink.bytes.prefix(24))
    expected += recordHeader(seconds: 1_700_000_000, microseconds: 123_456, captured: 42, length: 42) + request
    expected += recordHeader(seconds: 1_700_000_000, microseconds: 123_456, captured: 42, length: 42) + reply[0]
    expected += recordHeader(seconds: 1_700_000_005, microseconds: 999, captured: 142, length: 142) + datagram[0]
    XCTAssertEqual(sink.bytes.count, 24 + 3 * 16 + 42 + 42 + 142)
    XCTAssertEqual(hex(sink.bytes), hex(expected))
    XCTAssertEqual(writer.recordedFrames, 3)
  }

  func testSnapshotLengthTruncatesTheCaptureButKeepsTheLength() {
    let sink = MemorySink()
    let inner = MemoryNetworkDevice(macAddress: ourMAC)
    let writer = PcapWriter(inner, sink: sink, clock: FixedWallClock(2_000_000_000), snapshotLength: 20)
    XCTAssertEqual(Array(sink.bytes[16..<20]), le32(20))
    let frame = arpRequestFrame()
    inner.inject(frame)
    var received: [UInt8] = []
    XCTAssertTrue(writer.receive { received = Array($0) })
    XCTAssertEqual(received, frame, "the stack still gets the whole frame")
    XCTAssertEqual(
      Array(sink.bytes[24...]), recordHeader(seconds: 2, microseconds: 0, captured: 20, length: 42) + frame.prefix(20))
  }

  func testNothingIsRecordedWhenNothingMoves() {
    let sink = MemorySink()
    let inner = MemoryNetworkDevice(macAddress: ourMAC)
    let writer = PcapWriter(inner, sink: sink, clock: FixedWallClock(0))
    XCTAssertFalse(writer.receive { _ in XCTFail("no frame to lend") })
    inner.acceptsTransmit = false
    XCTAssertFalse(writer.transmit(length: 60) { buffer in for index in buffer.indices { buffer[index] = 1 } })
    XCTAssertEqual(sink.bytes.count, 24)
    XCTAssertEqual(writer.recordedFrames, 0)
    inner.acceptsTransmit = true
    XCTAssertTrue(writer.transmit(length: 60) { buffer in for index in buffer.indices { buffer[index] = 1 } })
    XCTAssertEqual(sink.bytes.count, 24 + 16 + 60)
    XCTAssertEqual(Array(sink.bytes[40...]), [UInt8](repeating: 1, count: 60), "recorded after the body filled it")
    XCTAssertEqual(inner.takeTransmitted(), [[UInt8](repeating: 1, count: 60)])
  }
}
