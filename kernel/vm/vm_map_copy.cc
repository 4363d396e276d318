// Map copies: copyin (copy-on-write or move), copyout (anywhere), overwrite and discard.
// They carry out-of-line message memory and implement vm_read, vm_write and vm_copy.
#include "kern/assert.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "lib/string.h"
#include "machine/pmap.h"
#include "vm/vm_fault.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_resident.h"

namespace {

constinit TypedZone<VmMapCopy> g_copy_zone("vm_map_copy", 0);

VmMapCopy* copy_alloc() {
  VmMapCopy* c = g_copy_zone.alloc();
  if (!c) return nullptr;
  new (c) VmMapCopy();
  vm_count(&VmCounters::copies_alive);
  return c;
}

void copy_free(VmMapCopy* c) {
  c->~VmMapCopy();
  g_copy_zone.free(c);
  vm_count(&VmCounters::copies_alive, static_cast<uint64_t>(-1));
}

// Memory whose object others write in place (or that is wired) cannot be copied lazily.
bool must_copy_now(const VmMapEntry* e) {
  return e->wired_count > 0 || e->object->shared ||
         e->object->copy_strategy != VmCopyStrategy::kSymmetric;
}

// The copy entry for source entry `e` (already clipped to the range), without src_destroy.
// Returns false on shortage; the caller undoes.
bool copy_entry(VmMap* src, VmMapEntry* e, VmMapEntry* ce) {
  *ce = *e;
  ce->prev = ce->next = nullptr;
  ce->wired_count = 0;
  if (!e->object) return true;  // untouched zero-fill memory copies as such
  if (must_copy_now(e)) {
    ce->object = vm_object_copy_slowly(e->object, e->offset, e->size());
    ce->offset = 0;
    ce->needs_copy = false;
    return ce->object != nullptr;
  }
  // Symmetric copy-on-write: both sides read the object and shadow it before writing.
  vm_object_reference(e->object);
  ce->needs_copy = true;
  if (!e->needs_copy) {
    e->needs_copy = true;
    pmap_protect(src->pmap, e->start, e->end, e->protection & ~VM_PROT_WRITE);
  }
  return true;
}

// Move of source entry `e` into copy entry `ce`: the object goes with it, and the range
// leaves the source. Shared or wired memory is copied instead (others still use it).
bool move_entry(VmMap* src, VmMapEntry* e, VmMapEntry* ce) {
  if (e->object && must_copy_now(e)) {
    if (!copy_entry(src, e, ce)) return false;
  } else {
    *ce = *e;
    ce->prev = ce->next = nullptr;
    ce->wired_count = 0;
    e->object = nullptr;  // the reference moved to ce
  }
  pmap_remove(src->pmap, e->start, e->end);
  if (e->wired_count > 0) vm_fault_unwire_entry_locked(src, e);
  src->entries.remove(e);
  src->size -= e->size();
  if (src->hint == e) src->hint = nullptr;
  if (e->object) vm_object_deallocate(e->object);
  vm_map_entry_free(e);
  return true;
}

// The copy entry that holds copy-space address `a`.
VmMapEntry* copy_entry_at(VmMapCopy* copy, vaddr_t a) {
  for (VmMapEntry* ce = copy->entries.first; ce; ce = ce->next)
    if (a >= ce->start && a < ce->end) return ce;
  return nullptr;
}

// Writes the copy's data for [ce_addr, ce_addr + len) into the pages of dst entry `de`
// starting at `dst_va`, in place: used where the destination's object is shared or wired.
kern_return_t overwrite_in_place(VmMap* dst, VmMapEntry* de, vaddr_t dst_va, VmMapEntry* ce,
                                 vaddr_t ce_addr, vm_size_t len) {
  for (vm_size_t done = 0; done < len; done += kPageSize) {
    VmPage* dp;
    kern_return_t kr = vm_fault_entry_locked(dst, de, dst_va + done, VM_PROT_WRITE, false, &dp);
    if (kr != KERN_SUCCESS) return kr;
    // dp is in de's own object, which this map's entry keeps alive and which only frees
    // pages when it dies: it stays valid without its lock while the source chain is locked.
    void* to = vm_page_to_virt(dp);
    if (!ce->object) {
      memset(to, 0, kPageSize);
    } else {
      VmChainWalk walk(ce->object);
      VmPage* sp = walk.find(ce->offset + (ce_addr + done - ce->start));
      if (sp)
        memcpy(to, vm_page_to_virt(sp), kPageSize);
      else
        memset(to, 0, kPageSize);
    }
    vm_count(&VmCounters::page_copies);
  }
  return KERN_SUCCESS;
}

}  // namespace

void vm_map_copy_discard(VmMapCopy* copy) {
  if (!copy) return;
  while (VmMapEntry* ce = copy->entries.first) {
    copy->entries.remove(ce);
    if (ce->object) vm_object_deallocate(ce->object);
    vm_map_entry_free(ce);
  }
  copy_free(copy);
}

kern_return_t vm_map_copyin(VmMap* src, vaddr_t addr, vm_size_t len, bool src_destroy,
                            VmMapCopy** result) {
  if (len == 0) {
    *result = nullptr;
    return KERN_SUCCESS;
  }
  if (addr + len < addr || round_page(addr + len) < addr + len) return KERN_INVALID_ADDRESS;
  vaddr_t start = trunc_page(addr);
  vaddr_t end = round_page(addr + len);

  VmMapCopy* copy = copy_alloc();
  if (!copy) return KERN_RESOURCE_SHORTAGE;
  copy->offset = addr;
  copy->size = len;
  VmEntryReserve r;
  kern_return_t kr = KERN_SUCCESS;
  {
    IrqSpinGuard g(src->lock);
    if (!vm_map_range_mapped_locked(src, start, end)) {
      kr = KERN_INVALID_ADDRESS;
    } else {
      VmMapEntry* e;
      vm_map_lookup_entry_locked(src, start, &e);
      for (VmMapEntry* c = e; c && c->start < end; c = c->next)
        if (!(c->protection & VM_PROT_READ)) kr = KERN_PROTECTION_FAILURE;
      // One entry per source entry, and two for clipping the edges.
      if (kr == KERN_SUCCESS && !r.fill(vm_map_count_entries_locked(src, start, end) + 2))
        kr = KERN_RESOURCE_SHORTAGE;
      if (kr == KERN_SUCCESS) {
        vm_map_clip_start_locked(src, e, start, r);
        while (e && e->start < end) {
          vm_map_clip_end_locked(src, e, end, r);
          VmMapEntry* next = e->next;
          VmMapEntry* ce = r.take();
          bool ok = src_destroy ? move_entry(src, e, ce) : copy_entry(src, e, ce);
          if (!ok) {
            // Nothing was added to ce: free it. What is already in the copy is undone by
            // discarding it; a move that stopped halfway has removed part of the range,
            // which only happens on memory shortage.
            vm_map_entry_free(ce);
            kr = KERN_RESOURCE_SHORTAGE;
            break;
          }
          copy->entries.insert_after(copy->entries.last, ce);
          e = next;
        }
        if (!src_destroy) vm_map_simplify_range_locked(src, start, end);
      }
    }
  }
  if (kr != KERN_SUCCESS) {
    vm_map_copy_discard(copy);
    return kr;
  }
  *result = copy;
  return KERN_SUCCESS;
}

kern_return_t vm_map_copyout(VmMap* dst, vaddr_t* addr, VmMapCopy* copy) {
  if (!copy) {
    *addr = 0;
    return KERN_SUCCESS;
  }
  vaddr_t base = trunc_page(copy->offset);
  vm_size_t size = round_page(copy->offset + copy->size) - base;
  IrqSpinGuard g(dst->lock);
  vaddr_t start;
  if (!vm_map_find_space_locked(dst, size, kPageSize - 1, &start)) return KERN_NO_SPACE;
  VmMapEntry* prev;
  vm_map_lookup_entry_locked(dst, start, &prev);
  while (VmMapEntry* ce = copy->entries.first) {
    copy->entries.remove(ce);
    ce->start = ce->start - base + start;
    ce->end = ce->end - base + start;
    ce->protection = VM_PROT_DEFAULT;
    ce->max_protection = VM_PROT_ALL;
    ce->inheritance = VM_INHERIT_DEFAULT;
    dst->entries.insert_after(prev, ce);
    dst->size += ce->size();
    prev = ce;
  }
  vm_map_simplify_range_locked(dst, start, start + size);
  *addr = start + (copy->offset - base);
  copy_free(copy);
  return KERN_SUCCESS;
}

kern_return_t vm_map_copy_overwrite(VmMap* dst, vaddr_t addr, VmMapCopy* copy) {
  if (!copy) return KERN_SUCCESS;
  if ((addr | copy->offset | copy->size) & (kPageSize - 1)) return KERN_INVALID_ARGUMENT;
  vaddr_t end = addr + copy->size;
  if (end < addr) return KERN_INVALID_ADDRESS;
  VmEntryReserve r;
  IrqSpinGuard g(dst->lock);
  if (!vm_map_range_mapped_locked(dst, addr, end)) return KERN_INVALID_ADDRESS;
  VmMapEntry* first;
  vm_map_lookup_entry_locked(dst, addr, &first);
  for (VmMapEntry* e = first; e && e->start < end; e = e->next)
    if (!(e->protection & VM_PROT_WRITE)) return KERN_PROTECTION_FAILURE;
  // Clips: the two edges, and one per copy entry boundary inside the range.
  if (!r.fill(copy->entries.count + 2)) return KERN_RESOURCE_SHORTAGE;

  // Copy-space address of dst address d: d - addr + copy->offset.
  auto to_copy = [&](vaddr_t d) { return d - addr + copy->offset; };
  auto to_dst = [&](vaddr_t c) { return c - copy->offset + addr; };

  vm_map_clip_start_locked(dst, first, addr, r);
  for (VmMapEntry* e = first; e && e->start < end; e = e->next) {
    vm_map_clip_end_locked(dst, e, end, r);
    // Cut e where the copy changes entries, so each dst entry takes from one copy entry.
    VmMapEntry* ce = copy_entry_at(copy, to_copy(e->start));
    kassert(ce != nullptr);
    vm_map_clip_end_locked(dst, e, to_dst(ce->end), r);
  }

  kern_return_t kr = KERN_SUCCESS;
  for (VmMapEntry* e = first; e && e->start < end; e = e->next) {
    VmMapEntry* ce = copy_entry_at(copy, to_copy(e->start));
    vaddr_t c = to_copy(e->start);
    if (e->wired_count > 0 || (e->object && e->object->shared)) {
      // Others see this memory: write the data into it.
      kr = overwrite_in_place(dst, e, e->start, ce, c, e->size());
      if (kr != KERN_SUCCESS) break;  // only on shortage: part of the data has landed
      continue;
    }
    // Private memory: the entry takes the copy's object, copy-on-write as in the copy.
    pmap_remove(dst->pmap, e->start, e->end);
    if (e->object) vm_object_deallocate(e->object);
    e->object = ce->object;
    if (e->object) vm_object_reference(e->object);
    e->offset = ce->object ? ce->offset + (c - ce->start) : 0;
    e->needs_copy = ce->object ? ce->needs_copy : false;
  }
  vm_map_simplify_range_locked(dst, addr, end);
  if (kr != KERN_SUCCESS) return kr;
  // The entries took references of their own above; the copy's go with it.
  vm_map_copy_discard(copy);
  return KERN_SUCCESS;
}

void vm_map_copy_zone_destroy() { g_copy_zone.destroy(); }

VmMapCopy* vm_map_copy_from_kernel(const void* data, vm_size_t len) {
  VmMapCopy* copy = copy_alloc();
  if (!copy) return nullptr;
  copy->offset = 0;
  copy->size = len;
  vm_size_t size = round_page(len);
  if (size == 0) return copy;
  VmObject* object = vm_object_allocate(size);
  VmMapEntry* e = object ? vm_map_entry_alloc() : nullptr;
  if (!e) {
    if (object) vm_object_deallocate(object);
    copy_free(copy);
    return nullptr;
  }
  bool ok = true;
  {
    IrqSpinGuard g(object->lock);
    auto* src = static_cast<const uint8_t*>(data);
    for (vm_size_t off = 0; off < size && ok; off += kPageSize) {
      VmPage* page = vm_page_alloc_for(object, off);
      if (!page) {
        ok = false;
        break;
      }
      auto* dst = static_cast<uint8_t*>(vm_page_to_virt(page));
      vm_size_t n = len - off < kPageSize ? len - off : kPageSize;
      memcpy(dst, src + off, n);
      memset(dst + n, 0, kPageSize - n);
    }
  }
  e->start = 0;
  e->end = size;
  e->object = object;
  e->offset = 0;
  copy->entries.insert_after(nullptr, e);
  if (!ok) {
    vm_map_copy_discard(copy);
    return nullptr;
  }
  return copy;
}

void vm_map_copy_read(VmMapCopy* copy, vm_size_t pos, void* dst, vm_size_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  vaddr_t addr = copy->offset + pos;
  VmMapEntry* e = copy->entries.first;
  while (len > 0) {
    while (e && e->end <= addr) e = e->next;
    vm_size_t n = kPageSize - (addr & (kPageSize - 1));
    if (n > len) n = len;
    const uint8_t* src = nullptr;
    if (e && e->start <= addr && e->object) {
      VmChainWalk walk(e->object);
      VmPage* p = walk.find(trunc_page(e->offset + (addr - e->start)));
      if (p && !(p->vm_flags & kVmPageBusy)) {
        src = static_cast<const uint8_t*>(vm_page_to_virt(p)) + (addr & (kPageSize - 1));
        memcpy(out, src, n);
      }
    }
    if (!src) memset(out, 0, n);
    out += n;
    addr += n;
    len -= n;
  }
}

VmMapCopy* vm_map_copy_from_pages(VmPage* const* pages, size_t n) {
  vm_size_t size = n * kPageSize;
  VmMapCopy* copy = copy_alloc();
  VmObject* object = copy ? vm_object_allocate(size) : nullptr;
  VmMapEntry* e = object ? vm_map_entry_alloc() : nullptr;
  if (!e) {
    if (object) vm_object_deallocate(object);
    if (copy) copy_free(copy);
    return nullptr;
  }
  {
    // The new object is reachable by nobody else yet: its lock after the pages' object's.
    SpinGuard g(object->lock);
    for (size_t i = 0; i < n; ++i) {
      vm_page_rename(pages[i], object, i * kPageSize);
      vm_page_set_laundry(pages[i]);
    }
    object->no_pageout = true;
  }
  // In transit they should not be chosen again soon by the pageout daemon.
  for (size_t i = 0; i < n; ++i) vm_page_activate(pages[i]);
  copy->offset = 0;
  copy->size = size;
  e->start = 0;
  e->end = size;
  e->object = object;
  e->offset = 0;
  copy->entries.insert_after(nullptr, e);
  return copy;
}
