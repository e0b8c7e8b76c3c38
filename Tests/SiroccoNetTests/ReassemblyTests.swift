// IP fragments: the reassembly buffer on its own (orders, duplicates, overlaps, bounds,
// timeouts), then on the interface: fragmented echo requests answered with fragmented
// replies, fragmented UDP delivered, and the ICMP time exceeded of a reassembly timeout.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

final class ReassemblyTests: XCTestCase {
  typealias Reassembly = FragmentReassembly<Int>

  /// `datagram` cut into pieces of `size` bytes (a multiple of 8): (offset, bytes, more).
  func pieces(_ datagram: [UInt8], size: Int) -> [(offset: Int, bytes: [UInt8], more: Bool)] {
    stride(from: 0, to: datagram.count, by: size).map { offset in
      let end = min(offset + size, datagram.count)
      return (offset, Array(datagram[offset..<end]), end < datagram.count)
    }
  }

  func add(_ reassembly: inout Reassembly, _ bytes: [UInt8], offset: Int, more: Bool, key: Int = 1, at now: Instant = .zero)
    -> Reassembly.Outcome
  {
    bytes.withUnsafeBytes { reassembly.add($0, offset: offset, more: more, key: key, now: now) }
  }

  // MARK: The buffer

  func testEveryOrderGivesTheSameDatagram() {
    let datagram = pattern(4000)
    let cut = pieces(datagram, size: 1480)
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
      var reassembly = Reassembly()
      var outcomes: [Reassembly.Outcome] = []
      for index in order { outcomes.append(add(&reassembly, cut[index].bytes, offset: cut[index].offset, more: cut[index].more)) }
      XCTAssertEqual(outcomes, [.queued, .queued, .complete(datagram)], "\(order)")
      XCTAssertEqual(reassembly.count, 0)
      XCTAssertEqual(reassembly.bufferedBytes, 0, "a finished datagram holds nothing")
    }
  }

  func testExactDuplicatesAreHarmlessAndOverlapsDiscardTheDatagram() {
    var reassembly = Reassembly()
    XCTAssertEqual(add(&reassembly, pattern(16), offset: 0, more: true), .queued)
    XCTAssertEqual(add(&reassembly, pattern(16), offset: 0, more: true), .queued, "the same bytes again")
    XCTAssertEqual(add(&reassembly, pattern(8, offset: 8), offset: 8, more: true), .queued, "a duplicate inside what arrived")
    XCTAssertEqual(add(&reassembly, pattern(8, offset: 1), offset: 8, more: true), .refused(.overlap), "different bytes")
    XCTAssertEqual(reassembly.count, 0, "the whole datagram went")
    XCTAssertEqual(reassembly.bufferedBytes, 0)
    // An overlap reaching past what arrived is no duplicate either.
    XCTAssertEqual(add(&reassembly, pattern(16), offset: 0, more: true), .queued)
    XCTAssertEqual(add(&reassembly, pattern(16, offset: 8), offset: 8, more: true), .refused(.overlap))
  }

  func testTheEndMustAgreeWithEveryFragment() {
    var reassembly = Reassembly()
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 16, more: false), .queued)
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 24, more: true), .refused(.overlap), "data past the end")
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 16, more: true), .queued)
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 0, more: false), .refused(.overlap), "a last fragment before data")
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 16, more: false), .queued)
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 32, more: false), .refused(.overlap), "a second, different end")
  }

  func testFragmentsThatFitNoDatagramAreRefused() {
    var reassembly = Reassembly()
    XCTAssertEqual(add(&reassembly, [], offset: 0, more: true), .refused(.badGeometry), "empty")
    XCTAssertEqual(add(&reassembly, pattern(12), offset: 0, more: true), .refused(.badGeometry), "not a multiple of 8")
    XCTAssertEqual(add(&reassembly, pattern(12), offset: 65512, more: false), .refused(.badGeometry), "past 65,515 bytes")
    XCTAssertEqual(add(&reassembly, pattern(3), offset: 65512, more: false), .queued, "ends at exactly 65,515")
    XCTAssertEqual(reassembly.count, 1)
  }

  func testBoundsOnFragmentsBytesAndDatagrams() {
    var configuration = Reassembly.Configuration()
    configuration.maximumFragments = 4
    configuration.maximumBytes = 4096
    configuration.maximumDatagrams = 3
    var reassembly = Reassembly(configuration: configuration)
    for index in 0..<4 { XCTAssertEqual(add(&reassembly, pattern(8), offset: index * 8, more: true), .queued) }
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 32, more: false), .refused(.limit), "a fifth fragment")
    XCTAssertEqual(reassembly.count, 0)
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 4096, more: false), .refused(.limit), "alone past the byte bound")
    // Three datagrams fill the table; a fourth evicts the oldest, then bytes evict too.
    for key in 1...3 { XCTAssertEqual(add(&reassembly, pattern(8), offset: 0, more: true, key: key), .queued) }
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 0, more: true, key: 4), .queued)
    XCTAssertEqual(reassembly.evicted, 1)
    XCTAssertEqual(Set(reassembly.datagrams.keys), [2, 3, 4])
    XCTAssertEqual(add(&reassembly, pattern(8), offset: 4080, more: true, key: 3), .queued, "key 3 grows to 4,088 bytes")
    XCTAssertEqual(Set(reassembly.datagrams.keys), [3, 4], "key 2, the oldest, made room")
    XCTAssertEqual(reassembly.evicted, 2)
    XCTAssertEqual(reassembly.bufferedBytes, 4096, "exactly the bound")
  }

  func testDatagramsTimeOutAndReportFragmentZero() {
    var reassembly = Reassembly()
    let packet = pattern(100)
    _ = pattern(16).withUnsafeBytes { data in
      packet.withUnsafeBytes { reassembly.add(data, offset: 0, more: true, key: 1, now: at(seconds: 1), first: $0) }
    }
    XCTAssertEqual(add(&reassembly, pattern(16), offset: 16, more: true, key: 2, at: at(seconds: 2)), .queued)
    XCTAssertEqual(reassembly.nextDeadline, at(seconds: 31))
    XCTAssertTrue(reassembly.expire(now: at(seconds: 30.9)).isEmpty)
    let first = reassembly.expire(now: at(seconds: 31))
    XCTAssertEqual(first.map(\.key), [1])
    XCTAssertEqual(first.first?.first, Array(packet.prefix(68)), "the header and 8 bytes of fragment zero, at most 68")
    XCTAssertEqual(reassembly.nextDeadline, at(seconds: 32))
    let second = reassembly.expire(now: at(seconds: 40))
    XCTAssertEqual(second.map(\.key), [2])
    XCTAssertNil(second.first?.first, "fragment zero never came")
    XCTAssertNil(reassembly.nextDeadline)
    XCTAssertEqual(reassembly.bufferedBytes, 0)
  }

  // MARK: On the interface

  /// An echo request of `size` data bytes, as IPv4 fragments of at most `mtu` bytes.
  func fragmentedEchoRequest(size: Int, mtu: Int = 1500, identification: UInt16 = 0x77) -> [[UInt8]] {
    let icmp = icmpMessage(.echoRequest(identifier: 9, sequenceNumber: 3), pattern(size))
    return pieces(icmp, size: (mtu - 20) & ~7).map { piece in
      ethernetFrame(
        type: .ipv4,
        ipv4Packet(protocol: .icmp, identification: identification, moreFragments: piece.more, fragmentOffset: piece.offset, piece.bytes))
    }
  }

  func testAFragmentedEchoRequestIsAnsweredInFragments() throws {
    let harness = Harness()
    harness.learn()
    let frames = fragmentedEchoRequest(size: 4000)
    XCTAssertEqual(frames.count, 3)
    for frame in frames.reversed() { harness.inject(frame) }
    harness.poll()
    let sent = harness.sent()
    XCTAssertEqual(sent.count, 3, "a 4,008-byte reply in three fragments")
    var reassembly = Reassembly()
    var reply: [UInt8]?
    var identifications = Set<UInt16>()
    for frame in sent {
      XCTAssertLessThanOrEqual(frame.count, 14 + 1500)
      let (_, packet) = try parseEthernet(frame)
      let header = try parseWire(packet, "IPv4 header") { (raw) throws(WireError) in try IPv4Header.parse(raw) }
      XCTAssertEqual(referenceChecksum(Array(packet[0..<20])), 0)
      XCTAssertEqual(header.destination, peerIP)
      XCTAssertTrue(header.isFragment)
      identifications.insert(header.identification)
      if case .complete(let whole) = add(&reassembly, Array(packet[20...]), offset: header.fragmentOffset, more: header.moreFragments) {
        reply = whole
      }
    }
    XCTAssertEqual(identifications.count, 1, "one identification for every fragment")
    let whole = try XCTUnwrap(reply)
    XCTAssertEqual(whole, icmpMessage(.echoReply(identifier: 9, sequenceNumber: 3), pattern(4000)))
    XCTAssertEqual(harness.counters.ipv4FragmentsQueued, 2)
    XCTAssertEqual(harness.counters.ipv4DatagramsReassembled, 1)
    XCTAssertEqual(harness.counters.ipv4FragmentsSent, 3)
    XCTAssertEqual(harness.counters.echoRepliesSent, 1)
    harness.assertDrops([:])
  }

  func testAFragmentedUDPDatagramIsDelivered() throws {
    let harness = Harness()
    harness.learn()
    let socket = try harness.stack.bindUDP(port: 7)
    let datagram = udpDatagram(port: 7, pattern(3000))
    for piece in pieces(datagram, size: 1480) {
      harness.inject(ethernetFrame(type: .ipv4, ipv4Packet(protocol: .udp, moreFragments: piece.more, fragmentOffset: piece.offset, piece.bytes)))
    }
    harness.poll()
    let received = try XCTUnwrap(socket.receive())
    XCTAssertEqual(received.payload, pattern(3000))
    XCTAssertEqual(received.source, .v4(peerIP))
    harness.assertDrops([:])
  }

  func testAReassemblyTimeoutSendsTimeExceededQuotingFragmentZero() throws {
    let harness = Harness()
    harness.learn()
    let frames = fragmentedEchoRequest(size: 4000)
    harness.inject(frames[0])
    harness.poll()
    XCTAssertEqual(harness.stack.pollAt(now: harness.now), harness.now + .seconds(30), "the loop wakes for the timeout")
    XCTAssertTrue(harness.sent().isEmpty)
    harness.advance(.seconds(30))
    let sent = harness.sent()
    XCTAssertEqual(sent.count, 1)
    let error = try parseIPv4Frame(sent[0])
    let (message, quoted) = try parseICMP(error)
    XCTAssertEqual(message, .timeExceeded(code: 1))
    XCTAssertEqual(quoted, Array(frames[0][14..<(14 + 68)]), "fragment zero's first 68 bytes (its header and 8 bytes at least)")
    harness.assertDrops([.reassemblyTimeout: 1])
    // No error when fragment zero never arrived.
    harness.inject(frames[1])
    harness.poll()
    harness.advance(.seconds(30))
    XCTAssertTrue(harness.sent().isEmpty)
    harness.assertDrops([.reassemblyTimeout: 2])
  }
}
