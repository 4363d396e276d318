/* Multiboot 1 entry. The loader leaves us in 32-bit protected mode with paging off, eax =
   the Multiboot magic and ebx = the physical address of the Multiboot information. This stub
   builds temporary page tables (identity, the direct map and the kernel's top 2 GiB, each
   covering the first 1 GiB with 2 MiB pages), enters long mode and jumps to the higher half.
   The kernel replaces these tables in pmap_bootstrap(). */
#include "arch/x86_64/asm.h"

#define MB_MAGIC        0x1BADB002
#define MB_FLAGS        0x00010003      /* page-align modules, memory map, address fields */

        .section .multiboot, "a"
        .align 4
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)
        .long mb_header                 /* header_addr */
        .long __kernel_phys_start       /* load_addr */
        .long __load_end_phys           /* load_end_addr */
        .long __bss_end_phys            /* bss_end_addr */
        .long _start32                  /* entry_addr */

        .section .boot.text, "ax"
        .code32
        .globl _start32
_start32:
        cli
        movl    %eax, %edi              /* kept for kmain(magic, info) */
        movl    %ebx, %esi
        movl    $boot_stack32_top, %esp

        /* PML4[0] and PML4[256] -> pdpt_low, PML4[511] -> pdpt_high. */
        movl    $boot_pdpt_low + 3, %eax
        movl    %eax, boot_pml4
        movl    %eax, boot_pml4 + 256 * 8
        movl    $boot_pdpt_high + 3, %eax
        movl    %eax, boot_pml4 + 511 * 8
        movl    $boot_pd + 3, %eax
        movl    %eax, boot_pdpt_low
        movl    %eax, boot_pdpt_high + 510 * 8
        /* boot_pd: 512 large pages, 0..1 GiB. */
        xorl    %ecx, %ecx
1:      movl    %ecx, %eax
        shll    $21, %eax
        orl     $0x83, %eax             /* present, writable, 2 MiB */
        movl    %eax, boot_pd(,%ecx,8)
        incl    %ecx
        cmpl    $512, %ecx
        jne     1b

        movl    %cr4, %eax
        orl     $(CR4_PAE | CR4_PGE), %eax
        movl    %eax, %cr4
        movl    $boot_pml4, %eax
        movl    %eax, %cr3
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $(EFER_LME | EFER_NXE | EFER_SCE), %eax
        wrmsr
        movl    %cr0, %eax
        orl     $(CR0_PG | CR0_WP | CR0_PE), %eax
        movl    %eax, %cr0

        lgdt    boot_gdt_ptr
        ljmp    $0x08, $start64_low

        .code64
start64_low:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        xorw    %ax, %ax
        movw    %ax, %fs
        movw    %ax, %gs
        movabsq $start64_high, %rax
        jmp     *%rax

        .section .boot.data, "aw"
        .align 16
boot_gdt:
        .quad 0
        .quad 0x00af9a000000ffff        /* 0x08: 64-bit kernel code */
        .quad 0x00cf92000000ffff        /* 0x10: kernel data */
boot_gdt_end:
        .globl boot_gdt_ptr
boot_gdt_ptr:
        .word boot_gdt_end - boot_gdt - 1
        .quad boot_gdt
        .align 4096
        .globl boot_pml4
boot_pml4:      .fill 512, 8, 0
boot_pdpt_low:  .fill 512, 8, 0
boot_pdpt_high: .fill 512, 8, 0
boot_pd:        .fill 512, 8, 0
        .fill 1024, 1, 0
boot_stack32_top:

        .section .text.entry, "ax"
        .code64
start64_high:
        movabsq $boot_stack_top, %rsp
        xorl    %ebp, %ebp
        /* edi = magic, esi = info (physical), as the SysV ABI wants them */
        call    kmain
1:      cli
        hlt
        jmp     1b

        .section .bss
        .align 16
        .globl boot_stack_bottom
boot_stack_bottom:
        .space  16384
        .globl boot_stack_top
boot_stack_top:
