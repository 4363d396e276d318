// The pageout daemon (seed 002, 5.4 and 6): when free pages run short it takes pages from the
// inactive queue, giving each a second chance if it was referenced since, and sends them back
// to their pager: an external pager's dirty pages with memory_object_data_return (clean ones
// are dropped), anonymous memory to the default pager, for which the object first gets a
// memory object of its own with memory_object_create.
//
// A reserved pool keeps paging from deadlocking: below kVmPageReserve free pages, pages for
// objects go only to privileged threads (the daemon and the default pager's), and a fault
// that finds none waits for the daemon instead of failing. Kernel structures (messages,
// ports, map entries) are not held to the reserve: the messages that page out must get
// through.
#pragma once
#include <stddef.h>
#include <stdint.h>

struct VmObject;

inline constexpr size_t kVmPageReserve = 256;   // 1 MiB for privileged threads only
inline constexpr size_t kVmPageFreeMin = 512;   // below this, allocations wake the daemon
inline constexpr size_t kVmPageFreeTarget = 1024;  // the daemon works until this many are free
// Pages in transit to pagers (kVmPageLaundry) at most: beyond it the daemon frees only clean
// pages, and waits for pagers to take what was sent. Without a bound the daemon fills the
// default pager's queue faster than the disk empties it, until no page is left.
inline constexpr size_t kVmPageLaundryMax = 128;
// Pages of one object at consecutive offsets sent in one data_return, at most.
inline constexpr size_t kVmPageoutCluster = 16;
// How long a fault waits for free memory while paging makes no progress, before it fails
// with KERN_RESOURCE_SHORTAGE.
inline constexpr uint64_t kVmPageWaitBoundNs = 10'000'000'000;

// Free pages in the allocator (vm_page.cc); a snapshot, read without the lock.
size_t vm_page_free_count();

// May the calling thread take pages from the reserve? (The daemon and the default pager.)
bool vm_page_privileged();

// Whether a page may be allocated for an object now; wakes the daemon when memory runs low.
bool vm_page_may_allocate();

// Whether a fault that has waited for memory since `since` (arch_time_ns) should go on: some
// page was freed or sent to a pager less than kVmPageWaitBoundNs ago. Paging that makes
// progress, however slowly, is waited for; paging that is stuck fails the fault.
bool vm_page_wait_worthwhile(uint64_t since);

// Waits (at most until `deadline`, arch_time_ns) for the daemon to free memory. No lock held.
void vm_page_wait(uint64_t deadline);

// One pass of the daemon: looks at up to `batch` inactive pages, after refilling the inactive
// queue from the active one. Returns the pages freed or sent away. Dirty pages are sent only
// while fewer than kVmPageLaundryMax are in transit.
size_t vm_pageout_scan(size_t batch);

// A page in transit was freed (vm_resident.cc): the daemon may send more.
void vm_pageout_laundry_done();

// The daemon (a kernel thread started at boot).
void vm_pageout_thread(void*);

// Existence map of an internal object: which pages the default pager holds. Object locked.
bool vm_object_existence_test(const VmObject* object, uint64_t offset);
