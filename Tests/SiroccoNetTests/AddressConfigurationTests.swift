// IPv6 address autoconfiguration against scripted neighbors and routers: DAD's timings and
// duplicates, RFC 7217 interface identifiers and their retries, router solicitation, the
// prefixes of Router Advertisements with the two-hour rule, lifetimes, and the bounds.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

final class AddressConfigurationTests: XCTestCase {
  let mac = MACAddress(2, 0, 0, 0, 0, 9)
  let router = IPv6Address(0xfe80, 0, 0, 0, 0, 0, 0, 1)
  let prefix = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), prefixLength: 64)

  func configuration(
    _ identifiers: AddressConfiguration.InterfaceIdentifiers = .stable(secret0: 1, secret1: 2), transmits: Int = 1,
    solicitations: Int = 0, maximum: Int = 16
  ) -> AddressConfiguration.Configuration {
    var configuration = AddressConfiguration.Configuration(interfaceIdentifiers: identifiers)
    configuration.interfaceName = Array("eth0".utf8)
    configuration.duplicateAddressDetectionTransmits = transmits
    configuration.routerSolicitations = solicitations
    configuration.maximumAddresses = maximum
    return configuration
  }

  /// A started link whose link-local address has passed DAD; returns it and the time.
  func running(_ configuration: AddressConfiguration.Configuration? = nil) -> (AddressConfiguration, Instant) {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration ?? self.configuration())
    _ = slaac.start(now: .zero)
    let now = finishDAD(&slaac)
    return (slaac, now)
  }

  /// A link started at `start`, and its first deadline: a random delay of at most
  /// MAX_RTR_SOLICITATION_DELAY (1 s) from `start`, with nothing due just before it.
  func started(
    _ configuration: AddressConfiguration.Configuration, seed: UInt64 = 7, at start: Instant = .zero,
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> (AddressConfiguration, Instant) {
    var slaac = AddressConfiguration(seed: seed, configuration: configuration)
    _ = slaac.start(now: start)
    let first = try XCTUnwrap(slaac.nextDeadline, file: file, line: line)
    XCTAssertTrue(first >= start && first <= start + .seconds(1), "\(first)", file: file, line: line)
    XCTAssertEqual(slaac.poll(now: first - .nanoseconds(1)), [], file: file, line: line)
    return (slaac, first)
  }

  /// Polls every deadline until no address is tentative; returns the time reached.
  func finishDAD(_ slaac: inout AddressConfiguration) -> Instant {
    var now = Instant.zero
    while slaac.addresses.contains(where: { $0.state == .tentative }), let next = slaac.nextDeadline {
      now = next
      _ = slaac.poll(now: now)
    }
    return now
  }

  func advertisement(
    _ prefix: IPv6Network, valid: UInt32, preferred: UInt32, autonomous: Bool = true, onLink: Bool = true,
    routerLifetime: UInt16 = 1800, extra: [NDPOption] = []
  ) -> RouterAdvertisement {
    let information = NDPPrefixInformation(
      prefix: prefix, onLink: onLink, autonomous: autonomous, validLifetime: valid, preferredLifetime: preferred)
    return RouterAdvertisement(
      currentHopLimit: 64, routerLifetime: routerLifetime, options: [.prefixInformation(information)] + extra)
  }

  func autoconfigured(_ slaac: AddressConfiguration) -> [AddressConfiguration.Address] {
    slaac.addresses.filter { $0.origin == .autoconfigured }
  }

  // MARK: Link-local address and DAD

  func testStartFormsATentativeLinkLocalAddressFromTheStableIdentifier() throws {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration())
    let actions = slaac.start(now: .zero)
    let identifier = try XCTUnwrap(slaac.interfaceIdentifier(prefix: .linkLocal(interfaceIdentifier: 0), duplicates: 0))
    let linkLocal = IPv6Address.linkLocal(interfaceIdentifier: identifier)
    XCTAssertEqual(actions, [.joinGroup(linkLocal.solicitedNodeMulticast)])
    XCTAssertEqual(slaac.addresses.count, 1)
    XCTAssertEqual(slaac.addresses[0].network, IPv6Network(address: linkLocal, prefixLength: 64))
    XCTAssertEqual(slaac.addresses[0].origin, .linkLocal)
    XCTAssertEqual(slaac.addresses[0].state, .tentative)
    XCTAssertNil(slaac.addresses[0].preferredUntil)
    XCTAssertNil(slaac.addresses[0].validUntil)
    XCTAssertNotEqual(identifier, mac.modifiedEUI64)
    XCTAssertEqual(slaac.state(of: linkLocal), .tentative)
  }

  func testDADSendsOneProbeAfterARandomDelayThenPrefersAfterRetransTimer() throws {
    let (initial, first) = try started(configuration())
    var slaac = initial
    let linkLocal = slaac.addresses[0].address
    XCTAssertEqual(slaac.poll(now: first), [.probe(target: linkLocal)])
    XCTAssertEqual(slaac.nextDeadline, first + .seconds(1))
    XCTAssertEqual(slaac.poll(now: first + .milliseconds(999)), [])
    XCTAssertEqual(slaac.state(of: linkLocal), .tentative)
    let done = slaac.poll(now: first + .seconds(1))
    XCTAssertEqual(slaac.state(of: linkLocal), .preferred)
    XCTAssertEqual(done, [.assign(slaac.addresses[0])])
    XCTAssertNil(slaac.nextDeadline)
  }

  func testDADWithThreeTransmitsProbesOneSecondApart() throws {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration(transmits: 3))
    _ = slaac.start(now: .zero)
    let linkLocal = slaac.addresses[0].address
    let first = try XCTUnwrap(slaac.nextDeadline)
    for probe in 0..<3 {
      XCTAssertEqual(slaac.nextDeadline, first + .seconds(Int64(probe)))
      XCTAssertEqual(slaac.poll(now: first + .seconds(Int64(probe))), [.probe(target: linkLocal)])
    }
    XCTAssertEqual(slaac.nextDeadline, first + .seconds(3))
    XCTAssertEqual(slaac.poll(now: first + .seconds(3)).count, 1)
    XCTAssertEqual(slaac.state(of: linkLocal), .preferred)
  }

  func testTheRandomDelayDiffersWithTheSeedAndStaysUnderOneSecond() throws {
    var delays: Set<Instant> = []
    for seed in UInt64(0)..<20 {
      delays.insert(try started(configuration(), seed: seed, at: at(seconds: 5)).1)
    }
    XCTAssertGreaterThan(delays.count, 10)
  }

  func testDADOffMakesAddressesPreferredAtOnce() {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration(transmits: 0))
    let actions = slaac.start(now: .zero)
    XCTAssertEqual(slaac.addresses[0].state, .preferred)
    XCTAssertEqual(actions, [.joinGroup(slaac.addresses[0].address.solicitedNodeMulticast), .assign(slaac.addresses[0])])
  }

  func testAnotherHostsDADProbeIsADuplicateAndTheStableIdentifierIsRetried() throws {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration())
    _ = slaac.start(now: .zero)
    let first = slaac.addresses[0].address
    // A solicitation from a real source is address resolution, not DAD: no duplicate.
    XCTAssertEqual(slaac.receive(NeighborSolicitation(targetAddress: first), source: router, now: at(seconds: 0.1)), [])
    let actions = slaac.receive(NeighborSolicitation(targetAddress: first), source: .unspecified, now: at(seconds: 0.2))
    let retryIdentifier = try XCTUnwrap(slaac.interfaceIdentifier(prefix: first, duplicates: 1))
    let retry = IPv6Address.linkLocal(interfaceIdentifier: retryIdentifier)
    XCTAssertNotEqual(retry, first)
    XCTAssertEqual(
      actions,
      [
        .remove(IPv6Network(address: first, prefixLength: 64)), .leaveGroup(first.solicitedNodeMulticast),
        .duplicate(first, origin: .linkLocal), .joinGroup(retry.solicitedNodeMulticast),
      ])
    XCTAssertEqual(slaac.addresses.map(\.address), [retry])
    XCTAssertEqual(slaac.addresses[0].duplicateCount, 1)
    XCTAssertEqual(slaac.addresses[0].state, .tentative)
    XCTAssertNil(slaac.state(of: first))
    // The retry goes through DAD afresh, with its own random delay from the duplicate.
    let due = try XCTUnwrap(slaac.nextDeadline)
    XCTAssertTrue(due >= at(seconds: 0.2) && due <= at(seconds: 1.2), "\(due)")
  }

  func testANeighborAdvertisementForATentativeAddressIsADuplicate() {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration())
    _ = slaac.start(now: .zero)
    let first = slaac.addresses[0].address
    let advertisement = NeighborAdvertisement(solicited: false, override: true, targetAddress: first)
    XCTAssertTrue(slaac.receive(advertisement, now: at(seconds: 0.5)).contains(.duplicate(first, origin: .linkLocal)))
    XCTAssertNil(slaac.state(of: first))
    // Once preferred, an advertisement for it changes nothing here.
    let now = finishDAD(&slaac)
    let second = slaac.addresses[0].address
    let late = NeighborAdvertisement(solicited: false, override: true, targetAddress: second)
    XCTAssertEqual(slaac.receive(late, now: now), [])
    XCTAssertEqual(slaac.state(of: second), .preferred)
  }

  func testRetriesStopAfterIDGEN_RETRIES() {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration())
    _ = slaac.start(now: .zero)
    var seen: Set<IPv6Address> = []
    for counter in 0...3 {
      guard slaac.addresses.count == 1 else { return XCTFail("retry \(counter): \(slaac.addresses)") }
      XCTAssertEqual(slaac.addresses[0].duplicateCount, counter)
      let address = slaac.addresses[0].address
      seen.insert(address)
      _ = slaac.receive(NeighborSolicitation(targetAddress: address), source: .unspecified, now: .zero)
    }
    XCTAssertEqual(seen.count, 4)
    XCTAssertEqual(slaac.addresses, [])
    XCTAssertNil(slaac.nextDeadline)
  }

  func testAnEUI64DuplicateIsNotRetried() {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration(.eui64(mac)))
    _ = slaac.start(now: .zero)
    let linkLocal = IPv6Address(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 9)
    XCTAssertEqual(slaac.addresses.map(\.address), [linkLocal])
    let actions = slaac.receive(NeighborSolicitation(targetAddress: linkLocal), source: .unspecified, now: .zero)
    XCTAssertEqual(
      actions,
      [
        .remove(IPv6Network(address: linkLocal, prefixLength: 64)), .leaveGroup(linkLocal.solicitedNodeMulticast),
        .duplicate(linkLocal, origin: .linkLocal),
      ])
    XCTAssertEqual(slaac.addresses, [])
  }

  func testAManualAddressGoesThroughDADAndIsNotRetried() throws {
    var (slaac, now) = running()
    let manual = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 9, 0, 0, 0, 0, 5), prefixLength: 48)
    XCTAssertEqual(try slaac.add(manual, now: now), [.joinGroup(manual.address.solicitedNodeMulticast)])
    XCTAssertEqual(slaac.state(of: manual.address), .tentative)
    XCTAssertThrowsError(try slaac.add(manual, now: now)) { XCTAssertEqual($0 as? AddressConfiguration.Error, .exists) }
    let due = try XCTUnwrap(slaac.nextDeadline)
    XCTAssertEqual(slaac.poll(now: due), [.probe(target: manual.address)])
    XCTAssertEqual(slaac.poll(now: due + .seconds(1)).count, 1)
    XCTAssertEqual(slaac.state(of: manual.address), .preferred)
    XCTAssertNil(slaac.nextDeadline)

    let other = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 9, 0, 0, 0, 0, 6), prefixLength: 48)
    _ = try slaac.add(other, now: now)
    let actions = slaac.receive(NeighborSolicitation(targetAddress: other.address), source: .unspecified, now: now)
    XCTAssertEqual(actions.last, .duplicate(other.address, origin: .manual))
    XCTAssertNil(slaac.state(of: other.address))
    XCTAssertEqual(slaac.addresses.count, 2)
  }

  // MARK: Interface identifiers

  func testStableIdentifiersDifferPerPrefixAndSurviveARestart() {
    let one = AddressConfiguration(seed: 1, configuration: configuration())
    let two = AddressConfiguration(seed: 99, configuration: configuration())
    let other = IPv6Address(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0)
    let a = one.interfaceIdentifier(prefix: prefix.address, duplicates: 0)
    XCTAssertNotNil(a)
    XCTAssertEqual(a, two.interfaceIdentifier(prefix: prefix.address, duplicates: 0))
    XCTAssertNotEqual(a, one.interfaceIdentifier(prefix: other, duplicates: 0))
    XCTAssertNotEqual(a, one.interfaceIdentifier(prefix: prefix.address, duplicates: 1))
    // The bits past the first 64 of the prefix do not count.
    XCTAssertEqual(a, one.interfaceIdentifier(prefix: IPv6Address(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1), duplicates: 0))
    let secret = AddressConfiguration(seed: 1, configuration: configuration(.stable(secret0: 1, secret1: 3)))
    XCTAssertNotEqual(a, secret.interfaceIdentifier(prefix: prefix.address, duplicates: 0))
    var renamed = configuration()
    renamed.interfaceName = Array("eth1".utf8)
    let renamedLink = AddressConfiguration(seed: 1, configuration: renamed)
    XCTAssertNotEqual(a, renamedLink.interfaceIdentifier(prefix: prefix.address, duplicates: 0))
    var network = configuration()
    network.networkID = Array("office".utf8)
    let networkLink = AddressConfiguration(seed: 1, configuration: network)
    XCTAssertNotEqual(a, networkLink.interfaceIdentifier(prefix: prefix.address, duplicates: 0))
    XCTAssertNil(one.interfaceIdentifier(prefix: prefix.address, duplicates: 4))
  }

  func testTheStableIdentifierIsSipHashOfTheFields() {
    // Recomputed by hand from the documented layout: the prefix's 64 bits big-endian, each of
    // the interface name and network id after its length, the counter as 32 bits.
    var hash = SipHash24(key0: 1, key1: 2)
    for byte: UInt8 in [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4] { hash.append(byte) }
    for byte in "eth0".utf8 { hash.append(byte) }
    for _ in 0..<8 { hash.append(UInt8(0)) }
    hash.append(UInt32(0))
    let expected = hash.finalize()
    let slaac = AddressConfiguration(seed: 1, configuration: configuration())
    XCTAssertEqual(slaac.interfaceIdentifier(prefix: prefix.address, duplicates: 0), expected)
  }

  func testReservedIdentifiers() {
    XCTAssertTrue(AddressConfiguration.isReserved(0))
    XCTAssertTrue(AddressConfiguration.isReserved(0xfdff_ffff_ffff_ff80))
    XCTAssertTrue(AddressConfiguration.isReserved(0xffff_ffff_ffff_ffff))
    XCTAssertTrue(AddressConfiguration.isReserved(0x0200_5eff_fe00_5213))
    XCTAssertFalse(AddressConfiguration.isReserved(0x0200_5eff_fe00_5214))
    XCTAssertFalse(AddressConfiguration.isReserved(0xfdff_ffff_ffff_ff7f))
    XCTAssertFalse(AddressConfiguration.isReserved(1))
  }

  func testEUI64IdentifiersAreTheSameOnEveryPrefix() {
    let slaac = AddressConfiguration(seed: 1, configuration: configuration(.eui64(mac)))
    XCTAssertEqual(slaac.interfaceIdentifier(prefix: prefix.address, duplicates: 0), 0x0000_00ff_fe00_0009)
    XCTAssertEqual(slaac.interfaceIdentifier(prefix: .linkLocal(interfaceIdentifier: 0), duplicates: 0), 0x0000_00ff_fe00_0009)
    XCTAssertNil(slaac.interfaceIdentifier(prefix: prefix.address, duplicates: 1))
  }

  // MARK: Router solicitation

  func testRouterSolicitationSchedule() throws {
    let (initial, first) = try started(configuration(transmits: 0, solicitations: 3))
    var slaac = initial
    let linkLocal = slaac.addresses[0].address
    XCTAssertEqual(slaac.poll(now: first), [.solicitRouters(source: linkLocal)])
    XCTAssertEqual(slaac.nextDeadline, first + .seconds(4))
    XCTAssertEqual(slaac.poll(now: first + .seconds(4) - .nanoseconds(1)), [])
    XCTAssertEqual(slaac.poll(now: first + .seconds(4)), [.solicitRouters(source: linkLocal)])
    XCTAssertEqual(slaac.poll(now: first + .seconds(8)), [.solicitRouters(source: linkLocal)])
    XCTAssertNil(slaac.nextDeadline)
    XCTAssertEqual(slaac.poll(now: first + .seconds(12)), [])
  }

  func testRouterSolicitationFromTheUnspecifiedAddressWhileTheLinkLocalIsTentative() throws {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration(transmits: 5, solicitations: 3))
    _ = slaac.start(now: .zero)
    let actions = slaac.poll(now: at(seconds: 1))
    XCTAssertTrue(actions.contains(.solicitRouters(source: .unspecified)), "\(actions)")
  }

  func testAnAdvertisementWithARouterLifetimeStopsSolicitation() throws {
    var slaac = AddressConfiguration(seed: 7, configuration: configuration(transmits: 0, solicitations: 3))
    _ = slaac.start(now: .zero)
    let first = try XCTUnwrap(slaac.nextDeadline)
    XCTAssertEqual(slaac.poll(now: first).count, 1)
    // Lifetime 0: not a default router, solicitation goes on.
    _ = slaac.receive(RouterAdvertisement(currentHopLimit: 64, routerLifetime: 0), source: router, now: first)
    XCTAssertEqual(slaac.nextDeadline, first + .seconds(4))
    let actions = slaac.receive(RouterAdvertisement(currentHopLimit: 64, routerLifetime: 600), source: router, now: first)
    XCTAssertEqual(actions, [.defaultRouter(router, lifetime: .seconds(600))])
    XCTAssertNil(slaac.nextDeadline)
  }

  // MARK: Router Advertisements

  func testANewPrefixFormsATentativeAddressAndPassesTheRouterOn() throws {
    var (slaac, now) = running()
    let dns = IPv6Address(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x53)
    let ra = advertisement(
      prefix, valid: 3600, preferred: 1800, extra: [.mtu(1400), .recursiveDNSServers(lifetime: 300, addresses: [dns])])
    let actions = slaac.receive(ra, source: router, now: now)
    let identifier = try XCTUnwrap(slaac.interfaceIdentifier(prefix: prefix.address, duplicates: 0))
    let address = IPv6Address(high: prefix.address.high, low: identifier)
    XCTAssertEqual(
      actions,
      [
        .defaultRouter(router, lifetime: .seconds(1800)), .onLinkPrefix(prefix, validLifetime: 3600),
        .joinGroup(address.solicitedNodeMulticast), .linkMTU(1400), .dnsServers([dns], lifetime: 300),
      ])
    let formed = try XCTUnwrap(autoconfigured(slaac).first)
    XCTAssertEqual(formed.network, IPv6Network(address: address, prefixLength: 64))
    XCTAssertEqual(formed.state, .tentative)
    XCTAssertEqual(formed.preferredUntil, now + .seconds(1800))
    XCTAssertEqual(formed.validUntil, now + .seconds(3600))
    let due = try XCTUnwrap(slaac.nextDeadline)
    XCTAssertEqual(slaac.poll(now: due), [.probe(target: address)])
    XCTAssertEqual(slaac.poll(now: due + .seconds(1)).count, 1)
    XCTAssertEqual(slaac.state(of: address), .preferred)
  }

  func testPrefixesThatAreNotForAutoconfiguration() {
    var (slaac, now) = running()
    let wide = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0), prefixLength: 48)
    // Not a /64: on-link, no address.
    XCTAssertEqual(
      slaac.receive(advertisement(wide, valid: 3600, preferred: 1800), source: router, now: now),
      [.defaultRouter(router, lifetime: .seconds(1800)), .onLinkPrefix(wide, validLifetime: 3600)])
    // No A flag: on-link, no address.
    XCTAssertEqual(
      slaac.receive(advertisement(prefix, valid: 3600, preferred: 1800, autonomous: false), source: router, now: now),
      [.defaultRouter(router, lifetime: .seconds(1800)), .onLinkPrefix(prefix, validLifetime: 3600)])
    // Preferred over valid, and the link-local prefix: the option is ignored.
    XCTAssertEqual(
      slaac.receive(advertisement(prefix, valid: 100, preferred: 200), source: router, now: now),
      [.defaultRouter(router, lifetime: .seconds(1800))])
    let linkLocal = IPv6Network(address: .linkLocal(interfaceIdentifier: 0), prefixLength: 64)
    XCTAssertEqual(
      slaac.receive(advertisement(linkLocal, valid: 3600, preferred: 1800), source: router, now: now),
      [.defaultRouter(router, lifetime: .seconds(1800))])
    // A new prefix with a valid lifetime of 0 forms nothing.
    XCTAssertEqual(
      slaac.receive(advertisement(prefix, valid: 0, preferred: 0, onLink: false), source: router, now: now),
      [.defaultRouter(router, lifetime: .seconds(1800))])
    XCTAssertEqual(slaac.addresses.count, 1)
  }

  /// An autoconfigured address from `prefix` with `valid` seconds left at `now`.
  func knownPrefix(valid: UInt32) -> (AddressConfiguration, Instant) {
    var (slaac, now) = running()
    _ = slaac.receive(advertisement(prefix, valid: valid, preferred: min(valid, 60)), source: router, now: now)
    return (slaac, now)
  }

  func testTwoHourRuleTakesALongerOrOverTwoHourLifetime() throws {
    var (slaac, now) = knownPrefix(valid: 3600)
    _ = slaac.receive(advertisement(prefix, valid: 3 * 3600, preferred: 60), source: router, now: now)
    XCTAssertEqual(autoconfigured(slaac).first?.validUntil, now + .seconds(3 * 3600))
    (slaac, now) = knownPrefix(valid: 600)
    _ = slaac.receive(advertisement(prefix, valid: 1800, preferred: 60), source: router, now: now)
    XCTAssertEqual(autoconfigured(slaac).first?.validUntil, now + .seconds(1800))
    _ = slaac.receive(advertisement(prefix, valid: .max, preferred: .max), source: router, now: now)
    XCTAssertNil(autoconfigured(slaac).first?.validUntil)
    XCTAssertNil(autoconfigured(slaac).first?.preferredUntil)
  }

  func testTwoHourRuleIgnoresAShorterLifetimeWhenTwoHoursOrLessRemain() {
    var (slaac, now) = knownPrefix(valid: 3600)
    _ = slaac.receive(advertisement(prefix, valid: 10, preferred: 5), source: router, now: now + .seconds(100))
    XCTAssertEqual(autoconfigured(slaac).first?.validUntil, now + .seconds(3600))
    // The preferred lifetime is taken as advertised.
    XCTAssertEqual(autoconfigured(slaac).first?.preferredUntil, now + .seconds(105))
    _ = slaac.receive(advertisement(prefix, valid: 0, preferred: 0), source: router, now: now + .seconds(200))
    XCTAssertEqual(autoconfigured(slaac).first?.validUntil, now + .seconds(3600))
  }

  func testTwoHourRuleCutsALongerRemainingLifetimeToTwoHours() {
    var (slaac, now) = knownPrefix(valid: 5 * 3600)
    let later = now + .seconds(60)
    _ = slaac.receive(advertisement(prefix, valid: 600, preferred: 0), source: router, now: later)
    XCTAssertEqual(autoconfigured(slaac).first?.validUntil, later + .seconds(7200))
    (slaac, now) = knownPrefix(valid: .max)
    _ = slaac.receive(advertisement(prefix, valid: 0, preferred: 0), source: router, now: now)
    XCTAssertEqual(autoconfigured(slaac).first?.validUntil, now + .seconds(7200))
  }

  func testLifetimesDeprecateThenRemove() throws {
    var (slaac, now) = running()
    _ = slaac.receive(advertisement(prefix, valid: 20, preferred: 10), source: router, now: now)
    now = finishDAD(&slaac)
    let address = try XCTUnwrap(autoconfigured(slaac).first)
    XCTAssertEqual(address.state, .preferred)
    let start = address.validUntil! - .seconds(20)
    XCTAssertEqual(slaac.nextDeadline, start + .seconds(10))
    XCTAssertEqual(slaac.poll(now: start + .seconds(10) - .nanoseconds(1)), [])
    XCTAssertEqual(slaac.poll(now: start + .seconds(10)), [.deprecate(address.address)])
    XCTAssertEqual(slaac.state(of: address.address), .deprecated)
    XCTAssertEqual(slaac.nextDeadline, start + .seconds(20))
    XCTAssertEqual(
      slaac.poll(now: start + .seconds(20)),
      [.remove(address.network), .leaveGroup(address.address.solicitedNodeMulticast)])
    XCTAssertNil(slaac.state(of: address.address))
    XCTAssertNil(slaac.nextDeadline)
  }

  func testADeprecatedAddressIsPreferredAgainByANewPreferredLifetime() throws {
    var (slaac, now) = running()
    _ = slaac.receive(advertisement(prefix, valid: 3600, preferred: 0), source: router, now: now)
    let actions = slaac.poll(now: slaac.nextDeadline!) + slaac.poll(now: slaac.nextDeadline!)
    let address = try XCTUnwrap(autoconfigured(slaac).first)
    // Preferred lifetime 0: deprecated as soon as DAD is done.
    XCTAssertEqual(address.state, .deprecated)
    XCTAssertEqual(actions.last, .deprecate(address.address))
    now = now + .seconds(5)
    XCTAssertEqual(
      slaac.receive(advertisement(prefix, valid: 3600, preferred: 1800, onLink: false), source: router, now: now),
      [.defaultRouter(router, lifetime: .seconds(1800)), .prefer(address.address)])
    XCTAssertEqual(slaac.state(of: address.address), .preferred)
    XCTAssertEqual(autoconfigured(slaac).first?.preferredUntil, now + .seconds(1800))
  }

  // MARK: Bounds

  func testAFloodOfPrefixesStopsAtTheMaximum() {
    var (slaac, now) = running(configuration(maximum: 4))
    for index in 0..<100 {
      let flood = IPv6Network(address: IPv6Address(0x2001, 0xdb8, UInt16(index), 0, 0, 0, 0, 0), prefixLength: 64)
      _ = slaac.receive(advertisement(flood, valid: 3600, preferred: 1800), source: router, now: now)
      now = now + .milliseconds(10)
    }
    XCTAssertEqual(slaac.addresses.count, 4)
    XCTAssertEqual(autoconfigured(slaac).map { $0.address.group(2) }, [0, 1, 2])
    XCTAssertEqual(slaac.refusedPrefixes, 97)
    let manual = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 9, 0, 0, 0, 0, 5), prefixLength: 64)
    XCTAssertThrowsError(try slaac.add(manual, now: now)) { XCTAssertEqual($0 as? AddressConfiguration.Error, .full) }
  }

  func testRestartKeepsManualAddressesAndDropsTheRest() throws {
    var (slaac, now) = running()
    let manual = IPv6Network(address: IPv6Address(0x2001, 0xdb8, 9, 0, 0, 0, 0, 5), prefixLength: 64)
    _ = try slaac.add(manual, now: now)
    _ = slaac.receive(advertisement(prefix, valid: 3600, preferred: 1800), source: router, now: now)
    now = finishDAD(&slaac)
    XCTAssertEqual(slaac.addresses.count, 3)
    let actions = slaac.start(now: now)
    XCTAssertEqual(actions.filter { if case .remove = $0 { true } else { false } }.count, 3)
    XCTAssertEqual(slaac.addresses.map(\.origin), [.manual, .linkLocal])
    XCTAssertEqual(slaac.addresses.map(\.state), [.tentative, .tentative])
  }
}
