// Fuzz target: zone files (the master format, as the DNS server reads them from its
// archive). Text the reader accepts must write back (one record per line, in presentation
// form) and read again as the same records; a refusal names a line inside the text. When the
// records make a zone, queries for each name get answers that write and read back whole.

import SiroccoDNS
import SiroccoWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZoneFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let text = Array(rawBuffer(data, size))
  let origin = try! DNSName("example.test.")
  let records: [ResourceRecord]
  do {
    records = try ZoneFile.parse(text, origin: origin, file: "fuzz.zone")
  } catch {
    let lines = text.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
    require(error.line >= 1 && error.line <= lines, "an error on line \(error.line) of \(lines): \(error)")
    require(!error.message.isEmpty, "a refusal without a message")
    return 0
  }
  var written = Text()
  for record in records {
    written.append("\(record.name) \(record.ttl) \(record.recordClass) \(record.type) \(record.data)\n")
  }
  do {
    let again = try ZoneFile.parse(written.bytes, origin: .root, file: "again.zone")
    require(again == records, "\(records) wrote as\n\(written)\nand read back as \(again)")
  } catch {
    require(false, "\(records) wrote as\n\(written)\nwhich is refused: \(error)")
  }
  guard let soa = records.first(where: { $0.type == .soa }), let zone = try? Zone(origin: soa.name, records: records) else { return 0 }
  let authority = Authority(zones: [zone])
  for record in records.prefix(64) {
    for type in [record.type, .a, .any] {
      let response = authority.answer(DNSMessage(id: 1, questions: [DNSQuestion(name: record.name, type: type)]))
      for size in [512, 65535] {
        let bytes = response.emit(maximumSize: size)
        require(bytes.count <= size, "a response of \(bytes.count) bytes for \(size)")
        switch bytes.withUnsafeBytes({ bytes in Result { () throws(DNSError) in try DNSMessage.parse(bytes) } }) {
        case .success(let parsed):
          if size == 65535, !parsed.flags.truncated {
            require(parsed.answers == response.answers, "the answer to \(record.name) \(type) read back otherwise")
          }
        case .failure(let error): require(false, "the answer to \(record.name) \(type) is refused when read: \(error)")
        }
      }
    }
  }
  return 0
}
