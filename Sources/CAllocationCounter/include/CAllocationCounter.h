// Counts the heap allocations of the process that links it (sirocco-benchmarks only): malloc,
// calloc, realloc, posix_memalign, aligned_alloc and memalign are defined here, count, and
// hand over to glibc's own allocator (__libc_malloc and its kin), which frees them as usual.
// The dynamic linker binds every library's calls to these definitions (glibc supports
// replacing its allocator this way), the Swift runtime's swift_slowAlloc among them.
#pragma once
#include <stdint.h>

/// Allocations made so far by this process (every thread).
uint64_t sirocco_allocations(void);
