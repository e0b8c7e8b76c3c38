// Response-rate limiting (RRL) for UDP answers, against reflection: a forged source address
// can make a server send an amplified answer to a victim, so identical answers to one network
// are limited per second. Past the limit most are dropped and every `slip`-th one goes out
// truncated and empty: a real client then asks again over TCP, which cannot be forged, while
// the victim of a reflection gets small messages at a fraction of the rate. The scheme is
// BIND's and NSD's (Vixie and Schryver, "DNS Response Rate Limiting", 2012): buckets keyed by
// the client's network and the kind of answer, in a table of fixed size (colliding keys share
// a bucket, which can only make the limit stricter). TCP is never limited.

import SiroccoWire

/// What to do with one UDP response.
public enum RateDecision: Equatable, Sendable {
  case send
  /// Send instead an empty response with TC set (the client retries over TCP).
  case slip
  case drop
}

/// The kind of response a bucket counts: identical answers share one, as do all negative
/// answers from a zone (a random-name flood is one stream) and all errors.
public enum ResponseKind: UInt8, Sendable {
  case answer = 1
  case nameError = 2
  case referral = 3
  case error = 4
}

public final class ResponseRateLimiter {
  public struct Configuration: Sendable {
    /// Identical responses to one client network per second before limiting (0: never).
    public var responsesPerSecond: Int
    /// Every `slip`-th limited response is sent truncated instead of dropped (0: none, 1:
    /// all).
    public var slip: Int
    /// The client network: an IPv4 /24, an IPv6 /64 (NSD's defaults).
    public var ipv4PrefixLength = 24
    public var ipv6PrefixLength = 64
    /// Buckets in the table (a power of two).
    public var buckets = 16384

    public init(responsesPerSecond: Int, slip: Int = 2) {
      self.responsesPerSecond = responsesPerSecond
      self.slip = slip
    }
  }

  struct Bucket {
    var key: UInt64 = 0
    var second: Int64 = -1
    var count = 0
    var limited = 0
  }

  public let configuration: Configuration
  var table: [Bucket]
  public private(set) var dropped = 0
  public private(set) var slipped = 0

  public init(configuration: Configuration) {
    precondition(configuration.buckets > 0 && configuration.buckets & (configuration.buckets - 1) == 0,
                 "the bucket count must be a power of two")
    self.configuration = configuration
    table = [Bucket](repeating: Bucket(), count: configuration.buckets)
  }

  /// Counts a response of `kind` about `subject` (the question's name and type for answers,
  /// the zone for negative answers) to `client` at `second`, and says what to do with it.
  public func decide(client: IPAddress, kind: ResponseKind, subject: UInt64, second: Int64) -> RateDecision {
    guard configuration.responsesPerSecond > 0 else { return .send }
    var key = UInt64(kind.rawValue) &* 0x9e37_79b9_7f4a_7c15 ^ subject
    switch client {
    case .v4(let address):
      let mask: UInt32 = configuration.ipv4PrefixLength == 0 ? 0 : UInt32.max << UInt32(32 - configuration.ipv4PrefixLength)
      key = mix(key ^ UInt64(address.rawValue & mask))
    case .v6(let address):
      let length = configuration.ipv6PrefixLength
      let high = length >= 64 ? address.high : (length == 0 ? 0 : address.high & (UInt64.max << UInt64(64 - length)))
      let low = length <= 64 ? 0 : address.low & (UInt64.max << UInt64(128 - length))
      key = mix(mix(key ^ high) ^ low ^ 0x6)
    }
    let index = Int(truncatingIfNeeded: key) & (table.count - 1)
    if table[index].key != key || table[index].second != second {
      // A new second (or a new key taking the bucket over) starts a fresh count; the count of
      // limited responses carries on so that slipping stays regular across seconds.
      let limited = table[index].key == key ? table[index].limited : 0
      table[index] = Bucket(key: key, second: second, count: 0, limited: limited)
    }
    table[index].count += 1
    if table[index].count <= configuration.responsesPerSecond { return .send }
    table[index].limited += 1
    if configuration.slip > 0, table[index].limited % configuration.slip == 0 {
      slipped += 1
      return .slip
    }
    dropped += 1
    return .drop
  }

  /// A 64-bit finaliser (SplitMix64's): every input bit moves every output bit.
  func mix(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9e37_79b9_7f4a_7c15
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
}
