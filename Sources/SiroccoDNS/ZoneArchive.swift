// Zones read from a store: every file named `NAME.zone` anywhere in it (a tar archive on a
// block device, as the website's pages are, or a store in memory compiled into the image).
// The file's name is the origin its relative names start from; the zone is the one its SOA
// heads. Serials are compared as RFC 1982 says, for reloading.

import SiroccoStore
import SiroccoWire

/// Why zones could not be read: the file and line, or the zone and what is wrong with it.
public struct ZoneLoadError: Error, Equatable, Sendable, CustomStringConvertible {
  public var message: String
  @_disfavoredOverload
  public init(_ message: String) { self.message = message }
  public init(_ message: Text) { self.message = String(message) }
  public var description: String { message }
}

/// One zone file as found in a store: where, its size and date (to see it change), its zone.
public struct ZoneSource: Sendable {
  public var key: String
  public var size: Int
  public var modified: Int64
  public var zone: Zone
}

public enum ZoneArchive {
  /// The zone files' keys under `directory` of `store`, sorted, deepest last.
  public static func zoneFiles(in store: any KeyValueStore, under directory: String = "") throws(ZoneLoadError) -> [String] {
    var keys: [String] = []
    let entries: [(name: String, kind: StoreEntryKind)]
    do {
      entries = try store.list(directory)
    } catch {
      throw ZoneLoadError("cannot list '\(directory)': \(error)")
    }
    for entry in entries {
      let key = directory.isEmpty ? entry.name : directory + "/" + entry.name
      switch entry.kind {
      case .dictionary: keys += try zoneFiles(in: store, under: key)
      case .value where entry.name.utf8.count > 5 && entry.name.utf8HasSuffix(".zone"): keys.append(key)
      case .value: continue
      }
    }
    return keys
  }

  /// Reads the zone file `key`: its records relative to the origin its name gives, checked as
  /// a zone whose origin is its SOA's owner.
  public static func load(_ key: String, from store: any KeyValueStore) throws(ZoneLoadError) -> ZoneSource {
    let text: [UInt8]
    let size: Int
    let modified: Int64
    do {
      text = try store.get(key)
      size = try store.size(key)
      modified = try store.lastModified(key)
    } catch {
      throw ZoneLoadError("\(key): \(error)")
    }
    let base = Array(key.utf8).pieces(separatedBy: UInt8(ascii: "/")).last.map { Array($0.dropLast(5)) } ?? []
    let origin: DNSName
    do {
      origin = try DNSName(text: base, origin: .root)
    } catch {
      throw ZoneLoadError("\(key): the file's name is not a domain name before '.zone' (\(error))")
    }
    let records: [ResourceRecord]
    do {
      records = try ZoneFile.parse(text, origin: origin, file: key)
    } catch {
      throw ZoneLoadError(error.description)
    }
    guard let soa = records.first(where: { $0.type == .soa }) else {
      throw ZoneLoadError("\(key): the zone has no SOA record")
    }
    do {
      return ZoneSource(key: key, size: size, modified: modified, zone: try Zone(origin: soa.name, records: records))
    } catch {
      throw ZoneLoadError("\(key): \(error.message)")
    }
  }

  /// Every zone file under `directory` of `store`, each zone once (none when there is none).
  public static func loadAll(from store: any KeyValueStore, under directory: String = "") throws(ZoneLoadError) -> [ZoneSource] {
    var sources: [ZoneSource] = []
    for key in try zoneFiles(in: store, under: directory) {
      let source = try load(key, from: store)
      if let other = sources.first(where: { $0.zone.origin == source.zone.origin }) {
        throw ZoneLoadError("\(key): the zone \(source.zone.origin) is also in \(other.key)")
      }
      sources.append(source)
    }
    return sources
  }
}

/// Whether serial `a` is greater than `b` in RFC 1982's arithmetic (32 bits): equal is not
/// greater, and a half-circle apart is undefined (not greater).
public func serialGreater(_ a: UInt32, than b: UInt32) -> Bool {
  (a < b && b &- a > 0x8000_0000) || (a > b && a &- b < 0x8000_0000)
}
