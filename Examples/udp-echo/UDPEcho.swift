// udp-echo: sends every UDP datagram received on --port back to where it came from.

import Sirocco

@main
struct UDPEcho: Unikernel {
  static let name = "udp-echo"
  static var devices: [DeviceDeclaration] { [.network("service")] }
  static let parameters: [ParameterDeclaration] = [
    .integer("port", default: 7, range: 1...65535, help: "UDP port to echo on")
  ]

  let socket: any UDPEndpoint
  let log: Logger

  init(boot: Boot) throws(BootFailure) {
    let port = boot.parameters.integer("port") ?? 7
    let service = boot.network("service")
    do {
      socket = try service.bind(udpPort: UInt16(port))
    } catch {
      throw BootFailure("cannot bind UDP port \(port): \(error)")
    }
    log = boot.log
    log.info("echoing UDP on port \(port)")
  }

  mutating func step(now: Instant) -> Step {
    while let datagram = socket.receive() {
      do {
        try socket.send(datagram.payload, to: datagram.source, port: datagram.sourcePort)
      } catch {
        log.warning("echo to \(datagram.source):\(datagram.sourcePort) dropped: \(error)")
      }
    }
    return .idle
  }
}
