// x86-64: the CPU primitives the machine-independent kernel calls most, inline (machine/cpu.h
// declares them). Under the emulator each call and return costs a translation-block lookup.
#pragma once
#include <stdint.h>

#define ARCH_CPU_INLINE 1

struct Processor;

using IrqState = unsigned long;

inline IrqState arch_irq_disable() {
  uint64_t flags;
  asm volatile("pushfq; popq %0; cli" : "=r"(flags)::"memory");
  return flags;
}

inline void arch_irq_restore(IrqState state) {
  if (state & 0x200) asm volatile("sti" ::: "memory");
}

// CpuLocal::processor, at offset 32 of the GS base (arch/x86_64/cpu_local.h checks it).
inline Processor* arch_processor() {
  Processor* p;
  asm volatile("mov %%gs:32, %0" : "=r"(p));
  return p;
}
