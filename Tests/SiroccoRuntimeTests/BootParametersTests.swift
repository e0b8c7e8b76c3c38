// Boot parameters: every kind parsed in every syntax, defaults, optional parameters, each
// error with its exact one-line message, and the `--help` text.

import SiroccoRuntime
import SiroccoWire
import XCTest

final class BootParametersTests: XCTestCase {
  static let declarations: [ParameterDeclaration] = [
    .integer("port", default: 7, range: 1...65535, help: "UDP port to listen on"),
    .integer("offset", default: 0, range: -100...100, help: "a signed adjustment"),
    .integer("retries", default: nil, range: 0...10, help: "how often to retry"),
    .string("name", default: nil, help: "name to announce", placeholder: "NAME"),
    .string("greeting", default: "hello", help: "what to say"),
    .ipv4Address("peer", default: nil, help: "peer to talk to"),
    .ipv4Network("ipv4", default: IPv4Network(address: IPv4Address(10, 0, 0, 2), prefixLength: 24), help: "address"),
    .boolean("verbose", help: "log every datagram"),
    .boolean("checksums", default: true, help: "verify checksums"),
    .choice("mode", ["fast", "slow"], default: "fast", help: "speed"),
  ]

  func parse(_ arguments: [String]) throws(ParameterError) -> BootParameters {
    try BootParameters.parse(arguments, declarations: Self.declarations)
  }

  /// The error parsing `arguments` throws, or a test failure if it parses.
  func error(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) -> ParameterError? {
    do {
      let parameters = try parse(arguments)
      XCTFail("parsed \(arguments) as \(parameters)", file: file, line: line)
      return nil
    } catch {
      return error
    }
  }

  func assertError(
    _ arguments: [String], _ expected: ParameterError, _ message: String,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    guard let thrown = error(arguments, file: file, line: line) else { return }
    XCTAssertEqual(thrown, expected, "\(arguments)", file: file, line: line)
    XCTAssertEqual(thrown.description, message, "\(arguments)", file: file, line: line)
  }

  // MARK: Values

  func testDefaultsAndOptionalParameters() throws {
    let parameters = try parse([])
    XCTAssertEqual(parameters.integer("port"), 7)
    XCTAssertEqual(parameters.integer("offset"), 0)
    XCTAssertNil(parameters.integer("retries"))
    XCTAssertNil(parameters.value("retries"))
    XCTAssertNil(parameters.string("name"))
    XCTAssertEqual(parameters.string("greeting"), "hello")
    XCTAssertNil(parameters.ipv4Address("peer"))
    XCTAssertEqual(parameters.ipv4Network("ipv4"), IPv4Network(address: IPv4Address(10, 0, 0, 2), prefixLength: 24))
    XCTAssertFalse(parameters.boolean("verbose"))
    XCTAssertTrue(parameters.boolean("checksums"))
    XCTAssertEqual(parameters.string("mode"), "fast")
    for declaration in Self.declarations { XCTAssertFalse(parameters.isGiven(declaration.name), declaration.name) }
    XCTAssertEqual(
      parameters.description,
      "--port=7 --offset=0 --greeting=hello --ipv4=10.0.0.2/24 --verbose=false --checksums=true --mode=fast")
  }

  func testEveryKindWithAnEqualsSign() throws {
    let parameters = try parse([
      "--port=8080", "--offset=-42", "--retries=0", "--name=alpha", "--greeting=a=b", "--peer=192.168.1.254",
      "--ipv4=172.16.5.9/12", "--verbose=true", "--checksums=false", "--mode=slow",
    ])
    XCTAssertEqual(parameters.integer("port"), 8080)
    XCTAssertEqual(parameters.integer("offset"), -42)
    XCTAssertEqual(parameters.integer("retries"), 0)
    XCTAssertEqual(parameters.string("name"), "alpha")
    XCTAssertEqual(parameters.string("greeting"), "a=b", "only the first = separates")
    XCTAssertEqual(parameters.ipv4Address("peer"), IPv4Address(192, 168, 1, 254))
    XCTAssertEqual(parameters.ipv4Network("ipv4"), IPv4Network(address: IPv4Address(172, 16, 5, 9), prefixLength: 12))
    XCTAssertTrue(parameters.boolean("verbose"))
    XCTAssertFalse(parameters.boolean("checksums"))
    XCTAssertEqual(parameters.string("mode"), "slow")
    XCTAssertEqual(parameters.value("port"), .integer(8080))
    XCTAssertEqual(parameters.value("mode"), .string("slow"))
    XCTAssertEqual(parameters.value("checksums"), .boolean(false))
    for declaration in Self.declarations { XCTAssertTrue(parameters.isGiven(declaration.name), declaration.name) }
  }

  func testEveryKindWithASeparateValue() throws {
    let parameters = try parse([
      "--port", "1", "--offset", "-100", "--retries", "10", "--name", "beta", "--peer", "10.0.0.1",
      "--ipv4", "10.1.0.1/16", "--mode", "slow", "--greeting", "hi there",
    ])
    XCTAssertEqual(parameters.integer("port"), 1)
    XCTAssertEqual(parameters.integer("offset"), -100, "a negative number is a value, not a parameter")
    XCTAssertEqual(parameters.integer("retries"), 10)
    XCTAssertEqual(parameters.string("name"), "beta")
    XCTAssertEqual(parameters.string("greeting"), "hi there")
    XCTAssertEqual(parameters.ipv4Address("peer"), IPv4Address(10, 0, 0, 1))
    XCTAssertEqual(parameters.ipv4Network("ipv4"), IPv4Network(address: IPv4Address(10, 1, 0, 1), prefixLength: 16))
    XCTAssertEqual(parameters.string("mode"), "slow")
    XCTAssertEqual(parameters.integer("port"), 1)
  }

  func testBooleanFlags() throws {
    let flag = try parse(["--verbose"])
    XCTAssertTrue(flag.boolean("verbose"))
    XCTAssertTrue(flag.isGiven("verbose"))
    XCTAssertTrue(try parse(["--verbose=true"]).boolean("verbose"))
    XCTAssertFalse(try parse(["--verbose=false"]).boolean("verbose"))
    XCTAssertFalse(try parse(["--checksums=false"]).boolean("checksums"))
    // A bare flag does not take the next argument as its value.
    let followed = try parse(["--verbose", "--port", "9"])
    XCTAssertTrue(followed.boolean("verbose"))
    XCTAssertEqual(followed.integer("port"), 9)
  }

  func testTheEndsOfAnIntegerRange() throws {
    XCTAssertEqual(try parse(["--port=1"]).integer("port"), 1)
    XCTAssertEqual(try parse(["--port=65535"]).integer("port"), 65535)
    XCTAssertEqual(try parse(["--offset=100"]).integer("offset"), 100)
  }

  // MARK: Errors

  func testUnknownParameter() {
    assertError(["--nope=1"], .unknown("nope"), "unknown boot parameter '--nope' (run with --help for the list)")
    assertError(["--Port=1"], .unknown("Port"), "unknown boot parameter '--Port' (run with --help for the list)")
    assertError(["--=1"], .unknown(""), "unknown boot parameter '--' (run with --help for the list)")
  }

  func testMissingValue() {
    let message = "boot parameter --port needs a value: expected an integer in 1...65535"
    assertError(["--port"], .missingValue("port", expected: "an integer in 1...65535"), message)
    assertError(["--port", "--verbose"], .missingValue("port", expected: "an integer in 1...65535"), message)
    assertError(
      ["--peer"], .missingValue("peer", expected: "an IPv4 address such as 10.0.0.1"),
      "boot parameter --peer needs a value: expected an IPv4 address such as 10.0.0.1")
    assertError(
      ["--mode"], .missingValue("mode", expected: "one of fast, slow"),
      "boot parameter --mode needs a value: expected one of fast, slow")
  }

  func testBadIntegers() {
    for (text, name) in [("0", "port"), ("65536", "port"), ("seven", "port"), ("", "port"), ("7.5", "port"),
                         ("99999999999999999999", "port"), ("11", "retries"), ("-1", "retries"), ("-101", "offset")] {
      let expected: Text = name == "port" ? "an integer in 1...65535" : name == "retries" ? "an integer in 0...10" : "an integer in -100...100"
      assertError(
        ["--\(name)=\(text)"], .badValue(name, value: text, expected: expected),
        "bad value '\(text)' for boot parameter --\(name): expected \(expected)")
    }
    assertError(
      ["--port", "http"], .badValue("port", value: "http", expected: "an integer in 1...65535"),
      "bad value 'http' for boot parameter --port: expected an integer in 1...65535")
  }

  func testBadIPv4Addresses() {
    for text in ["10.0.0.256", "10.0.0", "10.0.0.1.2", "ten.0.0.1", "", "10.0.0.1/24", " 10.0.0.1"] {
      assertError(
        ["--peer=\(text)"], .badValue("peer", value: text, expected: "an IPv4 address such as 10.0.0.1"),
        "bad value '\(text)' for boot parameter --peer: expected an IPv4 address such as 10.0.0.1")
    }
  }

  func testBadPrefixes() {
    for text in ["10.0.0.2/33", "10.0.0.2", "10.0.0.2/", "10.0.0.2/-1", "10.0.0.2/024", "10.0.0.300/24", "/24"] {
      assertError(
        ["--ipv4=\(text)"],
        .badValue("ipv4", value: text, expected: "an IPv4 address with a prefix length such as 10.0.0.2/24"),
        "bad value '\(text)' for boot parameter --ipv4: expected an IPv4 address with a prefix length such as 10.0.0.2/24")
    }
  }

  func testBadChoice() {
    for text in ["medium", "FAST", ""] {
      assertError(
        ["--mode=\(text)"], .badValue("mode", value: text, expected: "one of fast, slow"),
        "bad value '\(text)' for boot parameter --mode: expected one of fast, slow")
    }
  }

  func testBadBoolean() {
    for text in ["yes", "1", "TRUE", ""] {
      assertError(
        ["--verbose=\(text)"], .badValue("verbose", value: text, expected: "true or false"),
        "bad value '\(text)' for boot parameter --verbose: expected true or false")
    }
  }

  func testEmptyString() {
    assertError(
      ["--name="], .badValue("name", value: "", expected: "a non-empty string"),
      "bad value '' for boot parameter --name: expected a non-empty string")
  }

  func testRepeatedParameter() {
    let message = "boot parameter --port given more than once: expected it at most once"
    assertError(["--port=1", "--port=2"], .repeated("port"), message)
    assertError(["--port", "1", "--port=1"], .repeated("port"), message)
    assertError(
      ["--verbose", "--verbose=false"], .repeated("verbose"),
      "boot parameter --verbose given more than once: expected it at most once")
  }

  func testPositionalArguments() {
    assertError(
      ["extra"], .unexpectedArgument("extra"),
      "unexpected argument 'extra': expected boot parameters of the form --name=value")
    assertError(
      ["--verbose", "yes"], .unexpectedArgument("yes"),
      "unexpected argument 'yes': expected boot parameters of the form --name=value")
    assertError(["-p"], .unexpectedArgument("-p"), "unexpected argument '-p': expected boot parameters of the form --name=value")
    assertError(["--"], .unexpectedArgument("--"), "unexpected argument '--': expected boot parameters of the form --name=value")
    assertError(["--port=1", "2"], .unexpectedArgument("2"), "unexpected argument '2': expected boot parameters of the form --name=value")
  }

  func testHelp() {
    assertError(["--help"], .helpRequested, "help requested")
    assertError(["--port=1", "--help"], .helpRequested, "help requested")
    assertError(["--help", "--nope"], .helpRequested, "help requested")
    assertError(["--help=yes"], .helpRequested, "help requested")
    // Arguments are read in order: an earlier error wins.
    assertError(["--nope", "--help"], .unknown("nope"), "unknown boot parameter '--nope' (run with --help for the list)")
  }

  // MARK: Usage

  func testUsageListsEveryParameterWithItsTypeAndDefault() {
    let usage = BootParameters.usage(program: "demo", declarations: Self.declarations)
    XCTAssertEqual(
      usage,
      """
      usage: demo [BOOT-PARAMETERS]

      boot parameters:
        --port=N            UDP port to listen on (integer 1...65535, default 7)
        --offset=N          a signed adjustment (integer -100...100, default 0)
        --retries=N         how often to retry (integer 0...10, optional)
        --name=NAME         name to announce (string, optional)
        --greeting=STRING   what to say (string, default hello)
        --peer=ADDR         peer to talk to (IPv4 address, optional)
        --ipv4=ADDR/PREFIX  address (IPv4 address/prefix, default 10.0.0.2/24)
        --verbose           log every datagram (boolean, default false)
        --checksums         verify checksums (boolean, default true)
        --mode=VALUE        speed (fast|slow, default fast)
        --help              print this list and exit

      """)
  }

  func testUsageWithExtraArguments() {
    let usage = BootParameters.usage(
      program: "echo", declarations: [.boolean("debug-frames", help: "log frames")], extra: "--net:service=TAP")
    XCTAssertEqual(
      usage,
      """
      usage: echo --net:service=TAP [BOOT-PARAMETERS]

      boot parameters:
        --debug-frames  log frames (boolean, default false)
        --help          print this list and exit

      """)
  }

  func testKindExpectations() {
    XCTAssertEqual(ParameterKind.integer(1...5).expectation, "an integer in 1...5")
    XCTAssertEqual(ParameterKind.string.expectation, "a non-empty string")
    XCTAssertEqual(ParameterKind.ipv4Address.expectation, "an IPv4 address such as 10.0.0.1")
    XCTAssertEqual(ParameterKind.ipv4Network.expectation, "an IPv4 address with a prefix length such as 10.0.0.2/24")
    XCTAssertEqual(ParameterKind.boolean.expectation, "true or false")
    XCTAssertEqual(ParameterKind.choice(["a", "b", "c"]).expectation, "one of a, b, c")
  }
}
