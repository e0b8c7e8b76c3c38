// `sirocco run`: builds if needed, then replaces itself with the unikernel, attaching the
// declared devices as Solo5's tenders do (`--net:NAME=TAP`) and passing boot parameters.

import ArgumentParser
import Foundation

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Build the unikernel in DIR if needed and run it.",
    usage: "sirocco run [--target <target>] <directory> [--net:NAME=TAP ...] [--net-mac:NAME=MAC ...] [--block:NAME=FILE ...] [--block-sector-size:NAME=N ...] [-- BOOT-PARAMETERS]",
    discussion: """
      Device options attach the application's declared devices: --net:NAME=TAP attaches \
      network device NAME to the existing TAP interface TAP, --block:NAME=FILE attaches \
      block device NAME to FILE. Every declared device must be attached. Arguments after -- are boot parameters (see `-- --help`).
      """)

  @Option(help: "The target to run on (\(Target.allValueStrings.joined(separator: ", "))).")
  var target: Target = .unix

  @Argument(help: "The application directory.")
  var directory: String

  @Argument(parsing: .captureForPassthrough, help: "Device options, then -- and boot parameters.")
  var rest: [String] = []

  func run() throws {
    try reporting {
      let (deviceOptions, bootParameters) = try split(rest)
      let application = try Application(path: directory)
      let artifact = try Builder(target: target).build(application)
      try execute(artifact, arguments: deviceOptions + bootParameters)
    }
  }

  /// The device options of Solo5's tenders, which every target accepts.
  static let devicePrefixes = ["--net:", "--net-mac:", "--block:", "--block-sector-size:"]

  /// Device options come before `--`; boot parameters after it.
  func split(_ arguments: [String]) throws -> ([String], [String]) {
    var devices: [String] = []
    var index = 0
    while index < arguments.count {
      let argument = arguments[index]
      index += 1
      if argument == "--" { return (devices, Array(arguments[index...])) }
      guard Self.devicePrefixes.contains(where: { argument.hasPrefix($0) }) else {
        throw ToolError.usage("unexpected argument '\(argument)': expected device options (--net:NAME=TAP) and then -- before boot parameters")
      }
      devices.append(argument)
    }
    return (devices, [])
  }

  func execute(_ artifact: URL, arguments: [String]) throws -> Never {
    let argv = [artifact.path] + arguments
    var cArguments = argv.map { strdup($0) }
    cArguments.append(nil)
    execv(artifact.path, cArguments)
    throw ToolError.failure("cannot execute \(artifact.path): \(String(cString: strerror(errno)))")
  }
}
