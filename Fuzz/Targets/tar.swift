// Fuzz target: the ustar store (GNU long names, pax records). The input, padded to whole
// sectors, is the block device; an archive the store accepts must then answer consistently:
// every listed key exists, each value's size matches what get returns, ranges stay inside it.

import SiroccoDevices
import SiroccoStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTar(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let device = MemoryBlockDevice(sectors: (size + 511) / 512)
  device.storage.withUnsafeMutableBytes { $0.copyMemory(from: rawBuffer(data, size)) }
  guard let store = try? TarStore(device: device) else { return 0 }
  var values = 0
  walk(store, "", depth: 0, values: &values)
  require(values == store.valueCount, "listed \(values) values, the store counts \(store.valueCount)")
  return 0
}

func walk(_ store: TarStore, _ directory: String, depth: Int, values: inout Int) {
  require(depth <= 512, "directories nested past 512")
  guard let entries = try? store.list(directory) else {
    require(false, "'\(directory)' is a dictionary that does not list")
    return
  }
  for (name, kind) in entries {
    require(!name.isEmpty && !name.utf8.contains(UInt8(ascii: "/")), "entry name '\(name)' in '\(directory)'")
    let key = directory.isEmpty ? name : directory + "/" + name
    require(store.exists(key) == kind, "'\(key)' listed as \(kind), exists says \(String(describing: store.exists(key)))")
    switch kind {
    case .dictionary:
      walk(store, key, depth: depth + 1, values: &values)
    case .value:
      values += 1
      guard let size = try? store.size(key), let bytes = try? store.get(key) else {
        require(false, "'\(key)' is a value that cannot be read")
        return
      }
      require(bytes.count == size, "'\(key)': size \(size), get returned \(bytes.count) bytes")
      let middle = (try? store.get(key, offset: size / 2, length: 7)) ?? []
      require(middle.elementsEqual(bytes[(size / 2)..<min(size, size / 2 + 7)]), "'\(key)': a range differs from the value")
      require((try? store.get(key, offset: size + 1, length: 3)) == [], "'\(key)': a range past the end is not empty")
      require((try? store.digest(key))?.count == 32, "'\(key)': no digest")
      _ = try? store.lastModified(key)
    }
  }
}
