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
    stack = HostNetworkStack(address: IPv4Address(127, 0, 0, 1), activity: HostActivity(pollDescriptor: sirocco_poll_create_set()))
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
    XCTAssertEqual(option(listener.fileDescriptor, Int32(IPPROTO_TCP), TCP_NODELAY), 0, "Nagle is on by default, as on Sirocco's stack")
    XCTAssertEqual(option(listener.fileDescriptor, SOL_SOCKET, SO_KEEPALIVE), 0)
    XCTAssertEqual(congestion(listener.fileDescriptor), "cubic")
    // 256 KiB asked: Linux reports twice what it was given (half of it), the size asked.
    XCTAssertEqual(option(listener.fileDescriptor, SOL_SOCKET, SO_RCVBUF), 256 * 1024)
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
    for fd in [listener.fileDescriptor, connection.fileDescriptor] {
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
