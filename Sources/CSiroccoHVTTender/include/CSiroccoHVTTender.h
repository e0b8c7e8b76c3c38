/* The parts of the hvt tender that must be C: the KVM ioctls (the VM, its memory, the vCPU
 * and its registers, the run loop's exits) and the POLL hypercall's wait. Functions return
 * 0 or -errno unless said otherwise. The tender is Embedded Swift, like sirocco-spt: it
 * reaches libc through CSiroccoSPTTender's header. */
#ifndef CSIROCCO_HVT_TENDER_H
#define CSIROCCO_HVT_TENDER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One VM with one vCPU over `memory` (guest physical 0 upwards). */
struct sirocco_hvt {
    int kvm_fd, vm_fd, vcpu_fd;
    void *run;              /* the vCPU's struct kvm_run, mapped */
    size_t run_size;
    uint64_t tsc_hz;        /* KVM_GET_TSC_KHZ x 1000 */
};

/* What a failed step was: the step's name for the message, and -errno. */
struct sirocco_hvt_failure {
    const char *step;
    int error;
};

/* Opens /dev/kvm, checks API version 12 and KVM_CAP_USER_MEMORY and KVM_CAP_GET_TSC_KHZ,
 * creates the VM with `memory` of `size` bytes as slot 0 at guest physical 0, creates vCPU
 * 0 with the CPUID KVM supports, and reads the TSC frequency. On failure fills `failure`. */
int sirocco_hvt_create(struct sirocco_hvt *vm, void *memory, uint64_t size, struct sirocco_hvt_failure *failure);

/* Long mode from the first instruction, as Solo5's tender sets it: CR0 PE|NE|WP|PG, CR3
 * 0x2000, CR4 PAE|OSFXSR|OSXMMEXCPT, EFER LME|LMA, CS 0x08 (64-bit code), the data
 * segments 0x10, GDT at 0x1000 (limit 23), no IDT; RIP `entry`, RSP `stack`, RDI
 * `boot_info`, RFLAGS 0x2 (interrupts off). */
int sirocco_hvt_set_registers(struct sirocco_hvt *vm, uint64_t entry, uint64_t stack, uint64_t boot_info);

/* Why the vCPU stopped. */
enum sirocco_hvt_exit_kind {
    SIROCCO_HVT_EXIT_HYPERCALL = 0, /* a 32-bit OUT to a port: `port`, `value` */
    SIROCCO_HVT_EXIT_PORT = 1,      /* any other port access: `port`, `size`, `out` */
    SIROCCO_HVT_EXIT_FAULT = 2,     /* KVM_RUN failed with EFAULT (host/guest translation) */
    SIROCCO_HVT_EXIT_OTHER = 3,     /* anything else: `reason` (KVM_EXIT_*), `suberror` */
    SIROCCO_HVT_EXIT_SIGNAL = 4,    /* KVM_RUN was interrupted by a signal that asked to stop */
};

struct sirocco_hvt_exit {
    int kind;
    uint32_t reason, suberror;
    uint16_t port;
    uint8_t size, out;
    uint32_t value;
    uint64_t rip;
};

/* Runs the vCPU until an exit the tender must handle; -errno if KVM_RUN itself failed
 * otherwise. */
int sirocco_hvt_run(struct sirocco_hvt *vm, struct sirocco_hvt_exit *exit);

/* The vCPU's registers, for fault reports and core dumps: the general registers, the
 * segment selectors and FS/GS bases, and the control registers. */
struct sirocco_hvt_state {
    uint64_t rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t cs, ss, ds, es, fs, gs, fs_base, gs_base;
    uint64_t cr0, cr2, cr3, cr4, efer;
};
int sirocco_hvt_state(struct sirocco_hvt *vm, struct sirocco_hvt_state *state);

/* Waits until a watched descriptor is readable or `timeout_ns` has passed, as Solo5's POLL
 * does: `timer_fd` armed one-shot and relative (never zero, which would disarm it), then
 * epoll_pwait without a limit. Returns the number of ready descriptors other than the
 * timer and sets bit `tag` of `ready` for each (tags below 64), or -errno. */
int sirocco_hvt_poll(int epoll_fd, int timer_fd, uint64_t timer_tag, uint64_t timeout_ns, uint64_t *ready);

/* The ioctl requests the run loop makes on the vCPU (for the seccomp filter): KVM_RUN,
 * KVM_GET_REGS, KVM_GET_SREGS. */
void sirocco_hvt_requests(uint64_t requests[3]);

/* Whether SIGINT or SIGTERM has come (handlers installed by sirocco_hvt_catch_signals). */
int sirocco_hvt_signal(void);
int sirocco_hvt_catch_signals(void);

/* ---- the net ring (ring.c; ../shared/reference/solo5-abi.md 5.10) ---- */

/* Registers an eventfd on the ring's kick port (0x600, 32-bit OUT) with KVM_IOEVENTFD, if
 * KVM has it: a kick then wakes the ring's thread without leaving the kernel. The eventfd,
 * or -errno (-ENOTSUP without KVM_CAP_IOEVENTFD). */
int sirocco_hvt_ring_kick_create(struct sirocco_hvt *vm);

/* Blocks until the guest kicks (reads the eventfd's count); 0 or -errno. */
int sirocco_hvt_ring_wait(int eventfd);

/* Starts `body(context)` on a thread of its own; 0 or -errno. */
int sirocco_hvt_thread_start(void *(*body)(void *), void *context);

/* The ring's indices are shared with the guest's vCPU: acquire loads, release stores, a
 * full fence between publishing `needs_kick` and re-reading the guest's tail. */
static inline uint32_t sirocco_ring_load(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_ACQUIRE);
}
static inline void sirocco_ring_store(void *address, uint32_t value) {
    __atomic_store_n((uint32_t *)address, value, __ATOMIC_RELEASE);
}
static inline void sirocco_ring_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void sirocco_ring_pause(void) { __asm__ volatile("pause" ::: "memory"); }

/* ---- --dump-core=DIR (core.c) ---- */

/* The core file, unnamed until the guest fails, and the helper process that names it. */
struct sirocco_hvt_core {
    int file;      /* O_TMPFILE in the directory, read-write */
    int request;   /* write one byte: link the file; close: exit */
    int reply;     /* the helper's answer: 4 bytes, 0 or errno */
    int pid;       /* the tender's, in the file's name */
};

/* Run first, before the tender opens anything: opens `directory`, creates the unnamed file
 * in it, and forks the helper, which keeps only the directory and the file and, when asked,
 * links the file as core.sirocco-hvt.PID in the directory (the tender's seccomp filter
 * allows it no call that takes a path). 0, or -errno with `step` naming what failed. */
int sirocco_hvt_core_prepare(const char *directory, struct sirocco_hvt_core *core, const char **step);

/* Asks the helper to link the file and waits for its answer: 0 or -errno. */
int sirocco_hvt_core_link(const struct sirocco_hvt_core *core);

/* mincore(2): one byte per page of `memory`, bit 0 set when the page is resident. */
int sirocco_hvt_resident(void *memory, size_t size, unsigned char *pages);

#endif
