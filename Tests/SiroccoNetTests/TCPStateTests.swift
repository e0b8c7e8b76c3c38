// TCP at the header level, grouped by RFC 9293 state: scripted segments from the peer,
// exact segments expected back.

@testable import SiroccoNet
import SiroccoDevices
import SiroccoWire
import XCTest

final class TCPStateTests: XCTestCase {
  let peerISN: UInt32 = 0x1000_0000

  /// LISTEN -> SYN-RECEIVED -> ESTABLISHED through raw frames; returns the accepted
  /// connection and our ISN.
  func establish(_ harness: Harness, port: UInt16 = 80, options: TCPOptions = TCPOptions(maximumSegmentSize: 1460))
    throws -> (TCPConnection, UInt32)
  {
    harness.learn()
    let listener = try harness.stack.listenTCP(port: port)
    harness.inject(tcpFrame(port: port, sequence: peerISN, flags: .syn, options: options))
    harness.poll()
    let synACK = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(synACK.flags, [.syn, .ack])
    XCTAssertEqual(synACK.acknowledgmentNumber, peerISN &+ 1)
    XCTAssertEqual(synACK.options.maximumSegmentSize, 1460)
    harness.inject(tcpFrame(port: port, sequence: peerISN &+ 1, acknowledgment: synACK.sequenceNumber &+ 1, flags: .ack))
    harness.poll()
    let connection = try XCTUnwrap(listener.accept())
    XCTAssertEqual(connection.state, .established)
    return (connection, synACK.sequenceNumber)
  }

  // MARK: SYN-RECEIVED

  func testSynReceivedAnswersABadACKWithAReset() throws {
    let harness = Harness()
    harness.learn()
    _ = try harness.stack.listenTCP(port: 80)
    harness.inject(tcpFrame(port: 80, sequence: peerISN, flags: .syn))
    harness.poll()
    let synACK = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: synACK.sequenceNumber &+ 5, flags: .ack))
    harness.poll()
    let reset = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(reset.flags, .rst)
    XCTAssertEqual(reset.sequenceNumber, synACK.sequenceNumber &+ 5, "RST carries SEQ = SEG.ACK (RFC 9293 3.10.7.4)")
  }

  func testSynReceivedRetransmitsTheSYNACKWhenTheSYNIsRepeated() throws {
    let harness = Harness()
    harness.learn()
    _ = try harness.stack.listenTCP(port: 80)
    harness.inject(tcpFrame(port: 80, sequence: peerISN, flags: .syn))
    harness.poll()
    let first = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    harness.inject(tcpFrame(port: 80, sequence: peerISN, flags: .syn))
    harness.poll()
    let second = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(second.flags, [.syn, .ack])
    XCTAssertEqual(second.sequenceNumber, first.sequenceNumber)
  }

  func testSynReceivedRetransmitsOnTimeoutThenGivesUp() throws {
    let harness = Harness()
    harness.learn()
    let listener = try harness.stack.listenTCP(port: 80, backlog: 4)
    harness.inject(tcpFrame(port: 80, sequence: peerISN, flags: .syn))
    harness.poll()
    _ = harness.sent()
    var retransmissions = 0
    for second in 0..<300 {
      if second % 30 == 0 { harness.learn() }  // the peer keeps answering ARP
      harness.advance(.seconds(1))
      retransmissions += harness.sent().filter { (try? parseTCPFrame($0))?.flags == [.syn, .ack] }.count
    }
    XCTAssertEqual(retransmissions, 6, "SYN-ACK retransmissions before giving up")
    XCTAssertEqual(harness.stack.tcpConnections.count, 0, "the embryonic connection was not released")
    XCTAssertEqual(listener.embryonic, 0)
  }

  // MARK: ESTABLISHED

  func testEstablishedAcknowledgesDataAndAnswersOutOfWindowSegments() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    _ = harness.sent()
    // Two full-size segments: acknowledged at once (every second segment).
    let payload = pattern(1460)
    harness.inject(
      tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: .ack, payload),
      tcpFrame(port: 80, sequence: peerISN &+ 1461, acknowledgment: ourISN &+ 1, flags: .ack, payload))
    harness.poll()
    let ack = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(ack.acknowledgmentNumber, peerISN &+ 2921)
    XCTAssertEqual(connection.availableBytes, 2920)
    // A segment far outside the window: an ACK, nothing delivered (RFC 9293 3.10.7.4).
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 10_000_000, acknowledgment: ourISN &+ 1, flags: .ack, [1]))
    harness.poll()
    let reply = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(reply.flags, .ack)
    XCTAssertEqual(reply.acknowledgmentNumber, peerISN &+ 2921)
    XCTAssertEqual(connection.availableBytes, 2920)
    // An ACK for data never sent: dropped with an ACK (RFC 5961 5.2).
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 2921, acknowledgment: ourISN &+ 1000, flags: .ack))
    harness.poll()
    XCTAssertEqual(try parseTCPFrame(try XCTUnwrap(harness.sent().last)).acknowledgmentNumber, peerISN &+ 2921)
  }

  func testEstablishedResetAtTheExactSequenceCloses() throws {
    let harness = Harness()
    let (connection, _) = try establish(harness)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, flags: .rst))
    harness.poll()
    XCTAssertEqual(connection.state, .closed)
    XCTAssertEqual(connection.error, .reset)
  }

  /// Urgent data (RFC 9293 3.8.5, RFC 6093): the stack keeps no out-of-band byte; URG
  /// segments are delivered in line, every byte, like any other.
  func testEstablishedDeliversUrgentDataInLine() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    harness.inject(tcpFrame(
      port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: [.ack, .urg, .psh], urgentPointer: 3, Array("abcdef".utf8)))
    harness.poll()
    XCTAssertEqual(connection.read(), Array("abcdef".utf8))
  }

  /// A pure window update (same ACK, bigger window) is not a duplicate ACK (RFC 5681 2) and
  /// lets data waiting behind a zero window go at once.
  func testWindowUpdateReopensAClosedWindow() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: .ack, window: 0))
    harness.poll()
    _ = harness.sent()
    XCTAssertEqual(connection.write(pattern(3000)), 3000)
    harness.poll()
    XCTAssertTrue(harness.sent().isEmpty, "data sent into a zero window")
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: .ack, window: 65535))
    harness.poll()
    let segments = try harness.sent().map { try parseTCPFrame($0) }
    // Two full segments; the last 80 bytes wait for an ACK (Nagle).
    XCTAssertEqual(segments.map(\.sequenceNumber), [ourISN &+ 1, ourISN &+ 1461])
    XCTAssertEqual(connection.duplicateAcks, 0)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 2921, flags: .ack, window: 65535))
    harness.poll()
    XCTAssertEqual(try harness.sent().map { try parseTCPFrame($0).sequenceNumber }, [ourISN &+ 2921])
  }

  /// The window comes from the most recent segment only (RFC 9293 3.10.7.4, SND.WL1 and
  /// SND.WL2): an older ACK arriving late does not shrink it.
  func testAnOlderACKDoesNotMoveTheWindow() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    XCTAssertEqual(connection.write(pattern(2000)), 2000)
    harness.poll()
    _ = harness.sent()
    harness.inject(
      tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1001, flags: .ack, window: 5000),
      tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: .ack, window: 0))
    harness.poll()
    XCTAssertEqual(connection.sndWnd, 5000)
    XCTAssertEqual(connection.sndUna.rawValue, ourISN &+ 1001)
  }

  /// Data and FIN in one segment: the data is delivered, the FIN acknowledged after it.
  func testFINWithDataDeliversTheDataThenCloses() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: [.ack, .fin], pattern(100)))
    harness.poll()
    XCTAssertEqual(connection.state, .closeWait)
    XCTAssertEqual(try parseTCPFrame(try XCTUnwrap(harness.sent().last)).acknowledgmentNumber, peerISN &+ 102)
    XCTAssertEqual(connection.read(), pattern(100))
    XCTAssertTrue(connection.isReceiveFinished)
  }

  /// Data and FIN ahead of a hole: held (with a duplicate ACK) until the hole is filled,
  /// then both are taken (RFC 9293 3.10.7.4, eighth step).
  func testFINWithDataOutOfOrderWaitsForTheHole() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    let data = pattern(200)
    harness.inject(tcpFrame(
      port: 80, sequence: peerISN &+ 101, acknowledgment: ourISN &+ 1, flags: [.ack, .fin], Array(data[100...])))
    harness.poll()
    XCTAssertEqual(connection.state, .established)
    XCTAssertEqual(try parseTCPFrame(try XCTUnwrap(harness.sent().last)).acknowledgmentNumber, peerISN &+ 1, "a duplicate ACK")
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: .ack, Array(data[..<100])))
    harness.poll()
    XCTAssertEqual(connection.state, .closeWait)
    XCTAssertEqual(try parseTCPFrame(try XCTUnwrap(harness.sent().last)).acknowledgmentNumber, peerISN &+ 202)
    XCTAssertEqual(connection.read(), data)
    XCTAssertTrue(connection.isReceiveFinished)
  }

  // MARK: Closing

  /// The peer closes first: CLOSE-WAIT, then our FIN: LAST-ACK, then CLOSED on its ACK.
  func testPassiveClose() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: [.fin, .ack]))
    harness.poll()
    XCTAssertEqual(connection.state, .closeWait)
    XCTAssertEqual(try parseTCPFrame(try XCTUnwrap(harness.sent().last)).acknowledgmentNumber, peerISN &+ 2, "FIN acknowledged")
    XCTAssertTrue(connection.isReceiveFinished)
    connection.close()
    harness.poll()
    let fin = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(fin.flags, [.fin, .ack])
    XCTAssertEqual(fin.sequenceNumber, ourISN &+ 1)
    XCTAssertEqual(connection.state, .lastAck)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 2, acknowledgment: ourISN &+ 2, flags: .ack))
    harness.poll()
    XCTAssertEqual(connection.state, .closed)
    XCTAssertNil(connection.error)
  }

  /// Both sides close at once (RFC 9293 3.6, figure 13): FIN-WAIT-1 -> CLOSING -> TIME-WAIT.
  func testSimultaneousClose() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    connection.close()
    harness.poll()
    XCTAssertEqual(connection.state, .finWait1)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 1, flags: [.fin, .ack]))
    harness.poll()
    XCTAssertEqual(connection.state, .closing)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 2, acknowledgment: ourISN &+ 2, flags: .ack))
    harness.poll()
    XCTAssertEqual(connection.state, .timeWait)
  }

  /// TIME-WAIT acknowledges a retransmitted FIN again, then ends after 2 MSL.
  func testTimeWaitReacknowledgesARetransmittedFIN() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    connection.close()
    harness.poll()
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 2, flags: .ack))
    harness.poll()
    XCTAssertEqual(connection.state, .finWait2)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 2, flags: [.fin, .ack]))
    harness.poll()
    XCTAssertEqual(connection.state, .timeWait)
    _ = harness.sent()
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 2, flags: [.fin, .ack]))
    harness.advance(.seconds(1))
    let again = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(again.acknowledgmentNumber, peerISN &+ 2)
    harness.advance(.seconds(61))
    XCTAssertEqual(connection.state, .closed)
  }

  // MARK: SYN-SENT

  /// Active open answered by a SYN alone: simultaneous open (RFC 9293 figure 8).
  func testSimultaneousOpen() throws {
    let harness = Harness()
    harness.learn()
    let connection = try harness.stack.connectTCP(to: .v4(peerIP), port: 5000, now: harness.now)
    harness.poll()
    let syn = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(syn.flags, .syn)
    XCTAssertNotNil(syn.options.windowScale)
    XCTAssertTrue(syn.options.sackPermitted)
    harness.inject(tcpFrame(sourcePort: 5000, port: syn.sourcePort, sequence: peerISN, flags: .syn))
    harness.poll()
    XCTAssertEqual(connection.state, .synReceived)
    let synACK = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(synACK.flags, [.syn, .ack])
    XCTAssertEqual(synACK.sequenceNumber, syn.sequenceNumber)
    harness.inject(tcpFrame(sourcePort: 5000, port: syn.sourcePort, sequence: peerISN &+ 1, acknowledgment: syn.sequenceNumber &+ 1, flags: .ack))
    harness.poll()
    XCTAssertEqual(connection.state, .established)
  }

  /// A SYN-ACK acknowledging the wrong sequence number gets a reset and changes nothing.
  func testSynSentRejectsAnUnacceptableACK() throws {
    let harness = Harness()
    harness.learn()
    let connection = try harness.stack.connectTCP(to: .v4(peerIP), port: 5000, now: harness.now)
    harness.poll()
    let syn = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    harness.inject(tcpFrame(sourcePort: 5000, port: syn.sourcePort, sequence: peerISN, acknowledgment: syn.sequenceNumber &+ 9, flags: [.syn, .ack]))
    harness.poll()
    let reset = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(reset.flags, .rst)
    XCTAssertEqual(reset.sequenceNumber, syn.sequenceNumber &+ 9)
    XCTAssertEqual(connection.state, .synSent)
  }

  /// A new SYN with a higher sequence number reopens a connection in TIME-WAIT (RFC 6191).
  func testTimeWaitAcceptsANewIncarnation() throws {
    let harness = Harness()
    let (connection, ourISN) = try establish(harness)
    connection.close()
    harness.poll()
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: ourISN &+ 2, flags: [.fin, .ack]))
    harness.poll()
    XCTAssertEqual(connection.state, .timeWait)
    _ = harness.sent()
    // An old duplicate SYN (lower sequence number) does not.
    harness.inject(tcpFrame(port: 80, sequence: peerISN &- 100, flags: .syn))
    harness.poll()
    XCTAssertEqual(connection.state, .timeWait)
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 100_000, flags: .syn))
    harness.poll()
    XCTAssertEqual(connection.state, .closed)
    let synACK = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(synACK.flags, [.syn, .ack])
    XCTAssertEqual(synACK.acknowledgmentNumber, peerISN &+ 100_001)
  }
}
