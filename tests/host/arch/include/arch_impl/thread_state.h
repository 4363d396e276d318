// Per-thread machine state on the host. The host tests of the VM and IPC code never switch
// threads; the scheduler's simulated multiprocessor (tests/host/sched/sim.cc) keeps each
// thread's stack and context behind `sim`.
#pragma once
#include <stdint.h>

struct ArchThreadState {
  void* sim = nullptr;
};
