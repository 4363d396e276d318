// Simulated physical memory for the host tests: one page-aligned host allocation that the
// tests treat as physical addresses [kHostPhysBase, kHostPhysBase + kHostPhysSize).
#include <stdlib.h>
#include <string.h>

#include "arch/host_arch.h"
#include "kern/assert.h"
#include "machine/memory.h"

namespace {

char* arena() {
  static char* base = [] {
    auto* p = static_cast<char*>(aligned_alloc(kPageSize, kHostPhysSize));
    if (!p) abort();
    // Garbage, not zeros: code must not rely on fresh memory being cleared.
    memset(p, 0xa5, kHostPhysSize);
    return p;
  }();
  return base;
}

}  // namespace

void* arch_phys_to_virt(paddr_t pa) {
  if (pa < kHostPhysBase || pa >= kHostPhysBase + kHostPhysSize)
    panic("arch_phys_to_virt: %#llx outside simulated memory", static_cast<unsigned long long>(pa));
  return arena() + (pa - kHostPhysBase);
}

paddr_t arch_virt_to_phys(const void* va) {
  auto* p = static_cast<const char*>(va);
  char* a = arena();
  // Not a direct-map address: an address no range contains.
  if (p < a || p >= a + kHostPhysSize) return ~paddr_t{0};
  return kHostPhysBase + static_cast<paddr_t>(p - a);
}

PhysRange host_phys_all() { return PhysRange{kHostPhysBase, kHostPhysBase + kHostPhysSize}; }

size_t host_phys_ranges_with_holes(PhysRange* out, size_t max) {
  constexpr paddr_t b = kHostPhysBase;
  constexpr paddr_t kMiB = 1u << 20;
  // Out of order, with holes, unaligned edges, and two touching ranges that merge.
  const PhysRange map[] = {
      {b + 24 * kMiB, b + 40 * kMiB},                  // 16 MiB
      {b + 0x123, b + 640 * 1024},                     // low memory, unaligned start
      {b + 1 * kMiB + 3 * kPageSize, b + 20 * kMiB - 100},  // unaligned end
      {b + 40 * kMiB, b + 48 * kMiB},                  // touches the first: one segment
      {b + 52 * kMiB + kPageSize, b + 64 * kMiB - kPageSize},
      {b + 50 * kMiB, b + 50 * kMiB + 2000},           // less than a page: dropped
  };
  size_t n = 0;
  for (const PhysRange& r : map) {
    if (n == max) break;
    out[n++] = r;
  }
  return n;
}
