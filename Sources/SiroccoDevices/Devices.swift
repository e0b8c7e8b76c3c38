// The device interfaces every target implements: console, clocks, entropy.
//
// They are class-bound so that an application can hold them as `any Console` etc. (value
// existentials do not exist in Embedded Swift); the network device, on the hot path, is used
// only through generics.

import SiroccoWire

/// Where the unikernel's text output goes (stdout, a serial port, the tender's console).
public protocol Console: AnyObject {
  /// Writes all of `bytes`, blocking if it must.
  func write(_ bytes: UnsafeRawBufferPointer)
}

extension Console {
  public func write(_ text: Text) {
    text.bytes.withUnsafeBytes { write($0) }
  }

  /// Writes `text` and a newline (in one write).
  public func print(_ text: Text) {
    var line = text
    line.append(byte: UInt8(ascii: "\n"))
    write(line)
  }

  @_disfavoredOverload
  public func write(_ string: String) {
    string.withUTF8Bytes { write(UnsafeRawBufferPointer($0)) }
  }

  /// Writes `string` and a newline (in one write).
  @_disfavoredOverload
  public func print(_ string: String) {
    var line = Text()
    line.append(string)
    print(line)
  }
}

/// The monotonic clock: what the network core's deadlines are measured against.
public protocol MonotonicClock: AnyObject {
  func now() -> Instant
}

/// The wall clock (may jump when set).
public protocol WallClock: AnyObject {
  func now() -> WallTime
  /// How many times the clock has been set or stepped by its owner (NTP): a reader that
  /// carries a reading forward reads again when it changes. 0 for a platform's own clock.
  var settings: Int { get }
}

extension WallClock {
  public var settings: Int { 0 }
}

/// A source of cryptographically strong random bytes.
public protocol EntropySource: AnyObject {
  func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

extension EntropySource {
  public func randomUInt64() -> UInt64 {
    var value: UInt64 = 0
    withUnsafeMutableBytes(of: &value) { fill($0) }
    return value
  }
}

/// Something bytes can be appended to: a file on unix, used by the pcap writer.
public protocol ByteSink: AnyObject {
  func write(_ bytes: UnsafeRawBufferPointer)
}
