// Fuzz target: Sirocco's pcap-filter compiler and matcher against libpcap's. The input is an
// expression, a zero byte, then a frame (the `filter` target's form). An expression Sirocco
// compiles, libpcap compiles too (pcap_compile, optimised, Ethernet, netmask unknown), and
// both give the same answer on the frame, whole and cut at every length up to 64 bytes
// (pcap_offline_filter, caplen the cut, len the whole). What libpcap accepts and Sirocco
// refuses is not checked here: the primitives Sirocco leaves out are listed in
// docs/filter.md, and FilterDifferentialTests holds the refusals to libpcap's.

import CPcap
import SiroccoFilter

/// libpcap's compiler for Ethernet frames, opened once.
nonisolated(unsafe) let libpcap = pcap_open_dead(DLT_EN10MB, 262_144)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFilterAgainstLibpcap(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let (expression, input) = expressionAndFrame(data, size, limit: 256) else { return 0 }
  guard let ours = try? PacketFilter(expression) else { return 0 }
  var program = bpf_program()
  let status = pcap_compile(libpcap, &program, expression, 1, PCAP_NETMASK_UNKNOWN)
  require(status == 0, "Sirocco compiles '\(expression)', libpcap refuses it: \(String(cString: pcap_geterr(libpcap)))")
  defer { pcap_freecode(&program) }
  // One byte more, never read (caplen stops before it): an empty frame has an address too.
  let frame = input + [0]
  frame.withUnsafeBytes { buffer in
    let whole = UnsafeRawBufferPointer(rebasing: buffer.dropLast())
    for cut in [whole.count] + Array(0..<min(whole.count, 64)) {
      var header = pcap_pkthdr()
      header.caplen = UInt32(cut)
      header.len = UInt32(whole.count)
      let theirs = pcap_offline_filter(&program, &header, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
      let part = UnsafeRawBufferPointer(rebasing: whole[0..<cut])
      let answer = ours.program.run(part, wireLength: whole.count)
      require(
        (answer != 0) == (theirs != 0) && ours.matcher.run(part, wireLength: whole.count) == answer,
        "'\(expression)' on \(cut) of \(whole.count) bytes (\(hex(whole.prefix(cut)))): libpcap \(theirs), Sirocco \(answer)")
    }
  }
  return 0
}
