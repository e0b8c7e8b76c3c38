// The IPv6 neighbour cache: resolution and its queue, Neighbor Unreachability Detection's
// timers, every row of RFC 4861 7.2.5, learning from other messages, ReachableTime, and the
// bounds (RFC 4861 7.2, 7.3, 6.3.2, 6.3.4, appendix C).

import SiroccoDevices
import SiroccoNet
import SiroccoWire
import XCTest

private let neighborAddress = IPv6Address(0xfe80, 0, 0, 0, 0, 0, 0, 1)
private let secondAddress = IPv6Address(0xfe80, 0, 0, 0, 0, 0, 0, 2)
private let firstMAC = MACAddress(0x02, 0, 0, 0, 0, 0x11)
private let secondMAC = MACAddress(0x02, 0, 0, 0, 0, 0x22)

private func address(_ index: Int) -> IPv6Address {
  IPv6Address(high: 0xfe80_0000_0000_0000, low: 0x1000 + UInt64(index))
}

final class NeighborCacheTests: XCTestCase {
  func cache(seed: UInt64 = 7, _ configure: (inout NeighborCache.Configuration) -> Void = { _ in }) -> NeighborCache {
    var configuration = NeighborCache.Configuration()
    configure(&configuration)
    return NeighborCache(configuration: configuration, seed: seed, now: .zero)
  }

  func state(_ cache: NeighborCache, _ address: IPv6Address = neighborAddress, at seconds: Double) -> NeighborCache.State? {
    cache.neighbor(address, now: at(seconds: seconds))?.state
  }

  /// A cache whose entry for `neighborAddress` (at `firstMAC`) is in `state` at 10 s.
  func cache(in state: NeighborCache.State, router: Bool = false) -> NeighborCache {
    var cache = cache()
    if state == .incomplete {
      XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: at(seconds: 10)), .queuedSendSolicitation)
      return cache
    }
    let source: NeighborCache.Source = router ? .routerAdvertisement : .neighborSolicitation
    _ = cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: source, now: .zero)
    switch state {
    case .reachable: XCTAssertTrue(cache.confirm(neighborAddress, now: at(seconds: 10)))
    case .delay: XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: at(seconds: 10)), .send(firstMAC))
    case .probe:
      XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: at(seconds: 5)), .send(firstMAC))
      XCTAssertEqual(cache.due(now: at(seconds: 10)).solicitations.count, 1)
    default: break
    }
    XCTAssertEqual(self.state(cache, at: 10), state)
    return cache
  }

  func advertise(
    _ cache: inout NeighborCache, _ linkLayerAddress: MACAddress?, router: Bool = false, solicited: Bool, override: Bool
  ) -> NeighborCache.Update {
    cache.receiveAdvertisement(
      target: neighborAddress, linkLayerAddress: linkLayerAddress, router: router, solicited: solicited,
      override: override, now: at(seconds: 11))
  }

  // MARK: Constants (RFC 4861 10)

  func testDefaultsAreTheProtocolConstants() {
    let configuration = NeighborCache.Configuration()
    XCTAssertEqual(configuration.baseReachableTime, .seconds(30))
    XCTAssertEqual(configuration.retransmitTimer, .seconds(1))
    XCTAssertEqual(configuration.delayFirstProbeTime, .seconds(5))
    XCTAssertEqual(configuration.maximumMulticastSolicitations, 3)
    XCTAssertEqual(configuration.maximumUnicastSolicitations, 3)
  }

  // MARK: Resolution (RFC 4861 7.2.2)

  func testFirstPacketIsQueuedAndAsksForOneMulticastSolicitation() {
    var cache = cache()
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: .zero), .queuedSendSolicitation)
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [2], now: at(seconds: 0.5)), .queued)
    XCTAssertEqual(
      cache.neighbor(neighborAddress, now: .zero),
      NeighborCache.Neighbor(state: .incomplete, linkLayerAddress: nil, isRouter: false, queuedPackets: 2))
    XCTAssertNil(cache.lookup(neighborAddress))
    XCTAssertEqual(cache.nextDeadline, at(seconds: 1))
  }

  func testIncompleteSolicitsThreeTimesOneSecondApartThenDropsItsPackets() {
    var cache = cache()
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: .zero), .queuedSendSolicitation)
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [2], now: .zero), .queued)
    let multicast = NeighborCache.Solicitation(target: neighborAddress, unicast: nil)
    XCTAssertEqual(cache.due(now: at(seconds: 0.999)), NeighborCache.Work())
    XCTAssertEqual(cache.due(now: at(seconds: 1)).solicitations, [multicast])
    XCTAssertEqual(cache.nextDeadline, at(seconds: 2))
    XCTAssertEqual(cache.due(now: at(seconds: 1.5)), NeighborCache.Work())
    XCTAssertEqual(cache.due(now: at(seconds: 2)).solicitations, [multicast])
    XCTAssertEqual(cache.nextDeadline, at(seconds: 3))
    XCTAssertEqual(cache.due(now: at(seconds: 2.999)), NeighborCache.Work())
    let last = cache.due(now: at(seconds: 3))
    XCTAssertEqual(last.solicitations, [], "three solicitations in all: at 0, 1 and 2 s")
    XCTAssertEqual(
      last.unreachable, [NeighborCache.Unreachable(address: neighborAddress, droppedPackets: [[1], [2]], wasRouter: false)])
    XCTAssertNil(cache.neighbor(neighborAddress, now: at(seconds: 3)))
    XCTAssertEqual(cache.count, 0)
    XCTAssertNil(cache.nextDeadline)
    // A new packet starts a new resolution.
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [3], now: at(seconds: 4)), .queuedSendSolicitation)
  }

  func testQueueKeepsTheNewestPacketsPerDestination() {
    var cache = cache { $0.packetsPerDestination = 2 }
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: .zero), .queuedSendSolicitation)
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [2], now: .zero), .queued)
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [3], now: .zero), .queuedDroppedOldest)
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [4], now: .zero), .queuedDroppedOldest)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: .zero)?.queuedPackets, 2)
    let update = cache.receiveAdvertisement(
      target: neighborAddress, linkLayerAddress: firstMAC, router: false, solicited: true, override: true, now: .zero)
    XCTAssertEqual(update.released, [[3], [4]])
    XCTAssertEqual(update.linkLayerAddress, firstMAC)
  }

  func testWaitingDestinationsAreBounded() {
    var cache = cache { $0.pendingDestinations = 2 }
    XCTAssertEqual(cache.resolve(address(1), packet: [1], now: .zero), .queuedSendSolicitation)
    XCTAssertEqual(cache.resolve(address(2), packet: [2], now: .zero), .queuedSendSolicitation)
    XCTAssertEqual(cache.resolve(address(3), packet: [3], now: .zero), .tableFull)
    XCTAssertEqual(cache.count, 2)
    XCTAssertEqual(cache.resolve(address(1), packet: [4], now: .zero), .queued, "a waiting destination still queues")
  }

  func testResolvedEntriesSendWithoutQueueing() {
    for state in [NeighborCache.State.reachable, .delay, .probe] {
      var cache = cache(in: state)
      XCTAssertEqual(cache.resolve(neighborAddress, packet: [9], now: at(seconds: 10)), .send(firstMAC))
      XCTAssertEqual(self.state(cache, at: 10), state, "\(state)")
    }
  }

  // MARK: DELAY and PROBE (RFC 4861 7.3.3)

  func testStaleOnUseWaitsExactlyFiveSecondsThenProbes() {
    var cache = cache(in: .stale)
    XCTAssertNil(cache.nextDeadline, "STALE needs no timer")
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: at(seconds: 20)), .send(firstMAC))
    XCTAssertEqual(state(cache, at: 20), .delay)
    XCTAssertEqual(cache.nextDeadline, at(seconds: 25))
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [2], now: at(seconds: 22)), .send(firstMAC))
    XCTAssertEqual(cache.nextDeadline, at(seconds: 25), "another packet does not restart DELAY")
    XCTAssertEqual(cache.due(now: at(seconds: 24.999)), NeighborCache.Work())
    XCTAssertEqual(state(cache, at: 24.999), .delay)
    XCTAssertEqual(
      cache.due(now: at(seconds: 25)).solicitations, [NeighborCache.Solicitation(target: neighborAddress, unicast: firstMAC)])
    XCTAssertEqual(state(cache, at: 25), .probe)
  }

  func testConfirmationDuringDelayMeansNoProbe() {
    var cache = cache(in: .delay)
    XCTAssertTrue(cache.confirm(neighborAddress, now: at(seconds: 12)))
    XCTAssertEqual(state(cache, at: 12), .reachable)
    XCTAssertNil(cache.nextDeadline)
    XCTAssertEqual(cache.due(now: at(seconds: 15)), NeighborCache.Work())
  }

  func testProbeSendsExactlyThreeUnicastSolicitationsOneSecondApartThenDeletes() {
    var cache = cache(in: .stale, router: true)
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: at(seconds: 20)), .send(firstMAC))
    var probes: [Double] = []
    var unreachable: [NeighborCache.Unreachable] = []
    for step in 0...200 {
      let time = 20 + Double(step) / 20
      let work = cache.due(now: Instant(nanoseconds: 20_000_000_000 + Int64(step) * 50_000_000))
      for solicitation in work.solicitations {
        XCTAssertEqual(solicitation, NeighborCache.Solicitation(target: neighborAddress, unicast: firstMAC))
        probes.append(time)
      }
      unreachable += work.unreachable
      if !work.unreachable.isEmpty { XCTAssertEqual(time, 28, accuracy: 1e-9) }
    }
    XCTAssertEqual(probes.count, 3)
    for (probe, expected) in zip(probes, [25.0, 26, 27]) { XCTAssertEqual(probe, expected, accuracy: 1e-9) }
    XCTAssertEqual(unreachable, [NeighborCache.Unreachable(address: neighborAddress, droppedPackets: [], wasRouter: true)])
    XCTAssertNil(cache.neighbor(neighborAddress, now: at(seconds: 30)))
    XCTAssertNil(cache.nextDeadline)
  }

  func testSolicitedAdvertisementDuringProbeStopsTheProbes() {
    var cache = cache(in: .probe)
    _ = advertise(&cache, nil, solicited: true, override: false)
    XCTAssertEqual(state(cache, at: 11), .reachable)
    XCTAssertNil(cache.nextDeadline)
    XCTAssertEqual(cache.due(now: at(seconds: 20)), NeighborCache.Work())
  }

  // MARK: ReachableTime (RFC 4861 6.3.2, 6.3.4)

  func testReachableTimeIsRandomBetweenHalfAndOneAndAHalfBase() {
    var seen = Set<Int64>()
    for seed in 0..<200 as Range<UInt64> {
      let time = cache(seed: seed).reachableTime
      XCTAssertGreaterThanOrEqual(time, .seconds(15))
      XCTAssertLessThanOrEqual(time, .seconds(45))
      seen.insert(time.nanoseconds)
    }
    XCTAssertEqual(seen.count, 200, "every seed draws its own value")
    let times = (0..<200 as Range<UInt64>).map { cache(seed: $0).reachableTime.nanoseconds }
    XCTAssertLessThan(times.min()!, 20_000_000_000, "the whole range is used")
    XCTAssertGreaterThan(times.max()!, 40_000_000_000, "the whole range is used")
  }

  func testReachableLastsExactlyReachableTimeThenIsStale() {
    var cache = cache(in: .stale)
    let time = cache.reachableTime
    XCTAssertTrue(cache.confirm(neighborAddress, now: at(seconds: 20)))
    let end = at(seconds: 20) + time
    XCTAssertEqual(cache.neighbor(neighborAddress, now: end - .nanoseconds(1))?.state, .reachable)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: end)?.state, .stale)
    XCTAssertNil(cache.nextDeadline, "the expiry needs no wake-up")
    // Used after the expiry: STALE goes to DELAY.
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: end), .send(firstMAC))
    XCTAssertEqual(cache.neighbor(neighborAddress, now: end)?.state, .delay)
    XCTAssertEqual(cache.nextDeadline, end + .seconds(5))
  }

  func testRouterAdvertisementParametersAreAccepted() {
    var cache = cache()
    let before = cache.reachableTime
    cache.setBaseReachableTime(.seconds(10), now: .zero)
    XCTAssertEqual(cache.configuration.baseReachableTime, .seconds(10))
    XCTAssertNotEqual(cache.reachableTime, before)
    XCTAssertGreaterThanOrEqual(cache.reachableTime, .seconds(5))
    XCTAssertLessThanOrEqual(cache.reachableTime, .seconds(15))
    let drawn = cache.reachableTime
    cache.setBaseReachableTime(.zero, now: .zero)
    XCTAssertEqual(cache.reachableTime, drawn, "zero is unspecified")
    XCTAssertEqual(cache.configuration.baseReachableTime, .seconds(10))

    cache.setRetransmitTimer(.seconds(2))
    cache.setRetransmitTimer(.zero)
    XCTAssertEqual(cache.configuration.retransmitTimer, .seconds(2))
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [1], now: .zero), .queuedSendSolicitation)
    XCTAssertEqual(cache.nextDeadline, at(seconds: 2))
    XCTAssertEqual(cache.due(now: at(seconds: 1.999)).solicitations, [])
    XCTAssertEqual(cache.due(now: at(seconds: 2)).solicitations.count, 1)
    XCTAssertEqual(cache.nextDeadline, at(seconds: 4))
  }

  func testReachableTimeIsDrawnAgainAfterItsLifetime() {
    var cache = cache { $0.reachableTimeLifetime = .seconds(3600) }
    _ = cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .neighborSolicitation, now: .zero)
    let first = cache.reachableTime
    cache.confirm(neighborAddress, now: at(seconds: 3599))
    XCTAssertEqual(cache.reachableTime, first, "not yet")
    cache.confirm(neighborAddress, now: at(seconds: 3600))
    let second = cache.reachableTime
    XCTAssertNotEqual(second, first)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: at(seconds: 3600) + second - .nanoseconds(1))?.state, .reachable)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: at(seconds: 3600) + second)?.state, .stale)
  }

  // MARK: Neighbor Advertisement (RFC 4861 7.2.5)

  func testAdvertisementWithoutEntryIsIgnored() {
    var cache = cache()
    XCTAssertEqual(advertise(&cache, firstMAC, router: true, solicited: true, override: true), NeighborCache.Update())
    XCTAssertEqual(cache.count, 0)
  }

  func testIncompleteIgnoresAdvertisementWithoutTargetAddress() {
    var cache = cache(in: .incomplete)
    XCTAssertEqual(advertise(&cache, nil, solicited: true, override: true), NeighborCache.Update())
    XCTAssertEqual(cache.neighbor(neighborAddress, now: at(seconds: 11))?.queuedPackets, 1)
    XCTAssertEqual(state(cache, at: 11), .incomplete)
  }

  func testIncompleteSolicitedAdvertisementMakesReachableAndReleasesPackets() {
    var cache = cache(in: .incomplete)
    XCTAssertEqual(cache.resolve(neighborAddress, packet: [2], now: at(seconds: 10)), .queued)
    let update = advertise(&cache, firstMAC, router: true, solicited: true, override: false)
    XCTAssertEqual(update, NeighborCache.Update(released: [[1], [2]], linkLayerAddress: firstMAC))
    XCTAssertEqual(
      cache.neighbor(neighborAddress, now: at(seconds: 11)),
      NeighborCache.Neighbor(state: .reachable, linkLayerAddress: firstMAC, isRouter: true, queuedPackets: 0))
    XCTAssertNil(cache.nextDeadline)
    XCTAssertEqual(cache.due(now: at(seconds: 13)), NeighborCache.Work(), "no solicitation after resolution")
  }

  func testIncompleteUnsolicitedAdvertisementMakesStale() {
    for override in [false, true] {
      var cache = cache(in: .incomplete)
      let update = advertise(&cache, firstMAC, solicited: false, override: override)
      XCTAssertEqual(update.released, [[1]])
      XCTAssertEqual(state(cache, at: 11), .stale)
      XCTAssertEqual(cache.lookup(neighborAddress), firstMAC)
    }
  }

  func testOverrideClearDifferentAddressMakesReachableStaleAndChangesNothingElse() {
    for solicited in [false, true] {
      var cache = cache(in: .reachable, router: true)
      let update = advertise(&cache, secondMAC, router: false, solicited: solicited, override: false)
      XCTAssertEqual(update, NeighborCache.Update(linkLayerAddress: firstMAC))
      XCTAssertEqual(
        cache.neighbor(neighborAddress, now: at(seconds: 11)),
        NeighborCache.Neighbor(state: .stale, linkLayerAddress: firstMAC, isRouter: true, queuedPackets: 0))
    }
  }

  func testOverrideClearDifferentAddressIsIgnoredInOtherStates() {
    for state in [NeighborCache.State.stale, .delay, .probe] {
      for solicited in [false, true] {
        var cache = cache(in: state)
        let deadline = cache.nextDeadline
        _ = advertise(&cache, secondMAC, router: true, solicited: solicited, override: false)
        XCTAssertEqual(
          cache.neighbor(neighborAddress, now: at(seconds: 11)),
          NeighborCache.Neighbor(state: state, linkLayerAddress: firstMAC, isRouter: false, queuedPackets: 0), "\(state)")
        XCTAssertEqual(cache.nextDeadline, deadline)
      }
    }
  }

  func testOverrideSetDifferentAddressSolicitedMakesReachableWithTheNewAddress() {
    for state in [NeighborCache.State.reachable, .stale, .delay, .probe] {
      var cache = cache(in: state)
      let update = advertise(&cache, secondMAC, solicited: true, override: true)
      XCTAssertEqual(update, NeighborCache.Update(linkLayerAddress: secondMAC))
      XCTAssertEqual(self.state(cache, at: 11), .reachable, "\(state)")
      XCTAssertEqual(cache.lookup(neighborAddress), secondMAC)
      XCTAssertNil(cache.nextDeadline)
    }
  }

  func testOverrideSetDifferentAddressUnsolicitedMakesStaleWithTheNewAddress() {
    for state in [NeighborCache.State.reachable, .stale, .delay, .probe] {
      var cache = cache(in: state)
      _ = advertise(&cache, secondMAC, solicited: false, override: true)
      XCTAssertEqual(self.state(cache, at: 11), .stale, "\(state)")
      XCTAssertEqual(cache.lookup(neighborAddress), secondMAC)
      XCTAssertNil(cache.nextDeadline, "STALE stops DELAY's and PROBE's timers")
    }
  }

  func testSameOrNoAddressSolicitedMakesReachable() {
    for state in [NeighborCache.State.reachable, .stale, .delay, .probe] {
      for linkLayerAddress in [firstMAC, nil] {
        for override in [false, true] {
          var cache = cache(in: state)
          _ = advertise(&cache, linkLayerAddress, solicited: true, override: override)
          XCTAssertEqual(self.state(cache, at: 11), .reachable, "\(state)")
          XCTAssertEqual(cache.lookup(neighborAddress), firstMAC)
        }
      }
    }
  }

  func testSameOrNoAddressUnsolicitedChangesNoState() {
    for state in [NeighborCache.State.reachable, .stale, .delay, .probe] {
      for linkLayerAddress in [firstMAC, nil] {
        for override in [false, true] {
          var cache = cache(in: state)
          let deadline = cache.nextDeadline
          _ = advertise(&cache, linkLayerAddress, solicited: false, override: override)
          XCTAssertEqual(self.state(cache, at: 11), state)
          XCTAssertEqual(cache.lookup(neighborAddress), firstMAC)
          XCTAssertEqual(cache.nextDeadline, deadline)
        }
      }
    }
  }

  func testRouterFlagClearedIsReported() {
    var cache = cache(in: .reachable, router: true)
    let update = advertise(&cache, firstMAC, router: false, solicited: false, override: false)
    XCTAssertTrue(update.noLongerRouter)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: at(seconds: 11))?.isRouter, false)
    // Already a host: nothing to report.
    XCTAssertFalse(advertise(&cache, firstMAC, router: false, solicited: false, override: false).noLongerRouter)
  }

  func testRouterFlagSetIsRecorded() {
    var cache = cache(in: .stale)
    let update = advertise(&cache, nil, router: true, solicited: false, override: false)
    XCTAssertFalse(update.noLongerRouter)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: at(seconds: 11))?.isRouter, true)
    XCTAssertEqual(state(cache, at: 11), .stale)
  }

  // MARK: Other messages with a source link-layer address (RFC 4861 7.2.3, 6.2.6, 6.3.4, 8.3)

  func testSolicitationFromUnknownNeighborCreatesStale() {
    var cache = cache()
    let update = cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .neighborSolicitation, now: .zero)
    XCTAssertEqual(update, NeighborCache.Update(linkLayerAddress: firstMAC))
    XCTAssertEqual(
      cache.neighbor(neighborAddress, now: .zero),
      NeighborCache.Neighbor(state: .stale, linkLayerAddress: firstMAC, isRouter: false, queuedPackets: 0))
    XCTAssertNil(cache.nextDeadline)
  }

  func testSameAddressChangesNoStateDifferentAddressMakesStale() {
    for state in [NeighborCache.State.reachable, .stale, .delay, .probe] {
      var cache = cache(in: state)
      _ = cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .neighborSolicitation, now: at(seconds: 11))
      XCTAssertEqual(self.state(cache, at: 11), state)
      _ = cache.learn(neighborAddress, linkLayerAddress: secondMAC, from: .neighborSolicitation, now: at(seconds: 11))
      XCTAssertEqual(self.state(cache, at: 11), .stale, "\(state)")
      XCTAssertEqual(cache.lookup(neighborAddress), secondMAC)
    }
  }

  func testSolicitationResolvesIncompleteAsStaleAndReleasesPackets() {
    var cache = cache(in: .incomplete)
    let update = cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .neighborSolicitation, now: at(seconds: 11))
    XCTAssertEqual(update, NeighborCache.Update(released: [[1]], linkLayerAddress: firstMAC))
    XCTAssertEqual(state(cache, at: 11), .stale)
    XCTAssertNil(cache.nextDeadline)
  }

  func testRouterFlagFromEachMessage() {
    var cache = cache()
    XCTAssertFalse(cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .routerAdvertisement, now: .zero).noLongerRouter)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: .zero)?.isRouter, true)
    _ = cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .neighborSolicitation, now: .zero)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: .zero)?.isRouter, true, "a solicitation keeps IsRouter")
    XCTAssertTrue(cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .routerSolicitation, now: .zero).noLongerRouter)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: .zero)?.isRouter, false)
    _ = cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .redirect(targetIsRouter: true), now: .zero)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: .zero)?.isRouter, true)
    let update = cache.learn(neighborAddress, linkLayerAddress: firstMAC, from: .redirect(targetIsRouter: false), now: .zero)
    XCTAssertTrue(update.noLongerRouter)
    XCTAssertEqual(cache.neighbor(neighborAddress, now: .zero)?.isRouter, false)
  }

  // MARK: Upper-layer confirmation (RFC 4861 7.3.1)

  func testConfirmationMakesReachable() {
    for state in [NeighborCache.State.stale, .delay, .probe, .reachable] {
      var cache = cache(in: state)
      XCTAssertTrue(cache.confirm(neighborAddress, now: at(seconds: 11)))
      XCTAssertEqual(self.state(cache, at: 11), .reachable)
      XCTAssertEqual(cache.neighbor(neighborAddress, now: at(seconds: 11) + cache.reachableTime)?.state, .stale)
    }
  }

  func testConfirmationOfIncompleteOrUnknownDoesNothing() {
    var cache = cache(in: .incomplete)
    XCTAssertFalse(cache.confirm(neighborAddress, now: at(seconds: 11)))
    XCTAssertFalse(cache.confirm(secondAddress, now: at(seconds: 11)))
    XCTAssertEqual(state(cache, at: 11), .incomplete)
    XCTAssertEqual(cache.count, 1)
  }

  func testRemoveReturnsWaitingPackets() {
    var cache = cache(in: .incomplete)
    XCTAssertEqual(cache.remove(neighborAddress), [[1]])
    XCTAssertEqual(cache.count, 0)
    XCTAssertNil(cache.nextDeadline)
  }

  // MARK: Bounds

  func testFullTableEvictsTheOldestStaleEntryForANewDestination() {
    var cache = cache { $0.capacity = 3 }
    _ = cache.learn(address(1), linkLayerAddress: firstMAC, from: .neighborSolicitation, now: at(seconds: 2))
    _ = cache.learn(address(2), linkLayerAddress: firstMAC, from: .neighborSolicitation, now: at(seconds: 1))
    _ = cache.learn(address(3), linkLayerAddress: firstMAC, from: .neighborSolicitation, now: .zero)
    cache.confirm(address(3), now: at(seconds: 3))
    XCTAssertEqual(cache.resolve(address(4), packet: [1], now: at(seconds: 4)), .queuedSendSolicitation)
    XCTAssertEqual(cache.count, 3)
    XCTAssertNil(cache.lookup(address(2)), "the oldest STALE entry made room")
    XCTAssertEqual(cache.lookup(address(1)), firstMAC)
    XCTAssertEqual(state(cache, address(3), at: 4), .reachable)
  }

  func testOwnTrafficMayEvictAReachableEntryButNeverAnIncompleteOne() {
    var cache = cache { $0.capacity = 2 }
    _ = cache.learn(address(1), linkLayerAddress: firstMAC, from: .neighborSolicitation, now: .zero)
    cache.confirm(address(1), now: .zero)
    XCTAssertEqual(cache.resolve(address(2), packet: [1], now: .zero), .queuedSendSolicitation)
    XCTAssertEqual(cache.resolve(address(3), packet: [2], now: .zero), .queuedSendSolicitation)
    XCTAssertNil(cache.neighbor(address(1), now: .zero), "the REACHABLE entry made room")
    XCTAssertEqual(cache.resolve(address(4), packet: [3], now: .zero), .tableFull, "INCOMPLETE entries stay")
    XCTAssertEqual(state(cache, address(2), at: 0), .incomplete)
    XCTAssertEqual(state(cache, address(3), at: 0), .incomplete)
  }

  func testSolicitationFloodNeverEvictsEntriesInUse() {
    var cache = cache { $0.capacity = 4 }
    for index in 0..<4 {
      _ = cache.learn(address(index), linkLayerAddress: firstMAC, from: .neighborSolicitation, now: .zero)
      cache.confirm(address(index), now: .zero)
    }
    for index in 100..<10_100 {
      let update = cache.learn(address(index), linkLayerAddress: secondMAC, from: .neighborSolicitation, now: at(seconds: 1))
      XCTAssertTrue(update.refused)
    }
    XCTAssertEqual(cache.count, 4)
    for index in 0..<4 { XCTAssertEqual(state(cache, address(index), at: 1), .reachable) }
  }

  func testSolicitationFloodChurnsOnlyStaleEntries() {
    var cache = cache { $0.capacity = 4 }
    for index in 0..<4 {
      _ = cache.learn(address(index), linkLayerAddress: firstMAC, from: .neighborSolicitation, now: .zero)
    }
    cache.confirm(address(0), now: .zero)
    XCTAssertEqual(cache.resolve(address(1), packet: [1], now: .zero), .send(firstMAC))
    for index in 100..<1100 {
      let update = cache.learn(address(index), linkLayerAddress: secondMAC, from: .neighborSolicitation, now: at(seconds: 1))
      XCTAssertFalse(update.refused)
    }
    XCTAssertEqual(cache.count, 4)
    XCTAssertEqual(state(cache, address(0), at: 1), .reachable)
    XCTAssertEqual(state(cache, address(1), at: 1), .delay)
    XCTAssertNil(cache.neighbor(address(2), now: at(seconds: 1)))
    XCTAssertNil(cache.neighbor(address(3), now: at(seconds: 1)))
    XCTAssertEqual(state(cache, address(1099), at: 1), .stale)
  }

  func testWorkIsInAddressOrder() {
    var cache = cache()
    for index in [5, 3, 9, 1] { _ = cache.resolve(address(index), packet: [UInt8(index)], now: .zero) }
    let work = cache.due(now: at(seconds: 1))
    XCTAssertEqual(work.solicitations.map(\.target), [address(1), address(3), address(5), address(9)])
    XCTAssertEqual(cache.nextDeadline, at(seconds: 2))
  }
}
