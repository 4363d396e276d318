// Address maps: entries, lookup, clipping and merging, enter, remove, protect, inherit,
// region and fork. Map copies are in vm_map_copy.cc, faults and wiring in vm_fault.cc.
#include "vm/vm_map.h"

#include "kern/assert.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "machine/pmap.h"
#include "vm/vm_fault.h"
#include "vm/vm_object.h"
#include "vm/vm_resident.h"

static_assert(VM_PROT_READ == kProtRead && VM_PROT_WRITE == kProtWrite &&
                  VM_PROT_EXECUTE == kProtExecute,
              "vm_prot_t bits are handed to the pmap as they are");

namespace {

constinit TypedZone<VmMap> g_map_zone("vm_map", 0);
constinit TypedZone<VmMapEntry> g_entry_zone("vm_map_entry", 0);

// Two entries that continue each other exactly and can become one.
bool can_merge(const VmMapEntry* a, const VmMapEntry* b) {
  if (a->end != b->start) return false;
  if (a->object != b->object) return false;
  if (a->object && a->offset + a->size() != b->offset) return false;
  return a->protection == b->protection && a->max_protection == b->max_protection &&
         a->inheritance == b->inheritance && a->needs_copy == b->needs_copy &&
         a->wired_count == 0 && b->wired_count == 0;
}

// Fork, one entry: appends the child's entry to `child`, or nothing for VM_INHERIT_NONE.
// The parent's lock is held; the child is not visible to anyone yet.
bool fork_entry(VmMap* parent, VmMapEntry* e, VmMap* child) {
  if (e->inheritance == VM_INHERIT_NONE) return true;
  VmMapEntry* ce = vm_map_entry_alloc();
  if (!ce) return false;
  *ce = *e;
  ce->prev = ce->next = nullptr;
  ce->wired_count = 0;

  if (e->inheritance == VM_INHERIT_SHARE) {
    // Both maps will write the same object: it must exist, and be the entry's own.
    if (!e->object) {
      e->object = vm_object_allocate(e->size());
      if (!e->object) {
        vm_map_entry_free(ce);
        return false;
      }
      e->offset = 0;
    } else if (e->needs_copy) {
      if (vm_object_shadow(&e->object, &e->offset, e->size()) != KERN_SUCCESS) {
        vm_map_entry_free(ce);
        return false;
      }
      e->needs_copy = false;
    }
    // The parent's pmap may map pages of the backing objects read-only; once shared, the
    // object's faults bring pages up into it, so those mappings would go stale.
    if (e->object->shadow) pmap_remove(parent->pmap, e->start, e->end);
    vm_object_set_shared(e->object);
    vm_object_reference(e->object);
    ce->object = e->object;
    ce->offset = e->offset;
    ce->needs_copy = false;
  } else if (e->object == nullptr) {
    // Untouched zero-fill memory: the child's is untouched too.
  } else if (e->wired_count > 0 || e->object->shared ||
             e->object->copy_strategy != VmCopyStrategy::kSymmetric) {
    ce->object = vm_object_copy_slowly(e->object, e->offset, e->size());
    if (!ce->object) {
      vm_map_entry_free(ce);
      return false;
    }
    ce->offset = 0;
    ce->needs_copy = false;
  } else {
    vm_object_reference(e->object);
    ce->needs_copy = true;
    if (!e->needs_copy) {
      e->needs_copy = true;
      pmap_protect(parent->pmap, e->start, e->end, e->protection & ~VM_PROT_WRITE);
    }
  }
  child->entries.insert_after(child->entries.last, ce);
  child->size += ce->size();
  return true;
}

}  // namespace

// --- Entry lists and entries ---------------------------------------------------------------

void VmEntryList::insert_after(VmMapEntry* prev, VmMapEntry* e) {
  e->prev = prev;
  e->next = prev ? prev->next : first;
  if (e->next)
    e->next->prev = e;
  else
    last = e;
  if (prev)
    prev->next = e;
  else
    first = e;
  ++count;
}

void VmEntryList::remove(VmMapEntry* e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    first = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    last = e->prev;
  e->prev = e->next = nullptr;
  --count;
}

VmMapEntry* vm_map_entry_alloc() {
  VmMapEntry* e = g_entry_zone.alloc();
  if (!e) return nullptr;
  new (e) VmMapEntry();
  vm_count(&VmCounters::map_entries_alive);
  return e;
}

void vm_map_entry_free(VmMapEntry* e) {
  e->~VmMapEntry();
  g_entry_zone.free(e);
  vm_count(&VmCounters::map_entries_alive, static_cast<uint64_t>(-1));
}

VmEntryReserve::~VmEntryReserve() {
  while (list_) {
    VmMapEntry* e = list_;
    list_ = e->next;
    vm_map_entry_free(e);
  }
}

bool VmEntryReserve::fill(size_t n) {
  while (count_ < n) {
    VmMapEntry* e = vm_map_entry_alloc();
    if (!e) return false;
    e->next = list_;
    list_ = e;
    ++count_;
  }
  return true;
}

VmMapEntry* VmEntryReserve::take() {
  kassert(list_ != nullptr);
  VmMapEntry* e = list_;
  list_ = e->next;
  --count_;
  e->next = nullptr;
  return e;
}

void vm_map_zones_destroy() {
  vm_map_copy_zone_destroy();
  g_map_zone.destroy();
  g_entry_zone.destroy();
}

// --- Maps ----------------------------------------------------------------------------------

VmMap* vm_map_create(vaddr_t min, vaddr_t max) {
  kassert(min < max && (min & (kPageSize - 1)) == 0 && (max & (kPageSize - 1)) == 0);
  VmMap* map = g_map_zone.alloc();
  if (!map) return nullptr;
  new (map) VmMap();
  map->pmap = pmap_create();
  if (!map->pmap) {
    map->~VmMap();
    g_map_zone.free(map);
    return nullptr;
  }
  map->min_offset = min;
  map->max_offset = max;
  vm_count(&VmCounters::maps_alive);
  return map;
}

void vm_map_reference(VmMap* map) {
  IrqSpinGuard g(map->lock);
  ++map->ref_count;
}

void vm_map_deallocate(VmMap* map) {
  if (!map) return;
  {
    IrqSpinGuard g(map->lock);
    kassert(map->ref_count > 0);
    if (--map->ref_count > 0) return;
    // Deleting whole entries clips nothing: an empty reserve is enough.
    VmEntryReserve none;
    vm_map_delete_locked(map, map->min_offset, map->max_offset, none);
  }
  pmap_destroy(map->pmap);
  map->~VmMap();
  g_map_zone.free(map);
  vm_count(&VmCounters::maps_alive, static_cast<uint64_t>(-1));
}

bool vm_map_lookup_entry_locked(VmMap* map, vaddr_t addr, VmMapEntry** entry) {
  // Start at the hint when it lies at or below addr: most lookups are near the last one.
  VmMapEntry* e = map->hint;
  if (!e || e->start > addr) e = map->entries.first;
  VmMapEntry* before = nullptr;
  if (e && e->start <= addr) before = e->prev;
  for (; e && e->start <= addr; e = e->next) {
    if (addr < e->end) {
      map->hint = e;
      *entry = e;
      return true;
    }
    before = e;
  }
  *entry = before;
  return false;
}

void vm_map_clip_start_locked(VmMap* map, VmMapEntry* e, vaddr_t addr, VmEntryReserve& r) {
  if (addr <= e->start || addr >= e->end) return;
  VmMapEntry* n = r.take();
  *n = *e;
  n->end = addr;
  e->offset += addr - e->start;
  e->start = addr;
  if (n->object) vm_object_reference(n->object);
  map->entries.insert_after(e->prev, n);
}

void vm_map_clip_end_locked(VmMap* map, VmMapEntry* e, vaddr_t addr, VmEntryReserve& r) {
  if (addr <= e->start || addr >= e->end) return;
  VmMapEntry* n = r.take();
  *n = *e;
  n->start = addr;
  n->offset += addr - e->start;
  e->end = addr;
  if (n->object) vm_object_reference(n->object);
  map->entries.insert_after(e, n);
}

namespace {

// Absorbs e->next into e when they continue each other exactly.
bool merge_next_locked(VmMap* map, VmMapEntry* e) {
  VmMapEntry* next = e->next;
  if (!next || !can_merge(e, next)) return false;
  e->end = next->end;
  if (next->object) vm_object_deallocate(next->object);  // e holds the same object
  map->entries.remove(next);
  if (map->hint == next) map->hint = e;
  vm_map_entry_free(next);
  return true;
}

}  // namespace

void vm_map_simplify_locked(VmMap* map, VmMapEntry* e) {
  if (e->prev && can_merge(e->prev, e)) {
    e = e->prev;
    merge_next_locked(map, e);
  }
  merge_next_locked(map, e);
}

void vm_map_simplify_range_locked(VmMap* map, vaddr_t start, vaddr_t end) {
  VmMapEntry* e;
  if (!vm_map_lookup_entry_locked(map, start, &e)) e = e ? e->next : map->entries.first;
  if (e && e->prev) e = e->prev;  // the left neighbour may continue the first entry
  while (e && e->start <= end) {
    while (merge_next_locked(map, e)) {
    }
    e = e->next;
  }
}

size_t vm_map_count_entries_locked(VmMap* map, vaddr_t start, vaddr_t end) {
  VmMapEntry* e;
  if (!vm_map_lookup_entry_locked(map, start, &e)) e = e ? e->next : map->entries.first;
  size_t n = 0;
  for (; e && e->start < end; e = e->next) ++n;
  return n;
}

bool vm_map_range_mapped_locked(VmMap* map, vaddr_t start, vaddr_t end) {
  VmMapEntry* e;
  if (!vm_map_lookup_entry_locked(map, start, &e)) return false;
  vaddr_t covered = e->end;
  while (covered < end) {
    e = e->next;
    if (!e || e->start != covered) return false;
    covered = e->end;
  }
  return true;
}

bool vm_map_find_space_locked(VmMap* map, vm_size_t size, vaddr_t mask, vaddr_t* start) {
  auto align = [mask](vaddr_t a, vaddr_t* out) {
    if (a + mask < a) return false;
    *out = (a + mask) & ~mask;
    return true;
  };
  VmMapEntry* e = map->entries.first;
  vaddr_t from = map->min_offset < kPageSize ? kPageSize : map->min_offset;
  if (e) {
    from = e->end;
    e = e->next;
  }
  vaddr_t cand;
  if (!align(from, &cand)) return false;
  for (;; e = e->next) {
    vaddr_t limit = e ? e->start : map->max_offset;
    if (cand <= limit && size <= limit - cand) {
      *start = cand;
      return true;
    }
    if (!e) return false;
    if (e->end > cand && !align(e->end, &cand)) return false;
  }
}

void vm_map_delete_locked(VmMap* map, vaddr_t start, vaddr_t end, VmEntryReserve& r) {
  VmMapEntry* e;
  if (vm_map_lookup_entry_locked(map, start, &e)) {
    vm_map_clip_start_locked(map, e, start, r);
  } else {
    e = e ? e->next : map->entries.first;
  }
  while (e && e->start < end) {
    vm_map_clip_end_locked(map, e, end, r);
    VmMapEntry* next = e->next;
    pmap_remove(map->pmap, e->start, e->end);
    if (e->wired_count > 0) vm_fault_unwire_entry_locked(map, e);
    map->entries.remove(e);
    map->size -= e->size();
    if (map->hint == e) map->hint = next;
    if (e->object) vm_object_deallocate(e->object);
    vm_map_entry_free(e);
    e = next;
  }
}

kern_return_t vm_map_enter(VmMap* map, vaddr_t* address, vm_size_t size, vaddr_t mask,
                           bool anywhere, VmObject* object, uint64_t offset, bool needs_copy,
                           vm_prot_t cur, vm_prot_t max, vm_inherit_t inheritance) {
  kassert(size > 0 && (size & (kPageSize - 1)) == 0);
  mask |= kPageSize - 1;
  VmMapEntry* e = vm_map_entry_alloc();
  if (!e) return KERN_RESOURCE_SHORTAGE;
  IrqSpinGuard g(map->lock);
  vaddr_t start;
  VmMapEntry* prev;
  if (anywhere) {
    if (!vm_map_find_space_locked(map, size, mask, &start)) {
      vm_map_entry_free(e);
      return KERN_NO_SPACE;
    }
    vm_map_lookup_entry_locked(map, start, &prev);
  } else {
    start = *address;
    if ((start & (kPageSize - 1)) != 0 || start < map->min_offset || start > map->max_offset ||
        size > map->max_offset - start) {
      vm_map_entry_free(e);
      return KERN_INVALID_ADDRESS;
    }
    VmMapEntry* next;
    if (vm_map_lookup_entry_locked(map, start, &prev) ||
        ((next = prev ? prev->next : map->entries.first) && next->start < start + size)) {
      vm_map_entry_free(e);
      return KERN_NO_SPACE;
    }
  }
  e->start = start;
  e->end = start + size;
  e->object = object;
  e->offset = object ? offset : 0;
  e->needs_copy = object ? needs_copy : false;
  e->protection = cur;
  e->max_protection = max;
  e->inheritance = inheritance;
  map->entries.insert_after(prev, e);
  map->size += size;
  map->hint = e;
  vm_map_simplify_locked(map, e);
  *address = start;
  return KERN_SUCCESS;
}

kern_return_t vm_map_remove(VmMap* map, vaddr_t start, vaddr_t end) {
  VmEntryReserve r;
  if (!r.fill(2)) return KERN_RESOURCE_SHORTAGE;
  IrqSpinGuard g(map->lock);
  vm_map_delete_locked(map, start, end, r);
  return KERN_SUCCESS;
}

kern_return_t vm_map_protect(VmMap* map, vaddr_t start, vaddr_t end, vm_prot_t new_prot,
                             bool set_max) {
  VmEntryReserve r;
  if (!r.fill(2)) return KERN_RESOURCE_SHORTAGE;
  IrqSpinGuard g(map->lock);
  VmMapEntry* first;
  if (!vm_map_lookup_entry_locked(map, start, &first))
    first = first ? first->next : map->entries.first;
  // First pass: check, so that a refusal changes nothing.
  for (VmMapEntry* e = first; e && e->start < end; e = e->next) {
    if ((new_prot & e->max_protection) != new_prot) return KERN_PROTECTION_FAILURE;
  }
  if (!first || first->start >= end) return KERN_SUCCESS;
  vm_map_clip_start_locked(map, first, start, r);
  for (VmMapEntry* e = first; e && e->start < end; e = e->next) {
    vm_map_clip_end_locked(map, e, end, r);
    vm_prot_t old = e->protection;
    if (set_max) {
      e->max_protection = new_prot;
      e->protection &= new_prot;
    } else {
      e->protection = new_prot;
    }
    // The pmap only ever loses rights here; faults bring raised rights in.
    if (e->protection != old) {
      vm_prot_t keep = old & e->protection;
      if (e->needs_copy) keep &= ~VM_PROT_WRITE;
      pmap_protect(map->pmap, e->start, e->end, static_cast<unsigned>(keep));
    }
  }
  vm_map_simplify_range_locked(map, start, end);
  return KERN_SUCCESS;
}

kern_return_t vm_map_inherit(VmMap* map, vaddr_t start, vaddr_t end, vm_inherit_t inheritance) {
  VmEntryReserve r;
  if (!r.fill(2)) return KERN_RESOURCE_SHORTAGE;
  IrqSpinGuard g(map->lock);
  VmMapEntry* e;
  if (vm_map_lookup_entry_locked(map, start, &e)) {
    vm_map_clip_start_locked(map, e, start, r);
  } else {
    e = e ? e->next : map->entries.first;
  }
  for (; e && e->start < end; e = e->next) {
    vm_map_clip_end_locked(map, e, end, r);
    e->inheritance = inheritance;
  }
  vm_map_simplify_range_locked(map, start, end);
  return KERN_SUCCESS;
}

kern_return_t vm_map_region(VmMap* map, vaddr_t* address, VmRegionInfo* info) {
  IrqSpinGuard g(map->lock);
  VmMapEntry* e;
  if (!vm_map_lookup_entry_locked(map, *address, &e)) {
    e = e ? e->next : map->entries.first;
    if (!e) return KERN_NO_SPACE;
  }
  info->address = e->start;
  info->size = e->size();
  info->protection = e->protection;
  info->max_protection = e->max_protection;
  info->inheritance = e->inheritance;
  info->shared = e->object && e->object->shared;
  info->offset = e->offset;
  *address = e->start;
  return KERN_SUCCESS;
}

VmMap* vm_map_fork(VmMap* parent) {
  VmMap* child = vm_map_create(parent->min_offset, parent->max_offset);
  if (!child) return nullptr;
  bool ok = true;
  {
    IrqSpinGuard g(parent->lock);
    for (VmMapEntry* e = parent->entries.first; ok && e; e = e->next)
      ok = fork_entry(parent, e, child);
  }
  if (!ok) {
    vm_map_deallocate(child);
    return nullptr;
  }
  return child;
}
