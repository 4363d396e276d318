// The physical map: the machine-dependent cache of an address space's translations (seed
// 003: "the pmap is only a cache"). Any entry may be dropped at any time by pmap_remove and
// later re-entered from the machine-independent map; nothing in a pmap is authoritative.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "machine/memory.h"

struct Pmap;

enum VmProtBits : unsigned {
  kProtNone = 0,
  kProtRead = 1,
  kProtWrite = 2,
  kProtExecute = 4,
};

// The kernel's pmap: the upper half of every address space.
Pmap* kernel_pmap();

// A new, empty user pmap sharing the kernel half. nullptr on memory shortage.
Pmap* pmap_create();
// Frees the pmap's page tables (not the pages it maps). It must not be active anywhere.
void pmap_destroy(Pmap* pmap);

// Maps the page at `va` to `pa`. Returns false on memory shortage (a page table page could not
// be allocated); the caller may retry after freeing memory.
bool pmap_enter(Pmap* pmap, vaddr_t va, paddr_t pa, unsigned prot);
// Drops the translations in [start, end); all CPUs stop using them before this returns.
void pmap_remove(Pmap* pmap, vaddr_t start, vaddr_t end);
// Lowers the protection of [start, end) to `prot` (kProtNone removes).
void pmap_protect(Pmap* pmap, vaddr_t start, vaddr_t end, unsigned prot);
// The physical address `va` maps to, if any.
bool pmap_extract(Pmap* pmap, vaddr_t va, paddr_t* pa);
// Counts of page-table pages and of valid entries, for tests.
struct PmapStats {
  uint64_t table_pages;
  uint64_t mapped_pages;
};
PmapStats pmap_stats(Pmap* pmap);

// Makes `pmap` the address space of the calling CPU (kernel threads pass kernel_pmap()).
void pmap_activate(Pmap* pmap);

// --- Physical-page operations (the reverse map) ---------------------------------------------
// For external pagers and pageout: act on a physical page wherever it is mapped, in every
// pmap. Only managed pages (those vm_page_from_phys knows) have a reverse map; for any other
// address these do nothing and the queries return false. The kernel's direct map is never in
// it. Callers may hold VM map and object locks (docs/design.md: they come before pmap).
//
// Every mapping of a managed page costs one reverse-map entry, allocated by pmap_enter from a
// zone: that is one more way for pmap_enter to fail on memory shortage, with nothing changed.
//
// The page's modified and referenced bits are the hardware's dirty and accessed bits of all
// its mappings, plus a per-page record of those of mappings since removed (pmap_remove,
// pmap_protect to none, pmap_page_protect, pmap_destroy, pmap_enter replacing a mapping): a
// bit set by the hardware is never lost until the matching clear call. The record outlives
// the page's free; the VM forgets it with pmap_page_reset when the page takes new data.

// Lowers every mapping of the page to `prot`: without kProtRead (kProtNone, or a pager's lock
// on reads) it removes them all, since the MMU cannot map a page unreadable; otherwise,
// without kProtWrite they become read-only, and without kProtExecute they stop being
// executable. All CPUs stop using the old translations before this returns.
void pmap_page_protect(paddr_t pa, unsigned prot);
// Whether the page has been written through any mapping since the last pmap_clear_modify.
bool pmap_is_modified(paddr_t pa);
// Forgets the page's modified bit, in its mappings (all CPUs see the change before this
// returns: a later write sets the bit again) and in its record.
void pmap_clear_modify(paddr_t pa);
// Whether the page has been accessed through any mapping since the last pmap_clear_reference.
bool pmap_is_referenced(paddr_t pa);
// Forgets the page's referenced bit, as pmap_clear_modify does the modified bit.
void pmap_clear_reference(paddr_t pa);
// Forgets the page's modified and referenced record, for a page that takes new data (it
// enters an object): what it had been before must not look dirty or used. The page has no
// mapping.
void pmap_page_reset(paddr_t pa);
// Reverse-map entries in use, in all pmaps: one per mapping of a managed page (tests and
// leak checks).
size_t pmap_pv_entries();

// Highest user address + 1.
inline constexpr vaddr_t kUserEnd = 0x0000800000000000;
// The user space starts at 0, as GNU Mach's (VM_MIN_USER_ADDRESS): a task may map page 0 at a
// fixed address (vm_allocate, vm_map). Nothing else maps it, so that null pointers fault.
inline constexpr vaddr_t kUserStart = 0;
// Lowest user address the kernel maps on its own: the boot loader refuses segments below it,
// and `anywhere` allocations never choose page 0 (vm_map_find_space_locked).
inline constexpr vaddr_t kUserMin = 0x1000;

// Copies between kernel memory and the current task's memory through its loaded page tables;
// one side must be a user range already checked to lie below kUserEnd. A page the task has not
// touched is faulted in; false if some byte cannot be accessed (nothing is undone then).
bool arch_copy_user(void* dst, const void* src, size_t len);
