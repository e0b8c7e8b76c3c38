// The guest's command line: words split at spaces, a space or backslash escaped with a
// backslash kept inside its word, and `escape` the inverse of `words` for any word.

import SiroccoABI
import XCTest

final class BootCommandLineTests: XCTestCase {
  func words(_ line: String) -> [String] {
    line.withCString { $0.withMemoryRebound(to: UInt8.self, capacity: line.utf8.count + 1) { BootCommandLine.words($0) } }
  }

  func testWordsSplitAtUnescapedSpacesOnly() {
    XCTAssertEqual(words("  --a=1   --b=2 "), ["--a=1", "--b=2"])
    XCTAssertEqual(words("--port0-filter=not\\ icmp --x"), ["--port0-filter=not icmp", "--x"])
    XCTAssertEqual(words("a\\\\ b"), ["a\\", "b"], "an escaped backslash, then a space that splits")
    XCTAssertEqual(words("a\\b c\\"), ["a\\b", "c\\"], "a backslash before anything else stands for itself")
    XCTAssertEqual(words(""), [])
    XCTAssertEqual(BootCommandLine.words(nil), [])
  }

  func testJoinAndEscapeAreTheInverseOfWords() {
    let samples = ["tcp port 80 and not host 10.0.0.1", "a\\b", "\\ ", " lead", "trail ", "two  spaces", "é ü", "plain"]
    XCTAssertEqual(words(BootCommandLine.join(samples)), samples)
    XCTAssertEqual(BootCommandLine.escape("not icmp"), "not\\ icmp")
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<500 {
      let alphabet = Array("ab \\=-".utf8)
      let sample = (0..<3).map { _ in
        String(decoding: (0..<Int.random(in: 1...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
      }
      XCTAssertEqual(words(BootCommandLine.join(sample)), sample)
    }
  }
}
