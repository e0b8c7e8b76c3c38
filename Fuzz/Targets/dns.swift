// Fuzz target: DNS messages (a UDP payload or a TCP message without its length). An
// accepted message must write out (with compression, however the input pointed) and read
// back equal, and the second writing must give the same bytes; a refusal must describe
// itself. Reading is bounded by the input: no pointer loop, no name past 255 bytes.

import SiroccoDNS

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDNS(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let message: DNSMessage
  switch parseDNS(rawBuffer(data, size)) {
  case .success(let parsed): message = parsed
  case .failure(let error):
    require(!error.description.isEmpty, "a refusal without a message")
    return 0
  }
  let out = message.emit()
  switch out.withUnsafeBytes({ parseDNS($0) }) {
  case .success(let again):
    // Written whole unless 64 KiB could not hold it (an input whose pointers reached into
    // record data can expand): then it is cut, with TC and fewer records, and the rest is
    // not compared.
    require(out.count <= 65535, "a message longer than 64 KiB")
    let records = { (message: DNSMessage) in message.answers.count + message.authority.count + message.additional.count }
    if records(again) < records(message) {
      require(again.flags.truncated || again.additional.count < message.additional.count, "records left out without TC")
      return 0
    }
    require(again == message, "\(message) read back as \(again)")
    require(again.emit() == out, "\(again) writes other bytes")
  case .failure(let error):
    require(false, "\(message) written as \(hex(out)), which is refused: \(error)")
  }
  for record in message.answers + message.authority + message.additional { _ = record.data.description }
  return 0
}

private func parseDNS(_ bytes: UnsafeRawBufferPointer) -> Result<DNSMessage, DNSError> {
  Result { () throws(DNSError) in try DNSMessage.parse(bytes) }
}
