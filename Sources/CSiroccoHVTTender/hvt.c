/* See include/CSiroccoHVTTender.h. Read first: Solo5 v0.12 tenders/hvt/hvt_kvm.c and
 * hvt_kvm_x86_64.c (what a Solo5 hvt guest expects to find), and the KVM API
 * (Documentation/virt/kvm/api.rst). */
#define _GNU_SOURCE
#include "CSiroccoHVTTender.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define HYPERCALL_BASE 0x500
#define HYPERCALL_COUNT 9

static int fail(struct sirocco_hvt_failure *failure, const char *step, int error) {
    failure->step = step;
    failure->error = error;
    return -error;
}

int sirocco_hvt_create(struct sirocco_hvt *vm, void *memory, uint64_t size, struct sirocco_hvt_failure *failure) {
    memset(vm, 0, sizeof *vm);
    vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) return fail(failure, "open /dev/kvm", errno);
    int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) return fail(failure, "KVM API version 12", version < 0 ? errno : EINVAL);
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0) return fail(failure, "KVM_CAP_USER_MEMORY", ENOSYS);
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GET_TSC_KHZ) <= 0) return fail(failure, "KVM_CAP_GET_TSC_KHZ", ENOSYS);
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) return fail(failure, "KVM_CREATE_VM", errno);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)memory,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) return fail(failure, "KVM_SET_USER_MEMORY_REGION", errno);
    vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
    if (vm->vcpu_fd < 0) return fail(failure, "KVM_CREATE_VCPU", errno);
    int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run)) return fail(failure, "KVM_GET_VCPU_MMAP_SIZE", run_size < 0 ? errno : EINVAL);
    vm->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
    if (vm->run == MAP_FAILED) return fail(failure, "mmap kvm_run", errno);
    vm->run_size = (size_t)run_size;

    /* The CPUID the host's KVM supports, as the guest's (Solo5 takes 100 entries). */
    enum { ENTRIES = 100 };
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + ENTRIES * sizeof(struct kvm_cpuid_entry2));
    if (!cpuid) return fail(failure, "CPUID table", ENOMEM);
    cpuid->nent = ENTRIES;
    int status = ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
    if (status == 0) status = ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid);
    int error = errno;
    free(cpuid);
    if (status < 0) return fail(failure, "KVM_SET_CPUID2", error);

    int khz = ioctl(vm->vcpu_fd, KVM_GET_TSC_KHZ, 0);
    if (khz <= 0) return fail(failure, khz < 0 && errno == EIO ? "KVM_GET_TSC_KHZ (the host TSC is unstable)" : "KVM_GET_TSC_KHZ",
                              khz < 0 ? errno : EINVAL);
    vm->tsc_hz = (uint64_t)khz * 1000;
    return 0;
}

int sirocco_hvt_set_registers(struct sirocco_hvt *vm, uint64_t entry, uint64_t stack, uint64_t boot_info) {
    struct kvm_sregs sregs;
    if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) return -errno;
    sregs.cr0 = 0x80010021;  /* PE | NE | WP | PG */
    sregs.cr3 = 0x2000;
    sregs.cr4 = 0x620;       /* PAE | OSFXSR | OSXMMEXCPT */
    sregs.efer = 0x500;      /* LME | LMA */
    struct kvm_segment code = {
        .base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 9, .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
    };
    struct kvm_segment data = {
        .base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 3, .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
    };
    struct kvm_segment task = { .base = 0, .limit = 0, .selector = 0, .type = 11, .present = 1 };
    sregs.cs = code;
    sregs.ss = sregs.ds = sregs.es = sregs.fs = sregs.gs = data;
    sregs.tr = task;
    memset(&sregs.ldt, 0, sizeof sregs.ldt);
    sregs.ldt.unusable = 1;
    sregs.gdt.base = 0x1000;
    sregs.gdt.limit = 23;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.apic_base = 0;
    if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0) return -errno;
    struct kvm_regs regs = { .rip = entry, .rflags = 0x2, .rsp = stack, .rdi = boot_info };
    if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) return -errno;
    return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int number) { stop_signal = number; }

int sirocco_hvt_catch_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;  /* no SA_RESTART: KVM_RUN returns EINTR */
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGINT, &action, NULL) < 0 || sigaction(SIGTERM, &action, NULL) < 0) return -errno;
    return 0;
}

int sirocco_hvt_signal(void) { return stop_signal; }

int sirocco_hvt_run(struct sirocco_hvt *vm, struct sirocco_hvt_exit *exit) {
    struct kvm_run *run = vm->run;
    memset(exit, 0, sizeof *exit);
    for (;;) {
        if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR) {
                if (stop_signal) {
                    exit->kind = SIROCCO_HVT_EXIT_SIGNAL;
                    return 0;
                }
                continue;
            }
            if (errno == EFAULT) {
                exit->kind = SIROCCO_HVT_EXIT_FAULT;
                struct kvm_regs regs;
                if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) == 0) exit->rip = regs.rip;
                return 0;
            }
            return -errno;
        }
        struct kvm_regs regs;
        if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) == 0) exit->rip = regs.rip;
        exit->reason = run->exit_reason;
        if (run->exit_reason == KVM_EXIT_IO) {
            exit->port = run->io.port;
            exit->size = run->io.size;
            exit->out = run->io.direction == KVM_EXIT_IO_OUT;
            if (exit->out && exit->size == 4 && exit->port >= HYPERCALL_BASE && exit->port < HYPERCALL_BASE + HYPERCALL_COUNT) {
                exit->kind = SIROCCO_HVT_EXIT_HYPERCALL;
                memcpy(&exit->value, (uint8_t *)run + run->io.data_offset, 4);
            } else {
                exit->kind = SIROCCO_HVT_EXIT_PORT;
            }
            return 0;
        }
        exit->kind = SIROCCO_HVT_EXIT_OTHER;
        if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) exit->suberror = run->internal.suberror;
        if (run->exit_reason == KVM_EXIT_FAIL_ENTRY) exit->suberror = (uint32_t)run->fail_entry.hardware_entry_failure_reason;
        return 0;
    }
}

int sirocco_hvt_state(struct sirocco_hvt *vm, struct sirocco_hvt_state *state) {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0 || ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) return -errno;
    *state = (struct sirocco_hvt_state){
        .rip = regs.rip, .rsp = regs.rsp, .rflags = regs.rflags, .rax = regs.rax, .rbx = regs.rbx, .rcx = regs.rcx,
        .rdx = regs.rdx, .rsi = regs.rsi, .rdi = regs.rdi, .rbp = regs.rbp,
        .r8 = regs.r8, .r9 = regs.r9, .r10 = regs.r10, .r11 = regs.r11, .r12 = regs.r12, .r13 = regs.r13,
        .r14 = regs.r14, .r15 = regs.r15,
        .cs = sregs.cs.selector, .ss = sregs.ss.selector, .ds = sregs.ds.selector, .es = sregs.es.selector,
        .fs = sregs.fs.selector, .gs = sregs.gs.selector, .fs_base = sregs.fs.base, .gs_base = sregs.gs.base,
        .cr0 = sregs.cr0, .cr2 = sregs.cr2, .cr3 = sregs.cr3, .cr4 = sregs.cr4, .efer = sregs.efer,
    };
    return 0;
}

int sirocco_hvt_poll(int epoll_fd, int timer_fd, uint64_t timer_tag, uint64_t timeout_ns, uint64_t *ready) {
    struct itimerspec when = {
        .it_interval = { 0, 0 },
        .it_value = { (time_t)(timeout_ns / 1000000000ull), (long)((timeout_ns % 1000000000ull) | 1) },
    };
    if (timerfd_settime(timer_fd, 0, &when, NULL) < 0) return -errno;
    struct epoll_event events[64];
    int count;
    do {
        count = epoll_pwait(epoll_fd, events, 64, -1, NULL);
    } while (count < 0 && errno == EINTR && !stop_signal);
    if (count < 0) return -errno;
    int devices = 0;
    uint64_t set = 0;
    for (int i = 0; i < count; i++) {
        uint64_t tag = events[i].data.u64;
        if (tag == timer_tag) continue;
        if (tag < 64) set |= 1ull << tag;
        devices++;
    }
    *ready = set;
    return devices;
}

void sirocco_hvt_requests(uint64_t requests[3]) {
    requests[0] = KVM_RUN;
    requests[1] = KVM_GET_REGS;
    requests[2] = KVM_GET_SREGS;
}
