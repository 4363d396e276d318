// Memory objects as the kernel holds them (seed 002, 5.2; seed 003, "shadow objects"): a size,
// the resident pages, a reference count, an optional pager, and for copy-on-write a shadow: the
// object this one was copied from, which supplies every page this one does not hold.
//
// Copy-on-write is Mach 3's symmetric strategy for anonymous memory: a copy makes both sides
// refer to the same object with needs_copy set in their map entries, and the first write on
// either side puts a new, empty shadow object in front of it. An object that two or more
// entries or shadows refer to is therefore never written in place (only a shadow in front of
// it is), except when it is `shared`: mapped read/write by several maps through
// VM_INHERIT_SHARE. A shared object is copied eagerly (vm_object_copy_slowly), and its faults
// always bring the page up into the shared object itself, so no map keeps a mapping of a page
// that a later write would hide.
//
// Chains stay short because the work is done when references go away, never on each fault:
// - collapse: when a backing object's only reference is its one shadow, its pages move into
//   that shadow and it disappears (vm_object_deallocate; if the shadow was locked by another
//   CPU then, its next fault does it: vm_object_collapse_chain). This costs the backing
//   object's resident pages once, at the death of its other user (task exit, vm_deallocate);
// - bypass: a shadow that holds every page of its range drops its backing object (a constant
//   time test after each copy-on-write fault).
// GNU Mach instead tries its collapse after every copy-on-write fault and walks the backing
// object's pages each time, which makes a fault cost O(resident pages).
//
// Locking: VmObject::lock guards the fields marked so. When two objects of a chain are locked,
// the shadow (front) is locked before its backing object. The reference count and the shadow
// pointer are guarded by the lock. vm_object_deallocate must be called with no object lock held.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <mach/kern_return.h>

#include "kern/lock.h"
#include "kern/queue.h"
#include "vm/vm_page.h"

struct Port;

// How copies of an object are made (Mach's MEMORY_OBJECT_COPY_*, reduced to what exists).
enum class VmCopyStrategy : uint8_t {
  kSymmetric,  // anonymous memory: copy-on-write through shadow objects
  kNone,       // copy the data at once (objects whose contents may change under a copy)
};

struct VmObject {
  SpinLock lock;
  uint32_t ref_count = 1;  // map entries, map copies, shadows (guarded by lock)
  uint64_t size = 0;       // bytes, a multiple of the page size; fixed at creation
  // Resident pages (guarded by lock).
  IntrusiveList<VmPage, &VmPage::listq> memq;
  size_t resident_page_count = 0;
  // The object this one shadows, holding one reference to it, and where this object's offset
  // 0 lies in it (guarded by lock).
  VmObject* shadow = nullptr;
  uint64_t shadow_offset = 0;
  // Link on shadow->shadowers (guarded by the shadow's lock).
  QueueLink shadower_link;
  // The objects whose shadow this is (guarded by lock). Each holds one reference.
  IntrusiveList<VmObject, &VmObject::shadower_link> shadowers;
  VmCopyStrategy copy_strategy = VmCopyStrategy::kSymmetric;
  // Mapped directly (read/write) by several entries: VM_INHERIT_SHARE (guarded by lock).
  bool shared = false;
  bool terminating = false;  // reference count reached zero (guarded by lock)
  // The memory object (external pager) behind this object, as a send right the object holds;
  // nullptr for anonymous memory, which is zero-filled on first touch (vm/vm_pager.h).
  // Set once at creation, cleared when the object is cut from its pager (guarded by lock).
  Port* pager = nullptr;
  // The kernel's receive rights given to the pager by memory_object_init: the control port
  // (the pager's calls on this object) and the name port (vm_region's name for it).
  Port* pager_control = nullptr;
  Port* pager_name = nullptr;
  // memory_object_ready has come (faults wait for it; guarded by lock).
  bool pager_ready = false;
  // Keep the pages after the last mapping goes, until memory is needed (guarded by lock).
  bool can_cache = false;
  // The pager is gone (dead port, memory_object_destroy, protocol failure): pages it did not
  // supply fault with KERN_MEMORY_ERROR (guarded by lock).
  bool pager_dead = false;
  // The MEMORY_OBJECT_COPY_* the pager asked for (reported back by get_attributes).
  int pager_copy_strategy = 0;
  // Pager operations under way (data requests...); a collapse waits for none (guarded by lock).
  uint32_t paging_in_progress = 0;
  // On the pager thread's queue of objects to terminate (vm_pager.cc).
  QueueLink pager_link;
  // Anonymous memory whose pager is the default pager (given at its first pageout): the
  // pager holds only the pages the existence map marks, a bit a page, in 2^existence_order
  // pages from the page allocator (guarded by lock).
  bool internal = false;
  // Never paged out: the pages pageout itself sends to a pager (vm_map_copy_from_pages), which
  // the pager holds until it has stored them (guarded by lock).
  bool no_pageout = false;
  uint8_t* existence = nullptr;
  uint8_t existence_order = 0;
};

// A new anonymous object of `size` bytes (rounded up to pages) with one reference, no pages.
// nullptr on memory shortage.
VmObject* vm_object_allocate(uint64_t size);

// Takes one more reference. The caller holds a reference already (or the object's lock).
void vm_object_reference(VmObject* object);

// Drops one reference. At zero the object's pages are freed and its backing object loses a
// reference in turn; when the object is left with only the reference of its one shadow, it is
// collapsed into that shadow. nullptr is ignored. Call with no object lock held.
void vm_object_deallocate(VmObject* object);

// Copy-on-write: replaces *object (whose reference the caller gives up) by a new, empty
// object of `length` bytes shadowing it at *offset, and sets *offset to 0. On shortage
// returns KERN_RESOURCE_SHORTAGE and changes nothing.
kern_return_t vm_object_shadow(VmObject** object, uint64_t* offset, uint64_t length);

// Collapses into `object` every backing object whose only reference is the one of the object
// in front of it: catches up on a collapse that vm_object_deallocate had to skip because the
// shadow's lock was busy (another CPU). Constant time when there is nothing to do.
void vm_object_collapse_chain(VmObject* object);

// If `object` holds every page of its range, drops its backing object (bypass). Constant time
// unless that drops the backing object's last other reference (then see deallocate).
void vm_object_try_bypass(VmObject* object);

// A new object with a copy of [offset, offset + size) of `src` as seen through its shadow
// chain (pages absent everywhere stay absent: zero). nullptr on shortage, nothing leaked.
VmObject* vm_object_copy_slowly(VmObject* src, uint64_t offset, uint64_t size);

// Marks the object as mapped read/write by several maps (see above).
void vm_object_set_shared(VmObject* object);

// Number of objects in the chain starting at `object` (1 for an object without shadow).
size_t vm_object_chain_length(VmObject* object);

// The object of the chain from `object` that holds the page at `offset`, or nullptr when no
// object of the chain has it; *offset_in_owner receives its offset there. For tests.
VmObject* vm_object_page_owner(VmObject* object, uint64_t offset, uint64_t* offset_in_owner);

// Looks up pages down a shadow chain with the right locks: the top object's lock is held for
// the guard's lifetime, and the lock of the object where the last find() stopped, until the
// next find() or the end of the guard. Interrupts are off while it lives.
class VmChainWalk {
 public:
  explicit VmChainWalk(VmObject* top);
  ~VmChainWalk();
  VmChainWalk(const VmChainWalk&) = delete;
  VmChainWalk& operator=(const VmChainWalk&) = delete;

  // The page of `top` at `offset`, from the first object of the chain that has it, or nullptr.
  // owner() is that object (top when nothing was found) and owner_offset() the page's
  // offset in it. Offsets past an object's size are absent.
  VmPage* find(uint64_t offset);
  VmObject* top() const { return top_; }
  VmObject* owner() const { return owner_; }
  // After a find() that returned nullptr: the object with a pager where the search stopped
  // (an object with a pager is the end of its chain for pages it does not hold), locked for
  // the guard's lifetime, and the page's offset in it; nullptr when no pager has the page.
  VmObject* pager_owner() const { return at_pager_ ? owner_ : nullptr; }
  uint64_t pager_offset() const { return pager_offset_; }

 private:
  void drop_lower();
  VmObject* top_;
  VmObject* owner_;  // locked (top_ or a backing object)
  bool at_pager_ = false;
  uint64_t pager_offset_ = 0;
  IrqState irq_;
};

// Frees an object whose reference count reached zero and that nobody can reach any more:
// its pages (mapped nowhere) and the structure. For vm_pager.cc, which terminates objects
// with pagers after their data went back. Its backing object loses a reference.
void vm_object_free_dead(VmObject* object);

// Per-boot set-up and, for the host tests, tear-down (no object may be alive).
void vm_object_bootstrap();
void vm_object_zone_destroy();
