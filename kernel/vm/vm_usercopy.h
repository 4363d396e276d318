// The kernel's access to a task's memory: page by page through the map, faulting pages in
// (zero fill, copy-on-write) as a user access would. A range that is not mapped, or not with
// the access needed, fails as a whole before anything is copied.
#pragma once
#include <stddef.h>
#include <stdint.h>

struct VmMap;

bool map_copyin(VmMap* map, uint64_t src, void* dst, size_t len);
bool map_copyout(VmMap* map, const void* src, uint64_t dst, size_t len);
