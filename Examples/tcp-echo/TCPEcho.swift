// tcp-echo: an echo server (RFC 862) on --port: every byte received on a connection is sent
// back on it; a connection closes when its peer has closed and everything was echoed.

import Sirocco

@main
struct TCPEcho: Unikernel {
  static let name = "tcp-echo"
  static var devices: [DeviceDeclaration] { [.network("service")] }
  static let parameters: [ParameterDeclaration] = [
    .integer("port", default: 7, range: 1...65535, help: "TCP port to echo on"),
    .integer("backlog", default: 128, range: 1...65535, help: "connections waiting to be accepted, at most"),
  ]

  let listener: any TCPListening
  var connections: [any TCPStream] = []
  /// Bytes read but not yet accepted by the send buffer, per connection.
  var pending: [[UInt8]] = []
  let log: Logger

  init(boot: Boot) throws(BootFailure) {
    let port = boot.parameters.integer("port") ?? 7
    let service = boot.network("service")
    do {
      listener = try service.listen(tcpPort: UInt16(port), backlog: boot.parameters.integer("backlog") ?? 128)
    } catch {
      throw BootFailure("cannot listen on TCP port " + String(port) + ": " + error.description)
    }
    log = boot.log
    log.info("echoing TCP on port " + String(port))
  }

  mutating func step(now: Instant) -> Step {
    while let connection = listener.nextConnection() {
      connections.append(connection)
      pending.append([])
    }
    var index = 0
    while index < connections.count {
      let connection = connections[index]
      // Echo: move what arrived to the send buffer, as far as it has room (backpressure:
      // what does not fit waits here, and nothing more is read until it fits).
      if pending[index].isEmpty { pending[index] = connection.read(maximum: 65536) }
      if !pending[index].isEmpty {
        let written = connection.write(pending[index])
        pending[index].removeFirst(written)
      }
      if connection.isReceiveFinished, pending[index].isEmpty, connection.state == .closeWait {
        connection.close()
      }
      if connection.state == .closed || connection.state == .timeWait {
        if let error = connection.error { log.debug(connection.description + ": " + error.description) }
        connections.remove(at: index)
        pending.remove(at: index)
      } else {
        index += 1
      }
    }
    return .idle
  }
}
