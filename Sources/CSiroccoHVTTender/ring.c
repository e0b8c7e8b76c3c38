/* The net ring's kernel plumbing: the kick eventfd registered with KVM, the wait on it, and
 * the thread that serves the ring (its loop is Swift: sirocco-hvt/Ring.swift). */

#define _GNU_SOURCE
#include "CSiroccoHVTTender.h"

#include <errno.h>
#include <linux/kvm.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

int sirocco_hvt_ring_kick_create(struct sirocco_hvt *vm) {
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0) return -ENOTSUP;
    int fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0) return -errno;
    struct kvm_ioeventfd kick = {.addr = 0x600, .len = 4, .fd = fd, .flags = KVM_IOEVENTFD_FLAG_PIO};
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &kick) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int sirocco_hvt_ring_wait(int eventfd) {
    uint64_t count;
    ssize_t got;
    do got = read(eventfd, &count, sizeof count); while (got < 0 && errno == EINTR);
    return got == sizeof count ? 0 : got < 0 ? -errno : -EIO;
}

/* The thread's start-up calls (glibc's rseq and robust-list registration) must be made
 * before the seccomp filter, which forbids them, reaches it: the starter waits until the
 * thread runs its body. */
struct start {
    void *(*body)(void *);
    void *context;
    sem_t started;
};

static void *begin(void *argument) {
    struct start *start = argument;
    void *(*body)(void *) = start->body;
    void *context = start->context;
    sem_post(&start->started);
    return body(context);
}

int sirocco_hvt_thread_start(void *(*body)(void *), void *context) {
    /* One heap for both threads: a second thread's first malloc would otherwise make an
     * arena of its own with mprotect, which the filter forbids. */
    mallopt(M_ARENA_MAX, 1);
    struct start start = {.body = body, .context = context};
    if (sem_init(&start.started, 0, 0) < 0) return -errno;
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    int error = pthread_create(&thread, &attributes, begin, &start);
    pthread_attr_destroy(&attributes);
    if (error == 0) {
        while (sem_wait(&start.started) < 0 && errno == EINTR) {}
    }
    sem_destroy(&start.started);
    return -error;
}
