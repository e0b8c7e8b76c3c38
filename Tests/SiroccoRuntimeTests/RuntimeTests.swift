// The runtime: the device manifest check, the merged parameter declarations, and whole
// unikernels run through `Runtime.run` on a test platform (in-memory console and devices, a
// clock that moves only when the loop waits, counting entropy).

import SiroccoDevices
import SiroccoNet
import SiroccoRuntime
import SiroccoWire
import XCTest

// MARK: The test platform

final class TestConsole: Console {
  var output = ""
  func write(_ bytes: UnsafeRawBufferPointer) { output += String(decoding: bytes, as: UTF8.self) }
}

/// Monotonic time that advances only when the loop waits.
final class TestClock: MonotonicClock {
  var current = Instant.zero
  func now() -> Instant { current }
}

final class TestWallClock: WallClock {
  func now() -> WallTime { WallTime(nanosecondsSinceEpoch: 1_795_237_980_000_000_000) }
}

/// Bytes 0, 1, 2... : deterministic "entropy".
final class CountingEntropy: EntropySource {
  var next: UInt8 = 0
  func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    for index in 0..<buffer.count {
      buffer[index] = next
      next &+= 1
    }
  }
}

final class TestPlatform: Platform {
  let name = "test"
  let testConsole = TestConsole()
  let clock = TestClock()
  let wall = TestWallClock()
  let counting = CountingEntropy()
  var console: any Console { testConsole }
  var errors: any Console { testConsole }
  var monotonicClock: any MonotonicClock { clock }
  var wallClock: any WallClock { wall }
  var entropy: any EntropySource { counting }
  /// Every deadline the loop waited for, in order.
  var waits: [Instant?] = []
  /// Runs on each wait before the clock moves: the test's scripted peer.
  var onWait: ((Instant?) -> Void)?

  /// Moves the clock to the deadline (one second on without one), never backwards.
  func wait(until deadline: Instant?) {
    waits.append(deadline)
    onWait?(deadline)
    let target = deadline ?? clock.current + .seconds(1)
    if target > clock.current { clock.current = target }
  }
}

let ourMAC = MACAddress(0x02, 0, 0, 0, 0, 0x02)
let ourIP = IPv4Address(10, 0, 0, 2)
let peerMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)
let peerIP = IPv4Address(10, 0, 0, 1)

func at(seconds: Double) -> Instant { Instant(nanoseconds: Int64(seconds * 1_000_000_000)) }

/// Bytes built by a wire type's `emit`.
func emitted(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: count)
  bytes.withUnsafeMutableBytes { body($0) }
  return bytes
}

/// The peer's ARP request for our address: the interface learns the peer from it.
func peerARPRequest() -> [UInt8] {
  emitted(14) { EthernetHeader(destination: .broadcast, source: peerMAC, etherType: .arp).emit(into: $0) }
    + emitted(28) {
      ARPPacket(
        operation: .request, senderHardwareAddress: peerMAC, senderProtocolAddress: peerIP,
        targetHardwareAddress: .zero, targetProtocolAddress: ourIP
      ).emit(into: $0)
    }
}

/// A UDP datagram from the peer to us, in a frame.
func peerDatagram(from sourcePort: UInt16 = 5000, to port: UInt16, _ payload: [UInt8]) -> [UInt8] {
  let udpLength = UDPHeader.length + payload.count
  var udp = [UInt8](repeating: 0, count: UDPHeader.length) + payload
  udp.withUnsafeMutableBytes {
    UDPHeader(sourcePort: sourcePort, destinationPort: port, payloadLength: payload.count)
      .emit(into: $0, source: peerIP, destination: ourIP)
  }
  let ip = emitted(20) {
    IPv4Header(totalLength: 20 + udpLength, protocol: .udp, source: peerIP, destination: ourIP).emit(into: $0)
  }
  return emitted(14) { EthernetHeader(destination: ourMAC, source: peerMAC, etherType: .ipv4).emit(into: $0) } + ip + udp
}

// MARK: Test applications

/// Binds `--port` (default 7), echoes the first datagram back and exits with status 3 in
/// the same step.
/// An application without the SNTP client.
struct UnsynchronisedEcho: Unikernel {
  static let devices: [DeviceDeclaration] = [.network("service")]
  static let synchronisesWallClock = false
  init(boot: Boot) throws(BootFailure) {}
  mutating func step(now: Instant) -> Step { .exit(0) }
}

struct EchoOnce: Unikernel {
  static let name = "echo-once"
  static let devices: [DeviceDeclaration] = [.network("service")]
  static let parameters: [ParameterDeclaration] = [
    .integer("port", default: 7, range: 1...65535, help: "UDP port to echo on"),
  ]
  let socket: any UDPEndpoint

  init(boot: Boot) throws(BootFailure) {
    let port = UInt16(boot.parameters.integer("port") ?? 7)
    do {
      socket = try boot.network("service").bind(udpPort: port)
    } catch {
      throw BootFailure("cannot bind port \(port): \(error)")
    }
    boot.log.info("echoing on port \(port), target \(boot.target)")
  }

  mutating func step(now: Instant) -> Step {
    if let datagram = socket.receive() {
      try? socket.send(datagram.payload, to: datagram.source, port: datagram.sourcePort)
      return .exit(3)
    }
    return now > at(seconds: 60) ? .exit(99) : .idle
  }
}

/// Binds port 7 twice: the second bind fails, and init turns that into a BootFailure.
struct BindsTwice: Unikernel {
  static let name = "twice"
  static let devices: [DeviceDeclaration] = [.network("service")]
  init(boot: Boot) throws(BootFailure) {
    let interface = boot.network("service")
    do {
      _ = try interface.bind(udpPort: 7)
      _ = try interface.bind(udpPort: 7)
    } catch {
      throw BootFailure("cannot bind port 7: \(error)")
    }
  }
  mutating func step(now: Instant) -> Step { .exit(0) }
}

struct FailsToStart: Unikernel {
  static let name = "fails"
  init(boot: Boot) throws(BootFailure) { throw BootFailure("no disk attached") }
  mutating func step(now: Instant) -> Step { .exit(0) }
}

/// Asks to be woken every 500 ms; exits at 1.5 s.
struct Ticker: Unikernel {
  static let devices: [DeviceDeclaration] = [.network("service")]
  init(boot: Boot) throws(BootFailure) {}
  mutating func step(now: Instant) -> Step {
    now >= at(seconds: 1.5) ? .exit(0) : .wait(until: now + .milliseconds(500))
  }
}

/// Never has a deadline of its own; exits on its fourth step.
struct Idler: Unikernel {
  static let devices: [DeviceDeclaration] = [.network("service")]
  var steps = 0
  init(boot: Boot) throws(BootFailure) {}
  mutating func step(now: Instant) -> Step {
    steps += 1
    return steps == 4 ? .exit(5) : .idle
  }
}

/// Counts datagrams on port 7 and exits when 100 have come.
struct Counter: Unikernel {
  static let devices: [DeviceDeclaration] = [.network("service")]
  let socket: any UDPEndpoint
  var received = 0
  init(boot: Boot) throws(BootFailure) {
    do { socket = try boot.network("service").bind(udpPort: 7, receiveCapacity: 128, transmitCapacity: 64) } catch { throw BootFailure("\(error)") }
  }
  mutating func step(now: Instant) -> Step {
    while socket.receive() != nil { received += 1 }
    return received == 100 ? .exit(0) : .idle
  }
}

/// Two network devices: prints each link's address and exits.
struct TwoLinks: Unikernel {
  static let name = "two-links"
  static let devices: [DeviceDeclaration] = [.network("service"), .network("uplink")]
  init(boot: Boot) throws(BootFailure) {
    let service = boot.link("service")?.ipv4.first?.address
    let uplink = boot.link("uplink")?.ipv4.first?.address
    boot.log.info("\(service.map { Text($0) } ?? "none") and \(uplink.map { Text($0) } ?? "none")")
  }
  mutating func step(now: Instant) -> Step { .exit(0) }
}

/// A stack device and a raw one: reflects each frame of the raw device back, with the
/// Ethernet addresses swapped, and exits after `count` of them.
struct RawReflector: Unikernel {
  static let name = "raw-reflector"
  static let devices: [DeviceDeclaration] = [.network("service"), .rawNetwork("tap")]
  let raw: any NetworkDevice
  var reflected = 0
  init(boot: Boot) throws(BootFailure) {
    raw = boot.rawNetwork("tap")
    boot.log.info("service link: \(boot.link("service").map { Text(string: $0.description) } ?? "none")")
  }
  mutating func step(now: Instant) -> Step {
    let raw = raw
    while raw.receive({ frame in
      _ = raw.transmit(length: frame.count) { reply in
        reply.copyMemory(from: frame)
        for index in 0..<6 { (reply[index], reply[6 + index]) = (frame[6 + index], frame[index]) }
      }
    }) { reflected += 1 }
    return reflected >= 3 ? .exit(0) : .idle
  }
}

/// Raw devices only (a bridge): no address parameters, but the busy-poll window.
struct RawOnly: Unikernel {
  static let name = "raw-only"
  static let devices: [DeviceDeclaration] = [.rawNetwork("port0"), .rawNetwork("port1")]
  init(boot: Boot) throws(BootFailure) {}
  mutating func step(now: Instant) -> Step { .exit(0) }
}

final class RuntimeTests: XCTestCase {
  func run<App: Unikernel>(
    _ app: App.Type, _ arguments: [String] = [], platform: TestPlatform = TestPlatform(),
    device: MemoryNetworkDevice = MemoryNetworkDevice(macAddress: ourMAC)
  ) throws -> Int32 {
    let declarations = Runtime.declarations(for: app, platformParameters: [])
    // IPv4 only, unless a test says otherwise: these tests count frames and wake-ups, and
    // IPv6's own (DAD, MLD, router solicitations) are IPv6Tests' to check.
    // 10.0.0.2/24 unless a test gives an address (or asks for DHCP): these tests count
    // frames, and DHCP's are LinkDHCPTests' to check.
    let network = app.devices.contains { $0.kind == .network } && !arguments.contains { $0.hasPrefix("--ipv6") }
    let addressed = arguments.contains { $0.hasPrefix("--ipv4=") || $0.hasPrefix("--service-ipv4=") || $0.hasPrefix("--dhcp") }
    let defaults = (network ? ["--ipv4-only"] : []) + (network && !addressed ? ["--ipv4=10.0.0.2/24"] : [])
    let parameters = try BootParameters.parse(arguments + defaults, declarations: declarations)
    return Runtime.run(app, platform: platform, parameters: parameters, networks: [(name: "service", device: device)])
  }

  // MARK: Manifest and parameters

  func testDeclarationsMergeRuntimePlatformAndApplicationParameters() {
    let platform: [ParameterDeclaration] = [.string("tap", default: nil, help: "TAP device")]
    let names = Runtime.declarations(for: EchoOnce.self, platformParameters: platform).map(\.name)
    // Only an application with a network device gets --ipv4, --ipv4-gateway and --busy-poll.
    XCTAssertEqual(
      names, [
        "ipv4", "ipv4-gateway", "ipv6", "ipv6-gateway", "accept-router-advertisements", "dhcp", "name", "dns-server", "ipv4-only",
        "ipv6-only", "ntp-server",
        "log-level", "service-ipv4", "service-ipv4-gateway", "service-ipv6", "service-ipv6-gateway", "busy-poll", "tap", "port",
      ])
    XCTAssertEqual(Runtime.declarations(for: FailsToStart.self, platformParameters: []).map(\.name), ["log-level"])
    // Raw devices only: polling, no addresses.
    XCTAssertEqual(Runtime.declarations(for: RawOnly.self, platformParameters: []).map(\.name), ["log-level", "busy-poll"])
    // An application that leaves the SNTP client out has no --ntp-server.
    XCTAssertFalse(Runtime.declarations(for: UnsynchronisedEcho.self, platformParameters: []).contains { $0.name == "ntp-server" })
  }

  /// A raw device's frames reach the application as they came and leave as it wrote them;
  /// the stack makes no link on it (no address parameters, nothing sent of its own: no ARP
  /// announcement, no DHCP), while the other device is the stack's as usual.
  func testARawDeviceIsTheApplicationsAlone() throws {
    let names = Runtime.declarations(for: RawReflector.self, platformParameters: []).map(\.name)
    XCTAssertTrue(names.contains("service-ipv4"), "\(names)")
    XCTAssertFalse(names.contains { $0.hasPrefix("tap-") }, "a raw device has no address parameters: \(names)")
    let platform = TestPlatform()
    let service = MemoryNetworkDevice(macAddress: ourMAC)
    let tap = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 3))
    let frames: [[UInt8]] = (0..<3).map { index in
      [2, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 9, 0x88, 0xb5] + [UInt8](repeating: UInt8(index), count: 46)
    }
    for frame in frames { tap.inject(frame) }
    let parameters = try BootParameters.parse(
      ["--ipv4=10.0.0.2/24", "--ipv4-only"], declarations: Runtime.declarations(for: RawReflector.self, platformParameters: []))
    XCTAssertEqual(
      Runtime.run(RawReflector.self, platform: platform, parameters: parameters, networks: [("service", service), ("tap", tap)]), 0)
    XCTAssertEqual(
      tap.takeTransmitted(), frames.map { [2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 3] + $0[12...] }, "reflected as written, and nothing else")
    XCTAssertFalse(service.takeTransmitted().isEmpty, "the stack's device announced its address")
    XCTAssertEqual(
      platform.testConsole.output,
      "INFO  sirocco: tap: 02:00:00:00:00:03 mtu 1500 raw\n"
        + "INFO  sirocco: service: 02:00:00:00:00:02 10.0.0.2/24 mtu 1500\n"
        + "INFO  raw-reflector: service link: service: 02:00:00:00:00:02 10.0.0.2/24 mtu 1500\n")
  }

  /// Every network device has its own address (`--NAME-ipv4`); the first device's may also
  /// be given as `--ipv4`, but not both ways; a device given none takes one by DHCP, unless
  /// `--dhcp=false`.
  func testEveryNetworkDeviceGetsItsOwnLinkAndAddress() throws {
    let platform = TestPlatform()
    let service = MemoryNetworkDevice(macAddress: ourMAC)
    let uplink = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 3))
    func start(_ arguments: [String]) throws -> Int32 {
      platform.testConsole.output = ""
      let parameters = try BootParameters.parse(
        arguments + ["--ipv4-only"], declarations: Runtime.declarations(for: TwoLinks.self, platformParameters: []))
      return Runtime.run(TwoLinks.self, platform: platform, parameters: parameters, networks: [("service", service), ("uplink", uplink)])
    }
    XCTAssertEqual(try start(["--ipv4=10.0.0.2/24", "--uplink-ipv4=192.168.7.2/24", "--uplink-ipv4-gateway=192.168.7.1"]), 0)
    XCTAssertEqual(
      platform.testConsole.output,
      "INFO  sirocco: service: 02:00:00:00:00:02 10.0.0.2/24 mtu 1500\n"
        + "INFO  sirocco: uplink: 02:00:00:00:00:03 192.168.7.2/24 mtu 1500 gateway 192.168.7.1\n"
        + "INFO  two-links: 10.0.0.2 and 192.168.7.2\n")
    XCTAssertEqual(try start(["--service-ipv4=10.1.0.2/16", "--uplink-ipv4=192.168.7.2/24"]), 0)
    XCTAssertTrue(platform.testConsole.output.hasSuffix("INFO  two-links: 10.1.0.2 and 192.168.7.2\n"), platform.testConsole.output)
    XCTAssertEqual(try start(["--ipv4=10.1.0.2/16", "--service-ipv4=10.1.0.3/16", "--uplink-ipv4=192.168.7.2/24"]), ExitStatus.usage)
    XCTAssertEqual(
      platform.testConsole.output,
      "two-links: boot parameters --ipv4 and --service-ipv4 set the same thing: expected one of them\n")
    // No address: DHCP on both links, each broadcasting its DISCOVER from 0.0.0.0 to port 67.
    _ = service.takeTransmitted() + uplink.takeTransmitted()
    XCTAssertEqual(try start([]), 0)
    XCTAssertEqual(
      platform.testConsole.output,
      "INFO  sirocco: service: 02:00:00:00:00:02 mtu 1500 dhcp\n" + "INFO  sirocco: uplink: 02:00:00:00:00:03 mtu 1500 dhcp\n"
        + "INFO  two-links: none and none\n")
    for device in [service, uplink] {
      let frames = device.takeTransmitted()
      XCTAssertEqual(frames.count, 1)
      XCTAssertEqual(frames.first.map { Array($0[0..<6]) }, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
      XCTAssertEqual(frames.first.map { Array($0[26..<30] + $0[36..<38]) }, [0, 0, 0, 0, 0, 67], "from 0.0.0.0 to port 67")
      XCTAssertTrue(frames.first.map { String(decoding: $0, as: UTF8.self).contains("two-links") } ?? false, "host name")
    }
    XCTAssertEqual(try start(["--name=bad_name"]), ExitStatus.usage)
    XCTAssertEqual(
      platform.testConsole.output,
      "two-links: bad value 'bad_name' for boot parameter --name: expected a host name: dot-separated labels of letters, digits and hyphens (RFC 1123)\n")
    XCTAssertTrue(Runtime.isHostName("a-1.example") && !Runtime.isHostName("-a") && !Runtime.isHostName("a..b"))
    XCTAssertEqual(try start(["--name=gateway-7"]), 0)
    XCTAssertTrue(service.takeTransmitted().first.map { String(decoding: $0, as: UTF8.self).contains("gateway-7") } ?? false)
    _ = uplink.takeTransmitted()
    XCTAssertEqual(try start(["--dhcp=false"]), 0)
    XCTAssertEqual(platform.testConsole.output.components(separatedBy: "dhcp").count, 1, platform.testConsole.output)
    XCTAssertTrue(service.takeTransmitted().isEmpty && uplink.takeTransmitted().isEmpty)
    // Each link answers ARP for its own address only, on its own device.
    service.inject(peerARPRequest())
    XCTAssertEqual(try start(["--ipv4=10.0.0.2/24", "--uplink-ipv4=192.168.7.2/24"]), 0)
    XCTAssertTrue(service.takeTransmitted().contains { $0.count >= 22 && $0[12] == 0x08 && $0[13] == 0x06 && $0[21] == 2 }, "no ARP reply on service")
    XCTAssertFalse(uplink.takeTransmitted().contains { $0.count >= 22 && $0[21] == 2 }, "an ARP reply on uplink")
  }

  /// `--ipv4-only` and `--ipv6-only` exclude each other and the other family's addresses;
  /// `--ipv6` and `--service-ipv6` set the same thing.
  func testTheFamiliesAndIPv6ParametersAreChecked() throws {
    let platform = TestPlatform()
    let device = MemoryNetworkDevice(macAddress: ourMAC)
    func start(_ arguments: [String]) throws -> Int32 {
      platform.testConsole.output = ""
      let parameters = try BootParameters.parse(arguments, declarations: Runtime.declarations(for: EchoOnce.self, platformParameters: []))
      return Runtime.run(EchoOnce.self, platform: platform, parameters: parameters, networks: [("service", device)])
    }
    XCTAssertEqual(try start(["--ipv4-only", "--ipv6-only"]), ExitStatus.usage)
    XCTAssertEqual(platform.testConsole.output, "echo-once: boot parameters --ipv4-only and --ipv6-only set the same thing: expected one of them\n")
    XCTAssertEqual(try start(["--ipv4-only", "--ipv6=fd00::2/64"]), ExitStatus.usage)
    XCTAssertTrue(platform.testConsole.output.contains("--ipv4-only and --ipv6"), platform.testConsole.output)
    XCTAssertEqual(try start(["--ipv6-only", "--ipv4=10.0.0.3/24"]), ExitStatus.usage)
    XCTAssertEqual(try start(["--ipv6=fd00::2/64", "--service-ipv6=fd00::3/64"]), ExitStatus.usage)
    XCTAssertTrue(platform.testConsole.output.contains("--ipv6 and --service-ipv6"), platform.testConsole.output)
    XCTAssertThrowsError(try BootParameters.parse(["--ipv6=10.0.0.1/24"], declarations: Runtime.networkParameters)) { error in
      XCTAssertEqual(
        (error as? ParameterError)?.description,
        "bad value '10.0.0.1/24' for boot parameter --ipv6: expected an IPv6 address with a prefix length such as fd00::2/64")
    }
    // IPv6 only: no IPv4 address on the link, the static IPv6 one tentative, SLAAC on.
    // (An IPv4 datagram finds no address: nothing to echo, the application gives up at 60 s.)
    device.inject(peerDatagram(to: 7, [1]))
    XCTAssertEqual(try start(["--ipv6-only", "--ipv6=fd00::2/64", "--ipv6-gateway=fd00::1"]), 99)
    XCTAssertTrue(
      platform.testConsole.output.hasPrefix(
        "INFO  sirocco: service: 02:00:00:00:00:02 mtu 1500 fd00::2/64 (tentative) gateway fd00::1 slaac\n"),
      platform.testConsole.output)
  }

  func testRuntimeParameterDefaults() throws {
    let parameters = try BootParameters.parse(
      [], declarations: Runtime.networkParameters + Runtime.parameters + Runtime.pollingParameters)
    XCTAssertEqual(parameters.integer("busy-poll"), 50)
    XCTAssertNil(parameters.ipv4Network("ipv4"), "none: DHCP")
    XCTAssertTrue(parameters.boolean("dhcp"))
    XCTAssertNil(parameters.string("name"), "none: the application's name")
    XCTAssertNil(parameters.ipv4Address("ipv4-gateway"))
    XCTAssertEqual(parameters.string("log-level"), "info")
    XCTAssertThrowsError(try BootParameters.parse(["--log-level=loud"], declarations: Runtime.parameters)) { error in
      XCTAssertEqual(
        "\(error)", "bad value 'loud' for boot parameter --log-level: expected one of error, warning, info, debug")
    }
  }

  // MARK: Running unikernels

  func testEchoOnceEchoesTheDatagramAndExitsWithItsStatus() throws {
    let platform = TestPlatform()
    let device = MemoryNetworkDevice(macAddress: ourMAC)
    device.inject(peerARPRequest())
    device.inject(peerDatagram(from: 5353, to: 7, Array("hello, sirocco".utf8)))
    let status = try run(EchoOnce.self, platform: platform, device: device)
    XCTAssertEqual(status, 3)

    let sent = device.takeTransmitted()
    // The first announcement, the ARP reply, then the echo.
    XCTAssertEqual(sent.count, 3, "\(sent.count) frames")
    guard sent.count == 3 else { return }
    XCTAssertEqual(Array(sent[0].prefix(6)), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    XCTAssertEqual(Array(sent[1][12..<14]), [0x08, 0x06])
    let expected = peerDatagramReply(from: 7, to: 5353, Array("hello, sirocco".utf8), identification: sent[2])
    XCTAssertEqual(sent[2], expected)
    XCTAssertEqual(platform.waits, [], "it exited before ever sleeping")
    XCTAssertTrue(
      platform.testConsole.output.hasPrefix(
        "INFO  sirocco: service: 02:00:00:00:00:02 10.0.0.2/24 mtu 1500\nINFO  echo-once: echoing on port 7, target test\n"),
      platform.testConsole.output)
  }

  func testParametersReachTheApplicationAndTheStack() throws {
    let platform = TestPlatform()
    let device = MemoryNetworkDevice(macAddress: ourMAC)
    device.inject(peerARPRequest())
    device.inject(peerDatagram(to: 9, [1, 2, 3]))
    let status = try run(
      EchoOnce.self, ["--port=9", "--ipv4-gateway=10.0.0.254", "--log-level=debug"], platform: platform, device: device)
    XCTAssertEqual(status, 3)
    let output = platform.testConsole.output
    XCTAssertTrue(output.hasPrefix("INFO  sirocco: service: 02:00:00:00:00:02 10.0.0.2/24 mtu 1500 gateway 10.0.0.254\n"), output)
    XCTAssertTrue(output.contains("INFO  echo-once: echoing on port 9, target test\n"), output)
    // At exit, with --log-level=debug, each link's counters and the stack's.
    XCTAssertTrue(
      output.hasSuffix(
        "DEBUG sirocco: service: rx 2 frames 87 bytes, tx 3 frames 129 bytes, tx failures 0\n"
          + "DEBUG sirocco: stack: rx 2 frames 87 bytes, tx 3 frames 129 bytes, echo replies 0, drops 0\n"), output)
  }

  func testTheLogLevelHidesLessSevereLines() throws {
    let platform = TestPlatform()
    let device = MemoryNetworkDevice(macAddress: ourMAC)
    device.inject(peerARPRequest())
    device.inject(peerDatagram(to: 7, [1]))
    XCTAssertEqual(try run(EchoOnce.self, ["--log-level=error"], platform: platform, device: device), 3)
    XCTAssertEqual(platform.testConsole.output, "")
  }

  func testAnApplicationThatFailsToStartExitsWithStatus1AndSaysWhy() throws {
    let platform = TestPlatform()
    let device = MemoryNetworkDevice(macAddress: ourMAC)
    XCTAssertEqual(try run(FailsToStart.self, platform: platform, device: device), ExitStatus.failure)
    XCTAssertEqual(ExitStatus.failure, 1)
    XCTAssertEqual(
      platform.testConsole.output,
      "ERROR sirocco: fails failed to start: no disk attached\n",
      "an application that declares no network device has no --ipv4 and gets no link")
    XCTAssertEqual(device.takeTransmitted().count, 0, "nothing was sent")
    XCTAssertEqual(platform.waits, [])
  }

  func testABindFailureInInitIsABootFailure() throws {
    let platform = TestPlatform()
    XCTAssertEqual(try run(BindsTwice.self, platform: platform), 1)
    XCTAssertTrue(
      platform.testConsole.output.hasSuffix("ERROR sirocco: twice failed to start: cannot bind port 7: port 7 is already bound\n"),
      platform.testConsole.output)
  }

  func testABadParameterNeverReachesTheApplication() throws {
    XCTAssertThrowsError(try run(EchoOnce.self, ["--port=0"])) { error in
      XCTAssertEqual("\(error)", "bad value '0' for boot parameter --port: expected an integer in 1...65535")
    }
  }

  func testTheLoopSleepsUntilTheEarliestDeadline() throws {
    let platform = TestPlatform()
    XCTAssertEqual(try run(Ticker.self, platform: platform), 0)
    // The application's 500 ms ticks come before the interface's second announcement (2 s).
    XCTAssertEqual(platform.waits, [at(seconds: 0.5), at(seconds: 1), at(seconds: 1.5)])
  }

  func testAnIdleUnikernelSleepsWithoutADeadline() throws {
    let platform = TestPlatform()
    let device = MemoryNetworkDevice(macAddress: ourMAC)
    XCTAssertEqual(try run(Idler.self, platform: platform, device: device), 5)
    // Announcements at 0 and 2 s; after that nothing is due: no deadline, no busy polling.
    XCTAssertEqual(platform.waits, [at(seconds: 2), nil, nil])
    XCTAssertEqual(device.takeTransmitted().count, 2)
  }

  func testTheLoopPollsAgainWithoutSleepingWhileFramesRemain() throws {
    let platform = TestPlatform()
    let device = MemoryNetworkDevice(macAddress: ourMAC)
    for index in 0..<100 { device.inject(peerDatagram(to: 7, [UInt8(index)])) }
    XCTAssertEqual(try run(Counter.self, platform: platform, device: device), 0)
    XCTAssertEqual(platform.waits, [], "100 frames in two polls (budget 64), no sleep between them")
    XCTAssertTrue(device.inbox.isEmpty)
  }

  func testFramesArrivingWhileAsleepWakeTheApplication() throws {
    let platform = TestPlatform()
    let device = MemoryNetworkDevice(macAddress: ourMAC)
    // The peer is silent until the unikernel has slept once, then asks and sends.
    platform.onWait = { _ in
      if platform.waits.count == 1 {
        device.inject(peerARPRequest())
        device.inject(peerDatagram(from: 6000, to: 7, [0xab]))
      }
    }
    XCTAssertEqual(try run(EchoOnce.self, platform: platform, device: device), 3)
    XCTAssertEqual(platform.waits, [at(seconds: 2)])
    let sent = device.takeTransmitted()
    XCTAssertEqual(sent.count, 4, "two announcements, the ARP reply, the echo")
    XCTAssertEqual(sent.last.map { Array($0.suffix(1)) }, [0xab])
  }
}

/// The echo the unikernel should send for `peerDatagram`: from us to the peer, with the IP
/// identification copied from `actual` (it is random) so the rest compares exactly.
func peerDatagramReply(from sourcePort: UInt16, to port: UInt16, _ payload: [UInt8], identification actual: [UInt8]) -> [UInt8] {
  guard actual.count >= 20 else { return [] }
  let identification = UInt16(actual[18]) << 8 | UInt16(actual[19])
  let udpLength = UDPHeader.length + payload.count
  var udp = [UInt8](repeating: 0, count: UDPHeader.length) + payload
  udp.withUnsafeMutableBytes {
    UDPHeader(sourcePort: sourcePort, destinationPort: port, payloadLength: payload.count)
      .emit(into: $0, source: ourIP, destination: peerIP)
  }
  let ip = emitted(20) {
    IPv4Header(
      totalLength: 20 + udpLength, identification: identification, dontFragment: false, protocol: .udp,
      source: ourIP, destination: peerIP
    ).emit(into: $0)
  }
  return emitted(14) { EthernetHeader(destination: peerMAC, source: ourMAC, etherType: .ipv4).emit(into: $0) } + ip + udp
}
