// The x86-64 pmap's own structure and its boot-time entry points.
#pragma once
#include "kern/lock.h"
#include "machine/pmap.h"

struct Pmap {
  paddr_t pml4 = 0;
  SpinLock lock;
  uint32_t cpus = 0;  // CPUs that may hold this pmap's translations
  uint64_t table_pages = 0;
  uint64_t mapped_pages = 0;
};

// Builds the kernel's page tables (direct map, kernel image) and switches to them.
void pmap_bootstrap(paddr_t max_phys);
// Removes the low identity map once the application processors have started.
void pmap_drop_identity_map();
// Acts on a pending shootdown request for this CPU, if any (IPI handler and spin loops).
void tlb_shootdown_interrupt();
