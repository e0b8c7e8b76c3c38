/* The spt guest's C layer: raw Linux system calls (the only way out of an spt guest), the
 * boot information the tender left, the console and clocks. The allocator and the C
 * symbols Embedded Swift needs are CSiroccoFreestanding's. */
#ifndef CSIROCCO_SPT_H
#define CSIROCCO_SPT_H

#include <stddef.h>
#include <stdint.h>

#include "CSiroccoFreestanding.h"
#include "CSiroccoLinux.h" /* sirocco_syscall3, sirocco_syscall6 */

/* Linux x86-64 system call numbers the spt tender allows (Solo5 spt ABI v2). */
enum {
    SIROCCO_SYS_READ = 0,
    SIROCCO_SYS_WRITE = 1,
    SIROCCO_SYS_PREAD64 = 17,
    SIROCCO_SYS_PWRITE64 = 18,
    SIROCCO_SYS_CLOCK_GETTIME = 228,
    SIROCCO_SYS_EXIT_GROUP = 231,
    SIROCCO_SYS_EPOLL_PWAIT = 281,
    SIROCCO_SYS_TIMERFD_SETTIME = 286,
};

/* The boot information the tender wrote (struct spt_boot_info, see SiroccoABI). */
const void *sirocco_spt_boot_info(void);

/* Writes all of `buffer` to the console (fd 1). */
void sirocco_spt_console_write(const void *buffer, size_t length);

/* What sirocco-spt allows beyond Solo5's ABI (SiroccoNote.Capabilities; 0 under solo5-spt). */
uint32_t sirocco_spt_tender_capabilities(void);

/* Writes an error line: to fd 2 where the tender allows it, else to the console. */
void sirocco_spt_error_write(const void *buffer, size_t length);

/* Monotonic or wall-clock time in nanoseconds (clock_gettime: 1 CLOCK_MONOTONIC, 0 REALTIME). */
int64_t sirocco_spt_clock(int clock);


#endif
