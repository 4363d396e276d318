/* Kernel entry and exit: interrupt and exception stubs, the syscall entry, the common return
   path and the kernel stack switch. Every entry builds a TrapFrame (trap_frame.h). */
#include "arch/x86_64/asm.h"

#define THREAD_FAULT_RECOVER 8  /* offsetof(Thread, arch.fault_recover): static_assert'ed */

#define FRAME_CS        (15 * 8 + 16 + 8)       /* offset of cs once the GPRs are pushed */

.macro PUSH_GPRS
        pushq %rax; pushq %rbx; pushq %rcx; pushq %rdx; pushq %rsi; pushq %rdi; pushq %rbp
        pushq %r8; pushq %r9; pushq %r10; pushq %r11; pushq %r12; pushq %r13; pushq %r14; pushq %r15
.endm
.macro POP_GPRS
        popq %r15; popq %r14; popq %r13; popq %r12; popq %r11; popq %r10; popq %r9; popq %r8
        popq %rbp; popq %rdi; popq %rsi; popq %rdx; popq %rcx; popq %rbx; popq %rax
.endm

        .text
/* Vectors that push an error code: 8, 10-14, 17, 21, 29, 30. */
.macro ISR n
        .p2align 4
isr_\n:
.if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
.else
        pushq   $0
.endif
        pushq   $\n
        jmp     isr_common
.endm

.macro ISR_ADDR n
        .quad isr_\n
.endm

        .altmacro
.set i, 0
.rept 256
        ISR %i
.set i, i + 1
.endr

        .section .rodata
        .balign 8
        .globl isr_table
isr_table:
.set i, 0
.rept 256
        ISR_ADDR %i
.set i, i + 1
.endr
        .noaltmacro
        /* The common entry and exit, the syscall path, the switch and the user copy: with
           the RPC path (kern/hot.h). */
        .section .text.hot, "ax"

isr_common:
        testb   $3, 16+8(%rsp)          /* from user mode? */
        jz      1f
        swapgs
1:      PUSH_GPRS
        cld
        movq    %rsp, %rdi
        call    trap_dispatch
        .globl trap_return
trap_return:
        POP_GPRS
        testb   $3, 16+8(%rsp)
        jz      2f
        cli
        swapgs
2:      addq    $16, %rsp
        iretq

/* syscall: rcx = user rip, r11 = user rflags, IF cleared by FMASK. The frame looks like an
   interrupt's (vector 256), so one return path serves both. */
        .globl syscall_entry
syscall_entry:
        swapgs
        movq    %rsp, %gs:16
        movq    %gs:8, %rsp
        pushq   $(SEL_UDATA | SEL_RPL_USER)
        pushq   %gs:16
        pushq   %r11
        pushq   $(SEL_UCODE | SEL_RPL_USER)
        pushq   %rcx
        pushq   $0
        pushq   $256
        PUSH_GPRS
        cld
        movq    %rsp, %rdi
        call    syscall_dispatch
        /* sysret when it returns exactly what iretq would: rcx and r11 still hold the user
           rip and rflags (nothing changed the frame, or thread_set_state kept them so), the
           rip is canonical and the code segment is the 64-bit user one. Else iretq. */
        movq    15*8+16(%rsp), %rax             /* frame rip */
        cmpq    12*8(%rsp), %rax                /* frame rcx */
        jne     trap_return
        movq    15*8+32(%rsp), %rax             /* frame rflags */
        cmpq    4*8(%rsp), %rax                 /* frame r11 */
        jne     trap_return
        cmpq    $(SEL_UCODE | SEL_RPL_USER), 15*8+24(%rsp)
        jne     trap_return
        movq    15*8+16(%rsp), %rax
        shrq    $47, %rax
        jnz     trap_return
        POP_GPRS
        cli
        swapgs
        movq    40(%rsp), %rsp                  /* frame rsp (past vector and error) */
        sysretq

/* Thread* switch_stacks(uint64_t* save_rsp, uint64_t new_rsp, Thread* prev): saves the
   callee-saved registers on the current stack, switches to new_rsp and returns `prev` on the
   new stack. A new thread "returns" into thread_trampoline. */
        .globl switch_stacks
switch_stacks:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        movq    %rdx, %rax
        ret

/* First return of a new thread: finish the switch, then leave through its TrapFrame. */
        .globl thread_trampoline
thread_trampoline:
        movq    %rax, %rdi
        call    thread_start_finish
        jmp     trap_return

/* int copy_user(void* dst, const void* src, size_t len): the kernel's access to the current
   task's memory, straight through its page tables. A page fault on the user side is resolved
   by the fault handler (vm_fault) and the copy goes on; if it cannot be, the handler resumes at
   copy_user_fault (Thread::arch.fault_recover) and the function returns 1. */
        .globl copy_user
copy_user:
        movq    %gs:24, %rax                    /* CpuLocal::thread */
        leaq    copy_user_fault(%rip), %r8
        movq    %r8, THREAD_FAULT_RECOVER(%rax)
        movq    %rdx, %rcx
        shrq    $3, %rcx                        /* 8 bytes a step, then the tail */
        rep movsq
        movq    %rdx, %rcx
        andq    $7, %rcx
        rep movsb
        movq    $0, THREAD_FAULT_RECOVER(%rax)
        xorl    %eax, %eax
        ret
copy_user_fault:
        movq    %gs:24, %rax
        movq    $0, THREAD_FAULT_RECOVER(%rax)
        movl    $1, %eax
        ret
