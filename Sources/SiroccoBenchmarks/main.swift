// In-process benchmarks of the network core (no I/O): how many frames per second go through
// parse -> echo reply -> emit. Run: swift run -c release sirocco-benchmarks
// (`sirocco-benchmarks filter ...`: compiled packet filters, see Filter.swift.)
//
// A replay device lends the same echo request over and over and swallows every reply into
// one buffer, so what is measured is the core: Ethernet/IPv4/ICMP parsing, checksum
// verification, the reply's construction and checksums. Heap allocations are counted too
// (CAllocationCounter): per frame, the steady state's should be none.

import CAllocationCounter
import Glibc
import Sirocco

/// One echo benchmark's result.
struct EchoResult {
  var framesPerSecond = 0.0
  var nanosecondsPerFrame = 0.0
  var allocationsPerFrame = 0.0
}

final class ReplayDevice: NetworkDevice {
  let macAddress = MACAddress(0x02, 0, 0, 0, 0, 0x02)
  let mtu = 1500
  let frame: [UInt8]
  var remaining: Int
  var transmitted = 0
  var transmittedBytes = 0
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)

  init(frame: [UInt8], count: Int) {
    self.frame = frame
    self.remaining = count
  }

  func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
    guard remaining > 0 else { return false }
    remaining -= 1
    frame.withUnsafeBytes { body($0) }
    return true
  }

  func transmit(length: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    body(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length]))
    transmitted += 1
    transmittedBytes += length
    return true
  }
}

func monotonicNanoseconds() -> Int64 {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

/// An Ethernet frame holding an ICMP echo request from 10.0.0.1 to 10.0.0.2.
func echoRequest(payload: Int, from peer: MACAddress, to guest: MACAddress) -> [UInt8] {
  let source = IPv4Address(10, 0, 0, 1)
  let destination = IPv4Address(10, 0, 0, 2)
  var frame = [UInt8](repeating: 0, count: 14 + 20 + 8 + payload)
  frame.withUnsafeMutableBytes { bytes in
    EthernetHeader(destination: guest, source: peer, etherType: .ipv4).emit(into: bytes)
    let packet = bytes.suffix(from: 14)
    let icmp = packet.suffix(from: 20)
    for index in 0..<payload { icmp[8 + index] = UInt8(truncatingIfNeeded: index) }
    ICMPv4Message.echoRequest(identifier: 0x1234, sequenceNumber: 1).emit(into: icmp)
    IPv4Header(totalLength: 20 + 8 + payload, identification: 1, protocol: .icmp, source: source, destination: destination)
      .emit(into: packet)
  }
  return frame
}

func benchmarkEcho(payload: Int, frames: Int) -> EchoResult {
  let peer = MACAddress(0x02, 0, 0, 0, 0, 0x01)
  let device = ReplayDevice(frame: echoRequest(payload: payload, from: peer, to: MACAddress(0x02, 0, 0, 0, 0, 0x02)), count: frames)
  var configuration = Link.Configuration(name: "service", macAddress: device.macAddress)
  configuration.announcements = 0
  configuration.ipv6 = false
  configuration.receiveBudget = 1 << 20
  let stack = Stack<ReplayDevice>(seed: 42)
  let link = stack.attach(device, configuration: configuration)
  stack.add(IPv4Network(address: IPv4Address(10, 0, 0, 2), prefixLength: 24), to: link)
  // The peer is known, as after Linux's ARP request.
  stack.addNeighbor(IPv4Address(10, 0, 0, 1), at: peer, on: link, now: .zero)
  let allocations = sirocco_allocations()
  let start = monotonicNanoseconds()
  var now = Instant.zero
  while device.remaining > 0 {
    stack.poll(now: now)
    now = now + .milliseconds(1)
  }
  let elapsed = Double(monotonicNanoseconds() - start)
  let allocated = Double(sirocco_allocations() - allocations)
  precondition(device.transmitted == frames, "every request must be answered: \(stack.counters)")
  return EchoResult(framesPerSecond: Double(frames) / elapsed * 1e9, nanosecondsPerFrame: elapsed / Double(frames),
                    allocationsPerFrame: allocated / Double(frames))
}

/// An Ethernet frame holding an ICMPv6 echo request from fd00::1 to fd00::2.
func echoRequest6(payload: Int, from peer: MACAddress, to guest: MACAddress) -> [UInt8] {
  let source = IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 1)
  let destination = IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 2)
  var frame = [UInt8](repeating: 0, count: 14 + 40 + 8 + payload)
  frame.withUnsafeMutableBytes { bytes in
    EthernetHeader(destination: guest, source: peer, etherType: .ipv6).emit(into: bytes)
    let packet = bytes.suffix(from: 14)
    let icmp = packet.suffix(from: 40)
    for index in 0..<payload { icmp[8 + index] = UInt8(truncatingIfNeeded: index) }
    ICMPv6Message.echoRequest(identifier: 0x1234, sequenceNumber: 1).emit(into: icmp, source: source, destination: destination)
    IPv6Header(payloadLength: 8 + payload, nextHeader: .icmpv6, source: source, destination: destination).emit(into: packet)
  }
  return frame
}

/// The same over IPv6: the address in use at once (no DAD), the peer in the neighbour cache.
func benchmarkEcho6(payload: Int, frames: Int) -> EchoResult {
  let peer = MACAddress(0x02, 0, 0, 0, 0, 0x01)
  let device = ReplayDevice(frame: echoRequest6(payload: payload, from: peer, to: MACAddress(0x02, 0, 0, 0, 0, 0x02)), count: 0)
  var configuration = Link.Configuration(name: "service", macAddress: device.macAddress)
  configuration.announcements = 0
  configuration.duplicateAddressDetectionTransmits = 0
  configuration.routerSolicitations = 0
  configuration.receiveBudget = 1 << 20
  let stack = Stack<ReplayDevice>(seed: 42)
  let link = stack.attach(device, configuration: configuration)
  try! stack.add(IPv6Network(address: IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 2), prefixLength: 64), to: link, now: .zero)
  stack.addNeighbor(IPv6Address(0xfd00, 0, 0, 0, 0, 0, 0, 1), at: peer, on: link, now: .zero)
  // Started (MLD reports sent) before the clock starts.
  for step in 0..<3 { stack.poll(now: .zero + .seconds(Int64(step))) }
  device.transmitted = 0
  device.remaining = frames
  let allocations = sirocco_allocations()
  let start = monotonicNanoseconds()
  var now = Instant.zero + .seconds(3)
  while device.remaining > 0 {
    stack.poll(now: now)
    now = now + .milliseconds(1)
  }
  let elapsed = Double(monotonicNanoseconds() - start)
  let allocated = Double(sirocco_allocations() - allocations)
  precondition(device.transmitted == frames, "every request must be answered: \(device.transmitted) of \(frames), \(stack.counters)")
  return EchoResult(framesPerSecond: Double(frames) / elapsed * 1e9, nanosecondsPerFrame: elapsed / Double(frames),
                    allocationsPerFrame: allocated / Double(frames))
}

/// Whether the counter sees the Swift runtime's allocations (swift_slowAlloc's malloc): if
/// the program were linked so that it did not, "0 allocations" would mean nothing.
func allocationCounterWorks() -> Bool {
  let before = sirocco_allocations()
  let block = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
  defer { block.deallocate() }
  return sirocco_allocations() > before
}

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "filter" {
  benchmarkFilters(arguments.dropFirst())
  exit(0)
}
/// `sirocco-benchmarks http [requests] [rounds]`: the static site server alone.
if arguments.first == "http" {
  guard allocationCounterWorks() else { exit(1) }
  let requests = arguments.dropFirst().first.flatMap { Int($0) } ?? 1_000_000
  reportHTTP(requests: requests, rounds: arguments.dropFirst(2).first.flatMap { Int($0) } ?? 5)
  exit(0)
}
/// `sirocco-benchmarks timers [rounds]`: TCP's timers with 100 and 10,000 connections.
if arguments.first == "timers" {
  reportTimers(rounds: arguments.dropFirst().first.flatMap { Int($0) } ?? 3)
  exit(0)
}
/// Arguments: frames per round (2,000,000), rounds (5; the best is kept: on a shared machine
/// the fastest round is the one least disturbed), `ipv4` or `ipv6` to run one family alone
/// (for a profiler; `both` for both), and one payload size instead of 56 and 1400 bytes.
let frames = arguments.first.flatMap { Int($0) } ?? 2_000_000
let rounds = arguments.dropFirst().first.flatMap { Int($0) } ?? 5
let only = arguments.dropFirst(2).first.flatMap { $0 == "both" ? nil : $0 }
let payloads = arguments.dropFirst(3).first.flatMap { Int($0) }.map { [$0] } ?? [56, 1400]
print("sirocco-benchmarks: echo through parse -> reply -> emit, \(frames) frames per size, best of \(rounds)")
guard allocationCounterWorks() else {
  print("sirocco-benchmarks: the allocation counter does not see the Swift runtime's allocations (CAllocationCounter not in effect)")
  exit(1)
}
print("allocation counter: in effect")
for payload in payloads {
  var best = (v4: EchoResult(), v6: EchoResult())
  for _ in 0..<rounds {
    if only != "ipv6" {
      let v4 = benchmarkEcho(payload: payload, frames: frames)
      if v4.framesPerSecond > best.v4.framesPerSecond { best.v4 = v4 }
    }
    if only != "ipv4" {
      let v6 = benchmarkEcho6(payload: payload, frames: frames)
      if v6.framesPerSecond > best.v6.framesPerSecond { best.v6 = v6 }
    }
  }
  for (family, result) in [("IPv4", best.v4), ("IPv6", best.v6)] where result.framesPerSecond > 0 {
    let allocations = (result.allocationsPerFrame * 1000).rounded() / 1000
    print("echo \(family) payload \(payload) B: \(Int(result.framesPerSecond)) frames/s (\(Int(result.nanosecondsPerFrame.rounded())) ns/frame, \(allocations) allocations/frame)")
  }
  guard only == nil else { continue }
  print("  IPv6/IPv4 cost per frame: \(Double(Int(best.v6.nanosecondsPerFrame / best.v4.nanosecondsPerFrame * 100)) / 100)x")
}
if only == nil, payloads.count == 2 {
  // The static site server's work per request, a tenth as many requests as frames.
  reportHTTP(requests: max(frames / 10, 1000), rounds: rounds)
}

/// Prints the best of `rounds` runs of the HTTP benchmark.
func reportHTTP(requests: Int, rounds: Int) {
  var best = HTTPResult()
  for _ in 0..<max(rounds, 1) {
    let result = benchmarkHTTP(requests: requests)
    if result.requestsPerSecond > best.requestsPerSecond { best = result }
  }
  let allocations = (best.allocationsPerRequest * 1000).rounded() / 1000
  print("http small page: \(Int(best.requestsPerSecond)) requests/s (\(Int(best.nanosecondsPerRequest.rounded())) ns/request, \(allocations) allocations/request, \(best.responseBytes) B/response)")
}
