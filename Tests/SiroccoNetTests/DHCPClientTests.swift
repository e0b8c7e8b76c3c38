// The DHCP client's state machine against a scripted server: acquiring a lease (DISCOVER,
// OFFER, REQUEST, ACK, the ARP probes), RFC 2131's retransmission schedule, NAKs, a
// conflict found by the probe, renewal and rebinding, and a lease that runs out.

import SiroccoDevices
@testable import SiroccoNet
import SiroccoWire
import XCTest

final class DHCPClientTests: XCTestCase {
  let client = MACAddress(2, 0, 0, 0, 0, 9)
  let server = IPv4Address(10, 0, 0, 1)
  let offered = IPv4Address(10, 0, 0, 50)

  func sent(_ actions: [DHCPClient.Action], file: StaticString = #filePath, line: UInt = #line)
    -> (message: DHCPMessage, source: IPv4Address, destination: IPv4Address)?
  {
    for case .send(let message, let source, let destination) in actions { return (message, source, destination) }
    XCTFail("nothing sent: \(actions)", file: file, line: line)
    return nil
  }

  /// The server's answer of `type` to `request`.
  func reply(_ type: DHCPMessageType, to request: DHCPMessage, lease: UInt32 = 120) -> DHCPMessage {
    dhcpReply(type, to: request, server: server, offered: offered, router: server, lease: lease)
  }

  /// A client taken to BOUND at `at(seconds: 0...)`: returns it and the lease.
  func bound(probe: Bool = false) throws -> (DHCPClient, DHCPClient.Lease) {
    var configuration = DHCPClient.Configuration()
    configuration.probe = probe
    var dhcp = DHCPClient(hardwareAddress: client, seed: 7, configuration: configuration)
    let discover = try XCTUnwrap(sent(dhcp.start(now: .zero)))
    let request = try XCTUnwrap(sent(dhcp.receive(reply(.offer, to: discover.message), now: at(seconds: 0.1))))
    let actions = dhcp.receive(reply(.ack, to: request.message), now: at(seconds: 0.2))
    guard case .bind(let lease)? = actions.first else { throw TestError("not bound: \(actions)") }
    return (dhcp, lease)
  }

  func testAcquiresALeaseAfterProbingTheAddress() throws {
    var configuration = DHCPClient.Configuration()
    configuration.hostName = Array("sirocco".utf8)
    var dhcp = DHCPClient(hardwareAddress: client, seed: 1, configuration: configuration)
    let discover = try XCTUnwrap(sent(dhcp.start(now: .zero)))
    XCTAssertEqual(discover.message.options.messageType, .discover)
    XCTAssertEqual(discover.source, .any)
    XCTAssertEqual(discover.destination, .broadcast)
    XCTAssertEqual(discover.message.clientHardwareAddress, client)
    XCTAssertEqual(discover.message.options.clientIdentifier, DHCPClientIdentifier(hardwareAddress: client))
    XCTAssertEqual(discover.message.options.hostName, Array("sirocco".utf8))
    XCTAssertTrue(discover.message.options.parameterRequestList.contains(.domainNameServers))
    XCTAssertEqual(dhcp.state, .selecting)

    let request = try XCTUnwrap(sent(dhcp.receive(reply(.offer, to: discover.message), now: at(seconds: 1))))
    XCTAssertEqual(request.message.options.messageType, .request)
    XCTAssertEqual(request.message.options.requestedAddress, offered)
    XCTAssertEqual(request.message.options.serverIdentifier, server)
    XCTAssertEqual(request.message.clientAddress, .any, "ciaddr is zero in REQUESTING")
    XCTAssertEqual(request.message.transactionID, discover.message.transactionID)
    XCTAssertEqual(request.message.secondsElapsed, 1)
    XCTAssertEqual(dhcp.state, .requesting)

    // The ACK: three ARP probes 1 to 2 s apart, then 2 s of quiet, then the address.
    XCTAssertEqual(dhcp.receive(reply(.ack, to: request.message), now: at(seconds: 1.5)), [.probe(offered)])
    XCTAssertEqual(dhcp.state, .probing)
    var now = at(seconds: 1.5)
    for _ in 0..<2 {
      let next = try XCTUnwrap(dhcp.nextDeadline)
      XCTAssertGreaterThanOrEqual(next - now, .seconds(1))
      XCTAssertLessThanOrEqual(next - now, .seconds(2))
      now = next
      XCTAssertEqual(dhcp.poll(now: now), [.probe(offered)])
    }
    XCTAssertEqual(try XCTUnwrap(dhcp.nextDeadline) - now, .seconds(2))
    now = try XCTUnwrap(dhcp.nextDeadline)
    let actions = dhcp.poll(now: now)
    guard case .bind(let lease)? = actions.first, actions.count == 1 else { return XCTFail("\(actions)") }
    XCTAssertEqual(lease.address, IPv4Network(address: offered, prefixLength: 24))
    XCTAssertEqual(lease.routers, [server])
    XCTAssertEqual(lease.dnsServers, [IPv4Address(10, 0, 0, 53), server])
    XCTAssertEqual(lease.mtu, 1400)
    // The times count from the REQUEST: T1 half the lease, T2 seven eighths.
    XCTAssertEqual(lease.start, at(seconds: 1))
    XCTAssertEqual(lease.renewal, at(seconds: 61))
    XCTAssertEqual(lease.rebinding, at(seconds: 106))
    XCTAssertEqual(lease.expiry, at(seconds: 121))
    XCTAssertEqual(dhcp.state, .bound)
    XCTAssertEqual(dhcp.nextDeadline, lease.renewal)
  }

  func testDiscoverRetransmissionsDoubleFromFourTo64SecondsWithinASecond() throws {
    var dhcp = DHCPClient(hardwareAddress: client, seed: 3)
    var now = Instant.zero
    _ = dhcp.start(now: now)
    for expected in [4, 8, 16, 32, 64, 64, 64] {
      let next = try XCTUnwrap(dhcp.nextDeadline)
      let wait = (next - now).nanoseconds
      XCTAssertGreaterThanOrEqual(wait, Int64(expected - 1) * 1_000_000_000, "\(expected)")
      XCTAssertLessThanOrEqual(wait, Int64(expected + 1) * 1_000_000_000, "\(expected)")
      XCTAssertEqual(dhcp.poll(now: next - .milliseconds(1)), [], "nothing before its time")
      now = next
      let resent = try XCTUnwrap(sent(dhcp.poll(now: now)))
      XCTAssertEqual(resent.message.options.messageType, .discover)
    }
  }

  func testRepliesForAnotherClientOrExchangeAreIgnored() throws {
    var dhcp = DHCPClient(hardwareAddress: client, seed: 4)
    let discover = try XCTUnwrap(sent(dhcp.start(now: .zero)))
    var other = reply(.offer, to: discover.message)
    other.transactionID &+= 1
    XCTAssertEqual(dhcp.receive(other, now: at(seconds: 1)), [])
    other = reply(.offer, to: discover.message)
    other.clientHardwareAddress = MACAddress(2, 0, 0, 0, 0, 10)
    XCTAssertEqual(dhcp.receive(other, now: at(seconds: 1)), [])
    XCTAssertEqual(dhcp.receive(reply(.ack, to: discover.message), now: at(seconds: 1)), [], "an ACK while selecting")
    XCTAssertEqual(dhcp.state, .selecting)
  }

  func testANAKStartsOverWithANewTransaction() throws {
    var dhcp = DHCPClient(hardwareAddress: client, seed: 5)
    let discover = try XCTUnwrap(sent(dhcp.start(now: .zero)))
    let request = try XCTUnwrap(sent(dhcp.receive(reply(.offer, to: discover.message), now: at(seconds: 1))))
    let again = try XCTUnwrap(sent(dhcp.receive(reply(.nak, to: request.message), now: at(seconds: 2))))
    XCTAssertEqual(again.message.options.messageType, .discover)
    XCTAssertNotEqual(again.message.transactionID, discover.message.transactionID)
    XCTAssertEqual(dhcp.state, .selecting)
  }

  func testUnansweredRequestsStartOverAfterFourTries() throws {
    var dhcp = DHCPClient(hardwareAddress: client, seed: 6)
    let discover = try XCTUnwrap(sent(dhcp.start(now: .zero)))
    _ = dhcp.receive(reply(.offer, to: discover.message), now: at(seconds: 1))
    var types: [DHCPMessageType?] = []
    for _ in 0..<4 {
      let actions = dhcp.poll(now: try XCTUnwrap(dhcp.nextDeadline))
      types.append(sent(actions)?.message.options.messageType)
    }
    XCTAssertEqual(types, [.request, .request, .request, .discover], "the first REQUEST and three more, then DISCOVER")
  }

  func testAnAddressInUseIsDeclinedAndTheClientStartsOverAfter10Seconds() throws {
    var dhcp = DHCPClient(hardwareAddress: client, seed: 8)
    let discover = try XCTUnwrap(sent(dhcp.start(now: .zero)))
    let request = try XCTUnwrap(sent(dhcp.receive(reply(.offer, to: discover.message), now: at(seconds: 1))))
    XCTAssertEqual(dhcp.receive(reply(.ack, to: request.message), now: at(seconds: 1)), [.probe(offered)])
    XCTAssertEqual(dhcp.addressInUse(IPv4Address(10, 0, 0, 51), now: at(seconds: 1.5)), [], "another address")
    let decline = try XCTUnwrap(sent(dhcp.addressInUse(offered, now: at(seconds: 1.5))))
    XCTAssertEqual(decline.message.options.messageType, .decline)
    XCTAssertEqual(decline.message.options.requestedAddress, offered)
    XCTAssertEqual(decline.message.options.serverIdentifier, server)
    XCTAssertEqual(decline.message.clientAddress, .any)
    XCTAssertEqual(dhcp.state, .declined)
    XCTAssertEqual(dhcp.nextDeadline, at(seconds: 11.5))
    XCTAssertEqual(dhcp.poll(now: at(seconds: 11)), [])
    XCTAssertEqual(sent(dhcp.poll(now: at(seconds: 11.5)))?.message.options.messageType, .discover)
    XCTAssertNil(dhcp.lease)
  }

  func testRenewsUnicastThenRebindsBroadcastThenLosesTheAddress() throws {
    var (dhcp, lease) = try bound()
    XCTAssertEqual(lease.renewal, at(seconds: 60.1))
    // T1: a REQUEST to the server, from the address, with ciaddr and no server identifier.
    let renew = try XCTUnwrap(sent(dhcp.poll(now: lease.renewal)))
    XCTAssertEqual(dhcp.state, .renewing)
    XCTAssertEqual(renew.destination, server)
    XCTAssertEqual(renew.source, offered)
    XCTAssertEqual(renew.message.clientAddress, offered)
    XCTAssertNil(renew.message.options.serverIdentifier)
    XCTAssertNil(renew.message.options.requestedAddress)
    // Half of the 45 s to T2 is less than 60 s: the next try is at T2, and broadcast.
    XCTAssertEqual(dhcp.nextDeadline, lease.rebinding)
    let rebind = try XCTUnwrap(sent(dhcp.poll(now: lease.rebinding)))
    XCTAssertEqual(dhcp.state, .rebinding)
    XCTAssertEqual(rebind.destination, .broadcast)
    XCTAssertEqual(rebind.message.clientAddress, offered)
    XCTAssertEqual(dhcp.nextDeadline, lease.expiry)
    let expired = dhcp.poll(now: lease.expiry)
    XCTAssertEqual(expired.first, .unbind(lease.address))
    XCTAssertEqual(sent(expired)?.message.options.messageType, .discover)
    XCTAssertNil(dhcp.lease)
  }

  func testAnACKWhileRenewingExtendsTheLease() throws {
    var (dhcp, lease) = try bound()
    let renew = try XCTUnwrap(sent(dhcp.poll(now: lease.renewal)))
    let actions = dhcp.receive(reply(.ack, to: renew.message, lease: 600), now: lease.renewal + .seconds(1))
    guard case .bind(let renewed)? = actions.first, actions.count == 1 else { return XCTFail("\(actions)") }
    XCTAssertEqual(renewed.address, lease.address)
    XCTAssertEqual(renewed.expiry, lease.renewal + .seconds(600))
    XCTAssertEqual(dhcp.state, .bound)
    XCTAssertEqual(dhcp.nextDeadline, lease.renewal + .seconds(300))
    // A NAK while renewing: the address goes at once.
    let again = try XCTUnwrap(sent(dhcp.poll(now: renewed.renewal)))
    let refused = dhcp.receive(reply(.nak, to: again.message), now: renewed.renewal + .seconds(1))
    XCTAssertEqual(refused.first, .unbind(lease.address))
    XCTAssertEqual(sent(refused)?.message.options.messageType, .discover)
  }

  func testTheSubnetsNetworkAndBroadcastAddressesAreNeverTaken() throws {
    var dhcp = DHCPClient(hardwareAddress: client, seed: 11)
    let discover = try XCTUnwrap(sent(dhcp.start(now: .zero)))
    func offer(_ address: IPv4Address, mask: IPv4Address?) -> DHCPMessage {
      var message = dhcpReply(.offer, to: discover.message, server: server, offered: address, router: server)
      message.options.subnetMask = mask
      return message
    }
    let slash24 = IPv4Address(255, 255, 255, 0)
    XCTAssertEqual(dhcp.receive(offer(IPv4Address(10, 0, 0, 255), mask: slash24), now: at(seconds: 1)), [], "broadcast")
    XCTAssertEqual(dhcp.receive(offer(IPv4Address(10, 0, 0, 0), mask: slash24), now: at(seconds: 1)), [], "network")
    XCTAssertEqual(dhcp.receive(offer(IPv4Address(10, 255, 255, 255), mask: nil), now: at(seconds: 1)), [], "classful /8")
    XCTAssertEqual(dhcp.state, .selecting)
    // On a /31 both addresses are hosts' (RFC 3021); under a /16, 10.0.0.255 is a host's.
    XCTAssertTrue(DHCPClient.isUsable(offer(IPv4Address(10, 0, 0, 255), mask: IPv4Address(255, 255, 255, 254))))
    let request = try XCTUnwrap(sent(dhcp.receive(offer(IPv4Address(10, 0, 0, 255), mask: IPv4Address(255, 255, 0, 0)), now: at(seconds: 1))))
    XCTAssertEqual(request.message.options.requestedAddress, IPv4Address(10, 0, 0, 255))
    // The ACK names a /24 after all: the client does not take it, and asks again on its timer.
    var ack = dhcpReply(.ack, to: request.message, server: server, offered: IPv4Address(10, 0, 0, 255), router: server)
    XCTAssertEqual(dhcp.receive(ack, now: at(seconds: 2)), [])
    XCTAssertEqual(dhcp.state, .requesting)
    ack.options.subnetMask = IPv4Address(255, 255, 0, 0)
    XCTAssertEqual(dhcp.receive(ack, now: at(seconds: 2)).first, .probe(IPv4Address(10, 0, 0, 255)))
  }

  func testARenewalACKForAnUnusableAddressIsIgnored() throws {
    var (dhcp, lease) = try bound()
    let renew = try XCTUnwrap(sent(dhcp.poll(now: lease.renewal)))
    let broadcast = dhcpReply(.ack, to: renew.message, server: server, offered: IPv4Address(10, 0, 0, 255), router: server)
    XCTAssertEqual(dhcp.receive(broadcast, now: lease.renewal + .seconds(1)), [])
    XCTAssertEqual(dhcp.state, .renewing)
    XCTAssertEqual(dhcp.lease, lease)
  }

  func testABoundClientPolledLateRebindsPastT2AndStartsOverPastExpiry() throws {
    var (dhcp, lease) = try bound()
    let rebind = try XCTUnwrap(sent(dhcp.poll(now: lease.rebinding + .seconds(1))))
    XCTAssertEqual(dhcp.state, .rebinding, "T1 and T2 both passed: straight to REBINDING")
    XCTAssertEqual(rebind.destination, .broadcast)
    XCTAssertEqual(rebind.source, offered)
    (dhcp, lease) = try bound()
    let expired = dhcp.poll(now: lease.expiry)
    XCTAssertEqual(expired.first, .unbind(lease.address), "no REQUEST from an address whose lease has run out")
    XCTAssertEqual(sent(expired)?.message.options.messageType, .discover)
    XCTAssertEqual(dhcp.state, .selecting)
  }

  func testMaskDefaultsAndPrefixLengths() {
    XCTAssertEqual(DHCPClient.prefixLength(of: IPv4Address(255, 255, 255, 0)), 24)
    XCTAssertEqual(DHCPClient.prefixLength(of: IPv4Address(255, 255, 255, 255)), 32)
    XCTAssertEqual(DHCPClient.prefixLength(of: .any), 0)
    XCTAssertEqual(DHCPClient.prefixLength(of: IPv4Address(255, 255, 240, 0)), 20)
    XCTAssertEqual(DHCPClient.classfulPrefix(of: IPv4Address(10, 1, 2, 3)), 8)
    XCTAssertEqual(DHCPClient.classfulPrefix(of: IPv4Address(172, 16, 0, 1)), 16)
    XCTAssertEqual(DHCPClient.classfulPrefix(of: IPv4Address(192, 168, 1, 1)), 24)
  }
}
