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

/* The seccomp filter both tenders install (default action: kill the process), built from
 * rules that each device kind's file in Sources/Tender gives (Console, Clocks, Net, Block)
 * and the tender's own: a rule allows one system call when every one of its conditions on
 * the call's arguments holds (all 64 bits compared, or the low 32 of an int). Rules are tried in order. */
struct sirocco_seccomp_condition {
    uint8_t argument;   /* 0 to 5 */
    uint8_t at_most;    /* 0: the argument equals `value`; 1: it is at most `value`, unsigned */
    uint8_t is_int;     /* 1: an int argument (a descriptor): only its low 32 bits compared,
                         * as the kernel reads it; the caller may leave the high bits unset */
    uint64_t value;
};
struct sirocco_seccomp_rule {
    int number;         /* the system call (x86-64) */
    int count;          /* conditions used, 0 to 3 */
    struct sirocco_seccomp_condition conditions[3];
};

/* x86-64 system call numbers the rules name. */
enum sirocco_syscall {
    SIROCCO_SYSCALL_READ = 0,
    SIROCCO_SYSCALL_WRITE = 1,
    SIROCCO_SYSCALL_MMAP = 9,
    SIROCCO_SYSCALL_MUNMAP = 11,
    SIROCCO_SYSCALL_BRK = 12,
    SIROCCO_SYSCALL_RT_SIGRETURN = 15,
    SIROCCO_SYSCALL_IOCTL = 16,
    SIROCCO_SYSCALL_PREAD64 = 17,
    SIROCCO_SYSCALL_PWRITE64 = 18,
    SIROCCO_SYSCALL_MREMAP = 25,
    SIROCCO_SYSCALL_MINCORE = 27,
    SIROCCO_SYSCALL_MADVISE = 28,
    SIROCCO_SYSCALL_ARCH_PRCTL = 158,
    SIROCCO_SYSCALL_FUTEX = 202,
    SIROCCO_SYSCALL_CLOCK_GETTIME = 228,
    SIROCCO_SYSCALL_EXIT_GROUP = 231,
    SIROCCO_SYSCALL_EPOLL_PWAIT = 281,
    SIROCCO_SYSCALL_TIMERFD_SETTIME = 286,
    SIROCCO_SYSCALL_IO_URING_ENTER = 426,
};

/* Assembles the filter into `code` (struct sock_filter, 8 bytes each) without loading it:
 * returns the number of instructions, or -E2BIG. */
struct sock_filter;
int sirocco_seccomp_filter(const struct sirocco_seccomp_rule *rules, int count, struct sock_filter *code, unsigned capacity);

/* Assembles the filter and loads it on every thread of the process (PR_SET_NO_NEW_PRIVS
 * first, then SECCOMP_FILTER_FLAG_TSYNC). */
int sirocco_seccomp_install(const struct sirocco_seccomp_rule *rules, int count);

/* Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP on an alternate stack:
 * they print one line (what, where, which function) on `report_fd` (2, or 1 where the
 * filter forbids 2) and exit_group(255). `image` is the guest's ELF file, mapped read-only
 * (the guest must not be able to write it); its symbol table is searched only when a trap
 * happens. */
int sirocco_spt_install_traps(const void *image, size_t size, int report_fd);

/* Jumps to `entry` with RSP = `stack` and RDI = `boot_info`; does not return. */
__attribute__((noreturn)) void sirocco_spt_launch(uint64_t entry, uint64_t stack, uint64_t boot_info);

#endif
