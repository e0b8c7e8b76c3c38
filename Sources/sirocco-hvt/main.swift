// sirocco-hvt: the hvt tender, a minimal KVM monitor. Loads a Solo5 hvt image (Sirocco's or
// Solo5's) into a VM with one vCPU, attaches its devices, and serves its hypercalls until
// it halts.
//
//   sirocco-hvt [--mem=MiB] [--net:NAME=TAP] [--net-mac:NAME=MAC] [--block:NAME=FILE]
//               [--block-sector-size:NAME=N] [--] IMAGE [ARGS...]
//
// Command-line compatible with Solo5 v0.12's solo5-hvt for these options. Exit status: the
// guest's once it runs; 255 when it faults (an exit no guest may cause, a bad port or
// hypercall); 2 bad usage; 1 the tender's own errors; each one line. docs/hvt.md.
//
// Embedded Swift for Linux, like sirocco-spt, with which it shares Sources/Tender (options,
// the image checks, device attachment) and the ABI files (Shared/). Modules, in the order
// they run: Options, TenderImage, GuestMemory (mapping, boot tables, loading), the VM
// (CSiroccoHVTTender), AttachedDevices, the boot information (Tender), RunLoop (Hypercalls).

import CSiroccoSPTTender

exit(Tender.run(arguments: Tender.commandLine()))
