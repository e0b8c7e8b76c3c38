/* What the Linux-hosted targets share below Swift (the spt guest and the unix process):
 * raw system calls, which work the same in a freestanding guest and in a process, and the
 * ordered loads and stores an io_uring's shared indices need (SiroccoLinux's IORing). No
 * libc: the spt guest has none. */
#ifndef CSIROCCO_LINUX_H
#define CSIROCCO_LINUX_H

#include <stdint.h>

#if defined(__x86_64__)
static inline long sirocco_syscall6(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline long sirocco_syscall3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long sirocco_syscall6(long n, long a, long b, long c, long d, long e, long f) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
}

static inline long sirocco_syscall3(long n, long a, long b, long c) { return sirocco_syscall6(n, a, b, c, 0, 0, 0); }
#else
#error "Sirocco's Linux targets run on x86-64 and AArch64"
#endif

/* io_uring_enter(2): the same number on every architecture (426). */
enum { SIROCCO_SYS_IO_URING_ENTER = 426 };

/* Shared-memory loads and stores for an io_uring's indices: the kernel reads what the
 * process publishes with release order and publishes with release what the process reads
 * with acquire order. */
static inline uint32_t sirocco_load_acquire_u32(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_ACQUIRE);
}
static inline void sirocco_store_release_u32(void *address, uint32_t value) {
    __atomic_store_n((uint32_t *)address, value, __ATOMIC_RELEASE);
}
static inline void sirocco_store_release_u16(void *address, uint16_t value) {
    __atomic_store_n((uint16_t *)address, value, __ATOMIC_RELEASE);
}

#endif
