// ARP on the interface: answering, learning, announcing, resolving, retrying, expiring, and
// the bounds on what waits for a resolution (RFC 826, RFC 1122 2.3.2, RFC 5227 2.3).

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

final class ARPTests: XCTestCase {
  // MARK: Answering

  func testAnswersRequestForOurAddressWithEveryFieldSet() throws {
    let harness = Harness()
    let reply = try harness.exchange(arpRequestFrame(from: peerMAC, peerIP, for: ourIP))
    XCTAssertEqual(
      hex(reply),
      hex(bytes("""
        020000000001 020000000002 0806
        0001 0800 06 04 0002
        020000000002 0a000002
        020000000001 0a000001
        """)))
    let (ethernet, packet) = try parseARPFrame(reply)
    XCTAssertEqual(ethernet, EthernetHeader(destination: peerMAC, source: ourMAC, etherType: .arp))
    XCTAssertEqual(packet.operation, .reply)
    XCTAssertEqual(packet.senderHardwareAddress, ourMAC)
    XCTAssertEqual(packet.senderProtocolAddress, ourIP)
    XCTAssertEqual(packet.targetHardwareAddress, peerMAC)
    XCTAssertEqual(packet.targetProtocolAddress, peerIP)
    XCTAssertEqual(harness.counters.arpRepliesSent, 1)
    XCTAssertEqual(harness.counters.arpRequestsSent, 0)
    XCTAssertEqual(harness.counters.transmittedFrames, 1)
    XCTAssertEqual(harness.counters.transmittedBytes, 42)
    harness.assertDrops([:])
  }

  func testAnswersRequestWithEthernetPadding() throws {
    let harness = Harness()
    let frame = arpRequestFrame() + [UInt8](repeating: 0xee, count: 18)
    XCTAssertEqual(frame.count, 60)
    let (_, packet) = try parseARPFrame(try harness.exchange(frame))
    XCTAssertEqual(packet.operation, .reply)
    XCTAssertEqual(packet.targetProtocolAddress, peerIP)
  }

  func testIgnoresRequestForAnotherAddressAndDoesNotLearnTheRequester() throws {
    let harness = Harness()
    harness.expectSilence(arpRequestFrame(from: peerMAC, peerIP, for: otherIP))
    XCTAssertEqual(harness.counters.arpRepliesSent, 0)
    XCTAssertEqual(harness.link.arp.count, 0)
    harness.assertDrops([:])
    // Not learned: sending to the requester needs a resolution.
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(peerIP), port: 9)
    let (_, request) = try parseARPFrame(try harness.exchange())
    XCTAssertEqual(request.operation, .request)
    XCTAssertEqual(request.targetProtocolAddress, peerIP)
  }

  func testLearnsTheRequesterAndSendsToItWithoutAskingAgain() throws {
    let harness = Harness()
    harness.learn()
    XCTAssertEqual(harness.link.arp.count, 1)
    XCTAssertEqual(harness.resolved(peerIP), peerMAC)
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1, 2, 3], to: .v4(peerIP), port: 9)
    let sent = try parseIPv4Frame(try harness.exchange())
    XCTAssertEqual(sent.ethernet.destination, peerMAC)
    XCTAssertEqual(sent.header.destination, peerIP)
    XCTAssertEqual(harness.counters.arpRequestsSent, 0)
  }

  // MARK: Announcements (RFC 5227 2.3)

  func testSendsExactlyTheConfiguredAnnouncementsAtTheConfiguredInterval() throws {
    let harness = Harness { $0.announcements = 2 }
    XCTAssertEqual(harness.link.configuration.announcementInterval, .seconds(2))
    // Before the first poll, the first announcement is due at once.
    XCTAssertEqual(harness.stack.pollAt(now: .zero), .zero)

    harness.poll(at: .zero)
    let first = harness.sent()
    XCTAssertEqual(first.count, 1)
    XCTAssertEqual(
      hex(first[0]),
      hex(bytes("""
        ffffffffffff 020000000002 0806
        0001 0800 06 04 0001
        020000000002 0a000002
        000000000000 0a000002
        """)))
    XCTAssertEqual(harness.stack.pollAt(now: .zero), at(seconds: 2))
    XCTAssertEqual(harness.stack.pollAt(now: at(seconds: 1)), at(seconds: 2))

    harness.poll(at: at(seconds: 1.999))
    XCTAssertEqual(harness.sent().count, 0, "the second announcement is not due yet")

    harness.poll(at: at(seconds: 2))
    let second = harness.sent()
    XCTAssertEqual(second.count, 1)
    XCTAssertEqual(second.first, first[0], "both announcements are the same frame")
    XCTAssertNil(harness.stack.pollAt(now: at(seconds: 2)), "no third announcement")

    harness.poll(at: at(seconds: 4))
    harness.poll(at: at(seconds: 100))
    XCTAssertEqual(harness.sent().count, 0)
    XCTAssertEqual(harness.counters.transmittedFrames, 2)
    XCTAssertEqual(harness.counters.arpRequestsSent, 0, "announcements are not counted as requests")
  }

  func testAnnouncementsFollowTheFirstPollNotTheClockOrigin() throws {
    let harness = Harness(start: at(seconds: 50)) {
      $0.announcements = 3
      $0.announcementInterval = .milliseconds(500)
    }
    var times: [Instant] = []
    for step in 0...40 {
      let time = Instant(nanoseconds: 50_000_000_000 + Int64(step) * 100_000_000)
      harness.poll(at: time)
      for frame in harness.sent() {
        let (_, packet) = try parseARPFrame(frame)
        XCTAssertEqual(packet.senderProtocolAddress, ourIP)
        XCTAssertEqual(packet.targetProtocolAddress, ourIP)
        times.append(time)
      }
    }
    XCTAssertEqual(times, [at(seconds: 50), at(seconds: 50.5), at(seconds: 51)])
  }

  // MARK: Resolution (RFC 826, RFC 1122 2.3.2.2)

  func testResolvesAnUnknownNeighbourQueuesThePacketAndSendsItWhenTheReplyComes() throws {
    let harness = Harness()
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send(Array("hello".utf8), to: .v4(peerIP), port: 7)

    harness.poll()
    let output = harness.sent()
    XCTAssertEqual(output.count, 1, "only the request: the datagram waits")
    XCTAssertEqual(
      hex(output[0]),
      hex(bytes("""
        ffffffffffff 020000000002 0806
        0001 0800 06 04 0001
        020000000002 0a000002
        000000000000 0a000001
        """)))
    XCTAssertEqual(harness.counters.arpRequestsSent, 1)
    XCTAssertTrue(harness.link.arp.isResolving(peerIP))
    XCTAssertFalse(harness.stack.hasPendingTransmit, "the datagram left the socket for the ARP queue")
    XCTAssertEqual(harness.stack.pollAt(now: harness.now), harness.now + .seconds(1))

    harness.now = at(seconds: 0.3)
    let sent = try parseIPv4Frame(try harness.exchange(arpReplyFrame()))
    XCTAssertEqual(sent.ethernet.destination, peerMAC)
    XCTAssertEqual(sent.header.destination, peerIP)
    let (udp, payload) = try parseUDP(sent)
    XCTAssertEqual(udp.sourcePort, 4000)
    XCTAssertEqual(udp.destinationPort, 7)
    XCTAssertEqual(payload, Array("hello".utf8))
    XCTAssertFalse(harness.link.arp.isResolving(peerIP))
    XCTAssertNil(harness.stack.pollAt(now: harness.now))
    harness.poll(at: at(seconds: 5))
    XCTAssertEqual(harness.sent().count, 0, "no retry after the resolution")
    XCTAssertEqual(harness.counters.arpRequestsSent, 1)
    harness.assertDrops([:])
  }

  func testRetriesEverySecondThenDropsTheWaitingPacketsAsUnresolved() throws {
    let harness = Harness()
    XCTAssertEqual(harness.link.configuration.arp.maximumRequests, 3)
    let silent = IPv4Address(10, 0, 0, 9)
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(silent), port: 7)
    try socket.send([2], to: .v4(silent), port: 7)

    func requests() throws -> [IPv4Address] {
      try harness.sent().map { frame in
        let (ethernet, packet) = try parseARPFrame(frame)
        XCTAssertEqual(ethernet.destination, .broadcast)
        XCTAssertEqual(packet.operation, .request)
        return packet.targetProtocolAddress
      }
    }

    harness.poll(at: .zero)
    XCTAssertEqual(try requests(), [silent])
    XCTAssertEqual(harness.stack.pollAt(now: .zero), at(seconds: 1))
    harness.poll(at: at(seconds: 0.999))
    XCTAssertEqual(try requests(), [], "at most one request per second (RFC 1122 2.3.2.1)")
    harness.poll(at: at(seconds: 1))
    XCTAssertEqual(try requests(), [silent])
    XCTAssertEqual(harness.stack.pollAt(now: at(seconds: 1)), at(seconds: 2))
    harness.poll(at: at(seconds: 2))
    XCTAssertEqual(try requests(), [silent])
    XCTAssertEqual(harness.stack.pollAt(now: at(seconds: 2)), at(seconds: 3))
    XCTAssertEqual(harness.counters[.arpUnresolved], 0)

    harness.poll(at: at(seconds: 3))
    XCTAssertEqual(try requests(), [], "no fourth request")
    XCTAssertEqual(harness.counters.arpRequestsSent, 3)
    harness.assertDrops([.arpUnresolved: 2])
    XCTAssertFalse(harness.link.arp.isResolving(silent))
    XCTAssertNil(harness.stack.pollAt(now: at(seconds: 3)))

    // A late reply addressed to us is learned (RFC 826: we are the target), but nothing is
    // left to send.
    harness.expectSilence(arpReplyFrame(from: otherMAC, silent))
    XCTAssertEqual(harness.resolved(silent), otherMAC)
    harness.poll(at: at(seconds: 10))
    XCTAssertEqual(harness.sent().count, 0)
  }

  func testRetryScheduleFollowsTheConfiguration() throws {
    let harness = Harness {
      $0.arp.maximumRequests = 5
      $0.arp.requestInterval = .milliseconds(250)
    }
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(otherIP), port: 7)
    var requestTimes: [Instant] = []
    for step in 0...20 {
      let time = Instant(nanoseconds: Int64(step) * 125_000_000)
      harness.poll(at: time)
      requestTimes += harness.sent().map { _ in time }
    }
    XCTAssertEqual(requestTimes, [0, 0.25, 0.5, 0.75, 1.0].map { at(seconds: $0) })
    harness.assertDrops([.arpUnresolved: 1])
  }

  func testAnEntryIsResolvedAgainAfterItsLifetime() throws {
    let harness = Harness()
    XCTAssertEqual(harness.link.configuration.arp.entryLifetime, .seconds(60))
    harness.learn()  // at 0
    let socket = try harness.stack.bindUDP(port: 4000)

    harness.now = Instant(nanoseconds: 60_000_000_000 - 1)
    try socket.send([1], to: .v4(peerIP), port: 7)
    let direct = try parseIPv4Frame(try harness.exchange())
    XCTAssertEqual(direct.ethernet.destination, peerMAC, "still valid just before the lifetime ends")

    harness.now = at(seconds: 60)
    try socket.send([2], to: .v4(peerIP), port: 7)
    let (ethernet, request) = try parseARPFrame(try harness.exchange())
    XCTAssertEqual(ethernet.destination, .broadcast)
    XCTAssertEqual(request.operation, .request)
    XCTAssertEqual(request.targetProtocolAddress, peerIP)
    XCTAssertEqual(harness.counters.arpRequestsSent, 1)

    // The answer releases the datagram, to the peer's new address.
    let newMAC = MACAddress(0x02, 0, 0, 0, 0, 0x11)
    let released = try parseIPv4Frame(try harness.exchange(arpReplyFrame(from: newMAC, peerIP)))
    XCTAssertEqual(released.ethernet.destination, newMAC)
    XCTAssertEqual(try parseUDP(released).1, [2])
  }

  func testAVeryLongEntryLifetimeDoesNotExpireAtOnce() throws {
    // "Never expire" configured as a huge lifetime must not wrap around into the past.
    let harness = Harness(start: at(seconds: 5)) { $0.arp.entryLifetime = .seconds(Int64.max) }
    harness.learn()
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(peerIP), port: 7)
    let sent = try parseIPv4Frame(try harness.exchange())
    XCTAssertEqual(sent.ethernet.destination, peerMAC)
    XCTAssertEqual(harness.counters.arpRequestsSent, 0)
  }

  // MARK: Static neighbours

  func testAddNeighborResolvesWithoutARPAndReleasesWaitingPacketsOnTheNextFlush() throws {
    let harness = Harness()
    harness.stack.addNeighbor(otherIP, at: otherMAC, on: harness.link, now: .zero)
    XCTAssertFalse(harness.stack.hasPendingTransmit, "nothing was waiting")
    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(otherIP), port: 7)
    XCTAssertEqual(try parseIPv4Frame(try harness.exchange()).ethernet.destination, otherMAC)

    try socket.send([2], to: .v4(peerIP), port: 7)
    try socket.send([3], to: .v4(peerIP), port: 7)
    XCTAssertEqual(try parseARPFrame(try harness.exchange()).1.targetProtocolAddress, peerIP)
    harness.now = at(seconds: 0.5)
    harness.stack.addNeighbor(peerIP, at: peerMAC, on: harness.link, now: harness.now)
    XCTAssertEqual(harness.sent().count, 0, "nothing leaves outside poll and flush")
    XCTAssertTrue(harness.stack.hasPendingTransmit)
    XCTAssertEqual(harness.stack.pollAt(now: harness.now), harness.now)
    harness.stack.flush(now: harness.now)
    let released = try harness.sent().map { try parseIPv4Frame($0) }
    XCTAssertEqual(released.map(\.ethernet.destination), [peerMAC, peerMAC])
    XCTAssertEqual(try released.map { try parseUDP($0).1 }, [[2], [3]])
    XCTAssertFalse(harness.stack.hasPendingTransmit)
    XCTAssertNil(harness.stack.pollAt(now: harness.now))
    harness.poll(at: at(seconds: 5))
    XCTAssertEqual(harness.sent().count, 0, "no ARP retry for a resolved neighbour")
    XCTAssertEqual(harness.counters.arpRequestsSent, 1)
    harness.assertDrops([:])
  }

  // MARK: Bounds on what waits

  func testPerDestinationQueueKeepsTheNewestPacketsAndCountsOverflow() throws {
    let harness = Harness()
    let limit = harness.link.configuration.arp.packetsPerDestination
    XCTAssertEqual(limit, 8)
    let socket = try harness.stack.bindUDP(port: 4000)
    for index in 0..<(limit + 2) { try socket.send([UInt8(index)], to: .v4(peerIP), port: 7) }
    harness.poll()
    XCTAssertEqual(harness.sent().count, 1, "one request for all of them")
    harness.assertDrops([.arpQueueOverflow: 2])

    harness.inject(arpReplyFrame())
    harness.poll()
    let payloads = try harness.sent().map { try parseUDP(try parseIPv4Frame($0)).1 }
    XCTAssertEqual(payloads, (2..<(limit + 2)).map { [UInt8($0)] }, "oldest dropped, the rest in order")
    harness.assertDrops([.arpQueueOverflow: 2])
  }

  func testTheTableOfWaitingDestinationsIsBounded() throws {
    let harness = Harness { $0.arp.pendingDestinations = 3 }
    let socket = try harness.stack.bindUDP(port: 4000)
    let destinations = (10...13).map { IPv4Address(10, 0, 0, UInt8($0)) }
    for destination in destinations { try socket.send([1], to: .v4(destination), port: 7) }
    harness.poll()
    let asked = try harness.sent().map { try parseARPFrame($0).1.targetProtocolAddress }
    XCTAssertEqual(asked, Array(destinations.prefix(3)))
    harness.assertDrops([.arpQueueOverflow: 1])
    XCTAssertFalse(harness.link.arp.isResolving(destinations[3]))

    // Once one resolves, there is room again.
    harness.inject(arpReplyFrame(from: otherMAC, destinations[0]))
    harness.poll()
    XCTAssertEqual(harness.sent().count, 1)
    try socket.send([2], to: .v4(destinations[3]), port: 7)
    harness.poll()
    XCTAssertEqual(try harness.sent().map { try parseARPFrame($0).1.targetProtocolAddress }, [destinations[3]])
    harness.assertDrops([.arpQueueOverflow: 1])
  }

  // MARK: The cache itself

  func testCacheAtCapacityEvictsTheEntryClosestToExpiry() {
    var configuration = ARPCache.Configuration()
    configuration.capacity = 2
    var cache = ARPCache(configuration: configuration)
    let a = IPv4Address(10, 0, 0, 10), b = IPv4Address(10, 0, 0, 11), c = IPv4Address(10, 0, 0, 12)
    let macA = MACAddress(2, 0, 0, 0, 0, 10), macB = MACAddress(2, 0, 0, 0, 0, 11), macC = MACAddress(2, 0, 0, 0, 0, 12)
    XCTAssertEqual(cache.insert(b, macB, now: at(seconds: 1)), [])
    XCTAssertEqual(cache.insert(a, macA, now: at(seconds: 2)), [])
    XCTAssertEqual(cache.count, 2)
    // Refreshing a held entry evicts nothing, and moves its expiry.
    _ = cache.insert(b, macB, now: at(seconds: 3))
    XCTAssertEqual(cache.count, 2)
    XCTAssertEqual(cache.lookup(a, now: at(seconds: 3)), macA)
    XCTAssertEqual(cache.lookup(b, now: at(seconds: 3)), macB)
    // Full: the entry expiring first (a, at 62) makes room.
    _ = cache.insert(c, macC, now: at(seconds: 4))
    XCTAssertEqual(cache.count, 2)
    XCTAssertNil(cache.lookup(a, now: at(seconds: 4)))
    XCTAssertEqual(cache.lookup(b, now: at(seconds: 4)), macB)
    XCTAssertEqual(cache.lookup(c, now: at(seconds: 4)), macC)
  }

  func testCacheLookupRemovesAnExpiredEntry() {
    var cache = ARPCache()
    _ = cache.insert(peerIP, peerMAC, now: .zero)
    XCTAssertEqual(cache.lookup(peerIP, now: at(seconds: 59.999)), peerMAC)
    XCTAssertNil(cache.lookup(peerIP, now: at(seconds: 60)))
    XCTAssertEqual(cache.count, 0)
  }

  func testCacheEnqueueAndDue() {
    var configuration = ARPCache.Configuration()
    configuration.packetsPerDestination = 2
    configuration.pendingDestinations = 1
    var cache = ARPCache(configuration: configuration)
    XCTAssertNil(cache.nextDeadline)
    XCTAssertEqual(cache.enqueue([1], for: peerIP, now: .zero), .queuedSendRequest)
    XCTAssertEqual(cache.enqueue([2], for: peerIP, now: .zero), .queued)
    XCTAssertEqual(cache.enqueue([3], for: peerIP, now: .zero), .queuedDroppedOldest)
    XCTAssertEqual(cache.enqueue([4], for: otherIP, now: .zero), .tableFull)
    XCTAssertEqual(cache.nextDeadline, at(seconds: 1))
    XCTAssertEqual(cache.due(now: at(seconds: 0.5)).retry, [])
    XCTAssertEqual(cache.due(now: at(seconds: 1)).retry, [peerIP])
    XCTAssertEqual(cache.nextDeadline, at(seconds: 2))
    XCTAssertEqual(cache.insert(peerIP, peerMAC, now: at(seconds: 1.5)), [[2], [3]])
    XCTAssertNil(cache.nextDeadline)
    XCTAssertFalse(cache.isResolving(peerIP))
  }

  // MARK: The merge rule (RFC 826 "Packet reception")

  func testAReplyNotAddressedToUsUpdatesAKnownEntryButAddsNoNewOne() throws {
    let harness = Harness()
    harness.learn()
    let movedMAC = MACAddress(0x02, 0, 0, 0, 0, 0x21)
    // The peer tells another host about itself, from a new MAC: we merge it.
    harness.expectSilence(
      ethernetFrame(
        to: .broadcast, from: movedMAC, type: .arp,
        arpPacket(.reply, senderMAC: movedMAC, senderIP: peerIP, targetMAC: otherMAC, targetIP: otherIP)))
    XCTAssertEqual(harness.resolved(peerIP), movedMAC)

    // An unknown host's reply to another host: not added.
    let stranger = IPv4Address(10, 0, 0, 77)
    harness.expectSilence(
      ethernetFrame(
        to: .broadcast, from: otherMAC, type: .arp,
        arpPacket(.reply, senderMAC: otherMAC, senderIP: stranger, targetMAC: peerMAC, targetIP: peerIP)))
    XCTAssertNil(harness.resolved(stranger))
    XCTAssertEqual(harness.link.arp.count, 1)

    let socket = try harness.stack.bindUDP(port: 4000)
    try socket.send([1], to: .v4(peerIP), port: 7)
    try socket.send([2], to: .v4(stranger), port: 7)
    harness.poll()
    let output = harness.sent()
    XCTAssertEqual(output.count, 2)
    XCTAssertEqual(try parseIPv4Frame(output[0]).ethernet.destination, movedMAC)
    XCTAssertEqual(try parseARPFrame(output[1]).1.targetProtocolAddress, stranger)
    harness.assertDrops([:])
  }

  func testAnAnnouncementFromAnUnknownHostIsNotLearnedButRefreshesAKnownOne() throws {
    let harness = Harness()
    let stranger = IPv4Address(10, 0, 0, 77)
    let announcement = ethernetFrame(
      to: .broadcast, from: otherMAC, type: .arp,
      arpPacket(.request, senderMAC: otherMAC, senderIP: stranger, targetIP: stranger))
    harness.expectSilence(announcement)
    XCTAssertEqual(harness.link.arp.count, 0)

    harness.learn()
    let movedMAC = MACAddress(0x02, 0, 0, 0, 0, 0x31)
    harness.expectSilence(
      ethernetFrame(
        to: .broadcast, from: movedMAC, type: .arp,
        arpPacket(.request, senderMAC: movedMAC, senderIP: peerIP, targetIP: peerIP)))
    XCTAssertEqual(harness.resolved(peerIP), movedMAC)
  }

  func testDoesNotLearnItsOwnAddressOrAMulticastSender() throws {
    let harness = Harness()
    // Someone claiming our address asks for it: answered, never stored as a neighbour.
    _ = try harness.exchange(arpRequestFrame(from: otherMAC, ourIP, for: ourIP))
    XCTAssertEqual(harness.link.arp.count, 0)
    // A multicast sender hardware address is not learned.
    harness.inject(arpRequestFrame(from: MACAddress(0x01, 0, 0x5e, 0, 0, 1), peerIP, for: ourIP))
    harness.poll()
    _ = harness.sent()
    XCTAssertEqual(harness.link.arp.count, 0)
  }
}
