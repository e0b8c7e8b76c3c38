// IPv4 fragments in the stack: datagrams that arrive in pieces are put back together
// (Reassembly.swift), and datagrams larger than the MTU leave in pieces.
//
// Read first: RFC 791 2.3 and 3.2 (fragmentation), RFC 1122 3.3.2 (a host must reassemble
// datagrams up to 576 bytes at least, here up to 64 KiB, and may send ICMP time exceeded,
// code 1, when reassembly times out with fragment zero received), RFC 6864 (identification:
// unique per source, destination and protocol for as long as fragments may live).

import SiroccoDevices
import SiroccoWire

/// What identifies the fragments of one IPv4 datagram (RFC 791 3.2).
public struct IPv4FragmentKey: Hashable, Sendable {
  public var source: IPv4Address
  public var destination: IPv4Address
  public var `protocol`: UInt8
  public var identification: UInt16
}

extension Stack {
  /// Takes one received fragment; once its datagram is whole, handles it as if it had
  /// arrived in one piece.
  func reassemble(
    _ body: UnsafeRawBufferPointer, packet: UnsafeRawBufferPointer, header: IPv4Header, link: Link, linkBroadcast: Bool,
    now: Instant
  ) {
    let key = IPv4FragmentKey(
      source: header.source, destination: header.destination, protocol: header.protocol.rawValue,
      identification: header.identification)
    switch reassembly.add(body, offset: header.fragmentOffset, more: header.moreFragments, key: key, now: now, first: packet) {
    case .queued:
      counters.ipv4FragmentsQueued &+= 1
    case .refused(.badGeometry):
      counters.drop(.ipv4Fragment)
    case .refused(.overlap):
      counters.drop(.fragmentOverlap)
    case .refused(.limit):
      counters.drop(.reassemblyLimit)
    case .complete(let payload):
      counters.ipv4DatagramsReassembled &+= 1
      var whole = header
      whole.totalLength = IPv4Header.minimumLength + payload.count
      whole.moreFragments = false
      whole.fragmentOffset = 0
      var datagram = [UInt8](repeating: 0, count: whole.totalLength)
      datagram.withUnsafeMutableBytes { bytes in
        whole.emit(into: bytes)
        payload.withUnsafeBytes { bytes.suffix(from: IPv4Header.minimumLength).copyMemory(from: $0) }
      }
      frame = nil
      datagram.withUnsafeBytes { processIPv4($0, link: link, linkBroadcast: linkBroadcast, now: now) }
    }
    counters.drop(.reassemblyEvicted, count: reassembly.evicted - reassemblyEvictionsCounted)
    reassemblyEvictionsCounted = reassembly.evicted
  }

  /// Discards the datagrams whose time is up, with an ICMP time exceeded (code 1) to the
  /// sender of each whose fragment zero arrived, unless it was sent to a broadcast address.
  func expireFragments(now: Instant) {
    for expired in reassembly.expire(now: now) {
      counters.drop(.reassemblyTimeout)
      guard let first = expired.first, !expired.key.destination.isBroadcast, isLocal(expired.key.destination) else {
        continue
      }
      first.withUnsafeBytes { quoted in
        sendICMPError(.timeExceeded(code: 1), quoting: quoted, to: expired.key.source, now: now)
      }
    }
  }

  /// Sends the packet `header` describes in fragments of at most the MTU (the payload cut
  /// at multiples of 8 bytes), each resolved or queued for ARP like any packet. A datagram
  /// that lost a fragment is lost whole, so the first fragment dropped (or that pushes a
  /// waiting packet out of the ARP queue, which holds 8 per destination) ends it: one drop
  /// counted per datagram. Returns false then.
  func sendFragments(
    of header: IPv4Header, to hop: IPv4Address, on link: Link, now: Instant, offload: TransmitOffload?,
    fill: (UnsafeMutableRawBufferPointer) -> Void
  ) -> Bool {
    let whole = packet(header, offload: offload, fill: fill)
    let payloadLength = header.totalLength - IPv4Header.minimumLength
    let piece = (link.ipv4MTU - IPv4Header.minimumLength) & ~7
    var offset = 0
    while offset < payloadLength {
      let length = min(piece, payloadLength - offset)
      var fragment = header
      fragment.totalLength = IPv4Header.minimumLength + length
      fragment.fragmentOffset = offset
      fragment.moreFragments = offset + length < payloadLength
      var bytes = [UInt8](repeating: 0, count: fragment.totalLength)
      bytes.withUnsafeMutableBytes { buffer in
        fragment.emit(into: buffer)
        whole.withUnsafeBytes {
          buffer.suffix(from: IPv4Header.minimumLength).copyMemory(from: $0.slice(from: IPv4Header.minimumLength + offset, length: length))
        }
      }
      let drops = counters.totalDrops
      guard deliver(bytes, to: hop, on: link, now: now), counters.totalDrops == drops else { return false }
      counters.ipv4FragmentsSent &+= 1
      offset += length
    }
    return true
  }
}
