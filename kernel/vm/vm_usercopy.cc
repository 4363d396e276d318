#include "vm/vm_usercopy.h"

#include <mach/vm_prot.h>

#include "lib/string.h"
#include "machine/pmap.h"
#include "vm/vm_fault.h"
#include "vm/vm_map.h"

namespace {

// Makes [va, va+len) present with `access` (faulting as needed) and calls f(kernel address,
// bytes) for each page piece. A write access always goes through vm_fault so that a
// copy-on-write page is copied first.
template <class F>
bool for_pages(VmMap* map, uint64_t va, size_t len, vm_prot_t access, F&& f) {
  if (!map || va >= kUserEnd || len > kUserEnd - va) return false;
  // Resolve every page first: nothing is copied if any is missing.
  for (uint64_t p = trunc_page(va); p < va + len; p += kPageSize) {
    paddr_t pa;
    if (access == VM_PROT_READ && pmap_extract(map->pmap, p, &pa)) continue;
    if (vm_fault(map, p, access) != KERN_SUCCESS) return false;
  }
  while (len) {
    paddr_t pa;
    // A page can be dropped from the pmap at any time (it is a cache): fault it back.
    while (!pmap_extract(map->pmap, va, &pa))
      if (vm_fault(map, trunc_page(va), access) != KERN_SUCCESS) return false;
    size_t chunk = kPageSize - (va & (kPageSize - 1));
    if (chunk > len) chunk = len;
    f(static_cast<char*>(arch_phys_to_virt(pa)), chunk);
    va += chunk;
    len -= chunk;
  }
  return true;
}

}  // namespace

bool map_copyin(VmMap* map, uint64_t src, void* dst, size_t len) {
  auto* d = static_cast<char*>(dst);
  return for_pages(map, src, len, VM_PROT_READ, [&](char* p, size_t n) {
    memcpy(d, p, n);
    d += n;
  });
}

bool map_copyout(VmMap* map, const void* src, uint64_t dst, size_t len) {
  auto* s = static_cast<const char*>(src);
  return for_pages(map, dst, len, VM_PROT_WRITE, [&](char* p, size_t n) {
    memcpy(p, s, n);
    s += n;
  });
}
