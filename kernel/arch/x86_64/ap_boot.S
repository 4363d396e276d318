/* Application processor trampoline, copied to physical 0x8000 and entered in real mode by the
   STARTUP IPI. It goes to long mode on the kernel's page tables (which still identity-map the
   first 1 GiB), takes a ticket, and calls ap_main(ticket) on the ticket's stack. */
#include "arch/x86_64/asm.h"

#define TRAMP           0x8000
#define REL(x)          ((x) - ap_trampoline_start + TRAMP)

        .section .rodata
        .balign 16
        .globl ap_trampoline_start
ap_trampoline_start:
        .code16
        cli
        cld
        xorw    %ax, %ax
        movw    %ax, %ds
        lgdtl   REL(ap_gdt_ptr)
        movl    %cr0, %eax
        orl     $CR0_PE, %eax
        movl    %eax, %cr0
        ljmpl   $0x18, $REL(ap_protected)

        .code32
ap_protected:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    %cr4, %eax
        orl     $(CR4_PAE | CR4_PGE), %eax
        movl    %eax, %cr4
        movl    REL(ap_param_cr3), %eax
        movl    %eax, %cr3
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $(EFER_LME | EFER_NXE | EFER_SCE), %eax
        wrmsr
        movl    %cr0, %eax
        orl     $(CR0_PG | CR0_WP | CR0_PE), %eax
        movl    %eax, %cr0
        ljmpl   $0x08, $REL(ap_long)

        .code64
ap_long:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movl    $1, %eax
        lock xaddl %eax, REL(ap_param_ticket)
        movl    %eax, %edi
        /* stack top = stacks + (ticket + 1) * 16 KiB */
        leal    1(%eax), %ecx
        shlq    $14, %rcx
        movq    REL(ap_param_stacks), %rsp
        addq    %rcx, %rsp
        xorl    %ebp, %ebp
        movabsq $ap_main, %rax
        call    *%rax
1:      hlt
        jmp     1b

        .balign 16
ap_gdt:
        .quad 0
        .quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
        .quad 0x00cf92000000ffff        /* 0x10: data */
        .quad 0x00cf9a000000ffff        /* 0x18: 32-bit code */
ap_gdt_ptr:
        .word ap_gdt_ptr - ap_gdt - 1
        .long REL(ap_gdt)
        .balign 8
        .globl ap_param_cr3, ap_param_ticket, ap_param_stacks
ap_param_cr3:    .long 0
ap_param_ticket: .long 0
ap_param_stacks: .quad 0
        .globl ap_trampoline_end
ap_trampoline_end:
