// In-kernel tests of the x86-64 pmap, run at boot with the option mica.selftest (the system
// tests do). They need real page tables and several CPUs, which the host build cannot give.
// Each prints "ok NAME" or "FAIL NAME: why", then a closing "N passed, M failed" line.
#include "arch/x86_64/selftest.h"

#include "arch/x86_64/pmap_x86.h"
#include "kern/log.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "lib/string.h"
#include "vm/vm_page.h"

namespace {

unsigned passed, failed;

void report(const char* name, bool ok, const char* why) {
  if (ok) {
    ++passed;
    klog("ok %s", name);
  } else {
    ++failed;
    klog("FAIL %s: %s", name, why);
  }
}
#define CHECK(name, cond) report(name, (cond), #cond)

constexpr vaddr_t kVa = 0x0000100000000000;  // far from anything a boot task maps

VmPage* filled_page(uint64_t value) {
  VmPage* p = vm_page_grab();
  if (p) {
    auto* w = static_cast<volatile uint64_t*>(vm_page_to_virt(p));
    for (size_t i = 0; i < kPageSize / 8; ++i) w[i] = value;
  }
  return p;
}

void test_enter_extract_remove() {
  Pmap* pmap = pmap_create();
  VmPage* a = filled_page(1);
  if (!pmap || !a) return report("pmap_enter_extract_remove", false, "no memory");
  paddr_t pa = 0;
  CHECK("pmap_extract_empty", !pmap_extract(pmap, kVa, &pa));
  CHECK("pmap_enter", pmap_enter(pmap, kVa, vm_page_to_phys(a), kProtRead | kProtWrite));
  CHECK("pmap_extract_mapped", pmap_extract(pmap, kVa + 123, &pa) && pa == vm_page_to_phys(a) + 123);
  PmapStats s = pmap_stats(pmap);
  CHECK("pmap_stats_counts", s.mapped_pages == 1 && s.table_pages == 3);
  pmap_protect(pmap, kVa, kVa + kPageSize, kProtRead);
  CHECK("pmap_protect_keeps_mapping", pmap_extract(pmap, kVa, &pa));
  pmap_remove(pmap, kVa, kVa + kPageSize);
  CHECK("pmap_remove", !pmap_extract(pmap, kVa, &pa) && pmap_stats(pmap).mapped_pages == 0);
  // Dropping entries loses nothing: the page (owned elsewhere) still holds its data.
  CHECK("pmap_is_a_cache", *static_cast<uint64_t*>(vm_page_to_virt(a)) == 1);
  size_t free_before = vm_page_stats().free_pages;
  pmap_destroy(pmap);
  CHECK("pmap_destroy_frees_tables", vm_page_stats().free_pages == free_before + 4);
  vm_page_release(a);
}

// Another CPU caches a translation; a change made here must be seen there at once.
struct Remote {
  Pmap* pmap;
  volatile int step;
  volatile uint64_t seen[3];
};

void remote_reader(void* arg) {
  auto* r = static_cast<Remote*>(arg);
  pmap_activate(r->pmap);
  auto* p = reinterpret_cast<volatile uint64_t*>(kVa);
  for (int i = 0; i < 3; ++i) {
    while (r->step != 2 * i + 1) arch_cpu_relax();
    r->seen[i] = *p;  // fills this CPU's TLB
    r->step = 2 * i + 2;
  }
  pmap_activate(kernel_pmap());
}

void test_shootdown() {
  if (arch_cpu_count() < 2) return report("pmap_tlb_shootdown", true, "");
  Remote r{};
  r.pmap = pmap_create();
  VmPage* a = filled_page(0xaaaa);
  VmPage* b = filled_page(0xbbbb);
  VmPage* c = filled_page(0xcccc);
  if (!r.pmap || !a || !b || !c) return report("pmap_tlb_shootdown", false, "no memory");
  pmap_enter(r.pmap, kVa, vm_page_to_phys(a), kProtRead);
  Thread* t = kernel_thread_create("pmap-test", remote_reader, &r, kBasePriSystem);
  t->bound_cpu = arch_cpu_id() == 0 ? 1 : 0;
  thread_start(t);
  auto step = [&](int s) {
    r.step = s;
    uint64_t end = arch_time_ns() + 2'000'000'000;
    while (r.step != s + 1 && arch_time_ns() < end) thread_yield();
    return r.step == s + 1;
  };
  bool ok = step(1);
  pmap_enter(r.pmap, kVa, vm_page_to_phys(b), kProtRead);  // replace: must shoot down
  ok = ok && step(3);
  pmap_remove(r.pmap, kVa, kVa + kPageSize);
  pmap_enter(r.pmap, kVa, vm_page_to_phys(c), kProtRead);
  ok = ok && step(5);
  CHECK("pmap_tlb_shootdown_steps", ok);
  CHECK("pmap_tlb_shootdown_first", r.seen[0] == 0xaaaa);
  CHECK("pmap_tlb_shootdown_replace", r.seen[1] == 0xbbbb);
  CHECK("pmap_tlb_shootdown_remove", r.seen[2] == 0xcccc);
  // Let the reader finish and leave the pmap before it goes.
  uint64_t end = arch_time_ns() + 1'000'000'000;
  while (__atomic_load_n(&r.pmap->cpus, __ATOMIC_ACQUIRE) & ~(1u << arch_cpu_id()) &&
         arch_time_ns() < end)
    thread_yield();
  pmap_destroy(r.pmap);
  vm_page_release(a);
  vm_page_release(b);
  vm_page_release(c);
}

}  // namespace

void arch_selftest() {
  klog("selftest: start");
  test_enter_extract_remove();
  test_shootdown();
  klog("%u passed, %u failed", passed, failed);
}
