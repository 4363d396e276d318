// CPU-local state, interrupt control and time for the x86-64 layer.
#include "arch/x86_64/cpu_local.h"

#include "arch/x86_64/apic.h"
#include "arch/x86_64/asm.h"
#include "arch/x86_64/io.h"
#include "arch/x86_64/pmap_x86.h"
#include "machine/cpu.h"
#include "kern/hot.h"

CpuLocal cpu_locals[kMaxCpus];
unsigned cpus_online = 1;
uint64_t tsc_per_us = 1000;  // calibrated by apic_calibrate(); a guess until then
uint64_t tsc_at_boot;

bool arch_irq_enabled() {
  uint64_t flags;
  asm volatile("pushfq; popq %0" : "=r"(flags));
  return flags & 0x200;
}

// Every spin-wait answers TLB shootdowns addressed to this CPU: a CPU spinning with interrupts
// off (on a spinlock, or for a thread to leave another CPU) could otherwise hold up a
// shootdown whose initiator holds the very lock it waits for.
void arch_cpu_relax() {
  asm volatile("pause");
  tlb_shootdown_interrupt();
}

MICA_HOT unsigned arch_cpu_id() {
  CpuLocal* c;
  asm volatile("mov %%gs:0, %0" : "=r"(c));
  return c ? c->id : 0;
}

unsigned arch_cpu_count() { return __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE); }

void arch_set_processor(Processor* p) { this_cpu()->processor = p; }

uint64_t arch_time_ns() { return (rdtsc() - tsc_at_boot) * 1000 / tsc_per_us; }

void arch_idle_wait() { asm volatile("sti; hlt; cli" ::: "memory"); }

void arch_send_reschedule(unsigned cpu) {
  if (cpu != arch_cpu_id()) apic_send_ipi(cpu_locals[cpu].apic_id, kVectorReschedule);
}

void arch_halt() {
  for (;;) asm volatile("cli; hlt");
}

void arch_shutdown(unsigned code) {
  qemu_exit(static_cast<uint8_t>(code));
  arch_halt();
}

void arch_panic_exit() {
  qemu_exit(3);
  arch_halt();
}

void arch_stop_other_cpus() {
  for (unsigned i = 0; i < kMaxCpus; ++i) {
    if (i != arch_cpu_id() && cpu_locals[i].online) apic_send_ipi(cpu_locals[i].apic_id, kVectorStop);
  }
}

void fpu_init_cpu() {
  uint64_t cr0 = read_cr0();
  cr0 &= ~static_cast<uint64_t>(CR0_EM | CR0_TS);
  cr0 |= CR0_MP | CR0_NE;
  write_cr0(cr0);
  write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
  asm volatile("fninit");
}
