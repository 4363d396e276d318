// The register frame every kernel entry builds (entry.S), lowest address first.
#pragma once
#include <stdint.h>

struct TrapFrame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error;
  uint64_t rip, cs, rflags, rsp, ss;

  bool from_user() const { return (cs & 3) == 3; }
};
static_assert(sizeof(TrapFrame) == 22 * 8);

inline constexpr uint64_t kVectorSyscall = 256;

extern "C" void trap_dispatch(TrapFrame* f);
extern "C" void syscall_dispatch(TrapFrame* f);
extern "C" void trap_return();
