// Leveled log lines on the console: `LEVEL source: message`.

import SiroccoDevices
import SiroccoWire

public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
  case error, warning, info, debug

  public init?(_ name: String) {
    guard let level = Self.allCases.first(where: { $0.name.utf8Equals(name) }) else { return nil }
    self = level
  }

  public var name: String {
    switch self {
    case .error: "error"
    case .warning: "warning"
    case .info: "info"
    case .debug: "debug"
    }
  }

  public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Writes log lines at or above `level` to the console. The message is only built when the
/// line is written.
public final class Logger {
  public let source: String
  public var level: LogLevel
  let console: any Console

  public init(source: String, level: LogLevel, console: any Console) {
    self.source = source
    self.level = level
    self.console = console
  }

  public func log(_ level: LogLevel, _ message: @autoclosure () -> Text) {
    guard level <= self.level else { return }
    var line: Text
    switch level {
    case .error: line = "ERROR "
    case .warning: line = "WARN  "
    case .info: line = "INFO  "
    case .debug: line = "DEBUG "
    }
    line.append(source)
    line.append(": ")
    line.append(message())
    console.print(line)
  }

  public func error(_ message: @autoclosure () -> Text) { log(.error, message()) }
  public func warning(_ message: @autoclosure () -> Text) { log(.warning, message()) }
  public func info(_ message: @autoclosure () -> Text) { log(.info, message()) }
  public func debug(_ message: @autoclosure () -> Text) { log(.debug, message()) }

  @_disfavoredOverload
  public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
    log(level, Text(string: message()))
  }

  @_disfavoredOverload public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
  @_disfavoredOverload public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
  @_disfavoredOverload public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
  @_disfavoredOverload public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
}
