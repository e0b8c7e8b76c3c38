// What both tenders do the same way around their own sequence: the command line as the
// process got it, the options parsed (help printed, bad usage refused), and each failure
// one line on standard error, prefixed with the tender's name.

import CSiroccoSPTTender

extension Tender {
  /// The process's arguments, but its name.
  static func commandLine() -> [String] {
    var arguments: [String] = []
    var index: Int32 = 1
    while index < sirocco_spt_argument_count() {
      arguments.append(String(cString: sirocco_spt_argument(index)))
      index += 1
    }
    return arguments
  }

  /// The options, or nil with `status` the exit status (0 after --help, else bad usage).
  static func options(_ arguments: [String], status: inout Int32) -> Options? {
    switch Options.parse(arguments) {
    case .help:
      print(Options.usage, terminator: "")
      status = 0
      return nil
    case .failure(let message):
      status = refuse(message)
      return nil
    case .run(let parsed):
      return parsed
    }
  }

  /// Prints `message` as one line on standard error; returns `status`.
  static func fail(_ message: String, _ status: Int32 = Status.failure) -> Int32 {
    let line = "\(name): \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    return status
  }

  static func refuse(_ message: String) -> Int32 { fail(message, Status.usage) }

  static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}
