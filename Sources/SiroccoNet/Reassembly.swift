// IP fragment reassembly, for IPv4 now and IPv6 to come: one buffer per datagram in
// progress, keyed by what identifies it (RFC 791: source, destination, protocol and
// identification; RFC 8200 4.5: source, destination and identification), with hard bounds.
//
// Read first: RFC 791 3.2 (reassembly), RFC 815 (the hole list: what is still missing),
// RFC 1122 3.3.2 (a host must reassemble; the timeout; ICMP time exceeded when fragment
// zero was received), RFC 5722 and RFC 8200 4.5 (overlapping fragments: discard the whole
// datagram, which Linux does for IPv4 too since the FragmentSmack fixes).
//
// Bounds: datagrams in progress, bytes buffered over all of them, fragments per datagram,
// and a timeout. A new datagram that does not fit evicts the oldest, so a peer that sends
// first fragments and never the rest cannot shut reassembly out for the whole timeout.

import SiroccoDevices

public struct FragmentReassembly<Key: Hashable & Sendable>: Sendable {
  public struct Configuration: Sendable {
    /// How long a datagram may take to arrive whole (RFC 1122 3.3.2: 60 to 120 s
    /// recommended; Linux's `ipfrag_time` is 30 s, as here).
    public var timeout: Duration = .seconds(30)
    public var maximumDatagrams = 16
    /// Bytes of payload buffered over every datagram in progress.
    public var maximumBytes = 256 << 10
    /// Fragments one datagram may come in (at 1500 bytes, 64 KiB takes 45).
    public var maximumFragments = 64
    /// The largest reassembled payload: 65,515 for IPv4 (65,535 less a 20-byte header),
    /// 65,535 for IPv6 (the payload length field).
    public var maximumLength = 65535 - 20

    public init() {}
  }

  /// What became of a fragment.
  public enum Outcome: Equatable, Sendable {
    /// Kept (or an exact duplicate of one kept): the datagram is not whole yet.
    case queued
    /// The last missing piece: the whole payload, in order.
    case complete([UInt8])
    case refused(Refusal)
  }

  public enum Refusal: Equatable, Sendable {
    /// Empty, past the largest datagram, or not a multiple of 8 bytes before the last.
    case badGeometry
    /// Overlaps data already received differently, or disagrees about where the datagram
    /// ends: the whole datagram is discarded.
    case overlap
    /// More fragments than a datagram may have, or more bytes than the bound even alone.
    case limit
  }

  struct Datagram: Sendable {
    var data: [UInt8] = []
    /// The ranges received, sorted and disjoint (adjacent ones merged).
    var received: [Range<Int>] = []
    var fragments = 0
    /// Known once the last fragment (no more-fragments flag) has arrived.
    var length: Int?
    let deadline: Instant
    /// The leading bytes of fragment zero's packet, for an ICMP time exceeded.
    var first: [UInt8]?
    let sequence: UInt64
  }

  public let configuration: Configuration
  var datagrams: [Key: Datagram] = [:]
  var nextSequence: UInt64 = 0
  /// Payload bytes held over every datagram in progress.
  public private(set) var bufferedBytes = 0
  /// Datagrams discarded to make room for newer ones.
  public private(set) var evicted = 0

  public init(configuration: Configuration = Configuration()) { self.configuration = configuration }

  public var count: Int { datagrams.count }

  /// When the oldest datagram in progress times out.
  public var nextDeadline: Instant? { datagrams.values.map { $0.deadline }.min() }

  /// Adds the fragment carrying `payload` at byte `offset` of the datagram `key`; `more` is
  /// its more-fragments flag. `first`, for fragment zero, is what an ICMP error would quote.
  public mutating func add(
    _ payload: UnsafeRawBufferPointer, offset: Int, more: Bool, key: Key, now: Instant, first: UnsafeRawBufferPointer? = nil
  ) -> Outcome {
    let end = offset + payload.count
    guard !payload.isEmpty, offset >= 0, end <= configuration.maximumLength, !more || payload.count % 8 == 0 else {
      return .refused(.badGeometry)
    }
    guard end <= configuration.maximumBytes else { return .refused(.limit) }
    // Out of the table while it changes (no copy of its buffer); back in unless finished.
    let isNew = datagrams[key] == nil
    var datagram = datagrams.removeValue(forKey: key) ?? Datagram(deadline: now + configuration.timeout, sequence: nextSequence)
    if isNew { nextSequence &+= 1 }
    func discard(_ refusal: Refusal) -> Outcome {
      bufferedBytes -= datagram.data.count
      return .refused(refusal)
    }
    // Where the datagram ends must agree with every fragment.
    if let length = datagram.length, more ? end >= length : end != length { return discard(.overlap) }
    if !more, let last = datagram.received.last, last.upperBound > end { return discard(.overlap) }
    // An exact duplicate is harmless; any other overlap is not.
    let range = offset..<end
    if datagram.received.contains(where: { $0.overlaps(range) }) {
      guard datagram.received.contains(where: { $0.contains(offset) && $0.contains(end - 1) }),
        datagram.data[range].elementsEqual(payload)
      else { return discard(.overlap) }
      datagrams[key] = datagram
      return .queued
    }
    guard datagram.fragments < configuration.maximumFragments else { return discard(.limit) }
    // Room for this datagram's growth, evicting the oldest others if need be.
    let growth = max(end - datagram.data.count, 0)
    while bufferedBytes + growth > configuration.maximumBytes || (isNew && datagrams.count >= configuration.maximumDatagrams),
      let oldest = datagrams.min(by: { $0.value.sequence < $1.value.sequence })?.key
    {
      remove(oldest)
      evicted += 1
    }
    if growth > 0 { datagram.data.append(contentsOf: repeatElement(0, count: growth)) }
    bufferedBytes += growth
    datagram.data.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: offset).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
    datagram.fragments += 1
    if !more { datagram.length = end }
    if offset == 0, let first { datagram.first = Array(first.prefix(68)) }
    insert(range, into: &datagram.received)
    if let length = datagram.length, datagram.received == [0..<length] {
      bufferedBytes -= datagram.data.count
      return .complete(datagram.data)
    }
    datagrams[key] = datagram
    return .queued
  }

  /// Discards every datagram whose time is up; returns, for each, fragment zero's leading
  /// bytes if it arrived (RFC 1122 3.3.2: then an ICMP time exceeded, code 1, is due).
  public mutating func expire(now: Instant) -> [(key: Key, first: [UInt8]?)] {
    var expired: [(key: Key, first: [UInt8]?)] = []
    for (key, datagram) in datagrams where datagram.deadline <= now { expired.append((key, datagram.first)) }
    for entry in expired { remove(entry.key) }
    return expired
  }

  mutating func remove(_ key: Key) {
    guard let datagram = datagrams.removeValue(forKey: key) else { return }
    bufferedBytes -= datagram.data.count
  }

  /// Inserts `range` (disjoint from every range there) and merges it with its neighbours.
  func insert(_ range: Range<Int>, into ranges: inout [Range<Int>]) {
    var index = ranges.firstIndex { $0.lowerBound > range.lowerBound } ?? ranges.count
    ranges.insert(range, at: index)
    if index + 1 < ranges.count, ranges[index].upperBound == ranges[index + 1].lowerBound {
      ranges[index] = ranges[index].lowerBound..<ranges[index + 1].upperBound
      ranges.remove(at: index + 1)
    }
    if index > 0, ranges[index - 1].upperBound == ranges[index].lowerBound {
      ranges[index - 1] = ranges[index - 1].lowerBound..<ranges[index].upperBound
      ranges.remove(at: index)
      index -= 1
    }
  }
}
