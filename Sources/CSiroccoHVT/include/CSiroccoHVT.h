/* The hvt guest's C layer: the hypercalls (a 32-bit OUT of the argument's address to port
 * 0x500 + number: the only way out of an hvt guest), the boot information the tender left,
 * the console and clocks. The allocator and the C symbols Embedded Swift needs are
 * CSiroccoFreestanding's. */
#ifndef CSIROCCO_HVT_H
#define CSIROCCO_HVT_H

#include <stddef.h>
#include <stdint.h>

#include "CSiroccoFreestanding.h"

/* The boot information the tender wrote (struct hvt_boot_info; SiroccoABI's HVT.BootInfo). */
const void *sirocco_hvt_boot_info(void);

/* Writes all of `buffer` to the console (the PUTS hypercall). */
void sirocco_hvt_console_write(const void *buffer, size_t length);

/* Nanoseconds since boot (the TSC at the frequency the tender measured) and since the
 * epoch (the WALLTIME hypercall at boot plus the monotonic time since). */
int64_t sirocco_hvt_monotonic(void);
int64_t sirocco_hvt_wall(void);

/* The POLL hypercall: waits until a network device is readable or `timeout_ns` passes;
 * returns the number ready and sets bit `handle` of `ready` for each. */
int sirocco_hvt_poll(uint64_t timeout_ns, uint64_t *ready);

/* BLOCK_READ and BLOCK_WRITE of `length` bytes at byte `offset`; a solo5_result_t (0 OK). */
int sirocco_hvt_block_read(uint64_t handle, uint64_t offset, void *data, size_t length);
int sirocco_hvt_block_write(uint64_t handle, uint64_t offset, const void *data, size_t length);

/* NET_READ (the frame's length in *length; 1 AGAIN when none waits) and NET_WRITE. */
int sirocco_hvt_net_read(uint64_t handle, void *data, size_t *length);
int sirocco_hvt_net_write(uint64_t handle, const void *data, size_t length);

#endif
