/* The x86-64 machine layer the VM guests share (virtio.c, hvt.c): the GDT, TSS and IDT, and
 * CPU exceptions reported on the console: what, where (the faulting address of a page
 * fault, whether it hit the stack's guard page), the instruction's address and the function
 * holding it, then the platform's end (sirocco_platform_trap_exit: exit 255).
 *
 * Read first: Intel SDM vol. 3A 6.14 (64-bit IDT, IST), 7.7 (64-bit TSS), 6.15 (exception
 * error codes). Compiled only in freestanding builds (SIROCCO_FREESTANDING). */
#if defined(SIROCCO_FREESTANDING)

#include "CSiroccoX86.h"
#include "CSiroccoFreestanding.h"

/* From the linker script: the text's bounds; the stack's guard page where there is one. */
extern char __text_start[], __text_end[];
extern char sirocco_stack_guard[] __attribute__((weak));
/* From x86.S: the stubs of vectors 0-47, then 255. */
extern const uint64_t sirocco_x86_vectors[49];

/* Symbols for trap reports, added by `sirocco build` (weak: absent in a first link; the
 * layout is BuildVirtio.swift's symbolTableAssembly): per function in address order, its
 * distance from the one before and its name's index (0xffff: a distance only), then the
 * names, sorted and front-coded (a byte of prefix shared with the name before, the rest, a
 * zero). */
extern const uint32_t sirocco_symbol_count __attribute__((weak));
extern const uint32_t sirocco_symbol_name_count __attribute__((weak));
extern const uint16_t sirocco_symbol_entries[] __attribute__((weak));
extern const uint8_t sirocco_symbol_names[] __attribute__((weak));

/* ---- reports ---- */

void sirocco_report(const char *text) {
    size_t length = 0;
    while (text[length]) length++;
    sirocco_platform_console_write(text, length);
}

void sirocco_report_hex(uint64_t value) {
    char text[19] = "0x";
    int digits = 1;
    while (digits < 16 && (value >> (4 * digits))) digits++;
    for (int i = 0; i < digits; i++) {
        unsigned nibble = (value >> (4 * (digits - 1 - i))) & 15;
        text[2 + i] = (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
    }
    sirocco_platform_console_write(text, 2 + (size_t)digits);
}

void sirocco_report_decimal(uint64_t value) {
    char text[20];
    int used = 0;
    do {
        text[sizeof text - 1 - used++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    sirocco_platform_console_write(text + sizeof text - used, (size_t)used);
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

void sirocco_x86_init_tables(int interrupts) {
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
    for (int vector = 0; vector < 32; vector++) set_gate(vector, sirocco_x86_vectors[vector], 1);
    if (interrupts) {
        for (int vector = 32; vector < 48; vector++) set_gate(vector, sirocco_x86_vectors[vector], 2);
        set_gate(255, sirocco_x86_vectors[48], 2);
    }
    struct table_pointer idt_pointer = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idt_pointer));
}

/* ---- traps ---- */

/* Without interrupt gates (hvt) no vector above 31 arrives; virtio.c has its own. */
__attribute__((weak)) void sirocco_x86_interrupt(struct sirocco_trap_frame *frame) { (void)frame; }

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
static void report_symbol(uint64_t address) {
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
    sirocco_report(" in ");
    sirocco_report(name);
    sirocco_report(" + ");
    sirocco_report_hex(offset - base);
}

void sirocco_x86_trap(struct sirocco_trap_frame *frame) {
    if (frame->vector >= 32) {
        sirocco_x86_interrupt(frame);
        return;
    }
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    sirocco_console_flush();
    sirocco_report("sirocco: guest trap: ");
    sirocco_report(exception_names[frame->vector]);
    if (frame->vector == 14) {
        uint64_t guard = (uint64_t)(uintptr_t)sirocco_stack_guard;
        if (sirocco_stack_guard && cr2 >= guard && cr2 < guard + 4096) sirocco_report(" (stack overflow)");
        sirocco_report(" at address ");
        sirocco_report_hex(cr2);
        sirocco_report(frame->error & 16 ? " (instruction fetch" : frame->error & 2 ? " (write" : " (read");
        sirocco_report(frame->error & 1 ? ", not permitted)" : ", not mapped)");
    } else if (frame->vector == 8 || frame->vector == 10 || frame->vector == 11 || frame->vector == 12 ||
               frame->vector == 13 || frame->vector == 17 || frame->vector == 21) {
        sirocco_report(", error code ");
        sirocco_report_hex(frame->error);
    }
    sirocco_report(", vector ");
    sirocco_report_decimal(frame->vector);
    sirocco_report(", rip ");
    sirocco_report_hex(frame->rip);
    report_symbol(frame->rip);
    sirocco_report("\n");
    sirocco_platform_trap_exit(frame, cr2);
}

#endif
