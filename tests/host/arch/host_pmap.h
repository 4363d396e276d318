// The host pmap: a software page table per Pmap (an ordered map from page to physical address
// and protection), so that host tests can see what the VM system has entered. It implements
// machine/pmap.h; these functions are the tests' window into it.
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
