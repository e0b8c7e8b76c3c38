/* The spt guest's start-up and C runtime: compiled only into spt images (SIROCCO_SPT is
 * defined by `sirocco build --target spt`); in a hosted build this file is empty, so its
 * memcpy and friends never meet glibc's. */
#if defined(SIROCCO_SPT)

#include "CSiroccoSPT.h"

/* struct spt_boot_info (Solo5 include/spt_abi.h). */
struct spt_boot_info {
    uint64_t mem_size;
    uint64_t kernel_end;
    const char *cmdline;
    const void *mft;
    int epollfd;
    int timerfd;
};

/* Room left for the stack at the top of guest memory; the heap ends below it. */
#define STACK_SIZE (1024u * 1024u)

static const struct spt_boot_info *boot_info;
static struct sirocco_heap heap;

const void *sirocco_spt_boot_info(void) { return boot_info; }
struct sirocco_heap *sirocco_spt_heap(void) { return &heap; }

/* ---- console: putchar is line-buffered; the Swift console writes directly ---- */

static char console_buffer[256];
static size_t console_used;

static void console_flush(void) {
    size_t done = 0;
    while (done < console_used) {
        long n = sirocco_syscall3(SIROCCO_SYS_WRITE, 1, (long)(console_buffer + done), (long)(console_used - done));
        if (n <= 0) break;
        done += (size_t)n;
    }
    console_used = 0;
}

void sirocco_spt_console_write(const void *buffer, size_t length) {
    console_flush();
    const char *bytes = buffer;
    while (length > 0) {
        long n = sirocco_syscall3(SIROCCO_SYS_WRITE, 1, (long)bytes, (long)length);
        if (n <= 0) return;
        bytes += n;
        length -= (size_t)n;
    }
}

int putchar(int c) {
    console_buffer[console_used++] = (char)c;
    if (c == '\n' || console_used == sizeof console_buffer) console_flush();
    return c;
}

void sirocco_spt_exit(int status) {
    console_flush();
    for (;;) sirocco_syscall3(SIROCCO_SYS_EXIT_GROUP, status, 0, 0);
}

/* ---- clocks and entropy ---- */

int64_t sirocco_spt_clock(int clock) {
    struct { int64_t seconds, nanoseconds; } time = {0, 0};
    sirocco_syscall3(SIROCCO_SYS_CLOCK_GETTIME, clock, (long)&time, 0);
    return time.seconds * 1000000000 + time.nanoseconds;
}

static int have_rdrand = -1;
static uint64_t fallback_state;

uint64_t sirocco_spt_random(void) {
    if (have_rdrand < 0) {
        uint32_t a, b, c, d;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
        have_rdrand = (c >> 30) & 1;
    }
    if (have_rdrand) {
        for (int tries = 0; tries < 10; tries++) {
            uint64_t value;
            unsigned char ok;
            __asm__ volatile("rdrand %0; setc %1" : "=r"(value), "=qm"(ok));
            if (ok) return value;
        }
    }
    /* SplitMix64 over the time stamp counter: unpredictable enough for hash seeds only. */
    uint32_t low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    fallback_state += 0x9e3779b97f4a7c15ull ^ (((uint64_t)high << 32) | low);
    uint64_t z = fallback_state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void arc4random_buf(void *buffer, size_t length) {
    unsigned char *bytes = buffer;
    while (length > 0) {
        uint64_t value = sirocco_spt_random();
        for (int i = 0; i < 8 && length > 0; i++, length--) {
            *bytes++ = (unsigned char)value;
            value >>= 8;
        }
    }
}

/* ---- memory ---- */

void *memcpy(void *restrict destination, const void *restrict source, size_t length) {
    void *result = destination;
    __asm__ volatile("rep movsb" : "+D"(destination), "+S"(source), "+c"(length) : : "memory");
    return result;
}

void *memmove(void *destination, const void *source, size_t length) {
    unsigned char *d = destination;
    const unsigned char *s = source;
    if (d <= s || d >= s + length) return memcpy(destination, source, length);
    d += length - 1;
    s += length - 1;
    __asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(length) : : "memory");
    return destination;
}

void *memset(void *destination, int value, size_t length) {
    void *result = destination;
    __asm__ volatile("rep stosb" : "+D"(destination), "+c"(length) : "a"(value) : "memory");
    return result;
}

int memcmp(const void *a, const void *b, size_t length) {
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < length; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *text) {
    size_t n = 0;
    while (text[n]) n++;
    return n;
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    void *pointer = sirocco_heap_allocate(&heap, size ? size : 1, alignment);
    if (!pointer) return 12; /* ENOMEM */
    *result = pointer;
    return 0;
}

void *malloc(size_t size) { return sirocco_heap_allocate(&heap, size ? size : 1, 16); }

void *calloc(size_t count, size_t size) {
    if (size && count > (size_t)-1 / size) return 0;
    void *pointer = malloc(count * size);
    if (pointer) memset(pointer, 0, count * size);
    return pointer;
}

void *realloc(void *old, size_t size) {
    if (!old) return malloc(size);
    size_t usable = sirocco_heap_usable_size(old);
    if (size <= usable) return old;
    void *pointer = malloc(size);
    if (pointer) {
        memcpy(pointer, old, usable);
        sirocco_heap_free(&heap, old);
    }
    return pointer;
}

void free(void *pointer) { sirocco_heap_free(&heap, pointer); }

size_t malloc_usable_size(void *pointer) { return pointer ? sirocco_heap_usable_size(pointer) : 0; }

/* ---- libm: only what the standard library's Dictionary/Set use ---- */

double ceil(double x) {
    if (!(x > -4503599627370496.0 && x < 4503599627370496.0)) return x; /* NaN, inf, already whole */
    long long whole = (long long)x;
    double result = (double)whole;
    return result < x ? result + 1.0 : result;
}

double floor(double x) {
    if (!(x > -4503599627370496.0 && x < 4503599627370496.0)) return x;
    long long whole = (long long)x;
    double result = (double)whole;
    return result > x ? result - 1.0 : result;
}

__attribute__((noreturn)) void abort(void) {
    static const char message[] = "sirocco: abort() called\n";
    sirocco_spt_console_write(message, sizeof message - 1);
    sirocco_spt_exit(255);
}

/* ---- entry ---- */

extern int main(int argc, char **argv);
extern char _end[]; /* the end of .bss, from the linker script */

/* The tender jumps here with the boot information as the first argument and the stack at
 * the top of guest memory (Solo5 tenders/spt/spt_launch_x86_64.S). */
__attribute__((noreturn, used)) void _start(const struct spt_boot_info *info) {
    boot_info = info;
    /* Solo5's tender counts only segments with file contents in kernel_end, so .bss may
     * lie above it: the heap starts past both. */
    uintptr_t heap_start = (uintptr_t)info->kernel_end;
    if ((uintptr_t)_end > heap_start) heap_start = (uintptr_t)_end;
    uintptr_t heap_end = (uintptr_t)info->mem_size - STACK_SIZE;
    sirocco_heap_init(&heap, (void *)heap_start, heap_end > heap_start ? heap_end - heap_start : 0);
    sirocco_spt_exit(main(0, 0));
}

#endif
