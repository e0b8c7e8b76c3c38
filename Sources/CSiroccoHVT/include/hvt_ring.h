/* The guest's side of the hvt net ring (Solo5 v0.11+; ../shared/reference/solo5-abi.md
 * 5.10), used when the tender offers it (boot information: host_features bit 0, net_ring its
 * address): frames are queued as ring entries instead of NET_WRITE and NET_READ hypercalls,
 * and a 32-bit OUT to port 0x600 wakes the tender's ring thread only when it said it sleeps.
 *
 * - write: fire-and-forget. The frame is copied into the slot's own 2,048-byte buffer (the
 *   caller's buffer is free again at once), the entry filled, the tail published. Larger
 *   frames: the caller uses NET_WRITE.
 * - read: synchronous. The entry names the caller's buffer; the guest waits for the commit.
 *
 * Header-only, so that the integer-only test guest (Tests/Guests/hvt-probe) runs this very
 * code under this machine's emulating KVM, where a Sirocco guest cannot run. Needs memcpy
 * (__builtin_memcpy calls it). */
#ifndef SIROCCO_HVT_RING_H
#define SIROCCO_HVT_RING_H

#include <stddef.h>
#include <stdint.h>

#define SIROCCO_HVT_RING_SLOTS 1024u
#define SIROCCO_HVT_RING_BUFFER 2048u
#define SIROCCO_HVT_RING_KICK_PORT 0x600

struct sirocco_hvt_ring_entry {
    uint32_t operation; /* 1 write, 2 read */
    uint32_t handle;
    uint64_t data;
    uint32_t length;
    uint32_t id;
    uint64_t reserved;
};

struct sirocco_hvt_ring_commit {
    uint32_t id;
    int32_t result; /* solo5_result_t */
    uint32_t length;
    uint32_t reserved;
};

struct sirocco_hvt_ring {
    uint32_t entry_tail;  /* the guest's */
    uint32_t commit_head; /* the guest's */
    uint8_t guest_padding[56];
    uint32_t entry_head;  /* the tender's */
    uint32_t commit_tail; /* the tender's */
    uint32_t needs_kick;  /* the tender's: set while its thread sleeps */
    uint8_t host_padding[52];
    struct sirocco_hvt_ring_entry entries[SIROCCO_HVT_RING_SLOTS];
    struct sirocco_hvt_ring_commit commits[SIROCCO_HVT_RING_SLOTS];
};
_Static_assert(sizeof(struct sirocco_hvt_ring) == 49280, "struct hvt_ring is 49,280 bytes");

/* The guest's state: the ring, a buffer per slot for writes, the next request id. */
struct sirocco_hvt_ring_guest {
    struct sirocco_hvt_ring *ring;
    uint8_t (*buffers)[SIROCCO_HVT_RING_BUFFER];
    uint32_t next_id;
};

static inline uint32_t sirocco_hvt_ring_load(const uint32_t *index) { return __atomic_load_n(index, __ATOMIC_ACQUIRE); }

/* Waits while every slot but one is taken (the tender consumes in order). */
static inline struct sirocco_hvt_ring_entry *sirocco_hvt_ring_slot(struct sirocco_hvt_ring *ring) {
    while (ring->entry_tail - sirocco_hvt_ring_load(&ring->entry_head) >= SIROCCO_HVT_RING_SLOTS - 1)
        __asm__ volatile("pause" ::: "memory");
    return &ring->entries[ring->entry_tail & (SIROCCO_HVT_RING_SLOTS - 1)];
}

/* Publishes the filled entry; kicks if the tender's thread sleeps. The full fence orders the
 * tail's store before the load of needs_kick (the tender fences the other way round), so a
 * sleeping thread is never missed. */
static inline void sirocco_hvt_ring_submit(struct sirocco_hvt_ring *ring) {
    __atomic_store_n(&ring->entry_tail, ring->entry_tail + 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (sirocco_hvt_ring_load(&ring->needs_kick))
        __asm__ volatile("outl %0, %1" : : "a"((uint32_t)0), "d"((uint16_t)SIROCCO_HVT_RING_KICK_PORT) : "memory");
}

/* Queues a frame for the device `handle`: 0, or -1 when it is larger than a slot's buffer
 * (the caller then uses NET_WRITE). */
static inline int sirocco_hvt_ring_write(struct sirocco_hvt_ring_guest *guest, uint64_t handle, const void *data, size_t length) {
    if (length > SIROCCO_HVT_RING_BUFFER) return -1;
    struct sirocco_hvt_ring_entry *entry = sirocco_hvt_ring_slot(guest->ring);
    uint8_t *buffer = guest->buffers[guest->ring->entry_tail & (SIROCCO_HVT_RING_SLOTS - 1)];
    __builtin_memcpy(buffer, data, length);
    entry->operation = 1;
    entry->handle = (uint32_t)handle;
    entry->data = (uint64_t)(uintptr_t)buffer;
    entry->length = (uint32_t)length;
    entry->id = guest->next_id++;
    sirocco_hvt_ring_submit(guest->ring);
    return 0;
}

/* Reads a frame for the device `handle` into `data` (at most *length bytes) and waits for
 * the tender's answer: SOLO5_R_OK with *length set, SOLO5_R_AGAIN, or SOLO5_R_EINVAL. */
static inline int sirocco_hvt_ring_read(struct sirocco_hvt_ring_guest *guest, uint64_t handle, void *data, size_t *length) {
    struct sirocco_hvt_ring *ring = guest->ring;
    struct sirocco_hvt_ring_entry *entry = sirocco_hvt_ring_slot(ring);
    entry->operation = 2;
    entry->handle = (uint32_t)handle;
    entry->data = (uint64_t)(uintptr_t)data;
    entry->length = (uint32_t)*length;
    entry->id = guest->next_id++;
    sirocco_hvt_ring_submit(ring);
    while (ring->commit_head == sirocco_hvt_ring_load(&ring->commit_tail)) __asm__ volatile("pause" ::: "memory");
    const struct sirocco_hvt_ring_commit *commit = &ring->commits[ring->commit_head & (SIROCCO_HVT_RING_SLOTS - 1)];
    int result = commit->result;
    if (result == 0) *length = commit->length;
    __atomic_store_n(&ring->commit_head, ring->commit_head + 1, __ATOMIC_RELEASE);
    return result;
}

#endif
