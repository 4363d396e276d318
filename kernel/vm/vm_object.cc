// Memory objects: allocation, references, shadows, collapse and bypass, eager copies.
#include "vm/vm_object.h"

#include "kern/assert.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "vm/vm_pageout.h"
#include "vm/vm_pager.h"
#include "vm/vm_resident.h"

namespace {

constinit TypedZone<VmObject> g_object_zone("vm_object", 0);

uint64_t pages_of(uint64_t bytes) { return bytes / kPageSize; }

// Frees the object's pages, unlinks it from its backing object and frees the structure.
// Returns the backing object, whose reference the caller must drop. The object is dead:
// nobody else can reach it.
VmObject* terminate(VmObject* object) {
  VmObject* backing;
  {
    IrqSpinGuard g(object->lock);
    kassert(object->shadowers.empty());
    while (VmPage* p = object->memq.front()) vm_page_free_tabled(p);
    if (object->existence) {
      vm_page_free(vm_page_from_phys(arch_virt_to_phys(object->existence)),
                   object->existence_order);
      object->existence = nullptr;
    }
    backing = object->shadow;
    object->shadow = nullptr;
    if (backing) {
      // Front before back: this order is the lock order.
      SpinGuard bg(backing->lock);
      backing->shadowers.remove(object);
    }
  }
  object->~VmObject();
  g_object_zone.free(object);
  vm_count(&VmCounters::objects_alive, static_cast<uint64_t>(-1));
  return backing;
}

// True when `backing` may be merged into `front`: its only reference is front's. Both
// objects' locks are held.
bool can_collapse_locked(VmObject* front, VmObject* backing) {
  return front->shadow == backing && !front->terminating && backing->ref_count == 1 &&
         backing->shadowers.size() == 1 && backing->pager == nullptr &&
         backing->paging_in_progress == 0 && front->paging_in_progress == 0;
}

// Collapse: moves backing's pages into front (those front already has, or that lie outside
// front's window, are freed: nothing maps them) and splices backing out of the chain. Both
// locks are held. Costs backing's resident pages, once in backing's life. Afterwards backing
// holds nothing and must be freed by the caller once its lock is dropped (terminate()).
void collapse_locked(VmObject* front, VmObject* backing) {
  uint64_t window_start = front->shadow_offset;
  uint64_t window_end = front->shadow_offset + front->size;
  while (VmPage* p = backing->memq.front()) {
    kassert(p->wire_count == 0 && !(p->vm_flags & kVmPageBusy));
    if (p->offset < window_start || p->offset >= window_end) {
      vm_page_free_tabled(p);
      vm_count(&VmCounters::collapse_pages_freed);
      continue;
    }
    uint64_t off = p->offset - window_start;
    if (vm_page_lookup(front, off) != nullptr) {
      // The shadow's own copy wins; this page was hidden and is mapped nowhere.
      vm_page_free_tabled(p);
      vm_count(&VmCounters::collapse_pages_freed);
    } else {
      vm_page_rename(p, front, off);
      vm_count(&VmCounters::collapse_pages_moved);
    }
  }
  // Splice: front now shadows backing's own backing object, inheriting its reference.
  VmObject* next = backing->shadow;
  backing->shadowers.remove(front);
  front->shadow = next;
  front->shadow_offset += backing->shadow_offset;
  if (next) {
    SpinGuard ng(next->lock);
    next->shadowers.remove(backing);
    next->shadowers.push_back(front);
  }
  backing->shadow = nullptr;
  backing->ref_count = 0;
  backing->terminating = true;
  vm_count(&VmCounters::collapses);
}

// From vm_object_deallocate, with backing's lock held: its shadow comes first in the lock
// order, so it is only try-locked; when it is busy the collapse is left to that shadow's next
// fault (vm_object_collapse_chain). Returns true when backing is dead.
bool try_collapse_locked(VmObject* backing) {
  VmObject* front = backing->shadowers.front();
  if (!front->lock.try_lock()) return false;
  bool ok = can_collapse_locked(front, backing);
  if (ok) collapse_locked(front, backing);
  front->lock.unlock();
  return ok;
}

}  // namespace

void vm_object_free_dead(VmObject* object) { vm_object_deallocate(terminate(object)); }

void vm_object_bootstrap() {}

void vm_object_zone_destroy() { g_object_zone.destroy(); }

VmObject* vm_object_allocate(uint64_t size) {
  VmObject* o = g_object_zone.alloc();
  if (!o) return nullptr;
  new (o) VmObject();
  o->size = round_page(size);
  vm_count(&VmCounters::objects_alive);
  return o;
}

void vm_object_reference(VmObject* object) {
  IrqSpinGuard g(object->lock);
  kassert(object->ref_count > 0);
  ++object->ref_count;
}

void vm_object_deallocate(VmObject* object) {
  while (object) {
    {
      IrqSpinGuard g(object->lock);
      kassert(object->ref_count > 0);
      if (--object->ref_count > 0) {
        bool dead = object->ref_count == 1 && object->shadowers.size() == 1 &&
                    try_collapse_locked(object);
        if (!dead) return;
      } else {
        object->terminating = true;
        if (object->pager) {
          // Its data goes back to the pager first, from a thread that may send messages.
          vm_pager_object_dying(object);
          return;
        }
      }
    }
    // Dead, by termination or collapse: free it and drop what it held on its backing object
    // (after a collapse it holds nothing).
    object = terminate(object);
  }
}

kern_return_t vm_object_shadow(VmObject** object, uint64_t* offset, uint64_t length) {
  VmObject* s = vm_object_allocate(length);
  if (!s) return KERN_RESOURCE_SHORTAGE;
  VmObject* backing = *object;
  s->shadow = backing;  // the caller's reference moves to the shadow
  s->shadow_offset = *offset;
  if (backing) {
    IrqSpinGuard g(backing->lock);
    backing->shadowers.push_back(s);
  }
  *object = s;
  *offset = 0;
  return KERN_SUCCESS;
}

void vm_object_collapse_chain(VmObject* object) {
  while (true) {
    VmObject* dead = nullptr;
    {
      IrqSpinGuard g(object->lock);
      VmObject* backing = object->shadow;
      if (!backing) return;
      SpinGuard bg(backing->lock);
      if (!can_collapse_locked(object, backing)) return;
      collapse_locked(object, backing);
      dead = backing;
    }
    VmObject* rest = terminate(dead);  // a collapsed object holds nothing
    kassert(rest == nullptr);
  }
}

void vm_object_try_bypass(VmObject* object) {
  VmObject* backing;
  {
    IrqSpinGuard g(object->lock);
    backing = object->shadow;
    if (!backing || object->resident_page_count != pages_of(object->size)) return;
    SpinGuard bg(backing->lock);
    backing->shadowers.remove(object);
    object->shadow = nullptr;
    object->shadow_offset = 0;
  }
  vm_count(&VmCounters::bypasses);
  vm_object_deallocate(backing);
}

VmObject* vm_object_copy_slowly(VmObject* src, uint64_t offset, uint64_t size) {
  VmObject* dst = vm_object_allocate(size);
  if (!dst) return nullptr;
  bool ok = true;
  for (uint64_t off = 0; ok && off < dst->size; off += kPageSize) {
    VmChainWalk walk(src);
    VmPage* p = walk.find(offset + off);
    if (!p) continue;
    // dst is reachable by no one else yet; its lock comes last, after src's chain.
    SpinGuard dg(dst->lock);
    VmPage* np = vm_page_alloc_for(dst, off);
    if (!np) {
      ok = false;
      continue;
    }
    vm_page_copy(p, np);
    vm_count(&VmCounters::page_copies);
  }
  if (!ok) {
    vm_object_deallocate(dst);
    return nullptr;
  }
  return dst;
}

void vm_object_set_shared(VmObject* object) {
  IrqSpinGuard g(object->lock);
  object->shared = true;
}

size_t vm_object_chain_length(VmObject* object) {
  // For tests and statistics, on a chain nobody is changing: each lock is taken in turn.
  size_t n = 0;
  for (VmObject* o = object; o;) {
    ++n;
    IrqSpinGuard g(o->lock);
    o = o->shadow;
  }
  return n;
}

VmObject* vm_object_page_owner(VmObject* object, uint64_t offset, uint64_t* offset_in_owner) {
  VmChainWalk walk(object);
  VmPage* p = walk.find(offset);
  if (!p) return nullptr;
  *offset_in_owner = p->offset;
  return walk.owner();
}

// --- VmChainWalk ---------------------------------------------------------------------------

VmChainWalk::VmChainWalk(VmObject* top) : top_(top), owner_(top), irq_(arch_irq_disable()) {
  top_->lock.lock();
}

VmChainWalk::~VmChainWalk() {
  drop_lower();
  top_->lock.unlock();
  arch_irq_restore(irq_);
}

void VmChainWalk::drop_lower() {
  if (owner_ != top_) owner_->lock.unlock();
  owner_ = top_;
  at_pager_ = false;
}

VmPage* VmChainWalk::find(uint64_t offset) {
  drop_lower();
  VmObject* o = top_;
  uint64_t off = offset;
  while (true) {
    if (off < o->size) {
      VmPage* p = vm_page_lookup(o, off);
      if (p) {
        owner_ = o;
        return p;
      }
    } else {
      break;
    }
    if (o->pager && (!o->internal || vm_object_existence_test(o, off))) {
      // The pager has the page; its object stays locked for the caller to ask for it. (The
      // default pager has only the pages an anonymous object paged out.)
      owner_ = o;
      at_pager_ = true;
      pager_offset_ = off;
      return nullptr;
    }
    VmObject* next = o->shadow;
    if (!next) break;
    off += o->shadow_offset;
    // Hand over hand below the top: lock the next object before letting go of this one.
    next->lock.lock();
    if (o != top_) o->lock.unlock();
    o = next;
  }
  if (o != top_) o->lock.unlock();
  owner_ = top_;
  return nullptr;
}
