// The scheduler's primitives (Mach's sched_prim): waiting on events, blocking, waking,
// preemption and handoff. Priorities: 0 is the highest (kern/sched_pri.h).
#pragma once
#include <stdint.h>

#include "kern/thread.h"

inline constexpr uint64_t kTickNs = 10'000'000;  // 100 Hz
inline constexpr int kQuantumTicks = 5;          // 50 ms round-robin quantum

// Declares that the running thread is about to wait for `event`, for at most `timeout_ns`
// (0: no limit). The thread keeps running until thread_block(); a wakeup in between makes the
// block return at once.
void assert_wait(const void* event, uint64_t timeout_ns = 0);
// Gives up the CPU until the wait asserted by assert_wait ends; returns why it ended.
WaitResult thread_block();
// Ends the wait of every thread waiting for `event`.
void thread_wakeup(const void* event);
// Ends the wait of one thread waiting for `event`; false if there was none.
bool thread_wakeup_one(const void* event);
// As thread_wakeup_one, but the thread is queued on this CPU's run queue: the caller is about
// to block (the send half of an RPC), so the woken thread runs next here, with no IPI and no
// trip to another CPU (Mach's handoff, by way of the run queue).
bool thread_wakeup_one_here(const void* event);
// Ends the wait of one thread waiting for `event` (kAwakened) and returns it, neither
// queued nor running: the caller owns it and must either run it next (thread_block_handoff)
// or queue it (thread_setrun). nullptr if none waits.
Thread* thread_wakeup_take(const void* event);
// As thread_block, but the CPU goes straight to `to` (from thread_wakeup_take), with no run
// queue in between (Mach's handoff). If `to` is bound to another CPU, or the caller's wait
// already ended, `to` is queued instead (thread_setrun) and the caller blocks as usual; if
// `to` has not left its own CPU yet, it goes on running there.
WaitResult thread_block_handoff(Thread* to);
// Ends `t`'s wait, if it is waiting, with `result`.
void clear_wait(Thread* t, WaitResult result);
// For a thread told to end: ends its wait, if it waits (kInterrupted; not once it is in
// thread_terminate_self), and raises its scheduled priority to `pri` if it is lower, so that
// it runs soon whoever keeps its CPU busy (a queued thread moves to its new level). A thread
// that runs, or is between a CPU and a queue, is left as it is: the caller interrupts it.
void thread_wake_to_end(Thread* t, int pri);

// Puts a runnable thread on a run queue, preempting or waking a CPU if it should run now. A
// thread whose wait ended before it left its CPU is not queued: it goes on running there.
void thread_setrun(Thread* t);
// Yields the CPU to a thread of the same or higher priority, if any; returns true if another
// thread ran (swtch's result).
bool thread_yield();
// Yields with the priority depressed to the lowest until the thread runs again or `ns` pass,
// whichever is first (the bound keeps a same-priority spinner from starving the caller).
bool thread_yield_depressed(uint64_t ns);
// Hands the CPU directly to `to` if it is runnable; the caller stays runnable (or waits up to
// wait_ns when `wait` is set). Returns false if `to` could not be run directly.
bool thread_handoff(Thread* to, bool wait, uint64_t wait_ns);

// Timer interrupt: account the tick, end quanta, expire timeouts.
void sched_tick();
// On the way out of an interrupt: switch if this CPU has been asked to.
void sched_preempt_check();
// Frees what a halted thread held once no CPU runs on its stack (called by the switch code).
void thread_reap(Thread* t);
// Called by a new thread on its first run, with the thread that ran before it.
void thread_switch_finish(Thread* prev);
