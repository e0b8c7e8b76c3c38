// The application contract: what a Sirocco unikernel declares and implements. The same code
// builds for every target; the target supplies the devices and the loop.
//
//     import Sirocco
//
//     @main
//     struct Echo: Unikernel {
//       static var devices: [DeviceDeclaration] { [.network("service")] }  // or .rawNetwork("lan")
//       static let parameters: [ParameterDeclaration] = [
//         .integer("port", default: 7, range: 1...65535, help: "UDP port to echo on")]
//       let socket: UDPSocket
//       init(boot: Boot) throws(BootFailure) { ... }
//       mutating func step(now: Instant) -> Step { ... }
//     }
//
// `@main` finds its `main()` in the platform module the `sirocco` tool links in.

import SiroccoDevices
import SiroccoNet
import SiroccoWire

/// A device the application needs, by kind and name: its manifest entry. Every declared
/// device must be attached at start (`--net:NAME=TAP`), as with Solo5. Names compare byte
/// for byte (they are ASCII). A block device may be declared `optional`: `sirocco run`
/// then attaches a fresh scratch file when none is given (the tenders and the unix
/// platform still see an attached device, as Solo5's require).
public struct DeviceDeclaration: Equatable, Sendable {
  public enum Kind: Equatable, Sendable {
    case network
    case block
  }

  public var kind: Kind
  public var name: String
  /// A network device whose frames the application takes itself (`Boot.rawNetwork`): the
  /// stack gets no link on it, and it has no address parameters. A bridge's or a
  /// firewall's ports. In the manifest it is a network device like any other.
  public var raw: Bool
  /// A block device the application can do without keeping: when it is not attached,
  /// `sirocco run` attaches an empty scratch file (1 MiB, emptied on every run), so what the
  /// application writes there lasts one run. A DHCP server's leases.
  public var optional: Bool

  public init(kind: Kind, name: String, raw: Bool = false, optional: Bool = false) {
    precondition(Self.isValidName(name), "device names are 1-67 characters of [A-Za-z0-9] (Solo5 manifest rule)")
    precondition(!raw || kind == .network, "only a network device is raw")
    precondition(!optional || kind == .block, "only a block device is optional")
    self.kind = kind
    self.name = name
    self.raw = raw
    self.optional = optional
  }

  public static func == (lhs: DeviceDeclaration, rhs: DeviceDeclaration) -> Bool {
    lhs.kind == rhs.kind && lhs.name.utf8Equals(rhs.name) && lhs.raw == rhs.raw && lhs.optional == rhs.optional
  }

  /// A network device the stack carries (`Boot.network`, `Boot.link`).
  public static func network(_ name: String) -> DeviceDeclaration { DeviceDeclaration(kind: .network, name: name) }
  /// A network device whose Ethernet frames the application sends and receives itself
  /// (`Boot.rawNetwork`).
  public static func rawNetwork(_ name: String) -> DeviceDeclaration { DeviceDeclaration(kind: .network, name: name, raw: true) }
  /// A block device; `optional`: see `DeviceDeclaration.optional`.
  public static func block(_ name: String, optional: Bool = false) -> DeviceDeclaration {
    DeviceDeclaration(kind: .block, name: name, optional: optional)
  }

  /// Solo5's rule for device names: 1-67 ASCII letters and digits (its tenders parse
  /// `--net:NAME=` with `%67[A-Za-z0-9]`).
  public static func isValidName(_ name: String) -> Bool { isSolo5DeviceName(name.utf8) }
}

/// What a network device is to the application: a link of Sirocco's stack, or a raw device
/// whose frames it takes itself.
public enum NetworkAttachment {
  case link(Link)
  case raw(any NetworkDevice)
}

/// What `step` tells the loop.
public enum Step: Equatable, Sendable {
  /// Call again after the next event, or at `until` at the latest (nil: no deadline).
  case wait(until: Instant?)
  /// Stop the unikernel with this exit status.
  case exit(Int32)

  /// Call again after the next event, with no deadline of the application's own.
  public static let idle = Step.wait(until: nil)
}

/// Why an application could not start; the unikernel exits with status 1 and this message.
public struct BootFailure: Error, Sendable {
  public var message: String
  @_disfavoredOverload
  public init(_ message: String) { self.message = message }
  /// `BootFailure("cannot read \(path)")` builds its message as `Text`.
  public init(_ message: Text) { self.message = String(message) }
}

public protocol Unikernel {
  /// The name used in logs and `--help`.
  static var name: String { get }
  /// The devices the application uses: its manifest. Best written as a computed property
  /// returning a literal (`{ [.network("service")] }`): the compiler then sees the list is
  /// not empty and leaves out of the image the loop for an application without devices
  /// (2.3 KB of dns-server.spt; a stored `static let` is read at run time).
  static var devices: [DeviceDeclaration] { get }
  /// The application's own boot parameters (the runtime's and the platform's are added).
  static var parameters: [ParameterDeclaration] { get }
  /// Whether the application's wall clock may be set from NTP servers (`--ntp-server=`, for
  /// an application with a network device; default true). False leaves the SNTP client out
  /// of the image (about 11 KB on spt): for an application the date does not matter to.
  static var synchronisesWallClock: Bool { get }
  /// Whether the application forwards packets or frames between its devices (`Boot.router`
  /// for a router or a firewall; a bridge's raw devices; default false). On a device with
  /// offloads (unix; spt, where `sirocco run` passes `--net-offload` for it) its links and
  /// raw devices take frames with their offload work pending, so a 64 KiB TCP segment is
  /// forwarded whole; on virtio they take plain frames. An application that does not
  /// forward links none of this, and on spt its raw devices take plain frames only.
  static var forwardsPackets: Bool { get }

  /// Starts the application: read parameters, bind sockets. Devices are attached and the
  /// interfaces configured; no frame has been received yet.
  init(boot: Boot) throws(BootFailure)

  /// Called after every wake-up, once the interfaces have handled what arrived. Anything
  /// the application sends here leaves before the loop sleeps.
  mutating func step(now: Instant) -> Step
}

extension Unikernel {
  public static var name: String { "unikernel" }
  public static var devices: [DeviceDeclaration] { [] }
  public static var parameters: [ParameterDeclaration] { [] }
  public static var synchronisesWallClock: Bool { true }
  public static var forwardsPackets: Bool { false }
}

/// What the application is given at start: parameters, devices, clocks, console, log.
public final class Boot {
  public let parameters: BootParameters
  public let console: any Console
  public let monotonicClock: any MonotonicClock
  /// The wall clock: the platform's, or with `--ntp-server=` the platform's corrected by the
  /// NTP servers' offset once one has answered.
  public let wallClock: any WallClock
  public let entropy: any EntropySource
  /// The application's logger (source: the application's name).
  public let log: Logger
  /// The platform's name: "unix", "spt"...
  public let target: String
  let networks: [(name: String, stack: any NetworkStack)]
  let attachments: [(name: String, attachment: NetworkAttachment)]
  /// Sirocco's stack as a router (Stack+Forwarding.swift): set its `forwarder` to forward
  /// packets between the links (a firewall). Nil when the host's sockets carry the network
  /// devices, or there are none.
  public let router: (any Router)?
  let blocks: [(name: String, device: any BlockDevice)]

  /// `wallClock`: the application's wall clock, if not the platform's (an NTP client's).
  init(
    parameters: BootParameters, platform: any Platform, wallClock: (any WallClock)? = nil, log: Logger,
    networks: [(name: String, stack: any NetworkStack)], attachments: [(name: String, attachment: NetworkAttachment)],
    router: (any Router)? = nil, blocks: [(name: String, device: any BlockDevice)]
  ) {
    self.router = router
    self.parameters = parameters
    self.console = platform.console
    self.monotonicClock = platform.monotonicClock
    self.wallClock = wallClock ?? platform.wallClock
    self.entropy = platform.entropy
    self.target = platform.name
    self.log = log
    self.networks = networks
    self.attachments = attachments
    self.blocks = blocks
  }

  /// The TCP/IP stack that carries the declared network device `name`: Sirocco's own (one
  /// stack over every device, so the same for each name), or on unix the host's sockets
  /// (`--net-socket:NAME=ADDRESS`).
  public func network(_ name: String) -> any NetworkStack {
    guard let entry = networks.first(where: { $0.name.utf8Equals(name) }) else {
      fatalError("network device '" + name + "' is not declared in the application's devices")
    }
    return entry.stack
  }

  /// Sirocco's link on the network device `name`, for what only it offers (its addresses,
  /// counters, ARP cache); nil when the host's sockets carry the device.
  public func link(_ name: String) -> Link? {
    guard networks.contains(where: { $0.name.utf8Equals(name) }) else {
      fatalError("network device '" + name + "' is not declared in the application's devices")
    }
    guard case .link(let link)? = attachments.first(where: { $0.name.utf8Equals(name) })?.attachment else { return nil }
    return link
  }

  /// The network device `name`, declared raw (`DeviceDeclaration.rawNetwork`): its Ethernet
  /// frames, as the device (and its wrappers: `--pcap`, fault injection) gives and takes
  /// them. On a device with offloads, `receive` lends them finished (`FinishedFrames`) and
  /// `receive(forwarding:)` with their work pending, for a forwarder to hand on whole. The
  /// loop wakes the application when one may have arrived; `receive` returns false when
  /// none has.
  public func rawNetwork(_ name: String) -> any NetworkDevice {
    guard case .raw(let device)? = attachments.first(where: { $0.name.utf8Equals(name) })?.attachment else {
      fatalError("network device '" + name + "' is not declared raw in the application's devices")
    }
    return device.offloads.isEmpty ? device : FinishedFrames(device)
  }

  /// The declared block device `name`.
  public func block(_ name: String) -> any BlockDevice {
    guard let entry = blocks.first(where: { $0.name.utf8Equals(name) }) else {
      fatalError("block device '" + name + "' is not declared in the application's devices")
    }
    return entry.device
  }
}
