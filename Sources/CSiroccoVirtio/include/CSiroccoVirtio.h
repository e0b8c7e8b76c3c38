/* The virtio target's C layer: what runs between the PVH entry (boot.S) and Swift, and what
 * Swift needs from the machine: the serial console, clocks, the idle wait, port and memory
 * I/O for the drivers, interrupt bookkeeping and the exit. The allocator and the C symbols
 * Embedded Swift needs are CSiroccoFreestanding's. */
#ifndef CSIROCCO_VIRTIO_H
#define CSIROCCO_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include "CSiroccoFreestanding.h"

/* The command line from the PVH start info (copied at boot; "" if there was none). */
const char *sirocco_virtio_command_line(void);

/* Writes all of `buffer` to the serial console (COM1), after what putchar buffered. */
void sirocco_virtio_console_write(const void *buffer, size_t length);

/* Nanoseconds since boot (the TSC, scaled by the frequency found at boot). */
int64_t sirocco_virtio_monotonic(void);

/* Nanoseconds since the Unix epoch: the CMOS clock read at boot plus the monotonic time
 * since (0 plus the monotonic time if the machine has no CMOS clock). */
int64_t sirocco_virtio_wall(void);

/* Halts the CPU until an interrupt: a device's, or the timer's at `deadline` (monotonic
 * nanoseconds; negative for none). Returns at once if the deadline has passed. */
void sirocco_virtio_wait(int64_t deadline);

/* How the boot went, for logs and `--help`-free diagnostics. */
struct sirocco_virtio_boot {
    uint64_t tsc_hz;          /* time stamp counter frequency */
    uint32_t lapic_hz;        /* local APIC timer frequency (divide by 1) */
    uint32_t calibrated;      /* 1: against the PIT; 2: from CPUID; 0: guessed */
    uint64_t heap_start, heap_end;
    uint64_t memory_end;      /* end of the RAM region the image lies in */
};
const struct sirocco_virtio_boot *sirocco_virtio_boot_info(void);

/* What the CPU has waited for since boot: each a VM exit or an interrupt the VMM injected
 * (`--log-level=debug` prints them at exit; BENCHMARKS.md divides frames by them). */
struct sirocco_virtio_events {
    uint64_t halts;             /* waits that halted the CPU */
    uint64_t device_interrupts; /* on SIROCCO_VIRTIO_DEVICE_VECTOR */
    uint64_t timer_interrupts;  /* the local APIC timer's, at a wait's deadline */
};
const struct sirocco_virtio_events *sirocco_virtio_events(void);

/* The local APIC vector every device interrupt arrives on (I/O APIC pins and MSI-X). */
#define SIROCCO_VIRTIO_DEVICE_VECTOR 33

/* Routes the IOAPIC pin `gsi` (level-triggered, active high, as virtio-mmio's) to the CPU;
 * returns 0 when done, -1 if the pin does not exist. */
int sirocco_virtio_route_irq(uint32_t gsi);
/* Masks (or unmasks) routed pin `gsi`: a block device's line is heard only while its driver
 * waits for a request, so that a line left up never wakes the idle loop. */
void sirocco_virtio_mask_irq(uint32_t gsi, int masked);

/* ---- port and memory-mapped I/O ---- */

static inline void sirocco_outb(uint16_t port, uint8_t value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline void sirocco_outw(uint16_t port, uint16_t value) { __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port)); }
static inline void sirocco_outl(uint16_t port, uint32_t value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }
static inline uint8_t sirocco_inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
static inline uint16_t sirocco_inw(uint16_t port) {
    uint16_t value;
    __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
static inline uint32_t sirocco_inl(uint16_t port) {
    uint32_t value;
    __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
static inline uint32_t sirocco_mmio_read32(uint64_t address) { return *(volatile uint32_t *)(uintptr_t)address; }
static inline void sirocco_mmio_write32(uint64_t address, uint32_t value) { *(volatile uint32_t *)(uintptr_t)address = value; }
static inline uint16_t sirocco_mmio_read16(uint64_t address) { return *(volatile uint16_t *)(uintptr_t)address; }
static inline void sirocco_mmio_write16(uint64_t address, uint16_t value) { *(volatile uint16_t *)(uintptr_t)address = value; }
static inline uint8_t sirocco_mmio_read8(uint64_t address) { return *(volatile uint8_t *)(uintptr_t)address; }
static inline void sirocco_mmio_write8(uint64_t address, uint8_t value) { *(volatile uint8_t *)(uintptr_t)address = value; }
/* A full barrier between the driver's writes to shared memory and the device seeing them. */
static inline void sirocco_memory_barrier(void) { __asm__ volatile("mfence" : : : "memory"); }

#endif
