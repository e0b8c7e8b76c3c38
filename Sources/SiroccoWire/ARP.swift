// ARP for IPv4 over Ethernet.
//
// Read first: RFC 826 (packet format and the merge algorithm), RFC 5227 2.3 (announcements:
// gratuitous ARP).

public struct ARPOperation: RawRepresentable, Hashable, Sendable {
  public var rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }

  public static let request = ARPOperation(rawValue: 1)
  public static let reply = ARPOperation(rawValue: 2)
}

/// An ARP packet for hardware type Ethernet (1) and protocol type IPv4 (0x0800). Other
/// combinations are rejected as `.unsupported`.
public struct ARPPacket: Hashable, Sendable {
  enum Field {
    static let hardwareType = 0
    static let protocolType = 2
    static let hardwareLength = 4
    static let protocolLength = 5
    static let operation = 6
    static let senderHardwareAddress = 8
    static let senderProtocolAddress = 14
    static let targetHardwareAddress = 18
    static let targetProtocolAddress = 24
  }

  public static let length = 28

  public var operation: ARPOperation
  public var senderHardwareAddress: MACAddress
  public var senderProtocolAddress: IPv4Address
  public var targetHardwareAddress: MACAddress
  public var targetProtocolAddress: IPv4Address

  public init(
    operation: ARPOperation,
    senderHardwareAddress: MACAddress, senderProtocolAddress: IPv4Address,
    targetHardwareAddress: MACAddress, targetProtocolAddress: IPv4Address
  ) {
    self.operation = operation
    self.senderHardwareAddress = senderHardwareAddress
    self.senderProtocolAddress = senderProtocolAddress
    self.targetHardwareAddress = targetHardwareAddress
    self.targetProtocolAddress = targetProtocolAddress
  }

  /// A gratuitous ARP announcement of `address` (RFC 5227 2.3: a request whose sender and
  /// target protocol addresses are both the announced address).
  public static func announcement(of address: IPv4Address, from hardware: MACAddress) -> ARPPacket {
    ARPPacket(
      operation: .request, senderHardwareAddress: hardware, senderProtocolAddress: address,
      targetHardwareAddress: .zero, targetProtocolAddress: address)
  }

  public var bufferLength: Int { Self.length }

  /// Parses an ARP packet. Bytes after the 28 (Ethernet padding) are ignored.
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> ARPPacket {
    guard bytes.count >= length else { throw .truncated }
    guard bytes.readUInt16(at: Field.hardwareType) == 1,
      bytes.readUInt16(at: Field.protocolType) == EtherType.ipv4.rawValue
    else { throw .unsupported }
    guard bytes.readUInt8(at: Field.hardwareLength) == 6,
      bytes.readUInt8(at: Field.protocolLength) == 4
    else { throw .malformed }
    return ARPPacket(
      operation: ARPOperation(rawValue: bytes.readUInt16(at: Field.operation)),
      senderHardwareAddress: .read(from: bytes, at: Field.senderHardwareAddress),
      senderProtocolAddress: .read(from: bytes, at: Field.senderProtocolAddress),
      targetHardwareAddress: .read(from: bytes, at: Field.targetHardwareAddress),
      targetProtocolAddress: .read(from: bytes, at: Field.targetProtocolAddress))
  }

  public func emit(into bytes: UnsafeMutableRawBufferPointer) {
    precondition(bytes.count >= Self.length, "buffer too small for an ARP packet")
    bytes.writeUInt16(1, at: Field.hardwareType)
    bytes.writeUInt16(EtherType.ipv4.rawValue, at: Field.protocolType)
    bytes.writeUInt8(6, at: Field.hardwareLength)
    bytes.writeUInt8(4, at: Field.protocolLength)
    bytes.writeUInt16(operation.rawValue, at: Field.operation)
    senderHardwareAddress.write(to: bytes, at: Field.senderHardwareAddress)
    senderProtocolAddress.write(to: bytes, at: Field.senderProtocolAddress)
    targetHardwareAddress.write(to: bytes, at: Field.targetHardwareAddress)
    targetProtocolAddress.write(to: bytes, at: Field.targetProtocolAddress)
  }
}

extension ARPPacket: CustomStringConvertible {
  public var description: String {
    switch operation {
    case .request: "ARP, Request who-has \(targetProtocolAddress) tell \(senderProtocolAddress)"
    case .reply: "ARP, Reply \(senderProtocolAddress) is-at \(senderHardwareAddress)"
    default: "ARP, op \(operation.rawValue) \(senderProtocolAddress) > \(targetProtocolAddress)"
    }
  }
}
