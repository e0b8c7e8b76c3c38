/* The x86-64 machine layer the VM guests share (virtio and hvt): their own GDT, TSS and IDT,
 * the CPU exceptions reported on the console with the function they hit (from the symbol
 * table `sirocco build` adds), and the console report helpers the boot code uses too.
 * Freestanding builds only. */
#ifndef CSIROCCO_X86_H
#define CSIROCCO_X86_H

#include <stddef.h>
#include <stdint.h>

/* What x86.S saves: the general registers, then the vector, the error code and the CPU's
 * interrupt frame. */
struct sirocco_trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

/* Loads the GDT (64-bit code 0x08, data 0x10, the TSS 0x18), the TSS and the IDT: the 32
 * exceptions on IST 1, and, with `interrupts`, vectors 32-47 and 255 on IST 2, which go to
 * sirocco_x86_interrupt. */
void sirocco_x86_init_tables(int interrupts);

/* The platform's: an interrupt (vector 32 or above; it returns with the frame's interrupt
 * flag as it wants it), and the end after an exception is reported (the trap's frame and
 * CR2): it must not return. */
void sirocco_x86_interrupt(struct sirocco_trap_frame *frame);
__attribute__((noreturn)) void sirocco_platform_trap_exit(const struct sirocco_trap_frame *frame, uint64_t cr2);

/* Console text for reports, through sirocco_platform_console_write: a string, a number in
 * hex ("0x..."), in decimal. */
void sirocco_report(const char *text);
void sirocco_report_hex(uint64_t value);
void sirocco_report_decimal(uint64_t value);

#endif
