// swift-tools-version: 6.2
// Sirocco: a library operating system for building unikernels in Swift.
//
// Layers, lowest first (a module never imports one above it):
//   SiroccoWire     wire formats: parse/emit only, no state, no I/O
//   SiroccoDevices  device interfaces (network, console, clocks, entropy) and wrapper devices
//   SiroccoNet      the poll-driven network core (interface, ARP, IPv4, ICMP, UDP)
//   SiroccoStore    read-only key-value stores: in memory, and a ustar archive on a block device
//   SiroccoHTTP     HTTP/1.1: requests with limits, dates, validators, ranges, a static-site server
//   SiroccoDNS      DNS: names, messages, records, zone files, authoritative answers, the server
//   SiroccoFilter   pcap-filter expressions compiled to classic BPF, and the matcher that runs it
//   SiroccoRuntime  boot parameters, logging, the application contract and its event loop
//   Sirocco         what an application imports (re-exports the seven above)
//   SiroccoABI      the Solo5 ABI: ELF notes, manifest, spt boot information, Sirocco's note, device
//                   options (guest, tender and tool)
//   SiroccoLinux    what the targets on Linux system calls share (spt guest, unix process): the
//                   io_uring that batches network I/O
//   SiroccoUnix     the `unix` platform: TAP, epoll, clocks, console, entropy (hosted, Glibc)
//   SiroccoFreestanding  what every freestanding guest shares (spt, hvt, virtio): the C runtime
//                   Embedded Swift needs, the allocator, entropy, the command line, the manifest
//   SiroccoSPT      the `spt` platform, guest side: Solo5 spt ABI (Embedded Swift, freestanding)
//   SiroccoHVT      the `hvt` platform, guest side: Solo5 hvt ABI, hypercalls (Embedded Swift)
//   SiroccoVirtio   the `virtio` platform: PVH boot, serial console, clocks, virtio drivers
//                   (Embedded Swift, freestanding)
//   sirocco-spt     the spt tender (hosted): loads an spt image, seccomp, jumps in
//   sirocco-hvt     the hvt tender (hosted): a KVM monitor for Solo5 hvt images
//   sirocco         the command-line tool (new/build/run/inspect)
// The first nine are portable: no Foundation, no Glibc, and they build in Embedded Swift for
// x86_64-unknown-none-elf (Scripts/build-embedded).
import PackageDescription

let portable: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
  name: "Sirocco",
  products: [
    .library(name: "Sirocco", targets: ["Sirocco"]),
    // What `sirocco build --target unix` links an application against.
    .library(name: "SiroccoUnixKit", type: .static, targets: ["Sirocco", "SiroccoUnix"]),
    // What `sirocco build --target spt` links an application against (built in Embedded Swift).
    .library(name: "SiroccoSPTKit", type: .static, targets: ["Sirocco", "SiroccoSPT"]),
    // What `sirocco build --target virtio` links an application against (Embedded Swift).
    .library(name: "SiroccoVirtioKit", type: .static, targets: ["Sirocco", "SiroccoVirtio"]),
    // What `sirocco build --target hvt` links an application against (Embedded Swift).
    .library(name: "SiroccoHVTKit", type: .static, targets: ["Sirocco", "SiroccoHVT"]),
    .executable(name: "sirocco", targets: ["sirocco"]),
    .executable(name: "sirocco-spt", targets: ["sirocco-spt"]),
    .executable(name: "sirocco-hvt", targets: ["sirocco-hvt"]),
    .executable(name: "sirocco-benchmarks", targets: ["SiroccoBenchmarks"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
  ],
  targets: [
    .target(name: "SiroccoWire", swiftSettings: portable),
    .target(name: "SiroccoDevices", dependencies: ["SiroccoWire"], swiftSettings: portable),
    // Release builds of the network core skip Swift's dynamic exclusivity checks, as Embedded
    // Swift (spt) always does: they were half the cost of a small echo (BENCHMARKS.md). Debug
    // builds and the tests keep them.
    .target(name: "SiroccoNet", dependencies: ["SiroccoWire", "SiroccoDevices", "SiroccoFilter"], swiftSettings: portable + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
    .target(name: "CSiroccoResources"),
    .target(name: "SiroccoStore", dependencies: ["SiroccoDevices", "SiroccoWire", "CSiroccoResources"], swiftSettings: portable),
    .target(name: "SiroccoHTTP", dependencies: ["SiroccoNet", "SiroccoStore", "SiroccoDevices", "SiroccoWire"],
            swiftSettings: portable),
    .target(name: "SiroccoRuntime", dependencies: ["SiroccoNet", "SiroccoDevices", "SiroccoWire"],
            swiftSettings: portable),
    .target(name: "SiroccoFilter", dependencies: ["SiroccoWire"], swiftSettings: portable),
    .target(name: "SiroccoDNS", dependencies: ["SiroccoNet", "SiroccoStore", "SiroccoDevices", "SiroccoWire"],
            swiftSettings: portable),
    .target(name: "Sirocco", dependencies: ["SiroccoRuntime", "SiroccoStore", "SiroccoHTTP", "SiroccoDNS", "SiroccoFilter"], swiftSettings: portable),
    .target(name: "SiroccoABI", dependencies: ["SiroccoWire"], swiftSettings: portable),

    .target(name: "CSiroccoFreestanding"),
    .target(name: "SiroccoFreestanding", dependencies: ["Sirocco", "SiroccoABI", "SiroccoWire", "CSiroccoFreestanding"], swiftSettings: portable),
    .target(name: "CSiroccoLinux"),
    .target(name: "SiroccoLinux", dependencies: ["SiroccoABI", "CSiroccoLinux"], swiftSettings: portable),
    .target(name: "CSiroccoSPT", dependencies: ["CSiroccoFreestanding", "CSiroccoLinux"], exclude: ["spt.lds"]),
    .target(name: "SiroccoSPT", dependencies: ["Sirocco", "SiroccoABI", "SiroccoFreestanding", "SiroccoLinux", "CSiroccoSPT"], swiftSettings: portable),

    // The x86-64 machine layer of the VM guests (virtio, hvt): GDT, TSS, IDT, trap reports.
    .target(name: "CSiroccoX86", dependencies: ["CSiroccoFreestanding"]),
    .target(name: "CSiroccoHVT", dependencies: ["CSiroccoFreestanding", "CSiroccoX86"], exclude: ["hvt.lds"]),
    .target(name: "SiroccoHVT", dependencies: ["Sirocco", "SiroccoABI", "SiroccoFreestanding", "CSiroccoHVT"], swiftSettings: portable),

    .target(name: "CSiroccoVirtio", dependencies: ["CSiroccoFreestanding", "CSiroccoX86"], exclude: ["virtio.lds"]),
    .target(name: "SiroccoVirtio", dependencies: ["Sirocco", "SiroccoABI", "SiroccoFreestanding", "CSiroccoVirtio"], swiftSettings: portable),

    .target(name: "CSiroccoUnix"),
    .target(name: "SiroccoUnix", dependencies: ["Sirocco", "SiroccoABI", "SiroccoLinux", "CSiroccoUnix"]),

    .executableTarget(name: "sirocco", dependencies: [
      "SiroccoABI", "SiroccoFilter", "CSiroccoUnix",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]),
    .target(name: "CSiroccoSPTTender"),
    // The tender is Embedded Swift for Linux: no Swift runtime to start, so it execs and exits
    // in a fraction of a millisecond. It compiles the ABI files it shares with the guest and
    // the tool from Shared/ (links to SiroccoABI and SiroccoWire/Text.swift).
    .executableTarget(
      name: "sirocco-spt", dependencies: ["CSiroccoSPTTender", "CSiroccoUnix"],
      swiftSettings: [.enableExperimentalFeature("Embedded"), .define("SIROCCO_TENDER"), .unsafeFlags(["-wmo", "-Osize"])]),
    .target(name: "CSiroccoHVTTender"),
    // The hvt tender, Embedded Swift for Linux like sirocco-spt, with which it shares
    // Sources/Tender (options, image checks, device attachment) through Shared/.
    .executableTarget(
      name: "sirocco-hvt", dependencies: ["CSiroccoHVTTender", "CSiroccoSPTTender", "CSiroccoUnix"],
      swiftSettings: [.enableExperimentalFeature("Embedded"), .define("SIROCCO_TENDER"), .unsafeFlags(["-wmo", "-Osize"])]),
    .target(name: "CAllocationCounter"),
    .executableTarget(name: "SiroccoBenchmarks", dependencies: ["Sirocco", "CAllocationCounter"]),

    .testTarget(name: "SiroccoWireTests", dependencies: ["SiroccoWire"]),
    .testTarget(name: "SiroccoFilterTests", dependencies: ["SiroccoFilter"]),
    .testTarget(name: "SiroccoDNSTests", dependencies: ["SiroccoDNS", "SiroccoNet", "SiroccoStore", "SiroccoDevices", "SiroccoWire"]),
    .testTarget(name: "SiroccoABITests", dependencies: ["SiroccoABI"]),
    .testTarget(name: "SiroccoUnixTests", dependencies: ["SiroccoUnix", "CSiroccoUnix", "Sirocco"]),
    .testTarget(name: "SiroccoNetTests", dependencies: ["SiroccoNet", "SiroccoDevices", "SiroccoWire"]),
    .testTarget(name: "SiroccoRuntimeTests", dependencies: ["SiroccoRuntime", "SiroccoNet", "SiroccoDevices", "SiroccoWire"]),
    .testTarget(name: "SiroccoFreestandingTests", dependencies: ["CSiroccoFreestanding"]),
    .testTarget(name: "SiroccoVirtioTests", dependencies: ["SiroccoVirtio"]),
    .testTarget(name: "SiroccoStoreTests", dependencies: ["SiroccoStore", "SiroccoDevices", "SiroccoWire"]),
    .testTarget(name: "SiroccoHTTPTests", dependencies: ["SiroccoHTTP", "SiroccoNet", "SiroccoStore", "SiroccoDevices", "SiroccoWire"]),
    // Not on sirocco-spt: an Embedded Swift executable must not be linked into a hosted test
    // bundle (its weak runtime symbols would replace the real runtime). Scripts/test builds it.
    .testTarget(name: "EndToEndTests", dependencies: ["sirocco", "SiroccoABI"], exclude: ["clients.py", "http_checks.py", "dns_checks.py", "filter_checks.py", "dns"]),
  ]
)
