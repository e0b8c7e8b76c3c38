// UDP sockets: binding, receiving, sending, checksums, queue bounds, closing (RFC 768,
// RFC 1122 4.1.3, RFC 6056 3.3.1).

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

final class UDPTests: XCTestCase {
  // MARK: Binding

  func testBindAndPortInUse() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 7)
    XCTAssertEqual(socket.port, 7)
    XCTAssertFalse(socket.isClosed)
    XCTAssertThrowsError(try harness.stack.bindUDP(port: 7)) { error in
      XCTAssertEqual(error as? UDPBindError, .portInUse(7))
      XCTAssertEqual("\(error)", "port 7 is already bound")
    }
    XCTAssertEqual(try harness.stack.bindUDP(port: 8).port, 8)
    socket.close()
    XCTAssertTrue(socket.isClosed)
    XCTAssertEqual(try harness.stack.bindUDP(port: 7).port, 7, "closing frees the port")
  }

  func testAStackWithBoundSocketsIsFreed() throws {
    // Found by Scripts/fuzz interface (LeakSanitizer): the socket's reference back to its
    // interface made a cycle, so an interface with a socket was never freed. Sockets now
    // hold only the stack's context, which holds them only while they wait to send.
    weak var released: Stack<MemoryNetworkDevice>?
    do {
      let harness = Harness()
      let socket = try harness.stack.bindUDP(port: 7)
      try socket.send([1, 2, 3], to: .v4(peerIP), port: 9)
      released = harness.stack
    }
    XCTAssertNil(released)
  }

  func testEphemeralPortsAreDistinctAndInTheDynamicRange() throws {
    let harness = Harness()
    var ports: Set<UInt16> = []
    for _ in 0..<200 {
      let socket = try harness.stack.bindUDP()
      XCTAssertTrue((49152...65535).contains(socket.port), "\(socket.port)")
      ports.insert(socket.port)
    }
    XCTAssertEqual(ports.count, 200)
    // Randomised (RFC 6056): two interfaces seeded differently do not start at the same port.
    let first = try Harness(seed: 1).stack.bindUDP().port
    let second = try Harness(seed: 2).stack.bindUDP().port
    XCTAssertNotEqual(first, second)
  }

  func testEphemeralPortSkipsBoundPortsAndReportsExhaustion() throws {
    let harness = Harness()
    var sockets: [UInt16: UDPSocket] = [:]
    for port in 49152...65535 {
      sockets[UInt16(port)] = try harness.stack.bindUDP(port: UInt16(port), receiveCapacity: 1, transmitCapacity: 1)
    }
    XCTAssertThrowsError(try harness.stack.bindUDP()) { error in
      XCTAssertEqual(error as? UDPBindError, .noPortAvailable)
    }
    sockets[50000]?.close()
    XCTAssertEqual(try harness.stack.bindUDP().port, 50000, "the only free one")
    // Ports outside the ephemeral range are still free to bind explicitly.
    XCTAssertEqual(try harness.stack.bindUDP(port: 49151).port, 49151)
  }

  // MARK: Receiving

  func testReceivesPayloadSourceAndPort() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 7)
    XCTAssertFalse(socket.hasReceived)
    XCTAssertNil(socket.receive())
    harness.expectSilence(
      udpFrame(sourcePort: 5000, port: 7, Array("hello".utf8)),
      udpFrame(from: otherIP, sourcePort: 6000, port: 7, pattern(1000)),
      udpFrame(sourcePort: 5001, to: .broadcast, port: 7, [], ethernetTo: .broadcast))
    XCTAssertTrue(socket.hasReceived)
    XCTAssertEqual(
      socket.receive(), UDPDatagram(source: .v4(peerIP), sourcePort: 5000, destination: .v4(ourIP), payload: Array("hello".utf8)),
      "padding of the short frame is not payload")
    XCTAssertEqual(socket.receive(), UDPDatagram(source: .v4(otherIP), sourcePort: 6000, destination: .v4(ourIP), payload: pattern(1000)))
    XCTAssertEqual(socket.receive(), UDPDatagram(source: .v4(peerIP), sourcePort: 5001, destination: .v4(.broadcast), payload: []))
    XCTAssertNil(socket.receive())
    XCTAssertFalse(socket.hasReceived)
    XCTAssertEqual(harness.counters.udpDatagramsDelivered, 3)
    harness.assertDrops([:])
  }

  func testDatagramsGoToTheSocketBoundToTheirPort() throws {
    let harness = Harness()
    let seven = try harness.stack.bindUDP(port: 7)
    let nine = try harness.stack.bindUDP(port: 9)
    harness.expectSilence(udpFrame(port: 7, [7]), udpFrame(port: 9, [9]), udpFrame(port: 7, [77]))
    XCTAssertEqual(seven.receive()?.payload, [7])
    XCTAssertEqual(seven.receive()?.payload, [77])
    XCTAssertEqual(nine.receive()?.payload, [9])
    XCTAssertNil(nine.receive())
  }

  func testZeroChecksumDatagramsAreAccepted() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 7)
    let frame = udpFrame(port: 7, [1, 2, 3], checksum: false)
    XCTAssertEqual(be16(frame, 14 + 20 + 6), 0, "the datagram carries no checksum")
    harness.expectSilence(frame)
    XCTAssertEqual(socket.receive()?.payload, [1, 2, 3])
    harness.assertDrops([:])
  }

  func testBadChecksumIsDroppedAndCountedWithoutAnError() throws {
    let harness = Harness()
    harness.learn()
    let socket = try harness.stack.bindUDP(port: 7)
    var frame = udpFrame(port: 7, [1, 2, 3])
    frame[14 + 20 + 8] ^= 0x40  // payload changed, checksum not
    harness.expectSilence(frame)
    // A checksum that fails on a closed port is still a checksum failure: no ICMP error.
    var closed = udpFrame(port: 8, [1, 2, 3])
    closed[14 + 20 + 7] ^= 0x01
    harness.expectSilence(closed)
    XCTAssertNil(socket.receive())
    harness.assertDrops([.badUDPChecksum: 2])
    XCTAssertEqual(harness.counters.udpDatagramsDelivered, 0)
  }

  func testAFullReceiveQueueDropsAndCounts() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 7, receiveCapacity: 2)
    harness.expectSilence(udpFrame(port: 7, [1]), udpFrame(port: 7, [2]), udpFrame(port: 7, [3]))
    harness.assertDrops([.udpReceiveQueueFull: 1])
    XCTAssertEqual(harness.counters.udpDatagramsDelivered, 2)
    XCTAssertEqual(socket.receive()?.payload, [1])
    harness.expectSilence(udpFrame(port: 7, [4]))
    XCTAssertEqual(socket.receive()?.payload, [2])
    XCTAssertEqual(socket.receive()?.payload, [4])
    XCTAssertNil(socket.receive())
    harness.assertDrops([.udpReceiveQueueFull: 1])
  }

  // MARK: Sending

  func testSendBuildsAValidDatagram() throws {
    let harness = Harness()
    harness.learn()
    let socket = try harness.stack.bindUDP(port: 4321)
    let payload = Array("ping".utf8)
    try socket.send(payload, to: .v4(peerIP), port: 9000)
    let sent = try parseIPv4Frame(try harness.exchange())
    XCTAssertEqual(sent.ethernet.destination, peerMAC)
    XCTAssertEqual(sent.header.destination, peerIP)
    XCTAssertEqual(sent.header.totalLength, 20 + 8 + 4)
    let (udp, received) = try parseUDP(sent)
    XCTAssertEqual(udp.sourcePort, 4321)
    XCTAssertEqual(udp.destinationPort, 9000)
    XCTAssertEqual(udp.length, 12)
    XCTAssertEqual(received, payload)
    XCTAssertEqual(Array(sent.payload[0..<6]), [0x10, 0xe1, 0x23, 0x28, 0x00, 0x0c], "ports and length, big-endian")
  }

  func testSendsOfEverySizeUpToTheMaximum() throws {
    let harness = Harness()
    harness.learn()
    let socket = try harness.stack.bindUDP(port: 4321)
    XCTAssertEqual(socket.maximumPayload, 1472)
    for size in [0, 1, 2, 3, 255, 1471, 1472] {
      let payload = pattern(size, offset: 3)
      try socket.send(payload, to: .v4(peerIP), port: 9)
      let (_, received) = try parseUDP(try parseIPv4Frame(try harness.exchange()))
      XCTAssertEqual(received, payload, "size \(size)")
    }
  }

  func testDatagramsLeaveInTheOrderTheyWereSent() throws {
    let harness = Harness()
    harness.learn()
    harness.learn(otherMAC, otherIP)
    let a = try harness.stack.bindUDP(port: 1000)
    let b = try harness.stack.bindUDP(port: 2000)
    try a.send([1], to: .v4(peerIP), port: 9)
    try b.send([2], to: .v4(otherIP), port: 9)
    try a.send([3], to: .v4(peerIP), port: 9)
    harness.poll()
    let sent = try harness.sent().map { try parseUDP(try parseIPv4Frame($0)) }
    XCTAssertEqual(sent.map(\.1), [[1], [3], [2]], "per socket, in the order the sockets first queued")
    XCTAssertEqual(sent.map(\.0.sourcePort), [1000, 1000, 2000])
  }

  func testSendErrors() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 4321, transmitCapacity: 2)

    XCTAssertThrowsError(try socket.send(pattern(1473), to: .v4(peerIP), port: 9)) { error in
      XCTAssertEqual(error as? UDPSendError, .tooLong(maximum: 1472))
      XCTAssertEqual("\(error)", "datagram too long (at most 1472 bytes)")
    }
    XCTAssertThrowsError(try socket.send([1], to: .v4(peerIP), port: 0)) { error in
      XCTAssertEqual(error as? UDPSendError, .invalidDestinationPort)
    }
    try socket.send([1], to: .v4(.broadcast), port: 9)
    try socket.send([2], to: .v4(.broadcast), port: 9)
    XCTAssertThrowsError(try socket.send([3], to: .v4(.broadcast), port: 9)) { error in
      XCTAssertEqual(error as? UDPSendError, .queueFull)
    }
    harness.poll()
    XCTAssertEqual(harness.sent().count, 2, "the refused datagram was not queued")
    try socket.send([4], to: .v4(.broadcast), port: 9)  // room again after a poll

    socket.close()
    XCTAssertThrowsError(try socket.send([5], to: .v4(.broadcast), port: 9)) { error in
      XCTAssertEqual(error as? UDPSendError, .closed)
      XCTAssertEqual("\(error)", "socket closed")
    }
    harness.poll()
    XCTAssertEqual(harness.sent().count, 0, "closing discarded the queued datagram")
    XCTAssertFalse(harness.stack.hasPendingTransmit)
    harness.assertDrops([:])
  }

  func testMaximumPayloadFollowsTheMTU() throws {
    let harness = Harness(mtu: 576)
    let socket = try harness.stack.bindUDP(port: 1)
    XCTAssertEqual(socket.maximumPayload, 548)
    XCTAssertThrowsError(try socket.send(pattern(549), to: .v4(.broadcast), port: 9)) { error in
      XCTAssertEqual(error as? UDPSendError, .tooLong(maximum: 548))
    }
    try socket.send(pattern(548), to: .v4(.broadcast), port: 9)
    XCTAssertEqual(try harness.exchange().count, 14 + 576)
  }

  // MARK: Closing

  func testCloseUnbindsThenPortUnreachableIsSent() throws {
    let harness = Harness()
    harness.learn()
    let socket = try harness.stack.bindUDP(port: 7)
    harness.expectSilence(udpFrame(port: 7, [1]))
    XCTAssertTrue(socket.hasReceived)
    socket.close()
    XCTAssertFalse(socket.hasReceived, "queued datagrams are discarded")
    XCTAssertNil(socket.receive())
    socket.close()  // twice is harmless

    let error = try parseIPv4Frame(try harness.exchange(udpFrame(port: 7, [2])))
    XCTAssertEqual(try parseICMP(error).0, .destinationUnreachable(code: .port, nextHopMTU: 0))
    harness.assertDrops([.noUDPSocket: 1])
    XCTAssertEqual(harness.counters.udpDatagramsDelivered, 1)
  }

  func testClosingAnOldSocketDoesNotUnbindItsSuccessor() throws {
    let harness = Harness()
    let old = try harness.stack.bindUDP(port: 7)
    old.close()
    let new = try harness.stack.bindUDP(port: 7)
    old.close()
    harness.expectSilence(udpFrame(port: 7, [1]))
    XCTAssertEqual(new.receive()?.payload, [1])
  }

  // MARK: Polling

  func testPendingTransmitMakesPollAtNow() throws {
    let harness = Harness()
    harness.learn()
    let socket = try harness.stack.bindUDP(port: 7)
    XCTAssertFalse(harness.stack.hasPendingTransmit)
    XCTAssertNil(harness.stack.pollAt(now: at(seconds: 3)))
    try socket.send([1], to: .v4(peerIP), port: 9)
    XCTAssertTrue(harness.stack.hasPendingTransmit)
    XCTAssertEqual(harness.stack.pollAt(now: at(seconds: 3)), at(seconds: 3))
    XCTAssertEqual(harness.stack.pollAt(now: at(seconds: 4)), at(seconds: 4))
    harness.stack.flush(now: harness.now)
    XCTAssertEqual(harness.sent().count, 1, "flush sends without reading the device")
    XCTAssertFalse(harness.stack.hasPendingTransmit)
    XCTAssertNil(harness.stack.pollAt(now: at(seconds: 4)))
  }
}
