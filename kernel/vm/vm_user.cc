// The VM calls of mach.defs on a map: argument checks and rounding, then the map layer.
#include "vm/vm_user.h"

#include "vm/vm_fault.h"
#include "vm/vm_object.h"
#include "vm/vm_resident.h"

namespace {

// The range of vm_deallocate, vm_protect, vm_inherit and vm_wire as GNU Mach takes it:
// [trunc_page(address), round_page(address + size)) computed modulo 2^64, then clipped to the
// map's bounds (GNU Mach's VM_MAP_RANGE_CHECK). A range that wraps around, or lies outside
// the map, comes out empty (*start == *end): the call succeeds and changes nothing.
void clip_range(const VmMap* map, vaddr_t address, vm_size_t size, vaddr_t* start,
                vaddr_t* end) {
  vaddr_t s = trunc_page(address);
  vaddr_t e = round_page(address + size);
  if (s < map->min_offset) s = map->min_offset;
  if (e > map->max_offset) e = map->max_offset;
  if (s > e) s = e;
  *start = s;
  *end = e;
}

bool valid_inheritance(vm_inherit_t i) {
  return i == VM_INHERIT_SHARE || i == VM_INHERIT_COPY || i == VM_INHERIT_NONE;
}

}  // namespace

kern_return_t vm_allocate(VmMap* map, vaddr_t* address, vm_size_t size, bool anywhere) {
  if (!map) return KERN_INVALID_ARGUMENT;
  if (size == 0) {
    *address = 0;
    return KERN_SUCCESS;
  }
  vm_size_t rounded = round_page(size);
  if (rounded < size) return KERN_INVALID_ARGUMENT;
  vaddr_t addr = anywhere ? map->min_offset : trunc_page(*address);
  kern_return_t kr = vm_map_enter(map, &addr, rounded, 0, anywhere, nullptr, 0, false,
                                  VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_DEFAULT);
  if (kr == KERN_SUCCESS) *address = addr;
  return kr;
}

kern_return_t vm_deallocate(VmMap* map, vaddr_t address, vm_size_t size) {
  if (!map) return KERN_INVALID_ARGUMENT;
  if (size == 0) return KERN_SUCCESS;
  vaddr_t start, end;
  clip_range(map, address, size, &start, &end);
  if (start == end) return KERN_SUCCESS;
  return vm_map_remove(map, start, end);
}

kern_return_t vm_protect(VmMap* map, vaddr_t address, vm_size_t size, bool set_maximum,
                         vm_prot_t new_protection) {
  if (!map || (new_protection & ~VM_PROT_ALL)) return KERN_INVALID_ARGUMENT;
  vaddr_t start, end;
  clip_range(map, address, size, &start, &end);
  if (start == end) return KERN_SUCCESS;
  return vm_map_protect(map, start, end, new_protection, set_maximum);
}

kern_return_t vm_inherit(VmMap* map, vaddr_t address, vm_size_t size,
                         vm_inherit_t new_inheritance) {
  if (!map || !valid_inheritance(new_inheritance)) return KERN_INVALID_ARGUMENT;
  vaddr_t start, end;
  clip_range(map, address, size, &start, &end);
  if (start == end) return KERN_SUCCESS;
  return vm_map_inherit(map, start, end, new_inheritance);
}

kern_return_t vm_read(VmMap* map, vaddr_t address, vm_size_t size, VmMapCopy** data,
                      vm_size_t* data_count) {
  if (!map) return KERN_INVALID_ARGUMENT;
  kern_return_t kr = vm_map_copyin(map, address, size, false, data);
  if (kr == KERN_SUCCESS) *data_count = size;
  return kr;
}

kern_return_t vm_write(VmMap* map, vaddr_t address, VmMapCopy* data, vm_size_t data_count) {
  if (!map) return KERN_INVALID_ARGUMENT;
  if ((data ? data->size : 0) != data_count) return KERN_INVALID_ARGUMENT;
  return vm_map_copy_overwrite(map, address, data);
}

kern_return_t vm_copy(VmMap* map, vaddr_t source_address, vm_size_t size,
                      vaddr_t dest_address) {
  if (!map) return KERN_INVALID_ARGUMENT;
  if (size == 0) return KERN_SUCCESS;
  // The destination is checked before the copy is taken, so that a refused vm_copy leaves
  // even the source's copy-on-write marks alone. (A change between the two steps by another
  // thread only makes the overwrite fail below, which is as harmless.)
  if ((source_address | size | dest_address) & (kPageSize - 1)) return KERN_INVALID_ARGUMENT;
  if (dest_address + size < dest_address) return KERN_INVALID_ADDRESS;
  {
    IrqSpinGuard g(map->lock);
    if (!vm_map_range_mapped_locked(map, dest_address, dest_address + size))
      return KERN_INVALID_ADDRESS;
    VmMapEntry* e;
    vm_map_lookup_entry_locked(map, dest_address, &e);
    for (; e && e->start < dest_address + size; e = e->next)
      if (!(e->protection & VM_PROT_WRITE)) return KERN_PROTECTION_FAILURE;
  }
  VmMapCopy* copy;
  kern_return_t kr = vm_map_copyin(map, source_address, size, false, &copy);
  if (kr != KERN_SUCCESS) return kr;
  kr = vm_map_copy_overwrite(map, dest_address, copy);
  if (kr != KERN_SUCCESS) vm_map_copy_discard(copy);
  return kr;
}

kern_return_t vm_region(VmMap* map, vaddr_t* address, vm_size_t* size, vm_prot_t* protection,
                        vm_prot_t* max_protection, vm_inherit_t* inheritance, bool* is_shared,
                        vm_offset_t* offset) {
  if (!map) return KERN_INVALID_ARGUMENT;
  VmRegionInfo info;
  vaddr_t a = *address;
  kern_return_t kr = vm_map_region(map, &a, &info);
  if (kr != KERN_SUCCESS) return kr;
  *address = info.address;
  *size = info.size;
  *protection = info.protection;
  *max_protection = info.max_protection;
  *inheritance = info.inheritance;
  *is_shared = info.shared;
  *offset = info.offset;
  return KERN_SUCCESS;
}

kern_return_t vm_statistics(VmMap* map, vm_statistics_data_t* stats) {
  if (!map) return KERN_INVALID_ARGUMENT;
  VmCounters c = vm_counters();
  VmPageStats ps = vm_page_stats();
  auto n = [](uint64_t v) { return static_cast<integer_t>(v); };
  stats->pagesize = n(kPageSize);
  stats->free_count = n(ps.free_pages);
  stats->active_count = n(c.active_count);
  stats->inactive_count = n(c.inactive_count);
  stats->wire_count = n(c.wire_count);
  stats->zero_fill_count = n(c.zero_fill_count);
  stats->reactivations = n(c.reactivations);
  stats->pageins = n(c.pageins);
  stats->pageouts = n(c.pageouts);
  stats->faults = n(c.faults);
  stats->cow_faults = n(c.cow_faults);
  stats->lookups = n(c.lookups);
  stats->hits = n(c.hits);
  return KERN_SUCCESS;
}

kern_return_t vm_map(VmMap* map, vaddr_t* address, vm_size_t size, vaddr_t mask, bool anywhere,
                     VmObject* object, vm_offset_t offset, bool copy, vm_prot_t cur_protection,
                     vm_prot_t max_protection, vm_inherit_t inheritance) {
  if (!map || (cur_protection & ~VM_PROT_ALL) || (max_protection & ~VM_PROT_ALL) ||
      !valid_inheritance(inheritance) || size == 0)
    return KERN_INVALID_ARGUMENT;
  vm_size_t rounded = round_page(size);
  if (rounded < size) return KERN_INVALID_ARGUMENT;
  if (object && (offset & (kPageSize - 1))) return KERN_INVALID_ARGUMENT;
  vaddr_t addr = anywhere ? map->min_offset : trunc_page(*address);
  if (object) vm_object_reference(object);
  kern_return_t kr = vm_map_enter(map, &addr, rounded, mask, anywhere, object, offset, copy,
                                  cur_protection, max_protection, inheritance);
  if (kr != KERN_SUCCESS) {
    if (object) vm_object_deallocate(object);
    return kr;
  }
  *address = addr;
  return KERN_SUCCESS;
}

kern_return_t vm_wire(VmMap* map, vaddr_t address, vm_size_t size, vm_prot_t access,
                      bool privileged) {
  if (!map || (access & ~VM_PROT_ALL)) return KERN_INVALID_ARGUMENT;
  // GNU Mach checks the unprivileged limit on the size as given, before the range.
  if (!privileged && access != VM_PROT_NONE) {
    IrqSpinGuard g(map->lock);
    if (map->size_wired > kVmWireUnprivilegedLimit ||
        size > kVmWireUnprivilegedLimit - map->size_wired)
      return KERN_NO_ACCESS;
  }
  vaddr_t start, end;
  clip_range(map, address, size, &start, &end);
  return vm_map_wire(map, start, end, access);
}
