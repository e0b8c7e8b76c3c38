// repeater: a guest with two raw network devices, `left` and `right`, for the tests of raw
// frames. Every frame that arrives on one leaves on the other unchanged (a two-port
// repeater: the simplest bridge); with --drop-ipv4=true it forwards everything but IPv4, to
// show that the application sees each frame. The network core has no link on either.

import Sirocco

@main
struct Repeater: Unikernel {
  static let name = "repeater"
  static var devices: [DeviceDeclaration] { [.rawNetwork("left"), .rawNetwork("right")] }
  static let parameters: [ParameterDeclaration] = [
    .boolean("drop-ipv4", default: false, help: "forward every frame but IPv4")
  ]

  let left: any NetworkDevice
  let right: any NetworkDevice
  let dropIPv4: Bool

  init(boot: Boot) throws(BootFailure) {
    left = boot.rawNetwork("left")
    right = boot.rawNetwork("right")
    dropIPv4 = boot.parameters.boolean("drop-ipv4")
    boot.log.info("repeating between left \(left.macAddress) and right \(right.macAddress)")
  }

  /// Moves what waits on `from` to `to`, at most 64 frames; whether more may wait.
  func forward(from: any NetworkDevice, to: any NetworkDevice) -> Bool {
    var moved = 0
    let dropIPv4 = self.dropIPv4
    while moved < 64, from.receive({ frame in
      moved += 1
      let isIPv4 = frame.count >= 14 && frame[12] == 0x08 && frame[13] == 0x00
      guard !(dropIPv4 && isIPv4), frame.count <= to.maximumFrameLength else { return }
      _ = to.transmit(length: frame.count) { $0.copyMemory(from: frame) }
    }) {}
    return moved == 64
  }

  mutating func step(now: Instant) -> Step {
    let more = forward(from: left, to: right) || forward(from: right, to: left)
    return more ? .wait(until: now) : .idle
  }
}
