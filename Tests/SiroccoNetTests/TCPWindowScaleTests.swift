// Window scaling (RFC 7323 2) at every shift: the shift we offer for a receive buffer, the
// window field we advertise, the peer's field scaled by its shift, and shifts above 14.

@testable import SiroccoNet
import SiroccoDevices
import SiroccoWire
import XCTest

final class TCPWindowScaleTests: XCTestCase {
  let peerISN: UInt32 = 0x3000_0000

  /// A peer SYN (MSS 1460, window scale `peerShift` if any) to a listener whose connections
  /// have `receiveBuffer` bytes; the handshake completes with the ACK's window field
  /// `ackWindow`. Returns the SYN-ACK and the connection.
  func open(
    receiveBuffer: Int = 256 * 1024, peerShift: UInt8?, ackWindow: UInt16 = 65535
  ) throws -> (Harness, TCPHeader, TCPConnection) {
    let harness = Harness()
    harness.learn()
    var configuration = TCPConnection.Configuration()
    configuration.receiveBufferSize = receiveBuffer
    let listener = try harness.stack.listenTCP(port: 80, configuration: configuration)
    var options = TCPOptions(maximumSegmentSize: 1460)
    options.windowScale = peerShift
    harness.inject(tcpFrame(port: 80, sequence: peerISN, flags: .syn, window: 65535, options: options))
    harness.poll()
    let synACK = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: synACK.sequenceNumber &+ 1, flags: .ack, window: ackWindow))
    harness.poll()
    return (harness, synACK, try XCTUnwrap(listener.accept()))
  }

  /// The window field of our answer to a keep-alive style probe (an old sequence number).
  func advertisedWindow(_ harness: Harness, _ connection: TCPConnection, ourNext: UInt32) throws -> UInt16 {
    _ = harness.sent()
    harness.inject(tcpFrame(port: 80, sequence: peerISN, acknowledgment: ourNext, flags: .ack))
    harness.poll()
    let ack = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
    XCTAssertEqual(ack.flags, .ack)
    return ack.window
  }

  /// For shifts 0 to 14: a buffer just over `40000 << shift` bytes makes us offer that shift
  /// (the least that fits the buffer into 16 bits, RFC 7323 2.3); the SYN-ACK's own window is
  /// not scaled (2.2) and says at most 65535; later windows are the free space shifted right,
  /// rounded down, so the peer never sees more room than there is.
  func testAdvertisedWindowIsTheReceiveWindowShiftedRightAtEveryShift() throws {
    for shift in 0...14 {
      let buffer = 40000 << shift | (1 << shift - 1)
      let (harness, synACK, connection) = try open(receiveBuffer: buffer, peerShift: 7)
      XCTAssertEqual(synACK.options.windowScale, UInt8(shift), "shift offered for \(buffer) bytes")
      XCTAssertEqual(synACK.window, UInt16(min(buffer, 65535)), "the SYN-ACK's window is unscaled, at most 65535")
      XCTAssertEqual(connection.receiveWindowShift, UInt8(shift))
      let field = try advertisedWindow(harness, connection, ourNext: synACK.sequenceNumber &+ 1)
      XCTAssertEqual(field, 40000, "shift \(shift): \(buffer) bytes free")
      let offered = Int(field) << shift
      XCTAssertTrue(offered <= buffer && buffer - offered < 1 << shift, "shift \(shift): \(offered) of \(buffer)")
    }
  }

  /// The largest buffers: exactly 65535 << 14 (about 1 GiB) and beyond it. The shift stops at
  /// 14 (RFC 7323 2.3) and the field at 65535, with no overflow.
  func testAdvertisedWindowAtTheOneGigabyteLimit() throws {
    for buffer in [65535 << 14, 65535 << 14 + 1, 1 << 31, 1 << 40] {
      let (harness, synACK, connection) = try open(receiveBuffer: buffer, peerShift: 0)
      XCTAssertEqual(synACK.options.windowScale, 14, "\(buffer) bytes")
      XCTAssertEqual(try advertisedWindow(harness, connection, ourNext: synACK.sequenceNumber &+ 1), 65535, "\(buffer) bytes")
    }
  }

  /// A peer that offers no window scaling gets none back, and windows unscaled (at most
  /// 65535) from a buffer larger than that.
  func testWithoutThePeersOptionNoShiftIsUsed() throws {
    let (harness, synACK, connection) = try open(receiveBuffer: 256 * 1024, peerShift: nil, ackWindow: 1000)
    XCTAssertNil(synACK.options.windowScale)
    XCTAssertEqual(connection.receiveWindowShift, 0)
    XCTAssertEqual(connection.sndWnd, 1000)
    XCTAssertEqual(try advertisedWindow(harness, connection, ourNext: synACK.sequenceNumber &+ 1), 65535)
  }

  /// For the peer's shifts 0 to 16: its SYN's window is taken unscaled (2.2), every later
  /// field is shifted left by its shift, and shifts above 14 count as 14 (2.3), without
  /// overflow at 65535 << 14.
  func testPeersWindowIsItsFieldShiftedLeftAtEveryShift() throws {
    for offered in UInt8(0)...16 {
      let shift = min(Int(offered), 14)
      let (harness, synACK, connection) = try open(peerShift: offered, ackWindow: 65535)
      XCTAssertEqual(connection.sendWindowShift, UInt8(shift), "peer offered \(offered)")
      XCTAssertEqual(connection.sndWnd, 65535 << shift, "peer offered \(offered)")
      for field: UInt16 in [1, 0x8001, 0] {
        harness.inject(tcpFrame(port: 80, sequence: peerISN &+ 1, acknowledgment: synACK.sequenceNumber &+ 1, flags: .ack, window: field))
        harness.poll()
        XCTAssertEqual(connection.sndWnd, Int(field) << shift, "field \(field), peer offered \(offered)")
      }
    }
    XCTAssertEqual(65535 << 14, 1_073_725_440, "the largest window: just under 1 GiB")
  }

  /// Active open: the SYN-ACK's window is taken unscaled (RFC 7323 2.2), and the ACK that
  /// completes the handshake offers the free buffer (256 KiB >> 3), not more, whatever half
  /// of the sequence space the peer's ISN lies in. A cookie connection (no scaling) offers
  /// at most 65535 the same way.
  func testActiveOpenTakesTheSYNACKsWindowUnscaledAndOffersOnlyItsBuffer() throws {
    for peerISN: UInt32 in [0x1000_0000, 0xf000_0000] {
      let harness = Harness()
      harness.learn()
      let connection = try harness.stack.connectTCP(to: .v4(peerIP), port: 5000, now: harness.now)
      harness.poll()
      let syn = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
      XCTAssertEqual(syn.options.windowScale, 3)
      XCTAssertEqual(syn.window, 65535)
      var options = TCPOptions(maximumSegmentSize: 1460)
      options.windowScale = 9
      harness.inject(tcpFrame(
        sourcePort: 5000, port: syn.sourcePort, sequence: peerISN, acknowledgment: syn.sequenceNumber &+ 1,
        flags: [.syn, .ack], window: 30000, options: options))
      harness.poll()
      XCTAssertEqual(connection.state, .established)
      XCTAssertEqual(connection.sndWnd, 30000, "peer ISN \(peerISN): the SYN-ACK's window is not scaled")
      let ack = try parseTCPFrame(try XCTUnwrap(harness.sent().last))
      XCTAssertEqual(ack.flags, .ack)
      XCTAssertEqual(ack.window, UInt16(256 * 1024 >> 3), "peer ISN \(peerISN): offered \(Int(ack.window) << 3) bytes")
    }
  }

  /// Before the handshake completes, the window of the peer's SYN is used as it is, even
  /// with a shift offered (RFC 7323 2.2: the SYN's window is never scaled).
  func testTheSYNsWindowIsNeverScaled() throws {
    let harness = Harness()
    harness.learn()
    _ = try harness.stack.listenTCP(port: 80)
    var options = TCPOptions(maximumSegmentSize: 1460)
    options.windowScale = 9
    harness.inject(tcpFrame(port: 80, sequence: peerISN, flags: .syn, window: 30000, options: options))
    harness.poll()
    let connection = try XCTUnwrap(harness.stack.tcpConnections.values.first)
    XCTAssertEqual(connection.state, .synReceived)
    XCTAssertEqual(connection.sndWnd, 30000)
    XCTAssertEqual(connection.sendWindowShift, 9)
  }
}
