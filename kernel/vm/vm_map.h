// Address maps (seed 002, 5.1; seed 003): a task's address space as a sorted list of entries,
// each a page-aligned range [start, end) with current and maximum protection, inheritance, and
// a memory object at an offset (nullptr: zero-fill memory not touched yet; the object is made
// on the first fault). A copy-on-write entry is marked needs_copy: it may read its object but
// must put a shadow object in front of it before the first write.
//
// Sharing (VM_INHERIT_SHARE) is Mach 3's: the child's entry refers to the same object, which
// becomes `shared` (vm_object.h), instead of the two-level sharing maps of Mach 2.5. Writes,
// vm_write and vm_copy into the range reach the shared object, so every sharer sees them;
// protection, inheritance and deallocation stay per task, as in Mach 3.
//
// Each map has its own pmap, used only as a cache: every change to a mapping removes or
// lowers the pmap's entries, and nothing is ever read back from it.
//
// Map copies (VmMapCopy) carry memory between maps: out-of-line message data, vm_read,
// vm_write and vm_copy. They hold entries of their own, copy-on-write against the source.
//
// Locking: VmMap::lock (a spin lock, taken with interrupts off) guards the entries, the hint
// and the counters, and is held across a whole operation, faults included (nothing in these
// paths sleeps). It comes before every object lock. Functions ending in _locked need it held.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <mach/kern_return.h>
#include <mach/machine/vm_types.h>
#include <mach/vm_inherit.h>
#include <mach/vm_prot.h>

#include "kern/lock.h"
#include "machine/memory.h"

struct Pmap;
struct VmObject;
struct VmPage;

struct VmMapEntry {
  VmMapEntry* prev = nullptr;
  VmMapEntry* next = nullptr;
  vaddr_t start = 0;
  vaddr_t end = 0;
  VmObject* object = nullptr;  // holds one reference; nullptr: untouched zero-fill memory
  uint64_t offset = 0;         // offset of `start` in object
  vm_prot_t protection = VM_PROT_DEFAULT;
  vm_prot_t max_protection = VM_PROT_ALL;
  vm_inherit_t inheritance = VM_INHERIT_DEFAULT;
  bool needs_copy = false;     // copy-on-write: shadow the object before writing
  uint16_t wired_count = 0;    // user wirings (vm_wire); the pages are wired while > 0

  vm_size_t size() const { return end - start; }
};

// A sorted, doubly linked list of entries.
struct VmEntryList {
  VmMapEntry* first = nullptr;
  VmMapEntry* last = nullptr;
  size_t count = 0;

  // Inserts `e` after `prev` (at the head when prev is nullptr).
  void insert_after(VmMapEntry* prev, VmMapEntry* e);
  void remove(VmMapEntry* e);
};

struct VmMap {
  SpinLock lock;
  VmEntryList entries;         // guarded by lock
  VmMapEntry* hint = nullptr;  // last entry found (guarded by lock)
  vaddr_t min_offset = 0;      // the range addresses may take: [min_offset, max_offset)
  vaddr_t max_offset = 0;
  Pmap* pmap = nullptr;
  vm_size_t size = 0;          // bytes mapped (guarded by lock)
  vm_size_t size_wired = 0;    // bytes of entries with wired_count > 0 (guarded by lock)
  uint32_t ref_count = 1;      // guarded by lock
};

// What vm_region reports about one entry.
struct VmRegionInfo {
  vaddr_t address;
  vm_size_t size;
  vm_prot_t protection;
  vm_prot_t max_protection;
  vm_inherit_t inheritance;
  bool shared;
  uint64_t offset;
};

// Entries handed out ahead of an operation, so that clipping never fails halfway and an
// operation either happens or changes nothing. Unused entries are freed by the destructor.
class VmEntryReserve {
 public:
  VmEntryReserve() = default;
  ~VmEntryReserve();
  VmEntryReserve(const VmEntryReserve&) = delete;
  VmEntryReserve& operator=(const VmEntryReserve&) = delete;
  // Makes sure `n` entries are available. false on shortage (those held stay held).
  bool fill(size_t n);
  VmMapEntry* take();

 private:
  VmMapEntry* list_ = nullptr;
  size_t count_ = 0;
};

// --- Maps ----------------------------------------------------------------------------------

// A new, empty map for addresses [min, max) (page aligned; user space is
// [kUserStart, kUserEnd), from 0 as GNU Mach's) with a new pmap. nullptr on shortage.
VmMap* vm_map_create(vaddr_t min, vaddr_t max);
void vm_map_reference(VmMap* map);
// Drops a reference; the last removes every entry, then frees the pmap and the map.
void vm_map_deallocate(VmMap* map);

// The entry containing `addr`: returns true and sets *entry. Otherwise returns false and sets
// *entry to the last entry before addr (nullptr if none). Updates the hint.
bool vm_map_lookup_entry_locked(VmMap* map, vaddr_t addr, VmMapEntry** entry);

// Maps [*address, *address + size) (page aligned, size > 0) to `object` at `offset`, whose
// reference moves to the map on success (nullptr: zero-fill). With `anywhere`, the lowest
// free range whose start is aligned to mask + 1 is chosen (vm_map_find_space_locked) and
// *address set. Returns
// KERN_INVALID_ADDRESS outside the map's bounds (fixed), KERN_NO_SPACE when the range is in
// use or no range is large enough, KERN_RESOURCE_SHORTAGE. Takes the map lock.
kern_return_t vm_map_enter(VmMap* map, vaddr_t* address, vm_size_t size, vaddr_t mask,
                           bool anywhere, VmObject* object, uint64_t offset, bool needs_copy,
                           vm_prot_t cur, vm_prot_t max, vm_inherit_t inheritance);

// Removes every mapping in [start, end) (page aligned); holes are fine. Takes the map lock.
kern_return_t vm_map_remove(VmMap* map, vaddr_t start, vaddr_t end);

// Sets the current protection of the entries in [start, end), or with set_max the maximum
// (the current is lowered to it). KERN_PROTECTION_FAILURE, changing nothing, if new_prot
// exceeds some entry's maximum. Holes are skipped. Takes the map lock.
kern_return_t vm_map_protect(VmMap* map, vaddr_t start, vaddr_t end, vm_prot_t new_prot,
                             bool set_max);

// Sets the inheritance of the entries in [start, end). Takes the map lock.
kern_return_t vm_map_inherit(VmMap* map, vaddr_t start, vaddr_t end, vm_inherit_t inheritance);

// The first entry at or above *address: *info describes it. KERN_NO_SPACE if there is none.
kern_return_t vm_map_region(VmMap* map, vaddr_t* address, VmRegionInfo* info);

// task_create with inherited memory: a new map with the parent's bounds where each entry is
// absent (VM_INHERIT_NONE), refers to the same, now shared object (VM_INHERIT_SHARE), or is a
// copy-on-write copy (VM_INHERIT_COPY). nullptr on shortage. Takes the parent's lock.
VmMap* vm_map_fork(VmMap* parent);

// Entry plumbing for vm_map.cc, vm_map_copy.cc and vm_fault.cc. All need the map lock.
VmMapEntry* vm_map_entry_alloc();
void vm_map_entry_free(VmMapEntry* entry);  // does not touch entry->object
// Splits `entry` so that it starts (clip_start) or ends (clip_end) at `addr`; the other part
// is a new entry from `reserve`. Nothing happens when addr is at or outside the entry's edge.
void vm_map_clip_start_locked(VmMap* map, VmMapEntry* entry, vaddr_t addr,
                              VmEntryReserve& reserve);
void vm_map_clip_end_locked(VmMap* map, VmMapEntry* entry, vaddr_t addr,
                            VmEntryReserve& reserve);
// Merges `entry` with its neighbours where they continue each other exactly; `entry` may be
// freed. The _range form does it for every entry touching [start, end].
void vm_map_simplify_locked(VmMap* map, VmMapEntry* entry);
void vm_map_simplify_range_locked(VmMap* map, vaddr_t start, vaddr_t end);
// Removes [start, end) (clipping with `reserve`: needs 2 entries).
void vm_map_delete_locked(VmMap* map, vaddr_t start, vaddr_t end, VmEntryReserve& reserve);
// The number of entries overlapping [start, end).
size_t vm_map_count_entries_locked(VmMap* map, vaddr_t start, vaddr_t end);
// True when [start, end) is covered by entries without holes.
bool vm_map_range_mapped_locked(VmMap* map, vaddr_t start, vaddr_t end);
// The lowest free range of `size` bytes aligned to mask + 1: *start. false if none. As GNU
// Mach's search, it never starts below the end of the map's first entry (GNU Mach keeps no
// free space before the first entry); in an empty map it starts at min_offset. Address 0 is
// never chosen, so that null pointers fault: page 0 is mapped only at a fixed address.
bool vm_map_find_space_locked(VmMap* map, vm_size_t size, vaddr_t mask, vaddr_t* start);

// --- Map copies ----------------------------------------------------------------------------

struct VmMapCopy {
  VmEntryList entries;  // page-aligned ranges in the source's address space
  vaddr_t offset = 0;   // where the data started in the source
  vm_size_t size = 0;   // bytes of data
};

// Copies [addr, addr + len) of `src` into a new copy (*copy; nullptr when len is 0). Anonymous
// memory becomes copy-on-write (both sides needs_copy, the source's pmap write-protected);
// shared or wired memory is copied at once. With src_destroy the range leaves `src` and its
// objects move into the copy without copying. Returns KERN_INVALID_ADDRESS if the range
// overflows or is not entirely mapped, KERN_PROTECTION_FAILURE if some part is not readable,
// KERN_RESOURCE_SHORTAGE; in every failure `src` is unchanged in content. Takes src's lock.
kern_return_t vm_map_copyin(VmMap* src, vaddr_t addr, vm_size_t len, bool src_destroy,
                            VmMapCopy** copy);

// Maps the copy anywhere in `dst` (read/write, maximum all, inheritance copy) and consumes it;
// *addr is where the data starts. nullptr copy: *addr = 0. KERN_NO_SPACE, or
// KERN_RESOURCE_SHORTAGE, leave the copy to the caller. Takes dst's lock.
kern_return_t vm_map_copyout(VmMap* dst, vaddr_t* addr, VmMapCopy* copy);

// Overwrites [addr, addr + copy->size) of `dst` with the copy and consumes it. The range must
// be mapped (KERN_INVALID_ADDRESS) and writable (KERN_PROTECTION_FAILURE); addr, copy->offset
// and copy->size must be page aligned (KERN_INVALID_ARGUMENT). Private memory takes the copy's
// objects (no data is copied); shared or wired memory receives the data in place. On failure
// the copy is left to the caller and dst is unchanged. Takes dst's lock.
kern_return_t vm_map_copy_overwrite(VmMap* dst, vaddr_t addr, VmMapCopy* copy);

// Frees a copy that will not be used, with its references. nullptr is ignored.
void vm_map_copy_discard(VmMapCopy* copy);
// A map copy of `len` bytes of kernel data (out-of-line replies: port name arrays...), in
// fresh pages of a new object. nullptr on shortage.
VmMapCopy* vm_map_copy_from_kernel(const void* data, vm_size_t len);

// A copy that takes `pages` themselves (renamed into an object of their own, no data copied):
// the pageout daemon's data_return. They belong to one object, locked, at consecutive
// offsets. nullptr on shortage (the pages stay where they were).
VmMapCopy* vm_map_copy_from_pages(VmPage* const* pages, size_t n);

// Reads bytes [pos, pos + len) of the copy's data into kernel memory `dst`. Pages no object
// holds (untouched memory, or a pager's pages not resident) read as zeros. Takes the locks of
// the copy's objects, one chain at a time.
void vm_map_copy_read(VmMapCopy* copy, vm_size_t pos, void* dst, vm_size_t len);

// Host tests: frees the zones of maps, entries and copies (none may be in use).
void vm_map_zones_destroy();
void vm_map_copy_zone_destroy();
