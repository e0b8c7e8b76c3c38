// A firewall's rules, as text: one rule per line, `#` to the end of a line a comment.
//
//   policy deny                                  what no rule matches (default: deny)
//   masquerade out wan                           IPv4 leaving on wan gets wan's address
//   forward in wan tcp 8080 to 10.0.0.2 port 80  a port forward (IPv4)
//   allow in lan out wan                         from lan to wan, anything
//   allow in wan out lan tcp dst port 22         an expression in pcap-filter's language
//   deny in wan icmp6
//
// `allow` and `deny` rules are tried in order on the first packet of a connection; the first
// that matches decides, and the connection's later packets (and its replies) pass without
// being matched again. `in NAME` and `out NAME` name the interface a packet arrives on and
// the one it would leave by; the expression (tcpdump's, docs/filter.md) is matched against the
// frame as it arrived, before any translation. A port forward admits its connections itself.

import SiroccoFilter
import SiroccoWire

public struct FirewallRule: Sendable {
  public enum Action: Sendable, Equatable {
    case allow
    case deny
  }

  public var action: Action
  /// The link index a packet must arrive on, and the one it must leave by (nil: any).
  public var input: Int?
  public var output: Int?
  public var filter: PacketFilter?
  /// The rule's line in the text, and the line itself (comment and spaces trimmed).
  public var line: Int
  public var text: String
}

/// A port forward: connections to `port` on one of the firewall's addresses on `input` go to
/// `target` at `targetPort` instead.
public struct PortForward: Sendable, Equatable {
  public var input: Int
  public var protocolNumber: UInt8
  public var port: UInt16
  public var target: IPv4Address
  public var targetPort: UInt16
  public var line: Int
  public var text: String
}

/// A rule text that could not be read: where, and what was expected.
public struct FirewallRulesError: Error, Equatable, Sendable, CustomStringConvertible, TextConvertible {
  public var line: Int
  /// 1-based; 0 when the whole line is at fault.
  public var column: Int
  public var message: String

  public var description: String { String(Text(self)) }

  public func write(to text: inout Text) {
    text.append("line \(line)")
    if column > 0 { text.append(", column \(column)") }
    text.append(": ")
    text.append(message)
  }
}

public struct FirewallRules: Sendable {
  public var rules: [FirewallRule] = []
  public var forwards: [PortForward] = []
  /// Link indices whose outgoing IPv4 connections take the link's address (source NAT).
  public var masquerade: [Int] = []
  /// What a connection no rule matches gets.
  public var policy: FirewallRule.Action = .deny

  public init() {}

  /// Reads rules from `text`; `links` are the interface names, by link index.
  public static func parse(_ text: String, links: [String]) throws(FirewallRulesError) -> FirewallRules {
    try parse(utf8: Array(text.utf8), links: links)
  }

  /// `parse(_:links:)` on the text's UTF-8 bytes (as a block device holds it).
  public static func parse(utf8 text: [UInt8], links: [String]) throws(FirewallRulesError) -> FirewallRules {
    var result = FirewallRules()
    var lineNumber = 0
    for rawLine in text.pieces(separatedBy: UInt8(ascii: "\n"), keepingEmpty: true) {
      lineNumber += 1
      var bytes = Array(rawLine)
      if let hash = bytes.firstIndex(of: UInt8(ascii: "#")) { bytes.removeSubrange(hash...) }
      var words = Words(bytes: bytes, line: lineNumber)
      guard let keyword = words.next() else { continue }
      let lineText = Self.string(bytes[keyword.start..<words.trimmedEnd])
      func interface(after word: String) throws(FirewallRulesError) -> Int {
        guard let name = words.next() else { throw words.error(at: nil, "expected an interface name after '" + word + "'") }
        guard let index = links.firstIndex(where: { $0.utf8Equals(name.text) }) else {
          throw words.error(at: name, "no interface '" + name.text + "' (there are: " + links.joined(separator: ", ") + ")")
        }
        return index
      }
      if keyword.is("policy") {
        guard let action = words.next(), action.is("allow") || action.is("deny") else {
          throw words.error(at: nil, "expected 'allow' or 'deny' after 'policy'")
        }
        result.policy = action.is("allow") ? .allow : .deny
        try words.end()
      } else if keyword.is("masquerade") {
        guard let word = words.next(), word.is("out") else { throw words.error(at: nil, "expected 'out NAME' after 'masquerade'") }
        let index = try interface(after: "out")
        if !result.masquerade.contains(index) { result.masquerade.append(index) }
        try words.end()
      } else if keyword.is("forward") {
        guard let word = words.next(), word.is("in") else { throw words.error(at: nil, "expected 'in NAME' after 'forward'") }
        let input = try interface(after: "in")
        guard let proto = words.next(), proto.is("tcp") || proto.is("udp") else {
          throw words.error(at: nil, "expected 'tcp' or 'udp' after the interface")
        }
        let port = try words.port()
        guard let to = words.next(), to.is("to") else { throw words.error(at: nil, "expected 'to ADDRESS' after the port") }
        guard let addressWord = words.next() else { throw words.error(at: nil, "expected an IPv4 address after 'to'") }
        guard let target = IPv4Address(addressWord.text) else {
          throw words.error(at: addressWord, "'" + addressWord.text + "' is not an IPv4 address (expected a.b.c.d)")
        }
        var targetPort = port
        if let portWord = words.next() {
          guard portWord.is("port") else { throw words.error(at: portWord, "expected 'port N' or the end of the line") }
          targetPort = try words.port()
        }
        try words.end()
        let protocolNumber = proto.is("tcp") ? IPProtocol.tcp.rawValue : IPProtocol.udp.rawValue
        if result.forwards.contains(where: { $0.input == input && $0.protocolNumber == protocolNumber && $0.port == port }) {
          throw words.error(at: nil, "port " + String(port) + " is forwarded twice")
        }
        result.forwards.append(
          PortForward(
            input: input, protocolNumber: protocolNumber, port: port, target: target, targetPort: targetPort, line: lineNumber,
            text: lineText))
      } else if keyword.is("allow") || keyword.is("deny") {
        var rule = FirewallRule(action: keyword.is("allow") ? .allow : .deny, line: lineNumber, text: lineText)
        var expressionStart = words.position
        while let word = words.peek(), word.is("in") || word.is("out") {
          _ = words.next()
          let index = try interface(after: word.text)
          if word.is("in") {
            guard rule.input == nil else { throw words.error(at: word, "'in' given twice") }
            rule.input = index
          } else {
            guard rule.output == nil else { throw words.error(at: word, "'out' given twice") }
            rule.output = index
          }
          expressionStart = words.position
        }
        let expression = Self.string(bytes[expressionStart..<bytes.count])
        if expression.utf8.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\r") }) {
          do throws(FilterError) {
            rule.filter = try PacketFilter(expression)
          } catch {
            let column = error.column > 0 ? expressionStart + error.column : 0
            throw FirewallRulesError(line: lineNumber, column: column, message: error.message)
          }
        }
        result.rules.append(rule)
      } else {
        throw words.error(at: keyword, "unknown rule '" + keyword.text + "' (expected allow, deny, forward, masquerade or policy)")
      }
    }
    return result
  }
}

/// The bytes as a string (bad UTF-8 becomes `?`).
extension FirewallRules {
  static func string(_ bytes: ArraySlice<UInt8>) -> String {
    Array(bytes).withUnsafeBufferPointer { String(utf8Bytes: $0) }
  }
}

/// The words of one rule line, with their columns.
struct Words {
  struct Word {
    var text: String
    var start: Int

    func `is`(_ keyword: String) -> Bool { text.utf8Equals(keyword) }
  }

  let bytes: [UInt8]
  let line: Int
  var position = 0

  init(bytes: [UInt8], line: Int) {
    self.bytes = bytes
    self.line = line
  }

  static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0d }

  func peek() -> Word? {
    var copy = self
    return copy.next()
  }

  mutating func next() -> Word? {
    while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
    guard position < bytes.count else { return nil }
    let start = position
    while position < bytes.count, !Self.isSpace(bytes[position]) { position += 1 }
    return Word(text: FirewallRules.string(bytes[start..<position]), start: start)
  }

  /// Where the line ends without its trailing spaces.
  var trimmedEnd: Int {
    var end = bytes.count
    while end > 0, Self.isSpace(bytes[end - 1]) { end -= 1 }
    return end
  }

  mutating func port() throws(FirewallRulesError) -> UInt16 {
    guard let word = next() else { throw error(at: nil, "expected a port number") }
    guard let value = asciiDecimal(word.text.utf8), value >= 1, value <= 65535 else {
      throw error(at: word, "'" + word.text + "' is not a port (expected 1-65535)")
    }
    return UInt16(value)
  }

  mutating func end() throws(FirewallRulesError) {
    if let extra = next() { throw error(at: extra, "unexpected '" + extra.text + "' (expected the end of the line)") }
  }

  func error(at word: Word?, _ message: String) -> FirewallRulesError {
    FirewallRulesError(line: line, column: word.map { $0.start + 1 } ?? (trimmedEnd + 1), message: message)
  }
}
