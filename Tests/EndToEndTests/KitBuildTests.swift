// The kit builds' stamps (Sources/sirocco/Build.swift, `buildKit`): when SwiftPM is asked,
// and when a scratch directory's objects are thrown away first. The products sharing a
// scratch directory (the three freestanding kits; the unix kit and the tenders) must share
// its objects after one clean-out, and never keep any compiled from older sources.

import Foundation
import XCTest

@testable import sirocco

final class KitBuildTests: XCTestCase {
  func testProductsSharingAScratchDirectoryShareOneCleanOut() {
    let first = Date(timeIntervalSince1970: 1_000), edit = Date(timeIntervalSince1970: 2_000)
    let second = Date(timeIntervalSince1970: 3_000)
    // The sources were last saved at `edit`.
    let newer = { (date: Date) in edit > date }
    let quiet = { (_: Date) in false }
    func state(_ built: Date?, _ cleaned: Date?, _ sourcesNewer: (Date) -> Bool) -> [Bool] {
      let (changed, stale) = Builder.kitState(built: built, cleaned: cleaned, sourcesNewer: sourcesNewer)
      return [changed, stale]
    }
    // A fresh scratch directory: build, after a clean-out (of nothing).
    XCTAssertEqual(state(nil, nil, quiet), [true, true])
    // Another product beside one just built: SwiftPM is asked, the objects are kept.
    XCTAssertEqual(state(nil, first, quiet), [true, false])
    // Built, nothing saved since: nothing to do.
    XCTAssertEqual(state(first, first, quiet), [false, false])
    // A source saved since the product and the clean-out: both.
    XCTAssertEqual(state(first, first, newer), [true, true])
    // ... and since this product, but another product's build cleaned out after the edit.
    XCTAssertEqual(state(first, second, newer), [true, false])
    // A product built after the edit needs nothing, whatever the clean-out's date.
    XCTAssertEqual(state(second, first, newer), [false, false])
  }
}
