// `sirocco build`: compiles an application for a target and prints the artifact's path.
//
// For the unix target: SwiftPM builds the Sirocco libraries once, as the static library
// SiroccoUnixKit (in .build-unix/ of the checkout, shared by every application); the
// application is then one `swiftc -wmo` over its own files plus a generated file that imports
// the platform module, whose `Unikernel.main()` is what `@main` calls.

import ArgumentParser
import Foundation

struct Build: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Build the unikernel in DIR and print the artifact's path.")

  @Option(help: "The target to build for (\(Target.allValueStrings.joined(separator: ", "))).")
  var target: Target = .unix

  @Flag(help: "Rebuild even if the artifact is up to date.")
  var force = false

  @Flag(help: "Compile the application without optimization (-Onone), into _build/TARGET-debug: on spt a failed precondition or fatalError then prints its message before the trap report.")
  var debug = false

  @Argument(help: "The application directory.")
  var directory: String

  func run() throws {
    try reporting {
      let application = try Application(path: directory)
      let artifact = try Builder(target: target, debug: debug).build(application, force: force)
      print(artifact.path)
    }
  }
}

struct Builder {
  let target: Target
  /// The application compiled at -Onone (the Sirocco libraries stay optimized).
  let debug: Bool

  init(target: Target, debug: Bool = false) throws {
    self.target = target
    self.debug = debug
  }

  /// Builds `application` unless its artifact is newer than its inputs; returns the artifact.
  func build(_ application: Application, force: Bool = false) throws -> URL {
    switch target {
    case .spt: try buildSPT(application, force: force)
    case .hvt:
      try buildSolo5Image(application, force: force, kit: "SiroccoHVTKit", platformModule: "SiroccoHVT", linkerScript: "Sources/CSiroccoHVT/hvt.lds")
    case .virtio: try buildVirtio(application, force: force)
    default: try buildUnix(application, force: force)
    }
  }

  /// Runs SwiftPM for one of the kit libraries and returns its products directory.
  func buildKit(_ product: String, scratch: String, extra: [String] = [], force: Bool = false) throws -> URL {
    let root = try siroccoRoot()
    let scratchURL = root.appendingPathComponent(scratch)
    var products = scratchURL.appendingPathComponent("release")
    if extra.contains("--triple") { products = scratchURL.appendingPathComponent("x86_64-unknown-none-elf/release") }
    // SwiftPM adds and replaces an archive's members but never removes one: once a source
    // file is renamed or deleted its old object stays in, and the link fails on duplicate or
    // stale symbols. Its release builds also kept modules compiled against a layout that had
    // changed in a module they import (a unikernel crashed initialising a global). So when
    // anything under Sources is newer than the scratch directory's last clean-out (a rename
    // or a deletion moves its directory's time), every kit archive there and the Sirocco
    // modules' objects are made afresh; the products that share the directory (the three
    // freestanding kits; the unix kit and the tenders) then share those objects, compiled
    // once. Each product also has its own stamp, for whether SwiftPM need be asked at all: a
    // product built after an edit says nothing of another in the same scratch directory (the
    // spt tender was once left stale by a unix kit's build after an edit of the tender's
    // sources).
    func sourcesNewer(than date: Date) -> Bool {
      Self.anyNewer(than: date, under: root.appendingPathComponent("Sources"), except: ["sirocco"])
        || (modificationDate(root.appendingPathComponent("Package.swift")) ?? .distantFuture) > date
    }
    let stamp = scratchURL.appendingPathComponent("sirocco-sources-built-\(product)")
    let lastBuild = modificationDate(stamp)
    let cleanedStamp = scratchURL.appendingPathComponent("sirocco-sources-cleaned")
    let checked = Date()
    let (changed, stale) = Self.kitState(built: lastBuild, cleaned: modificationDate(cleanedStamp), sourcesNewer: sourcesNewer)
    // Nothing changed since the last build and the product is there: SwiftPM would only
    // confirm it (several seconds of planning), so it is not asked (`sirocco build --force`
    // asks it anyway).
    let built = ["lib\(product).a", product].contains { FileManager.default.fileExists(atPath: products.appendingPathComponent($0).path) }
    // A newer tool may pass other flags: SwiftPM, which keeps them, decides then.
    let tool = Bundle.main.executableURL.flatMap(modificationDate) ?? .distantFuture
    if !changed, !force, built, let lastBuild, tool < lastBuild { return products }
    if stale {
      let names = (try? FileManager.default.contentsOfDirectory(atPath: products.path)) ?? []
      for name in names where (name.hasPrefix("Sirocco") && name.hasSuffix(".build")) || (name.hasPrefix("libSirocco") && name.hasSuffix("Kit.a")) {
        try? FileManager.default.removeItem(at: products.appendingPathComponent(name))
      }
      // Stamped with the time the sources were looked at: one saved since counts as newer.
      try? FileManager.default.createDirectory(at: scratchURL, withIntermediateDirectories: true)
      Self.stamp(cleanedStamp, at: checked)
    }
    FileHandle.standardError.write(Data("sirocco: building the Sirocco libraries for \(target.rawValue)\n".utf8))
    let started = Date()
    let status = try runTool(
      ["swift", "build", "--quiet", "-c", "release", "--package-path", root.path, "--scratch-path", scratchURL.path,
       "--product", product] + extra)
    guard status == 0 else { throw ToolError.failure("building the Sirocco libraries failed (swift build exit \(status))") }
    // The stamp says when this build started: a source saved while it ran counts as newer.
    if lastBuild.map({ $0 < started }) ?? true { Self.stamp(stamp, at: started) }
    return products
  }

  /// Creates `file` if need be and sets its modification date to `date`.
  static func stamp(_ file: URL, at date: Date) {
    if !FileManager.default.fileExists(atPath: file.path) { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
    try? FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: file.path)
  }

  /// A kit's state from its scratch directory's stamps: `changed` if the sources moved since
  /// the product was last built (or it never was: SwiftPM must be asked), `stale` if they
  /// moved since the directory was last cleaned out (its objects must go first). A product
  /// never built beside a fresh clean-out is changed but not stale: it shares the objects.
  static func kitState(built: Date?, cleaned: Date?, sourcesNewer: (Date) -> Bool) -> (changed: Bool, stale: Bool) {
    let changed = built.map(sourcesNewer) ?? true
    return (changed, changed && (cleaned.map(sourcesNewer) ?? true))
  }

  /// Whether `directory`, or anything in it, was modified after `date`; the subdirectories
  /// named in `except` (the tool's own sources, which no kit compiles) do not count.
  static func anyNewer(than date: Date, under directory: URL, except: Set<String> = []) -> Bool {
    if (modificationDate(directory) ?? .distantFuture) > date { return true }
    guard let walk = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.contentModificationDateKey])
    else { return true }
    for case let url as URL in walk {
      if walk.level == 1, except.contains(url.lastPathComponent) {
        walk.skipDescendants()
        continue
      }
      if (modificationDate(url) ?? .distantFuture) > date { return true }
    }
    return false
  }

  /// Whether `artifact` is newer than every input and than this tool (whose flags shape it).
  static func isUpToDate(_ artifact: URL, inputs: [URL]) -> Bool {
    guard let built = modificationDate(artifact) else { return false }
    let tool = Bundle.main.executableURL.map { [$0] } ?? []
    return (inputs + tool).allSatisfy { (modificationDate($0) ?? .distantFuture) < built }
  }

  func generate(_ text: String, _ name: String, in directory: URL) throws -> URL {
    let file = directory.appendingPathComponent(name)
    try text.write(to: file, atomically: true, encoding: .utf8)
    return file
  }

  func buildUnix(_ application: Application, force: Bool) throws -> URL {
    let root = try siroccoRoot()
    let products = try buildKit("SiroccoUnixKit", scratch: ".build-unix", force: force)
    let library = products.appendingPathComponent("libSiroccoUnixKit.a")
    let output = application.buildDirectory(for: .unix, debug: debug)
    let artifact = application.artifact(for: .unix, debug: debug)
    if !force, Self.isUpToDate(artifact, inputs: application.inputs() + [library]) { return artifact }
    try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
    let platformFile = try generate(
      "// Generated by `sirocco build --target unix`: links the unix platform, whose\n// `Unikernel.main()` runs the application.\nimport SiroccoUnix\n",
      "Platform.swift", in: output)
    let resources = try resourcesObject(application, output: output).map { [$0.path] } ?? []
    FileHandle.standardError.write(Data("sirocco: compiling \(application.name) for unix\n".utf8))
    let compile = [
      "swiftc", debug ? "-Onone" : "-O", "-wmo", "-parse-as-library", "-module-name", "SiroccoApplication",
      "-I", products.appendingPathComponent("Modules").path,
      "-Xcc", "-fmodule-map-file=" + root.appendingPathComponent("Sources/CSiroccoUnix/include/module.modulemap").path,
      "-Xcc", "-fmodule-map-file=" + root.appendingPathComponent("Sources/CSiroccoLinux/include/module.modulemap").path,
      "-Xcc", "-fmodule-map-file=" + root.appendingPathComponent("Sources/CSiroccoResources/include/module.modulemap").path,
      "-o", artifact.path,
    ] + application.sources.map(\.path) + [platformFile.path] + resources + [library.path]
    let compiled = try runTool(compile)
    guard compiled == 0 else { throw ToolError.failure("compiling \(application.name) failed (swiftc exit \(compiled))") }
    return artifact
  }
}
