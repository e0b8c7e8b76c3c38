// A pcap-filter expression compiled once (tcpdump's language, pcap-filter(7)), for Ethernet
// frames: parsed as libpcap parses it, made into libpcap's tests, optimised as libpcap's
// optimiser does, laid out as classic BPF (the program `tcpdump -d` prints), and run by
// `matches` from a decoded form without allocating. See docs/filter.md.

public struct PacketFilter: Sendable {
  /// The expression as given.
  public let expression: String
  /// The program: `sirocco filter -d` prints it; a Linux socket can run it.
  public let program: BPFProgram
  /// The program decoded for running.
  public let matcher: Matcher

  /// Compiles `expression`; an error names the column where it went wrong. An empty
  /// expression matches every frame.
  public init(_ expression: String) throws(FilterError) {
    var parser = try Parser(expression)
    let condition = try parser.parse()
    let graph = FlowGraph(condition, accept: Self.accept)
    try graph.optimise()
    if graph.isReturn(graph.nodes[graph.root].code), graph.nodes[graph.root].k == 0 {
      throw FilterError("expression rejects all packets", column: 0)
    }
    self.expression = expression
    do {
      program = try BPFProgram(checking: graph.instructions())
    } catch {
      throw FilterError("expression too complex: " + error.description, column: 0)
    }
    matcher = Matcher(program)
  }

  /// What a match returns: libpcap's default snapshot length (the whole frame).
  static let accept: UInt32 = 262_144

  /// Whether the frame matches: `frame` is what was captured, `wireLength` its length on
  /// the wire (`len`, `less`, `greater` read it; by default the captured length).
  public func matches(_ frame: UnsafeRawBufferPointer, wireLength: Int? = nil) -> Bool {
    matcher.run(frame, wireLength: wireLength ?? frame.count) != 0
  }

  public func matches(_ frame: [UInt8], wireLength: Int? = nil) -> Bool {
    frame.withUnsafeBytes { matches($0, wireLength: wireLength) }
  }
}
