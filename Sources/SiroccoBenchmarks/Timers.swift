// TCP's timers with many connections (issue 16: "a timer wheel instead of scanning
// connections"): two stacks over an in-memory link, `connections` connections established
// between them, the server's with keep-alive on; then the server alone, its clock moved on
// a millisecond a turn. Two figures: a turn with nothing due (poll, flush and pollAt over
// the idle stack), and the work per keep-alive probe once they come due (the wheel hands
// each connection back, the probe is built and sent; the probes go nowhere). Neither should
// depend on how many connections there are: `sirocco-benchmarks timers` measures both for
// 100 and for 10,000 connections, and Scripts/bench records both ratios.

import Sirocco

struct TimerResult {
  var idleTurnNanoseconds = 0.0
  var nanosecondsPerProbe = 0.0
  var probes = 0
}

func benchmarkTimers(connections: Int) -> TimerResult {
  let link = MemoryLink()
  let clientDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 1), link: link, side: .a)
  let serverDevice = MemoryNetworkDevice(macAddress: MACAddress(2, 0, 0, 0, 0, 2), link: link, side: .b)
  var stackConfiguration = StackConfiguration()
  stackConfiguration.maximumTCPConnections = connections + 16
  let client = Stack<MemoryNetworkDevice>(configuration: stackConfiguration, seed: 1)
  let server = Stack<MemoryNetworkDevice>(configuration: stackConfiguration, seed: 2)
  let addresses = (client: IPv4Address(10, 0, 0, 1), server: IPv4Address(10, 0, 0, 2))
  for (stack, device, address, peer, peerMAC) in [
    (client, clientDevice, addresses.client, addresses.server, serverDevice.macAddress),
    (server, serverDevice, addresses.server, addresses.client, clientDevice.macAddress),
  ] {
    var configuration = Link.Configuration(name: "service", macAddress: device.macAddress)
    configuration.announcements = 0
    configuration.ipv6 = false
    configuration.receiveBudget = 1 << 20
    let attached = stack.attach(device, configuration: configuration)
    stack.add(IPv4Network(address: address, prefixLength: 24), to: attached)
    stack.addNeighbor(peer, at: peerMAC, on: attached, now: .zero)
  }
  let keepAlive = Duration.seconds(30)
  var configuration = TCPConnection.Configuration()
  configuration.keepAlive = keepAlive
  let listener = try! server.listenTCP(port: 80, backlog: 1024, configuration: configuration)
  var now = Instant(nanoseconds: 1_000_000_000)
  var accepted: [TCPConnection] = []
  var opened: [TCPConnection] = []
  accepted.reserveCapacity(connections)
  opened.reserveCapacity(connections)
  // In batches of 20, each batch's handshakes crossing in a few turns: the keep-alives come
  // due spread out, about 7 a turn, as a server's timers come due among many idle connections.
  while accepted.count < connections {
    for _ in 0..<min(20, connections - opened.count) {
      opened.append(try! client.connectTCP(to: .v4(addresses.server), port: 80, now: now))
    }
    var turns = 0
    while accepted.count < opened.count {
      client.poll(now: now)
      server.poll(now: now)
      while let connection = listener.accept() { accepted.append(connection) }
      now = now + .milliseconds(1)
      turns += 1
      precondition(turns < 1000, "connections not established: \(accepted.count) of \(opened.count); \(server.counters)")
    }
  }
  // Settle: the last ACKs cross, nothing more is queued.
  for _ in 0..<50 {
    client.poll(now: now)
    server.poll(now: now)
    now = now + .milliseconds(1)
  }
  link.towardA = []
  link.towardB = []
  let settled = now

  // Idle turns, well before any keep-alive: poll, flush (in poll) and pollAt.
  let turns = 200_000
  var turnClock = settled
  var start = monotonicNanoseconds()
  for _ in 0..<turns {
    server.poll(now: turnClock)
    _ = server.pollAt(now: turnClock)
    turnClock = turnClock + .microseconds(5)
  }
  let idle = Double(monotonicNanoseconds() - start) / Double(turns)
  precondition(link.towardA.isEmpty, "an idle turn sent something: \(server.counters)")

  // The keep-alive probes: the clock moved a millisecond a turn from just before the first
  // comes due until every connection has sent one (each probe is a frame toward the client).
  // (Each connection's last segment crossed after the setup began, at 1 s.)
  now = Instant(nanoseconds: 1_000_000_000) + keepAlive - .milliseconds(10)
  var probes = 0
  var probeTurns = 0
  start = monotonicNanoseconds()
  while probes < connections {
    server.poll(now: now)
    _ = server.pollAt(now: now)
    probes += link.towardA.count
    link.towardA.removeAll(keepingCapacity: true)
    now = now + .milliseconds(1)
    probeTurns += 1
    precondition(probeTurns < 100_000, "keep-alive probes missing: \(probes) of \(connections)")
  }
  let perProbe = Double(monotonicNanoseconds() - start) / Double(probes)
  withExtendedLifetime((opened, accepted)) {}
  return TimerResult(idleTurnNanoseconds: idle, nanosecondsPerProbe: perProbe, probes: probes)
}

/// `sirocco-benchmarks timers [rounds]`: 100 and 10,000 connections, the best of `rounds`.
func reportTimers(rounds: Int) {
  var results: [TimerResult] = []
  for connections in [100, 10_000] {
    var best = TimerResult()
    for _ in 0..<max(rounds, 1) {
      let result = benchmarkTimers(connections: connections)
      if best.probes == 0 || result.nanosecondsPerProbe < best.nanosecondsPerProbe { best = result }
    }
    results.append(best)
    print("tcp timers, \(connections) connections: idle turn \(Int(best.idleTurnNanoseconds.rounded())) ns, \(Int(best.nanosecondsPerProbe.rounded())) ns per keep-alive probe (\(best.probes) probes)")
  }
  let ratio = results[1].nanosecondsPerProbe / results[0].nanosecondsPerProbe
  let idleRatio = results[1].idleTurnNanoseconds / results[0].idleTurnNanoseconds
  print("tcp timers, 10000/100 connections: \(Double(Int(ratio * 100)) / 100)x per probe, \(Double(Int(idleRatio * 100)) / 100)x per idle turn")
}
