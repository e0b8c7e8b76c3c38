// The command line a freestanding guest is given (by an spt tender, or a VMM through PVH's
// start info): a NUL-terminated string of words separated by spaces.

import SiroccoWire

public enum BootCommandLine {
  /// The words of `commandLine`, split at the bytes: the same words as
  /// `split(separator: " ")` gives for ASCII text, without the Unicode tables Character
  /// splitting needs.
  public static func words(_ commandLine: UnsafePointer<UInt8>?) -> [String] {
    guard let commandLine else { return [] }
    var words: [String] = []
    var start = 0
    var end = 0
    while true {
      let byte = commandLine[end]
      if byte == 0 || byte == UInt8(ascii: " ") {
        if end > start {
          words.append(String(utf8Bytes: UnsafeBufferPointer(start: commandLine + start, count: end - start)))
        }
        if byte == 0 { return words }
        start = end + 1
      }
      end += 1
    }
  }
}
