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
  case ipv4Address
  case ipv4Network
  case boolean
  case choice([String])

  /// What a value of this kind looks like, for errors: "an integer in 1...65535".
  public var expectation: String {
    switch self {
    case .integer(let range): "an integer in " + String(range.lowerBound) + "..." + String(range.upperBound)
    case .string: "a non-empty string"
    case .ipv4Address: "an IPv4 address such as 10.0.0.1"
    case .ipv4Network: "an IPv4 address with a prefix length such as 10.0.0.2/24"
    case .boolean: "true or false"
    case .choice(let choices): "one of " + choices.joined(separator: ", ")
    }
  }

  var placeholder: String {
    switch self {
    case .integer: "N"
    case .string: "STRING"
    case .ipv4Address: "ADDR"
    case .ipv4Network: "ADDR/PREFIX"
    case .boolean: ""
    case .choice: "VALUE"
    }
  }

  var typeName: String {
    switch self {
    case .integer(let range): "integer " + String(range.lowerBound) + "..." + String(range.upperBound)
    case .string: "string"
    case .ipv4Address: "IPv4 address"
    case .ipv4Network: "IPv4 address/prefix"
    case .boolean: "boolean"
    case .choice(let choices): choices.joined(separator: "|")
    }
  }

  func parse(_ text: String) -> ParameterValue? {
    switch self {
    case .integer(let range):
      guard let value = Int(text), range.contains(value) else { return nil }
      return .integer(value)
    case .string:
      return text.isEmpty ? nil : .string(text)
    case .ipv4Address:
      return IPv4Address(text).map { .ipv4Address($0) }
    case .ipv4Network:
      return IPv4Network(text).map { .ipv4Network($0) }
    case .boolean:
      if text.utf8Equals("true") { return .boolean(true) }
      if text.utf8Equals("false") { return .boolean(false) }
      return nil
    case .choice(let choices):
      return choices.contains { $0.utf8Equals(text) } ? .string(text) : nil
    }
  }
}

public enum ParameterValue: Sendable, Equatable {
  case integer(Int)
  case string(String)
  case ipv4Address(IPv4Address)
  case ipv4Network(IPv4Network)
  case boolean(Bool)
}

extension ParameterValue: CustomStringConvertible {
  @inline(never)  // Used by --help and by BootParameters.description: one copy.
  public var description: String {
    switch self {
    case .integer(let value): String(value)
    case .string(let value): value
    case .ipv4Address(let value): value.description
    case .ipv4Network(let value): value.description
    case .boolean(let value): value ? "true" : "false"
    }
  }
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

  public static func choice(_ name: String, _ choices: [String], default value: String, help: String) -> ParameterDeclaration {
    ParameterDeclaration(name: name, kind: .choice(choices), default: .string(value), help: help)
  }
}

public enum ParameterError: Error, Equatable, Sendable {
  case unknown(String)
  case missingValue(String, expected: String)
  case badValue(String, value: String, expected: String)
  case repeated(String)
  case unexpectedArgument(String)
  /// `--help` was given: print `BootParameters.usage` and exit 0.
  case helpRequested
}

extension ParameterError: CustomStringConvertible {
  /// One line: which parameter, what was wrong, what was expected.
  public var description: String {
    switch self {
    case .unknown(let name):
      "unknown boot parameter '--" + name + "' (run with --help for the list)"
    case .missingValue(let name, let expected):
      "boot parameter --" + name + " needs a value: expected " + expected
    case .badValue(let name, let value, let expected):
      "bad value '" + value + "' for boot parameter --" + name + ": expected " + expected
    case .repeated(let name):
      "boot parameter --" + name + " given more than once: expected it at most once"
    case .unexpectedArgument(let argument):
      "unexpected argument '" + argument + "': expected boot parameters of the form --name=value"
    case .helpRequested:
      "help requested"
    }
  }
}

/// The parsed parameters: every declared one that has a value (given or default).
public struct BootParameters: Sendable {
  public let declarations: [ParameterDeclaration]
  var values: [(name: String, value: ParameterValue, given: Bool)]

  /// Parses `arguments` (without the program name) against `declarations`.
  public static func parse(_ arguments: [String], declarations: [ParameterDeclaration]) throws(ParameterError) -> BootParameters {
    var given: [(name: String, value: ParameterValue)] = []
    var index = 0
    while index < arguments.count {
      var argument = arguments[index]
      index += 1
      guard argument.utf8HasPrefix("--"), argument.utf8.count > 2 else { throw .unexpectedArgument(argument) }
      // `--name=text` or `--name`, split at the first `=` byte.
      let split: (name: String, text: String?) = argument.withUTF8 { bytes in
        let body = bytes[2...]
        guard let equals = body.firstIndex(of: UInt8(ascii: "=")) else { return (String(decoding: body, as: UTF8.self), nil) }
        return (String(decoding: body[..<equals], as: UTF8.self), String(decoding: body[(equals + 1)...], as: UTF8.self))
      }
      let name = split.name
      var text = split.text
      if name.utf8Equals("help") { throw .helpRequested }
      guard let declaration = declarations.first(where: { $0.name.utf8Equals(name) }) else { throw .unknown(name) }
      if given.contains(where: { $0.name.utf8Equals(name) }) { throw .repeated(name) }
      if text == nil {
        if case .boolean = declaration.kind {
          text = "true"
        } else if index < arguments.count, !arguments[index].utf8HasPrefix("--") {
          text = arguments[index]
          index += 1
        } else {
          throw .missingValue(name, expected: declaration.kind.expectation)
        }
      }
      let raw = text ?? ""
      guard let value = declaration.kind.parse(raw) else {
        throw .badValue(name, value: raw, expected: declaration.kind.expectation)
      }
      given.append((name, value))
    }
    var values: [(name: String, value: ParameterValue, given: Bool)] = []
    for declaration in declarations {
      if let value = given.first(where: { $0.name.utf8Equals(declaration.name) })?.value {
        values.append((declaration.name, value, true))
      } else if let value = declaration.defaultValue {
        values.append((declaration.name, value, false))
      }
    }
    return BootParameters(declarations: declarations, values: values)
  }

  /// The `--help` text: one line per parameter with its type and default.
  public static func usage(program: String, declarations: [ParameterDeclaration], extra: String = "") -> String {
    var text = "usage: " + program + " " + (extra.isEmpty ? "" : extra + " ") + "[BOOT-PARAMETERS]\n\nboot parameters:\n"
    var column = "  --help".utf8.count
    var left: [String] = []
    for declaration in declarations {
      let placeholder = declaration.placeholder ?? declaration.kind.placeholder
      let entry = "  --" + declaration.name + (placeholder.isEmpty ? "" : "=" + placeholder)
      left.append(entry)
      column = max(column, entry.utf8.count)
    }
    for (declaration, entry) in zip(declarations, left) {
      var line = entry + String(repeating: " ", count: column - entry.utf8.count + 2) + declaration.help
      line += " (" + declaration.kind.typeName
      if let value = declaration.defaultValue { line += ", default " + value.description } else { line += ", optional" }
      text += line + ")\n"
    }
    text += "  --help" + String(repeating: " ", count: column - 8 + 2) + "print this list and exit\n"
    return text
  }

  /// Whether `name` is among the declarations (reading an undeclared one is a programming
  /// error and traps).
  public func declares(_ name: String) -> Bool {
    declarations.contains { $0.name.utf8Equals(name) }
  }

  public func value(_ name: String) -> ParameterValue? {
    precondition(declarations.contains { $0.name.utf8Equals(name) }, "boot parameter was never declared")
    return values.first { $0.name.utf8Equals(name) }?.value
  }

  /// Whether the parameter was given on the command line (rather than defaulted).
  public func isGiven(_ name: String) -> Bool {
    values.first { $0.name.utf8Equals(name) }?.given ?? false
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

  public func ipv4Network(_ name: String) -> IPv4Network? {
    guard case .ipv4Network(let value)? = value(name) else { return nil }
    return value
  }
}

extension BootParameters: CustomStringConvertible {
  /// `--name=value` for every parameter with a value, in declaration order.
  public var description: String {
    values.map { "--" + $0.name + "=" + $0.value.description }.joined(separator: " ")
  }
}
