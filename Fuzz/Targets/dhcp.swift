// Fuzz target: DHCP messages (the UDP payload), options overloaded into file and sname and
// long options split across instances included. An accepted message must emit every byte of
// its buffer length (at least 300), parse back equal, and emit the same bytes again; a
// refusal must describe itself.

import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDHCP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let message: DHCPMessage
  switch parseDHCP(rawBuffer(data, size)) {
  case .success(let parsed): message = parsed
  case .failure(let error):
    require(!error.description.isEmpty, "a refusal without a message")
    return 0
  }
  let length = message.bufferLength
  require(length >= DHCPMessage.minimumLength, "\(message) emits as \(length) bytes")
  let out = emitted(length) { message.emit(into: $0) }
  var overwritten = [UInt8](repeating: 0xa5, count: length)
  overwritten.withUnsafeMutableBytes { message.emit(into: $0) }
  require(overwritten == out, "\(message) leaves bytes of its buffer unwritten: \(hex(overwritten))")
  switch out.withUnsafeBytes({ parseDHCP($0) }) {
  case .success(let again):
    require(again == message, "\(message) parsed back as \(again)")
    require(emitted(again.bufferLength) { again.emit(into: $0) } == out, "\(again) emits other bytes")
  case .failure(let error):
    require(false, "\(message) re-emitted as \(hex(out)), which is refused: \(error)")
  }
  _ = message.description
  return 0
}

private func parseDHCP(_ bytes: UnsafeRawBufferPointer) -> Result<DHCPMessage, DHCPError> {
  Result { () throws(DHCPError) in try DHCPMessage.parse(bytes) }
}
