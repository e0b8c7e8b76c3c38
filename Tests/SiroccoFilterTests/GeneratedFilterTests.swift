// `sirocco filter --swift`: the Swift functions BPFProgram.swiftSource writes, compiled with
// swiftc -O into a program, return for 3,000 frames (templates of every protocol the filters
// read, randomly changed and cut short) exactly what the reference interpreter returns, for
// expressions that use every kind of instruction: loads of each size, indexed loads, the
// header length, the wire length, scratch memory, arithmetic with constants and with X,
// every jump.

import Foundation
import SiroccoFilter
import XCTest

final class GeneratedFilterTests: XCTestCase {
  static let expressions = [
    "tcp port 80", "host 10.0.0.1", "udp and dst port 53", "net 192.168.0.0/16 or net 10.0.0.0/8", "ip6 and tcp",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "vlan and ip", "vlan 100 and vlan 200 and udp",
    "not arp and not (ip6 multicast or ether broadcast)", "ip and (src net 10.1 or dst portrange 1000-2000) and len > 100",
    "icmp or icmp6", "ip[2:2] - ((ip[0] & 0xf) << 2) > 40", "tcp[12] >> 4 > 5", "ip[8] * 3 / 2 % 7 = 3",
    "ip[6:2] & 0x1fff != 0", "(ip[0] & 0xf) * 4 + 20 < ip[2:2]", "udp[4:2] - 8 = len - 42", "less 64", "greater 1000",
    "ether src 02:00:00:00:00:01 or ether dst ff:ff:ff:ff:ff:ff", "ip6 dst host fd00::1", "icmp6 and ip6[40] = 135",
    "tcp dst portrange 8000-8080 and not src host 10.0.0.9", "arp and arp[7] = 2", "ip[1] ^ 0xff = ip[1] | 0", "ip broadcast",
    "ip multicast or ip6 multicast", "ip[9] = 17 and udp[2:2] > udp[0:2]", "ether[12:2] = 0x8100 and ether[14:2] & 0xfff = 5",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
  ]

  /// Frames: IPv4 TCP/UDP/ICMP, IPv6 TCP/UDP/ICMPv6, tagged, ARP; each changed at random
  /// bytes (a few near the headers) and often cut short.
  static func frames(count: Int) -> [[UInt8]] {
    func ipv4(_ proto: UInt8, _ payload: [UInt8]) -> [UInt8] {
      let total = 20 + payload.count
      return [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2] + payload
    }
    let tcp: [UInt8] = [0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0] + Array("GET / HTTP/1.1".utf8)
    let udp: [UInt8] = [0x13, 0x88, 0, 53, 0, 20, 0, 0] + Array(repeating: 7, count: 12)
    let icmp: [UInt8] = [8, 0, 0, 0, 0, 1, 0, 1] + Array(repeating: 1, count: 24)
    let ethernet4: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00]
    let ethernet6: [UInt8] = [0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x86, 0xdd]
    func ipv6(_ next: UInt8, _ payload: [UInt8]) -> [UInt8] {
      [0x60, 0, 0, 0, 0, UInt8(payload.count), next, 64] + [0xfd] + Array(repeating: 0, count: 14) + [2] + [0xfd]
        + Array(repeating: 0, count: 14) + [1] + payload
    }
    let vlan: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00]
    let arp: [UInt8] = ethernet4.prefix(12) + [0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2] + Array(repeating: 3, count: 20)
    let templates: [[UInt8]] = [
      ethernet4 + ipv4(6, tcp), ethernet4 + ipv4(17, udp), ethernet4 + ipv4(1, icmp),
      ethernet6 + ipv6(6, tcp), ethernet6 + ipv6(17, udp), ethernet6 + ipv6(58, [135, 0, 0, 0] + Array(repeating: 0, count: 20)),
      vlan + ipv4(17, udp), vlan + ipv4(6, tcp), arp, Array(repeating: 0xff, count: 1100),
    ]
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { index in
      var frame = templates[index % templates.count]
      for _ in 0..<Int.random(in: 0...4, using: &generator) {
        let at = Int.random(in: 0..<min(frame.count, 64), using: &generator)
        frame[at] = UInt8.random(in: 0...255, using: &generator)
      }
      if Bool.random(using: &generator) { frame = Array(frame.prefix(Int.random(in: 0...frame.count, using: &generator))) }
      return frame
    }
  }

  func testGeneratedFunctionsReturnWhatTheInterpreterReturns() throws {
    guard let swiftc = ["/opt/swift/usr/bin/swiftc", "/usr/bin/swiftc"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
      ?? ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map({ $0 + "/swiftc" })
        .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
    else {
      return XCTFail("no swiftc to compile the generated functions with")
    }
    let programs = try Self.expressions.map { try PacketFilter($0).program }
    let frames = Self.frames(count: 3000)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-generated-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    // The frames, each behind its length (two bytes) and a wire length (two bytes).
    var file: [UInt8] = []
    for (index, frame) in frames.enumerated() {
      let wire = frame.count + index % 3
      file += [UInt8(frame.count >> 8), UInt8(frame.count & 0xff), UInt8(wire >> 8), UInt8(wire & 0xff)] + frame
    }
    try Data(file).write(to: directory.appendingPathComponent("frames"))
    var source = ""
    for (index, program) in programs.enumerated() {
      source += program.swiftSource(name: "filter\(index)", expression: Self.expressions[index]) + "\n"
    }
    source += """
      import Foundation
      let functions: [(UnsafeRawBufferPointer, Int) -> UInt32] = [\((0..<programs.count).map { "filter\($0)" }.joined(separator: ", "))]
      let data = [UInt8](FileManager.default.contents(atPath: CommandLine.arguments[1])!)
      var offset = 0
      var lines = Array(repeating: "", count: functions.count)
      while offset < data.count {
        let count = Int(data[offset]) << 8 | Int(data[offset + 1])
        let wire = Int(data[offset + 2]) << 8 | Int(data[offset + 3])
        let frame = Array(data[(offset + 4)..<(offset + 4 + count)])
        frame.withUnsafeBytes { bytes in
          for (index, function) in functions.enumerated() { lines[index] += String(function(bytes, wire)) + " " }
        }
        offset += 4 + count
      }
      for line in lines { print(line) }

      """
    let main = directory.appendingPathComponent("main.swift")
    try source.write(to: main, atomically: true, encoding: .utf8)
    let binary = directory.appendingPathComponent("filters").path
    let compile = Process()
    compile.executableURL = URL(fileURLWithPath: swiftc)
    compile.arguments = ["-O", "-warnings-as-errors", main.path, "-o", binary]
    let errors = Pipe()
    compile.standardError = errors
    try compile.run()
    let compileErrors = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    compile.waitUntilExit()
    XCTAssertEqual(compile.terminationStatus, 0, "the generated source did not compile cleanly: \(compileErrors)")
    guard compile.terminationStatus == 0 else { return }
    let run = Process()
    run.executableURL = URL(fileURLWithPath: binary)
    run.arguments = [directory.appendingPathComponent("frames").path]
    let output = Pipe()
    run.standardOutput = output
    try run.run()
    let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    run.waitUntilExit()
    let lines = printed.split(separator: "\n", omittingEmptySubsequences: false)
    XCTAssertGreaterThanOrEqual(lines.count, programs.count)
    var accepted = 0
    for (index, program) in programs.enumerated() {
      let results = lines[index].split(separator: " ").map { UInt32($0)! }
      XCTAssertEqual(results.count, frames.count)
      var mismatches = 0
      for (number, frame) in frames.enumerated() where number < results.count {
        let wire = frame.count + number % 3
        let expected = frame.withUnsafeBytes { program.run($0, wireLength: wire) }
        if results[number] != expected { mismatches += 1 }
        if expected != 0 { accepted += 1 }
      }
      XCTAssertEqual(mismatches, 0, "\(Self.expressions[index]): \(mismatches) frames differ from the interpreter")
    }
    XCTAssertGreaterThan(accepted, 3000, "the frames exercise the filters' accepting paths too")
  }
}
