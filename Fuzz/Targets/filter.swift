// Fuzz target: pcap-filter expressions and the frames they match. The input is an
// expression, a zero byte, then a frame. Whatever the expression, compiling it returns a
// program or an error (never a crash, never a hang); an accepted program passes the
// checker, and its decoded form (Matcher) answers as the reference interpreter does on the
// frame, whole and cut at every length up to 64 bytes.

import SiroccoFilter

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFilter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let (expression, frame) = expressionAndFrame(data, size, limit: 512) else { return 0 }
  let compiled = Result { () throws(FilterError) in try PacketFilter(expression) }
  guard case .success(let filter) = compiled else { return 0 }
  let checked = Result { () throws(BPFError) in try BPFProgram(checking: filter.program.instructions) }
  require((try? checked.get()) != nil, "'\(expression)' compiled to a program the checker refuses")
  frame.withUnsafeBytes { whole in
    for cut in [whole.count] + Array(0..<min(whole.count, 64)) {
      let part = UnsafeRawBufferPointer(rebasing: whole[0..<cut])
      let reference = filter.program.run(part, wireLength: whole.count)
      let decoded = filter.matcher.run(part, wireLength: whole.count)
      require(reference == decoded, "'\(expression)' on \(cut) bytes: the interpreter gives \(reference), the matcher \(decoded)")
    }
  }
  return 0
}
