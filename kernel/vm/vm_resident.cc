// The resident page table: the (object, offset) hash, the pageout queues and the VM counters.
#include "vm/vm_resident.h"

#include "kern/assert.h"
#include "kern/lock.h"
#include "lib/string.h"
#include "machine/pmap.h"
#include "vm/vm_object.h"
#include "vm/vm_pageout.h"

namespace {

// A fixed table: 16K buckets cover 64 MiB of resident data at one page per bucket, and chains
// stay short far beyond that. Sizing it from the memory size is a later refinement.
constexpr size_t kHashBuckets = 1u << 14;

using PageQueue = IntrusiveList<VmPage, &VmPage::link>;

// Guards the buckets, the queues and the gauges below.
constinit SpinLock g_lock;
constinit VmPage* g_buckets[kHashBuckets] = {};
constinit PageQueue g_active;
constinit PageQueue g_inactive;
constinit uint64_t g_resident = 0;
constinit uint64_t g_wired = 0;
constinit uint64_t g_laundry = 0;

// Event counters: updated with atomics, without the lock.
constinit VmCounters g_events = {};

size_t bucket_of(const VmObject* object, uint64_t offset) {
  uint64_t h = reinterpret_cast<uintptr_t>(object) >> 6;
  h ^= offset >> kPageShift;
  h *= 0x9e3779b97f4a7c15ull;
  return static_cast<size_t>(h >> 50) & (kHashBuckets - 1);
}

void dequeue_locked(VmPage* p) {
  if (p->vm_flags & kVmPageActive) g_active.remove(p);
  if (p->vm_flags & kVmPageInactive) g_inactive.remove(p);
  p->vm_flags &= static_cast<uint16_t>(~(kVmPageActive | kVmPageInactive));
}

void hash_insert_locked(VmPage* p) {
  VmPage*& head = g_buckets[bucket_of(p->object, p->offset)];
  p->hash_next = head;
  head = p;
}

void hash_remove_locked(VmPage* p) {
  VmPage** link = &g_buckets[bucket_of(p->object, p->offset)];
  while (*link != p) {
    kassert(*link != nullptr);
    link = &(*link)->hash_next;
  }
  *link = p->hash_next;
  p->hash_next = nullptr;
}

}  // namespace

void vm_resident_bootstrap() {
  IrqSpinGuard g(g_lock);
  for (auto& b : g_buckets) b = nullptr;
  g_active.reset();
  g_inactive.reset();
  g_resident = g_wired = g_laundry = 0;
  g_events = VmCounters{};
}

void vm_count(uint64_t VmCounters::*field, uint64_t n) {
  __atomic_fetch_add(&(g_events.*field), n, __ATOMIC_RELAXED);
}

VmCounters vm_counters() {
  VmCounters c;
  // Field by field: the event counters are atomics.
  uint64_t* dst = reinterpret_cast<uint64_t*>(&c);
  const uint64_t* src = reinterpret_cast<const uint64_t*>(&g_events);
  for (size_t i = 0; i < sizeof(VmCounters) / sizeof(uint64_t); ++i)
    dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
  IrqSpinGuard g(g_lock);
  c.resident_count = g_resident;
  c.active_count = g_active.size();
  c.inactive_count = g_inactive.size();
  c.wire_count = g_wired;
  return c;
}

VmPage* vm_page_lookup(VmObject* object, uint64_t offset) {
  vm_count(&VmCounters::lookups);
  IrqSpinGuard g(g_lock);
  for (VmPage* p = g_buckets[bucket_of(object, offset)]; p; p = p->hash_next) {
    if (p->object == object && p->offset == offset) {
      __atomic_fetch_add(&g_events.hits, 1, __ATOMIC_RELAXED);
      return p;
    }
  }
  return nullptr;
}

VmPage* vm_page_alloc_for(VmObject* object, uint64_t offset) {
  if (!vm_page_may_allocate()) return nullptr;  // the reserve is for pageout
  VmPage* p = vm_page_grab();
  if (!p) return nullptr;
  vm_page_insert(p, object, offset);
  return p;
}

void vm_page_insert(VmPage* p, VmObject* object, uint64_t offset) {
  // New data: whatever the page held before was written or used, this is not.
  pmap_page_reset(vm_page_to_phys(p));
  p->object = object;
  p->offset = offset;
  p->wire_count = 0;
  p->vm_flags = kVmPageTabled | kVmPageActive;
  object->memq.push_back(p);
  ++object->resident_page_count;
  IrqSpinGuard g(g_lock);
  hash_insert_locked(p);
  g_active.push_back(p);
  ++g_resident;
}

void vm_page_free_tabled(VmPage* p) {
  kassert(p->vm_flags & kVmPageTabled);
  VmObject* object = p->object;
  object->memq.remove(p);
  --object->resident_page_count;
  {
    IrqSpinGuard g(g_lock);
    hash_remove_locked(p);
    dequeue_locked(p);
    if (p->wire_count > 0) --g_wired;
    --g_resident;
    if (p->vm_flags & kVmPageLaundry) --g_laundry;
  }
  if (p->vm_flags & kVmPageLaundry) vm_pageout_laundry_done();
  p->vm_flags = 0;
  p->listq = QueueLink{};
  p->object = nullptr;
  p->offset = 0;
  p->wire_count = 0;
  vm_page_release(p);
}

void vm_page_set_laundry(VmPage* p) {
  kassert(p->vm_flags & kVmPageTabled);
  if (p->vm_flags & kVmPageLaundry) return;
  p->vm_flags |= kVmPageLaundry;
  IrqSpinGuard g(g_lock);
  ++g_laundry;
}

size_t vm_page_laundry_count() { return __atomic_load_n(&g_laundry, __ATOMIC_RELAXED); }

void vm_page_rename(VmPage* p, VmObject* new_object, uint64_t new_offset) {
  VmObject* old = p->object;
  old->memq.remove(p);
  --old->resident_page_count;
  new_object->memq.push_back(p);
  ++new_object->resident_page_count;
  IrqSpinGuard g(g_lock);
  hash_remove_locked(p);
  p->object = new_object;
  p->offset = new_offset;
  hash_insert_locked(p);
}

void vm_page_wire(VmPage* p) {
  IrqSpinGuard g(g_lock);
  if (p->wire_count++ == 0) {
    dequeue_locked(p);
    ++g_wired;
  }
}

void vm_page_unwire(VmPage* p) {
  IrqSpinGuard g(g_lock);
  kassert(p->wire_count > 0);
  if (--p->wire_count == 0) {
    --g_wired;
    g_active.push_back(p);
    p->vm_flags |= kVmPageActive;
  }
}

void vm_page_activate(VmPage* p) {
  IrqSpinGuard g(g_lock);
  if (p->wire_count > 0) return;
  if (p->vm_flags & kVmPageInactive) __atomic_fetch_add(&g_events.reactivations, 1, __ATOMIC_RELAXED);
  dequeue_locked(p);
  g_active.push_back(p);
  p->vm_flags |= kVmPageActive;
}

void vm_page_deactivate(VmPage* p) {
  IrqSpinGuard g(g_lock);
  if (p->wire_count > 0) return;
  dequeue_locked(p);
  g_inactive.push_back(p);
  p->vm_flags |= kVmPageInactive;
}

void vm_page_zero_fill(VmPage* p) { memset(vm_page_to_virt(p), 0, kPageSize); }

void vm_page_copy(VmPage* src, VmPage* dst) {
  memcpy(vm_page_to_virt(dst), vm_page_to_virt(src), kPageSize);
}

VmPage* vm_resident_inactive_try_lock(VmObject** object) {
  SpinGuard g(g_lock);
  // A page on a queue is tabled in its object, which cannot be freed before the page is:
  // freeing takes this lock. So the object may be try-locked from here (a try, because the
  // object's lock comes first in the lock order).
  for (size_t n = g_inactive.size(); n > 0; --n) {
    VmPage* p = g_inactive.front();
    VmObject* o = p->object;
    if (!(p->vm_flags & (kVmPageBusy | kVmPageAbsent)) && p->wire_count == 0 &&
        o->lock.try_lock()) {
      *object = o;
      return p;
    }
    // Busy, wired or its object in use: look again later.
    g_inactive.remove(p);
    g_inactive.push_back(p);
  }
  return nullptr;
}

void vm_resident_balance_queues() {
  IrqSpinGuard g(g_lock);
  while (g_inactive.size() * 3 < g_active.size() + g_inactive.size()) {
    VmPage* p = g_active.pop_front();
    if (!p) break;
    p->vm_flags &= static_cast<uint16_t>(~kVmPageActive);
    g_inactive.push_back(p);
    p->vm_flags |= kVmPageInactive;
  }
}
