// The files `sirocco build` compiled into the image from the application's Resources
// directory: a ustar archive in the image's read-only data (Sources/CSiroccoResources),
// read through the same `TarStore` as an archive on a block device.

import CSiroccoResources
import SiroccoDevices

extension TarStore {
  /// The files of the application's `Resources` directory, under their paths there
  /// ("zones/example.org.zone"), dated as they were when `sirocco build` ran; empty for an
  /// image built without one (and in tests). Read in place: the image holds them once.
  nonisolated(unsafe) public static let image: TarStore = imageArchive()

  static func imageArchive() -> TarStore {
    var bytes: UnsafePointer<UInt8>?
    var length: UInt64 = 0
    sirocco_resource_archive(&bytes, &length)
    let device = ReadOnlyMemoryBlockDevice(UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : Int(length)))
    do {
      return try TarStore(device: device)
    } catch {
      // `sirocco build` made the archive with tar: only a damaged image has a bad one.
      fatalError("the archive of resources compiled into the image: " + error.description)
    }
  }
}
