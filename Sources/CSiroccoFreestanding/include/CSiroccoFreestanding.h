/* The C layer every freestanding Sirocco guest shares (spt, virtio): the allocator, the C
 * symbols Embedded Swift needs (memcpy, posix_memalign, putchar, arc4random_buf, ceil...),
 * a buffered console for putchar, and entropy. Each platform's C file supplies the two hooks
 * below, sets up the heap, and calls main. */
#ifndef CSIROCCO_FREESTANDING_H
#define CSIROCCO_FREESTANDING_H

#include <stddef.h>
#include <stdint.h>

#include "sirocco_alloc.h"

/* ---- what the platform provides ---- */

/* Writes all of `buffer` to the console. */
void sirocco_platform_console_write(const void *buffer, size_t length);

/* Ends the guest with `status` (the console already flushed). */
__attribute__((noreturn)) void sirocco_platform_exit(int status);

/* ---- what this layer provides ---- */

/* The guest heap, which the platform initialises before main runs. */
struct sirocco_heap *sirocco_guest_heap(void);

/* Writes out what putchar has buffered. */
void sirocco_console_flush(void);

/* Flushes the console, then ends the guest with `status`. */
__attribute__((noreturn)) void sirocco_exit(int status);

/* 64 random bits: RDRAND where the CPU has it, else SplitMix64 over the time stamp counter
 * (unpredictable enough for hash seeds only; documented per target). */
uint64_t sirocco_freestanding_random(void);

/* Whether sirocco_freestanding_random draws from RDRAND. */
int sirocco_freestanding_random_is_hardware(void);

#endif
