// SYN cookies (RFC 4987 3.6): when a listener's backlog is full, answer a SYN without
// keeping any state, with an initial sequence number that encodes what the connection
// needs; the client's ACK then proves the handshake and the connection is made from it.
//
// The cookie: 5 bits of a 64-second counter, 3 bits of an MSS table index, and 24 bits of
// SipHash-2-4 over the four numbers of the connection, the client's ISN and the counter,
// keyed with the stack's secret. Window scale, SACK and timestamps are not encoded:
// a connection made from a cookie goes without them.

import SiroccoDevices
import SiroccoWire

/// The MSS values a cookie can encode (3 bits).
let synCookieMSS = [536, 1220, 1360, 1440, 1452, 1460, 4312, 8960]

extension Stack {
  func cookieCounter(_ now: Instant) -> UInt32 { UInt32(truncatingIfNeeded: now.nanoseconds / 64_000_000_000) }

  func synCookie(for endpoints: TCPEndpoints, clientSequence: UInt32, counter: UInt32, mssIndex: Int) -> UInt32 {
    var hash = SipHash24(key0: tcpSecret.0 ^ 0x5359_4e43_4f4f_4b49, key1: tcpSecret.1)
    hash.append(endpoints.localAddress)
    hash.append(endpoints.localPort)
    hash.append(endpoints.remoteAddress)
    hash.append(endpoints.remotePort)
    hash.append(clientSequence)
    hash.append(counter)
    let digest = UInt32(truncatingIfNeeded: hash.finalize()) & 0x00ff_ffff
    return (counter & 0x1f) << 27 | UInt32(mssIndex) << 24 | digest
  }

  /// Answers a SYN for a full listener with a cookie SYN-ACK (sent on the next flush).
  func sendCookie(for endpoints: TCPEndpoints, syn: TCPHeader, now: Instant) {
    let peerMSS = Int(syn.options.maximumSegmentSize ?? 536)
    let ourMSS = pathMTU(to: endpoints.remoteAddress, now: now) - endpoints.localAddress.headerLength - TCPHeader.minimumLength
    var index = 0
    for (candidate, mss) in synCookieMSS.enumerated() where mss <= min(peerMSS, ourMSS) { index = candidate }
    let cookie = synCookie(for: endpoints, clientSequence: syn.sequenceNumber, counter: cookieCounter(now), mssIndex: index)
    guard pendingCookies.count < 256 else { return }
    pendingCookies.append((endpoints, cookie, syn.sequenceNumber &+ 1, UInt16(ourMSS)))
    counters.tcpSYNCookiesSent &+= 1
  }

  /// If `ack` completes a cookie handshake, the connection it makes (established, queued
  /// on the listener); nil otherwise.
  func connectionFromCookie(_ ack: TCPHeader, endpoints: TCPEndpoints, listener: TCPListener, now: Instant) -> TCPConnection? {
    guard ack.flags.contains(.ack), !ack.flags.contains(.syn), !ack.flags.contains(.rst) else { return nil }
    let cookie = ack.acknowledgmentNumber &- 1
    let clientSequence = ack.sequenceNumber &- 1
    let current = cookieCounter(now)
    let mssIndex = Int(cookie >> 24 & 7)
    var valid = false
    for counter in [current, current &- 1] where counter & 0x1f == cookie >> 27 {
      if synCookie(for: endpoints, clientSequence: clientSequence, counter: counter, mssIndex: mssIndex) == cookie { valid = true }
    }
    guard valid, !listener.isClosed, !listener.ready.isFull, tcpConnections.count < configuration.maximumTCPConnections else {
      return nil
    }
    let connection = TCPConnection(
      endpoints: endpoints, context: context, mtu: pathMTU(to: endpoints.remoteAddress, now: now),
      configuration: listener.configuration, state: .established, initialSequence: SequenceNumber(cookie))
    connection.sndUna = SequenceNumber(cookie) + 1
    connection.sndNxt = connection.sndUna
    connection.sndMax = connection.sndUna
    connection.irs = SequenceNumber(clientSequence)
    connection.rcvNxt = SequenceNumber(ack.sequenceNumber)
    connection.advertisedEdge = connection.rcvNxt
    connection.peerMSS = synCookieMSS[mssIndex]
    connection.receiveWindowShift = 0
    connection.sndWnd = Int(ack.window)
    connection.sndWl1 = SequenceNumber(ack.sequenceNumber)
    connection.sndWl2 = SequenceNumber(ack.acknowledgmentNumber)
    connection.congestionWindow = connection.initialWindow
    connection.heardFromPeer(now: now)
    tcpConnections[endpoints] = connection
    listener.ready.push(connection)
    counters.tcpSYNCookiesAccepted &+= 1
    return connection
  }
}
