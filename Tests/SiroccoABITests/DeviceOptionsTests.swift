// Device options: the grammar and limits the tool, the unix platform and the spt tender
// share, and the attachment check against a manifest.

import SiroccoABI
import XCTest

final class DeviceOptionsTests: XCTestCase {
  struct Refused: Error { var message: String }

  /// The option `text` reads as; a test that gets anything else fails with the reason.
  func option(_ text: String) throws -> DeviceOption {
    switch DeviceOption.parse(text) {
    case .option(let option): return option
    case .failure(let message): throw Refused(message: message)
    case .other: throw Refused(message: "\(text) is not a device option")
    }
  }

  func failure(_ text: String) -> String? {
    if case .failure(let message) = DeviceOption.parse(text) { return message }
    return nil
  }

  func testValidOptions() throws {
    let net = try option("--net:service=tap0")
    XCTAssertEqual(net.kind, .network)
    XCTAssertEqual(net.name, "service")
    XCTAssertEqual(net.value, "tap0")
    XCTAssertEqual(net.text, "--net:service=tap0")
    XCTAssertEqual(try option("--net-mac:service=02:AB:cd:00:00:01").macAddress, [2, 0xab, 0xcd, 0, 0, 1])
    XCTAssertEqual(try option("--block:disk=/tmp/a=b.img").value, "/tmp/a=b.img")
    for size in [512, 1024, 4096, 32768] {
      XCTAssertEqual(try option("--block-sector-size:disk=\(size)").sectorSize, size)
    }
    XCTAssertEqual(try option("--net-socket:service=127.0.0.1").kind, .networkSocket)
    XCTAssertEqual(try option("--net:" + String(repeating: "a", count: 67) + "=tap0").name.count, 67)
  }

  func testOtherArgumentsAreNotDeviceOptions() {
    for text in ["--port=7", "--mem=64", "--net-offload", "--network:a=b", "image.spt", "--", "-", "--x:y=z"] {
      guard case .other = DeviceOption.parse(text) else { return XCTFail("\(text) taken as a device option") }
    }
  }

  func testEveryLimitIsOneLine() {
    let cases: [(String, String)] = [
      ("--net:service", "expected --net:NAME=TAP"),
      ("--block-sector-size:disk", "expected --block-sector-size:NAME=N"),
      ("--net:=tap0", "bad device name '': expected 1-67 letters and digits"),
      ("--net:bad_name=tap0", "bad device name 'bad_name'"),
      ("--net:" + String(repeating: "a", count: 68) + "=tap0", "expected 1-67 letters and digits"),
      ("--net:service=", "bad TAP interface name ''"),
      ("--net:service=sixteen-letters0", "expected 1-15 characters"),
      ("--net:service=a/b", "no '/'"),
      ("--net-mac:service=zz", "bad MAC address 'zz'"),
      ("--net-mac:service=02:00:00:00:00", "bad MAC address"),
      ("--net-mac:service=02-00-00-00-00-01", "bad MAC address"),
      ("--net-mac:service=01:00:5e:00:00:01", "expected a unicast address"),
      ("--block:disk=", "expected --block:disk=FILE"),
      ("--net-socket:service=", "expected --net-socket:service=ADDRESS"),
      ("--block-sector-size:disk=256", "bad sector size '256': expected a power of two from 512 to 32768"),
      ("--block-sector-size:disk=65536", "from 512 to 32768"),
      ("--block-sector-size:disk=3000", "bad sector size '3000'"),
      ("--block-sector-size:disk=1000000000", "bad sector size"),
      ("--block-sector-size:disk=-512", "bad sector size"),
      ("--block-sector-size:disk=", "bad sector size ''"),
    ]
    for (text, fragment) in cases {
      guard let message = failure(text) else { XCTFail("\(text) accepted"); continue }
      XCTAssertTrue(message.hasPrefix(text + ": "), message)
      XCTAssertTrue(message.contains(fragment), "'\(fragment)' missing from: \(message)")
      XCTAssertFalse(message.contains("\n"), message)
    }
  }

  func testAttachmentCheck() throws {
    let service = Manifest.Entry(name: "service", type: .netBasic)
    let admin = Manifest.Entry(name: "admin", type: .netBasic)
    let disk = Manifest.Entry(name: "disk", type: .blockBasic)
    func check(_ texts: [String], _ declared: [Manifest.Entry]) throws -> String? {
      DeviceOptions.check(try texts.map { try option($0) }, declared: declared)
    }
    XCTAssertNil(try check(["--net:admin=tap1", "--net:service=tap0"], [service, admin]))
    XCTAssertNil(try check([], []))
    XCTAssertNil(try check(["--net-socket:service=127.0.0.1", "--block:disk=d", "--block-sector-size:disk=4096"], [service, disk]))
    XCTAssertEqual(try check(["--net:service=tap0", "--net:admin=tap1", "--net:other=tap2"], [service, admin]),
                   "--net:other: the image declares no network device 'other'; expected one of: service, admin")
    XCTAssertEqual(try check(["--net:tap0=tap0"], []), "--net:tap0: the image declares no network device 'tap0'; expected one of: (none)")
    XCTAssertEqual(try check(["--block:service=f"], [service]),
                   "--block:service: the image declares no block device 'service'; expected one of: (none)")
    XCTAssertEqual(try check(["--net:service=tap0"], [service, admin]),
                   "network device 'admin' is declared but not attached: expected --net:admin=TAP")
    XCTAssertEqual(try check([], [disk]), "block device 'disk' is declared but not attached: expected --block:disk=FILE")
    XCTAssertEqual(try check(["--net:service=tap0", "--net-socket:service=127.0.0.1"], [service]),
                   "--net:service: network device 'service' attached twice; expected it once")
    XCTAssertEqual(try check(["--block:disk=a", "--block-sector-size:other=512"], [disk]),
                   "--block-sector-size:other: block device 'other' is not attached; expected --block:other=FILE as well")
    XCTAssertEqual(try check(["--net:service=tap0", "--net-mac:admin=02:00:00:00:00:01"], [service, admin]),
                   "--net-mac:admin: network device 'admin' is not attached; expected --net:admin=TAP as well")
    XCTAssertEqual(try check(["--block:disk=a", "--block-sector-size:disk=512", "--block-sector-size:disk=4096"], [disk]),
                   "--block-sector-size:disk: given twice; expected it once")
  }
}
