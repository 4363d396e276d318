// Processors: the MI per-CPU scheduling state (seed 004, 8.2.3: processors and processor sets;
// Mica has one processor set, the default one).
#pragma once
#include "kern/lock.h"
#include "kern/run_queue.h"
#include "kern/thread.h"
#include "machine/cpu.h"

struct Processor {
  unsigned id = 0;
  bool online = false;
  SpinLock lock;  // guards runq and need_resched
  RunQueue<Thread, &Thread::run_link> runq;
  Thread* active_thread = nullptr;
  Thread* idle_thread = nullptr;
  bool need_resched = false;
  uint64_t ticks = 0;
  uint64_t context_switches = 0;
  uint64_t idle_ns = 0;
};

extern Processor processors[kMaxCpus];

inline Processor* current_processor() { return arch_processor(); }

// Brings up the calling CPU's Processor and turns the running context into its idle thread.
// Called once per CPU at start-up.
void processor_start(unsigned id);
// The idle loop of the calling CPU; never returns.
[[noreturn]] void processor_idle_loop();
