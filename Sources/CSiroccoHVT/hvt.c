/* The hvt guest's start-up, hypercalls, console, clocks and exit: compiled only into
 * freestanding builds (SIROCCO_FREESTANDING, defined by `sirocco build`), linked only into
 * hvt images. Read first: ../shared/reference/solo5-abi.md 5.1-5.9 (Solo5 v0.12's hvt ABI).
 * Network frames go through the net ring when the tender offers it (hvt_ring.h), else
 * through NET_READ and NET_WRITE.
 * The tender has entered long mode with its GDT and page tables and interrupts off; the guest
 * keeps the page tables and loads its own GDT, TSS and IDT (CSiroccoX86), so that a CPU
 * exception is reported by the guest (what, where, which function) and ends with HALT 255
 * whose cookie is the trap's registers (Solo5's struct x86_trap_regs, which the tenders'
 * core dumps use). */
#if defined(SIROCCO_FREESTANDING)

#include "CSiroccoHVT.h"
#include "hvt_ring.h"
#include "CSiroccoX86.h"

extern void *malloc(size_t size);

struct hvt_boot_info {
    uint64_t mem_size, kernel_end, cpu_cycle_freq;
    const char *cmdline;
    const void *mft;
    uint32_t host_features, guest_features;
    uint64_t net_ring;
};

enum {
    HC_WALLTIME = 1, HC_PUTS = 2, HC_POLL = 3, HC_BLOCK_WRITE = 4, HC_BLOCK_READ = 5,
    HC_NET_WRITE = 6, HC_NET_READ = 7, HC_HALT = 8,
};

/* Argument structs live below 4 GiB: the port carries the address's low 32 bits. */
static inline void hypercall(unsigned number, volatile void *argument) {
    __asm__ volatile("outl %0, %1" : : "a"((uint32_t)(uintptr_t)argument), "d"((uint16_t)(0x500 + number)) : "memory");
}

/* Room left for the stack at the top of guest memory; the heap ends below it. */
#define STACK_SIZE (1024u * 1024u)

static const struct hvt_boot_info *boot_info;
static uint64_t tsc_at_boot, tsc_to_ns; /* nanoseconds per tick, 32.32 fixed point */
static int64_t wall_at_boot;

const void *sirocco_hvt_boot_info(void) { return boot_info; }

static inline uint64_t rdtsc(void) {
    uint32_t low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    return (uint64_t)high << 32 | low;
}

/* ---- console and exit (the hooks of CSiroccoFreestanding) ---- */

void sirocco_platform_console_write(const void *buffer, size_t length) {
    volatile struct { const void *data; size_t length; } call = { buffer, length };
    hypercall(HC_PUTS, &call);
}

__attribute__((noreturn)) void sirocco_platform_exit(int status) {
    volatile struct { const void *cookie; int status; } call = { 0, status };
    for (;;) hypercall(HC_HALT, &call);
}

/* A CPU exception, reported (x86.c): HALT 255 with Solo5's trap record as the cookie (cr2,
 * error code, rip, cs, rflags, rsp, ss; the tender wants 512 bytes there). */
__attribute__((noreturn)) void sirocco_platform_trap_exit(const struct sirocco_trap_frame *frame, uint64_t cr2) {
    static uint64_t record[64];
    record[0] = cr2;
    record[1] = frame->error;
    record[2] = frame->rip;
    record[3] = frame->cs;
    record[4] = frame->rflags;
    record[5] = frame->rsp;
    record[6] = frame->ss;
    volatile struct { const void *cookie; int status; } call = { record, 255 };
    for (;;) hypercall(HC_HALT, &call);
}

void sirocco_hvt_console_write(const void *buffer, size_t length) {
    sirocco_console_flush();
    sirocco_platform_console_write(buffer, length);
}

/* ---- clocks ---- */

int64_t sirocco_hvt_monotonic(void) {
    return (int64_t)(((unsigned __int128)(rdtsc() - tsc_at_boot) * tsc_to_ns) >> 32);
}

int64_t sirocco_hvt_wall(void) { return wall_at_boot + sirocco_hvt_monotonic(); }

/* ---- devices ---- */

int sirocco_hvt_poll(uint64_t timeout_ns, uint64_t *ready) {
    volatile struct { uint64_t timeout; uint64_t ready; int result; } call = { timeout_ns, 0, 0 };
    hypercall(HC_POLL, &call);
    if (ready) *ready = call.ready;
    return call.result;
}

int sirocco_hvt_block_read(uint64_t handle, uint64_t offset, void *data, size_t length) {
    volatile struct { uint64_t handle, offset; void *data; size_t length; int result; } call = { handle, offset, data, length, 3 };
    hypercall(HC_BLOCK_READ, &call);
    return call.result;
}

int sirocco_hvt_block_write(uint64_t handle, uint64_t offset, const void *data, size_t length) {
    volatile struct { uint64_t handle, offset; const void *data; size_t length; int result; } call = { handle, offset, data, length, 3 };
    hypercall(HC_BLOCK_WRITE, &call);
    return call.result;
}

/* The net ring, when the tender offers it (hvt_ring.h); else the hypercalls below. */
static struct sirocco_hvt_ring_guest ring;

int sirocco_hvt_net_read(uint64_t handle, void *data, size_t *length) {
    if (ring.ring) return sirocco_hvt_ring_read(&ring, handle, data, length);
    volatile struct { uint64_t handle; void *data; size_t length; int result; } call = { handle, data, *length, 3 };
    hypercall(HC_NET_READ, &call);
    *length = call.length;
    return call.result;
}

int sirocco_hvt_net_write(uint64_t handle, const void *data, size_t length) {
    if (ring.ring && sirocco_hvt_ring_write(&ring, handle, data, length) == 0) return 0;
    volatile struct { uint64_t handle; const void *data; size_t length; int result; } call = { handle, data, length, 3 };
    hypercall(HC_NET_WRITE, &call);
    return call.result;
}

/* ---- entry ---- */

extern int main(int argc, char **argv);
extern char _end[]; /* the end of .bss, from the linker script */

/* The tender starts the vCPU here with RDI the boot information and RSP the top of guest
 * memory less 8 (as a call would leave it). */
__attribute__((noreturn, used)) void _start(const struct hvt_boot_info *info) {
    tsc_at_boot = rdtsc();
    sirocco_x86_init_tables(0);
    boot_info = info;
    uint64_t hz = info->cpu_cycle_freq ? info->cpu_cycle_freq : 1000000000ull;
    tsc_to_ns = (uint64_t)(((unsigned __int128)1000000000ull << 32) / hz);
    volatile struct { uint64_t nanoseconds; } wall = { 0 };
    hypercall(HC_WALLTIME, &wall);
    wall_at_boot = (int64_t)wall.nanoseconds;
    /* Solo5's tender counts only segments with file contents in kernel_end, so .bss may lie
     * above it: the heap starts past both. */
    uintptr_t heap_start = (uintptr_t)info->kernel_end;
    if ((uintptr_t)_end > heap_start) heap_start = (uintptr_t)_end;
    heap_start = (heap_start + 4095) & ~(uintptr_t)4095;
    uintptr_t heap_end = (uintptr_t)info->mem_size - STACK_SIZE;
    sirocco_heap_init(sirocco_guest_heap(), (void *)heap_start, heap_end > heap_start ? heap_end - heap_start : 0);
    /* The ring's write buffers (2 MiB) come from the heap, only when the ring is offered. */
    if ((info->host_features & 1) && info->net_ring) {
        ring.buffers = malloc(SIROCCO_HVT_RING_SLOTS * SIROCCO_HVT_RING_BUFFER);
        if (ring.buffers) ring.ring = (struct sirocco_hvt_ring *)(uintptr_t)info->net_ring;
    }
    sirocco_exit(main(0, 0));
}

#endif
