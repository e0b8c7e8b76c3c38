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

    .section .rodata
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
