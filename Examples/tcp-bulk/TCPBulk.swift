// tcp-bulk: a sink or a source of bytes over one TCP connection, for throughput and
// correctness: it reports the byte count, the time, the throughput and a SHA-256 of what it
// received (sink) or sent (source), then exits 0.
//
//   --mode=sink    accept one connection on --port and read until the peer closes
//   --mode=source  accept one connection on --port and send --bytes bytes, then close
//   --connect=ADDR connect to ADDR:--port instead of accepting
//   --digest=false no SHA-256 here: a source sends a fixed pattern (byte p of the stream is
//                  p * 31 + p >> 11, mod 256) for its receiver to check; a sink checks that
//                  every byte it receives is the pattern's, and exits 1 at the first that is not

import Sirocco

@main
struct TCPBulk: Unikernel {
  static let name = "tcp-bulk"
  static var devices: [DeviceDeclaration] { [.network("service")] }
  static let parameters: [ParameterDeclaration] = [
    .choice("mode", ["sink", "source"], default: "sink", help: "receive or send"),
    .integer("port", default: 5001, range: 1...65535, help: "TCP port"),
    .integer("bytes", default: 100_000_000, range: 0...Int(Int64.max), help: "bytes a source sends"),
    .ipAddress("connect", default: nil, help: "connect to this address instead of listening"),
    .boolean("digest", default: true, help: "SHA-256 of what moved; false: the stream is a fixed pattern, checked byte for byte by a sink"),
  ]

  let service: any NetworkStack
  let console: any Console
  let sink: Bool
  let total: Int
  let port: UInt16
  let digesting: Bool
  var listener: (any TCPListening)?
  var connection: (any TCPStream)?
  var started: Instant?
  var moved = 0
  var digest = SHA256()
  var chunk = [UInt8](repeating: 0, count: 65536)
  var finished = false
  /// What a source sends: byte p of the stream is p * 31 + p >> 11 (mod 256), a pattern that
  /// repeats every 512 KiB, made once with a chunk's worth more so that any chunk is one slice.
  static let period = 2048 * 256
  var pattern: [UInt8] = []
  /// A sink without a digest: where the stream first differed from the pattern.
  var differsAt: Int?

  init(boot: Boot) throws(BootFailure) {
    service = boot.network("service")
    console = boot.console
    sink = boot.parameters.string("mode").map { $0.utf8Equals("sink") } ?? true
    total = boot.parameters.integer("bytes") ?? 0
    port = UInt16(boot.parameters.integer("port") ?? 5001)
    digesting = boot.parameters.boolean("digest")
    if !sink || !digesting {
      let count = Self.period + chunk.count
      pattern = [UInt8](unsafeUninitializedCapacity: count) { bytes, initialized in
        for p in 0..<count { bytes[p] = UInt8(truncatingIfNeeded: p &* 31 &+ p >> 11) }
        initialized = count
      }
    }
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
        if digesting {
          chunk.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        } else if differsAt == nil, let offset = firstDifference(count) {
          differsAt = moved + offset
        }
        moved += count
      }
      if connection.isReceiveFinished, !finished {
        finished = true
        connection.close()
        return report(now: now)
      }
    } else {
      while moved < total {
        // Up to a chunk of the pattern from where the stream is, as much as the connection takes.
        let length = min(chunk.count, total - moved)
        let start = moved % Self.period
        let written = pattern.withUnsafeBytes { bytes in
          let piece = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
          let written = connection.write(piece)
          if digesting { digest.update(UnsafeRawBufferPointer(rebasing: piece[0..<written])) }
          return written
        }
        if written == 0 { break }
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

  /// Where the first `count` bytes of `chunk` differ from the pattern at the stream's
  /// position (8 bytes at a time), if they do.
  func firstDifference(_ count: Int) -> Int? {
    let start = moved % Self.period
    return chunk.withUnsafeBytes { received in
      pattern.withUnsafeBytes { expected in
        var index = 0
        while index + 8 <= count,
          received.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            == expected.loadUnaligned(fromByteOffset: start + index, as: UInt64.self)
        {
          index += 8
        }
        while index < count, received[index] == expected[start + index] { index += 1 }
        return index < count ? index : nil
      }
    }
  }

  mutating func report(now: Instant) -> Step {
    let nanoseconds = max((now - (started ?? now)).nanoseconds, 1)
    let megabits = Int64(moved) * 8 * 1000 / nanoseconds
    let check: String
    if digesting {
      check = "sha256 " + digest.finalize()
    } else if !sink {
      check = "the pattern, not hashed"
    } else if let differsAt {
      check = "not the pattern from byte " + String(differsAt)
    } else {
      check = "the pattern, checked"
    }
    console.print(
      "tcp-bulk: " + (sink ? "received " : "sent ") + String(moved) + " bytes in " + String(nanoseconds / 1_000_000)
        + " ms: " + String(megabits) + " Mbit/s, " + check)
    return .exit(differsAt == nil ? 0 : 1)
  }
}
