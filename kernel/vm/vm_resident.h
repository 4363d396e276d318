// The resident page table (seed 002, 5.3 and 5.4): the pages that hold data of a memory
// object, found by (object, offset) through a hash chained through the pages themselves, and
// the pageout queues (active, inactive) that link them. Free pages are vm_page.h's buddy lists.
//
// A page that belongs to an object is "tabled": on the hash, on its object's memq and, unless
// wired, on the active or inactive queue. The VM counters (vm_statistics and the counters the
// tests read) live here too.
//
// Locking: the object's lock must be held to insert, remove, look up or rename its pages; the
// hash and the queues are guarded by one spin lock inside (vm_resident_lock), taken after any
// object lock. Lock order for the whole VM: map, object (a shadow before its backing object),
// pmap, vm_resident_lock, zone, vm_page_lock.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vm/vm_page.h"

struct VmObject;

// VmPage::vm_flags
inline constexpr uint16_t kVmPageTabled = 1u << 0;    // on the hash and its object's memq
inline constexpr uint16_t kVmPageActive = 1u << 1;    // on the active queue
inline constexpr uint16_t kVmPageInactive = 1u << 2;  // on the inactive queue
// The page is being filled (by a pager, later): its data is not valid yet and whoever finds it
// must drop its locks and wait, never map it. With kVmPageAbsent, the pager had no data.
inline constexpr uint16_t kVmPageBusy = 1u << 3;
inline constexpr uint16_t kVmPageAbsent = 1u << 4;
// The pager answered a request for the page with memory_object_data_error: the next fault
// that finds it fails with KERN_MEMORY_ERROR and frees it.
inline constexpr uint16_t kVmPageError = 1u << 5;
// The page may differ from its pager's copy (it was mapped writable): it must be returned
// with memory_object_data_return before it is dropped.
inline constexpr uint16_t kVmPageDirty = 1u << 6;
// The pager keeps no copy (data_supply with precious): returned even when clean.
inline constexpr uint16_t kVmPagePrecious = 1u << 7;
// Accesses the pager has locked (memory_object_lock_request, data_supply's lock_value), and
// those an unlock has been asked for: VM_PROT_* bits at these shifts.
// The page is on its way to a pager in a memory_object_data_return: the pageout daemon sends
// no more while too many are (vm_pageout.h). Cleared when the page is freed.
inline constexpr uint16_t kVmPageLaundry = 1u << 14;
inline constexpr unsigned kVmPageLockShift = 8;
inline constexpr unsigned kVmPageUnlockShift = 11;
inline constexpr uint16_t kVmPageLockMask = 7u << kVmPageLockShift;
inline constexpr uint16_t kVmPageUnlockMask = 7u << kVmPageUnlockShift;
inline unsigned vm_page_locked(const VmPage* p) { return (p->vm_flags >> kVmPageLockShift) & 7u; }
inline unsigned vm_page_unlock_asked(const VmPage* p) {
  return (p->vm_flags >> kVmPageUnlockShift) & 7u;
}

// Counters of the VM system: what vm_statistics reports and what the tests check. Every field
// counts events since vm_resident_bootstrap, except the *_alive and *_count gauges.
struct VmCounters {
  uint64_t faults;            // vm_fault calls
  uint64_t zero_fill_count;   // pages zero-filled
  uint64_t cow_faults;        // pages copied by copy-on-write faults
  uint64_t page_copies;       // every page copy (cow faults, eager copies, vm_write into shared)
  uint64_t reactivations;
  uint64_t pageins;
  uint64_t pageouts;
  uint64_t lookups;           // resident table lookups
  uint64_t hits;              // ... that found a page
  uint64_t collapses;         // backing objects merged into their only shadow
  uint64_t bypasses;          // shadows that dropped their backing object (fully resident)
  uint64_t collapse_pages_moved;  // pages renamed by collapses
  uint64_t collapse_pages_freed;  // pages freed by collapses (shadowed or outside the window)
  uint64_t objects_alive;
  uint64_t map_entries_alive;
  uint64_t maps_alive;
  uint64_t copies_alive;
  uint64_t resident_count;    // pages tabled in some object
  uint64_t active_count;
  uint64_t inactive_count;
  uint64_t wire_count;        // pages with wire_count > 0
};

// Clears the hash, the queues and the counters. Called once after vm_page_bootstrap (host
// tests: after each fresh bootstrap, when no object exists).
void vm_resident_bootstrap();

// A snapshot of the counters. Takes vm_resident_lock.
VmCounters vm_counters();

// Bumps one event counter; `field` is a pointer to a member of VmCounters. Lock-free.
void vm_count(uint64_t VmCounters::*field, uint64_t n = 1);

// The page of `object` at `offset` (page aligned), or nullptr. Caller holds object's lock.
VmPage* vm_page_lookup(VmObject* object, uint64_t offset);

// Allocates a page and tables it at (object, offset), on the active queue. Its contents are
// not cleared. nullptr on memory shortage. Caller holds object's lock; no page may be there.
VmPage* vm_page_alloc_for(VmObject* object, uint64_t offset);

// Tables a page from vm_page_grab at (object, offset), on the active queue, as
// vm_page_alloc_for does. Caller holds object's lock; no page may be there. The page takes
// new data: the pmap forgets its modified and referenced record (pmap_page_reset); it must
// have no mapping.
void vm_page_insert(VmPage* page, VmObject* object, uint64_t offset);

// Untables `page` from its object and gives it back to the allocator. It must be mapped in no
// pmap; a wired page loses its wirings. Caller holds the object's lock.
void vm_page_free_tabled(VmPage* page);

// Moves `page` to (new_object, new_offset): used by collapse. Caller holds both objects' locks
// and new_object has no page at new_offset.
void vm_page_rename(VmPage* page, VmObject* new_object, uint64_t new_offset);

// Marks a tabled page as in transit to a pager (kVmPageLaundry); the count of such pages drops
// when they are freed. Caller holds the page's object lock.
void vm_page_set_laundry(VmPage* page);
size_t vm_page_laundry_count();

// Wiring: a wired page leaves the pageout queues; unwiring the last wiring puts it back on the
// active queue. Caller holds the page's object lock.
void vm_page_wire(VmPage* page);
void vm_page_unwire(VmPage* page);

// Puts the page at the tail of the active queue (referenced) / the inactive queue.
void vm_page_activate(VmPage* page);
void vm_page_deactivate(VmPage* page);

// For the pageout daemon (interrupts off): the first page of the inactive queue whose object
// it could lock without waiting (that object stays locked: the caller unlocks it), skipping
// busy and wired pages; nullptr if none.
VmPage* vm_resident_inactive_try_lock(VmObject** object);
// Moves pages from the head of the active queue to the inactive queue until it holds a third
// of the pageable pages.
void vm_resident_balance_queues();

// Data helpers through the direct map.
void vm_page_zero_fill(VmPage* page);
void vm_page_copy(VmPage* src, VmPage* dst);
