// The VM calls of the Mach interface (mach.defs, as GNU Mach serves them), as kernel functions
// on a map. The MIG layer turns the task port into the map and out-of-line data into map
// copies (VmMapCopy). Addresses are rounded as GNU Mach rounds them: the range of a call is
// [trunc_page(address), round_page(address + size)).
//
// Every call returns KERN_INVALID_ARGUMENT for a null map. A call that fails changes nothing
// in the map and leaks nothing, except on KERN_RESOURCE_SHORTAGE where it says otherwise.
#pragma once
#include <mach/kern_return.h>
#include <mach/vm_inherit.h>
#include <mach/vm_prot.h>
#include <mach/vm_statistics.h>

#include "machine/memory.h"
#include "vm/vm_map.h"

// Allocates zero-filled memory, read/write, maximum protection all, inheritance copy. With
// `anywhere` the kernel picks the address; otherwise [trunc_page(*address), + size) must be
// free (KERN_NO_SPACE) and inside the map (KERN_INVALID_ADDRESS). size 0: *address = 0 and
// success. A size that overflows when rounded: KERN_INVALID_ARGUMENT.
kern_return_t vm_allocate(VmMap* map, vaddr_t* address, vm_size_t size, bool anywhere);

// vm_deallocate, vm_protect, vm_inherit and vm_wire take their range as GNU Mach does:
// [trunc_page(address), round_page(address + size)) computed modulo 2^64, then clipped to the
// map's bounds. So a range outside the map (the kernel half) or one that wraps around is
// empty: KERN_SUCCESS, nothing changed (vm_wire: see there). Holes are skipped.

// Removes the range's mappings. size 0 does nothing.
kern_return_t vm_deallocate(VmMap* map, vaddr_t address, vm_size_t size);

// Sets the current protection (or, with set_maximum, the maximum; the current one is lowered
// to it) of the mapped parts of the range. KERN_INVALID_ARGUMENT for bits outside
// VM_PROT_ALL; KERN_PROTECTION_FAILURE if new_protection exceeds some entry's maximum.
kern_return_t vm_protect(VmMap* map, vaddr_t address, vm_size_t size, bool set_maximum,
                         vm_prot_t new_protection);

// Sets the inheritance of the mapped parts of the range: VM_INHERIT_SHARE, COPY or NONE
// (anything else: KERN_INVALID_ARGUMENT).
kern_return_t vm_inherit(VmMap* map, vaddr_t address, vm_size_t size,
                         vm_inherit_t new_inheritance);

// Copies the range out of the map into a new map copy (*data), copy-on-write; the MIG layer
// sends it as out-of-line data of *data_count = size bytes. The range must be mapped
// (KERN_INVALID_ADDRESS) and readable (KERN_PROTECTION_FAILURE).
kern_return_t vm_read(VmMap* map, vaddr_t address, vm_size_t size, VmMapCopy** data,
                      vm_size_t* data_count);

// Writes `data` (a map copy of data_count bytes, consumed on success) over the range at
// `address`, which must be page aligned, like data_count (KERN_INVALID_ARGUMENT), mapped
// (KERN_INVALID_ADDRESS) and writable (KERN_PROTECTION_FAILURE).
kern_return_t vm_write(VmMap* map, vaddr_t address, VmMapCopy* data, vm_size_t data_count);

// Copies [source_address, + size) over [dest_address, + size), copy-on-write: no page is
// copied until one side writes. Both addresses and the size must be page aligned
// (KERN_INVALID_ARGUMENT); then the checks of vm_read and vm_write apply.
kern_return_t vm_copy(VmMap* map, vaddr_t source_address, vm_size_t size, vaddr_t dest_address);

// The first region (map entry) at or above *address. KERN_NO_SPACE when there is none. The
// object name port of mach.defs comes with the external memory management layer.
kern_return_t vm_region(VmMap* map, vaddr_t* address, vm_size_t* size, vm_prot_t* protection,
                        vm_prot_t* max_protection, vm_inherit_t* inheritance, bool* is_shared,
                        vm_offset_t* offset);

// Page counts and VM event counters.
kern_return_t vm_statistics(VmMap* map, vm_statistics_data_t* stats);

// Maps memory: anonymous zero-fill memory when `object` is nullptr (the memory object port of
// mach.defs is MACH_PORT_NULL), or a kernel object at `offset` (a reference is taken), copied
// copy-on-write when `copy`. `mask` aligns the address chosen with `anywhere`. Protections
// beyond VM_PROT_ALL, an unknown inheritance or size 0: KERN_INVALID_ARGUMENT.
kern_return_t vm_map(VmMap* map, vaddr_t* address, vm_size_t size, vaddr_t mask, bool anywhere,
                     VmObject* object, vm_offset_t offset, bool copy, vm_prot_t cur_protection,
                     vm_prot_t max_protection, vm_inherit_t inheritance);

// What a task may wire through the plain host port (GNU Mach's limit): bytes wired in its map
// (VmMap::size_wired) plus the size asked.
inline constexpr vm_size_t kVmWireUnprivilegedLimit = vm_size_t{8} << 20;

// vm_wire (mach_host.defs takes a host port first; the MIG layer checks it and says whether
// it is the privileged one): access != VM_PROT_NONE wires the range, VM_PROT_NONE unwires it
// (vm_fault.h, vm_map_wire: an unmapped start, a hole or an access beyond the protection is
// KERN_NO_SPACE, as GNU Mach answers). Bits outside VM_PROT_ALL: KERN_INVALID_ARGUMENT.
// Unprivileged, wiring beyond kVmWireUnprivilegedLimit is KERN_NO_ACCESS.
kern_return_t vm_wire(VmMap* map, vaddr_t address, vm_size_t size, vm_prot_t access,
                      bool privileged = true);
