// The host pmap: a software page table per Pmap (an ordered map from page to physical address,
// protection and the accessed and dirty bits), with the reverse map of managed pages, so that
// host tests can see what the VM system has entered. It implements machine/pmap.h; these
// functions are the tests' window into it.
#pragma once
#include <stddef.h>

#include "machine/pmap.h"

// The translation of page `va`: true and *pa, *prot when one is entered.
bool host_pmap_lookup(Pmap* pmap, vaddr_t va, paddr_t* pa, unsigned* prot);
// Number of pages entered in `pmap`.
size_t host_pmap_count(Pmap* pmap);
// Number of pmaps created and not destroyed (kernel pmap excluded).
size_t host_pmap_alive();
// Makes the next `n` pmap_enter calls fail, as on a page-table shortage.
void host_pmap_fail_next_enters(unsigned n);
// The MMU's side of an access of type `access` (kProt* bits) to page `va`: false, as a fault,
// when no translation allows it; otherwise sets the translation's accessed bit, and its dirty
// bit for a write, as the hardware does.
bool host_pmap_access(Pmap* pmap, vaddr_t va, unsigned access);
// Makes the next `n` reverse-map entry allocations fail, as on a shortage in the pv zone.
void host_pmap_fail_next_pv_allocs(unsigned n);
