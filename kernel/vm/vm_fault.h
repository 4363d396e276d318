// The page fault handler (seed 002, 5.5): validity and protection from the map, page lookup
// down the shadow chain, zero fill, copy-on-write into the entry's own object, then the pmap.
// Also wiring, which is faulting pages in and holding them.
//
// A copy-on-write fault costs O(1) in the size of the objects: it allocates at most one shadow
// object and copies one page; chains are shortened when references go away (vm_object.h).
//
// Pagers: anonymous memory only for now. A page that is being filled is marked kVmPageBusy;
// a fault that meets one releases every lock and retries, and the pager path (external memory
// management) will insert such a busy, absent page, ask the pager and wait the same way, so
// that no spin lock is ever held while waiting for data.
#pragma once
#include <mach/kern_return.h>
#include <mach/vm_prot.h>

#include "machine/memory.h"

struct VmMap;
struct VmMapEntry;
struct VmPage;

// Resolves a fault at `addr` in `map` for an access of `fault_type` (VM_PROT_READ, WRITE or
// EXECUTE, or a combination) and enters the page into the map's pmap. With change_wiring the
// page is also wired, into the entry's own object (undo with vm_fault_unwire).
// Returns KERN_INVALID_ADDRESS if nothing is mapped there, KERN_PROTECTION_FAILURE if the
// entry does not allow the access, KERN_RESOURCE_SHORTAGE when memory runs out (nothing is
// lost; the fault may be retried), KERN_ABORTED if the calling thread is told to end while
// the fault waits (for a pager or for memory): it gives up at once, and no exception is due.
// Takes the map lock; call with no VM lock held.
kern_return_t vm_fault(VmMap* map, vaddr_t addr, vm_prot_t fault_type, bool change_wiring = false);

// Undoes one vm_fault(..., change_wiring = true) of the page at `addr`.
void vm_fault_unwire(VmMap* map, vaddr_t addr);

// vm_wire: with access != VM_PROT_NONE, wires [start, end) (page aligned): every page is
// brought into its entry's own object, entered into the pmap and kept resident; with
// VM_PROT_NONE, undoes that. A range wired twice needs two unwirings to become pageable.
// VmMap::size_wired counts the bytes of wired entries. As GNU Mach, returns KERN_NO_SPACE if
// start is not mapped (even for an empty range), if the range has a hole or if the access
// exceeds an entry's protection; KERN_INVALID_ARGUMENT for unwiring memory that is not wired,
// KERN_RESOURCE_SHORTAGE (and nothing stays wired). Takes the map lock.
kern_return_t vm_map_wire(VmMap* map, vaddr_t start, vaddr_t end, vm_prot_t access);

// For the map code. The map lock is held.
// The fault on page `va` of `entry` (access already checked); *page receives the page
// entered into the pmap (in the entry's own object for a write or with `wire`).
kern_return_t vm_fault_entry_locked(VmMap* map, VmMapEntry* entry, vaddr_t va,
                                    vm_prot_t fault_type, bool wire, VmPage** page);
// Unwires every page of a wired entry of `map` (its wirings are dropped, wired_count becomes
// 0, map->size_wired loses the entry's size).
void vm_fault_unwire_entry_locked(VmMap* map, VmMapEntry* entry);
