// `sirocco filter`: a pcap-filter expression compiled by SiroccoFilter, printed as classic BPF
// (`-d`, `-dd`, `-ddd`, as `tcpdump -d` prints libpcap's) or matched against the frames of
// a capture file: their numbers, or (`-w OUT`) those frames written out, as `tcpdump -r FILE
// -w OUT EXPR` would.

import ArgumentParser
import Foundation
import SiroccoFilter

struct Filter: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compile a pcap-filter expression: print its BPF program, or match it against a capture file.",
    discussion: """
      With -d, -dd or -ddd, prints the program as `tcpdump -d`, `-dd` (a C array) or `-ddd` \
      (decimal, as `tc` and `iptables -m bpf` read it); with --swift NAME, as a Swift function \
      NAME(_:wireLength:) to compile into a unikernel (native code, no interpreter). With a capture file (pcap, Ethernet), \
      prints the numbers of the frames that match, from 1, one a line; with -w OUT, writes \
      them to OUT instead. A malformed expression is refused with its column (exit status 2). \
      See docs/filter.md.
      """)

  @Flag(name: .customShort("d"), help: "Print the program as tcpdump -d does.")
  var listing = false

  @Flag(name: .customLong("dd", withSingleDash: true), help: "Print the program as a C array (tcpdump -dd).")
  var cArray = false

  @Flag(name: .customLong("ddd", withSingleDash: true), help: "Print the program in decimal (tcpdump -ddd).")
  var decimal = false

  @Option(name: .customLong("swift"), help: "Print the program as a Swift function of this name.")
  var swiftName: String?

  @Option(name: .customShort("w"), help: "Write the matching frames to this capture file.")
  var output: String?

  @Argument(help: "The expression (one argument: quote it).")
  var expression: String

  @Argument(help: "A capture file (pcap) to match.")
  var file: String?

  func run() throws {
    try reporting {
      let filter: PacketFilter
      do {
        filter = try PacketFilter(expression)
      } catch {
        throw ToolError.usage("bad filter expression: \(error)")
      }
      if listing { print(filter.program.listing, terminator: "") }
      if cArray { print(filter.program.cArray, terminator: "") }
      if decimal { print(filter.program.decimal, terminator: "") }
      if let swiftName {
        guard let first = swiftName.unicodeScalars.first, first == "_" || first.properties.isAlphabetic,
          swiftName.unicodeScalars.allSatisfy({ $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) })
        else {
          throw ToolError.usage("--swift: '\(swiftName)' is not a Swift identifier (expected letters, digits and _, not first a digit)")
        }
        print(filter.program.swiftSource(name: swiftName, expression: expression), terminator: "")
      }
      guard let file else {
        if output != nil { throw ToolError.usage("-w needs a capture file to read") }
        if !listing && !cArray && !decimal && swiftName == nil {
          throw ToolError.usage("give -d, -dd, -ddd or --swift NAME, or a capture file to match")
        }
        return
      }
      let capture = try CaptureFile(path: file)
      var matched = Data()
      var numbers = ""
      for (index, record) in capture.records.enumerated() {
        let frame = capture.data[record.data]
        let matches = frame.withUnsafeBytes { filter.matches($0, wireLength: record.wireLength) }
        guard matches else { continue }
        if output != nil {
          matched.append(capture.data[record.header.lowerBound..<record.data.upperBound])
        } else {
          numbers += "\(index + 1)\n"
        }
      }
      if let output {
        var written = capture.data[capture.data.startIndex..<(capture.data.startIndex + CaptureFile.headerLength)]
        written.append(matched)
        guard FileManager.default.createFile(atPath: output, contents: written) else {
          throw ToolError.failure("cannot write '\(output)'")
        }
      } else {
        print(numbers, terminator: "")
      }
    }
  }
}

/// A classic pcap file (either byte order, microsecond or nanosecond timestamps) of
/// Ethernet frames, read whole.
struct CaptureFile {
  static let headerLength = 24

  struct Record {
    /// The record's 16-byte header and its captured bytes, as ranges of `data`.
    var header: Range<Int>
    var data: Range<Int>
    var wireLength: Int
  }

  let data: Data
  let records: [Record]

  init(path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ToolError.usage("cannot read '\(path)': expected a capture file (pcap)")
    }
    self.data = data
    let bytes = [UInt8](data)
    guard bytes.count >= Self.headerLength else {
      throw ToolError.usage("'\(path)' is not a pcap file: shorter than its 24-byte header")
    }
    let magic = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
    let swapped: Bool
    switch magic {
    case 0xa1b2_c3d4, 0xa1b2_3c4d: swapped = false
    case 0xd4c3_b2a1, 0x4d3c_b2a1: swapped = true
    case 0x0a0d_0d0a:
      throw ToolError.usage("'\(path)' is a pcapng file: expected pcap (convert with `editcap -F pcap`)")
    default:
      throw ToolError.usage("'\(path)' is not a pcap file: bad magic number 0x\(String(magic, radix: 16))")
    }
    func word(_ offset: Int) -> Int {
      let little = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
      let big = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
      return swapped ? big : little
    }
    let linkType = word(20) & 0x0fff_ffff
    guard linkType == 1 else {
      throw ToolError.usage("'\(path)' has link type \(linkType): expected Ethernet (1)")
    }
    var records: [Record] = []
    var offset = Self.headerLength
    while offset < bytes.count {
      guard offset + 16 <= bytes.count else {
        throw ToolError.usage("'\(path)': record \(records.count + 1) is cut short in its header (at byte \(offset))")
      }
      let captured = word(offset + 8)
      let wire = word(offset + 12)
      guard captured <= bytes.count - offset - 16 else {
        throw ToolError.usage("'\(path)': record \(records.count + 1) is cut short: \(captured) bytes announced at byte \(offset)")
      }
      records.append(Record(header: offset..<(offset + 16), data: (offset + 16)..<(offset + 16 + captured), wireLength: wire))
      offset += 16 + captured
    }
    self.records = records
  }
}
