// sirocco-spt: the spt tender. Loads a Solo5 spt image (Sirocco's or Solo5's), attaches its
// devices, confines the process with seccomp, and jumps into the guest.
//
//   sirocco-spt [--mem=MiB] [--net:NAME=TAP] [--net-mac:NAME=MAC] [--block:NAME=FILE]
//               [--block-sector-size:NAME=N] [--] IMAGE [ARGS...]
//
// Command-line compatible with Solo5 v0.12's solo5-spt for these options. Exit status: the
// guest's once it runs (255 when it traps); 1 for the tender's own errors, each one line.
//
// Modules, in the order they run: Options (command line), Image (ELF, notes, manifest),
// GuestMemory (mapping and loading), Net and Block (device attachment), then the boot
// information, the trap handlers, the seccomp filter, and the jump.

import Glibc

exit(Tender.run(arguments: Array(CommandLine.arguments.dropFirst())))
