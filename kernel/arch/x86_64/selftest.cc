// In-kernel tests of the x86-64 pmap, run at boot with the option mica.selftest (the system
// tests do). They need real page tables, a real MMU (which sets the dirty and accessed bits)
// and several CPUs, which the host build cannot give.
// Each prints "ok NAME" or "FAIL NAME: why", then a closing "N passed, M failed" line.
#include "arch/x86_64/selftest.h"

#include "arch/x86_64/pmap_x86.h"
#include "kern/log.h"
#include "kern/processor.h"
#include "kern/queue.h"
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

// --- Reverse map ---------------------------------------------------------------------------

constexpr vaddr_t P = kPageSize;

// Accesses through the loaded page tables, as a user would make them: a fault is a false
// return (copy_user's recovery), not a kernel panic.
bool read_user(vaddr_t va, uint64_t* v) {
  return arch_copy_user(v, reinterpret_cast<const void*>(va), sizeof *v);
}
bool write_user(vaddr_t va, uint64_t v) {
  return arch_copy_user(reinterpret_cast<void*>(va), &v, sizeof v);
}

bool mapped(Pmap* pmap, vaddr_t va) {
  paddr_t pa;
  return pmap_extract(pmap, va, &pa);
}

// One page in two pmaps at several addresses, accessed on this CPU.
void test_pv_local() {
  Pmap* p = pmap_create();
  Pmap* q = pmap_create();
  VmPage* a = filled_page(0xa0a0);
  if (!p || !q || !a) return report("pmap_pv_local", false, "no memory");
  paddr_t pa = vm_page_to_phys(a);
  size_t pv0 = pmap_pv_entries();
  pmap_clear_modify(pa);  // a page's attributes outlive its earlier uses
  pmap_clear_reference(pa);
  bool entered = pmap_enter(p, kVa, pa, kProtRead | kProtWrite) &&
                 pmap_enter(p, kVa + 5 * P, pa, kProtRead | kProtWrite) &&
                 pmap_enter(q, kVa, pa, kProtRead | kProtWrite);
  CHECK("pmap_pv_entries", entered && pmap_pv_entries() == pv0 + 3);
  CHECK("pmap_pv_fresh_page_clean", !pmap_is_modified(pa) && !pmap_is_referenced(pa));

  uint64_t v = 0;
  pmap_activate(p);
  bool read_ok = read_user(kVa, &v) && v == 0xa0a0;
  bool referenced = pmap_is_referenced(pa);
  bool modified_by_read = pmap_is_modified(pa);
  bool write_ok = write_user(kVa + 5 * P, 0xd1d1);
  bool modified = pmap_is_modified(pa);
  pmap_activate(kernel_pmap());
  CHECK("pmap_is_referenced_after_read", read_ok && referenced && !modified_by_read);
  CHECK("pmap_is_modified_after_write", write_ok && modified);
  pmap_remove(p, kVa + 5 * P, kVa + 6 * P);
  CHECK("pmap_is_modified_after_remove", pmap_is_modified(pa) && pmap_is_referenced(pa));
  pmap_clear_modify(pa);
  CHECK("pmap_clear_modify", !pmap_is_modified(pa) && pmap_is_referenced(pa));
  pmap_clear_reference(pa);
  CHECK("pmap_clear_reference", !pmap_is_referenced(pa));

  pmap_page_protect(pa, kProtRead);
  pmap_activate(p);
  bool p_write = write_user(kVa, 1);
  bool p_read = read_user(kVa, &v);
  pmap_activate(q);
  bool q_write = write_user(kVa, 1);
  bool q_read = read_user(kVa, &v);
  pmap_activate(kernel_pmap());
  CHECK("pmap_page_protect_read", !p_write && p_read && !q_write && q_read && !pmap_is_modified(pa));

  pmap_page_protect(pa, kProtNone);
  pmap_activate(q);
  bool q_gone = !read_user(kVa, &v);
  pmap_activate(kernel_pmap());
  CHECK("pmap_page_protect_none", q_gone && !mapped(p, kVa) && !mapped(q, kVa) &&
                                      pmap_stats(p).mapped_pages == 0 &&
                                      pmap_stats(q).mapped_pages == 0 && pmap_pv_entries() == pv0);

  // A dirty mapping left in a pmap that goes.
  pmap_enter(q, kVa + 9 * P, pa, kProtRead | kProtWrite);
  pmap_activate(q);
  bool q_write2 = write_user(kVa + 9 * P, 0xd2d2);
  pmap_activate(kernel_pmap());
  pmap_destroy(q);
  CHECK("pmap_is_modified_after_destroy",
        q_write2 && pmap_is_modified(pa) && pmap_pv_entries() == pv0);
  CHECK("pmap_pv_data_kept", *static_cast<volatile uint64_t*>(vm_page_to_virt(a)) == 0xd2d2);
  pmap_destroy(p);
  vm_page_release(a);
}

// Another CPU runs with the pmap loaded and makes accesses on request; the physical-page
// operations made here must reach its TLB before they return.
enum : int { kCmdNone, kCmdRead, kCmdWrite, kCmdExit };

struct PvRemote {
  Pmap* pmap;
  volatile int cmd;
  volatile uint64_t value;
  volatile bool ok;
};

void pv_remote(void* arg) {
  auto* r = static_cast<PvRemote*>(arg);
  pmap_activate(r->pmap);
  for (;;) {
    int cmd;
    while ((cmd = __atomic_load_n(&r->cmd, __ATOMIC_ACQUIRE)) == kCmdNone) arch_cpu_relax();
    if (cmd == kCmdExit) break;
    uint64_t v = r->value;
    r->ok = cmd == kCmdRead ? read_user(kVa, &v) : write_user(kVa, v);
    r->value = v;
    __atomic_store_n(&r->cmd, kCmdNone, __ATOMIC_RELEASE);
  }
  pmap_activate(kernel_pmap());
}

void test_pv_remote() {
  if (arch_cpu_count() < 2) return report("pmap_page_protect_remote", true, "");
  PvRemote r{};
  r.pmap = pmap_create();
  VmPage* a = filled_page(0xaaaa);
  if (!r.pmap || !a) return report("pmap_page_protect_remote", false, "no memory");
  paddr_t pa = vm_page_to_phys(a);
  pmap_clear_modify(pa);
  pmap_clear_reference(pa);
  pmap_enter(r.pmap, kVa, pa, kProtRead | kProtWrite);
  Thread* t = kernel_thread_create("pmap-pv-test", pv_remote, &r, kBasePriSystem);
  t->bound_cpu = arch_cpu_id() == 0 ? 1 : 0;
  thread_start(t);
  bool alive = true;
  // Runs one access on the other CPU: whether it succeeded, and what it read.
  auto ask = [&](int cmd, uint64_t value, uint64_t* out = nullptr) {
    if (!alive) return false;
    r.value = value;
    r.ok = false;
    __atomic_store_n(&r.cmd, cmd, __ATOMIC_RELEASE);
    uint64_t end = arch_time_ns() + 2'000'000'000;
    while (__atomic_load_n(&r.cmd, __ATOMIC_ACQUIRE) != kCmdNone && arch_time_ns() < end)
      thread_yield();
    alive = __atomic_load_n(&r.cmd, __ATOMIC_ACQUIRE) == kCmdNone;
    if (out) *out = r.value;
    return alive && r.ok;
  };
  uint64_t v = 0;
  CHECK("pmap_pv_remote_read", ask(kCmdRead, 0, &v) && v == 0xaaaa);
  CHECK("pmap_pv_remote_write", ask(kCmdWrite, 0x5555) && pmap_is_modified(pa));
  // The other CPU's TLB now holds the translation with D set: unless clearing D shoots it
  // down, its next write sets nothing and the page looks clean while it is not.
  pmap_clear_modify(pa);
  bool cleared = !pmap_is_modified(pa);
  CHECK("pmap_clear_modify_remote", cleared && ask(kCmdWrite, 0x6666) && pmap_is_modified(pa));
  pmap_page_protect(pa, kProtRead);
  bool write_refused = alive && !ask(kCmdWrite, 0x7777);
  CHECK("pmap_page_protect_read_remote", write_refused && ask(kCmdRead, 0, &v) && v == 0x6666);
  pmap_page_protect(pa, kProtNone);
  bool read_refused = alive && !ask(kCmdRead, 0);
  CHECK("pmap_page_protect_none_remote", read_refused && !mapped(r.pmap, kVa));
  CHECK("pmap_page_protect_keeps_modify", pmap_is_modified(pa));
  CHECK("pmap_page_protect_keeps_data",
        *static_cast<volatile uint64_t*>(vm_page_to_virt(a)) == 0x6666);
  CHECK("pmap_pv_remote_answers", alive);
  if (!alive) return;  // the other CPU may still use the pmap: leave it and the page be
  __atomic_store_n(&r.cmd, kCmdExit, __ATOMIC_RELEASE);
  uint64_t end = arch_time_ns() + 1'000'000'000;
  while (__atomic_load_n(&r.pmap->cpus, __ATOMIC_ACQUIRE) & ~(1u << arch_cpu_id()) &&
         arch_time_ns() < end)
    thread_yield();
  pmap_destroy(r.pmap);
  vm_page_release(a);
}

// Both lock orders at once: the other CPU enters and removes mappings of a page (pmap lock,
// then the page's pv lock) while this one removes them all from the page's side (pv lock,
// then each pmap's) and shoots them down on the other CPU. A deadlock hangs the boot; a lost
// entry breaks the counts.
struct PvRace {
  Pmap* pmap;
  paddr_t pa;
  volatile bool started;
  volatile bool stop;
  volatile bool done;
  volatile bool enter_failed;
  volatile unsigned rounds;
};

constexpr unsigned kRaceRounds = 400;  // here; the other CPU goes on until these are done

void pv_race_remote(void* arg) {
  auto* r = static_cast<PvRace*>(arg);
  // Loaded here, so that the shootdowns of this CPU's pmap reach it while it spins for a lock.
  pmap_activate(r->pmap);
  r->started = true;
  unsigned i = 0;
  for (; !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE); ++i) {
    vaddr_t va = kVa + (i % 8) * P;
    if (!pmap_enter(r->pmap, va, r->pa, kProtRead | kProtWrite)) r->enter_failed = true;
    if (i % 3 == 0) pmap_remove(r->pmap, va, va + P);
    if (i % 5 == 0) pmap_protect(r->pmap, kVa, kVa + 8 * P, kProtRead);
  }
  r->rounds = i;
  pmap_activate(kernel_pmap());
  __atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
}

void test_pv_race() {
  if (arch_cpu_count() < 2) return report("pmap_pv_race", true, "");
  PvRace r{};
  r.pmap = pmap_create();
  Pmap* mine = pmap_create();
  VmPage* a = filled_page(3);
  if (!r.pmap || !mine || !a) return report("pmap_pv_race", false, "no memory");
  r.pa = vm_page_to_phys(a);
  size_t pv0 = pmap_pv_entries();
  Thread* t = kernel_thread_create("pmap-pv-race", pv_race_remote, &r, kBasePriSystem);
  t->bound_cpu = arch_cpu_id() == 0 ? 1 : 0;
  thread_start(t);
  uint64_t end = arch_time_ns() + 2'000'000'000;
  while (!r.started && arch_time_ns() < end) thread_yield();
  bool mine_ok = true;
  for (unsigned i = 0; r.started && i < kRaceRounds; ++i) {
    mine_ok = mine_ok && pmap_enter(mine, kVa + (i % 4) * P, r.pa, kProtRead);
    pmap_page_protect(r.pa, i % 2 ? kProtNone : kProtRead);
    pmap_is_modified(r.pa);
    pmap_clear_reference(r.pa);
  }
  __atomic_store_n(&r.stop, true, __ATOMIC_RELEASE);
  end = arch_time_ns() + 2'000'000'000;
  while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) && arch_time_ns() < end) thread_yield();
  bool done = __atomic_load_n(&r.done, __ATOMIC_ACQUIRE);
  klog("selftest: pv race, %u rounds here against %u there", kRaceRounds, r.rounds);
  CHECK("pmap_pv_race_finishes", r.started && done && r.rounds > 0);
  CHECK("pmap_pv_race_enters", !r.enter_failed && mine_ok);
  if (!done) return;  // the other CPU may still use the pmap: leave it and the page be
  // Whatever is left is still on the page's list: removing from the page's side empties both.
  pmap_page_protect(r.pa, kProtNone);
  CHECK("pmap_pv_race_counts", pmap_pv_entries() == pv0 && pmap_stats(r.pmap).mapped_pages == 0 &&
                                   pmap_stats(mine).mapped_pages == 0);
  pmap_destroy(r.pmap);
  pmap_destroy(mine);
  vm_page_release(a);
}

// With no free page anywhere, the pv zone cannot grow: pmap_enter must refuse a mapping that
// needs a new entry and change nothing, and still do what needs none.
void test_pv_shortage() {
  Pmap* p = pmap_create();
  VmPage* a = filled_page(1);
  VmPage* b = filled_page(2);
  if (!p || !a || !b) return report("pmap_pv_shortage", false, "no memory");
  paddr_t pa = vm_page_to_phys(a);
  paddr_t pb = vm_page_to_phys(b);
  constexpr unsigned kSlots = 1024;  // 4 MiB: two page tables
  // The page tables now, while there is memory: they stay after the remove.
  pmap_enter(p, kVa, pa, kProtRead);
  pmap_enter(p, kVa + kSlots / 2 * P, pa, kProtRead);
  pmap_remove(p, kVa, kVa + kSlots * P);
  size_t pv0 = pmap_pv_entries();

  IntrusiveList<VmPage, &VmPage::link> hoard;
  while (VmPage* g = vm_page_grab()) hoard.push_back(g);
  unsigned n = 0;
  while (n < kSlots && pmap_enter(p, kVa + n * P, pa, kProtRead)) ++n;
  bool refused = n < kSlots;
  bool untouched = refused && !mapped(p, kVa + n * P) && pmap_stats(p).mapped_pages == n &&
                   pmap_pv_entries() == pv0 + n;
  // New rights for the same page, and another managed page over a mapping, need no entry.
  bool same = n > 1 && pmap_enter(p, kVa, pa, kProtRead | kProtWrite);
  paddr_t got = 0;
  bool moved = n > 1 && pmap_enter(p, kVa + P, pb, kProtRead) &&
               pmap_extract(p, kVa + P, &got) && got == pb && pmap_pv_entries() == pv0 + n;
  while (VmPage* g = hoard.pop_front()) vm_page_release(g);

  CHECK("pmap_pv_shortage_refused", refused);
  CHECK("pmap_pv_shortage_nothing_half_done", untouched);
  CHECK("pmap_pv_shortage_moves_entries", same && moved);
  CHECK("pmap_pv_shortage_over", refused && pmap_enter(p, kVa + n * P, pa, kProtRead));
  pmap_page_protect(pb, kProtNone);
  CHECK("pmap_pv_moved_entry_on_new_page", !mapped(p, kVa + P) && mapped(p, kVa));
  pmap_destroy(p);  // with its mappings left
  CHECK("pmap_pv_freed_with_pmap", pmap_pv_entries() == pv0);
  vm_page_release(a);
  vm_page_release(b);
}

// A range as large as the user space with two pages in it, far apart: protecting and
// removing it costs a step per page table, not per page (2^35 of them), else this hangs.
void test_sparse_range() {
  Pmap* p = pmap_create();
  VmPage* a = filled_page(5);
  if (!p || !a) return report("pmap_sparse_range", false, "no memory");
  paddr_t pa = vm_page_to_phys(a);
  constexpr vaddr_t kFar = kVa + (1ull << 45);
  bool entered = pmap_enter(p, kVa, pa, kProtRead | kProtWrite) &&
                 pmap_enter(p, kFar, pa, kProtRead | kProtWrite);
  uint64_t t0 = arch_time_ns();
  pmap_protect(p, 0, kUserEnd, kProtRead);
  uint64_t t1 = arch_time_ns();
  pmap_activate(p);
  bool near_ro = !write_user(kVa, 1);
  bool far_ro = !write_user(kFar, 1);
  pmap_activate(kernel_pmap());
  CHECK("pmap_protect_sparse_range", entered && near_ro && far_ro && t1 - t0 < 1'000'000'000);
  t0 = arch_time_ns();
  pmap_remove(p, 0, kUserEnd);
  t1 = arch_time_ns();
  CHECK("pmap_remove_sparse_range", !mapped(p, kVa) && !mapped(p, kFar) &&
                                        pmap_stats(p).mapped_pages == 0 &&
                                        t1 - t0 < 1'000'000'000);
  pmap_destroy(p);
  vm_page_release(a);
}

// A range over three page tables, its ends inside the first and the last: exactly its pages
// change (the range operations take each table's entries in turn).
void test_range_bounds() {
  Pmap* p = pmap_create();
  VmPage* a = filled_page(6);
  if (!p || !a) return report("pmap_range_bounds", false, "no memory");
  paddr_t pa = vm_page_to_phys(a);
  constexpr vaddr_t M2 = 512 * P;
  constexpr vaddr_t kBase = 0x40000000;
  const vaddr_t at[] = {kBase + M2 - 2 * P, kBase + M2 - P,     kBase + M2,         kBase + M2 + P,
                        kBase + 2 * M2 - P, kBase + 2 * M2,     kBase + 2 * M2 + P, kBase + 3 * M2};
  const vaddr_t lo = kBase + M2 - P, hi = kBase + 2 * M2 + P;  // at[1] to at[5]
  bool entered = true;
  for (vaddr_t va : at) entered = entered && pmap_enter(p, va, pa, kProtRead | kProtWrite);
  pmap_protect(p, lo, hi, kProtRead);
  pmap_activate(p);
  bool protected_ok = true;
  for (vaddr_t va : at) {
    uint64_t v;
    bool inside = va >= lo && va < hi;
    protected_ok = protected_ok && read_user(va, &v) && write_user(va, 6) == !inside;
  }
  pmap_activate(kernel_pmap());
  CHECK("pmap_protect_range_bounds", entered && protected_ok);
  pmap_remove(p, lo, hi);
  bool removed_ok = pmap_stats(p).mapped_pages == 3;
  for (vaddr_t va : at) removed_ok = removed_ok && mapped(p, va) == !(va >= lo && va < hi);
  CHECK("pmap_remove_range_bounds", removed_ok);
  pmap_destroy(p);
  vm_page_release(a);
}

}  // namespace

void arch_selftest() {
  klog("selftest: start");
  test_enter_extract_remove();
  test_shootdown();
  test_pv_local();
  test_pv_remote();
  test_pv_race();
  test_pv_shortage();
  test_sparse_range();
  test_range_bounds();
  klog("%u passed, %u failed", passed, failed);
}
