// The processor interface on Linux: each host thread plays one CPU, "interrupts" are a
// per-thread flag so the guards' save/restore logic is exercised, time is CLOCK_MONOTONIC.
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "arch/host_arch.h"
#include "machine/cpu.h"

namespace {

thread_local bool t_irq_enabled = true;
thread_local unsigned t_cpu_id = 0;
thread_local Processor* t_processor = nullptr;

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

const uint64_t g_boot_ns = now_ns();

}  // namespace

IrqState arch_irq_disable() {
  IrqState prev = t_irq_enabled ? 1 : 0;
  t_irq_enabled = false;
  return prev;
}

void arch_irq_restore(IrqState state) { t_irq_enabled = state != 0; }

bool arch_irq_enabled() { return t_irq_enabled; }

void arch_cpu_relax() { sched_yield(); }

unsigned arch_cpu_id() { return t_cpu_id; }

unsigned arch_cpu_count() { return kMaxCpus; }

Processor* arch_processor() { return t_processor; }

void arch_set_processor(Processor* p) { t_processor = p; }

uint64_t arch_time_ns() { return now_ns() - g_boot_ns; }

void arch_idle_wait() {
  t_irq_enabled = true;
  sched_yield();
  t_irq_enabled = false;
}

void arch_send_reschedule(unsigned) {}

void arch_halt() { abort(); }

void host_set_cpu_id(unsigned cpu) { t_cpu_id = cpu; }
