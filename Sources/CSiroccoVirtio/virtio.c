/* The virtio target's machine layer, from the PVH entry (boot.S) to Swift's main: the memory
 * map and the heap, page tables with permissions (nothing at page 0, a guard page under the
 * stack, text read-only, the rest not executable), the GDT, TSS and IDT, the serial console,
 * clocks (TSC and local APIC timer calibrated against the PIT, the CMOS clock for the wall
 * time), the idle wait, CPU exceptions reported on the console, and the exit.
 *
 * Read first: Xen's start_info.h (struct hvm_start_info, its memory map); Intel SDM vol. 3A
 * 4.5 (4-level paging), 6.14 (64-bit IDT, IST), 7.7 (64-bit TSS), 10.5.4 (APIC timer);
 * the 8254 PIT and MC146818 RTC data sheets; QEMU hw/misc/debugexit.c (the exit port).
 * Compiled only in freestanding builds (SIROCCO_FREESTANDING). */
#if defined(SIROCCO_FREESTANDING)

#include "CSiroccoVirtio.h"

extern int main(int argc, char **argv);
/* From the linker script (virtio.lds). */
extern char __text_start[], __text_end[], __rodata_end[], __bss_end[], _end[];
extern char sirocco_stack_guard[], sirocco_stack_top[];
/* From boot.S. */
extern uint64_t boot_pd[4 * 512];
extern const uint64_t sirocco_virtio_vectors[49];

/* Symbols for trap reports, added by `sirocco build` (weak: absent in a first link; the
 * layout is BuildVirtio.swift's symbolTableAssembly): per function in address order, its
 * distance from the one before and its name's index (0xffff: a distance only), then the
 * names, sorted and front-coded (a byte of prefix shared with the name before, the rest, a
 * zero). */
extern const uint32_t sirocco_symbol_count __attribute__((weak));
extern const uint32_t sirocco_symbol_name_count __attribute__((weak));
extern const uint16_t sirocco_symbol_entries[] __attribute__((weak));
extern const uint8_t sirocco_symbol_names[] __attribute__((weak));

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

static void put(const char *text) {
    size_t length = 0;
    while (text[length]) length++;
    serial_write(text, length);
}

static void put_hex(uint64_t value) {
    char text[19] = "0x";
    int digits = 1;
    while (digits < 16 && (value >> (4 * digits))) digits++;
    for (int i = 0; i < digits; i++) {
        unsigned nibble = (value >> (4 * (digits - 1 - i))) & 15;
        text[2 + i] = (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
    }
    serial_write(text, 2 + (size_t)digits);
}

static void put_decimal(uint64_t value) {
    char text[20];
    int used = 0;
    do {
        text[sizeof text - 1 - used++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    serial_write(text + sizeof text - used, (size_t)used);
}

/* ---- exit ---- */

/* QEMU's isa-debug-exit (iobase 0x501) ends QEMU with (v << 1) | 1 for a byte v. Statuses 0
 * to 125 are written as status + 1 (so QEMU's own failure status 1 stays apart), anything
 * else as 127 (QEMU exits 255); `sirocco run` maps them back (docs/virtio.md). Without that
 * device (Firecracker) the i8042 reset ends the VM, and a triple fault is the last resort. */
void sirocco_platform_exit(int status) {
    if (status < 0 || status > 125) {
        put("sirocco: exit status ");
        put_decimal((uint64_t)(uint32_t)status);
        put("\n");
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
        put("sirocco: no PVH start info (expected magic 0x336ec578): was the image booted by PVH?\n");
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
        put("sirocco: the PVH start info has no memory map (expected version 1 or later with RAM entries)\n");
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
        put("sirocco: the image does not lie in RAM per the PVH memory map\n");
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

/* ---- GDT, TSS, IDT ---- */

static uint8_t trap_stack[16384] __attribute__((aligned(16)));
static uint8_t interrupt_stack[4096] __attribute__((aligned(16)));

static struct __attribute__((packed)) {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t io_map;
} tss;

static uint64_t gdt[5];
static uint64_t idt[256 * 2];

struct __attribute__((packed)) table_pointer {
    uint16_t limit;
    uint64_t base;
};

static void set_gate(int vector, uint64_t handler, int ist) {
    idt[vector * 2] = (handler & 0xffff) | (0x08ull << 16) | ((uint64_t)ist << 32) | (0x8eull << 40) |
                      ((handler >> 16 & 0xffff) << 48);
    idt[vector * 2 + 1] = handler >> 32;
}

static void init_tables(void) {
    gdt[0] = 0;
    gdt[1] = 0x00af9a000000ffffull; /* 64-bit code, 0x08 */
    gdt[2] = 0x00cf92000000ffffull; /* data, 0x10 */
    uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof tss - 1;
    gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) | ((base >> 24 & 0xff) << 56);
    gdt[4] = base >> 32; /* 64-bit TSS, 0x18 */
    tss.ist[0] = (uint64_t)(uintptr_t)(trap_stack + sizeof trap_stack);
    tss.ist[1] = (uint64_t)(uintptr_t)(interrupt_stack + sizeof interrupt_stack);
    tss.io_map = sizeof tss;
    struct table_pointer gdt_pointer = {sizeof gdt - 1, (uint64_t)(uintptr_t)gdt};
    __asm__ volatile("lgdt %0; ltr %w1" : : "m"(gdt_pointer), "r"(0x18) : "memory");
    /* Exceptions on IST 1: a stack overflow's page fault still has a stack to report on.
     * Interrupts on IST 2: the code they interrupt (Swift and C compiled with the red zone)
     * may keep data in the 128 bytes below its stack pointer. They never nest: IF is clear
     * in handlers. */
    for (int vector = 0; vector < 32; vector++) set_gate(vector, sirocco_virtio_vectors[vector], 1);
    for (int vector = 32; vector < 48; vector++) set_gate(vector, sirocco_virtio_vectors[vector], 2);
    set_gate(255, sirocco_virtio_vectors[48], 2);
    struct table_pointer idt_pointer = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idt_pointer));
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
        put("sirocco: no PIT to calibrate the clocks against: assuming 1 GHz\n");
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

/* ---- traps ---- */

struct sirocco_trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

static const char *const exception_names[32] = {
    "divide error", "debug", "non-maskable interrupt", "breakpoint", "overflow", "bound range exceeded",
    "invalid opcode (ud2: a Swift runtime check failed, e.g. precondition, bounds or overflow)",
    "device not available", "double fault", "coprocessor segment overrun", "invalid TSS", "segment not present",
    "stack fault", "general protection fault", "page fault", "reserved", "x87 floating-point error",
    "alignment check", "machine check", "SIMD floating-point error", "virtualization exception",
    "control protection", "reserved", "reserved", "reserved", "reserved", "reserved", "reserved",
    "hypervisor injection", "VMM communication", "security exception", "reserved",
};

/* " in NAME + 0xOFFSET" from the symbol table `sirocco build` adds (sorted by address). */
static void put_symbol(uint64_t address) {
    uint64_t start = (uint64_t)(uintptr_t)__text_start;
    if (!&sirocco_symbol_count || address < start || address >= (uint64_t)(uintptr_t)__text_end) return;
    uint64_t offset = address - start, position = 0, base = 0;
    uint32_t wanted = 0xffff;
    for (uint32_t i = 0; i < sirocco_symbol_count; i++) { /* the last function at or below `offset` */
        position += sirocco_symbol_entries[2 * i];
        if (position > offset) break;
        if (sirocco_symbol_entries[2 * i + 1] != 0xffff) {
            wanted = sirocco_symbol_entries[2 * i + 1];
            base = position;
        }
    }
    if (wanted >= sirocco_symbol_name_count) return;
    /* Names are front-coded: decode from the first to the one wanted. */
    static char name[256];
    size_t length = 0;
    const uint8_t *record = sirocco_symbol_names;
    for (uint32_t n = 0; n <= wanted; n++) {
        size_t shared = *record++;
        length = shared < length ? shared : length;
        for (; *record; record++) if (length < sizeof name - 1) name[length++] = (char)*record;
        record++;
    }
    name[length] = 0;
    put(" in ");
    put(name);
    put(" + ");
    put_hex(offset - base);
}

void sirocco_virtio_trap(struct sirocco_trap_frame *frame) {
    if (frame->vector >= 32) {
        /* An interrupt: it has woken the CPU from sirocco_virtio_wait, which is all it is
         * for; the devices are polled after. It returns with interrupts off: a device's
         * level-triggered line stays up until its driver acknowledges it, and would
         * otherwise be taken again at once. The spurious vector takes no EOI. */
        if (frame->vector == DEVICE_VECTOR) events.device_interrupts++;
        if (frame->vector == TIMER_VECTOR) events.timer_interrupts++;
        if (frame->vector != 255) lapic_write(LAPIC_EOI, 0);
        frame->rflags &= ~0x200ull;
        return;
    }
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    sirocco_console_flush();
    put("sirocco: guest trap: ");
    put(exception_names[frame->vector]);
    if (frame->vector == 14) {
        uint64_t guard = (uint64_t)(uintptr_t)sirocco_stack_guard;
        put(cr2 >= guard && cr2 < guard + PAGE ? " (stack overflow)" : "");
        put(" at address ");
        put_hex(cr2);
        put(frame->error & 16 ? " (instruction fetch" : frame->error & 2 ? " (write" : " (read");
        put(frame->error & 1 ? ", not permitted)" : ", not mapped)");
    } else if (frame->vector == 8 || frame->vector == 10 || frame->vector == 11 || frame->vector == 12 ||
               frame->vector == 13 || frame->vector == 17 || frame->vector == 21) {
        put(", error code ");
        put_hex(frame->error);
    }
    put(", vector ");
    put_decimal(frame->vector);
    put(", rip ");
    put_hex(frame->rip);
    put_symbol(frame->rip);
    put("\n");
    sirocco_platform_exit(255);
}

/* ---- entry ---- */

const char *sirocco_virtio_command_line(void) { return command_line; }

__attribute__((noreturn)) void sirocco_virtio_start(uint32_t start_info) {
    tsc_at_boot = rdtsc();
    serial_init();
    init_tables();
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
