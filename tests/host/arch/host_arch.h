// What the host implementation of the arch interface offers the tests beyond that
// interface: a simulated physical memory and a settable CPU number.
#pragma once
#include <stddef.h>

#include "machine/memory.h"

// The simulated physical memory: kHostPhysSize bytes at physical kHostPhysBase, backed by
// one page-aligned host allocation made on first use and kept for the whole process.
inline constexpr paddr_t kHostPhysBase = 0x100000;
inline constexpr size_t kHostPhysSize = 64u << 20;

// The whole arena as one range.
PhysRange host_phys_all();

// A fixed memory map with holes, in no particular order, with unaligned edges that the
// page allocator must trim; writes up to `max` ranges to `out` and returns their count.
size_t host_phys_ranges_with_holes(PhysRange* out, size_t max);

// Sets the CPU number arch_cpu_id() returns on the calling thread (default 0).
void host_set_cpu_id(unsigned cpu);
