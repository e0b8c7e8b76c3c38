// `sirocco new`: a new application directory with a unikernel that builds and runs.

import ArgumentParser
import Foundation

struct New: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create an application directory DIR with a minimal unikernel.")

  @Argument(help: "The directory to create; its name is the application's.")
  var directory: String

  func run() throws {
    try reporting {
      let url = URL(fileURLWithPath: directory)
      let name = url.lastPathComponent
      guard !FileManager.default.fileExists(atPath: url.path) else {
        throw ToolError.usage("'\(directory)' already exists: expected a new directory")
      }
      guard name.range(of: "^[A-Za-z][A-Za-z0-9_-]*$", options: .regularExpression) != nil else {
        throw ToolError.usage("bad application name '\(name)': expected a letter, then letters, digits, _ or -")
      }
      let typeName = name.split(whereSeparator: { $0 == "-" || $0 == "_" }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
      let source = """
        // \(name): a Sirocco unikernel.

        import Sirocco

        @main
        struct \(typeName): Unikernel {
          static let name = "\(name)"
          // Declare devices here, e.g. [.network("service")], and attach them with
          // `sirocco run \(directory) --net:service=TAP`. (A computed property: the
          // compiler then sees which kinds there are, and an image links only what they need.)
          static var devices: [DeviceDeclaration] { [] }
          static let parameters: [ParameterDeclaration] = []

          init(boot: Boot) throws(BootFailure) {
            boot.console.print("\(name) running on \\(boot.target)")
          }

          mutating func step(now: Instant) -> Step { .exit(0) }
        }

        """
      try source.write(to: url.appendingPathComponent("\(typeName).swift"), atomically: true, encoding: .utf8)
      print(url.path)
    }
  }
}
