// A simulated multiprocessor for the scheduler (kern/sched_prim.cc) on the host.
//
// Each CPU is a coroutine (ucontext) of the test's one host thread, each kernel Thread has
// its own stack, and arch_context_switch really switches stacks. CPUs take turns, round robin,
// only where a real CPU could be overtaken: at spin-waits (arch_cpu_relax), idle waits, and
// the sim_yield()s of the threads' bodies. An interleaving is therefore a deterministic
// function of the bodies, which a test scripts, or draws from a seeded generator.
//
// A run ends when every thread made by sim_thread has returned from its body, or when the
// machine cannot go on: a CPU that spins kSimSpinLimit times in a row waits for something
// that never comes (two CPUs waiting for each other), and CPUs that all stay idle for
// kSimIdleLimit turns each, with no switch anywhere, while a thread has not ended have lost
// it (a lost wakeup).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <new>

#include "kern/sched_pri.h"

struct Thread;

enum class SimEnd { kDone, kSpinForever, kThreadLost, kTurnLimit };
const char* sim_end_name(SimEnd e);

inline constexpr uint64_t kSimSpinLimit = 20000;
inline constexpr uint64_t kSimIdleLimit = 2000;

// A fresh machine of `ncpus` CPUs, each in its idle loop with an empty run queue.
void sim_init(unsigned ncpus);
// A kernel thread that runs body(arg): the first one given to a CPU is running there when the
// run starts, the others wait on that CPU's run queue (any CPU may take them). Its Thread
// ends (halts and is reaped) when the body returns.
Thread* sim_thread(const char* name, void (*body)(void*), void* arg, unsigned cpu,
                   int pri = kBasePriUser);
// Runs the machine until it ends (see above) or `max_turns` turns have passed.
SimEnd sim_run(uint64_t max_turns = 2'000'000);

// Zeroed memory for a run's shared state and events. A run that does not end cleanly leaves
// threads waiting on its events, so the memory is freed by a later sim_init only after a run
// that did; otherwise it is never reused (no stale waiter ever matches a new event).
void* sim_alloc(size_t size);
template <class T>
T* sim_new() {
  return new (sim_alloc(sizeof(T))) T();
}

// For thread bodies. sim_yield: this CPU gives the turn to the next one; back here, a
// pending reschedule request (need_resched) is taken as an interrupt would take it.
void sim_yield();
// A timer interrupt that ends the running thread's quantum here: it goes back on the run
// queue (or, between assert_wait and thread_block, leaves its CPU as if it blocked).
void sim_preempt();
// The CPU the caller runs on.
unsigned sim_cpu();
// Prints the CPUs and threads of the machine to stderr (after a run that went wrong).
void sim_dump();
// Context switches made so far by `cpu`.
uint64_t sim_context_switches(unsigned cpu);
