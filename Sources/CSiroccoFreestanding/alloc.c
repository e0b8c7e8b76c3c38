/* The allocator (see include/sirocco_alloc.h). Every block starts with a 16-byte header:
 * its size (header included, a multiple of 16) with bit 0 set while allocated, and either
 * the size class (small blocks) or the offset back to the real block (aligned payloads). */
#include "sirocco_alloc.h"

#define HEADER 16u
#define SMALL_LIMIT 2048u
#define ALLOCATED 1u
#define LARGE_CLASS 0xffffu
#define INDIRECT 0xfffeu

struct sirocco_block {
    size_t size;                 /* with ALLOCATED in bit 0 */
    size_t tag;                  /* class index, LARGE_CLASS, or INDIRECT */
    struct sirocco_block *next;  /* free blocks only: overlaps the payload */
};

static const uint16_t class_sizes[SIROCCO_ALLOC_CLASSES] = {
    32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2048,
};

static size_t round16(size_t n) { return (n + 15u) & ~(size_t)15u; }

void sirocco_heap_init(struct sirocco_heap *heap, void *start, size_t size) {
    uintptr_t begin = ((uintptr_t)start + 15u) & ~(uintptr_t)15u;
    uintptr_t end = ((uintptr_t)start + size) & ~(uintptr_t)15u;
    heap->start = begin;
    heap->end = end > begin ? end : begin;
    heap->top = begin;
    heap->high_water = begin;
    heap->in_use = 0;
    for (int i = 0; i < SIROCCO_ALLOC_CLASSES; i++) heap->small[i] = 0;
    heap->large = 0;
}

static struct sirocco_block *bump(struct sirocco_heap *heap, size_t size) {
    if (heap->end - heap->top < size) return 0;
    struct sirocco_block *block = (struct sirocco_block *)heap->top;
    heap->top += size;
    if (heap->top > heap->high_water) heap->high_water = heap->top;
    block->size = size;
    return block;
}

static int class_of(size_t size) {
    for (int i = 0; i < SIROCCO_ALLOC_CLASSES - 1; i++)
        if (size <= class_sizes[i]) return i;
    return -1;
}

/* First fit in the address-ordered list; splits off the remainder when it is worth a block. */
static struct sirocco_block *take_large(struct sirocco_heap *heap, size_t size) {
    struct sirocco_block **link = &heap->large;
    for (struct sirocco_block *block = heap->large; block; link = &block->next, block = block->next) {
        if (block->size < size) continue;
        size_t rest = block->size - size;
        if (rest >= 64) {
            struct sirocco_block *tail = (struct sirocco_block *)((uintptr_t)block + size);
            tail->size = rest;
            tail->tag = LARGE_CLASS;
            tail->next = block->next;
            *link = tail;
            block->size = size;
        } else {
            *link = block->next;
        }
        return block;
    }
    return bump(heap, size);
}

static uintptr_t end_of(struct sirocco_block *block) { return (uintptr_t)block + block->size; }

/* Inserts a free large block by address, merging with its neighbours; a free block that
 * ends at the bump pointer goes back to it, so the heap shrinks when its top is freed. */
static void give_large(struct sirocco_heap *heap, struct sirocco_block *block) {
    block->tag = LARGE_CLASS;
    struct sirocco_block **link = &heap->large;
    struct sirocco_block *previous = 0;
    while (*link && *link < block) {
        previous = *link;
        link = &(*link)->next;
    }
    struct sirocco_block *next = *link;
    if (next && end_of(block) == (uintptr_t)next) {
        block->size += next->size;
        next = next->next;
    }
    if (previous && end_of(previous) == (uintptr_t)block) {
        previous->size += block->size;
        previous->next = next;
        block = previous;
    } else {
        block->next = next;
        *link = block;
    }
    if (end_of(block) == heap->top) {
        /* The last block of the list: unlink it and lower the bump pointer. */
        struct sirocco_block **last = &heap->large;
        while (*last != block) last = &(*last)->next;
        *last = 0;
        heap->top = (uintptr_t)block;
    }
}

void *sirocco_heap_allocate(struct sirocco_heap *heap, size_t size, size_t alignment) {
    if (alignment < 16) alignment = 16;
    if (alignment & (alignment - 1)) return 0;
    if (size > heap->end - heap->start) return 0;
    size_t need = round16(size) + HEADER;
    if (alignment > 16) need += alignment;
    struct sirocco_block *block;
    int class = need <= SMALL_LIMIT ? class_of(need) : -1;
    if (class >= 0) {
        block = heap->small[class];
        if (block) {
            heap->small[class] = block->next;
        } else {
            block = bump(heap, class_sizes[class]);
            if (!block) return 0;
        }
        block->tag = (size_t)class;
    } else {
        block = take_large(heap, round16(need));
        if (!block) return 0;
        block->tag = LARGE_CLASS;
    }
    heap->in_use += block->size;
    block->size |= ALLOCATED;
    uintptr_t payload = (uintptr_t)block + HEADER;
    if (alignment > 16) {
        uintptr_t aligned = (payload + alignment - 1) & ~(uintptr_t)(alignment - 1);
        if (aligned != payload) {
            struct sirocco_block *forward = (struct sirocco_block *)(aligned - HEADER);
            forward->size = aligned - (uintptr_t)block; /* offset back to the real header */
            forward->tag = INDIRECT;
            payload = aligned;
        }
    }
    return (void *)payload;
}

static struct sirocco_block *header_of(void *pointer) {
    struct sirocco_block *block = (struct sirocco_block *)((uintptr_t)pointer - HEADER);
    if (block->tag == INDIRECT) block = (struct sirocco_block *)((uintptr_t)block + HEADER - block->size);
    return block;
}

size_t sirocco_heap_usable_size(void *pointer) {
    struct sirocco_block *block = header_of(pointer);
    return (block->size & ~(size_t)ALLOCATED) - ((uintptr_t)pointer - (uintptr_t)block);
}

void sirocco_heap_free(struct sirocco_heap *heap, void *pointer) {
    if (!pointer) return;
    struct sirocco_block *block = header_of(pointer);
    if (!(block->size & ALLOCATED)) return; /* double free: ignore rather than corrupt */
    block->size &= ~(size_t)ALLOCATED;
    heap->in_use -= block->size;
    if (block->tag < SIROCCO_ALLOC_CLASSES) {
        block->next = heap->small[block->tag];
        heap->small[block->tag] = block;
    } else {
        give_large(heap, block);
    }
}
