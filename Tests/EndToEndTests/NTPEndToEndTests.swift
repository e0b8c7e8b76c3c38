// The SNTP client (--ntp-server=) against chronyd in the namespace, its clock an hour ahead
// of the host's (libfaketime): the website's HTTP Date header, which comes from the wall
// clock the application sees, is an hour ahead too once chronyd answered. A chronyd with no
// time source (leap indicator 3) is not believed: the Date header stays the host's.

import Foundation
import XCTest

final class NTPEndToEndTests: XCTestCase {
  override func setUpWithError() throws {
    try requireNamespaces()
    try requireTools([("chronyd", "chrony"), ("faketime", "faketime"), ("curl", "curl")])
    try Examples.buildAll()
  }

  /// The seconds between the host's clock and the Date header of the website at 10.0.0.2.
  func dateHeaderAhead(_ namespace: Namespace) throws -> TimeInterval? {
    let head = try namespace.exec(["curl", "-s", "-I", "--max-time", "5", "http://10.0.0.2/"], timeout: 10).output
    guard let line = head.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("date: ") }) else { return nil }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    return formatter.date(from: String(line.dropFirst(6)))?.timeIntervalSinceNow
  }

  func testTheWallClockTakesChronydsOffset() throws {
    let archive = try TemporaryFile()
    XCTAssertEqual(try runCommand(["tar", "--format=ustar", "-cf", archive.url.path, "-C", Paths.example("website") + "/site", "."]).status, 0)
    for target in Examples.targets {
      let namespace = try Namespace()
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sirocco-chrony-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: directory) }
      /// Starts chronyd an hour ahead (not touching the host's clock: -x), serving
      /// 10.0.0.0/24, as a daemon (its log in the directory); `synchronised`: with a local
      /// reference at stratum 8, else with no source at all.
      func startChronyd(synchronised: Bool) throws {
        let configuration = directory.appendingPathComponent("chrony.conf")
        try ((synchronised ? "local stratum 8\n" : "") + "allow 10.0.0.0/24\nport 123\ncmdport 0\n"
          + "pidfile \(directory.path)/chronyd.pid\ndriftfile \(directory.path)/drift\n").write(to: configuration, atomically: true, encoding: .utf8)
        let started = try namespace.exec(["faketime", "-f", "+3600s", "chronyd", "-x", "-u", "root", "-l", directory.path + "/chronyd.log",
                                          "-f", configuration.path], timeout: 10)
        XCTAssertEqual(started.status, 0, started.output + started.error)
      }
      /// Stops it, waiting (bounded) until it has gone.
      func stopChronyd() throws {
        _ = try namespace.shell("kill $(cat \(directory.path)/chronyd.pid); for i in $(seq 50); do kill -0 $(cat \(directory.path)/chronyd.pid) 2>/dev/null || exit 0; sleep 0.1; done; exit 1", timeout: 10)
      }
      func website() throws -> Guest {
        try Guest(namespace, example: "website", target: target, devices: ["--net:service=tap0", "--block:site=\(archive.url.path)"],
                  parameters: ["--ntp-server=10.0.0.1"], readyLine: "serving")
      }
      // No source: its replies say so (leap indicator 3) and are refused.
      try startChronyd(synchronised: false)
      var guest = try website()
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      usleep(3_000_000)
      let unsynchronised = try XCTUnwrap(try dateHeaderAhead(namespace), "\(target): no Date header")
      XCTAssertLessThan(abs(unsynchronised), 3, "\(target): the host's time: \(unsynchronised) s")
      var log = guest.stop()
      XCTAssertFalse(log.contains("NTP: clock set"), log)
      try stopChronyd()
      // Synchronised: the hour shows in the unikernel's clock.
      try startChronyd(synchronised: true)
      guest = try website()
      XCTAssertTrue(try namespace.waitForPing("10.0.0.2"), guest.stop())
      let deadline = Date().addingTimeInterval(20)
      while !guest.output.contents.contains("NTP: clock set"), Date() < deadline { usleep(100_000) }
      let ahead = try XCTUnwrap(try dateHeaderAhead(namespace), "\(target): no Date header")
      XCTAssertLessThan(abs(ahead - 3600), 3, "\(target): \(ahead) s ahead")
      log = guest.stop()
      let serverLog = (try? String(contentsOf: directory.appendingPathComponent("chronyd.log"), encoding: .utf8)) ?? ""
      XCTAssertTrue(log.contains("NTP: clock set +3600.") || log.contains("NTP: clock set +3599."), "\(target): \(log)\(serverLog)")
      try stopChronyd()
    }
  }
}
