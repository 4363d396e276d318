// The physical map: the machine-dependent cache of an address space's translations (seed
// 003: "the pmap is only a cache"). Any entry may be dropped at any time by pmap_remove and
// later re-entered from the machine-independent map; nothing in a pmap is authoritative.
#pragma once
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
