// Threads: the unit of execution (seed 004, 8.2). A thread runs in a task; kernel threads run
// in the kernel task. Each has a kernel stack; its machine state lives in `arch`.
#pragma once
#include <stdint.h>

#include "arch_impl/thread_state.h"
#include "kern/queue.h"
#include "kern/sched_pri.h"

struct Task;
struct Processor;
struct Port;
struct KMsg;

enum class ThreadState : uint8_t {
  kRunning,   // on a CPU
  kRunnable,  // on a run queue
  kWaiting,   // asserted a wait, blocked or about to block
  kSuspended, // stopped by thread_suspend / not yet resumed
  kHalted,    // terminated; resources go back when it is switched out
};

// Why a wait ended.
enum class WaitResult : uint8_t { kAwakened, kTimedOut, kInterrupted };

struct Thread {
  ArchThreadState arch;  // first: assembly reaches it at offset 0

  uint64_t id = 0;
  // A user thread holds a reference on its task until the thread's own memory goes
  // (thread_release), so that a holder of a thread reference may always reach its task.
  Task* task = nullptr;
  ThreadState state = ThreadState::kSuspended;
  bool on_cpu = false;  // its registers are still in use by a CPU (see sched_prim.cc)

  // Scheduling (0 = highest priority).
  int base_pri = kBasePriUser;
  int sched_pri = kBasePriUser;
  bool depressed = false;
  uint64_t depress_deadline_ns = 0;  // when a depression ends by itself
  QueueLink depress_link;
  int quantum_left = 0;  // ticks
  int bound_cpu = -1;
  unsigned last_cpu = 0;
  uint64_t cpu_time_ns = 0;
  QueueLink run_link;

  // Waiting.
  const void* wait_event = nullptr;
  WaitResult wait_result = WaitResult::kAwakened;
  uint64_t wait_deadline_ns = 0;  // 0: no timeout
  QueueLink wait_link;
  QueueLink timeout_link;
  bool on_timeout_list = false;
  // Told to end (task or thread termination): it ends at its next way out of the kernel, and
  // its waits are interrupted. Set under its task's lock by others.
  bool terminate_requested = false;
  // In thread_terminate_self: what it still waits for (its task's teardown) is not
  // interrupted any more.
  bool dying = false;
  Processor* runq_owner = nullptr;  // whose run queue holds it (under that lock)

  // A receive in mach_msg blocked for a message (ipc/mach_msg.cc), under the IPC lock:
  // while it waits, the size of the largest message it takes (0: none, it is not in such
  // a receive); a sender that finds it waiting may hand it a message, whose rights are
  // already in its space, in ipc_rcv_kmsg.
  uint32_t ipc_rcv_max = 0;
  KMsg* ipc_rcv_kmsg = nullptr;
  // ...or, from the fast path (ipc/ipc_fastpath.cc), the message itself (nonzero size).
  uint32_t ipc_rcv_size = 0;
  alignas(8) uint8_t ipc_rcv_buf[128];

  QueueLink task_link;  // in task->threads from creation until reaped (or discarded)
  QueueLink all_link;

  // Kernel threads: the function the thread starts in.
  void (*kernel_entry)(void*) = nullptr;
  void* kernel_arg = nullptr;
  char name[24] = {};

  uint32_t refs = 1;  // its own, dropped when it is reaped, plus one per holder (IPC)
  // thread_suspend / thread_resume (kern/thread_act.cc): the thread stops at its next exit
  // from the kernel while the count is above zero. A new user thread starts suspended.
  int suspend_count = 0;
  bool started = false;  // has been made runnable once
  bool stopped = false;  // parked in thread_check_suspend
  Port* self_port = nullptr;       // the thread's port (kern/ipc_tt.cc)
  Port* exception_port = nullptr;  // send right
};

void thread_reference(Thread* t);
// On the way back to user mode: stop here while suspended.
void thread_check_suspend();
void thread_release(Thread* t);

// Creates a kernel thread running entry(arg), suspended until thread_start(). nullptr on
// shortage.
Thread* kernel_thread_create(const char* name, void (*entry)(void*), void* arg, int pri);
// Creates a user thread in `task`, starting at `rip` with stack `rsp` and rdi = `arg`.
Thread* user_thread_create(Task* task, uint64_t rip, uint64_t rsp, uint64_t arg);
// Makes a new thread runnable for the first time (nothing happens if it already was, or if
// it was terminated before it ran). Takes the task lock.
void thread_start(Thread* t);
// Ends the calling thread; never returns. If it was the last thread of its task that could
// run, the task's memory and names go first, in this thread's context (task_shutdown); its
// port, stack and place in the task go once it is off the CPU (thread_reap).
[[noreturn]] void thread_terminate_self();
// Tells another thread (not the caller) to end. One that never ran is freed at once, without
// running. Any other is woken from its wait (a thread stopped by a suspension too), raised to
// kBasePriSystem so that it gets a CPU soon, and interrupted if it runs on another CPU; it
// ends at its next way out of the kernel. Nothing happens if it was told already.
void thread_terminate_internal(Thread* t);

Thread* current_thread();
Thread* thread_lookup(uint64_t id);
// Number of threads that exist, for tests.
uint64_t thread_count();
// Calls fn(t, ctx) for every thread that exists, under the thread list's lock (interrupts
// off): fn must not block or take a task's lock.
void thread_for_each(void (*fn)(Thread* t, void* ctx), void* ctx);

// Machine-dependent parts (arch/*/context.cc).
bool arch_thread_init_kernel(Thread* t);
bool arch_thread_init_user(Thread* t, uint64_t rip, uint64_t rsp, uint64_t arg);
// The user registers (mach/thread_status.h flavours); KERN_INVALID_ARGUMENT for an unknown
// flavour or a count too small, KERN_FAILURE for a state no thread may have (bad segments,
// non-canonical rip).
int arch_thread_get_state(Thread* t, int flavor, uint32_t* state, uint32_t* count);
int arch_thread_set_state(Thread* t, int flavor, const uint32_t* state, uint32_t count);
void arch_thread_free(Thread* t);
// Switches from the running thread `from` to `to`; returns, later, on `from`'s stack, with the
// thread that ran just before it.
Thread* arch_context_switch(Thread* from, Thread* to);
// Makes the running context (boot stack) into thread `t`.
void arch_thread_adopt_boot(Thread* t);
