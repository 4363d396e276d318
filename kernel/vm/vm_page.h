// Resident pages: one VmPage per page of usable physical memory, and the buddy allocator
// that hands out naturally aligned runs of 2^order pages (order 0..kVmPageMaxOrder).
//
// The VmPage array is carved out of physical memory itself at bootstrap, one array for all
// ranges; holes between ranges cost nothing. Blocks never span two ranges.
//
// Locking: one spin lock (vm_page_lock, taken with interrupts off) guards the free lists,
// the flags of free pages and the counters. An allocated page belongs to its allocator's
// caller, which guards its fields. Lock order: zone locks, then vm_page_lock.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kern/queue.h"
#include "machine/memory.h"

struct VmObject;
class Zone;

inline constexpr unsigned kVmPageMaxOrder = 10;  // largest block: 1024 pages (4 MiB)
inline constexpr unsigned kVmPageOrders = kVmPageMaxOrder + 1;
inline constexpr size_t kVmMaxSegments = 32;     // ranges beyond this are ignored

// VmPage::flags
inline constexpr uint8_t kVmPageFree = 1u << 0;      // head of a free block of `order`
inline constexpr uint8_t kVmPageReserved = 1u << 1;  // holds the VmPage array; never free
inline constexpr uint8_t kVmPageWired = 1u << 2;     // wired (VM; wire_count > 0)
inline constexpr uint8_t kVmPageZone = 1u << 3;      // backs a zone; `zone` is valid

struct VmPage {
  QueueLink link;  // free list while free; the owner's queue (page queues, zone) otherwise
  paddr_t phys = 0;
  union {
    VmObject* object = nullptr;  // the object whose data the page holds (VM), or
    Zone* zone;                  // the zone it backs, when flags has kVmPageZone
  };
  uint64_t offset = 0;      // offset within `object`
  uint16_t wire_count = 0;  // VM wirings
  uint8_t flags = 0;
  uint8_t order = 0;        // block order: of the free block, or as allocated (head page)
  // Resident page table (vm/vm_resident.h), for pages that hold an object's data. They are
  // reset by vm_resident before the page goes back to the allocator.
  uint16_t vm_flags = 0;         // kVmPage{Tabled,Active,Inactive,Busy,Absent,...}
  QueueLink listq;               // the object's list of resident pages (VmObject::memq)
  VmPage* hash_next = nullptr;   // chain of the (object, offset) hash bucket
  // The pmap's reverse map of the page: its list of mappings, a lock bit and the page's
  // referenced/modified attributes, packed in one word (machine/pmap.h: pmap_page_protect,
  // pmap_is_modified...). Only the pmap reads or writes it; it survives the page's free, and
  // vm_page_insert forgets the attributes (pmap_page_reset) when the page takes new data.
  uintptr_t pmap_pv = 0;
};

struct VmPageStats {
  size_t total_pages;     // pages in the usable ranges given to vm_page_bootstrap
  size_t free_pages;      // pages on the free lists
  size_t reserved_pages;  // pages holding the VmPage array
  size_t allocated_pages; // total - free - reserved
  size_t alloc_failures;  // vm_page_alloc calls that returned nullptr
  size_t segments;        // ranges managed (after merging adjacent ones)
  size_t free_blocks[kVmPageOrders];  // free blocks of each order
};

// Takes the usable physical memory `ranges[0..n)` (any order; unaligned edges are trimmed
// to whole pages; adjacent ranges merge). Steals the VmPage array from the largest range
// (through arch_phys_to_virt) and puts every other page on the free lists. Called once at
// boot before any allocation; the host tests call it again to start afresh, which forgets
// every page handed out before. Panics only if no range can hold the array.
void vm_page_bootstrap(const PhysRange* ranges, size_t n);

// Allocates a block of 2^order physically contiguous pages whose physical address is
// aligned to 2^order pages. Returns the head page (the others follow it in the array and
// in memory), or nullptr when no block is free or order > kVmPageMaxOrder. The contents of
// the memory are not cleared. Takes vm_page_lock.
VmPage* vm_page_alloc(unsigned order);

// Returns a block from vm_page_alloc(order) with the same order. Coalesces with free
// buddies. Freeing a free page or with the wrong order is caught by kassert. Takes
// vm_page_lock.
void vm_page_free(VmPage* page, unsigned order);

// One page: vm_page_alloc(0) / vm_page_free(page, 0).
VmPage* vm_page_grab();
void vm_page_release(VmPage* page);

// Physical address of the page.
paddr_t vm_page_to_phys(const VmPage* page);
// The VmPage of the page containing `pa`, or nullptr if `pa` is not in a managed range.
// Lock-free: the ranges do not change after bootstrap.
VmPage* vm_page_from_phys(paddr_t pa);
// The page's memory through the direct map.
void* vm_page_to_virt(const VmPage* page);

// A consistent snapshot of the counters. Takes vm_page_lock.
VmPageStats vm_page_stats();
