// Page faults and wiring.
#include "vm/vm_fault.h"

#include "kern/assert.h"
#include "kern/lock.h"
#include "kern/sched.h"
#include "kern/thread.h"
#include "machine/cpu.h"
#include "machine/pmap.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_pageout.h"
#include "vm/vm_pager.h"
#include "vm/vm_resident.h"

namespace {

// Internal results of fault_page (never returned to callers of vm_fault): drop every lock,
// then wait (assert_wait is done: block), or send the pager a request, and try again.
constexpr kern_return_t kFaultWait = -1;
constexpr kern_return_t kFaultRequestData = -2;
constexpr kern_return_t kFaultRequestUnlock = -3;
constexpr kern_return_t kFaultNoMemory = -4;  // (vm_fault only) wait for free pages

// What the caller of fault_page does once its locks are gone: the object it waits on or
// sends a request for (with a reference), and when it stops waiting.
struct FaultWork {
  bool may_wait = false;   // the caller can drop its locks and wait (vm_fault)
  uint64_t deadline = 0;   // arch_time_ns() value after which a wait for a pager fails
  bool unbounded = false;  // the wait is on the default pager, which is trusted: no deadline
  VmObject* object = nullptr;
  uint64_t offset = 0;
  uint64_t length = 0;  // of a data request
  vm_prot_t access = VM_PROT_NONE;
};

// Waits on `object` (locked) until the deadline; the caller blocks once its locks are gone.
kern_return_t wait_on(VmObject* object, uint64_t offset, FaultWork* w) {
  if (!w->may_wait) return KERN_MEMORY_ERROR;
  // The default pager may be slow (a disk, a loaded machine) but is never hostile: as in GNU
  // Mach, a fault on its objects waits for it; the wait is cut into steps only to look again.
  w->unbounded = object->internal;
  uint64_t now = arch_time_ns();
  if (!w->unbounded && now >= w->deadline) return KERN_MEMORY_ERROR;
  ++object->ref_count;
  w->object = object;
  w->offset = offset;
  assert_wait(object, w->unbounded ? kPagerReplyBoundNs / 10 : w->deadline - now);
  return kFaultWait;
}

// A thread told to end (task_terminate, thread_terminate) waits no more: thread_block returns
// at once for it, so retrying the fault would spin until the bound (without end on the
// default pager, or while paging makes progress).
bool told_to_end() {
  const Thread* self = current_thread();  // nullptr on the host: no threads there
  return self && __atomic_load_n(&self->terminate_requested, __ATOMIC_ACQUIRE) && !self->dying;
}

// Makes the entry's object its own before it is written: untouched memory gets an object,
// and a copy-on-write entry either takes its object over (nobody else refers to it any more)
// or puts a new shadow object in front of it. Constant time.
kern_return_t prepare_entry(VmMapEntry* e, bool for_write) {
  if (!e->object) {
    e->object = vm_object_allocate(e->size());
    if (!e->object) return KERN_RESOURCE_SHORTAGE;
    e->offset = 0;
    e->needs_copy = false;
    return KERN_SUCCESS;
  }
  if (!for_write || !e->needs_copy) return KERN_SUCCESS;
  bool alone;
  {
    // With the map locked, a reference count of 1 is this entry's and cannot grow: other
    // references come from entries of maps that refer to the object already.
    IrqSpinGuard g(e->object->lock);
    alone = e->object->ref_count == 1 && !e->object->shared;
  }
  if (!alone) {
    kern_return_t kr = vm_object_shadow(&e->object, &e->offset, e->size());
    if (kr != KERN_SUCCESS) return kr;
  }
  e->needs_copy = false;
  return KERN_SUCCESS;
}

}  // namespace

namespace {

// The fault on page `va` of entry `e`, map locked. See FaultWork for the internal results.
kern_return_t fault_page(VmMap* map, VmMapEntry* e, vaddr_t va, vm_prot_t fault_type, bool wire,
                         VmPage** page_out, FaultWork* w) {
  vm_count(&VmCounters::faults);
  // A write, or a wiring, needs the page in the entry's own object.
  bool own_page = (fault_type & VM_PROT_WRITE) || wire;
  kern_return_t kr = prepare_entry(e, own_page);
  if (kr != KERN_SUCCESS) return kr;
  VmObject* top = e->object;
  // Catch up on a collapse skipped under contention (constant time when there is none).
  vm_object_collapse_chain(top);
  uint64_t offset = e->offset + (va - e->start);
  bool copied = false;
  {
    VmChainWalk walk(top);
    VmPage* p = walk.find(offset);
    if (p && (p->vm_flags & kVmPageError)) {
      // The pager answered data_error: this fault fails, the next one asks again.
      vm_page_free_tabled(p);
      return KERN_MEMORY_ERROR;
    }
    if (p && (p->vm_flags & kVmPageBusy)) return wait_on(walk.owner(), p->offset, w);
    if (!p && walk.pager_owner()) {
      // The pager has the page: ask for it, then wait for the answer.
      VmObject* po = walk.pager_owner();
      uint64_t poff = walk.pager_offset();
      if (po->pager_dead) return KERN_MEMORY_ERROR;
      // Not ready, or the pageout daemon is sending it data: a request now could overtake it.
      if (!po->pager_ready || po->paging_in_progress) return wait_on(po, poff, w);
      if (!w->may_wait) return KERN_MEMORY_ERROR;
      VmPage* placeholder = vm_page_alloc_for(po, poff);
      if (!placeholder) return KERN_RESOURCE_SHORTAGE;
      placeholder->vm_flags |= kVmPageBusy | kVmPageAbsent;
      // Read ahead: ask for the following pages of the mapping the object does not hold
      // either. They come as a prefetch; a fault on one of them before they arrive asks
      // again, and the answer that comes second is ignored.
      uint64_t cluster = 1;
      uint64_t left = (e->end - va) / kPageSize;
      while (cluster < kPagerCluster && cluster < left &&
             !vm_page_lookup(po, poff + cluster * kPageSize))
        ++cluster;
      ++po->ref_count;
      w->object = po;
      w->offset = poff;
      w->length = cluster * kPageSize;
      w->access = fault_type & (VM_PROT_READ | VM_PROT_WRITE);
      return kFaultRequestData;
    }
    if (p && walk.owner()->pager) {
      // Accesses the pager has locked need its unlock first.
      unsigned locked = vm_page_locked(p) & fault_type;
      if (own_page && walk.owner() == top) locked |= vm_page_locked(p) & VM_PROT_WRITE;
      if (locked) {
        if ((vm_page_unlock_asked(p) & locked) == locked) return wait_on(walk.owner(), p->offset, w);
        if (!w->may_wait) return KERN_MEMORY_ERROR;
        p->vm_flags |= static_cast<uint16_t>(locked << kVmPageUnlockShift);
        ++walk.owner()->ref_count;
        w->object = walk.owner();
        w->offset = p->offset;
        w->access = locked;
        return kFaultRequestUnlock;
      }
    }
    vm_prot_t prot = e->protection;
    VmPage* m;
    if (!p) {
      // No object of the chain has the page, and no pager: zero fill, in the entry's own
      // object whatever the access.
      m = vm_page_alloc_for(top, offset);
      if (!m) return KERN_RESOURCE_SHORTAGE;
      vm_page_zero_fill(m);
      vm_count(&VmCounters::zero_fill_count);
    } else if (walk.owner() == top) {
      m = p;
      vm_page_activate(m);
    } else if (own_page || top->shared) {
      // Copy-on-write: push a copy of the backing page into the entry's object. Shared
      // objects take the copy on reads too (vm_object.h).
      m = vm_page_alloc_for(top, offset);
      if (!m) return KERN_RESOURCE_SHORTAGE;
      vm_page_copy(p, m);
      vm_count(&VmCounters::cow_faults);
      vm_count(&VmCounters::page_copies);
      copied = true;
    } else {
      // Read from a backing object: never writable through this mapping.
      m = p;
      prot &= ~VM_PROT_WRITE;
      vm_page_activate(m);
    }
    if (e->needs_copy) prot &= ~VM_PROT_WRITE;
    if (m->object->pager) {
      // A pager's page: never more than the pager allows. It is writable only after a write
      // fault, which marks it dirty, so that clean pages are never sent back.
      prot &= ~static_cast<vm_prot_t>(vm_page_locked(m));
      if (!(fault_type & VM_PROT_WRITE)) prot &= ~VM_PROT_WRITE;
      if (prot & VM_PROT_WRITE) m->vm_flags |= kVmPageDirty;
    }
    // The page's owner is locked, so it cannot be freed before the pmap holds it.
    if (!pmap_enter(map->pmap, va, vm_page_to_phys(m), static_cast<unsigned>(prot)))
      return KERN_RESOURCE_SHORTAGE;
    if (wire) vm_page_wire(m);
    if (page_out) *page_out = m;
  }
  // A shadow that now holds every page needs its backing object no more.
  if (copied) vm_object_try_bypass(top);
  return KERN_SUCCESS;
}

}  // namespace

kern_return_t vm_fault_entry_locked(VmMap* map, VmMapEntry* e, vaddr_t va,
                                    vm_prot_t fault_type, bool wire, VmPage** page_out) {
  // With the map locked nobody can wait for a pager (the pager may need this map): a page
  // a pager has yet to supply fails the caller.
  FaultWork w;
  return fault_page(map, e, va, fault_type, wire, page_out, &w);
}

kern_return_t vm_fault(VmMap* map, vaddr_t addr, vm_prot_t fault_type, bool change_wiring) {
  vaddr_t va = trunc_page(addr);
  FaultWork w;
  w.may_wait = true;
  w.deadline = arch_time_ns() + kPagerReplyBoundNs;
  uint64_t memory_wait_since = arch_time_ns();
  while (true) {
    kern_return_t kr;
    {
      IrqSpinGuard g(map->lock);
      VmMapEntry* e;
      if (!vm_map_lookup_entry_locked(map, va, &e)) return KERN_INVALID_ADDRESS;
      if ((fault_type & e->protection) != fault_type) return KERN_PROTECTION_FAILURE;
      w.object = nullptr;
      kr = fault_page(map, e, va, fault_type, change_wiring, nullptr, &w);
      if (kr == KERN_RESOURCE_SHORTAGE && vm_page_wait_worthwhile(memory_wait_since))
        kr = kFaultNoMemory;
      if (kr >= 0) return kr;
    }
    if (kr == kFaultNoMemory) {
      // The pageout daemon makes room (the reserve is not for us).
      vm_page_wait(arch_time_ns() + kVmPageWaitBoundNs);
      if (told_to_end()) return KERN_ABORTED;
      continue;
    }
    // No lock held from here: the pager's answer comes through other threads.
    VmObject* object = w.object;
    switch (kr) {
      case kFaultRequestData:
        vm_count(&VmCounters::pageins);
        vm_pager_request(object, w.offset, w.length, w.access);
        break;
      case kFaultRequestUnlock:
        vm_pager_request_unlock(object, w.offset, w.access);
        break;
      default: {
        WaitResult wr = thread_block();
        if (wr == WaitResult::kTimedOut && !w.unbounded) {
          vm_pager_request_timed_out(object, w.offset);
          vm_object_deallocate(object);
          return KERN_MEMORY_ERROR;
        }
        if (wr == WaitResult::kInterrupted) {
          // The thread is ending: the page is left to whoever waits for it next.
          vm_object_deallocate(object);
          return KERN_ABORTED;
        }
        break;
      }
    }
    vm_object_deallocate(object);
  }
}

void vm_fault_unwire(VmMap* map, vaddr_t addr) {
  vaddr_t va = trunc_page(addr);
  IrqSpinGuard g(map->lock);
  VmMapEntry* e;
  if (!vm_map_lookup_entry_locked(map, va, &e) || !e->object) return;
  IrqSpinGuard og(e->object->lock);
  VmPage* p = vm_page_lookup(e->object, e->offset + (va - e->start));
  if (p && p->wire_count > 0) vm_page_unwire(p);
}

void vm_fault_unwire_entry_locked(VmMap* map, VmMapEntry* e) {
  kassert(e->wired_count > 0 && e->object != nullptr);
  kassert(map->size_wired >= e->size());
  map->size_wired -= e->size();
  {
    IrqSpinGuard og(e->object->lock);
    for (uint64_t off = e->offset; off < e->offset + e->size(); off += kPageSize) {
      VmPage* p = vm_page_lookup(e->object, off);
      kassert(p != nullptr && p->wire_count > 0);
      vm_page_unwire(p);
    }
  }
  e->wired_count = 0;
}

namespace {

// Wires every page of entry `e`; on failure unwires what it wired and returns the error.
kern_return_t wire_entry_pages(VmMap* map, VmMapEntry* e, vm_prot_t access) {
  for (vaddr_t va = e->start; va < e->end; va += kPageSize) {
    kern_return_t kr;
    kr = vm_fault_entry_locked(map, e, va, access, true, nullptr);
    if (kr != KERN_SUCCESS) {
      if (va > e->start) {
        IrqSpinGuard og(e->object->lock);
        for (uint64_t off = e->offset; off < e->offset + (va - e->start); off += kPageSize)
          vm_page_unwire(vm_page_lookup(e->object, off));
      }
      return kr;
    }
  }
  return KERN_SUCCESS;
}

// Undoes the wiring of [start, stop) by this vm_map_wire call.
void unwire_range_locked(VmMap* map, vaddr_t start, vaddr_t stop) {
  VmMapEntry* e;
  vm_map_lookup_entry_locked(map, start, &e);
  for (; e && e->start < stop; e = e->next) {
    if (e->wired_count == 1)
      vm_fault_unwire_entry_locked(map, e);
    else
      --e->wired_count;
  }
}

}  // namespace

kern_return_t vm_map_wire(VmMap* map, vaddr_t start, vaddr_t end, vm_prot_t access) {
  VmEntryReserve r;
  if (!r.fill(2)) return KERN_RESOURCE_SHORTAGE;
  IrqSpinGuard g(map->lock);
  VmMapEntry* first;
  // GNU Mach's answers (vm_map_pageable, checking the range): KERN_NO_SPACE for an unmapped
  // start, a hole, or an access beyond some entry's protection.
  if (!vm_map_lookup_entry_locked(map, start, &first)) return KERN_NO_SPACE;
  if (start == end) return KERN_SUCCESS;
  if (!vm_map_range_mapped_locked(map, start, end)) return KERN_NO_SPACE;
  for (VmMapEntry* e = first; e && e->start < end; e = e->next) {
    if (access == VM_PROT_NONE && e->wired_count == 0) return KERN_INVALID_ARGUMENT;
    if ((e->protection & access) != access) return KERN_NO_SPACE;
  }
  vm_map_clip_start_locked(map, first, start, r);
  for (VmMapEntry* e = first; e && e->start < end; e = e->next) vm_map_clip_end_locked(map, e, end, r);

  if (access == VM_PROT_NONE) {
    unwire_range_locked(map, start, end);
  } else {
    for (VmMapEntry* e = first; e && e->start < end; e = e->next) {
      if (e->wired_count == 0) {
        kern_return_t kr = wire_entry_pages(map, e, access);
        if (kr != KERN_SUCCESS) {
          unwire_range_locked(map, start, e->start);
          vm_map_simplify_range_locked(map, start, end);
          return kr;
        }
        map->size_wired += e->size();
      }
      ++e->wired_count;
    }
  }
  vm_map_simplify_range_locked(map, start, end);
  return KERN_SUCCESS;
}
