// Per-thread machine state on x86-64.
#pragma once
#include <stdint.h>

struct TrapFrame;

struct ArchThreadState {
  uint64_t kernel_rsp = 0;    // saved stack pointer while switched out
  uint64_t stack_base = 0;    // kernel stack, kKernelStackSize bytes
  uint64_t stack_top = 0;
  uint64_t fs_base = 0;
  TrapFrame* user_frame = nullptr;  // user registers, at the top of the kernel stack
  bool user = false;
  alignas(16) uint8_t fpu[512];  // fxsave area
};
