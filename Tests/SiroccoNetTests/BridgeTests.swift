// The learning bridge over in-memory ports: learning, forwarding, flooding, VLANs, moves,
// ageing, the table's bound under a flood of source addresses, admission filters, TCP
// segments with offload work pending forwarded whole or finished for a port without it.

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

final class BridgeTests: XCTestCase {
  /// A frame from `source` to `destination` (MACs as their last byte, 02:00:00:00:00:NN, or
  /// a whole MAC), with an optional VLAN tag.
  func frame(from source: UInt64, to destination: UInt64, vlan: UInt16? = nil, length: Int = 60) -> [UInt8] {
    func mac(_ value: UInt64) -> [UInt8] {
      let full = value > 0xff ? value : 0x0200_0000_0000 | value
      return (0..<6).map { UInt8(truncatingIfNeeded: full >> UInt64(8 * (5 - $0))) }
    }
    var bytes = mac(destination) + mac(source)
    if let vlan { bytes += [0x81, 0x00, UInt8(vlan >> 8), UInt8(truncatingIfNeeded: vlan)] }
    bytes += [0x08, 0x00]
    return bytes + [UInt8](repeating: 0xab, count: max(0, length - bytes.count))
  }

  func makeBridge(ports: Int = 3, tableSize: Int = 4096, ageing: Duration = .seconds(300),
                  admits: [((UnsafeRawBufferPointer) -> Bool)?] = []) -> (LearningBridge, [MemoryNetworkDevice]) {
    let devices = (0..<ports).map { MemoryNetworkDevice(macAddress: MACAddress(0x02, 0xbb, 0, 0, 0, UInt8($0))) }
    var configuration = LearningBridge.Configuration()
    configuration.tableSize = tableSize
    configuration.ageing = ageing
    return (LearningBridge(ports: devices, admits: admits, configuration: configuration), devices)
  }

  func testUnknownAndBroadcastFloodAndLearntAddressesGoOutOfOnePort() {
    let (bridge, ports) = makeBridge()
    let now = Instant.zero
    ports[0].inject(frame(from: 1, to: 2))
    _ = bridge.poll(now: now)
    XCTAssertEqual(ports[0].takeTransmitted().count, 0, "never back out of the port it came in by")
    XCTAssertEqual(ports[1].takeTransmitted(), [frame(from: 1, to: 2)], "unknown: flooded")
    XCTAssertEqual(ports[2].takeTransmitted(), [frame(from: 1, to: 2)])
    XCTAssertEqual(bridge.port(of: MACAddress(rawValue: 0x0200_0000_0001), now: now), 0)
    ports[1].inject(frame(from: 2, to: 1))
    _ = bridge.poll(now: now)
    XCTAssertEqual(ports[0].takeTransmitted(), [frame(from: 2, to: 1)], "learnt: forwarded to port 0 only")
    XCTAssertEqual(ports[2].takeTransmitted().count, 0)
    ports[0].inject(frame(from: 1, to: 0xffff_ffff_ffff))
    _ = bridge.poll(now: now)
    XCTAssertEqual(ports[1].takeTransmitted().count + ports[2].takeTransmitted().count, 2, "broadcast: flooded")
    // To an address on the same port: dropped.
    ports[0].inject(frame(from: 3, to: 1))
    _ = bridge.poll(now: now)
    XCTAssertEqual(ports.map { $0.takeTransmitted().count }, [0, 0, 0])
    XCTAssertEqual(bridge.counters.forwarded, 1)
    XCTAssertEqual(bridge.counters.flooded, 2)
    XCTAssertEqual(bridge.counters.local, 1)
    XCTAssertEqual(bridge.counters.learnt, 3)
  }

  func testAddressesAreLearntPerVLANAndRelearntWhenTheyMove() {
    let (bridge, ports) = makeBridge()
    let now = Instant.zero
    ports[0].inject(frame(from: 1, to: 9, vlan: 10))
    _ = bridge.poll(now: now)
    _ = ports.map { $0.takeTransmitted() }
    XCTAssertEqual(bridge.port(of: MACAddress(rawValue: 0x0200_0000_0001), vlan: 10, now: now), 0)
    XCTAssertNil(bridge.port(of: MACAddress(rawValue: 0x0200_0000_0001), vlan: 0, now: now), "another VLAN knows nothing")
    ports[2].inject(frame(from: 2, to: 1, vlan: 0))
    _ = bridge.poll(now: now)
    XCTAssertEqual(ports[0].takeTransmitted().count + ports[1].takeTransmitted().count, 2, "untagged: unknown, flooded")
    // 1 moves to port 1 (in VLAN 10).
    ports[1].inject(frame(from: 1, to: 0xffff_ffff_ffff, vlan: 10))
    _ = bridge.poll(now: now)
    _ = ports.map { $0.takeTransmitted() }
    XCTAssertEqual(bridge.port(of: MACAddress(rawValue: 0x0200_0000_0001), vlan: 10, now: now), 1)
    XCTAssertEqual(bridge.counters.moved, 1)
  }

  func testAnAddressIsForgottenAfterTheAgeingTime() {
    let (bridge, ports) = makeBridge(ageing: .seconds(10))
    ports[0].inject(frame(from: 1, to: 9))
    _ = bridge.poll(now: .zero)
    _ = ports.map { $0.takeTransmitted() }
    ports[1].inject(frame(from: 2, to: 1))
    _ = bridge.poll(now: .zero + .seconds(5))
    XCTAssertEqual(ports[0].takeTransmitted().count, 1)
    XCTAssertEqual(ports[2].takeTransmitted().count, 0, "still known at 5 s")
    ports[1].inject(frame(from: 2, to: 1))
    _ = bridge.poll(now: .zero + .seconds(11))
    XCTAssertEqual(ports[0].takeTransmitted().count + ports[2].takeTransmitted().count, 2, "forgotten at 11 s: flooded")
    XCTAssertEqual(bridge.counters.aged, 1)
  }

  /// 100,000 frames from random sources: the table never holds more than its size, the
  /// oldest learnt go first, and the bridge still forwards between known addresses after.
  func testTheTableStaysWithinItsBoundUnderAFloodOfSourceAddresses() {
    let (bridge, ports) = makeBridge(ports: 2, tableSize: 256)
    var generator = SystemRandomNumberGenerator()
    var now = Instant.zero
    for round in 0..<1000 {
      for _ in 0..<100 {
        let source = UInt64.random(in: 0..<(1 << 40), using: &generator) | 0x0200_0000_0000
        ports[0].inject(frame(from: source & ~(1 << 40), to: 0x0200_0000_0099))
      }
      while bridge.poll(now: now) {}
      _ = ports[1].takeTransmitted()
      XCTAssertLessThanOrEqual(bridge.tableCount, 256, "round \(round)")
      now = now + .milliseconds(1)
    }
    XCTAssertEqual(bridge.counters.evicted, bridge.counters.learnt - 256)
    ports[1].inject(frame(from: 0x50, to: 0x51))
    ports[0].inject(frame(from: 0x51, to: 0x50))
    _ = bridge.poll(now: now)
    _ = ports.map { $0.takeTransmitted() }
    ports[1].inject(frame(from: 0x50, to: 0x51))
    _ = bridge.poll(now: now)
    XCTAssertEqual(ports[0].takeTransmitted(), [frame(from: 0x50, to: 0x51)], "learnt after the flood: forwarded")
  }

  func testAPortAdmitsOnlyWhatItsFilterMatchesAndShortFramesAreDropped() {
    let (bridge, ports) = makeBridge(ports: 2, admits: [{ frame in frame.count > 100 }])
    ports[0].inject(frame(from: 1, to: 2, length: 60))
    ports[0].inject(frame(from: 1, to: 2, length: 200))
    ports[0].inject([1, 2, 3])
    ports[1].inject(frame(from: 2, to: 1, length: 60))
    _ = bridge.poll(now: .zero)
    XCTAssertEqual(ports[1].takeTransmitted().map(\.count), [200])
    XCTAssertEqual(ports[0].takeTransmitted().map(\.count), [60], "port 1 admits everything")
    XCTAssertEqual(bridge.counters.filtered, 1)
    XCTAssertEqual(bridge.counters.malformed, 1)
  }

  func testAnOffloadedSegmentCrossesWholeOrIsFinishedForAPortWithoutTheOffload() throws {
    let (bridge, ports) = makeBridge(ports: 3)
    ports[1].emulatedOffloads = [.transmitChecksum, .tcpSegmentation]
    // 4,000 bytes of TCP its sender's kernel left to cut into 1,000-byte segments.
    let segment = tcpFrame(port: 80, sequence: 1000, flags: [.ack], pattern(4000))
    let pending = TransmitOffload(checksumStart: 34, checksumOffset: 16, headerLength: 54, segmentSize: 1000)
    ports[0].inject(segment, pending: pending)
    _ = bridge.poll(now: .zero)
    XCTAssertEqual(ports[1].transmitCalls, 1, "a port with the offload: handed on whole")
    XCTAssertEqual(ports[2].transmitCalls, 4, "a port without: cut here")
    for port in [1, 2] {
      let sent = ports[port].takeTransmitted()
      XCTAssertEqual(sent.count, 4, "port \(port)")
      var payload: [UInt8] = []
      for (index, piece) in sent.enumerated() {
        let segment = Array(piece[34...])
        XCTAssertEqual(referenceChecksum(Array(piece[14..<34])), 0, "port \(port): IPv4 header checksum")
        XCTAssertEqual(referenceChecksum(pseudoHeader(source: peerIP, destination: ourIP, protocol: 6, segment)), 0, "port \(port): TCP checksum")
        let sequence = UInt32(be16(segment, 4)) << 16 | UInt32(be16(segment, 6))
        XCTAssertEqual(sequence, 1000 + UInt32(index * 1000), "port \(port)")
        payload += segment[20...]
      }
      XCTAssertEqual(payload, pattern(4000), "port \(port): the bytes, in order")
    }
    XCTAssertEqual(bridge.counters.offloaded, 2)
    XCTAssertEqual(bridge.counters.finishedHere, 1)
    XCTAssertEqual(bridge.counters.flooded, 1)
    // `FinishedFrames` (what Boot.rawNetwork gives an application) lends them finished.
    ports[0].inject(segment, pending: pending)
    var lengths: [Int] = []
    XCTAssertTrue(FinishedFrames(ports[0]).receive { lengths.append($0.count) })
    XCTAssertEqual(lengths, [1054, 1054, 1054, 1054])
  }
}
