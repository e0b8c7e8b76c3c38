// TCP between two interfaces over an in-memory link, with a test clock: handshake, data both
// ways, orderly close, resets, retransmission over a lossy link.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

/// Two stacks back to back: the client at 10.0.0.1, the server at 10.0.0.2.
final class TCPPair {
  let link = MemoryLink()
  let clientDevice: MemoryNetworkDevice
  let serverDevice: MemoryNetworkDevice
  let client: Stack<MemoryNetworkDevice>
  let server: Stack<MemoryNetworkDevice>
  var now = Instant(nanoseconds: 1_000_000_000)
  /// Drops a frame travelling either way when it returns true (its index counts all frames).
  var lose: (Int) -> Bool = { _ in false }
  /// Sees every frame before delivery, with `toServer` telling the direction; false drops it.
  var deliver: (_ frame: [UInt8], _ toServer: Bool) -> Bool = { _, _ in true }
  /// Impairments applied to every frame that survives `lose`, as fractions of 1000:
  /// reordering (held back one step), duplication.
  var reorderPerMille = 0
  var duplicatePerMille = 0
  private var random: UInt64 = 0x9e37_79b9_7f4a_7c15
  private var heldTowardA: [[UInt8]] = []
  private var heldTowardB: [[UInt8]] = []

  private func roll() -> Int {
    random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int(random >> 33) % 1000
  }

  /// Reorders and duplicates the frames about to be delivered.
  private func impair(_ frames: [[UInt8]], held: inout [[UInt8]]) -> [[UInt8]] {
    var out = held
    held = []
    for frame in frames {
      if roll() < reorderPerMille {
        held.append(frame)  // overtaken by what follows
        continue
      }
      out.append(frame)
      if roll() < duplicatePerMille { out.append(frame) }
    }
    return out
  }
  var framesSeen = 0

  /// The server's address: 10.0.0.2, or fd00::2 over IPv6 (the client is .1 or ::1).
  let serverAddress: IPAddress

  /// Over IPv6 (`ipv6`), the addresses are in use at once (no DAD) and the pair finds each
  /// other by neighbour discovery; else over IPv4 alone, by ARP.
  init(ipv6: Bool = false) {
    clientDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 1), link: link, side: .a)
    serverDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 2), link: link, side: .b)
    client = Stack(seed: 1)
    server = Stack(seed: 2)
    serverAddress = ipv6 ? .v6(IPv6Address("fd00::2")!) : .v4(IPv4Address(10, 0, 0, 2))
    for (stack, device, host) in [(client, clientDevice, UInt8(1)), (server, serverDevice, UInt8(2))] {
      var configuration = Link.Configuration(name: "service", macAddress: device.macAddress)
      configuration.announcements = 0
      configuration.ipv6 = ipv6
      configuration.duplicateAddressDetectionTransmits = 0
      configuration.routerSolicitations = 0
      let link = stack.attach(device, configuration: configuration)
      if ipv6 {
        try! stack.add(IPv6Network(address: IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, UInt16(host)), prefixLength: 64), to: link, now: now)
      } else {
        stack.add(IPv4Network(address: IPv4Address(10, 0, 0, host), prefixLength: 24), to: link)
      }
    }
  }

  /// One round: both stacks poll, frames cross the link (some lost), time moves on.
  func step(by duration: Duration = .milliseconds(1)) {
    client.poll(now: now)
    link.towardB = impair(
      link.towardB.filter { frame in defer { framesSeen += 1 }; return !lose(framesSeen) && deliver(frame, true) },
      held: &heldTowardB)
    server.poll(now: now)
    link.towardA = impair(
      link.towardA.filter { frame in defer { framesSeen += 1 }; return !lose(framesSeen) && deliver(frame, false) },
      held: &heldTowardA)
    now = now + duration
  }

  /// Steps until `condition` holds, at most `limit` rounds.
  @discardableResult
  func run(until condition: () -> Bool, limit: Int = 200_000) -> Bool {
    for _ in 0..<limit {
      if condition() { return true }
      step()
    }
    return condition()
  }
}

extension XCTestCase {
  func bytePattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return UInt8(truncatingIfNeeded: state >> 33)
    }
  }

  func connect(_ pair: TCPPair, port: UInt16 = 7, configuration: TCPConnection.Configuration = .init()) throws
    -> (client: TCPConnection, server: TCPConnection, listener: TCPListener)
  {
    let listener = try pair.server.listenTCP(port: port, configuration: configuration)
    let client = try pair.client.connectTCP(to: pair.serverAddress, port: port, now: pair.now, configuration: configuration)
    var accepted: TCPConnection?
    XCTAssertTrue(pair.run(until: {
      if accepted == nil { accepted = listener.accept() }
      return accepted != nil && client.isEstablished
    }, limit: 10_000))
    return (client, try XCTUnwrap(accepted), listener)
  }
}

final class TCPConnectionTests: XCTestCase {
  /// Moves `data` from `sender` to `receiver` through the pair; returns what arrived.
  func transfer(_ data: [UInt8], from sender: TCPConnection, to receiver: TCPConnection, pair: TCPPair,
                closeAfter: Bool = false) -> [UInt8] {
    var written = 0
    var received: [UInt8] = []
    var closed = false
    pair.run(until: {
      if written < data.count {
        written += data[written...].withUnsafeBytes { sender.write($0) }
      } else if closeAfter, !closed {
        sender.close()
        closed = true
      }
      received += receiver.read()
      return received.count >= data.count && (!closeAfter || receiver.isReceiveFinished)
    })
    return received
  }

  /// Both sides offer everything: each takes the other's MSS (1460 on a 1500-byte MTU),
  /// scales the other's window by the shift it offered for its own buffer (256 KiB: 3,
  /// 1 MiB: 5), and SACK and timestamps are on both ways (RFC 9293 3.7.1, RFC 7323, RFC 2018).
  func testHandshakeNegotiatesOptions() throws {
    let pair = TCPPair()
    var serverConfiguration = TCPConnection.Configuration()
    serverConfiguration.receiveBufferSize = 1024 * 1024
    let listener = try pair.server.listenTCP(port: 7, configuration: serverConfiguration)
    let client = try pair.client.connectTCP(to: .v4(IPv4Address(10, 0, 0, 2)), port: 7, now: pair.now)
    var accepted: TCPConnection?
    XCTAssertTrue(pair.run(until: {
      if accepted == nil { accepted = listener.accept() }
      return accepted != nil && client.isEstablished
    }, limit: 10_000))
    let server = try XCTUnwrap(accepted)
    XCTAssertEqual(client.state, .established)
    XCTAssertEqual(server.state, .established)
    XCTAssertEqual(server.remoteAddress, .v4(IPv4Address(10, 0, 0, 1)))
    XCTAssertEqual(client.remotePort, 7)
    XCTAssertGreaterThanOrEqual(client.localPort, 49152)
    for (name, connection) in [("client", client), ("server", server)] {
      XCTAssertEqual(connection.peerMSS, 1460, "\(name): the peer's MSS")
      XCTAssertEqual(connection.sendMSS, 1448, "\(name): the MSS less 12 bytes of timestamp option")
      XCTAssertTrue(connection.windowScalingEnabled, name)
      XCTAssertTrue(connection.sackEnabled, name)
      XCTAssertTrue(connection.timestampsEnabled, name)
    }
    XCTAssertEqual(client.receiveWindowShift, 3)
    XCTAssertEqual(server.receiveWindowShift, 5)
    XCTAssertEqual(server.sendWindowShift, client.receiveWindowShift)
    XCTAssertEqual(client.sendWindowShift, server.receiveWindowShift)
    // The SYN-ACK's window is not scaled (RFC 7323 2.2): the client knows 65535 of the
    // server's window until the server's next segment; the server knows the client's free
    // 256 KiB from the handshake's ACK.
    XCTAssertEqual(client.sndWnd, 65535)
    XCTAssertEqual(server.sndWnd, 256 * 1024)
    XCTAssertEqual(server.write([1]), 1)
    XCTAssertTrue(pair.run(until: { client.read() == [1] }, limit: 1000))
    XCTAssertEqual(client.sndWnd, 1024 * 1024, "the server's free megabyte, scaled")
  }

  func testDataBothWaysAndOrderlyClose() throws {
    let pair = TCPPair()
    let (client, server, _) = try connect(pair)
    let request = bytePattern(1_000_000, seed: 1)
    XCTAssertEqual(transfer(request, from: client, to: server, pair: pair), request)
    let response = bytePattern(300_000, seed: 2)
    XCTAssertEqual(transfer(response, from: server, to: client, pair: pair), response)
    client.close()
    XCTAssertTrue(pair.run(until: { server.isReceiveFinished }))
    XCTAssertEqual(server.state, .closeWait)
    server.close()
    XCTAssertTrue(pair.run(until: { server.state == .closed && client.state == .timeWait }))
    XCTAssertNil(server.error)
    // TIME-WAIT ends after its 2 MSL.
    pair.step(by: .seconds(61))
    pair.step()
    XCTAssertEqual(client.state, .closed)
    XCTAssertNil(client.error)
  }

  func testConnectionToAClosedPortIsRefused() throws {
    let pair = TCPPair()
    let client = try pair.client.connectTCP(to: .v4(IPv4Address(10, 0, 0, 2)), port: 9, now: pair.now)
    XCTAssertTrue(pair.run(until: { client.state == .closed }, limit: 1000))
    XCTAssertEqual(client.error, .refused)
    XCTAssertEqual(pair.server.counters[.noTCPConnection], 1)
    XCTAssertEqual(pair.server.counters.tcpResetsSent, 1)
  }

  func testAbortResetsThePeer() throws {
    let pair = TCPPair()
    let (client, server, _) = try connect(pair)
    client.abort()
    XCTAssertEqual(client.error, .aborted)
    XCTAssertTrue(pair.run(until: { server.state == .closed }, limit: 1000))
    XCTAssertEqual(server.error, .reset)
  }

  func testUnansweredSYNTimesOut() throws {
    let pair = TCPPair()
    pair.lose = { _ in true }
    _ = try pair.server.listenTCP(port: 7)
    let client = try pair.client.connectTCP(to: .v4(IPv4Address(10, 0, 0, 2)), port: 7, now: pair.now)
    // 1 + 2 + 4 + ... + 64 s of backoff, then give up.
    XCTAssertTrue(pair.run(until: { client.state == .closed }, limit: 200_000))
    XCTAssertEqual(client.error, .timedOut)
  }

  /// 1 MB each way over a link that loses 5% of frames: everything arrives, in order.
  func testTransferOverALossyLink() throws {
    let pair = TCPPair()
    let (client, server, _) = try connect(pair)
    var state: UInt64 = 12345
    pair.lose = { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1
      return state >> 59 == 0  // 1 in 32 frames
    }
    let upload = bytePattern(1_000_000, seed: 3)
    XCTAssertEqual(transfer(upload, from: client, to: server, pair: pair), upload)
    let download = bytePattern(1_000_000, seed: 4)
    XCTAssertEqual(transfer(download, from: server, to: client, pair: pair, closeAfter: true), download)
    XCTAssertGreaterThan(pair.client.counters.tcpRetransmissionTimeouts + pair.client.counters.tcpFastRetransmits
      + pair.server.counters.tcpRetransmissionTimeouts + pair.server.counters.tcpFastRetransmits, 0)
  }

  func testBlindResetOutsideTheExactSequenceGetsAChallengeACK() throws {
    let pair = TCPPair()
    let (client, server, _) = try connect(pair)
    _ = transfer(bytePattern(1000, seed: 5), from: client, to: server, pair: pair)
    // A RST in the window but not at rcvNxt (RFC 5961 3.2): a challenge ACK, no reset.
    var frame = [UInt8](repeating: 0, count: 14 + 20 + 20)
    let rcvNxt = server.rcvNxt.rawValue
    frame.withUnsafeMutableBytes { bytes in
      EthernetHeader(destination: pair.serverDevice.macAddress, source: pair.clientDevice.macAddress, etherType: .ipv4).emit(into: bytes)
      let tcp = TCPHeader(sourcePort: client.localPort, destinationPort: 7, sequenceNumber: rcvNxt &+ 100, flags: .rst, window: 0)
      tcp.emit(into: bytes.suffix(from: 34), source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))
      IPv4Header(totalLength: 40, protocol: .tcp, source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))
        .emit(into: bytes.suffix(from: 14))
    }
    let challenges = pair.server.counters.tcpChallengeACKs
    pair.serverDevice.inject(frame)
    pair.step()
    XCTAssertEqual(server.state, .established)
    XCTAssertEqual(pair.server.counters.tcpChallengeACKs, challenges + 1)
  }

  // MARK: Flow control, delayed ACKs, Nagle, keep-alive

  /// The receiver stops reading: the window closes, the sender probes it (persist timer)
  /// instead of deadlocking when the window update is lost, and everything arrives once
  /// reading resumes.
  func testZeroWindowIsProbedAndTransferCompletes() throws {
    let pair = TCPPair()
    var configuration = TCPConnection.Configuration()
    configuration.receiveBufferSize = 16384
    let listener = try pair.server.listenTCP(port: 7, configuration: configuration)
    let client = try pair.client.connectTCP(to: .v4(IPv4Address(10, 0, 0, 2)), port: 7, now: pair.now)
    var server: TCPConnection?
    XCTAssertTrue(pair.run(until: { server = server ?? listener.accept(); return server != nil && client.isEstablished }))
    let data = bytePattern(100_000, seed: 9)
    var written = 0
    // Fill the window without reading.
    pair.run(until: { written += data[written...].withUnsafeBytes { client.write($0) }; return server!.availableBytes == 16384 }, limit: 5000)
    XCTAssertEqual(server!.availableBytes, 16384)
    // Lose everything the server sends for a while (its window updates among it), read, then heal.
    pair.lose = { _ in true }
    let first = server!.read()
    for _ in 0..<100 { pair.step() }
    pair.lose = { _ in false }
    var received = first
    XCTAssertTrue(pair.run(until: {
      if written < data.count { written += data[written...].withUnsafeBytes { client.write($0) } }
      received += server!.read()
      return received.count == data.count
    }))
    XCTAssertEqual(received, data)
  }

  func testDelayedACKWaitsForASecondSegmentOrTheTimer() throws {
    let pair = TCPPair()
    let (client, server, _) = try connect(pair)
    _ = server
    let acksBefore = pair.server.counters.tcpSegmentsSent
    client.write([1, 2, 3])
    pair.step()  // the client sends
    pair.step()  // the server receives: no ACK yet
    XCTAssertEqual(pair.server.counters.tcpSegmentsSent, acksBefore, "ACK sent at once for one small segment")
    for _ in 0..<45 { pair.step() }  // past 40 ms
    XCTAssertEqual(pair.server.counters.tcpSegmentsSent, acksBefore + 1, "no ACK within the delayed-ACK time")
  }

  func testNagleHoldsSmallSegmentsWhileDataIsInFlight() throws {
    for noDelay in [false, true] {
      let pair = TCPPair()
      var configuration = TCPConnection.Configuration()
      configuration.noDelay = noDelay
      _ = try pair.server.listenTCP(port: 7)
      let client = try pair.client.connectTCP(to: .v4(IPv4Address(10, 0, 0, 2)), port: 7, now: pair.now, configuration: configuration)
      XCTAssertTrue(pair.run(until: { client.isEstablished }))
      let sentBefore = pair.client.counters.tcpSegmentsSent
      client.write([1])
      pair.client.poll(now: pair.now)  // first small segment leaves
      client.write([2])
      pair.client.poll(now: pair.now)  // the second waits for the ACK, unless noDelay
      XCTAssertEqual(pair.client.counters.tcpSegmentsSent - sentBefore, noDelay ? 2 : 1, "noDelay \(noDelay)")
    }
  }

  func testKeepAliveDetectsADeadPeer() throws {
    let pair = TCPPair()
    var configuration = TCPConnection.Configuration()
    configuration.keepAlive = .seconds(2)
    configuration.keepAliveInterval = .seconds(1)
    configuration.keepAliveProbes = 3
    _ = try pair.server.listenTCP(port: 7)
    let client = try pair.client.connectTCP(to: .v4(IPv4Address(10, 0, 0, 2)), port: 7, now: pair.now, configuration: configuration)
    XCTAssertTrue(pair.run(until: { client.isEstablished }))
    // A live peer answers the probes: still established after 10 idle seconds.
    for _ in 0..<10_000 { pair.step() }
    XCTAssertEqual(client.state, .established)
    // A dead one does not: 2 s idle, then 3 probes a second apart.
    pair.lose = { _ in true }
    XCTAssertTrue(pair.run(until: { client.state == .closed }, limit: 10_000))
    XCTAssertEqual(client.error, .timedOut)
  }

  // MARK: SACK

  /// One data segment of a burst is lost: the receiver reports what it holds beyond the hole
  /// (SACK blocks on its ACKs), and the sender resends the hole, not the whole window.
  func testSACKRepairsOneLossWithoutResendingTheWindow() throws {
    let pair = TCPPair()
    let (client, server, _) = try connect(pair)
    var sackSeen = false
    var dataFrames = 0
    pair.deliver = { frame, toServer in
      if toServer {
        guard frame.count > 1000 else { return true }
        dataFrames += 1
        return dataFrames != 5  // the fifth full data segment is lost
      }
      frame.withUnsafeBytes { bytes in
        if let tcp = try? TCPHeader.parse(bytes.suffix(from: 34), source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(10, 0, 0, 1)),
          !tcp.options.sackBlocks.isEmpty { sackSeen = true }
      }
      return true
    }
    let data = bytePattern(200_000, seed: 11)
    var written = 0
    var received: [UInt8] = []
    XCTAssertTrue(pair.run(until: {
      if written < data.count { written += data[written...].withUnsafeBytes { client.write($0) } }
      received += server.read()
      return received.count == data.count
    }))
    XCTAssertEqual(received, data)
    XCTAssertTrue(sackSeen, "no SACK block on the receiver's ACKs")
    XCTAssertLessThanOrEqual(pair.client.counters.tcpRetransmittedSegments, 2, "resent more than the hole")
    XCTAssertEqual(pair.client.counters.tcpRetransmissionTimeouts, 0, "recovered by timeout, not by SACK and fast retransmit")
  }

  // MARK: Congestion control

  func testCubeRoot() {
    for value: Int64 in [0, 1, 7, 8, 26, 27, 1000, 999_999, 1_000_000, 123_456_789, 1 << 62] {
      let root = TCPConnection.cubeRoot(value)
      XCTAssertLessThanOrEqual(root * root * root, value)
      XCTAssertGreaterThan((root + 1) * (root + 1) * (root + 1), value)
    }
  }

  /// After a loss, CUBIC's window sits at beta (0.7) of W_max, grows back to W_max around K,
  /// concave below it and convex above it (RFC 9438 4.2); NewReno grows by one MSS per RTT.
  func testCubicWindowFollowsTheCubicCurve() throws {
    let pair = TCPPair()
    let (client, _, _) = try connect(pair)
    let mss = client.sendMSS
    client.smoothedRTT = 10_000_000  // 10 ms
    client.congestionWindow = 100 * mss
    client.sndMax = client.sndUna + 100 * mss
    client.congestionEvent(now: pair.now, timeout: false)
    XCTAssertEqual(client.slowStartThreshold, 70 * mss)
    client.congestionWindow = client.slowStartThreshold
    client.sndMax = client.sndUna
    // K = cbrt(30 / 0.4) s = 4.22 s.
    var samples: [(Int64, Int)] = []
    var now = pair.now
    for millisecond in stride(from: 0, through: 8000, by: 10) {
      now = pair.now + .milliseconds(millisecond)
      // One window's worth of ACKs per 10 ms round trip.
      client.congestionWindow += client.congestionAvoidanceIncrease(acked: client.congestionWindow / 10, now: now)
      if millisecond % 1000 == 0 { samples.append((Int64(millisecond), client.congestionWindow / mss)) }
    }
    XCTAssertEqual(client.cubic.k / 100, 42, "K in tenths of a second")
    let windows = samples.map(\.1)
    XCTAssertTrue(windows[4] >= 96 && windows[4] <= 101, "near W_max at K: \(windows)")
    XCTAssertLessThan(windows[2] - windows[1], windows[1] - windows[0] + 1, "concave before K: \(windows)")
    XCTAssertGreaterThan(windows[8] - windows[7], windows[6] - windows[5], "convex after K: \(windows)")
  }

  func testLossyTransferWithNewReno() throws {
    let pair = TCPPair()
    var configuration = TCPConnection.Configuration()
    configuration.congestionControl = .newReno
    let (client, server, _) = try connect(pair, configuration: configuration)
    var state: UInt64 = 777
    pair.lose = { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1
      return state >> 59 == 0
    }
    let data = bytePattern(500_000, seed: 12)
    XCTAssertEqual(transfer(data, from: client, to: server, pair: pair), data)
  }

  // MARK: An impaired link

  /// Loss, reordering and duplication together, 0 to 10 %: 4 MB each way arrives intact, in
  /// order, with both congestion controls.
  func testTransfersOverAnImpairedLink() throws {
    for (loss, reorder, duplicate) in [(0, 0, 0), (20, 50, 20), (50, 100, 50), (100, 100, 100)] {
      for control in [CongestionControl.cubic, .newReno] {
        let pair = TCPPair()
        var configuration = TCPConnection.Configuration()
        configuration.congestionControl = control
        let listener = try pair.server.listenTCP(port: 7, configuration: configuration)
        let client = try pair.client.connectTCP(to: .v4(IPv4Address(10, 0, 0, 2)), port: 7, now: pair.now, configuration: configuration)
        var server: TCPConnection?
        XCTAssertTrue(pair.run(until: { server = server ?? listener.accept(); return server != nil && client.isEstablished }))
        var state = UInt64(loss * 7 + reorder * 13 + duplicate)
        pair.lose = { _ in
          state = state &* 6_364_136_223_846_793_005 &+ 1
          return Int(state >> 33) % 1000 < loss
        }
        pair.reorderPerMille = reorder
        pair.duplicatePerMille = duplicate
        let upload = bytePattern(4_000_000, seed: UInt64(loss + 1))
        let download = bytePattern(4_000_000, seed: UInt64(loss + 2))
        let label = "loss \(loss)‰ reorder \(reorder)‰ duplicate \(duplicate)‰ \(control)"
        XCTAssertEqual(transfer(upload, from: client, to: server!, pair: pair), upload, label)
        XCTAssertEqual(transfer(download, from: server!, to: client, pair: pair, closeAfter: true), download, label)
      }
    }
  }
}
