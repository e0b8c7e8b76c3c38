// What sockets share with the stack that owns them: the counters, the queues of sockets with
// something to send, TCP's resets and its memory and challenge-ACK budgets.
//
// Sockets hold this (strongly) instead of a reference back into the stack: a connection
// marks itself ready here, and the stack, on its next flush, lets it hand its segments to
// the link the route picks. The context holds sockets only while they wait in a queue (the
// stack empties the queues on every flush, and on deinit), so no cycle outlives them.

import SiroccoDevices
import SiroccoWire

final class SocketContext {
  var counters = NetworkCounters()

  // MARK: TCP

  /// Connections with something to send on the next flush, in the order they became ready.
  var tcpTransmitReady: [TCPConnection] = []
  /// Resets to send on the next flush: for segments nobody owns, and for aborted connections.
  var pendingResets: [(endpoints: TCPEndpoints, sequence: SequenceNumber, acknowledgment: SequenceNumber?)] = []
  /// Connections that reached CLOSED since the stack last looked: it removes them from its
  /// table before it next demultiplexes.
  var closedConnections: [TCPConnection] = []
  /// Bytes in every TCP connection's buffers, and the limit on them (`Stack.Configuration`).
  var tcpBufferedBytes = 0
  var tcpMemoryLimit: Int
  var tcpMemoryAvailable: Int { max(tcpMemoryLimit - tcpBufferedBytes, 0) }
  /// The stack-wide challenge-ACK budget: what is left this second, and its start.
  let challengeACKLimit: Int
  var challengeACKsLeft = 0
  var challengeACKSecond: Instant?
  var random: SplitMix64

  // MARK: UDP

  /// Sockets with datagrams to send, in the order they first queued one.
  var udpTransmitReady: [UDPSocket] = []
  /// The largest UDP payload one unfragmented datagram carries on every link, by family.
  var udpMaximumPayload = (v4: 1500 - 28, v6: 1500 - 48)

  init(tcpMemoryLimit: Int, challengeACKLimit: Int, seed: UInt64) {
    self.tcpMemoryLimit = tcpMemoryLimit
    self.challengeACKLimit = challengeACKLimit
    self.random = SplitMix64(seed: seed)
  }

  /// Marks a connection as having something to send on the next flush.
  func tcpReady(_ connection: TCPConnection) {
    guard !connection.isQueuedForOutput else { return }
    connection.isQueuedForOutput = true
    tcpTransmitReady.append(connection)
  }

  /// Queues a RST (sent on the next flush).
  func sendReset(for endpoints: TCPEndpoints, sequence: SequenceNumber, acknowledgment: SequenceNumber?) {
    guard pendingResets.count < 64 else { return }
    pendingResets.append((endpoints, sequence, acknowledgment))
  }

  /// A connection reached CLOSED: the stack forgets it.
  func closed(_ connection: TCPConnection) { closedConnections.append(connection) }

  /// Takes one challenge ACK from this second's stack-wide budget, if any is left.
  func takeChallengeACK(now: Instant) -> Bool {
    if challengeACKSecond.map({ (now - $0).nanoseconds >= 1_000_000_000 }) ?? true {
      challengeACKSecond = now
      let limit = max(challengeACKLimit, 1)
      challengeACKsLeft = limit / 2 + Int(random.next() % UInt64(limit))
    }
    guard challengeACKsLeft > 0 else { return false }
    challengeACKsLeft -= 1
    return true
  }

  /// Empties the queues (the stack is going away): they are the only references from here
  /// to sockets.
  func release() {
    tcpTransmitReady.removeAll()
    closedConnections.removeAll()
    udpTransmitReady.removeAll()
  }
}
