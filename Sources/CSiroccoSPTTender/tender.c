/* See include/CSiroccoSPTTender.h. */
#define _GNU_SOURCE
#include "CSiroccoSPTTender.h"

#include <elf.h>
#include <errno.h>
#include <net/if.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
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

/* ---- seccomp ----
 *
 * The filter is assembled here as classic BPF, one block per rule, instead of through
 * libseccomp, whose rule database costs the tender some 100 µs at every start. Each block
 * tests the system call number, then each argument condition on the full 64 bits (low and
 * high word; the low word alone for an int), and returns ALLOW; any failed test jumps past the block to the next rule.
 * After the last rule the process is killed. Before any rule: the architecture must be
 * x86-64 and the number below the x32 range. */

enum { MAX_FILTER = 4096 };

struct filter {
    struct sock_filter code[MAX_FILTER];
    unsigned length;
    unsigned block;     /* where the current rule's block starts */
    int overflow;
};

enum { FAIL = 0xff }; /* a jump to the end of the current block, patched in rule_end */

static void emit(struct filter *f, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
    if (f->length >= MAX_FILTER) {
        f->overflow = 1;
        return;
    }
    f->code[f->length++] = (struct sock_filter){code, jt, jf, k};
}

static void load(struct filter *f, uint32_t offset) { emit(f, BPF_LD | BPF_W | BPF_ABS, offset, 0, 0); }

static void rule_begin(struct filter *f, int number) {
    f->block = f->length;
    load(f, offsetof(struct seccomp_data, nr));
    emit(f, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)number, 0, FAIL);
}

/* Argument `index` equals `value`: all 64 bits, or the low 32 of an int argument (whose
 * high bits C callers may leave as they were: glibc passes an int in a 32-bit register). */
static void rule_equal(struct filter *f, int index, uint64_t value, int is_int) {
    if (!is_int) {
        load(f, offsetof(struct seccomp_data, args[index]) + 4);
        emit(f, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(value >> 32), 0, FAIL);
    }
    load(f, offsetof(struct seccomp_data, args[index]));
    emit(f, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)value, 0, FAIL);
}

/* Argument `index` is at most `value`, unsigned, all 64 bits (a negative offset fails). */
static void rule_at_most(struct filter *f, int index, uint64_t value) {
    load(f, offsetof(struct seccomp_data, args[index]) + 4);
    emit(f, BPF_JMP | BPF_JGT | BPF_K, (uint32_t)(value >> 32), FAIL, 0);
    emit(f, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(value >> 32), 0, 2); /* high word below: holds */
    load(f, offsetof(struct seccomp_data, args[index]));
    emit(f, BPF_JMP | BPF_JGT | BPF_K, (uint32_t)value, FAIL, 0);
}

/* ALLOW, then every FAIL in the block becomes a jump to just past it. */
static void rule_end(struct filter *f) {
    emit(f, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    if (f->overflow) return;
    for (unsigned pc = f->block; pc < f->length; pc++) {
        struct sock_filter *instruction = &f->code[pc];
        if (BPF_CLASS(instruction->code) != BPF_JMP) continue;
        unsigned past = f->length - (pc + 1);
        if (instruction->jt == FAIL) instruction->jt = (uint8_t)past;
        if (instruction->jf == FAIL) instruction->jf = (uint8_t)past;
    }
}

int sirocco_seccomp_filter(const struct sirocco_seccomp_rule *rules, int count, struct sock_filter *code, unsigned capacity) {
    static struct filter f;
    f.length = 0;
    f.overflow = 0;
    load(&f, offsetof(struct seccomp_data, arch));
    emit(&f, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    emit(&f, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
    load(&f, offsetof(struct seccomp_data, nr));
    emit(&f, BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* __X32_SYSCALL_BIT */, 0, 1);
    emit(&f, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
    for (int r = 0; r < count; r++) {
        const struct sirocco_seccomp_rule *rule = &rules[r];
        if (rule->count < 0 || rule->count > 3) return -EINVAL;
        rule_begin(&f, rule->number);
        for (int c = 0; c < rule->count; c++) {
            const struct sirocco_seccomp_condition *condition = &rule->conditions[c];
            if (condition->argument > 5) return -EINVAL;
            if (condition->at_most) rule_at_most(&f, condition->argument, condition->value);
            else rule_equal(&f, condition->argument, condition->value, condition->is_int);
        }
        rule_end(&f);
    }
    emit(&f, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
    if (f.overflow || f.length > capacity) return -E2BIG;
    memcpy(code, f.code, f.length * sizeof f.code[0]);
    return (int)f.length;
}

int sirocco_seccomp_install(const struct sirocco_seccomp_rule *rules, int count) {
    static struct sock_filter code[MAX_FILTER];
    int length = sirocco_seccomp_filter(rules, count, code, MAX_FILTER);
    if (length < 0) return length;
    struct sock_fprog program = {.len = (unsigned short)length, .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -errno;
    /* TSYNC: every thread of the tender (sirocco-hvt's ring thread) gets the filter. */
    long result = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program);
    if (result < 0) return -errno;
    if (result > 0) return -EBUSY; /* the id of a thread that could not take it */
    return 0;
}

/* ---- traps ----
 *
 * The guest shares the tender's address space and may have written anywhere writable
 * before it traps, so the handler trusts nothing writable: what it reads (a copy of the
 * image for its symbol table, and where to report) lies in memory made read-only before
 * the guest runs, and the guest cannot make it writable again (the filter forbids
 * mprotect). It calls nothing through libc's PLT, whose table the guest could have
 * overwritten: it makes its system calls itself. Its own variables
 * live on the alternate signal stack, which the kernel hands it afresh. */

static union {
    struct {
        const unsigned char *image; /* a read-only copy of the image file */
        size_t image_size;
        int report_fd;              /* 2, or 1 where the filter does not allow 2 */
    } s;
    char page[4096];
} trap_state __attribute__((aligned(4096)));

static char alternate_stack[64 * 1024];

static long raw_syscall3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

/* Async-signal-safe output: append to a fixed buffer, write once. */
struct line {
    char text[768];
    size_t used;
};

static void put_bytes(struct line *line, const char *bytes, size_t count) {
    for (size_t i = 0; i < count && bytes[i] && line->used < sizeof line->text - 1; i++) line->text[line->used++] = bytes[i];
}

static void put(struct line *line, const char *text) { put_bytes(line, text, (size_t)-1); }

static void put_hex(struct line *line, uint64_t value) {
    char reversed[16];
    int n = 0;
    do {
        reversed[n++] = "0123456789abcdef"[value & 15];
        value >>= 4;
    } while (value);
    put(line, "0x");
    while (n > 0 && line->used < sizeof line->text - 1) line->text[line->used++] = reversed[--n];
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The plain name of a Swift symbol (`$e`/`$s`, Embedded or not): the module, the nominal
 * types it is nested in and the function's base name, joined by dots, as in
 * `SiroccoApplication.Hostile.init`. A best effort without a demangler: it follows
 * `<length><identifier>` runs and stops at anything it does not know (generic signatures,
 * substitutions); an initializer or deinitializer is named from its suffix (its argument
 * labels are not a name). Returns the bytes written, 0 when `name` is not a Swift symbol. */
static size_t put_plain_swift_name(struct line *line, const char *name, size_t limit) {
    size_t at = 0;
    if (limit >= 3 && name[0] == '_' && name[1] == '$') at = 1;
    if (limit < at + 3 || name[at] != '$' || (name[at + 1] != 'e' && name[at + 1] != 's' && name[at + 1] != 'S')) return 0;
    at += 2;
    const char *special = NULL;
    if (limit >= 2 && name[limit - 2] == 'f') {
        char kind = name[limit - 1];
        if (kind == 'C' || kind == 'c') special = "init";
        if (kind == 'D' || kind == 'd') special = "deinit";
    }
    size_t start = line->used;
    int identifiers = 0;
    if (at < limit && name[at] == 's') { /* the standard library's module, substituted */
        put(line, "Swift");
        identifiers = 1;
        at++;
    }
    while (at < limit && is_digit(name[at]) && name[at] != '0') {
        size_t length = 0;
        while (at < limit && is_digit(name[at]) && length < 1000) length = length * 10 + (size_t)(name[at++] - '0');
        if (length == 0 || length > limit - at) break;
        /* After the module, a nominal type (struct, class, enum, protocol) continues the
         * path; any other identifier is the function's (or property's) name and ends it,
         * unless this is an initializer, whose identifiers are argument labels. */
        int nominal = at + length < limit && identifiers > 0 &&
                      (name[at + length] == 'V' || name[at + length] == 'C' || name[at + length] == 'O' || name[at + length] == 'P');
        if (identifiers > 0 && !nominal && special) break;
        if (identifiers++) put(line, ".");
        put_bytes(line, name + at, length);
        at += length;
        if (!nominal && identifiers > 1) break;
        if (nominal) at++;
    }
    if (identifiers == 0) {
        line->used = start;
        return 0;
    }
    if (special) {
        put(line, ".");
        put(line, special);
    }
    return line->used - start;
}

/* Names the function containing `address` from the image's SHT_SYMTAB: a linear scan of
 * the read-only copy, with every offset checked against its size (the image is not
 * trusted, and this runs in a signal handler: no allocation). */
static void put_symbol(struct line *line, uint64_t address) {
    const unsigned char *image = trap_state.s.image;
    size_t size = trap_state.s.image_size;
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
            size_t limit = strings->sh_size - symbol->st_name, length = 0;
            while (length < limit && name[length]) length++;
            put(line, " in ");
            int plain = put_plain_swift_name(line, name, length) > 0;
            if (!plain) put_bytes(line, name, length); /* a C symbol is its own plain name */
            put(line, " + ");
            put_hex(line, address - symbol->st_value);
            if (plain) {
                put(line, " (");
                put_bytes(line, name, length);
                put(line, ")");
            }
            return;
        }
    }
}

static void on_trap(int signal, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    struct line line; /* not zeroed as a whole: the compiler would call memset through the PLT */
    line.used = 0;
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
    raw_syscall3(SYS_write, trap_state.s.report_fd == 1 ? 1 : 2, (long)line.text, (long)line.used);
    for (;;) raw_syscall3(SYS_exit_group, 255, 0, 0);
}

int sirocco_spt_install_traps(const void *image, size_t size, int report_fd) {
    /* The state page becomes read-only (the image already is): the guest cannot change what
     * the handler reads. */
    trap_state.s.image = image;
    trap_state.s.image_size = size;
    trap_state.s.report_fd = report_fd;
    if (mprotect(&trap_state, sizeof trap_state, PROT_READ) < 0) return -errno;
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
