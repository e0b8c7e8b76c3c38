// The host-socket stack honours TCPConnection.Configuration: Nagle, buffer sizes, keep-alive,
// SYN retries and congestion control become socket options, read back here from the
// kernel; what Linux cannot set per socket is refused with one line.

import CSiroccoUnix
import Glibc
import Sirocco
@testable import SiroccoUnix
import XCTest

final class HostSocketConfigurationTests: XCTestCase {
  var stack: HostNetworkStack!

  override func setUp() {
    stack = HostNetworkStack(addresses: [.v4(IPv4Address(127, 0, 0, 1))], activity: HostActivity(pollDescriptor: sirocco_poll_create_set()))
  }

  override func tearDown() { Glibc.close(stack.activity.pollDescriptor) }

  func option(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32 {
    var value: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    XCTAssertEqual(getsockopt(fd, level, name, &value, &length), 0)
    return value
  }

  func congestion(_ fd: Int32) -> String {
    var name = [CChar](repeating: 0, count: 16)
    var length = socklen_t(name.count)
    XCTAssertEqual(getsockopt(fd, Int32(IPPROTO_TCP), TCP_CONGESTION, &name, &length), 0)
    return String(cString: name)
  }

  /// A free port on the loopback.
  func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Glibc.close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return UInt16(bigEndian: address.sin_port)
  }

  func testDefaultsKeepNagleAndCubic() throws {
    let listener = try stack.listen(tcpPort: freePort(), backlog: 4, configuration: TCPConnection.Configuration()) as! HostTCPListener
    XCTAssertEqual(option(listener.fileDescriptors[0], Int32(IPPROTO_TCP), TCP_NODELAY), 0, "Nagle is on by default, as on Sirocco's stack")
    XCTAssertEqual(option(listener.fileDescriptors[0], SOL_SOCKET, SO_KEEPALIVE), 0)
    XCTAssertEqual(congestion(listener.fileDescriptors[0]), "cubic")
    // 256 KiB asked: Linux reports twice what it was given (half of it), the size asked.
    XCTAssertEqual(option(listener.fileDescriptors[0], SOL_SOCKET, SO_RCVBUF), 256 * 1024)
  }

  func testConfigurationBecomesSocketOptions() throws {
    var configuration = TCPConnection.Configuration()
    configuration.noDelay = true
    configuration.receiveBufferSize = 128 * 1024
    configuration.sendBufferSize = 64 * 1024
    configuration.keepAlive = .seconds(30)
    configuration.keepAliveInterval = .seconds(5)
    configuration.keepAliveProbes = 4
    configuration.maximumSYNRetransmissions = 3
    configuration.congestionControl = .newReno
    let listener = try stack.listen(tcpPort: freePort(), backlog: 4, configuration: configuration) as! HostTCPListener
    let connection = try stack.connect(to: .v4(IPv4Address(127, 0, 0, 1)), tcpPort: listener.port, now: .zero, configuration: configuration)
      as! HostTCPStream
    for fd in [listener.fileDescriptors[0], connection.fileDescriptor] {
      XCTAssertEqual(option(fd, Int32(IPPROTO_TCP), TCP_NODELAY), 1)
      XCTAssertEqual(option(fd, SOL_SOCKET, SO_RCVBUF), 128 * 1024)
      XCTAssertEqual(option(fd, SOL_SOCKET, SO_SNDBUF), 64 * 1024)
      XCTAssertEqual(option(fd, SOL_SOCKET, SO_KEEPALIVE), 1)
      XCTAssertEqual(option(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE), 30)
      XCTAssertEqual(option(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL), 5)
      XCTAssertEqual(option(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT), 4)
      XCTAssertEqual(option(fd, Int32(IPPROTO_TCP), TCP_SYNCNT), 3)
      XCTAssertEqual(congestion(fd), "reno")
    }
    // The accepted socket inherits the listener's options.
    var accepted: (any TCPStream)?
    for _ in 0..<200 where accepted == nil {
      stack.activity.harvest()
      accepted = listener.nextConnection()
      if accepted == nil { usleep(5000) }
    }
    let server = try XCTUnwrap(accepted as? HostTCPStream, "the connection was not accepted")
    XCTAssertEqual(option(server.fileDescriptor, Int32(IPPROTO_TCP), TCP_NODELAY), 1)
    XCTAssertEqual(option(server.fileDescriptor, SOL_SOCKET, SO_KEEPALIVE), 1)
    XCTAssertEqual(option(server.fileDescriptor, Int32(IPPROTO_TCP), TCP_KEEPIDLE), 30)
    XCTAssertEqual(congestion(server.fileDescriptor), "reno")
  }

  func testSettingsLinuxCannotHonourAreRefused() throws {
    let cases: [(String, (inout TCPConnection.Configuration) -> Void)] = [
      ("minimumRTO", { $0.minimumRTO = .milliseconds(50) }),
      ("maximumRTO", { $0.maximumRTO = .seconds(5) }),
      ("initialRTO", { $0.initialRTO = .milliseconds(300) }),
      ("maximumRetransmissions", { $0.maximumRetransmissions = 3 }),
      ("timeWaitDuration", { $0.timeWaitDuration = .seconds(1) }),
      ("outOfOrderLimit", { $0.outOfOrderLimit = 4096 }),
      ("delayedACK", { $0.delayedACK = .milliseconds(10) }),
    ]
    for (name, change) in cases {
      var configuration = TCPConnection.Configuration()
      change(&configuration)
      do {
        _ = try stack.listen(tcpPort: freePort(), backlog: 1, configuration: configuration)
        XCTFail("\(name): listen accepted a setting the host cannot honour")
      } catch {
        XCTAssertTrue(error.description.contains("cannot honour TCPConnection.Configuration.\(name)"), error.description)
      }
      do {
        _ = try stack.connect(to: .v4(IPv4Address(127, 0, 0, 1)), tcpPort: 9, now: .zero, configuration: configuration)
        XCTFail("\(name): connect accepted a setting the host cannot honour")
      } catch {
        XCTAssertTrue(error.description.contains("cannot honour TCPConnection.Configuration.\(name)"), error.description)
      }
    }
  }
}

/// `--net-socket` values and the addresses the C helpers exchange.
final class HostSocketAddressTests: XCTestCase {
  func testSocketValuesTakeOneAddressOfEachFamily() {
    XCTAssertEqual(UnixDeviceOptions.socketAddresses("127.0.0.1"), [.v4(IPv4Address(127, 0, 0, 1))])
    XCTAssertEqual(UnixDeviceOptions.socketAddresses("::"), [.v6(.unspecified)])
    XCTAssertEqual(
      UnixDeviceOptions.socketAddresses("::1,0.0.0.0"), [.v4(IPv4Address(0, 0, 0, 0)), .v6(.loopback)], "IPv4 first")
    for bad in ["", ",", "127.0.0.1,", "::1,::2", "10.0.0.1,10.0.0.2", "fe80::1", "ff02::1", "224.0.0.1", "255.255.255.255",
                "::ffff:10.0.0.1", "127.0.0.1,::1,::2", "localhost"] {
      XCTAssertNil(UnixDeviceOptions.socketAddresses(bad), bad)
    }
  }

  func testAddressesCrossToTheHostInNetworkOrder() {
    let v6 = IPAddress.v6(IPv6Address(0x2001, 0xdb8, 0, 0, 0, 0, 0x1234, 0x5678))
    XCTAssertEqual(v6.socketBytes, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78])
    XCTAssertEqual(IPAddress(socketBytes: v6.socketBytes, length: 16), v6)
    let v4 = IPAddress.v4(IPv4Address(192, 0, 2, 7))
    XCTAssertEqual(v4.socketBytes, [192, 0, 2, 7])
    XCTAssertEqual(IPAddress(socketBytes: v4.socketBytes + [UInt8](repeating: 9, count: 12), length: 4), v4)
  }

  /// A listener and a UDP endpoint on an address of each family: one host socket each, on
  /// one port; a connection over IPv6 is accepted with its addresses.
  func testOneDeviceListensAndBindsOnBothFamilies() throws {
    let poll = sirocco_poll_create_set()
    defer { Glibc.close(poll) }
    let stack = HostNetworkStack(addresses: [.v4(IPv4Address(127, 0, 0, 1)), .v6(.loopback)], activity: HostActivity(pollDescriptor: poll))
    let udp = try stack.bind(udpPort: 0, receiveCapacity: 4, transmitCapacity: 4) as! HostUDPSocket
    XCTAssertEqual(udp.sockets.map(\.address), stack.addresses)
    XCTAssertNotEqual(udp.port, 0)
    for socket in udp.sockets { XCTAssertEqual(IPAddress.ofSocket(socket.fd, peer: false)?.port, udp.port) }
    try udp.send([1, 2, 3], to: .v6(.loopback), port: udp.port)
    var received: UDPDatagram?
    for _ in 0..<100 where received == nil {
      received = udp.receive()
      if received == nil { usleep(1000) }
    }
    XCTAssertEqual(received?.source, .v6(.loopback))
    XCTAssertEqual(received?.destination, .v6(.loopback))
    XCTAssertEqual(received?.payload, [1, 2, 3])
    XCTAssertThrowsError(try udp.send([UInt8](repeating: 0, count: 1453), to: .v6(.loopback), port: udp.port)) {
      XCTAssertEqual($0 as? UDPSendError, .tooLong(maximum: 1452))
    }
    let listener = try stack.listen(tcpPort: udp.port, backlog: 4, configuration: TCPConnection.Configuration()) as! HostTCPListener
    XCTAssertEqual(listener.fileDescriptors.count, 2)
    let client = try stack.connect(to: .v6(.loopback), tcpPort: listener.port, now: .zero, configuration: TCPConnection.Configuration())
    var accepted: (any TCPStream)?
    for _ in 0..<100 where accepted == nil {
      stack.activity.harvest()
      accepted = listener.nextConnection()
      if accepted == nil { usleep(1000) }
    }
    let server = try XCTUnwrap(accepted as? HostTCPStream)
    XCTAssertEqual(server.localAddress, .v6(.loopback))
    XCTAssertEqual(server.remoteAddress, .v6(.loopback))
    XCTAssertEqual(client.isEstablished || client.state == .synSent, true)
    let onlyV4 = HostNetworkStack(addresses: [.v4(IPv4Address(127, 0, 0, 1))], activity: stack.activity)
    XCTAssertThrowsError(try onlyV4.connect(to: .v6(.loopback), tcpPort: 1, now: .zero, configuration: TCPConnection.Configuration())) {
      XCTAssertEqual($0 as? TCPConnectError, .noRoute)
    }
  }
}
