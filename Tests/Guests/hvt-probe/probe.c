/* A Solo5 hvt guest in C, integer-only (this machine's KVM emulates every instruction and
 * cannot run SSE or x87, so a Swift guest cannot run here), for HVTTests: it does what its
 * command line's first word says, well or badly, so that the tests can check what
 * sirocco-hvt gives a guest (boot information, manifest, hypercalls) and how it stops one
 * that misbehaves. It speaks the hvt ABI directly (../shared/reference/solo5-abi.md 5.1-5.9):
 * a hypercall is `outl` of its argument's address to port 0x500 + number.
 *
 * Built by HVTTests: clang -ffreestanding -nostdlib -static -mgeneral-regs-only -mno-red-zone
 * -fno-pic -O2 -fuse-ld=lld -Wl,-T,probe.lds probe.c, with -DABI_TARGET=, -DABI_VERSION=,
 * -DMANIFEST_ENTRIES= (or -DBAD_MANIFEST) to make images the tender must refuse; with
 * -DNET_PROBE -I Sources/CSiroccoHVT/include it declares a network device instead of the
 * disk and speaks the net ring through the Sirocco guest's own ring code (hvt_ring.h). It is
 * linked with Sources/CSiroccoX86 (x86.c, x86.S: the VM guests' trap reports), built with
 * -DSIROCCO_FREESTANDING. */

#include <stddef.h>
#include <stdint.h>

#ifndef ABI_TARGET
#define ABI_TARGET 1 /* hvt */
#endif
#ifndef ABI_VERSION
#define ABI_VERSION 2
#endif

/* ---- the notes ---- */

struct abi_note {
    uint32_t namesz, descsz, type;
    char name[8];
    uint32_t target, version, reserved[2];
};
__attribute__((section(".note.solo5.abi"), aligned(4), used))
static const struct abi_note abi_note = { 6, 16, 0x31494241, "Solo5", ABI_TARGET, ABI_VERSION, { 0, 0 } };

struct manifest_entry {
    char name[68];
    uint32_t type;
    uint8_t device[16];
    uint64_t host;
    uint8_t attached, padding[7];
};
struct manifest_note {
    uint32_t namesz, descsz, type;
    char name[8];
    uint32_t padding;
    uint32_t version, entries;
    struct manifest_entry entry[2];
};
__attribute__((section(".note.solo5.manifest"), aligned(8), used))
static const struct manifest_note manifest_note = {
    6, 4 + 8 + 2 * 104, 0x3154464d, "Solo5", 0,
#ifdef BAD_MANIFEST
    2, 2, /* version 2: no tender knows it */
#else
    1, 2,
#endif
#ifdef NET_PROBE
    { { "", 1u << 30, { 0 }, 0, 0, { 0 } }, { "service0", 2 /* NET_BASIC */, { 0 }, 0, 0, { 0 } } },
#else
    { { "", 1u << 30, { 0 }, 0, 0, { 0 } }, { "storage", 1 /* BLOCK_BASIC */, { 0 }, 0, 0, { 0 } } },
#endif
};

/* ---- the ABI ---- */

struct boot_info {
    uint64_t mem_size, kernel_end, cpu_cycle_freq, cmdline, mft;
    uint32_t host_features, guest_features;
    uint64_t net_ring;
};

static inline void hypercall(unsigned number, uint64_t argument) {
    __asm__ volatile("outl %0, %1" : : "a"((uint32_t)argument), "d"((uint16_t)(0x500 + number)) : "memory");
}

struct puts_call { uint64_t data, length; };
struct poll_call { uint64_t timeout, ready; int32_t result; };
struct block_call { uint64_t handle, offset, data, length; int32_t result; };
struct halt_call { uint64_t cookie; int32_t status; };
struct walltime_call { uint64_t nanoseconds; };

static void halt(int status) {
    static struct halt_call call;
    call.cookie = 0;
    call.status = status;
    hypercall(8, (uint64_t)(uintptr_t)&call);
    for (;;) {}
}

static size_t length(const char *text) {
    size_t count = 0;
    while (text[count]) count++;
    return count;
}

static void say(const char *text) {
    static struct puts_call call;
    call.data = (uint64_t)(uintptr_t)text;
    call.length = length(text);
    hypercall(2, (uint64_t)(uintptr_t)&call);
}

static void say_number(uint64_t value) {
    static char digits[24];
    int at = 23;
    digits[at] = 0;
    do {
        digits[--at] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    say(digits + at);
}

static int starts(const char *text, const char *word) {
    while (*word) if (*text++ != *word++) return 0;
    return *text == 0 || *text == ' ';
}

static int32_t block(unsigned number, uint64_t handle, uint64_t offset, void *data, uint64_t count) {
    static struct block_call call;
    call.handle = handle;
    call.offset = offset;
    call.data = (uint64_t)(uintptr_t)data;
    call.length = count;
    call.result = -1;
    hypercall(number, (uint64_t)(uintptr_t)&call);
    return call.result;
}

static uint8_t sector[512];
static uint8_t check[512];

/* ---- the net ring (-DNET_PROBE): Sirocco's guest side, Sources/CSiroccoHVT/include/hvt_ring.h ---- */

void *memcpy(void *target, const void *source, size_t count) {
    uint8_t *t = target;
    const uint8_t *s = source;
    for (size_t i = 0; i < count; i++) t[i] = s[i];
    return target;
}

#include "hvt_ring.h"

/* A buffer per slot (2 MiB) only where the ring is used: the images built to be refused
 * move .data and .bss below 1 MiB, where 2 MiB would not fit. */
#ifdef NET_PROBE
static uint8_t ring_buffers[SIROCCO_HVT_RING_SLOTS][SIROCCO_HVT_RING_BUFFER];
#else
static uint8_t ring_buffers[1][SIROCCO_HVT_RING_BUFFER];
#endif
static struct sirocco_hvt_ring_guest ring;
static uint8_t frame[2048];
static const uint8_t my_ip[4] = {10, 0, 0, 2};

static int same(const uint8_t *a, const uint8_t *b, size_t count) {
    for (size_t i = 0; i < count; i++) if (a[i] != b[i]) return 0;
    return 1;
}

/* Answers ARP requests for 10.0.0.2 and ICMP echo requests to it, through the ring, until
 * `wanted` echo replies are sent (Scripts/bench-hvt measures it with more) (each request's payload checked against ping -p 5a's
 * pattern after its 16-byte timestamp) or 30 s pass without a frame. */
static void ring_ping(const struct boot_info *info, uint64_t wanted) {
    const uint8_t *manifest = (const uint8_t *)(uintptr_t)info->mft;
    const struct manifest_entry *service = (const struct manifest_entry *)(manifest + 8 + 104);
    const uint8_t *mac = service->device; /* struct mft_net_basic: the MAC first */
    uint64_t replies = 0, corrupted = 0;
    while (replies < wanted) {
        static struct poll_call call;
        call.timeout = 30000000000ull;
        call.ready = 0;
        hypercall(3, (uint64_t)(uintptr_t)&call);
        if (!(call.ready & 2)) {
            say("ring-ping: no frame for 30 s\n");
            halt(1);
        }
        for (;;) {
            size_t length = sizeof frame;
            int result = sirocco_hvt_ring_read(&ring, 1, frame, &length);
            if (result != 0) break;
            if (length < 42) continue;
            uint16_t type = (uint16_t)(frame[12] << 8 | frame[13]);
            if (type == 0x0806 && frame[21] == 1 && same(frame + 38, my_ip, 4)) {
                /* ARP reply: target = the asker, sender = us. */
                memcpy(frame, frame + 6, 6);
                memcpy(frame + 6, mac, 6);
                frame[21] = 2;
                memcpy(frame + 32, frame + 22, 10);
                memcpy(frame + 22, mac, 6);
                memcpy(frame + 28, my_ip, 4);
                sirocco_hvt_ring_write(&ring, 1, frame, 42);
            } else if (type == 0x0800 && frame[23] == 1 && same(frame + 30, my_ip, 4) && frame[34] == 8 && (frame[14] & 15) == 5) {
                size_t total = (size_t)(frame[16] << 8 | frame[17]);
                for (size_t i = 14 + 20 + 8 + 16; i < 14 + total && i < length; i++) corrupted += frame[i] != 0x5a;
                uint8_t swap[6];
                memcpy(swap, frame, 6);
                memcpy(frame, frame + 6, 6);
                memcpy(frame + 6, swap, 6);
                memcpy(swap, frame + 26, 4);
                memcpy(frame + 26, frame + 30, 4);
                memcpy(frame + 30, swap, 4);
                frame[34] = 0; /* echo reply: the checksum grows by 0x0800 */
                uint32_t sum = (uint32_t)(frame[36] << 8 | frame[37]) + 0x0800;
                sum = (sum & 0xffff) + (sum >> 16);
                frame[36] = (uint8_t)(sum >> 8);
                frame[37] = (uint8_t)sum;
                sirocco_hvt_ring_write(&ring, 1, frame, length);
                replies++;
            }
        }
    }
    say("ring-ping replies ");
    say_number(replies);
    say(" corrupted ");
    say_number(corrupted);
    say("\n");
    halt(corrupted == 0 ? 0 : 1);
}

/* ---- traps the guest reports itself, with the Sirocco VM guests' own code (Sources/CSiroccoX86:
 * its IDT, IST stacks and reports), ending as the hvt guest does: HALT 255 with Solo5's trap
 * record (struct x86_trap_regs) as the cookie ---- */

#include "CSiroccoX86.h"

void sirocco_platform_console_write(const void *buffer, size_t length) {
    static struct puts_call call;
    call.data = (uint64_t)(uintptr_t)buffer;
    call.length = length;
    hypercall(2, (uint64_t)(uintptr_t)&call);
}

void sirocco_console_flush(void) {}

__attribute__((noreturn)) void sirocco_platform_trap_exit(const struct sirocco_trap_frame *frame, uint64_t cr2) {
    static uint64_t record[64];
    const uint64_t values[7] = {cr2, frame->error, frame->rip, frame->cs, frame->rflags, frame->rsp, frame->ss};
    for (int i = 0; i < 7; i++) record[i] = values[i];
    static struct halt_call call;
    call.cookie = (uint64_t)(uintptr_t)record;
    call.status = 255;
    for (;;) hypercall(8, (uint64_t)(uintptr_t)&call);
}

/* For --dump-core: a marker written at run time into .bss (so gdb can only find it in the
 * core's memory), then a crash in a function of its own, or an abort whose cookie is a trap
 * record (Solo5's struct x86_trap_regs) naming another. */
char probe_marker[32];
static void mark(void) {
    const char *text = "marker-in-guest-memory";
    for (int i = 0; text[i]; i++) probe_marker[i] = text[i];
}
__attribute__((noinline)) void probe_crash(void) {
    mark();
    __asm__ volatile("ud2");
}
__attribute__((noinline)) void probe_trap_site(void) { __asm__ volatile("nop"); }
static struct { uint64_t cr2, ec, rip, cs, rflags, rsp, ss; uint8_t rest[512 - 56]; } trap_record;
static void abort_with_record(void) {
    mark();
    trap_record.rip = (uint64_t)(uintptr_t)&probe_trap_site;
    trap_record.cs = 8;
    trap_record.rflags = 0x2;
    trap_record.rsp = 0x12345678;
    trap_record.ss = 0x10;
    static struct halt_call call;
    call.cookie = (uint64_t)(uintptr_t)&trap_record;
    call.status = 255;
    hypercall(8, (uint64_t)(uintptr_t)&call);
}

void _start(struct boot_info *info) {
    const char *command = (const char *)(uintptr_t)info->cmdline;
    if (starts(command, "ring-info")) {
        say("memory ");
        say_number(info->mem_size);
        say(" host-features ");
        say_number(info->host_features);
        say(" ring-at-memory-end ");
        say_number(info->net_ring == info->mem_size);
        say("\n");
        halt(0);
    }
    if (command[0] == 'r' && command[1] == 'i' && command[2] == 'n' && command[3] == 'g' && command[4] == '-') {
        if (!(info->host_features & 1) || !info->net_ring) {
            say("no ring offered\n");
            halt(1);
        }
        ring.ring = (struct sirocco_hvt_ring *)(uintptr_t)info->net_ring;
        ring.buffers = ring_buffers;
    }
    if (starts(command, "ring-ping")) {
        /* "ring-ping [N]": N echo replies (default 1,000). */
        uint64_t wanted = 0;
        for (const char *digit = command + 9; *digit; digit++)
            if (*digit >= '0' && *digit <= '9') wanted = wanted * 10 + (uint64_t)(*digit - '0');
        ring_ping(info, wanted ? wanted : 1000);
    }
    if (starts(command, "ring-handles")) {
        /* A write to an unknown handle is skipped; a read from one is EINVAL (2); a read
         * with nothing waiting is AGAIN (1). */
        sirocco_hvt_ring_write(&ring, 9, frame, 60);
        size_t length = sizeof frame;
        say("unknown-handle ");
        say_number((uint64_t)sirocco_hvt_ring_read(&ring, 9, frame, &length));
        length = sizeof frame;
        say(" reserved-handle ");
        say_number((uint64_t)sirocco_hvt_ring_read(&ring, 0, frame, &length));
        length = sizeof frame;
        say(" nothing-waiting ");
        say_number((uint64_t)sirocco_hvt_ring_read(&ring, 1, frame, &length));
        say("\n");
        halt(0);
    }
    if (starts(command, "ring-outside")) {
        /* A read whose buffer is the ring itself (outside guest memory): a guest fault. */
        size_t length = 64;
        sirocco_hvt_ring_read(&ring, 1, (void *)(uintptr_t)info->net_ring, &length);
        halt(0);
    }
    if (starts(command, "ring-wrap")) {
        /* A write entry whose buffer wraps past the top of the address space. */
        struct sirocco_hvt_ring_entry *entry = sirocco_hvt_ring_slot(ring.ring);
        entry->operation = 1;
        entry->handle = 1;
        entry->data = ~0ull - 15;
        entry->length = 64;
        sirocco_hvt_ring_submit(ring.ring);
        for (;;) __asm__ volatile("pause");
    }
    if (starts(command, "hello")) {
        say("hello from the hvt probe; command line: '");
        say(command);
        say("'\n");
        halt(0);
    }
    if (starts(command, "boot-info")) {
        /* What the tender gave: memory, TSC frequency, the manifest's block entry. */
        const uint8_t *manifest = (const uint8_t *)(uintptr_t)info->mft;
        const struct manifest_entry *storage = (const struct manifest_entry *)(manifest + 8 + 104);
        uint64_t capacity;
        uint16_t sector_size;
        __builtin_memcpy(&capacity, storage->device, 8);
        __builtin_memcpy(&sector_size, storage->device + 8, 2);
        say("memory ");
        say_number(info->mem_size);
        say(" kernel-end ");
        say_number(info->kernel_end);
        say(" tsc-hz-nonzero ");
        say_number(info->cpu_cycle_freq != 0);
        say(" storage ");
        say(storage->name);
        say(" attached ");
        say_number(storage->attached);
        say(" capacity ");
        say_number(capacity);
        say(" sector ");
        say_number(sector_size);
        say("\n");
        halt(0);
    }
    if (starts(command, "walltime")) {
        static struct walltime_call call;
        hypercall(1, (uint64_t)(uintptr_t)&call);
        say("walltime seconds ");
        say_number(call.nanoseconds / 1000000000ull);
        say("\n");
        halt(0);
    }
    if (starts(command, "poll")) {
        static struct poll_call call;
        call.timeout = 20000000; /* 20 ms: nothing is attached that could wake it sooner */
        call.result = -1;
        hypercall(3, (uint64_t)(uintptr_t)&call);
        say("poll result ");
        say_number((uint64_t)call.result);
        say(" ready ");
        say_number(call.ready);
        say("\n");
        halt(0);
    }
    if (starts(command, "status-7")) halt(7);
    if (starts(command, "block")) {
        /* A sector written and read back; then requests the tender must refuse with
         * EINVAL (2): an unknown handle, past the capacity, unaligned, a wrapping length. */
        for (int i = 0; i < 512; i++) sector[i] = (uint8_t)(i * 7 + 3);
        int32_t wrote = block(4, 1, 512, sector, 512);
        int32_t read = block(5, 1, 512, check, 512);
        int same = 1;
        for (int i = 0; i < 512; i++) same &= sector[i] == check[i];
        say("block write ");
        say_number((uint64_t)wrote);
        say(" read ");
        say_number((uint64_t)read);
        say(" same ");
        say_number((uint64_t)same);
        say(" unknown-handle ");
        say_number((uint64_t)block(5, 7, 0, check, 512));
        say(" reserved-handle ");
        say_number((uint64_t)block(5, 0, 0, check, 512));
        say(" past-capacity ");
        say_number((uint64_t)block(5, 1, 1u << 20, check, 512));
        say(" unaligned ");
        say_number((uint64_t)block(5, 1, 100, check, 512));
        say(" wrapping ");
        say_number((uint64_t)block(5, 1, 512, check, ~0ull - 511));
        say("\n");
        halt(0);
    }
    if (starts(command, "block-outside")) {
        /* A read into memory the guest does not have: a guest fault. */
        block(5, 1, 0, (void *)(uintptr_t)(info->mem_size - 256), 512);
        halt(0);
    }
    if (starts(command, "puts-outside")) {
        static struct puts_call call;
        call.data = info->mem_size - 4;
        call.length = 16;
        hypercall(2, (uint64_t)(uintptr_t)&call);
        halt(0);
    }
    if (starts(command, "puts-wrap")) {
        static struct puts_call call;
        call.data = 0x100000;
        call.length = ~0ull - 0xff;
        hypercall(2, (uint64_t)(uintptr_t)&call);
        halt(0);
    }
    if (starts(command, "argument-outside")) hypercall(2, 0xfffffff0u); /* past 512 MiB */
    if (starts(command, "bad-hypercall")) hypercall(0, 0x100000);
    if (starts(command, "bad-port")) __asm__ volatile("outb %0, %1" : : "a"((uint8_t)0), "d"((uint16_t)0x499));
    if (starts(command, "port-in")) {
        uint32_t value;
        __asm__ volatile("inl %1, %0" : "=a"(value) : "d"((uint16_t)0x501));
        (void)value;
    }
    if (starts(command, "triple-fault")) __asm__ volatile("ud2"); /* no IDT: a triple fault */
    if (starts(command, "crash")) probe_crash();
    if (starts(command, "idt-crash")) {
        sirocco_x86_init_tables(0);
        probe_crash();
    }
    if (starts(command, "idt-page-fault")) {
        sirocco_x86_init_tables(0);
        *(volatile uint64_t *)(uintptr_t)0x8 = 1; /* the first 64 KiB are not mapped */
    }
    if (starts(command, "abort")) abort_with_record();
    if (starts(command, "write-text")) *(volatile uint8_t *)(uintptr_t)&halt = 0xcc;
    if (starts(command, "spin")) {
        say("spinning\n");
        for (;;) __asm__ volatile("pause");
    }
    say("unknown command\n");
    halt(3);
}
