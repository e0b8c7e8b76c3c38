// ICMPv4 in the stack: the echo responder and the errors a host sends.
//
// Read first: RFC 792, RFC 1122 3.2.2 (a host must answer echo requests; must not send an
// error about an ICMP error, a broadcast, or a non-initial fragment), RFC 1812 4.3.2.8 (rate
// limiting).

import SiroccoDevices
import SiroccoWire

extension Stack {
  func processICMP(_ message: UnsafeRawBufferPointer, header: IPv4Header, isBroadcast: Bool, now: Instant) {
    let icmp: ICMPv4Message
    do {
      icmp = try ICMPv4Message.parse(message, verifyChecksum: configuration.verifyChecksums)
    } catch {
      return counters.drop(error == .badChecksum ? .badICMPChecksum : .malformedICMP)
    }
    guard case .echoRequest(let identifier, let sequenceNumber) = icmp, !isBroadcast else {
      // Echo to a broadcast address is ignored (RFC 1122 3.2.2.6 allows it; Linux does too).
      counters.icmpIgnored &+= 1
      return
    }
    let data = message.suffix(from: ICMPv4Message.headerLength)
    let sent = sendIPv4(to: header.source, protocol: .icmp, payloadLength: message.count, now: now) { reply, _ in
      reply.suffix(from: ICMPv4Message.headerLength).copyMemory(from: data)
      ICMPv4Message.echoReply(identifier: identifier, sequenceNumber: sequenceNumber).emit(into: reply)
    }
    if sent { counters.echoRepliesSent &+= 1 }
  }

  /// Sends an ICMP error about `packet` (the offending datagram, header first) to `source`,
  /// quoting as much of it as fits in 576 bytes (RFC 1812 4.3.2.3), if the rate limit allows.
  func sendICMPError(
    _ message: ICMPv4Message, quoting packet: UnsafeRawBufferPointer, to source: IPv4Address, now: Instant
  ) {
    guard takeICMPToken(now: now) else { return }
    let quoted = min(packet.count, 576 - IPv4Header.minimumLength - ICMPv4Message.headerLength)
    let sent = sendIPv4(
      to: source, protocol: .icmp, payloadLength: ICMPv4Message.headerLength + quoted, now: now
    ) { body, _ in
      body.suffix(from: ICMPv4Message.headerLength).copyMemory(from: packet.slice(from: 0, length: quoted))
      message.emit(into: body)
    }
    if sent { counters.icmpErrorsSent &+= 1 }
  }

  func takeICMPToken(now: Instant) -> Bool {
    if let last = icmpRefilled {
      let elapsed = (now - last).nanoseconds
      let earned = Int(elapsed / (1_000_000_000 / Int64(max(configuration.icmpErrorRate, 1))))
      if earned > 0 {
        icmpTokens = min(configuration.icmpErrorBurst, icmpTokens + earned)
        icmpRefilled = now
      }
    } else {
      icmpRefilled = now
    }
    guard icmpTokens > 0 else { return false }
    icmpTokens -= 1
    return true
  }
}
