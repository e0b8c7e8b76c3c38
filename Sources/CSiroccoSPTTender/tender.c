/* See include/CSiroccoSPTTender.h. */
#define _GNU_SOURCE
#include "CSiroccoSPTTender.h"

#include <elf.h>
#include <errno.h>
#include <net/if.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_SET_FS
#define ARCH_SET_FS 0x1002
#endif

/* ---- libc for Embedded Swift ---- */

static int saved_argc;
static char **saved_argv;

__attribute__((constructor)) static void capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int sirocco_spt_argument_count(void) { return saved_argc; }
const char *sirocco_spt_argument(int index) { return index < saved_argc ? saved_argv[index] : ""; }

int sirocco_spt_open(const char *path, int flags) { return open(path, flags | O_CLOEXEC); }

int sirocco_spt_errno(void) { return errno; }

/* ---- seccomp ---- */

int sirocco_spt_seccomp(const struct sirocco_spt_policy *policy) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx) return -ENOMEM;
    int rc = 0;
#define RULE(call, ...) \
    do { if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(call), __VA_ARGS__); } while (0)
    RULE(write, 1, SCMP_A0(SCMP_CMP_EQ, 1));
    RULE(exit_group, 0);
    RULE(clock_gettime, 1, SCMP_A0(SCMP_CMP_EQ, CLOCK_MONOTONIC));
    RULE(clock_gettime, 1, SCMP_A0(SCMP_CMP_EQ, CLOCK_REALTIME));
    RULE(epoll_pwait, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)policy->epoll_fd));
    RULE(timerfd_settime, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)policy->timer_fd));
    RULE(arch_prctl, 1, SCMP_A0(SCMP_CMP_EQ, ARCH_SET_FS));
    for (int i = 0; i < policy->net_count; i++) {
        RULE(read, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)policy->net_fds[i]));
        RULE(write, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)policy->net_fds[i]));
    }
    for (int i = 0; i < policy->block_count; i++) {
        /* One whole sector at a time, never past the end: offset <= capacity - size. */
        scmp_datum_t size = policy->block_sizes[i];
        scmp_datum_t last = policy->block_capacities[i] - size;
        RULE(pread64, 3, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)policy->block_fds[i]), SCMP_A2(SCMP_CMP_EQ, size),
             SCMP_A3(SCMP_CMP_LE, last));
        RULE(pwrite64, 3, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)policy->block_fds[i]), SCMP_A2(SCMP_CMP_EQ, size),
             SCMP_A3(SCMP_CMP_LE, last));
    }
#undef RULE
    if (rc == 0) rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc;
}

/* ---- traps ---- */

static const unsigned char *trap_image;
static size_t trap_image_size;
static char alternate_stack[64 * 1024];

/* Async-signal-safe output: append to a fixed buffer, write once. */
struct line {
    char text[512];
    size_t used;
};

static void put(struct line *line, const char *text) {
    while (*text && line->used < sizeof line->text - 1) line->text[line->used++] = *text++;
}

static void put_hex(struct line *line, uint64_t value) {
    char digits[19] = "0x";
    int n = 0;
    char reversed[16];
    do {
        reversed[n++] = "0123456789abcdef"[value & 15];
        value >>= 4;
    } while (value);
    for (int i = 0; i < n; i++) digits[2 + i] = reversed[n - 1 - i];
    digits[2 + n] = 0;
    put(line, digits);
}

/* Names the function containing `address` from the image's SHT_SYMTAB: a linear scan of
 * the file the tender read, with every offset checked against its size (the image is not
 * trusted, and this runs in a signal handler: no allocation). */
static void put_symbol(struct line *line, uint64_t address) {
    const unsigned char *image = trap_image;
    size_t size = trap_image_size;
    if (!image || size < sizeof(Elf64_Ehdr)) return;
    const Elf64_Ehdr *header = (const Elf64_Ehdr *)image;
    if (header->e_shentsize != sizeof(Elf64_Shdr) || header->e_shoff > size ||
        (size - header->e_shoff) / sizeof(Elf64_Shdr) < header->e_shnum)
        return;
    const Elf64_Shdr *sections = (const Elf64_Shdr *)(image + header->e_shoff);
    for (unsigned i = 0; i < header->e_shnum; i++) {
        const Elf64_Shdr *table = &sections[i];
        if (table->sh_type != SHT_SYMTAB || table->sh_entsize != sizeof(Elf64_Sym) || table->sh_link >= header->e_shnum)
            continue;
        const Elf64_Shdr *strings = &sections[table->sh_link];
        if (table->sh_offset > size || table->sh_size > size - table->sh_offset || strings->sh_offset > size ||
            strings->sh_size > size - strings->sh_offset)
            continue;
        const Elf64_Sym *symbols = (const Elf64_Sym *)(image + table->sh_offset);
        size_t count = table->sh_size / sizeof(Elf64_Sym);
        for (size_t j = 0; j < count; j++) {
            const Elf64_Sym *symbol = &symbols[j];
            if (ELF64_ST_TYPE(symbol->st_info) != STT_FUNC || address < symbol->st_value ||
                address - symbol->st_value >= (symbol->st_size ? symbol->st_size : 1) || symbol->st_name >= strings->sh_size)
                continue;
            const char *name = (const char *)(image + strings->sh_offset + symbol->st_name);
            size_t limit = strings->sh_size - symbol->st_name;
            put(line, " in ");
            size_t n = 0;
            while (n < limit && name[n] && line->used < sizeof line->text - 1) line->text[line->used++] = name[n++];
            put(line, " + ");
            put_hex(line, address - symbol->st_value);
            return;
        }
    }
}

static void on_trap(int signal, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    struct line line = {.used = 0};
    put(&line, "sirocco-spt: guest trap: ");
    switch (signal) {
    case SIGILL:
        put(&line, "illegal instruction (ud2: a Swift runtime check failed, e.g. precondition, bounds or overflow)");
        break;
    case SIGSEGV:
        put(&line, "invalid memory access at address ");
        put_hex(&line, (uint64_t)(uintptr_t)info->si_addr);
        break;
    case SIGBUS:
        put(&line, "bus error at address ");
        put_hex(&line, (uint64_t)(uintptr_t)info->si_addr);
        break;
    case SIGFPE:
        put(&line, "arithmetic exception (division by zero)");
        break;
    default:
        put(&line, "breakpoint or trap instruction");
        break;
    }
    put(&line, ", rip ");
    put_hex(&line, rip);
    put_symbol(&line, rip);
    put(&line, "\n");
    syscall(SYS_write, 1, line.text, line.used);
    syscall(SYS_exit_group, 255);
    for (;;) {}
}

int sirocco_spt_install_traps(const void *image, size_t size) {
    trap_image = image;
    trap_image_size = size;
    stack_t stack = {.ss_sp = alternate_stack, .ss_size = sizeof alternate_stack, .ss_flags = 0};
    if (sigaltstack(&stack, NULL) < 0) return -errno;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_trap;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigfillset(&action.sa_mask);
    const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (sigaction(signals[i], &action, NULL) < 0) return -errno;
    return 0;
}

/* ---- launch ---- */

void sirocco_spt_launch(uint64_t entry, uint64_t stack, uint64_t boot_info) {
    /* As Solo5's spt_launch: the boot information in RDI, RSP at the top of guest memory. */
    __asm__ volatile(
        "mov %0, %%rsp\n\t"
        "xor %%ebp, %%ebp\n\t"
        "jmp *%1\n\t"
        :
        : "r"(stack), "r"(entry), "D"(boot_info)
        : "memory");
    __builtin_unreachable();
}

/* ---- interfaces ---- */

static int interface_request(const char *name, unsigned long request, struct ifreq *ifr) {
    if (strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    memset(ifr, 0, sizeof *ifr);
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
    int rc = ioctl(fd, request, ifr) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int sirocco_spt_interface_mtu(const char *name) {
    struct ifreq ifr;
    int rc = interface_request(name, SIOCGIFMTU, &ifr);
    return rc < 0 ? rc : ifr.ifr_mtu;
}

int sirocco_spt_interface_up(const char *name) {
    struct ifreq ifr;
    int rc = interface_request(name, SIOCGIFFLAGS, &ifr);
    return rc < 0 ? rc : (ifr.ifr_flags & IFF_UP) != 0;
}

