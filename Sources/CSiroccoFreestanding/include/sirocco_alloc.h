/* A general-purpose allocator over one contiguous region: segregated free lists for small
 * blocks, an address-ordered, coalescing free list for large ones, and a bump pointer for
 * fresh memory that shrinks back when the last block is freed. Memory is reused after free,
 * so a steady allocate/free load stays within a bounded high-water mark. Single-threaded. */
#ifndef SIROCCO_ALLOC_H
#define SIROCCO_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define SIROCCO_ALLOC_CLASSES 24

struct sirocco_block;

struct sirocco_heap {
    uintptr_t start;          /* first usable byte (16-aligned) */
    uintptr_t end;            /* one past the last usable byte */
    uintptr_t top;            /* the bump pointer: [start, top) has been handed out */
    uintptr_t high_water;     /* the highest `top` ever reached */
    size_t in_use;            /* bytes in allocated blocks, headers included */
    struct sirocco_block *small[SIROCCO_ALLOC_CLASSES];
    struct sirocco_block *large; /* free large blocks, by address */
};

void sirocco_heap_init(struct sirocco_heap *heap, void *start, size_t size);

/* Returns a block of at least `size` bytes aligned to `alignment` (a power of two), or NULL. */
void *sirocco_heap_allocate(struct sirocco_heap *heap, size_t size, size_t alignment);

/* Returns the block `pointer` came from to the heap; NULL is ignored. */
void sirocco_heap_free(struct sirocco_heap *heap, void *pointer);

/* The usable size of an allocated block. */
size_t sirocco_heap_usable_size(void *pointer);

#endif
