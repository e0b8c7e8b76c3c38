// The pcap-filter grammar (pcap-filter(7)), parsed as libpcap's yacc grammar parses it:
// `and` and `or` have the same precedence and group from the left, `not` binds tightest;
// a bare address, number or name after `and`/`or` takes the qualifiers of the primitive
// before it (`host a or b`, `tcp port 80 or 443`); in arithmetic, `|` binds loosest, then
// `&`, the shifts, `+ -`, `* /`, and `%` and `^` (which libpcap gives no precedence) take
// everything to their right. Each primitive becomes a `Condition` as it is read, since a
// `vlan` or `mpls` moves the offsets of what follows it.

/// The qualifiers in effect for an address or number: its protocol, direction and kind.
struct Qualifiers: Equatable {
  enum Layer: Equatable {
    case unspecified, link, ip, arp, rarp, sctp, tcp, udp, icmp, igmp, igrp, pim, vrrp, carp, ip6, icmp6, ah, esp
  }
  enum Direction: Equatable { case unspecified, source, destination, either, both }
  enum Kind: Equatable { case unspecified, host, net, port, portrange, proto, protochain, gateway }

  var proto: Layer = .unspecified
  var direction: Direction = .unspecified
  var kind: Kind = .unspecified
  /// After a term that has no qualifiers to pass on (`tcp`, `ip[0] = 1`, `less 10`): a bare
  /// address after it is a syntax error, as in libpcap.
  var none = false

  static let missing = Qualifiers(none: true)
}

struct Parser {
  var tokens: [Token]
  var position = 0
  var generator: Generator

  init(_ expression: String) throws(FilterError) {
    tokens = try Lexer(expression).tokens()
    generator = Generator()
  }

  var current: Token { tokens[position] }
  var kind: Token.Kind { tokens[position].kind }

  mutating func advance() { if position < tokens.count - 1 { position += 1 } }

  func error(_ message: String) -> FilterError { FilterError(message, column: current.column) }

  func syntaxError() -> FilterError {
    if case .end = kind { return .syntax("syntax error: the expression ends too early", column: current.column) }
    return .syntax("syntax error", column: current.column)
  }

  mutating func expect(_ symbol: Character) throws(FilterError) {
    guard case .symbol(let byte) = kind, byte == symbol.asciiValue! else {
      throw FilterError.syntax("syntax error: expected '" + String(symbol) + "'", column: current.column)
    }
    advance()
  }

  func isSymbol(_ symbol: Character) -> Bool {
    if case .symbol(let byte) = kind { return byte == symbol.asciiValue! }
    return false
  }

  // MARK: Expressions

  /// The whole expression (nil when empty: every packet).
  mutating func parse() throws(FilterError) -> Condition? {
    if case .end = kind { return nil }
    let (condition, _) = try expression()
    guard case .end = kind else { throw syntaxError() }
    return condition
  }

  /// expr: term { (and | or) (id | term) }. `context`: the qualifiers in effect before it
  /// (a parenthesised expression passes them on, as libpcap's grammar does).
  mutating func expression(_ context: Qualifiers = .missing) throws(FilterError) -> (Condition, Qualifiers) {
    var (condition, qualifiers) = try term(context)
    while true {
      let isAnd: Bool
      switch kind {
      case .and: isAnd = true
      case .or: isAnd = false
      default: return (condition, qualifiers)
      }
      advance()
      let right: Condition
      // A bare id continues the qualifiers before it only where an id may end (yacc's
      // lookahead): `port 80 or 443`, but `port 80 or 4 = len` is a relation.
      if let end = identifierEnd(position), Self.endsIdentifier(tokens[end].kind),
        let continued = try attempt({ (parser: inout Parser) throws(FilterError) in try parser.identifier(qualifiers) })
      {
        right = continued
      } else {
        let (next, nextQualifiers) = try term(qualifiers)
        right = next
        qualifiers = nextQualifiers
      }
      condition = isAnd ? .and(condition, right) : .or(condition, right)
    }
  }

  /// Runs `parse` from here; where it fails on a syntax error, puts the position (and the
  /// generator's offsets and registers) back and returns nil, so that another reading can
  /// be tried. Any other error is the expression's.
  mutating func attempt<T>(_ parse: (inout Parser) throws(FilterError) -> T) throws(FilterError) -> T? {
    var copy = self
    do {
      let result = try parse(&copy)
      self = copy
      return result
    } catch {
      guard error.isSyntax else { throw error }
      return nil
    }
  }

  /// Where the id starting at token `start` ends (the index after it), read by its words
  /// alone; nil if no id starts there.
  func identifierEnd(_ start: Int) -> Int? {
    switch tokens[start].kind {
    case .symbol(UInt8(ascii: "!")):
      return identifierEnd(start + 1)
    case .symbol(UInt8(ascii: "(")):
      // ( id { and|or id } ): each id must end where an id may.
      var index = start + 1
      while true {
        guard let end = identifierEnd(index) else { return nil }
        switch tokens[end].kind {
        case .and, .or: index = end + 1
        case .symbol(UInt8(ascii: ")")): return end + 1
        default: return nil
        }
      }
    case .ipv4, .ipv6:
      if case .symbol(UInt8(ascii: "/")) = tokens[start + 1].kind, case .number = tokens[start + 2].kind { return start + 3 }
      if tokens[start + 1].kind == .keyword(.mask), case .ipv4 = tokens[start + 2].kind { return start + 3 }
      return start + 1
    case .number, .mac, .name:
      return start + 1
    default:
      return nil
    }
  }

  /// What may follow an id (its lookahead in libpcap's grammar).
  static func endsIdentifier(_ kind: Token.Kind) -> Bool {
    switch kind {
    case .and, .or, .end, .symbol(UInt8(ascii: ")")): true
    default: false
    }
  }

  /// term: not term | rterm
  mutating func term(_ context: Qualifiers) throws(FilterError) -> (Condition, Qualifiers) {
    if isSymbol("!") {
      advance()
      let (condition, qualifiers) = try term(context)
      return (.not(condition), qualifiers)
    }
    return try relationalTerm(context)
  }

  mutating func relationalTerm(_ context: Qualifiers) throws(FilterError) -> (Condition, Qualifiers) {
    // A relation between arithmetic values: tried first, since it can start with '(' or a
    // protocol name as other terms do.
    if startsArithmetic(), let relation = try attempt({ (parser: inout Parser) throws(FilterError) in try parser.relation() }) {
      return (relation, .missing)
    }
    if isSymbol("(") {
      advance()
      let (condition, _) = try expression(context)
      try expect(")")
      return (condition, context)
    }
    switch kind {
    case .keyword(.less), .keyword(.greater):
      let less = kind == .keyword(.less)
      advance()
      let n = try number()
      return (less ? generator.less(n) : generator.greater(n), .missing)
    case .keyword(.byte):
      advance()
      let index = try number()
      let operation = current
      advance()
      let value = try number()
      return (try generator.byteOperation(operation, index: index, value: value), .missing)
    case .keyword(.vlan), .keyword(.mpls):
      let vlan = kind == .keyword(.vlan)
      let column = current.column
      advance()
      let tag: UInt32? = if case .number = kind { try number() } else if isSymbol("(") { try parenthesisedNumber() } else { nil }
      return (try vlan ? generator.vlan(tag, column: column) : generator.mpls(tag, column: column), .missing)
    case .keyword(.unsupported(let word)):
      throw error("'" + word + "' is not supported by this compiler (Ethernet frames only; see docs/filter.md)")
    default:
      break
    }
    return try qualifiedTerm()
  }

  /// [protocol] [direction] [kind] id, a protocol alone, or `[protocol] broadcast|multicast`.
  mutating func qualifiedTerm() throws(FilterError) -> (Condition, Qualifiers) {
    var qualifiers = Qualifiers()
    let start = current
    if let proto = protocolQualifier() {
      qualifiers.proto = proto
      advance()
      switch kind {
      case .keyword(.broadcast):
        advance()
        return (try generator.broadcast(proto, column: start.column), .missing)
      case .keyword(.multicast):
        advance()
        return (try generator.multicast(proto, column: start.column), .missing)
      case .keyword(.src), .keyword(.dst), .keyword(.host), .keyword(.net), .keyword(.port), .keyword(.portrange),
        .keyword(.proto), .keyword(.protochain), .keyword(.gateway):
        break
      default:
        return (try generator.protocolAbbreviation(proto, column: start.column), .missing)
      }
    } else {
      switch kind {
      case .keyword(.broadcast):
        advance()
        return (try generator.broadcast(.unspecified, column: start.column), .missing)
      case .keyword(.multicast):
        advance()
        return (try generator.multicast(.unspecified, column: start.column), .missing)
      default:
        break
      }
    }
    var sawQualifier = false
    if case .keyword(let word) = kind, word == .src || word == .dst {
      sawQualifier = true
      advance()
      qualifiers.direction = word == .src ? .source : .destination
      let pairs: [(Token.Kind, Qualifiers.Direction)] = [(.or, .either), (.and, .both)]
      for (joiner, direction) in pairs where kind == joiner {
        let other: Keyword = word == .src ? .dst : .src
        if case .keyword(let next) = tokens[position + 1].kind, next == other {
          advance()
          advance()
          qualifiers.direction = direction
        }
      }
    }
    if case .keyword(let word) = kind {
      let kinds: [(Keyword, Qualifiers.Kind)] = [
        (.host, .host), (.net, .net), (.port, .port), (.portrange, .portrange), (.proto, .proto),
        (.protochain, .protochain), (.gateway, .gateway),
      ]
      if let match = kinds.first(where: { $0.0 == word }) {
        let needsNoDirection = match.1 == .proto || match.1 == .protochain || match.1 == .gateway
        if needsNoDirection, qualifiers.direction != .unspecified { throw syntaxError() }
        sawQualifier = true
        qualifiers.kind = match.1
        advance()
      }
    }
    guard sawQualifier else { throw syntaxError() }
    return (try identifier(qualifiers), qualifiers)
  }

  func protocolQualifier() -> Qualifiers.Layer? {
    guard case .keyword(let word) = kind else { return nil }
    switch word {
    case .link: return .link
    case .ip: return .ip
    case .arp: return .arp
    case .rarp: return .rarp
    case .sctp: return .sctp
    case .tcp: return .tcp
    case .udp: return .udp
    case .icmp: return .icmp
    case .igmp: return .igmp
    case .igrp: return .igrp
    case .pim: return .pim
    case .vrrp: return .vrrp
    case .carp: return .carp
    case .ip6: return .ip6
    case .icmp6: return .icmp6
    case .ah: return .ah
    case .esp: return .esp
    default: return nil
    }
  }

  // MARK: Identifiers (addresses, numbers, names) under qualifiers

  /// id: an address, number or name, `not id`, or `( id { and|or id } )`.
  mutating func identifier(_ qualifiers: Qualifiers) throws(FilterError) -> Condition {
    let token = current
    switch token.kind {
    case .symbol(UInt8(ascii: "!")):
      advance()
      return .not(try identifier(qualifiers))
    case .symbol(UInt8(ascii: "(")):
      advance()
      var condition = try identifier(qualifiers)
      while kind == .and || kind == .or {
        let isAnd = kind == .and
        advance()
        let right = try identifier(qualifiers)
        condition = isAnd ? .and(condition, right) : .or(condition, right)
      }
      try expect(")")
      return condition
    case .number(let value):
      advance()
      try requireQualifiers(qualifiers, at: token)
      return try generator.number(value, qualifiers, column: token.column)
    case .ipv4(let text):
      advance()
      try requireQualifiers(qualifiers, at: token)
      if isSymbol("/") {
        advance()
        let length = try number()
        return try generator.network(text, prefixLength: length, mask: nil, qualifiers, column: token.column)
      }
      if kind == .keyword(.mask) {
        advance()
        guard case .ipv4(let mask) = kind else { throw FilterError.syntax("syntax error: expected a mask such as 255.255.0.0", column: current.column) }
        advance()
        return try generator.network(text, prefixLength: nil, mask: mask, qualifiers, column: token.column)
      }
      return try generator.ipv4(text, qualifiers, column: token.column)
    case .ipv6(let text):
      advance()
      try requireQualifiers(qualifiers, at: token)
      var length: UInt32 = 128
      if isSymbol("/") {
        advance()
        length = try number()
      }
      return try generator.ipv6(text, prefixLength: length, qualifiers, column: token.column)
    case .mac(let text):
      advance()
      try requireQualifiers(qualifiers, at: token)
      return try generator.mac(text, qualifiers, column: token.column)
    case .name(let text):
      advance()
      try requireQualifiers(qualifiers, at: token)
      return try generator.name(text, qualifiers, column: token.column)
    default:
      throw syntaxError()
    }
  }

  func requireQualifiers(_ qualifiers: Qualifiers, at token: Token) throws(FilterError) {
    if qualifiers.none { throw FilterError.syntax("syntax error: an address or number needs a qualifier here (host, net, port...)", column: token.column) }
  }

  mutating func number() throws(FilterError) -> UInt32 {
    guard case .number(let value) = kind else { throw FilterError.syntax("syntax error: expected a number", column: current.column) }
    advance()
    return value
  }

  /// pnum: a number, maybe in parentheses.
  mutating func parenthesisedNumber() throws(FilterError) -> UInt32 {
    if isSymbol("(") {
      advance()
      let value = try parenthesisedNumber()
      try expect(")")
      return value
    }
    return try number()
  }

  // MARK: Arithmetic

  func startsArithmetic() -> Bool {
    switch kind {
    case .number, .keyword(.len): return true
    case .symbol(let byte): return byte == UInt8(ascii: "(") || byte == UInt8(ascii: "-")
    default:
      if protocolQualifier() != nil, case .symbol(UInt8(ascii: "[")) = tokens[position + 1].kind { return true }
      return false
    }
  }

  /// arith relop arith: `>`, `>=`, `=` (`==`) compare; `<=`, `<`, `!=` are their negations.
  mutating func relation() throws(FilterError) -> Condition {
    let left = try arithmetic()
    let comparison: UInt16
    var negated = false
    switch kind {
    case .symbol(UInt8(ascii: ">")): comparison = BPF.jgt
    case .greaterOrEqual: comparison = BPF.jge
    case .symbol(UInt8(ascii: "=")): comparison = BPF.jeq
    case .lessOrEqual: (comparison, negated) = (BPF.jgt, true)
    case .symbol(UInt8(ascii: "<")): (comparison, negated) = (BPF.jge, true)
    case .notEqual: (comparison, negated) = (BPF.jeq, true)
    default: throw syntaxError()
    }
    advance()
    let right = try arithmetic()
    return generator.relation(comparison, left, right, negated: negated)
  }

  /// Binding strength of an arithmetic operator, or nil for none: `%` and `^` have no
  /// precedence in libpcap's grammar, so yacc always shifts them (see `arithmetic`).
  func operatorPrecedence() -> (UInt16, Int?)? {
    switch kind {
    case .symbol(UInt8(ascii: "|")): (BPF.or, 1)
    case .symbol(UInt8(ascii: "&")): (BPF.and, 2)
    case .shiftLeft: (BPF.lsh, 3)
    case .shiftRight: (BPF.rsh, 3)
    case .symbol(UInt8(ascii: "+")): (BPF.add, 4)
    case .symbol(UInt8(ascii: "-")): (BPF.sub, 4)
    case .symbol(UInt8(ascii: "*")): (BPF.mul, 5)
    case .symbol(UInt8(ascii: "/")): (BPF.div, 5)
    case .symbol(UInt8(ascii: "%")): (BPF.mod, nil)
    case .symbol(UInt8(ascii: "^")): (BPF.xor, nil)
    default: nil
    }
  }

  /// Operator-precedence parsing that makes yacc's choices: an operator of the same
  /// strength as the one to its left groups left; an operator without precedence (`%`,
  /// `^`) takes everything to its right, and one to the right of it joins its right side.
  mutating func arithmetic(minimum: Int = 0) throws(FilterError) -> Arithmetic {
    var left = try unary()
    while let (operation, precedence) = operatorPrecedence() {
      if let precedence, precedence < minimum { break }
      let column = current.column
      advance()
      let right = try arithmetic(minimum: precedence.map { $0 + 1 } ?? 0)
      left = try generator.arithmetic(operation, left, right, column: column)
    }
    return left
  }

  /// A negation covers an operator without precedence after its operand (`-a % b` is
  /// `-(a % b)`: yacc shifts there too).
  mutating func unary() throws(FilterError) -> Arithmetic {
    if isSymbol("-") {
      advance()
      var operand = try unary()
      while let (operation, precedence) = operatorPrecedence(), precedence == nil {
        let column = current.column
        advance()
        operand = try generator.arithmetic(operation, operand, try arithmetic(), column: column)
      }
      return generator.negate(operand)
    }
    return try primary()
  }

  mutating func primary() throws(FilterError) -> Arithmetic {
    let token = current
    switch token.kind {
    case .number(let value):
      advance()
      return try generator.constant(value, column: token.column)
    case .keyword(.len):
      advance()
      return try generator.length(column: token.column)
    case .symbol(UInt8(ascii: "(")):
      advance()
      let inner = try arithmetic()
      try expect(")")
      return inner
    default:
      guard let proto = protocolQualifier() else { throw syntaxError() }
      advance()
      try expect("[")
      let index = try arithmetic()
      var size: UInt32 = 1
      if isSymbol(":") {
        advance()
        let sizeColumn = current.column
        size = try number()
        guard size == 1 || size == 2 || size == 4 else {
          throw FilterError("data size must be 1, 2, or 4", column: sizeColumn)
        }
      }
      try expect("]")
      return try generator.load(proto, index: index, size: Int(size), column: token.column)
    }
  }
}
