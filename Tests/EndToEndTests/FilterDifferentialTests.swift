// SiroccoFilter against libpcap (Debian's 1.10.3) on this machine: filter_checks.py makes a
// capture of 471 frames with scapy (every protocol the language names, VLAN and MPLS tags,
// fragments, frames cut short and malformed ones) and, for 575 expressions, compares what
// `sirocco filter` matches with pcap_offline_filter, runs Sirocco's program through libpcap's
// bpf_filter, compares its listing with `tcpdump -d`'s, and checks that the 91 expressions
// libpcap refuses are refused (exit status 2); and 6 runs of `-w` against
// `tcpdump -w`.

import Foundation
import XCTest

final class FilterDifferentialTests: XCTestCase {
  static let checks = Paths.root.appendingPathComponent("Tests/EndToEndTests/filter_checks.py").path
  /// Debian's python3-scapy is installed for the system's Python.
  static let python = "/usr/bin/python3"

  func testMatchesAndProgramsAreLibpcapsOnACorpusOfFramesAndExpressions() throws {
    try requireTools([("tcpdump", "tcpdump")])
    guard (try? runCommand([Self.python, "-c", "import scapy.all; import ctypes; ctypes.CDLL('libpcap.so.0.8')"], timeout: 60).status) == 0
    else { throw missing("python3-scapy and libpcap0.8 (import scapy.all, load libpcap.so.0.8 with \(Self.python))") }
    let directory = try TemporaryDirectory()
    let outcome = try runCommand([Self.python, Self.checks, Paths.tool, directory.path], timeout: 600)
    XCTAssertEqual(outcome.status, 0, outcome.output + outcome.error)
    // "filter_checks: 471 frames; N expressions matched alike, M refused by both, 0 differences"
    let summary = outcome.output.split(separator: "\n").last.map(String.init) ?? ""
    let words = summary.split(separator: " ")
    func number(before word: String) -> Int? {
      words.firstIndex(where: { $0.hasPrefix(word) }).flatMap { $0 > 0 ? Int(words[$0 - 1]) : nil }
    }
    XCTAssertGreaterThanOrEqual(number(before: "expressions") ?? 0, 575, summary)
    XCTAssertGreaterThanOrEqual(number(before: "refused") ?? 0, 91, summary)
    XCTAssertEqual(number(before: "differences"), 0, outcome.output + outcome.error)
  }
}
