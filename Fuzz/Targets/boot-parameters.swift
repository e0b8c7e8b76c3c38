// Fuzz target: boot parameters. The input is a command line (up to its first NUL), split into
// words as every freestanding guest splits the one its tender or VMM passes
// (BootCommandLine.words: at unescaped spaces), parsed against declarations of every kind.
// Parsed values, written back as `--name=value`, escaped and joined into a command line as
// `sirocco run` writes it, must split and parse to the same values; a refusal must describe
// itself.

import SiroccoABI
import SiroccoRuntime
import SiroccoWire

/// The words of a command line, as the guest splits it.
func words(_ line: [UInt8]) -> [String] {
  (line + [0]).withUnsafeBufferPointer { BootCommandLine.words($0.baseAddress) }
}

let declarations: [ParameterDeclaration] = [
  .integer("port", default: 7, range: 1...65535, help: "port"),
  .integer("offset", default: 0, range: -100...100, help: "a signed adjustment"),
  .integer("retries", default: nil, range: 0...10, help: "retries"),
  .string("name", default: nil, help: "name", placeholder: "NAME"),
  .string("greeting", default: "hello", help: "what to say"),
  .ipv4Address("peer", default: nil, help: "peer"),
  .ipv4Network("ipv4", default: IPv4Network(address: IPv4Address(10, 0, 0, 2), prefixLength: 24), help: "address"),
  .ipv4Address("gateway", default: IPv4Address(10, 0, 0, 1), help: "gateway"),
  .boolean("verbose", help: "log more"),
  .boolean("checksums", default: true, help: "verify checksums"),
  .choice("mode", ["fast", "slow"], default: "fast", help: "speed"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBootParameters(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let line = Array(rawBuffer(data, size).prefix { $0 != 0 })
  let parameters: BootParameters
  do {
    parameters = try BootParameters.parse(words(line), declarations: declarations)
  } catch {
    require(!error.description.isEmpty, "a refusal without a message")
    return 0
  }
  var given: [String] = []
  for declaration in declarations where parameters.isGiven(declaration.name) {
    guard let value = parameters.value(declaration.name) else {
      require(false, "--\(declaration.name) given without a value")
      return 0
    }
    var text = Text()
    declaration.kind.write(value, to: &text)
    given.append("--" + declaration.name + "=" + String(text))
  }
  let written = Array(BootCommandLine.join(given).utf8)
  guard let again = try? BootParameters.parse(words(written), declarations: declarations) else {
    require(false, "\(given) does not parse")
    return 0
  }
  for declaration in declarations {
    require(
      again.value(declaration.name) == parameters.value(declaration.name)
        && again.isGiven(declaration.name) == parameters.isGiven(declaration.name),
      "--\(declaration.name): \(String(describing: parameters.value(declaration.name))) came back as "
        + "\(String(describing: again.value(declaration.name)))")
  }
  _ = parameters.description
  return 0
}
