/* The parts of the spt tender that must be C: the seccomp filter (classic BPF), the async-signal-safe trap handler, the jump into the guest, and a few
 * ioctls. Functions return 0 or -errno unless said otherwise. */
#ifndef CSIROCCO_SPT_TENDER_H
#define CSIROCCO_SPT_TENDER_H

#include <stddef.h>
#include <stdint.h>

/* The tender is Embedded Swift (it starts in a fraction of the time a hosted Swift program
 * takes): it reaches libc through this header rather than the Glibc overlay. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The command line, captured before main (glibc passes it to constructors). */
int sirocco_spt_argument_count(void);
const char *sirocco_spt_argument(int index);

/* open(2) with O_CLOEXEC (open itself is variadic). */
int sirocco_spt_open(const char *path, int flags);

/* The calling thread's errno. */
int sirocco_spt_errno(void);

/* What the seccomp filter allows, besides what every guest may do (console write on fd 1,
 * exit_group, clock_gettime of CLOCK_MONOTONIC and CLOCK_REALTIME, epoll_pwait on the epoll
 * fd, timerfd_settime on the timer fd, arch_prctl(ARCH_SET_FS)). */
struct sirocco_spt_policy {
    int epoll_fd;
    int timer_fd;
    int net_fds[64];
    int net_count;
    int block_fds[64];
    uint64_t block_sizes[64];     /* sector size of each block device */
    uint64_t block_capacities[64];
    int block_count;
    int standard_error;           /* a Sirocco image: write on fd 2 as well */
};

/* Builds and loads the filter (default action: kill the process). */
int sirocco_spt_seccomp(const struct sirocco_spt_policy *policy);

/* Assembles the filter into `code` (struct sock_filter, 8 bytes each) without loading it:
 * returns the number of instructions, or -E2BIG. For tests. */
struct sock_filter;
int sirocco_spt_filter(const struct sirocco_spt_policy *policy, struct sock_filter *code, unsigned capacity);

/* Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP on an alternate stack:
 * they print one line (what, where, which function) on `report_fd` (2, or 1 where the
 * filter forbids 2) and exit_group(255). `image` is the guest's ELF file, mapped read-only
 * (the guest must not be able to write it); its symbol table is searched only when a trap
 * happens. */
int sirocco_spt_install_traps(const void *image, size_t size, int report_fd);

/* Jumps to `entry` with RSP = `stack` and RDI = `boot_info`; does not return. */
__attribute__((noreturn)) void sirocco_spt_launch(uint64_t entry, uint64_t stack, uint64_t boot_info);

#endif
