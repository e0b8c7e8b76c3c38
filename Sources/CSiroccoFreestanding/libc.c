/* The C symbols a freestanding Embedded Swift image needs, for every freestanding target
 * (compiled when SIROCCO_FREESTANDING is defined, as `sirocco build` does for spt and
 * virtio). A hosted build gets only the entropy functions and stubs that trap, so that its
 * memcpy and friends never meet glibc's while hosted tests can still link the Swift modules
 * above this one. See include/CSiroccoFreestanding.h. */
#include "CSiroccoFreestanding.h"

/* ---- entropy ---- */

static int have_rdrand = -1;
static uint64_t fallback_state;

int sirocco_freestanding_random_is_hardware(void) {
    if (have_rdrand < 0) {
        uint32_t a, b, c, d;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
        have_rdrand = (c >> 30) & 1;
    }
    return have_rdrand;
}

uint64_t sirocco_freestanding_random(void) {
    if (sirocco_freestanding_random_is_hardware()) {
        for (int tries = 0; tries < 10; tries++) {
            uint64_t value;
            unsigned char ok;
            __asm__ volatile("rdrand %0; setc %1" : "=r"(value), "=qm"(ok));
            if (ok) return value;
        }
    }
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
        uint64_t value = sirocco_freestanding_random();
        for (int i = 0; i < 8 && length > 0; i++, length--) {
            *bytes++ = (unsigned char)value;
            value >>= 8;
        }
    }
}

#if defined(SIROCCO_FREESTANDING)

static struct sirocco_heap heap;

struct sirocco_heap *sirocco_guest_heap(void) { return &heap; }

/* ---- console: putchar is line-buffered; Swift's console writes go straight through ---- */

static char console_buffer[256];
static size_t console_used;

void sirocco_console_flush(void) {
    if (console_used == 0) return;
    sirocco_platform_console_write(console_buffer, console_used);
    console_used = 0;
}

int putchar(int c) {
    console_buffer[console_used++] = (char)c;
    if (c == '\n' || console_used == sizeof console_buffer) sirocco_console_flush();
    return c;
}

void sirocco_exit(int status) {
    sirocco_console_flush();
    sirocco_platform_exit(status);
}

__attribute__((noreturn)) void abort(void) {
    static const char message[] = "sirocco: abort() called\n";
    sirocco_console_flush();
    sirocco_platform_console_write(message, sizeof message - 1);
    sirocco_platform_exit(255);
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

#else

void sirocco_console_flush(void) {}
void sirocco_exit(int status) { (void)status; __builtin_trap(); }
struct sirocco_heap *sirocco_guest_heap(void) { return 0; }

#endif
