// Typed boot parameters: declared by the runtime, the platform and the application, parsed
// from the command line the same way on every target.
//
// Syntax (as MirageOS and Solo5 pass them): `--name=value`, or `--name value`; a boolean is
// `--name`, `--name=true` or `--name=false`. `--help` asks for the list. Every error is one
// line naming the parameter and what was expected; the caller exits with status 2.

import SiroccoWire

public enum ParameterKind: Sendable, Equatable {
  case integer(ClosedRange<Int>)
  case string
  case boolean
  case choice([String])
  /// A value read and written by its format's functions (addresses, networks): an image
  /// links the parser and printer of a format only when it declares such a parameter, so
  /// an application without a network device carries no IPv6 text code.
  case formatted(ParameterFormat)

  public static var ipv4Address: ParameterKind { .formatted(.ipv4Address) }
  public static var ipv4Network: ParameterKind { .formatted(.ipv4Network) }
  public static var ipAddress: ParameterKind { .formatted(.ipAddress) }
  public static var ipv6Address: ParameterKind { .formatted(.ipv6Address) }
  public static var ipv6Network: ParameterKind { .formatted(.ipv6Network) }

  /// What a value of this kind looks like, for errors: "an integer in 1...65535".
  public var expectation: Text {
    switch self {
    case .integer(let range): "an integer in \(range.lowerBound)...\(range.upperBound)"
    case .string: "a non-empty string"
    case .boolean: "true or false"
    case .choice(let choices): "one of \(Choices(choices: choices, separator: ", "))"
    case .formatted(let format): Text(stringLiteral: format.expectation)
    }
  }

  var placeholder: StaticString {
    switch self {
    case .integer: "N"
    case .string: "STRING"
    case .boolean: ""
    case .choice: "VALUE"
    case .formatted(let format): format.placeholder
    }
  }

  var typeName: Text {
    switch self {
    case .integer(let range): "integer \(range.lowerBound)...\(range.upperBound)"
    case .string: "string"
    case .boolean: "boolean"
    case .choice(let choices): "\(Choices(choices: choices, separator: "|"))"
    case .formatted(let format): Text(stringLiteral: format.typeName)
    }
  }

  func parse(_ text: String) -> ParameterValue? {
    switch self {
    case .integer(let range):
      guard let value = text.withUTF8Bytes(Self.signedDecimal), range.contains(value) else { return nil }
      return .integer(value)
    case .string:
      return text.isEmpty ? nil : .string(text)
    case .boolean:
      if text.utf8Equals("true") { return .boolean(true) }
      if text.utf8Equals("false") { return .boolean(false) }
      return nil
    case .choice(let choices):
      return choices.contains { $0.utf8Equals(text) } ? .string(text) : nil
    case .formatted(let format):
      return text.withUTF8Bytes(format.parse)
    }
  }

  /// Writes `value`, a value of this kind.
  @inline(never)  // Used by --help and by BootParameters.description: one copy.
  public func write(_ value: ParameterValue, to text: inout Text) {
    if case .formatted(let format) = self { return format.write(value, to: &text) }
    switch value {
    case .integer(let value): text.append(decimal: value)
    case .string(let value): text.append(value)
    case .boolean(let value): text.append(value ? "true" : "false")
    default: break
    }
  }

  /// ASCII decimal digits with an optional leading `-`.
  static func signedDecimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
    guard bytes.first == UInt8(ascii: "-") else { return asciiDecimal(bytes) }
    return asciiDecimal(UnsafeBufferPointer(rebasing: bytes[1...])).map { -$0 }
  }
}

/// How the values of a formatted kind are read and written, and described. The functions
/// are C function pointers, which are trivial values: a declaration stays cheap to copy, and
/// only the formats an image uses are linked into it.
public struct ParameterFormat: Sendable, Equatable {
  /// For errors: "an IPv4 address such as 10.0.0.1".
  public let expectation: StaticString
  /// In `--help`'s left column: "ADDR".
  public let placeholder: StaticString
  /// In `--help`'s right column: "IPv4 address".
  public let typeName: StaticString
  /// Parses the bytes (start, count) into the `ParameterValue` at the third pointer
  /// (uninitialized memory); returns whether it did.
  let parser: @convention(c) (UnsafePointer<UInt8>?, Int, UnsafeMutableRawPointer) -> Bool
  /// Appends the `ParameterValue` at the first pointer to the `Text` at the second.
  let writer: @convention(c) (UnsafeRawPointer, UnsafeMutableRawPointer) -> Void

  public static func == (a: ParameterFormat, b: ParameterFormat) -> Bool {
    a.typeName.utf8CodeUnitCount == b.typeName.utf8CodeUnitCount
      && a.typeName.withUTF8Buffer { x in b.typeName.withUTF8Buffer { y in x.elementsEqual(y) } }
  }

  func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> ParameterValue? {
    let slot = UnsafeMutablePointer<ParameterValue>.allocate(capacity: 1)
    defer { slot.deallocate() }
    guard parser(bytes.baseAddress, bytes.count, UnsafeMutableRawPointer(slot)) else { return nil }
    return slot.move()
  }

  public func write(_ value: ParameterValue, to text: inout Text) {
    withUnsafePointer(to: value) { value in withUnsafeMutablePointer(to: &text) { writer(value, $0) } }
  }

  /// A format from a parser and a printer of one value type.
  static func reading(
    _ bytes: UnsafePointer<UInt8>?, _ count: Int, into slot: UnsafeMutableRawPointer,
    _ parse: (UnsafeBufferPointer<UInt8>) -> ParameterValue?
  ) -> Bool {
    guard let value = parse(UnsafeBufferPointer(start: bytes, count: count)) else { return false }
    slot.initializeMemory(as: ParameterValue.self, to: value)
    return true
  }

  public static var ipv4Address: ParameterFormat {
    ParameterFormat(
      expectation: "an IPv4 address such as 10.0.0.1", placeholder: "ADDR", typeName: "IPv4 address",
      parser: { ParameterFormat.reading($0, $1, into: $2, { bytes in IPv4Address(utf8: bytes).map { .ipv4Address($0) } }) },
      writer: { value, text in
        guard case .ipv4Address(let address) = value.load(as: ParameterValue.self) else { return }
        address.write(to: &text.assumingMemoryBound(to: Text.self).pointee)
      })
  }

  public static var ipv4Network: ParameterFormat {
    ParameterFormat(
      expectation: "an IPv4 address with a prefix length such as 10.0.0.2/24", placeholder: "ADDR/PREFIX",
      typeName: "IPv4 address/prefix",
      parser: { ParameterFormat.reading($0, $1, into: $2, { bytes in IPv4Network(utf8: bytes).map { .ipv4Network($0) } }) },
      writer: { value, text in
        guard case .ipv4Network(let network) = value.load(as: ParameterValue.self) else { return }
        network.write(to: &text.assumingMemoryBound(to: Text.self).pointee)
      })
  }

  public static var ipv6Address: ParameterFormat {
    ParameterFormat(
      expectation: "an IPv6 address such as fd00::1", placeholder: "ADDR", typeName: "IPv6 address",
      parser: { ParameterFormat.reading($0, $1, into: $2, { bytes in IPv6Address(utf8: bytes).map { .ipv6Address($0) } }) },
      writer: { value, text in
        guard case .ipv6Address(let address) = value.load(as: ParameterValue.self) else { return }
        address.write(to: &text.assumingMemoryBound(to: Text.self).pointee)
      })
  }

  public static var ipv6Network: ParameterFormat {
    ParameterFormat(
      expectation: "an IPv6 address with a prefix length such as fd00::2/64", placeholder: "ADDR/PREFIX",
      typeName: "IPv6 address/prefix",
      parser: { ParameterFormat.reading($0, $1, into: $2, { bytes in IPv6Network(utf8: bytes).map { .ipv6Network($0) } }) },
      writer: { value, text in
        guard case .ipv6Network(let network) = value.load(as: ParameterValue.self) else { return }
        network.write(to: &text.assumingMemoryBound(to: Text.self).pointee)
      })
  }

  public static var ipAddress: ParameterFormat {
    ParameterFormat(
      expectation: "an IPv4 or IPv6 address such as 10.0.0.1 or fd00::1", placeholder: "ADDR", typeName: "IP address",
      parser: { ParameterFormat.reading($0, $1, into: $2, { bytes in IPAddress(utf8: bytes).map { .ipAddress($0) } }) },
      writer: { value, text in
        guard case .ipAddress(let address) = value.load(as: ParameterValue.self) else { return }
        address.write(to: &text.assumingMemoryBound(to: Text.self).pointee)
      })
  }
}

/// A choice's words with a separator between them.
struct Choices: TextConvertible {
  var choices: [String]
  var separator: StaticString

  func write(to text: inout Text) {
    for (index, choice) in choices.enumerated() {
      if index > 0 { text.append(literal: separator) }
      text.append(choice)
    }
  }
}

public enum ParameterValue: Sendable, Equatable {
  case integer(Int)
  case string(String)
  case ipv4Address(IPv4Address)
  case ipv4Network(IPv4Network)
  case ipAddress(IPAddress)
  case ipv6Address(IPv6Address)
  case ipv6Network(IPv6Network)
  case boolean(Bool)
}

/// One boot parameter: its name (without `--`), kind, default and help text. A parameter
/// without a default is optional: unset unless given.
public struct ParameterDeclaration: Sendable {
  public var name: String
  public var kind: ParameterKind
  public var defaultValue: ParameterValue?
  public var help: String
  /// Shown instead of the kind's placeholder in `--help` (`FILE` rather than `STRING`).
  public var placeholder: String?

  public init(name: String, kind: ParameterKind, default defaultValue: ParameterValue?, help: String, placeholder: String? = nil) {
    self.name = name
    self.kind = kind
    self.defaultValue = defaultValue
    self.help = help
    self.placeholder = placeholder
  }

  public static func integer(_ name: String, default value: Int?, range: ClosedRange<Int>, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .integer(range), default: value.map { .integer($0) }, help: help)
  }

  public static func string(_ name: String, default value: String?, help: String, placeholder: String? = nil) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .string, default: value.map { .string($0) }, help: help, placeholder: placeholder)
  }

  public static func boolean(_ name: String, default value: Bool = false, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .boolean, default: .boolean(value), help: help)
  }

  public static func ipv4Address(_ name: String, default value: IPv4Address?, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .ipv4Address, default: value.map { .ipv4Address($0) }, help: help)
  }

  public static func ipv4Network(_ name: String, default value: IPv4Network?, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .ipv4Network, default: value.map { .ipv4Network($0) }, help: help)
  }

  public static func ipv6Address(_ name: String, default value: IPv6Address?, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .ipv6Address, default: value.map { .ipv6Address($0) }, help: help)
  }

  public static func ipv6Network(_ name: String, default value: IPv6Network?, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .ipv6Network, default: value.map { .ipv6Network($0) }, help: help)
  }

  /// An address of either family (`10.0.0.1`, `fd00::1`).
  public static func ipAddress(_ name: String, default value: IPAddress?, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .ipAddress, default: value.map { .ipAddress($0) }, help: help)
  }

  public static func choice(_ name: String, _ choices: [String], default value: String, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .choice(choices), default: .string(value), help: help)
  }
}

public enum ParameterError: Error, Equatable, Sendable {
  case unknown(String)
  case missingValue(String, expected: Text)
  case badValue(String, value: String, expected: Text)
  case repeated(String)
  case unexpectedArgument(String)
  /// A parameter with no default that this configuration needs.
  case required(String, expected: Text)
  /// Two parameters that set the same thing, both given.
  case conflicting(String, String)
  /// `--help` was given: print `BootParameters.usage` and exit 0.
  case helpRequested
}

extension ParameterError: CustomStringConvertible, TextConvertible {
  public var description: String { String(Text(self)) }

  /// One line: which parameter, what was wrong, what was expected.
  public func write(to text: inout Text) {
    switch self {
    case .unknown(let name):
      text.append("unknown boot parameter '--\(name)' (run with --help for the list)")
    case .missingValue(let name, let expected):
      text.append("boot parameter --\(name) needs a value: expected \(expected)")
    case .badValue(let name, let value, let expected):
      text.append("bad value '\(value)' for boot parameter --\(name): expected \(expected)")
    case .repeated(let name):
      text.append("boot parameter --\(name) given more than once: expected it at most once")
    case .unexpectedArgument(let argument):
      text.append("unexpected argument '\(argument)': expected boot parameters of the form --name=value")
    case .required(let name, let expected):
      text.append("boot parameter --\(name) is required: expected \(expected)")
    case .conflicting(let first, let second):
      text.append("boot parameters --\(first) and --\(second) set the same thing: expected one of them")
    case .helpRequested:
      text.append("help requested")
    }
  }
}

/// The parsed parameters: every declared one that has a value (given or default).
public struct BootParameters: Sendable {
  public let declarations: [ParameterDeclaration]
  /// One per declaration, in the same order: its value (given or default), if any.
  var values: [(value: ParameterValue?, given: Bool)]

  /// Parses `arguments` (without the program name) against `declarations`.
  public static func parse(_ arguments: [String], declarations: [ParameterDeclaration]) throws(ParameterError) -> BootParameters {
    var given = [ParameterValue?](repeating: nil, count: declarations.count)
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      guard let (name, inline) = argument.withUTF8Bytes(splitOption) else { throw .unexpectedArgument(argument) }
      if name.utf8Equals("help") { throw .helpRequested }
      guard let position = declarations.firstIndex(where: { $0.name.utf8Equals(name) }) else { throw .unknown(name) }
      if given[position] != nil { throw .repeated(name) }
      let kind = declarations[position].kind
      var text: String
      if let inline {
        text = inline
      } else if case .boolean = kind {
        text = "true"
      } else if index < arguments.count, !arguments[index].utf8HasPrefix("--") {
        text = arguments[index]
        index += 1
      } else {
        throw .missingValue(name, expected: kind.expectation)
      }
      guard let value = kind.parse(text) else { throw .badValue(name, value: text, expected: kind.expectation) }
      given[position] = value
    }
    var values: [(value: ParameterValue?, given: Bool)] = []
    for (declaration, value) in zip(declarations, given) {
      values.append(value.map { ($0, true) } ?? (declaration.defaultValue, false))
    }
    return BootParameters(declarations: declarations, values: values)
  }

  /// `--name=text` or `--name` (split at the first `=` byte); nil for anything else.
  static func splitOption(_ bytes: UnsafeBufferPointer<UInt8>) -> (name: String, text: String?)? {
    guard bytes.count > 2, bytes[0] == UInt8(ascii: "-"), bytes[1] == UInt8(ascii: "-") else { return nil }
    let body = UnsafeBufferPointer(rebasing: bytes[2...])
    guard let equals = body.firstIndex(of: UInt8(ascii: "=")) else { return (String(utf8Bytes: body), nil) }
    return (String(utf8Bytes: UnsafeBufferPointer(rebasing: body[..<equals])),
            String(utf8Bytes: UnsafeBufferPointer(rebasing: body[(equals + 1)...])))
  }

  /// The `--help` text: one line per parameter with its type and default.
  public static func usage(program: String, declarations: [ParameterDeclaration], extra: String = "") -> Text {
    var text: Text = "usage: \(program) "
    if !extra.isEmpty { text.append("\(extra) ") }
    text.append("[BOOT-PARAMETERS]\n\nboot parameters:\n")
    // The left column: `  --name=PLACEHOLDER`, as wide as the widest (and `  --help`).
    var entries: [Text] = []
    var column = 8
    for declaration in declarations {
      var entry: Text = "  --\(declaration.name)"
      if let placeholder = declaration.placeholder {
        entry.append("=\(placeholder)")
      } else if declaration.kind.placeholder.utf8CodeUnitCount > 0 {
        entry.append("=")
        entry.append(literal: declaration.kind.placeholder)
      }
      column = max(column, entry.bytes.count)
      entries.append(entry)
    }
    for (declaration, entry) in zip(declarations, entries) {
      var line = entry
      line.pad(to: column + 2)
      line.append("\(declaration.help) (\(declaration.kind.typeName)")
      if let value = declaration.defaultValue {
        line.append(", default ")
        declaration.kind.write(value, to: &line)
        line.append(")\n")
      } else {
        line.append(", optional)\n")
      }
      text.append(line)
    }
    var help: Text = "  --help"
    help.pad(to: column + 2)
    text.append(help)
    text.append("print this list and exit\n")
    return text
  }

  /// Whether `name` is among the declarations (reading an undeclared one is a programming
  /// error and traps).
  public func declares(_ name: String) -> Bool {
    declarations.contains { $0.name.utf8Equals(name) }
  }

  public func value(_ name: String) -> ParameterValue? {
    guard let index = declarations.firstIndex(where: { $0.name.utf8Equals(name) }) else {
      preconditionFailure("boot parameter was never declared")
    }
    return values[index].value
  }

  /// Whether the parameter was given on the command line (rather than defaulted).
  public func isGiven(_ name: String) -> Bool {
    guard let index = declarations.firstIndex(where: { $0.name.utf8Equals(name) }) else { return false }
    return values[index].given
  }

  public func integer(_ name: String) -> Int? {
    guard case .integer(let value)? = value(name) else { return nil }
    return value
  }

  public func string(_ name: String) -> String? {
    guard case .string(let value)? = value(name) else { return nil }
    return value
  }

  public func boolean(_ name: String) -> Bool {
    guard case .boolean(let value)? = value(name) else { return false }
    return value
  }

  public func ipv4Address(_ name: String) -> IPv4Address? {
    guard case .ipv4Address(let value)? = value(name) else { return nil }
    return value
  }

  public func ipv6Address(_ name: String) -> IPv6Address? {
    guard case .ipv6Address(let value)? = value(name) else { return nil }
    return value
  }

  public func ipv6Network(_ name: String) -> IPv6Network? {
    guard case .ipv6Network(let value)? = value(name) else { return nil }
    return value
  }

  public func ipAddress(_ name: String) -> IPAddress? {
    guard case .ipAddress(let value)? = value(name) else { return nil }
    return value
  }

  public func ipv4Network(_ name: String) -> IPv4Network? {
    guard case .ipv4Network(let value)? = value(name) else { return nil }
    return value
  }
}

extension BootParameters: CustomStringConvertible, TextConvertible {
  /// `--name=value` for every parameter with a value, in declaration order.
  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    var separator = false
    for (declaration, entry) in zip(declarations, values) {
      guard let value = entry.value else { continue }
      if separator { text.append(byte: UInt8(ascii: " ")) }
      text.append("--\(declaration.name)=")
      declaration.kind.write(value, to: &text)
      separator = true
    }
  }
}
