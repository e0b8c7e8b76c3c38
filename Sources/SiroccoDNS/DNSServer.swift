// The authoritative server's transports, over any `NetworkStack`: UDP (a response cut to the
// client's size, with TC, RFC 1035 4.2.1 and RFC 6891), TCP (RFC 7766: two-byte lengths, many
// queries on one connection answered in order as they arrive, an idle timeout) with zone
// transfers (AXFR, RFC 5936) to the networks allowed, and response-rate limiting on UDP. The
// answers are `Authority`'s. Driven by the application's step like the HTTP server:
// `step(now:)` does what can be done without waiting and says when to be called again.
//
// Read first: RFC 7766 6.2 (connection handling), RFC 5936 2.2 (the transfer's messages),
// RFC 6891 6.2.3-6.2.5 (the payload size), RateLimiter.swift.

import SiroccoDevices
import SiroccoNet
import SiroccoWire

public final class DNSServer {
  public struct Configuration: Sendable {
    /// The largest UDP response whatever the client offers, and the size our OPT record
    /// advertises: 1232 bytes, which no path fragments (DNS flag day 2020, NSD's default).
    public var maximumUDPSize = 1232
    /// A TCP connection with nothing under way is closed after this long (RFC 7766 6.2.3).
    public var idleTimeout: Duration = .seconds(10)
    /// TCP connections served at once; more wait in the listener's backlog.
    public var maximumConnections = 256
    /// Networks allowed to transfer zones (AXFR over TCP); none by default.
    public var transferClients: [IPNetwork] = []
    /// Response-rate limiting of UDP answers; nil: none.
    public var rateLimit: ResponseRateLimiter.Configuration? = nil
    public init() {}
  }

  /// What the server has done, for logs and tests.
  public struct Counters: Sendable {
    public var udpQueries = 0
    public var tcpQueries = 0
    /// Messages dropped (shorter than a header, or a response) or answered FORMERR.
    public var malformed = 0
    /// UDP responses cut to the client's size (TC).
    public var truncated = 0
    public var transfers = 0
    public var transfersRefused = 0
    /// TCP connections closed for being idle too long.
    public var timeouts = 0
  }

  final class Connection {
    let stream: any TCPStream
    /// Bytes received: queries, each after its two-byte length, from `consumed` on.
    var input: [UInt8] = []
    var consumed = 0
    /// Responses (with their lengths) not yet taken by the stream, from `sent` on.
    var output: [UInt8] = []
    var sent = 0
    /// A zone transfer under way: the messages are made as the stream takes them.
    var transfer: Transfer?
    var lastActivity: Instant
    /// Our FIN is sent: what arrives is read and dropped until the client closes too.
    var closed = false
    /// Queries wait beyond this turn's share.
    var hasMore = false

    init(stream: any TCPStream, now: Instant) {
      self.stream = stream
      lastActivity = now
    }

    var unsent: Int { output.count - sent }
  }

  struct Transfer {
    let zone: Zone
    let query: DNSMessage
    /// The next owner to send, in the zone's table; nil once the records are out (then the
    /// closing SOA).
    var position: Dictionary<DNSName, Zone.Node>.Index?
    /// Records taken from the table that did not fit in the last message.
    var pending: [ResourceRecord] = []
    var first = true
  }

  public let configuration: Configuration
  /// The zones served; replace it (or one of its zones) to reload.
  public var authority: Authority
  let udp: [any UDPEndpoint]
  let listener: (any TCPListening)?
  var connections: [Connection] = []
  public let rateLimiter: ResponseRateLimiter?
  let log: ((Text) -> Void)?
  public private(set) var counters = Counters()

  /// Serves `authority` on the UDP endpoints and the TCP listener given. `log` gets a line
  /// for each transfer and each refused one.
  public init(udp: [any UDPEndpoint], tcp: (any TCPListening)?, authority: Authority,
              configuration: Configuration = Configuration(), log: ((Text) -> Void)? = nil) {
    self.udp = udp
    self.listener = tcp
    self.authority = authority
    self.configuration = configuration
    self.rateLimiter = configuration.rateLimit.map { ResponseRateLimiter(configuration: $0) }
    self.log = log
  }

  public var openConnections: Int { connections.count }

  /// Datagrams answered in one step per endpoint before the others get their turn.
  static let datagramsPerTurn = 256
  /// Queries one TCP connection may have answered in one turn.
  static let queriesPerTurn = 64
  /// Responses waiting for the stream, beyond which a connection's queries are not read.
  static let outputBound = 65536

  /// Serves what can be served now; returns when the server next needs a step without new
  /// traffic.
  public func step(now: Instant) -> Instant? {
    var next: Instant?
    for socket in udp {
      var budget = Self.datagramsPerTurn
      while let datagram = socket.receive() {
        serve(datagram, on: socket, now: now)
        budget -= 1
        if budget == 0 {
          next = now
          break
        }
      }
    }
    if let listener {
      while connections.count < configuration.maximumConnections, let stream = listener.nextConnection() {
        connections.append(Connection(stream: stream, now: now))
      }
    }
    let wasFull = connections.count >= configuration.maximumConnections
    var index = 0
    while index < connections.count {
      let connection = connections[index]
      if serve(connection, now: now) {
        index += 1
        let deadline = connection.hasMore ? now : connection.lastActivity + configuration.idleTimeout
        next = next.map { min($0, deadline) } ?? deadline
      } else {
        connections.remove(at: index)
      }
    }
    if wasFull, connections.count < configuration.maximumConnections { next = now }
    return next
  }

  // MARK: Answers

  /// What a query gets.
  enum Reply {
    case none
    /// The response, and the size a UDP client takes (512 without EDNS; the client's EDNS
    /// size, 512 at least (RFC 6891 6.2.5), at most ours).
    case message(DNSMessage, udpSize: Int)
    case transfer(Zone, DNSMessage)
  }

  /// The reply to the message `bytes` from `client`.
  func reply(to bytes: UnsafeRawBufferPointer, from client: IPAddress, overTCP: Bool) -> Reply {
    // Shorter than a header, or a response: nothing (answering a response could start a loop
    // between two servers, RFC 5452 and common practice).
    guard bytes.count >= DNSMessage.headerLength, bytes[2] & 0x80 == 0 else {
      counters.malformed += 1
      return .none
    }
    let query: DNSMessage
    do {
      query = try DNSMessage.parse(bytes)
    } catch {
      counters.malformed += 1
      var response = DNSMessage(id: UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
      response.flags.isResponse = true
      response.flags.opcode = Opcode(rawValue: bytes[2] >> 3)
      response.flags.recursionDesired = bytes[2] & 1 != 0
      response.responseCode = .formatError
      return .message(response, udpSize: DNSMessage.classicUDPSize)
    }
    if query.flags.opcode == .query, query.questions.count == 1, query.edns.map({ $0.version == 0 }) ?? true {
      let question = query.questions[0]
      if question.type == .axfr || question.type == .ixfr {
        return transferReply(query, from: client, overTCP: overTCP)
      }
    }
    let udpSize = query.edns.map { min(max(Int($0.udpPayloadSize), DNSMessage.classicUDPSize), configuration.maximumUDPSize) }
    var response = authority.answer(query)
    response.edns?.udpPayloadSize = UInt16(configuration.maximumUDPSize)
    return .message(response, udpSize: udpSize ?? DNSMessage.classicUDPSize)
  }

  /// AXFR (and IXFR, answered with the whole zone as RFC 1995 4 allows) over TCP to an
  /// allowed client, for a zone's origin; REFUSED otherwise.
  func transferReply(_ query: DNSMessage, from client: IPAddress, overTCP: Bool) -> Reply {
    let question = query.questions[0]
    let zone = authority.zones.first { $0.origin == question.name }
    guard overTCP, let zone, configuration.transferClients.contains(where: { $0.contains(client) }) else {
      counters.transfersRefused += 1
      log?("transfer of \(question.name) to \(client) refused\(overTCP ? "" : " (over UDP)")")
      var response = DNSMessage(id: query.id, questions: query.questions)
      response.flags.isResponse = true
      response.flags.recursionDesired = query.flags.recursionDesired
      response.responseCode = .refused
      if query.edns != nil {
        response.edns = EDNS(udpPayloadSize: UInt16(configuration.maximumUDPSize), options: [ExtendedError.prohibited.option])
      }
      return .message(response, udpSize: DNSMessage.classicUDPSize)
    }
    counters.transfers += 1
    log?("transfer of \(zone.origin) (serial \(zone.serial)) to \(client)")
    return .transfer(zone, query)
  }

  /// The kind of `response` for rate limiting, and what identical responses share.
  func rateKey(_ response: DNSMessage) -> (ResponseKind, UInt64) {
    let question = response.questions.first
    switch response.responseCode {
    case .noError where !response.flags.authoritative && !response.authority.isEmpty:
      return (.referral, response.authority[0].name.fingerprint)
    case .noError:
      return (.answer, (question?.name.fingerprint ?? 0) ^ UInt64(question?.type.rawValue ?? 0) << 48)
    case .nameError:
      return (.nameError, response.authority.first?.name.fingerprint ?? 0)
    default:
      return (.error, UInt64(response.responseCode.rawValue))
    }
  }

  // MARK: UDP

  func serve(_ datagram: UDPDatagram, on socket: any UDPEndpoint, now: Instant) {
    counters.udpQueries += 1
    let outcome = datagram.payload.withUnsafeBytes { self.reply(to: $0, from: datagram.source, overTCP: false) }
    guard case .message(var response, let size) = outcome else { return }
    if let rateLimiter {
      let (kind, subject) = rateKey(response)
      switch rateLimiter.decide(client: datagram.source, kind: kind, subject: subject,
                                second: now.nanoseconds / 1_000_000_000) {
      case .send: break
      case .drop: return
      case .slip:
        response.answers = []
        response.authority = []
        response.additional = []
        response.flags.truncated = true
      }
    }
    let bytes = response.emit(maximumSize: min(size, socket.maximumPayload))
    if bytes[2] & 0x02 != 0 { counters.truncated += 1 }
    try? socket.send(bytes, to: datagram.source, port: datagram.sourcePort)
  }

  // MARK: TCP

  /// One connection's turn; false once it is finished with.
  func serve(_ connection: Connection, now: Instant) -> Bool {
    let stream = connection.stream
    if stream.error != nil || stream.state == .closed { return false }
    if connection.closed {
      while !stream.read(maximum: 65536).isEmpty {}
      guard !stream.isReceiveFinished else { return false }
      if now >= connection.lastActivity + configuration.idleTimeout {
        stream.abort()
        return false
      }
      return true
    }
    connection.hasMore = false
    flush(connection, now: now)
    var answered = 0
    while connection.unsent < Self.outputBound {
      if connection.transfer != nil {
        continueTransfer(connection)
        flush(connection, now: now)
        if connection.transfer != nil { break }
        continue
      }
      if let frame = nextFrame(connection) {
        if frame.isEmpty {
          // A zero length cannot be a message: the client is not speaking DNS.
          counters.malformed += 1
          return closeAndDrain(connection, now: now)
        }
        answer(frame, on: connection)
        answered += 1
        flush(connection, now: now)
        if answered == Self.queriesPerTurn {
          connection.hasMore = true
          break
        }
        continue
      }
      let received = stream.read(maximum: 65536)
      if received.isEmpty { break }
      connection.lastActivity = now
      if connection.consumed == connection.input.count {
        connection.input.removeAll(keepingCapacity: true)
        connection.consumed = 0
      } else if connection.consumed > 65536 {
        connection.input.removeSubrange(0..<connection.consumed)
        connection.consumed = 0
      }
      connection.input += received
    }
    let busy = connection.unsent > 0 || connection.transfer != nil
    if stream.isReceiveFinished, !busy, !connection.hasMore, peekFrame(connection) == nil {
      return closeAndDrain(connection, now: now)
    }
    if !connection.hasMore, now >= connection.lastActivity + configuration.idleTimeout {
      counters.timeouts += 1
      if busy {
        stream.abort()  // the client takes nothing of what it asked for
        return false
      }
      return closeAndDrain(connection, now: now)
    }
    return true
  }

  /// The next complete query's bytes (its length taken off), if one has arrived.
  func nextFrame(_ connection: Connection) -> ArraySlice<UInt8>? {
    guard let frame = peekFrame(connection) else { return nil }
    connection.consumed = frame.endIndex
    return frame
  }

  func peekFrame(_ connection: Connection) -> ArraySlice<UInt8>? {
    let start = connection.consumed
    let input = connection.input
    guard input.count - start >= 2 else { return nil }
    let length = Int(input[start]) << 8 | Int(input[start + 1])
    guard input.count - start - 2 >= length else { return nil }
    return input[(start + 2)..<(start + 2 + length)]
  }

  func answer(_ frame: ArraySlice<UInt8>, on connection: Connection) {
    counters.tcpQueries += 1
    let client = connection.stream.remoteAddress
    let outcome = frame.withUnsafeBytes { self.reply(to: $0, from: client, overTCP: true) }
    switch outcome {
    case .none: break
    case .message(let response, _): enqueue(response.emit(maximumSize: 65535), on: connection)
    case .transfer(let zone, let query):
      connection.transfer = Transfer(zone: zone, query: query, position: zone.nodes.startIndex)
      continueTransfer(connection)
    }
  }

  func enqueue(_ message: [UInt8], on connection: Connection) {
    if connection.sent == connection.output.count {
      connection.output.removeAll(keepingCapacity: true)
      connection.sent = 0
    }
    connection.output.append(UInt8(message.count >> 8))
    connection.output.append(UInt8(message.count & 0xff))
    connection.output += message
  }

  /// Records per transfer message (RFC 5936 2.2: as many as fit; a message of 100 records
  /// stays well under 64 KiB for all but huge TXT sets, which are split further).
  static let recordsPerTransferMessage = 100

  /// Queues the transfer's next message: the SOA first, every other record by owner, the SOA
  /// again last (RFC 5936 2.2); the question in the first message only.
  func continueTransfer(_ connection: Connection) {
    guard var transfer = connection.transfer else { return }
    var records = transfer.pending
    if transfer.first { records.append(transfer.zone.soa) }
    let nodes = transfer.zone.nodes
    while records.count < Self.recordsPerTransferMessage, let index = transfer.position {
      guard index != nodes.endIndex else {
        records.append(transfer.zone.soa)
        transfer.position = nil
        break
      }
      for rrset in nodes[index].value.rrsets where rrset[0].type != .soa { records += rrset }
      transfer.position = nodes.index(after: index)
    }
    var response = DNSMessage(id: transfer.query.id, questions: transfer.first ? transfer.query.questions : [])
    response.flags.isResponse = true
    response.flags.authoritative = true
    // As many as fit in one message: halved until they do (a record always fits alone).
    var count = records.count
    var bytes: [UInt8]
    repeat {
      response.answers = Array(records.prefix(count))
      bytes = response.emit(maximumSize: 65535)
      if bytes[2] & 0x02 == 0 || count == 1 { break }
      count = (count + 1) / 2
    } while true
    enqueue(bytes, on: connection)
    transfer.pending = Array(records.dropFirst(count))
    transfer.first = false
    connection.transfer = transfer.position == nil && transfer.pending.isEmpty ? nil : transfer
  }

  /// Moves queued responses into the stream as far as it takes them.
  func flush(_ connection: Connection, now: Instant) {
    guard connection.unsent > 0 else { return }
    let written = connection.output.withUnsafeBytes { bytes in
      connection.stream.write(UnsafeRawBufferPointer(rebasing: bytes[connection.sent...]))
    }
    if written > 0 {
      connection.sent += written
      connection.lastActivity = now
    }
  }

  /// Sends our FIN and keeps the connection until the client's (or a timeout), reading and
  /// dropping what arrives so that the stack does not reset a response in flight.
  func closeAndDrain(_ connection: Connection, now: Instant) -> Bool {
    connection.stream.close()
    connection.closed = true
    connection.lastActivity = now
    while !connection.stream.read(maximum: 65536).isEmpty {}
    return !connection.stream.isReceiveFinished && connection.stream.state != .closed
  }
}
