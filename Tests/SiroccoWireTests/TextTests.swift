// Text: lines built as UTF-8 bytes (literals, strings, integers, TextConvertible values),
// and strings made from bytes that may not be UTF-8.

import SiroccoWire
import XCTest

final class TextTests: XCTestCase {
  struct Pair: TextConvertible, CustomStringConvertible {
    var description: String { "never used: TextConvertible is preferred" }
    func write(to text: inout Text) { text.append("(1, 2)") }
  }

  struct Described: CustomStringConvertible {
    var description: String { "described" }
  }

  func testInterpolationTakesEveryKindOfValue() {
    let name = "héllo"
    let text: Text = "\(name) \(-42) \(UInt8(255)) \(UInt64.max) \(Int.min) \(Pair()) \(Described()) \(IPv4Address(10, 0, 0, 1))"
    XCTAssertEqual(
      String(text), "héllo -42 255 18446744073709551615 -9223372036854775808 (1, 2) described 10.0.0.1")
    XCTAssertEqual(text.bytes.count, String(text).utf8.count)
  }

  func testDecimalsPadAndHexBytes() {
    var text = Text()
    text.append(decimal: 7, width: 3)
    text.append(byte: UInt8(ascii: " "))
    text.append(decimal: 12345, width: 3)
    text.append(byte: UInt8(ascii: " "))
    text.append(decimal: 0)
    text.append(byte: UInt8(ascii: " "))
    text.append(hexByte: 0x0f)
    text.append(hexByte: 0xa0)
    XCTAssertEqual(String(text), "007 12345 0 0fa0")
    var padded: Text = "ab"
    padded.pad(to: 5)
    padded.append("|")
    padded.pad(to: 2)
    XCTAssertEqual(String(padded), "ab   |", "padding never shortens")
  }

  func testStringsFromBytesThatAreNotUTF8() {
    let valid: [UInt8] = Array("grüße".utf8)
    XCTAssertEqual(valid.withUnsafeBufferPointer { String(utf8Bytes: $0) }, "grüße")
    let broken: [UInt8] = [UInt8(ascii: "a"), 0xff, 0xc3, UInt8(ascii: "b"), 0xc3, 0xbc]
    XCTAssertEqual(broken.withUnsafeBufferPointer { String(utf8Bytes: $0) }, "a??b??", "every non-ASCII byte of invalid text becomes ?")
    XCTAssertEqual([UInt8]().withUnsafeBufferPointer { String(utf8Bytes: $0) }, "")
  }

  func testUTF8Comparisons() {
    XCTAssertTrue("boot".utf8Equals("boot"))
    XCTAssertFalse("boot".utf8Equals("boo"))
    XCTAssertFalse("e\u{301}".utf8Equals("é"), "compared by bytes, not canonical equivalence")
    XCTAssertTrue("--name=x".utf8HasPrefix("--"))
    XCTAssertFalse("-".utf8HasPrefix("--"))
    XCTAssertTrue("".utf8HasPrefix(""))
  }
}
