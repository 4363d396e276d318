// Host tests: the CPU primitives stay out of line (tests/host/arch/cpu.cc).
#pragma once
#define ARCH_CPU_INLINE 0
