// The processor, as the machine-independent kernel sees it. Implemented by
// arch/x86_64/cpu.cc in the kernel and by tests/host/arch/ on Linux.
#pragma once
#include <stdint.h>

struct Processor;

inline constexpr unsigned kMaxCpus = 16;

#include "arch_impl/cpu.h"  // may define the hottest of these inline (ARCH_CPU_INLINE)

using IrqState = unsigned long;

#if !ARCH_CPU_INLINE
// Disables interrupts on this CPU and returns the previous state for arch_irq_restore().
IrqState arch_irq_disable();
void arch_irq_restore(IrqState state);
#endif
bool arch_irq_enabled();

// Spin-wait hint (pause).
void arch_cpu_relax();

// Index of the executing CPU, 0 .. arch_cpu_count() - 1.
unsigned arch_cpu_id();
unsigned arch_cpu_count();

// The MI per-CPU structure of the executing CPU (set once per CPU at start-up).
#if !ARCH_CPU_INLINE
Processor* arch_processor();
#endif
void arch_set_processor(Processor* p);

// Monotonic nanoseconds since boot.
uint64_t arch_time_ns();

// Idle: wait for an interrupt with interrupts enabled; returns with them disabled.
void arch_idle_wait();

// Ask CPU `cpu` to reschedule (an inter-processor interrupt; a no-op on the host).
void arch_send_reschedule(unsigned cpu);

[[noreturn]] void arch_halt();

// Ends the machine: QEMU's isa-debug-exit device exits with (code << 1) | 1; real hardware
// halts.
[[noreturn]] void arch_shutdown(unsigned code);
