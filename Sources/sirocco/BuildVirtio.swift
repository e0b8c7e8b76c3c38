// `sirocco build --target virtio`: a freestanding Embedded Swift image that boots as a VM by
// PVH (QEMU microvm, q35, pc; Firecracker), from the same kit build as spt.
//
// 1. SwiftPM builds the Sirocco libraries and the virtio platform (SiroccoVirtioKit, in
//    .build-freestanding/, with spt's flags); the application is compiled as for spt.
// 2. ld.lld links it at 1 MiB with Sources/CSiroccoVirtio/virtio.lds, with the Solo5 ABI
//    (target virtio) and manifest notes, and boot.S's PVH note last.
// 3. Trap reports name functions: the text symbols of that first link, their names
//    demangled to plain function names, become a table in a second link (the table goes
//    after the text, so no code moves; the build checks that). hvt images get the same.

import Foundation
import SiroccoABI

extension Builder {
  func buildVirtio(_ application: Application, force: Bool) throws -> URL {
    let root = try siroccoRoot()
    let manifest = try readManifest(of: application)
    let products = try buildFreestandingKit("SiroccoVirtioKit", force: force)
    let library = products.appendingPathComponent("libSiroccoVirtioKit.a")
    let linkerScript = root.appendingPathComponent("Sources/CSiroccoVirtio/virtio.lds")
    let output = application.buildDirectory(for: .virtio, debug: debug)
    let artifact = application.artifact(for: .virtio, debug: debug)
    if !force, Self.isUpToDate(artifact, inputs: application.inputs() + [library, linkerScript]) { return artifact }
    try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
    let object = try compileFreestanding(application, platformModule: "SiroccoVirtio", products: products, output: output)
    let notes = try assemble(try generate(Self.notesAssembly(manifest, target: .virtio), "notes.S", in: output))
    let resources = try resourcesObject(application, output: output).map { [$0.path] } ?? []
    let objects = [object.path, notes.path] + resources + [library.path, try unicodeTables().path]
    func link(_ extra: [String], to image: URL) throws {
      let command = [
        "ld.lld", "-static", "-nostdlib", "--gc-sections", "--nmagic", "-z", "noexecstack", "--no-dynamic-linker",
        "-u", "_start32", "-T", linkerScript.path, "-o", image.path,
      ]
      guard try runTool(command + objects + extra) == 0 else { throw ToolError.failure("linking \(application.name).virtio failed") }
    }
    try linkWithSymbolTable(output: output, artifact: artifact, link: link)
    return artifact
  }

  /// Links twice: first without the table of function names the trap reports use
  /// (CSiroccoX86), then with the table made from the first image's text symbols. The
  /// table goes after the text, so no code moves; the build checks that.
  func linkWithSymbolTable(output: URL, artifact: URL, link: ([String], URL) throws -> Void) throws {
    let first = output.appendingPathComponent(artifact.lastPathComponent + "-nosymbols")
    try link([], first)
    let (textStart, symbols) = try textSymbols(of: first)
    let table = try assemble(try generate(try Self.symbolTableAssembly(symbols, textStart: textStart), "symbols.S", in: output))
    try link([table.path], artifact)
    guard try textSymbols(of: artifact).symbols.map(\.address) == symbols.map(\.address) else {
      throw ToolError.failure("linking \(artifact.lastPathComponent): the symbol table moved code (a bug in the linker script)")
    }
    try? FileManager.default.removeItem(at: first)
  }

  /// Where `image`'s text starts, and its functions (address, plain name) by address:
  /// `llvm-nm`, then `swift-demangle --simplified` for Swift names.
  func textSymbols(of image: URL) throws -> (start: UInt64, symbols: [(address: UInt64, name: String)]) {
    let listing = try capture(["llvm-nm", "--defined-only", "--numeric-sort", image.path])
    var symbols: [(address: UInt64, name: String)] = []
    var textStart: UInt64 = 0
    var textEnd: UInt64 = .max
    for line in listing.split(separator: "\n") {
      let fields = line.split(separator: " ", maxSplits: 2)
      guard fields.count == 3, let address = UInt64(fields[0], radix: 16) else { continue }
      switch fields[2] {
      case "__text_start": textStart = address
      case "__text_end": textEnd = address
      default:
        if fields[1] == "T" || fields[1] == "t" { symbols.append((address, String(fields[2]))) }
      }
    }
    symbols = symbols.filter { $0.address >= textStart && $0.address < textEnd }
    let demangled = try capture(["swift-demangle", "--simplified"], input: symbols.map(\.name).joined(separator: "\n") + "\n")
      .split(separator: "\n", omittingEmptySubsequences: false)
    for index in symbols.indices where index < demangled.count {
      symbols[index].name = Self.plainName(String(demangled[index]))
    }
    return (textStart, symbols)
  }

  /// A demangled name cut to what a trap report needs: one line, without the
  /// "specialized " of generic copies, at most 160 characters.
  static func plainName(_ name: String) -> String {
    var line = name.replacingOccurrences(of: "\n", with: " ")
    while line.hasPrefix("specialized ") { line.removeFirst("specialized ".count) }
    return line.count > 160 ? String(line.prefix(157)) + "..." : line
  }

  /// The table CSiroccoX86's trap handler reads: for each function in address order, two
  /// 16-bit numbers, its distance from the one before (from `__text_start` for the first)
  /// and its name's index (0xFFFF: the entry only carries a distance past 65535 bytes on);
  /// then the names, each written once, in byte order, front-coded: a byte saying how many
  /// leading bytes a name shares with the one before, then the rest, then a zero. (About
  /// 40% of a plain table of 32-bit offsets and strings: generic copies share names, and
  /// sorted names share prefixes.)
  static func symbolTableAssembly(_ symbols: [(address: UInt64, name: String)], textStart: UInt64) throws -> String {
    let names = Set(symbols.map(\.name)).map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
    guard names.count < Int(UInt16.max) else {
      throw ToolError.failure("the image has \(names.count) distinct function names: the trap table holds at most 65535")
    }
    var index: [[UInt8]: Int] = [:]
    for (position, name) in names.enumerated() { index[name] = position }
    var text = """
      /* Generated by `sirocco build`: function names for trap reports (CSiroccoX86). */
      .section .rodata.sirocco_symbols, "a"
      .p2align 2
      .globl sirocco_symbol_count, sirocco_symbol_entries, sirocco_symbol_name_count, sirocco_symbol_names

      """
    var entries: [(distance: UInt64, name: Int)] = []
    var previous = textStart
    for symbol in symbols {
      var distance = symbol.address - previous
      while distance > 0xffff {
        entries.append((0xffff, 0xffff))
        distance -= 0xffff
      }
      entries.append((distance, index[Array(symbol.name.utf8)]!))
      previous = symbol.address
    }
    text += "sirocco_symbol_count:\n.long \(entries.count)\nsirocco_symbol_name_count:\n.long \(names.count)\n"
    text += "sirocco_symbol_entries:\n"
    for entry in entries { text += ".short \(entry.distance), \(entry.name)\n" }
    text += "sirocco_symbol_names:\n"
    var before: [UInt8] = []
    for name in names {
      var shared = 0
      while shared < min(name.count, before.count, 255), name[shared] == before[shared] { shared += 1 }
      let escaped = name[shared...].map { byte -> String in
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 || byte > 0x7e
          ? "\\" + String(byte, radix: 8) : String(UnicodeScalar(byte))
      }.joined()
      text += ".byte \(shared)\n.asciz \"\(escaped)\"\n"
      before = name
    }
    return text
  }

  /// Runs a tool and returns its standard output (failing on a non-zero status).
  func capture(_ arguments: [String], input: String? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    let stdin = Pipe()
    if input != nil { process.standardInput = stdin }
    do { try process.run() } catch { throw ToolError.failure("cannot start \(arguments[0]): \(error.localizedDescription)") }
    if let input {
      let handle = stdin.fileHandleForWriting
      DispatchQueue.global().async {
        handle.write(Data(input.utf8))
        try? handle.close()
      }
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ToolError.failure("\(arguments[0]) failed (exit \(process.terminationStatus))") }
    return String(decoding: data, as: UTF8.self)
  }
}
