/* The parts of the spt tender that must be C: the seccomp filter (libseccomp's rule calls
 * are variadic), the async-signal-safe trap handler, the jump into the guest, and a few
 * ioctls. Functions return 0 or -errno unless said otherwise. */
#ifndef CSIROCCO_SPT_TENDER_H
#define CSIROCCO_SPT_TENDER_H

#include <stddef.h>
#include <stdint.h>

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
};

/* Builds and loads the filter (default action: kill the process). */
int sirocco_spt_seccomp(const struct sirocco_spt_policy *policy);

/* A function symbol of the guest image, for naming where a trap happened. */
struct sirocco_spt_symbol {
    uint64_t address;
    uint64_t size;
    const char *name;
};

/* Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP on an alternate stack:
 * they print one line (what, where, which function) on fd 1 and exit_group(255). The
 * symbols must be sorted by address and stay alive. */
int sirocco_spt_install_traps(const struct sirocco_spt_symbol *symbols, size_t count);

/* Jumps to `entry` with RSP = `stack` and RDI = `boot_info`; does not return. */
__attribute__((noreturn)) void sirocco_spt_launch(uint64_t entry, uint64_t stack, uint64_t boot_info);

/* The guest's event set: an epoll set holding a CLOCK_MONOTONIC timerfd tagged ~1U
 * (SPT_INTERNAL_TIMERFD), as Solo5's spt tender makes it. */
int sirocco_spt_event_set(int *epoll_fd, int *timer_fd);

/* Adds `fd` (a TAP interface) to the event set, tagged with its device handle. */
int sirocco_spt_watch(int epoll_fd, int fd, uint64_t tag);

/* MTU of network interface `name` (SIOCGIFMTU), or -errno. */
int sirocco_spt_interface_mtu(const char *name);

/* Whether interface `name` is up (1), down (0), or -errno. */
int sirocco_spt_interface_up(const char *name);

#endif
