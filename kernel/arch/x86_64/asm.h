/* Constants shared by assembly and C++ (control registers, MSRs, selectors). */
#pragma once

#define CR0_PE          0x00000001
#define CR0_MP          0x00000002
#define CR0_EM          0x00000004
#define CR0_TS          0x00000008
#define CR0_NE          0x00000020
#define CR0_WP          0x00010000
#define CR0_PG          0x80000000
#define CR4_PAE         0x00000020
#define CR4_PGE         0x00000080
#define CR4_OSFXSR      0x00000200
#define CR4_OSXMMEXCPT  0x00000400

#define MSR_EFER        0xC0000080
#define MSR_STAR        0xC0000081
#define MSR_LSTAR       0xC0000082
#define MSR_FMASK       0xC0000084
#define MSR_FS_BASE     0xC0000100
#define MSR_GS_BASE     0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_APIC_BASE   0x0000001B

#define EFER_SCE        0x00000001
#define EFER_LME        0x00000100
#define EFER_NXE        0x00000800

/* GDT layout; the order of the user selectors is fixed by sysret. */
#define SEL_KCODE       0x08
#define SEL_KDATA       0x10
#define SEL_UCODE32     0x18
#define SEL_UDATA       0x20
#define SEL_UCODE       0x28
#define SEL_TSS         0x30
#define SEL_RPL_USER    3

#define KERNEL_VMA      0xffffffff80000000
#define PHYS_MAP_BASE   0xffff800000000000
