// Zones: fixed-size element allocators fed by the page allocator.
#include "kern/zalloc.h"

#include "kern/assert.h"

namespace {

// The registry: every zone that has allocated once, newest first.
constinit SpinLock g_registry_lock;
constinit Zone* g_registry = nullptr;  // guarded by g_registry_lock

}  // namespace

void Zone::register_self() {
  IrqSpinGuard guard(g_registry_lock);
  if (registered_) return;
  registry_next_ = g_registry;
  g_registry = this;
  __atomic_store_n(&registered_, true, __ATOMIC_RELEASE);
}

void Zone::unregister_self() {
  IrqSpinGuard guard(g_registry_lock);
  if (!registered_) return;
  for (Zone** pp = &g_registry; *pp; pp = &(*pp)->registry_next_) {
    if (*pp == this) {
      *pp = registry_next_;
      break;
    }
  }
  registry_next_ = nullptr;
  __atomic_store_n(&registered_, false, __ATOMIC_RELEASE);
}

void zone_for_each(void (*fn)(Zone& zone, void* ctx), void* ctx) {
  IrqSpinGuard guard(g_registry_lock);
  for (Zone* z = g_registry; z; z = z->registry_next_) fn(*z, ctx);
}

bool Zone::grow_locked() {
  VmPage* head = vm_page_alloc(chunk_order_);
  if (!head) return false;
  // Mark every page of the chunk so free() can check any element's page cheaply.
  size_t npages = size_t{1} << chunk_order_;
  for (size_t i = 0; i < npages; ++i) {
    head[i].flags |= kVmPageZone;
    head[i].zone = this;
  }
  chunks_.push_back(head);

  // Thread the elements onto the free list in address order, so that consecutive
  // allocations from a fresh chunk are adjacent.
  char* base = static_cast<char*>(vm_page_to_virt(head));
  size_t n = chunk_bytes() / elem_size_;
  for (size_t i = n; i-- > 0;) {
    auto* e = reinterpret_cast<FreeElem*>(base + i * elem_size_);
    e->next = free_list_;
    free_list_ = e;
  }
  free_elems_ += n;
  return true;
}

void* Zone::alloc() {
  // Register before taking our lock: the registry lock comes first in the lock order.
  if (!__atomic_load_n(&registered_, __ATOMIC_ACQUIRE)) register_self();

  IrqSpinGuard guard(lock_);
  if ((max_elems_ != 0 && in_use_ >= max_elems_) || (!free_list_ && !grow_locked())) {
    ++alloc_failures_;
    return nullptr;
  }
  FreeElem* e = free_list_;
  free_list_ = e->next;
  --free_elems_;
  ++in_use_;
  return e;
}

void Zone::free(void* p) {
  if (!p) return;
  // Cheap ownership checks: the element lies in a page marked as ours, on an element
  // boundary of its chunk (chunks are naturally aligned buddy blocks).
  paddr_t pa = arch_virt_to_phys(p);
  VmPage* page = vm_page_from_phys(pa);
  kassert(page != nullptr);
  kassert((page->flags & kVmPageZone) != 0 && page->zone == this);
  kassert((pa & (chunk_bytes() - 1)) % elem_size_ == 0);
  kassert((pa & (chunk_bytes() - 1)) / elem_size_ < chunk_bytes() / elem_size_);

  IrqSpinGuard guard(lock_);
  kassert(in_use_ > 0);
  auto* e = static_cast<FreeElem*>(p);
  e->next = free_list_;
  free_list_ = e;
  ++free_elems_;
  --in_use_;
}

ZoneStats Zone::stats() const {
  IrqSpinGuard guard(lock_);
  return ZoneStats{name_,
                   elem_size_,
                   in_use_,
                   free_elems_,
                   chunks_.size() << chunk_order_,
                   max_elems_,
                   alloc_failures_};
}

void Zone::destroy() {
  unregister_self();
  IrqSpinGuard guard(lock_);
  kassert(in_use_ == 0);
  while (VmPage* head = chunks_.pop_front()) vm_page_free(head, chunk_order_);
  free_list_ = nullptr;
  free_elems_ = 0;
  alloc_failures_ = 0;
}
