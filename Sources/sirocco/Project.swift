// Where things are: the Sirocco checkout the tool belongs to, and an application directory.

import Foundation

/// The Sirocco source tree: $SIROCCO_ROOT, or the checkout this tool was built from.
func siroccoRoot() throws -> URL {
  if let override = ProcessInfo.processInfo.environment["SIROCCO_ROOT"], !override.isEmpty {
    let url = URL(fileURLWithPath: override)
    guard FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) else {
      throw ToolError.usage("SIROCCO_ROOT=\(override) is not a Sirocco checkout: expected a directory with Package.swift")
    }
    return url
  }
  // Sources/sirocco/Project.swift -> the checkout.
  return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// An application: a directory of Swift files, one of which has the `@main` Unikernel type.
struct Application {
  let directory: URL
  let sources: [URL]

  /// The artifact's name: the directory's name.
  var name: String { directory.lastPathComponent }

  init(path: String) throws {
    var isDirectory: ObjCBool = false
    let url = URL(fileURLWithPath: path).standardizedFileURL
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw ToolError.usage("no such directory '\(path)': expected an application directory (e.g. Examples/hello)")
    }
    guard isDirectory.boolValue else {
      throw ToolError.usage("'\(path)' is a file: expected an application directory (e.g. Examples/hello)")
    }
    let entries = (try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? []
    let sources = entries.filter { $0.pathExtension == "swift" }.sorted { $0.path < $1.path }
    guard !sources.isEmpty else {
      throw ToolError.usage("'\(path)' has no .swift files: expected an application with a @main Unikernel type")
    }
    directory = url
    self.sources = sources
  }

  /// `_build/TARGET`, or `_build/TARGET-debug` for a debug build.
  func buildDirectory(for target: Target, debug: Bool = false) -> URL {
    directory.appendingPathComponent("_build").appendingPathComponent(target.rawValue + (debug ? "-debug" : ""))
  }

  /// The unix target's artifact is an executable named after the application; images for
  /// the other targets carry the target as extension, as Solo5's do (`hello.spt`).
  func artifact(for target: Target, debug: Bool = false) -> URL {
    buildDirectory(for: target, debug: debug).appendingPathComponent(target == .unix ? name : "\(name).\(target.rawValue)")
  }
}

func modificationDate(_ url: URL) -> Date? {
  (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
}

/// Runs `arguments[0]` (looked up in PATH) with its output on our standard error, and with a
/// temporary directory of its own (TMPDIR) that is removed when it ends: `swift build` leaves
/// empty `TemporaryDirectory.*` folders behind in whatever TMPDIR it is given, even when it
/// has nothing to do.
func runTool(_ arguments: [String], in directory: URL? = nil) throws -> Int32 {
  let temporary = try ScratchDirectory()
  defer { temporary.remove() }
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = arguments
  process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": temporary.url.path]) { $1 }
  if let directory { process.currentDirectoryURL = directory }
  process.standardOutput = FileHandle.standardError
  process.standardError = FileHandle.standardError
  do {
    try process.run()
  } catch {
    throw ToolError.failure("cannot start \(arguments[0]): \(error.localizedDescription)")
  }
  process.waitUntilExit()
  return process.terminationStatus
}

/// A fresh directory in the system's temporary directory (`sirocco.XXXXXX`), for one child.
struct ScratchDirectory {
  let url: URL

  init() throws {
    let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array((base + "/sirocco.XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
      throw ToolError.failure("cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
    }
    url = URL(fileURLWithPath: String(cString: made))
  }

  func remove() { try? FileManager.default.removeItem(at: url) }
}
