// The `sirocco` command: create, build and run unikernels.
//
// Exit status: 0 success; 1 a build or run failure; 2 bad usage (an unknown option, a
// missing directory, an unknown target, a device refused). A unikernel started by `run`
// replaces the tool, so its own exit status is what the caller sees.

import ArgumentParser
import Foundation

@main
struct SiroccoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sirocco",
    abstract: "Build and run Sirocco unikernels.",
    subcommands: [New.self, Build.self, Run.self, Inspect.self, Filter.self])

  /// ArgumentParser reports usage errors with status 64; Sirocco documents 2 for every bad
  /// input, so map it.
  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let code = exitCode(for: error)
      if code == .success {
        exit(withError: error)
      }
      if code.rawValue == 64 {
        // One line: what was wrong and what was expected; the full usage is on --help.
        let message = self.message(for: error)
        FileHandle.standardError.write(Data("sirocco: \(message) (see sirocco --help)\n".utf8))
      } else {
        let message = fullMessage(for: error)
        if !message.isEmpty {
          FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
        }
      }
      Foundation.exit(code.rawValue == 64 ? 2 : code.rawValue)
    }
  }
}

/// Targets `--target` accepts. Only unix is built today; the others are refused clearly.
enum Target: String, ExpressibleByArgument, CaseIterable {
  case unix, spt, hvt, virtio

  static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

/// A failure with one line for the user and an exit status.
struct ToolError: Error, CustomStringConvertible {
  var message: String
  var status: Int32
  var description: String { message }

  static func usage(_ message: String) -> ToolError { ToolError(message: message, status: 2) }
  static func failure(_ message: String) -> ToolError { ToolError(message: message, status: 1) }
}

extension ToolError: LocalizedError {
  var errorDescription: String? { message }
}

/// Prints `error`'s message and turns it into the exit status it names.
func reporting<T>(_ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch let error as ToolError {
    FileHandle.standardError.write(Data("sirocco: \(error.message)\n".utf8))
    throw ExitCode(error.status)
  }
}
