// Per-thread machine state on x86-64.
#pragma once
#include <stddef.h>
#include <stdint.h>

struct TrapFrame;

struct ArchThreadState {
  uint64_t kernel_rsp = 0;    // saved stack pointer while switched out
  uint64_t fault_recover = 0; // where a failed user access resumes (copy_user), or 0
  uint64_t stack_base = 0;    // kernel stack, kKernelStackSize bytes
  uint64_t stack_top = 0;
  uint64_t fs_base = 0;
  TrapFrame* user_frame = nullptr;  // user registers, at the top of the kernel stack
  // CR2 of the thread's last user page fault, read before interrupts come back on: by the
  // time the fault is resolved, another thread's fault may have changed CR2.
  uint64_t fault_addr = 0;
  bool user = false;
  alignas(16) uint8_t fpu[512];  // fxsave area
};

// entry.S reaches fault_recover at this offset (Thread begins with its ArchThreadState).
#define THREAD_FAULT_RECOVER 8
static_assert(offsetof(ArchThreadState, fault_recover) == THREAD_FAULT_RECOVER);
