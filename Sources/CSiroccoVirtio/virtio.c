/* The virtio target's machine layer, from the PVH entry (boot.S) to Swift's main: the memory
 * map and the heap, page tables with permissions (nothing at page 0, a guard page under the
 * stack, text read-only, the rest not executable), the serial console,
 * clocks (TSC and local APIC timer calibrated against the PIT, the CMOS clock for the wall
 * time), the idle wait, interrupts, and the exit. The GDT, TSS and IDT and the reports of CPU
 * exceptions are CSiroccoX86's, shared with hvt.
 *
 * Read first: Xen's start_info.h (struct hvm_start_info, its memory map); Intel SDM vol. 3A
 * 4.5 (4-level paging), 6.14 (64-bit IDT, IST), 7.7 (64-bit TSS), 10.5.4 (APIC timer);
 * the 8254 PIT and MC146818 RTC data sheets; QEMU hw/misc/debugexit.c (the exit port).
 * Compiled only in freestanding builds (SIROCCO_FREESTANDING). */
#if defined(SIROCCO_FREESTANDING)

#include "CSiroccoVirtio.h"
#include "CSiroccoX86.h"

extern int main(int argc, char **argv);
/* From the linker script (virtio.lds). */
extern char __text_start[], __text_end[], __rodata_end[], __bss_end[], _end[];
extern char sirocco_stack_guard[], sirocco_stack_top[];
/* From boot.S. */
extern uint64_t boot_pd[4 * 512];

static struct sirocco_virtio_boot boot;
const struct sirocco_virtio_boot *sirocco_virtio_boot_info(void) { return &boot; }

/* ---- serial console: a 16550 at COM1 ---- */

#define COM1 0x3f8

static void serial_init(void) {
    sirocco_outb(COM1 + 1, 0x00); /* no interrupts */
    sirocco_outb(COM1 + 3, 0x80); /* DLAB: divisor follows */
    sirocco_outb(COM1 + 0, 0x01); /* 115200 baud */
    sirocco_outb(COM1 + 1, 0x00);
    sirocco_outb(COM1 + 3, 0x03); /* 8N1 */
    sirocco_outb(COM1 + 2, 0xc7); /* FIFOs on and cleared */
}

static void serial_write(const void *buffer, size_t length) {
    const uint8_t *bytes = buffer;
    for (size_t i = 0; i < length; i++) {
        /* Wait for the transmitter holding register (bounded: a missing UART reads 0xff). */
        for (int spins = 0; spins < 100000 && !(sirocco_inb(COM1 + 5) & 0x20); spins++) {}
        sirocco_outb(COM1, bytes[i]);
    }
}

void sirocco_platform_console_write(const void *buffer, size_t length) { serial_write(buffer, length); }

void sirocco_virtio_console_write(const void *buffer, size_t length) {
    sirocco_console_flush();
    serial_write(buffer, length);
}

/* ---- exit ---- */

/* QEMU's isa-debug-exit (iobase 0x501) ends QEMU with (v << 1) | 1 for a byte v. Statuses 0
 * to 125 are written as status + 1 (so QEMU's own failure status 1 stays apart), anything
 * else as 127 (QEMU exits 255); `sirocco run` maps them back (docs/virtio.md). Without that
 * device (Firecracker) the i8042 reset ends the VM, and a triple fault is the last resort. */
void sirocco_platform_exit(int status) {
    if (status < 0 || status > 125) {
        sirocco_report("sirocco: exit status ");
        sirocco_report_decimal((uint64_t)(uint32_t)status);
        sirocco_report("\n");
    }
    sirocco_outb(0x501, (uint8_t)(status >= 0 && status <= 125 ? status + 1 : 127));
    sirocco_outb(0x64, 0xfe);
    static const uint64_t empty_idt[2] = {0, 0};
    __asm__ volatile("lidt (%0); int3" : : "r"(empty_idt));
    for (;;) __asm__ volatile("cli; hlt");
}

/* ---- CPU ---- */

static inline void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d) {
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(subleaf));
}

static inline uint64_t rdtsc(void) {
    uint32_t low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    return ((uint64_t)high << 32) | low;
}

static inline uint64_t rdmsr(uint32_t msr) {
    uint32_t low, high;
    __asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return ((uint64_t)high << 32) | low;
}

static inline void wrmsr(uint32_t msr, uint64_t value) {
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

/* ---- memory: the start info's map, the heap, page tables ---- */

#define PAGE 4096ull
#define LARGE_PAGE (2ull << 20)
#define PTE_PRESENT (1ull << 0)
#define PTE_WRITABLE (1ull << 1)
#define PTE_WRITE_THROUGH (1ull << 3)
#define PTE_NO_CACHE (1ull << 4)
#define PTE_LARGE (1ull << 7)
#define PTE_NO_EXECUTE (1ull << 63)
/* 4 KiB pages for the first 8 MiB, where the image, its stack and its guard page lie. */
#define FINE_TABLES 4

static uint64_t fine_tables[FINE_TABLES][512] __attribute__((aligned(4096)));
static char command_line[4096];

struct memory_region {
    uint64_t start, end;
};

/* The RAM regions of the start info's map (type 1), at most 32. */
static struct memory_region ram[32];
static int ram_count;

static int is_ram(uint64_t start, uint64_t end) {
    for (int i = 0; i < ram_count; i++)
        if (ram[i].start <= start && end <= ram[i].end) return 1;
    return 0;
}

static void read_start_info(uint64_t address) {
    const uint8_t *info = (const uint8_t *)(uintptr_t)address;
    if (address == 0 || *(const uint32_t *)info != 0x336ec578) {
        sirocco_report("sirocco: no PVH start info (expected magic 0x336ec578): was the image booted by PVH?\n");
        sirocco_platform_exit(1);
    }
    uint32_t version = *(const uint32_t *)(info + 4);
    uint64_t line = *(const uint64_t *)(info + 24);
    if (line) {
        const char *text = (const char *)(uintptr_t)line;
        size_t n = 0;
        while (n < sizeof command_line - 1 && text[n]) {
            command_line[n] = text[n];
            n++;
        }
        command_line[n] = 0;
    }
    uint64_t map = version >= 1 ? *(const uint64_t *)(info + 40) : 0;
    uint32_t entries = version >= 1 ? *(const uint32_t *)(info + 48) : 0;
    for (uint32_t i = 0; map && i < entries && ram_count < 32; i++) {
        const uint8_t *entry = (const uint8_t *)(uintptr_t)(map + 24ull * i);
        uint64_t start = *(const uint64_t *)entry, size = *(const uint64_t *)(entry + 8);
        if (*(const uint32_t *)(entry + 16) != 1 || size == 0) continue;
        ram[ram_count].start = start;
        ram[ram_count].end = start + size;
        ram_count++;
    }
    if (ram_count == 0) {
        sirocco_report("sirocco: the PVH start info has no memory map (expected version 1 or later with RAM entries)\n");
        sirocco_platform_exit(1);
    }
}

/* The heap: from the end of the image to the end of the RAM region that holds it (below
 * 4 GiB, which is what the page tables map). */
static void init_heap(void) {
    uint64_t image_end = (uint64_t)(uintptr_t)_end;
    uint64_t region_end = 0;
    for (int i = 0; i < ram_count; i++)
        if (ram[i].start <= (uint64_t)(uintptr_t)__text_start && image_end <= ram[i].end) region_end = ram[i].end;
    if (region_end == 0) {
        sirocco_report("sirocco: the image does not lie in RAM per the PVH memory map\n");
        sirocco_platform_exit(1);
    }
    if (region_end > (4ull << 30)) region_end = 4ull << 30;
    boot.heap_start = (image_end + 4095) & ~4095ull;
    boot.heap_end = region_end;
    boot.memory_end = region_end;
    sirocco_heap_init(sirocco_guest_heap(), (void *)(uintptr_t)boot.heap_start, boot.heap_end - boot.heap_start);
}

/* Replaces boot.S's 2 MiB identity map: the first 8 MiB in 4 KiB pages (page 0 absent, text
 * read-only and executable, read-only data, the stack's guard page absent, data and the rest
 * writable and not executable), then 2 MiB pages to 4 GiB, not executable, and uncached
 * where the map has no RAM (device memory). */
static void init_paging(void) {
    uint32_t a, b, c, d;
    cpuid(0x80000001, 0, &a, &b, &c, &d);
    uint64_t nx = 0;
    if (d & (1u << 20)) {
        wrmsr(0xc0000080, rdmsr(0xc0000080) | (1ull << 11)); /* EFER.NXE */
        nx = PTE_NO_EXECUTE;
    }
    uint64_t text_start = (uint64_t)(uintptr_t)__text_start, text_end = (uint64_t)(uintptr_t)__text_end;
    uint64_t rodata_end = (uint64_t)(uintptr_t)__rodata_end, guard = (uint64_t)(uintptr_t)sirocco_stack_guard;
    for (int table = 0; table < FINE_TABLES; table++) {
        for (int i = 0; i < 512; i++) {
            uint64_t address = ((uint64_t)table * 512 + (uint64_t)i) * PAGE;
            uint64_t entry = address | PTE_PRESENT;
            if (address == 0 || address == guard) entry = 0;
            else if (address >= text_start && address < text_end) {}
            else if (address >= text_end && address < rodata_end) entry |= nx;
            else entry |= PTE_WRITABLE | nx;
            fine_tables[table][i] = entry;
        }
        __asm__ volatile("" : : : "memory"); /* the table filled before the directory points at it */
        boot_pd[table] = (uint64_t)(uintptr_t)fine_tables[table] | PTE_PRESENT | PTE_WRITABLE;
    }
    for (int i = FINE_TABLES; i < 4 * 512; i++) {
        uint64_t address = (uint64_t)i * LARGE_PAGE;
        uint64_t entry = address | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE | nx;
        if (!is_ram(address, address + LARGE_PAGE)) entry |= PTE_NO_CACHE | PTE_WRITE_THROUGH;
        boot_pd[i] = entry;
    }
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

/* ---- interrupt controllers ---- */

#define LAPIC 0xfee00000ull
#define LAPIC_EOI 0xb0
#define LAPIC_SPURIOUS 0xf0
#define LAPIC_TIMER 0x320
#define LAPIC_INITIAL_COUNT 0x380
#define LAPIC_CURRENT_COUNT 0x390
#define LAPIC_DIVIDE 0x3e0
#define IOAPIC 0xfec00000ull
#define TIMER_VECTOR 32
#define DEVICE_VECTOR SIROCCO_VIRTIO_DEVICE_VECTOR

static void lapic_write(uint32_t reg, uint32_t value) { sirocco_mmio_write32(LAPIC + reg, value); }
static uint32_t lapic_read(uint32_t reg) { return sirocco_mmio_read32(LAPIC + reg); }

static void init_interrupts(void) {
    /* The 8259s: moved to vectors 0xf0-0xff (out of the exceptions' way) and all masked. */
    sirocco_outb(0x20, 0x11);
    sirocco_outb(0xa0, 0x11);
    sirocco_outb(0x21, 0xf0);
    sirocco_outb(0xa1, 0xf8);
    sirocco_outb(0x21, 0x04);
    sirocco_outb(0xa1, 0x02);
    sirocco_outb(0x21, 0x01);
    sirocco_outb(0xa1, 0x01);
    sirocco_outb(0x21, 0xff);
    sirocco_outb(0xa1, 0xff);
    wrmsr(0x1b, rdmsr(0x1b) | (1ull << 11)); /* the local APIC on, at its reset address */
    lapic_write(LAPIC_SPURIOUS, 0x100 | 0xff);
    lapic_write(LAPIC_DIVIDE, 0x0b); /* divide by 1 */
    lapic_write(LAPIC_TIMER, TIMER_VECTOR | (1u << 16)); /* one-shot, masked until armed */
}

int sirocco_virtio_route_irq(uint32_t gsi) {
    sirocco_mmio_write32(IOAPIC, 0x01);
    uint32_t pins = ((sirocco_mmio_read32(IOAPIC + 0x10) >> 16) & 0xff) + 1;
    if (gsi >= pins) return -1;
    /* Level-triggered, active high, fixed delivery to the boot CPU's APIC (ID 0). */
    sirocco_mmio_write32(IOAPIC, 0x10 + 2 * gsi + 1);
    sirocco_mmio_write32(IOAPIC + 0x10, 0);
    sirocco_mmio_write32(IOAPIC, 0x10 + 2 * gsi);
    sirocco_mmio_write32(IOAPIC + 0x10, DEVICE_VECTOR | (1u << 15));
    return 0;
}

void sirocco_virtio_mask_irq(uint32_t gsi, int masked) {
    sirocco_mmio_write32(IOAPIC, 0x10 + 2 * gsi);
    sirocco_mmio_write32(IOAPIC + 0x10, DEVICE_VECTOR | (1u << 15) | (masked ? 1u << 16 : 0));
}

/* ---- clocks ---- */

static uint64_t tsc_at_boot;
static uint64_t tsc_to_ns; /* nanoseconds per tick, in 32.32 fixed point */
static uint64_t ns_to_lapic; /* timer ticks per nanosecond, in 32.32 fixed point */
static int64_t wall_at_boot;

/* Reads the PIT's channel 0 counter (latched). */
static uint16_t pit_count(void) {
    sirocco_outb(0x43, 0x00);
    uint8_t low = sirocco_inb(0x40);
    return (uint16_t)(low | (sirocco_inb(0x40) << 8));
}

/* One window of `window` PIT ticks, channel 0 counting down freely (its output masked):
 * the TSC and APIC timer ticks it took. Returns 0 if the counter never moved (no PIT). */
static int measure(uint32_t window, uint64_t *tsc_ticks, uint32_t *lapic_ticks) {
    lapic_write(LAPIC_INITIAL_COUNT, 0xffffffff);
    uint16_t last = pit_count();
    uint64_t start = rdtsc();
    uint32_t elapsed = 0, unchanged = 0;
    while (elapsed < window) {
        uint16_t now = pit_count();
        if (now == last && ++unchanged > 100000) return 0;
        /* Reads closer together than the counter's 55 ms period: no wrap goes uncounted
         * unless the vCPU stops for that long, which makes the window too long, and the
         * smallest of the windows is taken. */
        elapsed += (uint16_t)(last - now);
        last = now;
    }
    *tsc_ticks = (rdtsc() - start) * window / elapsed;
    *lapic_ticks = (uint32_t)((uint64_t)(0xffffffff - lapic_read(LAPIC_CURRENT_COUNT)) * window / elapsed);
    lapic_write(LAPIC_INITIAL_COUNT, 0);
    return 1;
}

/* The TSC's and the APIC timer's frequencies: each the smallest of three 5 ms windows of
 * the PIT (1,193,182 Hz; a window stretched by the host descheduling the vCPU reads high);
 * CPUID leaf 0x15 gives the TSC's where the CPU reports it. Channel 0 is left stopped. */
static void calibrate(void) {
    sirocco_outb(0x43, 0x34); /* channel 0, low then high byte, rate generator */
    sirocco_outb(0x40, 0);
    sirocco_outb(0x40, 0);
    const uint32_t window = 5966; /* 5 ms */
    uint64_t best_tsc = 0;
    uint32_t best_lapic = 0;
    for (int round = 0; round < 3; round++) {
        uint64_t tsc;
        uint32_t lapic;
        if (!measure(window, &tsc, &lapic)) break;
        if (best_tsc == 0 || tsc < best_tsc) best_tsc = tsc;
        if (best_lapic == 0 || lapic < best_lapic) best_lapic = lapic;
    }
    sirocco_outb(0x43, 0x30); /* channel 0, mode 0: one count, then it stops */
    sirocco_outb(0x40, 1);
    sirocco_outb(0x40, 0);
    if (best_tsc) {
        boot.tsc_hz = best_tsc * 1193182ull / window;
        boot.lapic_hz = (uint32_t)((uint64_t)best_lapic * 1193182ull / window);
        boot.calibrated = 1;
    } else {
        sirocco_report("sirocco: no PIT to calibrate the clocks against: assuming 1 GHz\n");
        boot.tsc_hz = 1000000000ull;
        boot.lapic_hz = 1000000000u;
    }
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    if (a >= 0x15) {
        uint32_t denominator, numerator, crystal, unused;
        cpuid(0x15, 0, &denominator, &numerator, &crystal, &unused);
        if (denominator && numerator && crystal) {
            boot.tsc_hz = (uint64_t)crystal * numerator / denominator;
            boot.calibrated = 2;
        }
    }
    if (boot.lapic_hz == 0) boot.lapic_hz = 1000000000u;
    tsc_to_ns = (1000000000ull << 32) / boot.tsc_hz;
    ns_to_lapic = ((uint64_t)boot.lapic_hz << 32) / 1000000000ull;
}

int64_t sirocco_virtio_monotonic(void) {
    uint64_t delta = rdtsc() - tsc_at_boot;
    return (int64_t)(((unsigned __int128)delta * tsc_to_ns) >> 32);
}

int64_t sirocco_virtio_wall(void) { return wall_at_boot + sirocco_virtio_monotonic(); }

static uint8_t cmos(uint8_t reg) {
    sirocco_outb(0x70, reg);
    return sirocco_inb(0x71);
}

/* Days from 1970-01-01 to year-month-day (the proleptic Gregorian calendar). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void read_cmos_clock(void) {
    for (int spins = 0; spins < 100000 && (cmos(0x0a) & 0x80); spins++) {} /* update in progress */
    uint8_t second = cmos(0x00), minute = cmos(0x02), hour = cmos(0x04);
    uint8_t day = cmos(0x07), month = cmos(0x08), year = cmos(0x09), century = cmos(0x32);
    uint8_t status = cmos(0x0b);
    if (second == 0xff && month == 0xff) return; /* no CMOS clock */
    int pm = hour & 0x80;
    hour &= 0x7f;
    if (!(status & 0x04)) { /* BCD */
#define BCD(x) (uint8_t)(((x) >> 4) * 10 + ((x) & 15))
        second = BCD(second);
        minute = BCD(minute);
        hour = BCD(hour);
        day = BCD(day);
        month = BCD(month);
        year = BCD(year);
        century = BCD(century);
#undef BCD
    }
    if (!(status & 0x02)) hour = (uint8_t)(hour % 12 + (pm ? 12 : 0)); /* 12-hour clock: 12 AM is 0 */
    if (month < 1 || month > 12 || day < 1 || day > 31) return;
    int64_t full_year = (century >= 19 && century <= 21 ? century : 20) * 100 + year;
    int64_t days = days_from_civil(full_year, month, day);
    wall_at_boot = ((days * 24 + hour) * 60 + minute) * 60 + second;
    wall_at_boot *= 1000000000;
}

/* ---- waiting ---- */

static struct sirocco_virtio_events events;

const struct sirocco_virtio_events *sirocco_virtio_events(void) { return &events; }

void sirocco_virtio_wait(int64_t deadline) {
    if (deadline >= 0) {
        int64_t now = sirocco_virtio_monotonic();
        if (deadline <= now) return;
        uint64_t ticks = (uint64_t)(((unsigned __int128)(uint64_t)(deadline - now) * ns_to_lapic) >> 32);
        if (ticks == 0) ticks = 1;
        if (ticks > 0xffffffffull) ticks = 0xffffffffull; /* wakes early; the caller waits again */
        lapic_write(LAPIC_TIMER, TIMER_VECTOR);
        lapic_write(LAPIC_INITIAL_COUNT, (uint32_t)ticks);
    }
    /* sti's one-instruction shadow: an interrupt is taken inside hlt, never before it. */
    events.halts++;
    __asm__ volatile("sti; hlt; cli" : : : "memory");
    lapic_write(LAPIC_INITIAL_COUNT, 0);
    lapic_write(LAPIC_TIMER, TIMER_VECTOR | (1u << 16));
}

/* ---- interrupts and traps (the tables and the reports are CSiroccoX86's) ---- */

void sirocco_x86_interrupt(struct sirocco_trap_frame *frame) {
    /* An interrupt has woken the CPU from sirocco_virtio_wait, which is all it is for; the
     * devices are polled after. It returns with interrupts off: a device's level-triggered
     * line stays up until its driver acknowledges it, and would otherwise be taken again at
     * once. The spurious vector takes no EOI. */
    if (frame->vector == DEVICE_VECTOR) events.device_interrupts++;
    if (frame->vector == TIMER_VECTOR) events.timer_interrupts++;
    if (frame->vector != 255) lapic_write(LAPIC_EOI, 0);
    frame->rflags &= ~0x200ull;
}

void sirocco_platform_trap_exit(const struct sirocco_trap_frame *frame, uint64_t cr2) {
    (void)frame, (void)cr2;
    sirocco_platform_exit(255);
}

/* ---- entry ---- */

const char *sirocco_virtio_command_line(void) { return command_line; }

__attribute__((noreturn)) void sirocco_virtio_start(uint32_t start_info) {
    tsc_at_boot = rdtsc();
    serial_init();
    sirocco_x86_init_tables(1);
    read_start_info(start_info);
    init_paging();
    init_heap();
    init_interrupts();
    calibrate();
    read_cmos_clock();
    sirocco_exit(main(0, 0));
}

#else

/* Hosted builds: stubs that trap, so that hosted tests can link the drivers above. */
#include "CSiroccoVirtio.h"

const char *sirocco_virtio_command_line(void) { return ""; }
void sirocco_virtio_console_write(const void *buffer, size_t length) { (void)buffer, (void)length; __builtin_trap(); }
int64_t sirocco_virtio_monotonic(void) { __builtin_trap(); }
int64_t sirocco_virtio_wall(void) { __builtin_trap(); }
void sirocco_virtio_wait(int64_t deadline) { (void)deadline; __builtin_trap(); }
const struct sirocco_virtio_boot *sirocco_virtio_boot_info(void) { __builtin_trap(); }
const struct sirocco_virtio_events *sirocco_virtio_events(void) { __builtin_trap(); }
int sirocco_virtio_route_irq(uint32_t gsi) { (void)gsi; __builtin_trap(); }
void sirocco_virtio_mask_irq(uint32_t gsi, int masked) { (void)gsi, (void)masked; __builtin_trap(); }

#endif
