// Mach zones: allocators of fixed-size kernel objects (ports, threads, map entries...).
//
// A Zone is constant-initialized (constexpr constructor, trivial destructor), so zones are
// plain globals. Its memory comes from the page allocator (vm_page_alloc) through the direct
// map, a chunk of pages at a time, and its free elements form a singly linked list threaded
// through the elements themselves. Pages are kept until the zone is destroyed.
// Every zone that has allocated once is on a registry that zone_for_each walks.
//
// Locking: each zone has its own spin lock (taken with interrupts off). Lock order:
// zone registry lock, then a zone's lock, then vm_page_lock.
#pragma once
#include <stddef.h>

#include "kern/lock.h"
#include "kern/queue.h"
#include "machine/memory.h"
#include "vm/vm_page.h"

struct ZoneStats {
  const char* name;
  size_t elem_size;       // bytes per element, after rounding
  size_t in_use;          // elements handed out
  size_t free_elems;      // elements on the free list
  size_t pages;           // pages the zone holds
  size_t max_elems;       // limit on in_use; 0 means no limit
  size_t alloc_failures;  // alloc calls that returned nullptr
};

class Zone {
 public:
  // Elements are at least pointer-sized and a multiple of kZoneAlign bytes; an element
  // larger than a page gets a chunk of 2^k pages of its own. `name` must outlive the zone.
  // `max_elems` bounds the elements in use at once (0: no bound but memory).
  constexpr Zone(const char* name, size_t elem_size, size_t max_elems)
      : name_(name),
        elem_size_(round_elem(elem_size)),
        max_elems_(max_elems),
        chunk_order_(order_for(round_elem(elem_size))) {}
  Zone(const Zone&) = delete;
  Zone& operator=(const Zone&) = delete;

  static constexpr size_t kZoneAlign = 8;

  // Returns an uninitialized element, or nullptr when max_elems are in use or no page is
  // free. Registers the zone on first call. Takes the zone's lock (and vm_page_lock).
  void* alloc();

  // Returns element `p` from alloc(); nullptr is ignored. Pointers that cannot be one of
  // this zone's elements (not in a page of this zone, or not on an element boundary) and
  // frees beyond the number handed out are caught by kassert; a double free of an element
  // is not detected. Takes the zone's lock.
  void free(void* p);

  // A consistent snapshot of the counters. Takes the zone's lock.
  ZoneStats stats() const;

  const char* name() const { return name_; }
  size_t elem_size() const { return elem_size_; }

  // Gives every page back to the page allocator and takes the zone off the registry,
  // leaving it as freshly constructed. No element may be in use (kassert). For zones whose
  // owner goes away (host tests, per-boot test zones); the registry lock, the zone's lock
  // and vm_page_lock are taken in turn.
  void destroy();

 private:
  friend void zone_for_each(void (*fn)(Zone& zone, void* ctx), void* ctx);

  struct FreeElem {
    FreeElem* next;
  };

  static constexpr size_t round_elem(size_t size) {
    if (size < sizeof(FreeElem)) size = sizeof(FreeElem);
    return (size + kZoneAlign - 1) & ~(kZoneAlign - 1);
  }
  // Smallest page order whose chunk holds one element (may exceed the largest order, in
  // which case the zone can never grow and alloc returns nullptr).
  static constexpr unsigned order_for(size_t size) {
    unsigned order = 0;
    while ((kPageSize << order) < size && order < 31) ++order;
    return order;
  }

  // Links the zone on / off the registry (idempotent). Take the registry lock.
  void register_self();
  void unregister_self();
  // Adds a chunk of elements to the free list; false when no pages are free.
  bool grow_locked();
  size_t chunk_bytes() const { return kPageSize << chunk_order_; }

  const char* name_;
  size_t elem_size_;
  size_t max_elems_;
  unsigned chunk_order_;

  mutable SpinLock lock_;
  FreeElem* free_list_ = nullptr;  // guarded by lock_
  size_t in_use_ = 0;              // guarded by lock_
  size_t free_elems_ = 0;          // guarded by lock_
  size_t alloc_failures_ = 0;      // guarded by lock_
  // Head pages of the zone's chunks, guarded by lock_.
  IntrusiveList<VmPage, &VmPage::link> chunks_;

  Zone* registry_next_ = nullptr;  // guarded by the registry lock
  bool registered_ = false;        // written under the registry lock
};

// Calls fn(zone, ctx) for every registered zone, holding the registry lock: fn may read a
// zone (stats()) but must not allocate from an unregistered zone nor destroy one.
void zone_for_each(void (*fn)(Zone& zone, void* ctx), void* ctx);

// The same with any callable, e.g. a lambda: zone_for_each([&](Zone& z) { ... }).
template <class F>
void zone_for_each(F&& f) {
  auto* fp = &f;
  using FP = decltype(fp);
  zone_for_each([](Zone& z, void* ctx) { (*static_cast<FP>(ctx))(z); },
                const_cast<void*>(static_cast<const volatile void*>(fp)));
}

// A zone of objects of type T. alloc() returns raw memory for one T; constructing it
// (placement new, lib/new.h) and destroying it before free() are the caller's job.
template <class T>
class TypedZone {
 public:
  static_assert(alignof(T) <= kPageSize, "zone elements are at most page aligned");
  // sizeof(T) is a multiple of alignof(T) and chunks are page aligned, so every element
  // is aligned for T after the zone's rounding to kZoneAlign.

  constexpr TypedZone(const char* name, size_t max_elems) : zone_(name, sizeof(T), max_elems) {}

  T* alloc() { return static_cast<T*>(zone_.alloc()); }
  void free(T* p) { zone_.free(p); }
  ZoneStats stats() const { return zone_.stats(); }
  void destroy() { zone_.destroy(); }
  Zone& zone() { return zone_; }

 private:
  Zone zone_;
};
