// Fuzz target: NTP packets. Any 48 bytes or more parse; the header emits back byte for byte
// (what follows it, extension fields, is ignored); a timestamp survives the trip through
// nanoseconds since 1970 within rounding (modulo 2^64: eras wrap).

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = rawBuffer(data, size)
  let parsed = Result { () throws(NTPError) in try NTPPacket.parse(bytes) }
  guard case .success(let packet) = parsed else {
    require(size < NTPPacket.length, "\(size) bytes refused")
    return 0
  }
  require(packet.bytes == Array(bytes.prefix(NTPPacket.length)), "\(packet) emits other bytes than it came from")
  for timestamp in [packet.reference, packet.origin, packet.receive, packet.transmit] {
    let back = NTPTimestamp(nanosecondsSinceEpoch: timestamp.nanosecondsSinceEpoch)
    // Modular: the last instant of an era rounds up to the first of the next.
    let drift = back.rawValue &- timestamp.rawValue
    require(min(drift, 0 &- drift) <= 5, "\(timestamp.rawValue) came back as \(back.rawValue)")
  }
  return 0
}
