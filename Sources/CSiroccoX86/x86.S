/* The x86-64 CPU exception and interrupt stubs the VM guests share (virtio, hvt): each
 * vector's entry, and the common path to C (x86.c). Read first: Intel SDM vol. 3A 6.14
 * (64-bit interrupt frames, IST). Assembled only in freestanding builds. */
#if defined(SIROCCO_FREESTANDING)

/* ---- exception and interrupt stubs: every vector pushes an error code (0 where the CPU
 * does not), then its number, and goes to the common path, which saves the registers and
 * calls sirocco_x86_trap with the frame. Exceptions run on IST stack 1, interrupts on
 * IST stack 2, so that neither writes over the red zone below the interrupted code's stack
 * (x86.c). ---- */

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
    call sirocco_x86_trap          /* returns only for interrupts */
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
    .globl sirocco_x86_vectors
    .p2align 3
sirocco_x86_vectors:
    .irp number, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 255
    .quad vector_\number
    .endr

#endif
