// sirocco-spt: the spt tender. Loads a Solo5 spt image (Sirocco's or Solo5's), attaches its
// devices, confines the process with seccomp, and jumps into the guest.
//
//   sirocco-spt [--mem=MiB] [--net:NAME=TAP] [--net-mac:NAME=MAC] [--block:NAME=FILE]
//               [--block-sector-size:NAME=N] [--] IMAGE [ARGS...]
//
// Command-line compatible with Solo5 v0.12's solo5-spt for these options. Exit status: the
// guest's once it runs (255 when it traps); 1 for the tender's own errors, each one line.
//
// Built in Embedded Swift for Linux (no Swift runtime to start: exec-to-exit is dominated
// by the guest), on libc through CSiroccoSPTTender. Shared/ holds the ABI files it shares
// with the guest and the tool (SiroccoABI) and the byte-wise text helpers (SiroccoWire).
//
// Modules, in the order they run: Options (command line), the image checks (ELF, notes,
// manifest), GuestMemory (mapping and loading), Devices (attachment), then the boot
// information, the trap handlers, the seccomp filter, and the jump (Tender).

import CSiroccoSPTTender

exit(Tender.run(arguments: Tender.commandLine()))
