// Physical memory as the machine-independent kernel reaches it: every physical page is
// reachable through a direct map. Implemented by the x86-64 pmap and by the host arena.
#pragma once
#include <stddef.h>
#include <stdint.h>

using paddr_t = uint64_t;
using vaddr_t = uintptr_t;

inline constexpr size_t kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;

inline constexpr uintptr_t round_page(uintptr_t x) { return (x + kPageSize - 1) & ~(kPageSize - 1); }
inline constexpr uintptr_t trunc_page(uintptr_t x) { return x & ~(kPageSize - 1); }

// Kernel virtual address of physical address `pa` in the direct map.
void* arch_phys_to_virt(paddr_t pa);
// Inverse of arch_phys_to_virt for direct-map addresses.
paddr_t arch_virt_to_phys(const void* va);

// A range of usable physical memory [base, end), page aligned.
struct PhysRange {
  paddr_t base = 0;
  paddr_t end = 0;
};
