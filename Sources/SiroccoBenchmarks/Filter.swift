// `sirocco-benchmarks filter CAPTURE ROUNDS EXPRESSION...`: how fast compiled filters match
// the frames of a capture file (pcap, Ethernet) held in memory: for each expression, the
// best of ROUNDS passes over every frame, as frames per second and nanoseconds per frame,
// with the number matched (Scripts/bench-filter runs libpcap's pcap_offline_filter on the
// same frames and expressions and compares). An expression with a function in
// GeneratedFilters.swift (`sirocco filter --swift`, native code) is timed that way too, after
// a check that it returns what the matcher returns for every frame.

import Glibc
import Sirocco

/// The frames of a classic pcap file, each with its length on the wire.
func readCapture(_ path: String) -> [(bytes: [UInt8], wireLength: Int)] {
  guard let file = fopen(path, "rb") else { fatalError("cannot open \(path)") }
  defer { fclose(file) }
  var data: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    let count = fread(&chunk, 1, chunk.count, file)
    if count <= 0 { break }
    data += chunk[0..<count]
  }
  precondition(data.count >= 24 && data[0] == 0xd4 && data[1] == 0xc3, "\(path): expected a little-endian pcap file")
  func word(_ offset: Int) -> Int {
    Int(data[offset]) | Int(data[offset + 1]) << 8 | Int(data[offset + 2]) << 16 | Int(data[offset + 3]) << 24
  }
  var frames: [(bytes: [UInt8], wireLength: Int)] = []
  var offset = 24
  while offset + 16 <= data.count {
    let captured = word(offset + 8)
    let wire = word(offset + 12)
    frames.append((Array(data[(offset + 16)..<(offset + 16 + captured)]), wire))
    offset += 16 + captured
  }
  return frames
}

func benchmarkFilters(_ arguments: ArraySlice<String>) {
  guard arguments.count >= 3, let rounds = Int(arguments[arguments.startIndex + 1]) else {
    fatalError("usage: sirocco-benchmarks filter CAPTURE ROUNDS EXPRESSION...")
  }
  let frames = readCapture(arguments[arguments.startIndex])
  // Frames laid out in one buffer, as a capture ring would hold them.
  var buffer: [UInt8] = []
  var spans: [(start: Int, count: Int, wire: Int)] = []
  for frame in frames {
    spans.append((buffer.count, frame.bytes.count, frame.wireLength))
    buffer += frame.bytes
  }
  for expression in arguments.dropFirst(2) {
    let filter: PacketFilter
    do {
      filter = try PacketFilter(expression)
    } catch {
      print("\(expression): \(error)")
      continue
    }
    // Enough passes for each round to last about 20 ms.
    let passes = max(1, 2_000_000 / max(frames.count, 1))
    /// The best round's nanoseconds per frame, and the frames matched.
    func time(_ matches: (UnsafeRawBufferPointer, Int) -> Bool) -> (perFrame: Double, matched: Int) {
      var best = Int64.max
      var matched = 0
      buffer.withUnsafeBytes { all in
        let views = spans.map { (UnsafeRawBufferPointer(rebasing: all[$0.start..<($0.start + $0.count)]), $0.wire) }
        for _ in 0..<rounds {
          var count = 0
          let start = monotonicNanoseconds()
          for _ in 0..<passes {
            for (frame, wire) in views where matches(frame, wire) { count += 1 }
          }
          best = min(best, monotonicNanoseconds() - start)
          matched = count / passes
        }
      }
      return (Double(best) / Double(passes * spans.count), matched)
    }
    let interpreted = time { filter.matches($0, wireLength: $1) }
    var generated = "- -"
    if let function = generatedFilters[expression] {
      buffer.withUnsafeBytes { all in
        for span in spans {
          let frame = UnsafeRawBufferPointer(rebasing: all[span.start..<(span.start + span.count)])
          let expected = filter.matcher.run(frame, wireLength: span.wire)
          guard function(frame, span.wire) == expected else {
            fatalError("the generated function for '\(expression)' disagrees with the matcher on a frame")
          }
        }
      }
      let native = time { function($0, $1) != 0 }
      precondition(native.matched == interpreted.matched)
      generated = "\(Int(1e9 / native.perFrame)) \(Double(Int(native.perFrame * 100)) / 100)"
    }
    let perFrame = interpreted.perFrame
    print("filter \(Int(1e9 / perFrame)) frames/s \(Double(Int(perFrame * 100)) / 100) ns/frame matched \(interpreted.matched) of \(spans.count) generated \(generated): \(expression)")
  }
}
