// Page faults and wiring.
#include "vm/vm_fault.h"

#include "kern/assert.h"
#include "kern/lock.h"
#include "machine/cpu.h"
#include "machine/pmap.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_resident.h"

namespace {

// Internal result: the page met was busy; drop every lock and try again.
constexpr kern_return_t kFaultRetry = -1;

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

kern_return_t vm_fault_entry_locked(VmMap* map, VmMapEntry* e, vaddr_t va,
                                    vm_prot_t fault_type, bool wire, VmPage** page_out) {
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
    if (p && (p->vm_flags & kVmPageBusy)) return kFaultRetry;
    vm_prot_t prot = e->protection;
    VmPage* m;
    if (!p) {
      // No object of the chain has the page (and none has a pager yet): zero fill, in the
      // entry's own object whatever the access.
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

kern_return_t vm_fault(VmMap* map, vaddr_t addr, vm_prot_t fault_type, bool change_wiring) {
  vaddr_t va = trunc_page(addr);
  while (true) {
    {
      IrqSpinGuard g(map->lock);
      VmMapEntry* e;
      if (!vm_map_lookup_entry_locked(map, va, &e)) return KERN_INVALID_ADDRESS;
      if ((fault_type & e->protection) != fault_type) return KERN_PROTECTION_FAILURE;
      kern_return_t kr = vm_fault_entry_locked(map, e, va, fault_type, change_wiring, nullptr);
      if (kr != kFaultRetry) return kr;
    }
    // A busy page: its filler runs without our locks and will finish.
    arch_cpu_relax();
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
    do {
      kr = vm_fault_entry_locked(map, e, va, access, true, nullptr);
    } while (kr == kFaultRetry);
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
