/* The virtio target's entry: PVH (Xen's direct boot ABI, as QEMU and Firecracker load an ELF
 * kernel) into 64-bit long mode, then C (virtio.c), and the CPU exception and interrupt stubs.
 *
 * Read first: Xen docs/misc/pvh.pandoc (entry state: 32-bit protected mode, paging off, EBX =
 * the physical address of struct hvm_start_info, no stack); Intel SDM vol. 3A 10.8.5
 * ("Initializing IA-32e Mode") and 6.14 (64-bit interrupt frames); ../shared reference
 * virtio-pvh.md section 1. Assembled only in freestanding builds (SIROCCO_FREESTANDING). */
#if defined(SIROCCO_FREESTANDING)

#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_NE (1 << 5)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)

/* The PVH note, alone in its PT_NOTE (the linker script puts it last: Firecracker reads
 * the last PT_NOTE only): XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", a 4-byte entry. */
    .section .note.pvh, "a", @note
    .p2align 2
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .p2align 2
    .long _start32

    .section .text.boot, "ax"
    .code32
    .globl _start32
_start32:
    cli
    cld
    mov %ebx, %esi                  /* hvm_start_info: the first argument of the C start */
    lgdt boot_gdt_pointer
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss

    /* Zero .bss (the page tables live there). */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    /* Identity-map the first 4 GiB with 2 MiB pages: PML4[0] -> PDPT, PDPT[0..3] -> four
     * page directories. virtio.c replaces these with finer tables once in C. */
    mov $boot_pdpt, %eax
    or $3, %eax
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $3, %eax
    mov $boot_pdpt, %edi
    mov $4, %ecx
1:  mov %eax, (%edi)
    add $4096, %eax
    add $8, %edi
    loop 1b
    mov $boot_pd, %edi
    mov $0x83, %eax                 /* present, writable, 2 MiB */
    xor %edx, %edx
    mov $2048, %ecx
2:  mov %eax, (%edi)
    mov %edx, 4(%edi)
    add $0x200000, %eax
    adc $0, %edx
    add $8, %edi
    loop 2b

    mov %cr4, %eax
    or $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    and $~CR0_EM, %eax
    /* WP: read-only pages stay read-only to this code too (it all runs in ring 0). */
    or $(CR0_PE | CR0_MP | CR0_NE | CR0_WP | CR0_PG), %eax
    mov %eax, %cr0
    ljmp $0x08, $start64

    .code64
start64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lea sirocco_stack_top(%rip), %rsp
    fninit
    push $0x1f80
    ldmxcsr (%rsp)
    add $8, %rsp
    mov %esi, %edi                  /* zero-extends: the start info's physical address */
    call sirocco_virtio_start
3:  cli
    hlt
    jmp 3b

/* ---- exception and interrupt stubs: every vector pushes an error code (0 where the CPU
 * does not), then its number, and goes to the common path, which saves the registers and
 * calls sirocco_virtio_trap with the frame. Exceptions run on IST stack 1, interrupts on
 * IST stack 2, so that neither writes over the red zone below the interrupted code's stack
 * (virtio.c). ---- */

.macro VECTOR number, has_error
    .p2align 4
vector_\number:
    .if \has_error == 0
    push $0
    .endif
    push $\number
    jmp trap_common
.endm

    .text
    VECTOR 0, 0
    VECTOR 1, 0
    VECTOR 2, 0
    VECTOR 3, 0
    VECTOR 4, 0
    VECTOR 5, 0
    VECTOR 6, 0
    VECTOR 7, 0
    VECTOR 8, 1
    VECTOR 9, 0
    VECTOR 10, 1
    VECTOR 11, 1
    VECTOR 12, 1
    VECTOR 13, 1
    VECTOR 14, 1
    VECTOR 15, 0
    VECTOR 16, 0
    VECTOR 17, 1
    VECTOR 18, 0
    VECTOR 19, 0
    VECTOR 20, 0
    VECTOR 21, 1
    VECTOR 22, 0
    VECTOR 23, 0
    VECTOR 24, 0
    VECTOR 25, 0
    VECTOR 26, 0
    VECTOR 27, 0
    VECTOR 28, 0
    VECTOR 29, 1
    VECTOR 30, 1
    VECTOR 31, 0
    /* Interrupts: 32 the local APIC timer, 33-47 devices, 255 spurious. */
    .irp number, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 255
    VECTOR \number, 0
    .endr

trap_common:
    cld                             /* a fault inside memmove's backward copy leaves DF set */
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi                  /* struct sirocco_trap_frame */
    mov %rsp, %rbx
    and $-16, %rsp                  /* the C code may use aligned SSE stores */
    call sirocco_virtio_trap        /* returns only for interrupts */
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp                   /* vector and error code */
    iretq

/* The stubs' addresses, for the IDT (vectors 0-47, then 255). */
    .section .rodata
    .globl sirocco_virtio_vectors
    .p2align 3
sirocco_virtio_vectors:
    .irp number, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 255
    .quad vector_\number
    .endr

/* The boot GDT: null, 64-bit code (0x08), data (0x10). */
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .bss.pagetables, "aw", @nobits
    .p2align 12
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
    .globl boot_pd
boot_pd:
    .skip 4 * 4096

#endif
