// Mach traps: the only true system calls (mach/syscall_sw.h), plus Mica's temporary ones
// (include/mica/traps.h).
#pragma once
#include <stddef.h>
#include <stdint.h>

struct TrapArgs {
  int64_t number;
  uint64_t arg[7];
};

// Result of a trap, or kTrapInvalid for a number no trap has.
inline constexpr int64_t kTrapInvalid = INT64_MIN;
int64_t mach_trap(const TrapArgs& a);

// Copies between the current task's memory and the kernel. false if any byte of the user
// range is not mapped with the needed access (nothing is copied then).
bool copyin(uint64_t user_src, void* dst, size_t len);
bool copyout(const void* src, uint64_t user_dst, size_t len);
// Copies a NUL-terminated string of at most max-1 characters; false if unmapped or too long.
bool copyin_string(uint64_t user_src, char* dst, size_t max);
