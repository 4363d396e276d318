// Per-CPU data of the x86-64 layer, reached through the GS base in kernel mode. The first
// fields are read by assembly (entry.S) at fixed offsets: keep them in sync.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "machine/cpu.h"

struct Thread;

struct Tss {
  uint32_t reserved0;
  uint64_t rsp0;
  uint64_t rsp1;
  uint64_t rsp2;
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
} __attribute__((packed));
static_assert(sizeof(Tss) == 104);

struct CpuLocal {
  CpuLocal* self;          // 0: for reading the struct's own address through %gs
  uint64_t kernel_rsp;     // 8: top of the running thread's kernel stack
  uint64_t user_rsp;       // 16: scratch for the syscall entry
  Thread* thread;          // 24: the running thread
  Processor* processor;
  struct Pmap* loaded_pmap;  // the pmap whose tables CR3 holds
  uint64_t fs_base;  // the FS base MSR's value (user TLS base of the last user thread)
  unsigned id;
  unsigned apic_id;
  bool online;
  volatile bool stopped;
  uint64_t gdt[8];
  Tss tss;
};
static_assert(offsetof(CpuLocal, kernel_rsp) == 8);
static_assert(offsetof(CpuLocal, user_rsp) == 16);
static_assert(offsetof(CpuLocal, thread) == 24);
static_assert(offsetof(CpuLocal, processor) == 32);  // arch_impl/cpu.h reads it

extern CpuLocal cpu_locals[kMaxCpus];

inline CpuLocal* this_cpu() {
  CpuLocal* c;
  asm volatile("mov %%gs:0, %0" : "=r"(c));
  return c;
}

// Sets up the descriptor tables and GS base of the calling CPU (index `id`).
void cpu_init(unsigned id);
// Interrupt descriptor table, shared by all CPUs; built once by the boot CPU.
void idt_init();
void idt_load();
void syscall_init_cpu();
void fpu_init_cpu();
