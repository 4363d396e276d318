// Application processor start-up. The APs are found by broadcasting INIT/STARTUP rather than
// by reading ACPI's MADT: each AP takes a ticket in the trampoline that gives it its CPU index
// and stack. (Reading the MADT, to start only listed CPUs, is a later refinement.)
#include "arch/x86_64/smp.h"

#include "arch/x86_64/apic.h"
#include "arch/x86_64/asm.h"
#include "arch/x86_64/cpu_local.h"
#include "arch/x86_64/io.h"
#include "arch/x86_64/pmap_x86.h"
#include "kern/log.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "lib/string.h"

extern "C" char ap_trampoline_start[], ap_trampoline_end[];
extern "C" char ap_param_cr3[], ap_param_ticket[], ap_param_stacks[];
extern unsigned cpus_online;

namespace {

constexpr uint64_t kTrampolinePhys = 0x8000;
constexpr uint64_t kApStackSize = 16384;
alignas(16384) uint8_t ap_stacks[kMaxCpus - 1][kApStackSize];

template <class T>
T& param(const char* sym) {
  return *reinterpret_cast<T*>(
      static_cast<char*>(arch_phys_to_virt(kTrampolinePhys)) + (sym - ap_trampoline_start));
}

}  // namespace

extern "C" [[noreturn]] void ap_main(uint32_t ticket) {
  unsigned id = ticket + 1;
  cpu_init(id);
  cpu_locals[id].apic_id = apic_id();
  processor_start(id);
  apic_init_cpu(1'000'000'000 / kTickNs);
  __atomic_store_n(&cpu_locals[id].online, true, __ATOMIC_RELEASE);
  __atomic_fetch_add(&cpus_online, 1, __ATOMIC_ACQ_REL);
  processor_idle_loop();
}

void smp_start() {
  size_t len = ap_trampoline_end - ap_trampoline_start;
  memcpy(arch_phys_to_virt(kTrampolinePhys), ap_trampoline_start, len);
  param<uint32_t>(ap_param_cr3) = static_cast<uint32_t>(kernel_pmap()->pml4);
  param<uint32_t>(ap_param_ticket) = 0;
  param<uint64_t>(ap_param_stacks) = reinterpret_cast<uint64_t>(&ap_stacks[0][0]);

  apic_broadcast_init();
  delay_us(10000);
  apic_broadcast_startup(kTrampolinePhys >> 12);
  delay_us(200);
  apic_broadcast_startup(kTrampolinePhys >> 12);
  // Wait until the tickets taken are all online, and no new ticket appears for a while.
  uint32_t seen = 0;
  for (int quiet = 0, waited = 0; quiet < 100 && waited < 5000; ++waited) {
    delay_us(1000);
    uint32_t tickets = __atomic_load_n(&param<uint32_t>(ap_param_ticket), __ATOMIC_ACQUIRE);
    if (tickets > kMaxCpus - 1) panic("more than %u CPUs", kMaxCpus);
    if (tickets != seen || arch_cpu_count() != tickets + 1) {
      seen = tickets;
      quiet = 0;
    } else {
      ++quiet;
    }
  }
  pmap_drop_identity_map();
  uint32_t tickets = param<uint32_t>(ap_param_ticket);
  if (tickets + 1 != arch_cpu_count())
    klog("smp: %u processors answered but only %u came online", tickets, arch_cpu_count() - 1);
  klog("smp: %u cpus online", arch_cpu_count());
}
