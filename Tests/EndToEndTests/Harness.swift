// Test harness for end-to-end tests: the `sirocco` tool, network namespaces with a TAP
// device, processes with bounded waits. Everything runs inside namespaces the tests create.

import Foundation
import XCTest

enum Paths {
  /// The package root (this file is Tests/EndToEndTests/Harness.swift).
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The `sirocco` tool built next to this test bundle.
  static var tool: String {
    let candidates: [String?] = [
      Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("sirocco").path,
      CommandLine.arguments.first.map { URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent("sirocco").path },
      root.appendingPathComponent(".build/debug/sirocco").path,
    ]
    return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
      ?? root.appendingPathComponent(".build/debug/sirocco").path
  }

  static func example(_ name: String) -> String { root.appendingPathComponent("Examples/\(name)").path }

  /// A guest program that exists for the tests (Tests/Guests/NAME).
  static func testGuest(_ name: String) -> String { root.appendingPathComponent("Tests/Guests/\(name)").path }

  /// The spt tender built next to the tool.
  static var tender: String { URL(fileURLWithPath: tool).deletingLastPathComponent().appendingPathComponent("sirocco-spt").path }
}

struct Outcome {
  /// The exit status, or the signal's number when `signaled`.
  var status: Int32
  var signaled = false
  var output: String
  var error: String

  var errorLines: [Substring] { error.split(separator: "\n") }
  /// `errorLines` without `sirocco run`'s build progress.
  var diagnosticLines: [Substring] { errorLines.filter { !$0.hasPrefix("sirocco: building") && !$0.hasPrefix("sirocco: compiling") } }
  var outputLines: [Substring] { output.split(separator: "\n") }
}

/// Runs a command to completion, bounded by `timeout` seconds (then killed: status 124).
@discardableResult
func runCommand(
  _ arguments: [String], timeout: TimeInterval = 120, environment: [String: String]? = nil, input: URL? = nil
) throws -> Outcome {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = arguments
  if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
  let output = try TemporaryFile()
  let error = try TemporaryFile()
  process.standardOutput = output.handle
  process.standardError = error.handle
  process.standardInput = try input.map { try FileHandle(forReadingFrom: $0) } ?? FileHandle.nullDevice
  try process.run()
  let deadline = Date().addingTimeInterval(timeout)
  while process.isRunning, Date() < deadline { usleep(10_000) }
  if process.isRunning {
    process.terminate()
    process.waitUntilExit()
    return Outcome(status: 124, output: output.contents, error: error.contents + "\n(killed after \(timeout) s)")
  }
  process.waitUntilExit()
  return Outcome(
    status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
    output: output.contents, error: error.contents)
}

/// `sirocco build --target TARGET APPLICATION` for each application, two at a time (this
/// machine's two cores: an Embedded Swift compile runs on one) after the first alone (it
/// builds the target's libraries: one SwiftPM build, which must not run twice at once),
/// unless `librariesBuilt`. Throws the first failure, naming the application.
func buildApplications(_ applications: [String], target: String, timeout: TimeInterval = 900, librariesBuilt: Bool = false) throws {
  var applications = applications
  if !librariesBuilt, let first = applications.first {
    if let failure = buildApplication(first, target: target, timeout: timeout) { throw GuestError(failure) }
    applications.removeFirst()
  }
  final class Queue: @unchecked Sendable {
    let lock = NSLock()
    var pending: [String]
    var failures: [String] = []
    init(_ pending: [String]) { self.pending = pending }
    func next() -> String? { lock.withLock { pending.isEmpty ? nil : pending.removeFirst() } }
    func fail(_ failure: String) { lock.withLock { failures.append(failure) } }
  }
  let queue = Queue(applications)
  DispatchQueue.concurrentPerform(iterations: 2) { _ in
    while let application = queue.next() {
      if let failure = buildApplication(application, target: target, timeout: timeout) { queue.fail(failure) }
    }
  }
  if let failure = queue.failures.first { throw GuestError(failure) }
}

/// `sirocco build --target TARGET APPLICATION`; what went wrong, or nil.
func buildApplication(_ application: String, target: String, timeout: TimeInterval) -> String? {
  do {
    let outcome = try runCommand([Paths.tool, "build", "--target", target, application], timeout: timeout)
    return outcome.status == 0 ? nil : "sirocco build --target \(target) \(application) failed (\(outcome.status)): \(outcome.error)"
  } catch {
    return "sirocco build --target \(target) \(application): \(error)"
  }
}

/// A scratch directory, removed with everything in it when released.
final class TemporaryDirectory {
  let url: URL
  var path: String { url.path }

  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(at: url) }
}

/// A file in the temporary directory, removed when released.
final class TemporaryFile {
  let url: URL
  let handle: FileHandle

  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-e2e-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: url.path, contents: nil)
    handle = try FileHandle(forWritingTo: url)
  }

  var contents: String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

  deinit {
    try? handle.close()
    try? FileManager.default.removeItem(at: url)
  }
}

/// A facility an end-to-end test needs is missing (no root, no /dev/net/tun, a client tool,
/// a namespace that `ip` could not make). Where a skip must not pass silently it is a
/// failure naming what was missing.
struct MissingFacility: Error, CustomStringConvertible {
  var reason: String
  var description: String { "required for the end-to-end tests, but missing: \(reason)" }
}

/// Whether a skip is a failure: when `CI=true` (as .ci/run runs) or `SIROCCO_REQUIRE_E2E=1`.
func skipsAreFailures(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
  environment["CI"] == "true" || environment["SIROCCO_REQUIRE_E2E"] == "1"
}

/// What a test throws when `reason` keeps it from running: a skip, with the reason printed,
/// or, where skips are failures, `MissingFacility`. Every end-to-end skip goes through here.
func missing(_ reason: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> any Error {
  skipsAreFailures(environment) ? MissingFacility(reason: reason) : XCTSkip(reason)
}

/// Where `tool` is on the PATH (or in /usr/sbin and /sbin, where root's tools live), or nil.
func locate(_ tool: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
  let path = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
  return path.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Throws `missing` unless every tool is installed; `package` is the Debian package to install.
func requireTools(_ tools: [(tool: String, package: String)], environment: [String: String] = ProcessInfo.processInfo.environment) throws {
  for (tool, package) in tools where locate(tool, environment: environment) == nil {
    throw missing("\(tool) is not installed (apt-get install \(package))", environment: environment)
  }
}

/// Throws `missing` when the machine cannot create namespaces and TAP devices or lacks ping.
func requireNamespaces() throws {
  guard getuid() == 0 else { throw missing("end-to-end tests need root (ip netns, ip tuntap)") }
  guard FileManager.default.fileExists(atPath: "/dev/net/tun") else { throw missing("no /dev/net/tun on this machine") }
  try requireTools([("ip", "iproute2"), ("ping", "iputils-ping")])
}

/// A network namespace holding TAP interface `tap0` with 10.0.0.1/24: the unikernel attaches
/// to tap0 and takes 10.0.0.2; Linux tools run inside the namespace.
final class Namespace {
  nonisolated(unsafe) static var counter = 0
  let name: String
  let hostAddress = "10.0.0.1"
  let guestAddress = "10.0.0.2"

  init() throws {
    Namespace.counter += 1
    name = "sirocco-e2e-\(getpid())-\(Namespace.counter)"
    for command in [
      ["ip", "netns", "add", name],
      ["ip", "-n", name, "link", "set", "lo", "up"],
      ["ip", "-n", name, "tuntap", "add", "tap0", "mode", "tap"],
      ["ip", "-n", name, "addr", "add", "\(hostAddress)/24", "dev", "tap0"],
      ["ip", "-n", name, "link", "set", "tap0", "up"],
    ] {
      let outcome = try runCommand(command, timeout: 10)
      guard outcome.status == 0 else {
        _ = try? runCommand(["ip", "netns", "del", name], timeout: 10)
        throw missing("cannot set up namespace (\(command.joined(separator: " "))): \(outcome.error)")
      }
    }
  }

  /// Runs `arguments` inside the namespace.
  @discardableResult
  func exec(_ arguments: [String], timeout: TimeInterval = 60, input: URL? = nil) throws -> Outcome {
    try runCommand(["ip", "netns", "exec", name] + arguments, timeout: timeout, input: input)
  }

  /// Runs a bash `script` inside the namespace, with `$DIR` a scratch directory removed after.
  @discardableResult
  func shell(_ script: String, timeout: TimeInterval = 60) throws -> Outcome {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try exec(["env", "DIR=\(directory.path)", "bash", "-c", script], timeout: timeout)
  }

  /// Waits (at most `seconds`) until `address` answers one ping.
  func waitForPing(_ address: String, seconds: Int = 20) throws -> Bool {
    let outcome = try shell(
      "for i in $(seq 1 \(seconds * 2)); do ping -c 1 -W 1 \(address) >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1",
      timeout: TimeInterval(seconds * 3 + 10))
    return outcome.status == 0
  }

  /// Starts `arguments` inside the namespace in the background (a server in the foreground:
  /// a daemon would keep the pipes of the shell that started it open), its output in `log`;
  /// `terminate()` stops it. A bash between them keeps the socket Foundation watches to see
  /// the process end: a server that closes the descriptors it inherited (dnsmasq does) would
  /// otherwise look ended, and Foundation's blocking wait for it would stall every other
  /// process's end.
  func background(_ arguments: [String], log: TemporaryFile) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    let script = "trap 'kill $child 2>/dev/null; wait $child; exit 143' TERM; \"$@\" & child=$!; wait $child"
    process.arguments = ["ip", "netns", "exec", name, "bash", "-c", script, "bash"] + arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = log.handle
    process.standardError = log.handle
    try process.run()
    return process
  }

  deinit {
    if let pids = try? runCommand(["ip", "netns", "pids", name], timeout: 5).output {
      for pid in pids.split(separator: "\n").compactMap({ pid_t($0) }) where pid > 0 { kill(pid, SIGKILL) }
    }
    _ = try? runCommand(["ip", "netns", "del", name], timeout: 10)
  }
}

/// A unikernel running in the background inside a namespace.
final class Guest {
  let process = Process()
  let output: TemporaryFile
  let error: TemporaryFile

  /// Starts `sirocco run` and waits (bounded) until `readyLine` appears in its output.
  convenience init(_ namespace: Namespace, example: String, target: String = "unix", toolOptions: [String] = [],
                   devices: [String] = ["--net:service=tap0"], parameters: [String] = [], readyLine: String) throws {
    try self.init(namespace, application: Paths.example(example), target: target, toolOptions: toolOptions, devices: devices,
                  parameters: parameters, readyLine: readyLine)
  }

  /// `init(_:example:...)` for the application at `path` (a test guest); `toolOptions` go
  /// to `sirocco run` (`--machine=q35`); `addressed`: false for a guest whose network
  /// devices are all raw (no address parameters).
  init(_ namespace: Namespace, application path: String, target: String, toolOptions: [String] = [], devices: [String],
       parameters: [String], readyLine: String, addressed: Bool = true) throws {
    output = try TemporaryFile()
    error = try TemporaryFile()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    let extra = Examples.ringPass && ["unix", "spt"].contains(target) && devices.contains(where: { $0.hasPrefix("--net:") })
      && !devices.contains("--io-uring") ? ["--io-uring"] : []
    process.arguments = ["ip", "netns", "exec", namespace.name, Paths.tool, "run", "--target", target] + toolOptions + [path]
      + devices + extra + ["--"] + (addressed ? Self.addressed(parameters, devices: devices) : parameters)
    process.standardOutput = output.handle
    process.standardError = error.handle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(180)
    // An empty ready line: the caller waits its own way (a quiet guest prints nothing).
    while !readyLine.isEmpty, !output.contents.contains(readyLine) {
      guard process.isRunning else {
        throw GuestError("guest exited (\(process.terminationStatus)) before '\(readyLine)': \(output.contents)\(error.contents)")
      }
      guard Date() < deadline else { throw GuestError("guest not ready after 180 s: \(output.contents)\(error.contents)") }
      usleep(20_000)
    }
  }

  /// `parameters`, with `--ipv4=10.0.0.2/24` (the namespace's guest address) for a guest with
  /// a network device unless they give its IPv4 address, ask for DHCP or turn IPv4 off: with
  /// none, the runtime would take one by DHCP (DHCPTests.swift tests that).
  static func addressed(_ parameters: [String], devices: [String]) -> [String] {
    let network = devices.contains { $0.hasPrefix("--net:") || $0.hasPrefix("--net-socket:") }
    let own = ["--ipv4=", "--service-ipv4=", "--dhcp", "--ipv6-only"]
    guard network, !parameters.contains(where: { parameter in own.contains { parameter.hasPrefix($0) } }) else { return parameters }
    return ["--ipv4=10.0.0.2/24"] + parameters
  }

  /// The unikernel's own process: `sirocco run` execs a unix unikernel, and runs an spt
  /// tender as its child.
  func unikernelProcess(target: String) -> pid_t {
    let pid = process.processIdentifier
    guard target == "spt" else { return pid }
    let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
    return children.split(separator: " ").first.flatMap { pid_t($0) } ?? pid
  }

  /// The spt tender's command line, as `sirocco run` made it (empty once it has ended).
  var tenderArguments: [String] {
    let pid = unikernelProcess(target: "spt")
    let line = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
    return line.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
  }

  /// Stops the guest and returns what it printed.
  @discardableResult
  func stop() -> String {
    if process.isRunning {
      let child = unikernelProcess(target: "spt")
      process.terminate()
      let deadline = Date().addingTimeInterval(10)
      while process.isRunning, Date() < deadline { usleep(10_000) }
      if process.isRunning {  // bounded: a guest that ignores SIGTERM is killed
        if child != process.processIdentifier { kill(child, SIGKILL) }
        kill(process.processIdentifier, SIGKILL)
      }
      process.waitUntilExit()
    }
    return output.contents + error.contents
  }

  deinit { stop() }
}

extension Guest {
  /// Waits, at most `seconds`, for the unikernel to exit by itself.
  func waitForExit(seconds: TimeInterval) {
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning, Date() < deadline { usleep(20_000) }
  }
}

/// The size of `image` once stripped (GNU strip, into a scratch file), as the image-size
/// bounds are stated.
func strippedSize(of image: String, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
  let stripped = try TemporaryFile()
  let strip = try runCommand(["strip", "-o", stripped.url.path, image])
  XCTAssertEqual(strip.status, 0, strip.error, file: file, line: line)
  return try XCTUnwrap(FileManager.default.attributesOfItem(atPath: stripped.url.path)[.size] as? Int, file: file, line: line)
}

/// The SHA-256 of a file, as sha256sum prints it.
func sha256Digest(_ path: String) throws -> String { String(try runCommand(["sha256sum", path]).output.prefix(64)) }

/// Bulk transfers with Examples/tcp-bulk and socat: `peer` is socat's address of the guest
/// ("TCP:10.0.0.2:5001", "TCP6:[fd00::2]:5001"). Each checks the bytes and the SHA-256 the
/// guest reports, and returns its report (the guest stopped).
extension Namespace {
  /// Linux -> unikernel: `file` (of `bytes` bytes, digest `expected`) into a guest in sink mode.
  func sendBulk(
    _ file: String, bytes: Int, expected: String, to sink: Guest, peer: String, timeout: TimeInterval, label: String,
    line: UInt = #line
  ) throws -> String {
    let sent = try exec(["socat", "-u", "OPEN:\(file),rdonly", peer], timeout: timeout)
    XCTAssertEqual(sent.status, 0, "\(label): \(sent.error)", line: line)
    sink.waitForExit(seconds: 60)
    let report = sink.stop()
    XCTAssertTrue(report.contains("received \(bytes) bytes"), "\(label): \(report)", line: line)
    XCTAssertTrue(report.contains("sha256 \(expected)"), "\(label): \(report)", line: line)
    return report
  }

  /// Unikernel -> Linux: `bytes` bytes from a guest in source mode, whose digest must be that
  /// of what arrived.
  func receiveBulk(bytes: Int, from source: Guest, peer: String, timeout: TimeInterval, label: String, line: UInt = #line)
    throws -> String
  {
    let received = try TemporaryFile()
    let fetched = try exec(["sh", "-c", "socat -u \(peer) - > \(received.url.path)"], timeout: timeout)
    XCTAssertEqual(fetched.status, 0, "\(label): \(fetched.error)", line: line)
    let digest = try sha256Digest(received.url.path)
    source.waitForExit(seconds: 60)
    let report = source.stop()
    XCTAssertTrue(report.contains("sent \(bytes) bytes"), "\(label): \(report)", line: line)
    XCTAssertTrue(report.contains("sha256 \(digest)"), "\(label): \(report) vs \(digest)", line: line)
    return report
  }

  /// Linux -> Linux across a middlebox: `bytes` random bytes from this namespace to socat
  /// listening at `address` port 5001 in `far`, compared by SHA-256 once all arrived.
  func sendAcross(bytes: Int, to far: Namespace, address: String, label: String, line: UInt = #line) throws {
    let directory = try TemporaryDirectory()
    let data = directory.url.appendingPathComponent("data").path
    let received = directory.url.appendingPathComponent("received").path
    XCTAssertEqual(try runCommand(["sh", "-c", "head -c \(bytes) /dev/urandom > \(data)"], timeout: 60).status, 0, line: line)
    let sink = try far.background(["sh", "-c", "socat -u TCP-LISTEN:5001,reuseaddr - > \(received)"], log: try TemporaryFile())
    usleep(300_000)
    let send = try exec(["socat", "-u", "FILE:\(data)", "TCP:\(address):5001"], timeout: 180)
    XCTAssertEqual(send.status, 0, "\(label): \(send.error)", line: line)
    sink.waitUntilExit()
    XCTAssertEqual(try sha256Digest(received), try sha256Digest(data), "\(label): \(bytes) bytes arrived changed", line: line)
  }
}

struct GuestError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Builds every example once per test run, so the first test does not pay for it in its
/// own timeouts.
enum Examples {
  nonisolated(unsafe) static var built = false
  /// Scripts/test's second pass (SIROCCO_TEST_RING=1) runs end-to-end tests again with every
  /// unix and spt guest that has a TAP on the batched path (`sirocco run --io-uring`).
  static let ringPass = ProcessInfo.processInfo.environment["SIROCCO_TEST_RING"] == "1"
  /// Every example runs on each of these.
  static let targets = ["unix", "spt"]
  /// The tender `sirocco run` starts spt images with when it is not Sirocco's own
  /// (`SIROCCO_SPT_TENDER`: Solo5's `solo5-spt`, for the compatibility pass in docs/spt.md);
  /// nil for Sirocco's.
  static let otherSPTTender = ProcessInfo.processInfo.environment["SIROCCO_SPT_TENDER"].flatMap { $0.isEmpty ? nil : $0 }

  /// Whether `target`'s guests run under a tender with Sirocco's extensions (offloads, the
  /// io_uring, a standard error of their own, its refusals' wording): false for spt under
  /// another tender, after printing that `what` goes unchecked there (never in CI, which
  /// runs Sirocco's tender).
  static func siroccoTender(_ target: String, checks what: String) -> Bool {
    guard target == "spt", let other = otherSPTTender else { return true }
    print("not checked under \(URL(fileURLWithPath: other).lastPathComponent): \(what)")
    return false
  }

  static func buildAll() throws {
    guard !built else { return }
    let examples = ["hello", "ping", "udp-echo", "block-test", "tcp-echo", "tcp-bulk", "website", "dns-server", "dns-lookup", "dhcp-server"]
    // unix first: an spt build reads the manifest from the unix build of the same example.
    for target in ["unix", "spt"] { try buildApplications(examples.map(Paths.example), target: target, timeout: 600) }
    built = true
  }
}

/// What Tests/Guests/machine prints for `--do=resources` when built with `directory` as its
/// Resources, worked out from the files themselves: each non-hidden file (links followed)
/// with its size, date and SHA-256 (sha256sum), each directory before what it holds, in
/// name order; then 16 bytes of greeting.txt from offset 6.
func machineResourceListing(_ directory: URL) throws -> [String] {
  var lines: [String] = []
  func walk(_ url: URL, _ prefix: String) throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") }
    for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
      let file = url.appendingPathComponent(name).resolvingSymlinksInPath()
      let key = prefix + name
      let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
      if attributes[.type] as? FileAttributeType == .typeDirectory {
        lines.append("resource \(key)/ dictionary")
        try walk(file, key + "/")
        continue
      }
      let size = attributes[.size] as? Int ?? -1
      let date = Int((attributes[.modificationDate] as? Date ?? .distantPast).timeIntervalSince1970.rounded(.down))
      let digest = try runCommand(["sha256sum", file.path]).output.prefix(64)
      lines.append("resource \(key) \(size) \(date) \(digest)")
    }
  }
  try walk(directory, "")
  let greeting = try Data(contentsOf: directory.appendingPathComponent("greeting.txt"))
  lines.append("resource greeting.txt from 6: " + String(decoding: greeting.dropFirst(6).prefix(16), as: UTF8.self))
  return lines
}
