// The scheduler's wakeups on the host: the MI code under test (IPC) wakes receivers and
// blocked senders; the host records each wakeup so a test can check that the right event
// would have been signalled.
#pragma once
#include <stddef.h>

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
