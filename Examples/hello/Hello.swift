// hello: prints its boot parameters and the wall-clock time, then exits 0.

import Sirocco

@main
struct Hello: Unikernel {
  static let name = "hello"
  static let parameters: [ParameterDeclaration] = [
    .string("greeting", default: "Hello from Sirocco", help: "the first line printed")
  ]

  init(boot: Boot) throws(BootFailure) {
    let console = boot.console
    console.print(boot.parameters.string("greeting") ?? "")
    console.print("target: \(boot.target)")
    console.print("boot parameters: \(boot.parameters)")
    console.print("wall clock: \(boot.wallClock.now())")
  }

  mutating func step(now: Instant) -> Step { .exit(0) }
}
