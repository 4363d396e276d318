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
// How long a fault waits for free memory before it fails with KERN_RESOURCE_SHORTAGE.
inline constexpr uint64_t kVmPageWaitBoundNs = 10'000'000'000;

// Free pages in the allocator (vm_page.cc); a snapshot, read without the lock.
size_t vm_page_free_count();

// May the calling thread take pages from the reserve? (The daemon and the default pager.)
bool vm_page_privileged();

// Whether a page may be allocated for an object now; wakes the daemon when memory runs low.
bool vm_page_may_allocate();

// Waits (at most until `deadline`, arch_time_ns) for the daemon to free memory. No lock held.
void vm_page_wait(uint64_t deadline);

// One pass of the daemon: looks at up to `batch` inactive pages, after refilling the inactive
// queue from the active one. Returns the pages freed or sent away.
size_t vm_pageout_scan(size_t batch);

// The daemon (a kernel thread started at boot).
void vm_pageout_thread(void*);

// Existence map of an internal object: which pages the default pager holds. Object locked.
bool vm_object_existence_test(const VmObject* object, uint64_t offset);
