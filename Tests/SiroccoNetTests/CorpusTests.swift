// A corpus of hostile input: every truncation of valid frames, byte corruptions and random
// frames from fixed seeds, all fed through `poll`: IPv4, ARP, ICMP, UDP and TCP; IPv6,
// ICMPv6, Neighbor Discovery, UDP and TCP over IPv6 and fragments; and DHCP servers' messages
// to a client. Nothing may trap, every frame must be counted as received, and each must be
// accounted for: dropped for one reason, or handled.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

final class CorpusTests: XCTestCase {
  /// Valid frames the corpus is made from.
  static func seedFrames() -> [(name: String, frame: [UInt8])] {
    [
      ("ARP request", arpRequestFrame()),
      ("ARP reply", arpReplyFrame()),
      ("echo request", echoRequestFrame(identifier: 0x1234, sequenceNumber: 7, pattern(56))),
      ("UDP to a bound port", udpFrame(sourcePort: 5000, port: 7, pattern(40))),
      ("UDP to a closed port", udpFrame(sourcePort: 5000, port: 9999, pattern(20))),
      ("TCP SYN to a listener", tcpFrame(sourcePort: 5000, port: 80, sequence: 0x1000_0000, flags: .syn, options: TCPOptions(
        maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true,
        timestamp: TCPOptions.Timestamp(value: 0x1234_5678, echoReply: 0)))),
      ("TCP data for no connection", tcpFrame(
        sourcePort: 5001, port: 81, sequence: 7, acknowledgment: 9, flags: [.ack, .psh], pattern(24))),
    ]
  }

  /// Drops counted while a frame is received and dispatched: at most one per frame.
  static let receiveReasons: [DropReason] = [
    .malformedEthernet, .notForUs, .vlanTagged, .unknownEtherType, .malformedARP, .unsupportedARP, .malformedIPv4,
    .badIPv4Checksum, .ipv4NotForUs, .ipv4Fragment, .martianSource, .unknownProtocol, .malformedICMP,
    .badICMPChecksum, .malformedUDP, .badUDPChecksum, .noUDPSocket, .udpReceiveQueueFull,
    .malformedTCP, .badTCPChecksum, .noTCPConnection, .tcpBacklogFull, .tcpOutOfOrderLimit, .fragmentOverlap,
    .reassemblyLimit, .malformedIPv6, .ipv6NotForUs, .ipv6ExtensionHeader, .malformedICMPv6, .badICMPv6Checksum,
    .invalidNDP, .malformedDHCP,
  ]
  /// Drops counted while sending what a frame asked for (an echo reply, an ICMP error).
  static let sendReasons: [DropReason] = [.noRoute, .arpQueueOverflow, .transmitFailed, .oversized, .ndpQueueOverflow]

  /// What happened to the frames of one run.
  struct Tally: CustomStringConvertible {
    var injected = 0
    var bytes = 0
    var dropped = 0
    var delivered = 0
    var ignored = 0
    var segments = 0
    var echoed = 0
    var replyFailed = 0
    var arp = 0
    /// Fragments kept for reassembly.
    var fragments = 0
    /// Neighbor Discovery messages and MLD queries taken; DHCP messages taken.
    var discovery = 0
    var dhcp = 0
    var accounted: Int { dropped + delivered + ignored + echoed + segments + replyFailed + arp + fragments + discovery + dhcp }
    var description: String {
      "injected \(injected): dropped \(dropped), delivered \(delivered), ignored \(ignored), echoed \(echoed), "
        + "TCP segments \(segments), reply failed \(replyFailed), ARP \(arp), fragments \(fragments), "
        + "discovery \(discovery), DHCP \(dhcp)"
    }
  }

  /// A well-formed ARP frame for IPv4 over Ethernet (what the interface handles without a
  /// drop and, possibly, without any counter).
  static func isARP(_ frame: [UInt8]) -> Bool {
    guard frame.count >= 14 + ARPPacket.length, frame[12] == 0x08, frame[13] == 0x06 else { return false }
    return Array(frame[14...]).withUnsafeBytes { (try? ARPPacket.parse($0)) != nil }
  }

  /// Feeds `frames` one per poll, 1 ms apart, and accounts for each.
  func feed(
    _ frames: [[UInt8]], to harness: Harness, socket: UDPSocket, file: StaticString = #filePath, line: UInt = #line
  ) -> Tally {
    var tally = Tally()
    let start = harness.counters
    for (index, frame) in frames.enumerated() {
      let before = harness.counters
      harness.inject(frame)
      harness.advance(.milliseconds(1))
      _ = harness.sent()
      while socket.receive() != nil {}
      let after = harness.counters
      tally.injected += 1
      tally.bytes += frame.count

      func delta(_ reasons: [DropReason]) -> UInt64 { reasons.reduce(0) { $0 + after[$1] - before[$1] } }
      let receiveDrops = delta(Self.receiveReasons)
      let sendDrops = delta(Self.sendReasons)
      let delivered = after.udpDatagramsDelivered - before.udpDatagramsDelivered
      let ignored = after.icmpIgnored - before.icmpIgnored
      let echoed = after.echoRepliesSent - before.echoRepliesSent
      let segments = after.tcpSegmentsReceived - before.tcpSegmentsReceived
      let queued = after.ipv4FragmentsQueued + after.ipv6FragmentsQueued - before.ipv4FragmentsQueued - before.ipv6FragmentsQueued
      let discovery = after.ndpMessagesReceived + after.mldQueriesReceived - before.ndpMessagesReceived - before.mldQueriesReceived
      let dhcp = after.dhcpMessagesReceived - before.dhcpMessagesReceived
      let outcomes = delivered + ignored + echoed + segments + queued + discovery + dhcp
      let context = "frame \(index) (\(frame.count) bytes): \(hex(Array(frame.prefix(64)))); "
        + "receive drops \(receiveDrops), handled \(outcomes), send drops \(sendDrops)"

      guard after.receivedFrames == before.receivedFrames + 1,
        after.receivedBytes == before.receivedBytes + UInt64(frame.count)
      else {
        XCTFail("not counted as received: \(context)", file: file, line: line)
        continue
      }
      XCTAssertLessThanOrEqual(receiveDrops, 1, context, file: file, line: line)
      XCTAssertLessThanOrEqual(outcomes, 1, context, file: file, line: line)
      XCTAssertLessThanOrEqual(sendDrops, 1, context, file: file, line: line)
      if receiveDrops == 1 {
        XCTAssertEqual(outcomes, 0, "dropped and handled: \(context)", file: file, line: line)
        tally.dropped += 1
      } else if outcomes == 1 {
        tally.delivered += Int(delivered)
        tally.ignored += Int(ignored)
        tally.echoed += Int(echoed)
        tally.segments += Int(segments)
        tally.fragments += Int(queued)
        tally.discovery += Int(discovery)
        tally.dhcp += Int(dhcp)
      } else if sendDrops == 1 {
        tally.replyFailed += 1
      } else if Self.isARP(frame) {
        tally.arp += 1
      } else {
        XCTFail("neither dropped nor handled: \(context)", file: file, line: line)
      }
    }
    XCTAssertEqual(harness.counters.receivedFrames - start.receivedFrames, UInt64(frames.count), file: file, line: line)
    XCTAssertEqual(harness.counters.receivedBytes - start.receivedBytes, UInt64(tally.bytes), file: file, line: line)
    XCTAssertEqual(tally.accounted, tally.injected, "\(tally)", file: file, line: line)
    XCTAssertTrue(harness.device.inbox.isEmpty, file: file, line: line)
    return tally
  }

  /// An interface that knows the peer, has a socket on UDP port 7 and listens on TCP port
  /// 80, as the seeds expect. Connections the corpus opens retransmit only after it ends
  /// (a first RTO of 60 s), so whatever a poll sends was asked for by that poll's frame.
  func makeHarness(verifyChecksums: Bool = true) throws -> (Harness, UDPSocket) {
    let harness = Harness { $0.verifyChecksums = verifyChecksums }
    harness.learn()
    return (harness, try listening(harness))
  }

  /// Listens on TCP port 80 and binds UDP port 7, as the seeds expect.
  func listening(_ harness: Harness) throws -> UDPSocket {
    var configuration = TCPConnection.Configuration()
    configuration.initialRTO = .seconds(60)
    _ = try harness.stack.listenTCP(port: 80, configuration: configuration)
    return try harness.stack.bindUDP(port: 7)
  }

  // MARK: The seeds themselves

  func testSeedsAreHandledWithoutDrops() throws {
    let (harness, socket) = try makeHarness()
    let tally = feed(Self.seedFrames().map(\.frame), to: harness, socket: socket)
    XCTAssertEqual(tally.arp, 2)
    XCTAssertEqual(tally.echoed, 1)
    XCTAssertEqual(tally.delivered, 1)
    XCTAssertEqual(tally.segments, 1, "the SYN")
    XCTAssertEqual(tally.dropped, 2, "the closed UDP port, the TCP segment for no connection")
    harness.assertDrops([.noUDPSocket: 1, .noTCPConnection: 1])
    XCTAssertEqual(harness.counters.tcpResetsSent, 1, "the segment for no connection is answered by a reset")
  }

  // MARK: Truncation

  func testEveryTruncationIsDroppedAsMalformed() throws {
    for (name, frame) in Self.seedFrames() {
      let (harness, socket) = try makeHarness()
      let truncations = (0..<frame.count).map { Array(frame.prefix($0)) }
      let tally = feed(truncations, to: harness, socket: socket)
      XCTAssertEqual(tally.dropped, frame.count, "\(name): \(tally)")
      let payloadReason: DropReason = frame[13] == 0x06 ? .malformedARP : .malformedIPv4
      harness.assertDrops([.malformedEthernet: 14, payloadReason: UInt64(frame.count - 14)])
      XCTAssertEqual(harness.counters.transmittedFrames, 1, "\(name): only the ARP reply of `learn`")
    }
  }

  func testTruncatedPaddedFramesAreStillHandledWhileThePacketIsWhole() throws {
    // A 43-byte UDP datagram padded to 60: cutting padding loses nothing.
    let frame = udpFrame(port: 7, [0x5a])
    XCTAssertEqual(frame.count, 60)
    let (harness, socket) = try makeHarness()
    let tally = feed((43...60).map { Array(frame.prefix($0)) }, to: harness, socket: socket)
    XCTAssertEqual(tally.delivered, 18)
    harness.assertDrops([:])
  }

  // MARK: Corruption

  /// `each` copies of `frame` per offset, with that byte changed (XOR with 1-255).
  static func singleByteCorruptions(of frame: [UInt8], each: Int, random: inout SplitMix64) -> [[UInt8]] {
    var corpus: [[UInt8]] = []
    for offset in 0..<frame.count {
      for _ in 0..<each {
        var corrupted = frame
        corrupted[offset] ^= UInt8(truncatingIfNeeded: random.next() % 255 + 1)
        corpus.append(corrupted)
      }
    }
    return corpus
  }

  func testSingleByteCorruptionsAtEveryOffset() throws {
    var random = SplitMix64(seed: 0x0ddba11)
    for (name, frame) in Self.seedFrames() {
      let corpus = Self.singleByteCorruptions(of: frame, each: 8, random: &random)
      let (harness, socket) = try makeHarness()
      let tally = feed(corpus, to: harness, socket: socket)
      XCTAssertEqual(tally.injected, frame.count * 8, name)
      XCTAssertGreaterThan(tally.dropped, 0, name)
      XCTAssertGreaterThanOrEqual(harness.counters.totalDrops, UInt64(tally.dropped), name)
    }
  }

  func testChecksumsCatchEverySingleByteChangeTheyCover() throws {
    // Changing one byte of the IP header, ICMP message, UDP datagram or TCP segment
    // (anything but the Ethernet header, and the byte with the version) must be caught by a
    // checksum or a field check, never delivered, answered or taken as a segment.
    let seeds = Self.seedFrames().filter { $0.frame[13] == 0x00 }
    var random = SplitMix64(seed: 42)
    for (name, frame) in seeds {
      let (harness, socket) = try makeHarness()
      var corpus: [[UInt8]] = []
      for offset in 14..<frame.count {
        var corrupted = frame
        corrupted[offset] ^= UInt8(truncatingIfNeeded: random.next() % 255 + 1)
        corpus.append(corrupted)
      }
      let tally = feed(corpus, to: harness, socket: socket)
      XCTAssertEqual(tally.dropped, corpus.count, "\(name): \(tally)")
      XCTAssertEqual(tally.echoed + tally.delivered + tally.segments, 0, name)
    }
  }

  /// `each` copies of every seed with one to four random bytes replaced, from `seed`.
  static func multiByteCorruptions(of seeds: [[UInt8]], each: Int, seed: UInt64) -> [[UInt8]] {
    var random = SplitMix64(seed: seed)
    var corpus: [[UInt8]] = []
    for frame in seeds {
      for _ in 0..<each {
        var corrupted = frame
        for _ in 0..<(1 + Int(random.next() % 4)) {
          corrupted[Int(random.next() % UInt64(frame.count))] = UInt8(truncatingIfNeeded: random.next())
        }
        corpus.append(corrupted)
      }
    }
    return corpus
  }

  func testMultiByteCorruptions() throws {
    let corpus = Self.multiByteCorruptions(of: Self.seedFrames().map(\.frame), each: 2000, seed: 0xc0ffee)
    for verify in [true, false] {
      let (harness, socket) = try makeHarness(verifyChecksums: verify)
      let tally = feed(corpus, to: harness, socket: socket)
      XCTAssertEqual(tally.injected, 2000 * Self.seedFrames().count)
      XCTAssertGreaterThan(tally.dropped, 0)
    }
  }

  // MARK: Random frames

  func testRandomFrames() throws {
    var random = SplitMix64(seed: 0x5151_7000)
    var corpus: [[UInt8]] = []
    for _ in 0..<20_000 {
      let length = Int(random.next() % 1601)
      corpus.append((0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) })
    }
    XCTAssertEqual(corpus.map(\.count).min(), 0)
    let (harness, socket) = try makeHarness()
    let tally = feed(corpus, to: harness, socket: socket)
    XCTAssertEqual(tally.injected, 20_000)
    XCTAssertEqual(tally.dropped, 20_000, "random bytes are never a frame for us: \(tally)")
    XCTAssertGreaterThan(harness.counters[.malformedEthernet], 0)
    XCTAssertGreaterThan(harness.counters[.notForUs], 19_000)
  }

  func testRandomFramesWithPlausibleHeaders() throws {
    // Random frames that get past the outer checks: addressed to us, typed ARP or IPv4,
    // version 4 with a random IHL, on-link sources, checksums not verified (as a fuzzer
    // runs the stack).
    var random = SplitMix64(seed: 0xfeed_5eed)
    var corpus: [[UInt8]] = []
    for _ in 0..<20_000 {
      let length = Int(random.next() % 1601)
      var frame = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
      let choice = random.next()
      if length >= 14 {
        let destination = choice & 1 == 0 ? ourMAC : MACAddress.broadcast
        frame.withUnsafeMutableBytes { destination.write(to: $0, at: 0) }
        let isARP = choice & 6 == 0
        frame[12] = 0x08
        frame[13] = isARP ? 0x06 : 0x00
        if isARP, length >= 22 {
          frame[14...21] = [0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, UInt8(1 + choice >> 3 & 1)]
          if length >= 42 {
            frame[38...41] = choice & 8 == 0 ? [10, 0, 0, 2] : [10, 0, 0, UInt8(truncatingIfNeeded: choice >> 8)]
          }
        } else if !isARP, length >= 34 {
          let headerWords = choice & 16 == 0 ? 5 : 5 + Int((choice >> 4) % 11)
          frame[14] = 0x40 | UInt8(headerWords)
          let total = Int((choice >> 16) % UInt64(length - 13))
          frame[16] = UInt8(total >> 8)
          frame[17] = UInt8(truncatingIfNeeded: total)
          frame[20] = 0
          if choice & 32 == 0 { frame[21] = 0 }
          frame[23] = [1, 17, 6, 253][Int(choice >> 24 & 3)]
          frame[26...29] = [10, 0, 0, UInt8(truncatingIfNeeded: choice >> 32)]
          frame[30...33] = choice & 64 == 0 ? [10, 0, 0, 2] : [255, 255, 255, 255]
          let body = 14 + headerWords * 4
          if frame[23] == 1, choice & 128 == 0, total >= headerWords * 4 + 8 {
            frame[body] = 8
            frame[body + 1] = 0
          }
          if frame[23] == 17, total >= headerWords * 4 + 8 {
            if choice & 128 == 0 {
              frame[body + 2] = 0
              frame[body + 3] = 7
            }
            let udpLength = 8 + Int((choice >> 40) % UInt64(total - headerWords * 4 - 7))
            frame[body + 4] = UInt8(udpLength >> 8)
            frame[body + 5] = UInt8(truncatingIfNeeded: udpLength)
          }
        }
      }
      corpus.append(frame)
    }
    let (harness, socket) = try makeHarness(verifyChecksums: false)
    let tally = feed(corpus, to: harness, socket: socket)
    XCTAssertEqual(tally.injected, 20_000)
    // The corpus reaches past the outer checks into every handler.
    XCTAssertGreaterThan(tally.arp, 0, "\(tally)")
    XCTAssertGreaterThan(tally.echoed, 0, "\(tally)")
    XCTAssertGreaterThan(tally.delivered, 0, "\(tally)")
    XCTAssertGreaterThan(tally.ignored, 0, "\(tally)")
    XCTAssertGreaterThan(harness.counters[.noUDPSocket], 0, "\(harness.counters)")
    XCTAssertGreaterThan(harness.counters[.unknownProtocol], 0, "\(harness.counters)")
    XCTAssertGreaterThan(harness.counters[.malformedIPv4], 0, "\(harness.counters)")
    XCTAssertGreaterThan(harness.counters[.noTCPConnection], 0, "\(harness.counters)")
  }

  // MARK: IPv6, Neighbor Discovery, DHCP

  /// Valid IPv6 frames for a link at fd00::2/64 (`Harness.ipv6`) that knows the peer.
  static func seedFrames6() -> [(name: String, frame: [UInt8])] {
    let udpHeader = UDPHeader(sourcePort: 5000, destinationPort: 7, payloadLength: 40)
    var datagram = [UInt8](repeating: 0, count: UDPHeader.length) + pattern(40)
    datagram.withUnsafeMutableBytes { udpHeader.emit(into: $0, source: peerIP6, destination: ourIP6) }
    let syn = TCPHeader(
      sourcePort: 5000, destinationPort: 80, sequenceNumber: 0x1000_0000, acknowledgmentNumber: 0, flags: .syn, window: 65535,
      options: TCPOptions(maximumSegmentSize: 1440, windowScale: 7, sackPermitted: true))
    var segment = [UInt8](repeating: 0, count: syn.headerLength)
    segment.withUnsafeMutableBytes { syn.emit(into: $0, source: .v6(peerIP6), destination: .v6(ourIP6)) }
    let solicitedNode = ourIP6.solicitedNodeMulticast
    let advertisement = RouterAdvertisement(
      currentHopLimit: 64, routerLifetime: 1800, options: [
        .sourceLinkLayerAddress(peerMAC), .mtu(1500),
        .prefixInformation(NDPPrefixInformation(
          prefix: IPv6Network(address: IPv6Address(0xfd00, 0, 0, 7, 0, 0, 0, 0), prefixLength: 64), onLink: true, autonomous: true,
          validLifetime: 3600, preferredLifetime: 1800)),
      ])
    // The first 1,024 bytes of a 1,508-byte echo request, in a Fragment header.
    let whole = icmpv6(.echoRequest(identifier: 9, sequenceNumber: 1), pattern(1500))
    let fragmentHeader = IPv6FragmentHeader(nextHeader: .icmpv6, offset: 0, moreFragments: true, identification: 77)
    let fragment = filled(IPv6FragmentHeader.length) { fragmentHeader.emit(into: $0) } + Array(whole.prefix(1024))
    return [
      ("IPv6 echo request", icmpv6Frame(.echoRequest(identifier: 7, sequenceNumber: 1), pattern(56))),
      ("UDP over IPv6 to a bound port", ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .udp, datagram))),
      ("TCP SYN over IPv6 to a listener", ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .tcp, segment))),
      ("Neighbor Solicitation", icmpv6Frame(
        .neighborSolicitation(NeighborSolicitation(targetAddress: ourIP6, options: [.sourceLinkLayerAddress(peerMAC)])),
        to: solicitedNode, ethernetTo: MACAddress(multicast: solicitedNode), hopLimit: 255)),
      ("Router Advertisement", icmpv6Frame(
        .routerAdvertisement(advertisement), from: peerLinkLocal, to: .allNodes, ethernetTo: MACAddress(multicast: .allNodes),
        hopLimit: 255)),
      ("IPv6 first fragment", ethernetFrame(type: .ipv6, ipv6Packet(nextHeader: .ipv6Fragment, fragment))),
    ]
  }

  /// `Harness.ipv6` with the peer resolved, a UDP socket on port 7 and a listener on 80.
  func makeHarness6(verifyChecksums: Bool = true) throws -> (Harness, UDPSocket) {
    let harness = Harness.ipv6 { $0.verifyChecksums = verifyChecksums }
    harness.stack.addNeighbor(peerIP6, at: peerMAC, on: harness.link, now: harness.now)
    return (harness, try listening(harness))
  }

  func testIPv6SeedsAreHandledWithoutDrops() throws {
    let (harness, socket) = try makeHarness6()
    let tally = feed(Self.seedFrames6().map(\.frame), to: harness, socket: socket)
    XCTAssertEqual(tally.echoed, 1, "\(tally)")
    XCTAssertEqual(tally.delivered, 1, "\(tally)")
    XCTAssertEqual(tally.segments, 1, "the SYN: \(tally)")
    XCTAssertEqual(tally.discovery, 2, "the solicitation and the advertisement: \(tally)")
    XCTAssertEqual(tally.fragments, 1, "\(tally)")
    XCTAssertEqual(tally.dropped, 0, "\(tally)")
    harness.assertDrops([:])
  }

  func testEveryIPv6TruncationIsDroppedAsMalformed() throws {
    for (name, frame) in Self.seedFrames6() {
      let (harness, socket) = try makeHarness6()
      let tally = feed((0..<frame.count).map { Array(frame.prefix($0)) }, to: harness, socket: socket)
      XCTAssertEqual(tally.dropped, frame.count, "\(name): \(tally)")
      harness.assertDrops([.malformedEthernet: 14, .malformedIPv6: UInt64(frame.count - 14)])
    }
  }

  func testIPv6SingleByteCorruptionsAtEveryOffset() throws {
    var random = SplitMix64(seed: 0x6_0ddba11)
    for (name, frame) in Self.seedFrames6() {
      let corpus = Self.singleByteCorruptions(of: frame, each: 4, random: &random)
      let (harness, socket) = try makeHarness6()
      let tally = feed(corpus, to: harness, socket: socket)
      XCTAssertEqual(tally.injected, frame.count * 4, name)
      XCTAssertGreaterThan(tally.dropped, frame.count, "\(name): \(tally)")
    }
  }

  func testIPv6ChecksumsCatchEverySingleByteChangeTheyCover() throws {
    // Changing a byte of the source or destination address (the pseudo-header) or of the
    // ICMPv6 message, UDP datagram or TCP segment must be caught by a checksum or an address
    // check, never answered, delivered or taken. (The first eight bytes of the IPv6 header
    // are covered by no checksum, and a fragment's data only once reassembled.)
    var random = SplitMix64(seed: 6)
    for (name, frame) in Self.seedFrames6() where !name.contains("fragment") {
      let (harness, socket) = try makeHarness6()
      var corpus: [[UInt8]] = []
      for offset in (14 + 8)..<frame.count {
        var corrupted = frame
        corrupted[offset] ^= UInt8(truncatingIfNeeded: random.next() % 255 + 1)
        corpus.append(corrupted)
      }
      let tally = feed(corpus, to: harness, socket: socket)
      XCTAssertEqual(tally.dropped, corpus.count, "\(name): \(tally)")
      XCTAssertEqual(tally.echoed + tally.delivered + tally.segments + tally.discovery, 0, name)
    }
  }

  func testIPv6MultiByteCorruptions() throws {
    let corpus = Self.multiByteCorruptions(of: Self.seedFrames6().map(\.frame), each: 1000, seed: 0x6c0ffee)
    for verify in [true, false] {
      let (harness, socket) = try makeHarness6(verifyChecksums: verify)
      let tally = feed(corpus, to: harness, socket: socket)
      XCTAssertEqual(tally.injected, corpus.count)
      XCTAssertGreaterThan(tally.dropped, 0)
    }
  }

  /// A DHCP client's link fed servers' OFFERs cut short or corrupted (each in a valid UDP
  /// datagram, so that the DHCP parser sees it): every one is taken or dropped as
  /// malformed-dhcp, and none shorter than the message's fixed part and magic cookie is taken.
  func testMalformedDHCPMessagesAreDroppedAndCounted() throws {
    let harness = Harness { $0.ipv4 = nil }
    var configuration = DHCPClient.Configuration()
    configuration.probe = false
    harness.stack.startDHCP(on: harness.link, configuration: configuration, now: harness.now)
    _ = harness.sent()
    let client = try XCTUnwrap(harness.link.dhcp)
    var options = DHCPOptions()
    options.messageType = .offer
    options.serverIdentifier = peerIP
    options.leaseTime = 120
    options.subnetMask = IPv4Address(255, 255, 255, 0)
    options.routers = [peerIP]
    let offer = DHCPMessage(
      operation: .bootReply, transactionID: client.transactionID, clientHardwareAddress: ourMAC,
      yourAddress: IPv4Address(10, 0, 0, 50), options: options)
    let payload = filled(offer.bufferLength) { offer.emit(into: $0) }
    func frame(_ message: [UInt8]) -> [UInt8] {
      udpFrame(from: peerIP, sourcePort: 67, to: .broadcast, port: 68, message, ethernetTo: .broadcast)
    }
    let socket = try harness.stack.bindUDP(port: 7)
    let cut = (0..<240).map { frame(Array(payload.prefix($0))) }
    let cutTally = feed(cut, to: harness, socket: socket)
    XCTAssertEqual(cutTally.dropped, 240, "\(cutTally)")
    XCTAssertEqual(harness.counters[.malformedDHCP], 240)
    var random = SplitMix64(seed: 0xd4c9)
    var corrupted: [[UInt8]] = []
    for _ in 0..<3000 {
      var message = payload
      for _ in 0..<(1 + Int(random.next() % 4)) {
        message[236 + Int(random.next() % UInt64(payload.count - 236))] = UInt8(truncatingIfNeeded: random.next())
      }
      corrupted.append(frame(message))
    }
    let tally = feed(corrupted, to: harness, socket: socket)
    XCTAssertEqual(tally.injected, 3000)
    XCTAssertGreaterThan(tally.dropped, 0, "corrupted options are refused: \(tally)")
    XCTAssertGreaterThan(tally.dhcp, 0, "corruptions the parser accepts reach the client: \(tally)")
  }
}

