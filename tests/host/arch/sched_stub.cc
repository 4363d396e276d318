// thread_wakeup and thread_wakeup_one on the host: no threads wait, so they only record the
// event (see sched_stub.h). Single-threaded tests only; the record is not locked.
#include "arch/sched_stub.h"

#include <vector>

#include "kern/sched.h"

namespace {

std::vector<HostWakeup>& wakeups() {
  static std::vector<HostWakeup> v;
  return v;
}

}  // namespace

void thread_wakeup(const void* event) { wakeups().push_back({event, true}); }

bool thread_wakeup_one(const void* event) {
  wakeups().push_back({event, false});
  return false;  // nobody was waiting
}

bool thread_wakeup_one_here(const void* event) { return thread_wakeup_one(event); }

void host_wakeups_clear() { wakeups().clear(); }

size_t host_wakeup_count() { return wakeups().size(); }

const HostWakeup& host_wakeup(size_t i) { return wakeups()[i]; }

bool host_woken(const void* event) {
  for (const HostWakeup& w : wakeups())
    if (w.event == event) return true;
  return false;
}

namespace {
HostBlockHook g_block_hook;
const void* g_wait_event;
size_t g_blocks;
}  // namespace

void host_set_block_hook(HostBlockHook hook) { g_block_hook = hook; }
const void* host_last_wait_event() { return g_wait_event; }
size_t host_block_count() { return g_blocks; }

void assert_wait(const void* event, uint64_t) { g_wait_event = event; }

WaitResult thread_block() {
  ++g_blocks;
  return g_block_hook ? g_block_hook(g_wait_event) : WaitResult::kTimedOut;
}

// No threads on the host: the MI code asking who runs (the reserved pool) hears "nobody".
Thread* current_thread() { return nullptr; }
