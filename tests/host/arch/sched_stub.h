// The scheduler's wakeups on the host: the MI code under test (IPC) wakes receivers and
// blocked senders; the host records each wakeup so a test can check that the right event
// would have been signalled.
#pragma once
#include <stddef.h>
#include <stdint.h>

struct HostWakeup {
  const void* event;
  bool all;  // thread_wakeup (all waiters) rather than thread_wakeup_one
};

// Forgets the wakeups recorded so far.
void host_wakeups_clear();
// Wakeups recorded since the last clear, in call order.
size_t host_wakeup_count();
const HostWakeup& host_wakeup(size_t i);
// Whether `event` was woken (by either call) since the last clear.
bool host_woken(const void* event);

// Waiting on the host: assert_wait records the event; thread_block calls the test's hook (a
// test plays the other threads there, e.g. a pager answering) and returns what it returns,
// or kTimedOut with no hook (nobody would ever answer).
enum class WaitResult : uint8_t;
using HostBlockHook = WaitResult (*)(const void* event);
void host_set_block_hook(HostBlockHook hook);
// The event of the last assert_wait, and the number of thread_block calls.
const void* host_last_wait_event();
size_t host_block_count();
