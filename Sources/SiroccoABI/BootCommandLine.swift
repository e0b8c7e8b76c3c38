// The command line a freestanding guest is given (by an spt or hvt tender, or a VMM through
// PVH's start info): a NUL-terminated string of words separated by spaces. A Solo5 tender
// joins its arguments with spaces, so a word that holds a space arrives cut in two; `sirocco
// run` writes each space inside a word as `\ ` and each backslash as `\\` (`escape`), and
// `words` takes them back: `--port0-filter=not\ icmp` is one word, `--port0-filter=not icmp`.
// A backslash before any other byte stands for itself.

import SiroccoWire

public enum BootCommandLine {
  /// The words of `commandLine`: split at unescaped spaces, `\ ` and `\\` unescaped. For
  /// ASCII text without backslashes, the same words as `split(separator: " ")` gives,
  /// without the Unicode tables Character splitting needs.
  public static func words(_ commandLine: UnsafePointer<UInt8>?) -> [String] {
    guard let commandLine else { return [] }
    var words: [String] = []
    var word: [UInt8] = []
    var index = 0
    while true {
      let byte = commandLine[index]
      if byte == 0 || byte == UInt8(ascii: " ") {
        if !word.isEmpty {
          words.append(word.withUnsafeBufferPointer { String(utf8Bytes: $0) })
          word.removeAll(keepingCapacity: true)
        }
        if byte == 0 { return words }
      } else if byte == UInt8(ascii: "\\"), commandLine[index + 1] == UInt8(ascii: " ") || commandLine[index + 1] == UInt8(ascii: "\\") {
        word.append(commandLine[index + 1])
        index += 1
      } else {
        word.append(byte)
      }
      index += 1
    }
  }

  /// The command line whose `words` are `words`: each escaped, joined by spaces (what QEMU's
  /// `-append` and Firecracker's `boot_args` take).
  public static func join(_ words: [String]) -> String {
    words.map(escape).joined(separator: " ")
  }

  /// `word` as `words` reads it back from a command line of words joined by spaces: each
  /// space and backslash preceded by a backslash.
  public static func escape(_ word: String) -> String {
    var bytes: [UInt8] = []
    for byte in word.utf8 {
      if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
      bytes.append(byte)
    }
    return bytes.withUnsafeBufferPointer { String(utf8Bytes: $0) }
  }
}
