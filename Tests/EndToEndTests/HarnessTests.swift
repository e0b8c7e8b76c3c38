// The harness itself: under CI=true (as .ci/run runs) or SIROCCO_REQUIRE_E2E=1 a missing
// facility fails the test that needs it, naming what was missing; elsewhere it skips.

import Foundation
import XCTest

final class HarnessTests: XCTestCase {
  static let absentTool = (tool: "sirocco-no-such-client", package: "sirocco-no-such-package")

  func testMissingToolIsAFailureUnderCI() throws {
    for environment in [["CI": "true", "PATH": "/usr/bin:/bin"], ["SIROCCO_REQUIRE_E2E": "1", "PATH": "/usr/bin:/bin"]] {
      XCTAssertTrue(skipsAreFailures(environment))
      do {
        try requireTools([Self.absentTool], environment: environment)
        XCTFail("a missing tool passed under \(environment)")
      } catch let failure as MissingFacility {
        XCTAssertEqual(failure.reason, "sirocco-no-such-client is not installed (apt-get install sirocco-no-such-package)")
        XCTAssertTrue(failure.description.contains("missing: sirocco-no-such-client"), failure.description)
      } catch {
        XCTFail("expected MissingFacility under \(environment), got \(type(of: error)): \(error)")
      }
    }
  }

  func testMissingToolIsASkipElsewhere() throws {
    for environment in [["PATH": "/usr/bin:/bin"], ["CI": "false", "SIROCCO_REQUIRE_E2E": "0", "PATH": "/usr/bin:/bin"]] {
      XCTAssertFalse(skipsAreFailures(environment))
      do {
        try requireTools([Self.absentTool], environment: environment)
        XCTFail("a missing tool passed under \(environment)")
      } catch let skip as XCTSkip {
        XCTAssertTrue("\(skip)".contains("sirocco-no-such-client is not installed"), "\(skip)")
      } catch {
        XCTFail("expected XCTSkip under \(environment), got \(type(of: error)): \(error)")
      }
    }
  }

  func testPresentToolPasses() throws {
    try requireTools([("sh", "dash")], environment: ["CI": "true", "PATH": "/usr/bin:/bin"])
    XCTAssertNotNil(locate("ip", environment: ["PATH": "/nonexistent"]), "/usr/sbin and /sbin are searched too")
  }
}
