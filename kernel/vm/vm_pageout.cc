// The pageout daemon and the reserved pool (vm_pageout.h).
#include "vm/vm_pageout.h"

#include <mach/vm_prot.h>

#include "kern/assert.h"
#include "kern/lock.h"
#include "kern/sched.h"
#include "kern/thread.h"
#include "lib/string.h"
#include "machine/cpu.h"
#include "machine/pmap.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_pager.h"
#include "vm/vm_resident.h"

namespace {

char g_pageout_event;  // the daemon waits on it
char g_free_event;     // faults waiting for memory wait on it
const Thread* g_daemon;
uint64_t g_last_progress_ns;  // when a page was last freed or sent by the daemon, or laundered

void note_progress() { __atomic_store_n(&g_last_progress_ns, arch_time_ns(), __ATOMIC_RELAXED); }

}  // namespace

bool vm_page_privileged() {
  const Thread* t = current_thread();
  return t && (t == g_daemon || (t->task && t->task == vm_pager_default_task()));
}

bool vm_page_may_allocate() {
  size_t free = vm_page_free_count();
  if (free < kVmPageFreeMin) thread_wakeup(&g_pageout_event);
  return free >= kVmPageReserve || vm_page_privileged();
}

bool vm_page_wait_worthwhile(uint64_t since) {
  uint64_t last = __atomic_load_n(&g_last_progress_ns, __ATOMIC_RELAXED);
  if (last < since) last = since;
  return arch_time_ns() - last < kVmPageWaitBoundNs;
}

void vm_page_wait(uint64_t deadline) {
  uint64_t now = arch_time_ns();
  if (now >= deadline) return;
  // Bounded steps, so that memory freed by someone else than the daemon is seen too.
  uint64_t step = 100'000'000;
  assert_wait(&g_free_event, deadline - now < step ? deadline - now : step);
  thread_wakeup(&g_pageout_event);
  thread_block();
}

bool vm_object_existence_test(const VmObject* o, uint64_t offset) {
  uint64_t page = offset / kPageSize;
  if (!o->existence || page >= (kPageSize << o->existence_order) * 8) return false;
  return o->existence[page / 8] & (1u << (page % 8));
}

namespace {

// Marks the page at `offset` as held by the default pager; false on memory shortage (the
// page then stays). Object locked.
bool existence_set(VmObject* o, uint64_t offset) {
  uint64_t page = offset / kPageSize;
  if (!o->existence) {
    uint64_t bytes = (o->size / kPageSize + 7) / 8;
    unsigned order = 0;
    while ((kPageSize << order) < bytes) ++order;
    VmPage* m = vm_page_alloc(order);
    if (!m) return false;
    o->existence = static_cast<uint8_t*>(vm_page_to_virt(m));
    o->existence_order = static_cast<uint8_t>(order);
    memset(o->existence, 0, kPageSize << order);
  }
  kassert(page < (kPageSize << o->existence_order) * 8);
  o->existence[page / 8] |= static_cast<uint8_t>(1u << (page % 8));
  return true;
}

enum class Outcome { kKept, kFreed, kSent, kNeedsPager };

// Deals with page `p` of `o` (both locked by the caller, p neither busy nor wired): second
// chance, drop, or move its data, and that of up to kVmPageoutCluster - 1 pages after it,
// into *copy for data_return (*npages pages; only if `may_send`: otherwise a page to send goes
// back to the inactive queue's tail). Its mappings are all gone unless it is kept.
Outcome page_out_locked(VmObject* o, VmPage* p, bool may_send, VmMapCopy** copy,
                        bool* dirty_out, size_t* npages) {
  paddr_t pa = vm_page_to_phys(p);
  if (pmap_is_referenced(pa)) {
    pmap_clear_reference(pa);
    vm_page_activate(p);
    return Outcome::kKept;
  }
  bool external = o->pager && !o->internal;
  if (o->no_pageout) {
    vm_page_activate(p);
    return Outcome::kKept;
  }
  // Anonymous memory needs the default pager; shared anonymous memory stays (eager copies of
  // it read resident pages only: vm_object_copy_slowly).
  if (!external && (o->shared || !vm_pager_default_task())) {
    vm_page_activate(p);
    return Outcome::kKept;
  }
  if (external && o->pager_dead) {
    vm_page_activate(p);
    return Outcome::kKept;
  }
  if (!o->pager) return Outcome::kNeedsPager;
  auto must_send = [&] {
    return (p->vm_flags & (kVmPageDirty | kVmPagePrecious)) || pmap_is_modified(pa) ||
           (o->internal && !vm_object_existence_test(o, p->offset));
  };
  if (!may_send && must_send()) {
    vm_page_deactivate(p);
    return Outcome::kKept;
  }
  pmap_page_protect(pa, kProtNone);
  bool dirty = (p->vm_flags & kVmPageDirty) || pmap_is_modified(pa) ||
               (o->internal && !vm_object_existence_test(o, p->offset));
  if (!dirty && !(p->vm_flags & kVmPagePrecious)) {
    vm_page_free_tabled(p);
    return Outcome::kFreed;
  }
  if (!may_send) {  // written to since must_send looked: it stays, unmapped
    vm_page_deactivate(p);
    return Outcome::kKept;
  }
  if (o->internal && !existence_set(o, p->offset)) {
    vm_page_activate(p);
    return Outcome::kKept;
  }
  // A cluster: the pages that follow, unreferenced and dirty too, go in the same message, so
  // that the pager can write them at once (the default pager, into consecutive blocks).
  VmPage* run[kVmPageoutCluster] = {p};
  size_t n = 1;
  while (n < kVmPageoutCluster && vm_page_laundry_count() + n < kVmPageLaundryMax) {
    VmPage* q = vm_page_lookup(o, p->offset + n * kPageSize);
    constexpr uint16_t kSkip = kVmPageBusy | kVmPageAbsent | kVmPageError | kVmPageLaundry;
    // Inactive neighbours only; their second chance is forgone: a stream written once
    // leaves every page referenced, and the cluster would never grow otherwise.
    if (!q || !(q->vm_flags & kVmPageInactive) || (q->vm_flags & kSkip) || q->wire_count > 0)
      break;
    paddr_t qa = vm_page_to_phys(q);
    pmap_page_protect(qa, kProtNone);
    pmap_clear_reference(qa);
    bool q_dirty = (q->vm_flags & kVmPageDirty) || pmap_is_modified(qa) ||
                   (o->internal && !vm_object_existence_test(o, q->offset));
    if (!q_dirty && !(q->vm_flags & kVmPagePrecious)) break;  // left unmapped: it faults back
    if (o->internal && !existence_set(o, q->offset)) break;
    dirty |= q_dirty;
    run[n++] = q;
  }
  for (size_t i = 0; i < n; ++i) pmap_clear_modify(vm_page_to_phys(run[i]));
  *dirty_out = dirty;
  *copy = vm_map_copy_from_pages(run, n);
  if (!*copy) {
    for (size_t i = 0; i < n; ++i) {
      run[i]->vm_flags |= kVmPageDirty;  // the modify bits are clear: keep what they said
      vm_page_activate(run[i]);
    }
    return Outcome::kKept;
  }
  *npages = n;
  return Outcome::kSent;
}

}  // namespace

size_t vm_pageout_scan(size_t batch) {
  vm_resident_balance_queues();
  size_t done = 0;
  for (size_t looked = 0; looked < batch; ++looked) {
    VmMapCopy* copy = nullptr;
    bool dirty = false;
    size_t npages = 0;
    uint64_t offset;
    Port* pager = nullptr;
    Port* control = nullptr;
    VmObject* o;
    Outcome out;
    {
      IrqState irq = arch_irq_disable();
      VmPage* p = vm_resident_inactive_try_lock(&o);
      if (!p) {
        arch_irq_restore(irq);
        break;
      }
      // o is locked and holds p.
      offset = p->offset;
      bool may_send = vm_page_laundry_count() < kVmPageLaundryMax;
      out = page_out_locked(o, p, may_send, &copy, &dirty, &npages);
      if (out == Outcome::kSent) {
        // Faults that would ask the pager for this page wait until the data is on its way.
        ++o->paging_in_progress;
        pager = o->pager;
        control = o->pager_control;
      }
      if (out == Outcome::kSent || out == Outcome::kNeedsPager) ++o->ref_count;
      o->lock.unlock();
      arch_irq_restore(irq);
    }
    switch (out) {
      case Outcome::kKept:
        break;
      case Outcome::kFreed:
        ++done;
        break;
      case Outcome::kNeedsPager:
        vm_pager_bind_default(o);  // a later pass sends the page
        vm_object_deallocate(o);
        break;
      case Outcome::kSent:
        vm_count(&VmCounters::pageouts, npages);
        pager_send_data_return(pager, control, offset, copy, npages * kPageSize, dirty, false);
        {
          IrqSpinGuard g(o->lock);
          --o->paging_in_progress;
        }
        thread_wakeup(o);
        vm_object_deallocate(o);
        done += npages;
        break;
    }
  }
  if (done) {
    note_progress();
    thread_wakeup(&g_free_event);
  }
  return done;
}

void vm_pageout_laundry_done() {
  note_progress();
  if (vm_page_laundry_count() + 1 >= kVmPageLaundryMax) thread_wakeup(&g_pageout_event);
}

void vm_pageout_thread(void*) {
  g_daemon = current_thread();
  while (true) {
    if (vm_page_free_count() >= kVmPageFreeTarget) {
      assert_wait(&g_pageout_event, 1'000'000'000);
      thread_block();
      continue;
    }
    if (vm_pageout_scan(64) == 0) {
      // Nothing could go (everything referenced, or no default pager): let time pass.
      thread_wakeup(&g_free_event);
      assert_wait(&g_pageout_event, 20'000'000);
      thread_block();
    }
  }
}
