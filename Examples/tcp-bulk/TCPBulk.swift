// tcp-bulk: a sink or a source of bytes over one TCP connection, for throughput and
// correctness: it reports the byte count, the time, the throughput and a SHA-256 of what it
// received (sink) or sent (source), then exits 0.
//
//   --mode=sink    accept one connection on --port and read until the peer closes
//   --mode=source  accept one connection on --port and send --bytes bytes, then close
//   --connect=ADDR connect to ADDR:--port instead of accepting

import Sirocco

@main
struct TCPBulk: Unikernel {
  static let name = "tcp-bulk"
  static let devices: [DeviceDeclaration] = [.network("service")]
  static let parameters: [ParameterDeclaration] = [
    .choice("mode", ["sink", "source"], default: "sink", help: "receive or send"),
    .integer("port", default: 5001, range: 1...65535, help: "TCP port"),
    .integer("bytes", default: 100_000_000, range: 0...Int(Int64.max), help: "bytes a source sends"),
    .ipAddress("connect", default: nil, help: "connect to this address instead of listening"),
  ]

  let service: any NetworkStack
  let console: any Console
  let sink: Bool
  let total: Int
  let port: UInt16
  var listener: (any TCPListening)?
  var connection: (any TCPStream)?
  var started: Instant?
  var moved = 0
  var digest = SHA256()
  var chunk = [UInt8](repeating: 0, count: 65536)
  var finished = false

  init(boot: Boot) throws(BootFailure) {
    service = boot.network("service")
    console = boot.console
    sink = boot.parameters.string("mode").map { $0.utf8Equals("sink") } ?? true
    total = boot.parameters.integer("bytes") ?? 0
    port = UInt16(boot.parameters.integer("port") ?? 5001)
    if let address = boot.parameters.ipAddress("connect") {
      do {
        connection = try service.connect(to: address, tcpPort: port, now: boot.monotonicClock.now())
      } catch {
        throw BootFailure("cannot connect to " + address.description + ": " + error.description)
      }
    } else {
      do {
        listener = try service.listen(tcpPort: port, backlog: 1)
      } catch {
        throw BootFailure("cannot listen on TCP port " + String(port) + ": " + error.description)
      }
      boot.log.info((sink ? "sink" : "source") + " listening on TCP port " + String(port))
    }
  }

  mutating func step(now: Instant) -> Step {
    if connection == nil, let accepted = listener?.nextConnection() {
      connection = accepted
      listener?.close()
    }
    guard let connection else { return .idle }
    if let error = connection.error {
      console.print("tcp-bulk: " + error.description + " after " + String(moved) + " bytes")
      return .exit(1)
    }
    guard connection.isEstablished || connection.state == .closeWait || connection.state == .finWait1
      || connection.state == .finWait2 || connection.state == .timeWait || connection.state == .closed
    else { return .idle }
    if started == nil { started = now }
    if sink {
      while true {
        let count = chunk.withUnsafeMutableBytes { connection.read(into: $0) }
        if count == 0 { break }
        chunk.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        moved += count
      }
      if connection.isReceiveFinished, !finished {
        finished = true
        connection.close()
        return report(now: now)
      }
    } else {
      while moved < total {
        let length = min(chunk.count, total - moved)
        for index in 0..<length { chunk[index] = UInt8(truncatingIfNeeded: (moved + index) &* 31 &+ (moved + index) >> 11) }
        let written = chunk.withUnsafeBytes { connection.write(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        if written == 0 { break }
        chunk.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<written])) }
        moved += written
      }
      if moved == total, !finished {
        finished = true
        connection.close()
      }
      // Done once the peer has everything (our FIN acknowledged) and closed its side.
      if finished, connection.state == .timeWait || connection.state == .closed || connection.isReceiveFinished {
        return report(now: now)
      }
    }
    return .idle
  }

  mutating func report(now: Instant) -> Step {
    let nanoseconds = max((now - (started ?? now)).nanoseconds, 1)
    let megabits = Int64(moved) * 8 * 1000 / nanoseconds
    console.print(
      "tcp-bulk: " + (sink ? "received " : "sent ") + String(moved) + " bytes in " + String(nanoseconds / 1_000_000)
        + " ms: " + String(megabits) + " Mbit/s, sha256 " + digest.finalize())
    return .exit(0)
  }
}
