/* --dump-core=DIR: what of the core dump must be C. The ELF core itself is laid out in Swift
 * (sirocco-hvt/CoreDump.swift, from the registers sirocco_hvt_state reads); here: the
 * unnamed file it is written to, the helper process that gives it a name, and mincore(2).
 *
 * Why a helper: the core is written after the seccomp filter is on, and a filter cannot
 * check a path, so allowing openat or linkat would let a subverted tender create or link
 * files anywhere. Instead the file is created unnamed (O_TMPFILE) before the filter, and a
 * process forked before the tender opens anything else keeps only the directory and that
 * file; the filter then allows the tender to write that file and the helper's two pipes,
 * nothing that names a path. If the guest does not fail, the pipe closes, the helper exits
 * and the unnamed file vanishes with the last descriptor. */

#define _GNU_SOURCE
#include "CSiroccoHVTTender.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* The helper: waits for a request, links the file, answers; exits when the pipe closes. */
static __attribute__((noreturn)) void helper(int directory, int file, int request, int reply, int pid) {
    char name[64];
    snprintf(name, sizeof name, "core.sirocco-hvt.%d", pid);
    char byte;
    ssize_t count;
    do count = read(request, &byte, 1); while (count < 0 && errno == EINTR);
    if (count != 1) _exit(0);
    int result = 0;
    if (linkat(file, "", directory, name, AT_EMPTY_PATH) < 0) {
        /* Kernels before 6.10 want CAP_DAC_READ_SEARCH for AT_EMPTY_PATH: go through /proc. */
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", file);
        if (linkat(AT_FDCWD, path, directory, name, AT_SYMLINK_FOLLOW) < 0) result = errno;
    }
    do count = write(reply, &result, sizeof result); while (count < 0 && errno == EINTR);
    _exit(0);
}

int sirocco_hvt_core_prepare(const char *directory, struct sirocco_hvt_core *core, const char **step) {
    int pid = getpid();
    *step = "cannot open the directory";
    int dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -errno;
    *step = "cannot create a file in the directory";
    int file = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (file < 0) {
        int error = errno;
        close(dir);
        return -error;
    }
    *step = "cannot start the helper that names the core";
    int requests[2] = {-1, -1}, replies[2] = {-1, -1};
    if (pipe2(requests, O_CLOEXEC) < 0) goto failed;
    if (pipe2(replies, O_CLOEXEC) < 0) goto failed;
    pid_t child = fork();
    if (child < 0) goto failed;
    if (child == 0) {
        /* Keep the directory, the file and the helper's ends; nothing else is open yet but
         * the standard descriptors. No core of the helper itself. */
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(requests[1]);
        close(replies[0]);
        helper(dir, file, requests[0], replies[1], pid);
    }
    close(dir);
    close(requests[0]);
    close(replies[1]);
    *core = (struct sirocco_hvt_core){.file = file, .request = requests[1], .reply = replies[0], .pid = pid};
    return 0;
failed: {
    int error = errno;
    for (int i = 0; i < 2; i++) {
        if (requests[i] >= 0) close(requests[i]);
        if (replies[i] >= 0) close(replies[i]);
    }
    close(file);
    close(dir);
    return -error;
}
}

int sirocco_hvt_core_link(const struct sirocco_hvt_core *core) {
    char byte = 1;
    ssize_t count;
    do count = write(core->request, &byte, 1); while (count < 0 && errno == EINTR);
    if (count != 1) return -EPIPE;
    int result;
    do count = read(core->reply, &result, sizeof result); while (count < 0 && errno == EINTR);
    if (count != sizeof result) return -EPIPE;
    return -result;
}

int sirocco_hvt_resident(void *memory, size_t size, unsigned char *pages) {
    return mincore(memory, size, pages) < 0 ? -errno : 0;
}
