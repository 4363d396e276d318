// The thread and task calls of mach.defs: create, suspend and resume, terminate, state and
// info. Called by the MIG server with references on the objects (dropped by its destructors).
#include <mach/mach_types.h>
#include <mach/message.h>
#include <mach/task_info.h>
#include <mach/thread_info.h>

#include "ipc/ipc_kmsg.h"
#include "ipc/ipc_port.h"
#include "kern/ipc_tt.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "kern/task.h"
#include "lib/string.h"
#include "machine/pmap.h"
#include "vm/vm_map.h"
#include "vm/vm_page.h"

// The count is read and the wait asserted under the task lock, under which resume() lowers it
// and thread_terminate_internal() sets terminate_requested before they wake the thread.
void thread_check_suspend() {
  Thread* t = current_thread();
  for (;;) {
    {
      IrqSpinGuard g(t->task->lock);
      if (t->suspend_count <= 0 || t->terminate_requested) return;
      assert_wait(&t->suspend_count);
      __atomic_store_n(&t->stopped, true, __ATOMIC_RELEASE);
    }
    thread_block();
    __atomic_store_n(&t->stopped, false, __ATOMIC_RELEASE);
  }
}

namespace {

// The task lock orders suspensions against the first run (thread_start) and against
// termination (which frees a thread that never ran).
kern_return_t resume(Thread* t) {
  IrqSpinGuard g(t->task->lock);
  if (t->suspend_count <= 0) return KERN_FAILURE;
  if (--t->suspend_count > 0) return KERN_SUCCESS;
  if (!t->started) {
    t->started = true;
    thread_setrun(t);
  } else {
    thread_wakeup(&t->suspend_count);
  }
  return KERN_SUCCESS;
}

// As GNU Mach's thread_suspend: the call returns once the thread no longer runs user code.
// A thread that is running or ready to run stops at its next way out of the kernel (a
// reschedule IPI makes that soon); one blocked in the kernel stops when it wakes.
kern_return_t suspend(Thread* t) {
  bool wait;
  {
    IrqSpinGuard g(t->task->lock);
    ++t->suspend_count;
    wait = t->started && t != current_thread();
    if (wait) arch_send_reschedule(t->last_cpu);
  }
  while (wait && !__atomic_load_n(&t->stopped, __ATOMIC_ACQUIRE) && !t->terminate_requested &&
         __atomic_load_n(&t->suspend_count, __ATOMIC_ACQUIRE) > 0) {
    ThreadState s = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
    if (s != ThreadState::kRunning && s != ThreadState::kRunnable) break;
    thread_yield();
    if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == ThreadState::kRunning) arch_cpu_relax();
  }
  return KERN_SUCCESS;
}

void to_time_value(uint64_t ns, rpc_time_value_t* tv) {
  tv->seconds = static_cast<integer_t>(ns / 1'000'000'000);
  tv->microseconds = static_cast<integer_t>((ns / 1000) % 1'000'000);
}

}  // namespace

extern "C" {

// MIG turns the thread into a send right (convert_thread_to_port, which takes the reference
// given here).
kern_return_t thread_create(Task* task, Thread** child) {
  if (!task) return KERN_INVALID_ARGUMENT;
  Thread* t = user_thread_create(task, 0, 0, 0);
  if (!t) return KERN_RESOURCE_SHORTAGE;
  t->suspend_count = 1;
  thread_reference(t);
  *child = t;
  return KERN_SUCCESS;
}

kern_return_t thread_resume(Thread* t) { return t ? resume(t) : KERN_INVALID_ARGUMENT; }
kern_return_t thread_suspend(Thread* t) { return t ? suspend(t) : KERN_INVALID_ARGUMENT; }

// On the calling thread, as GNU Mach: the thread ends on its way out of the kernel, once the
// call has unwound (the reply sent, the request and the references released).
kern_return_t thread_terminate(Thread* t) {
  if (!t) return KERN_INVALID_ARGUMENT;
  if (t == current_thread())
    __atomic_store_n(&t->terminate_requested, true, __ATOMIC_RELEASE);
  else
    thread_terminate_internal(t);
  return KERN_SUCCESS;
}

kern_return_t thread_get_state(Thread* t, int flavor, uint32_t* state, uint32_t* count) {
  if (!t || !t->arch.user) return KERN_INVALID_ARGUMENT;
  return arch_thread_get_state(t, flavor, state, count);
}

kern_return_t thread_set_state(Thread* t, int flavor, const uint32_t* state, uint32_t count) {
  if (!t || !t->arch.user) return KERN_INVALID_ARGUMENT;
  return arch_thread_set_state(t, flavor, state, count);
}

kern_return_t thread_info(Thread* t, int flavor, integer_t* out, mach_msg_type_number_t* count) {
  if (!t) return KERN_INVALID_ARGUMENT;
  if (flavor != THREAD_BASIC_INFO) return KERN_INVALID_ARGUMENT;
  if (*count < THREAD_BASIC_INFO_COUNT) return KERN_INVALID_ARGUMENT;
  thread_basic_info_data_t b{};
  to_time_value(t->cpu_time_ns, &b.user_time);
  b.base_priority = t->base_pri;
  b.cur_priority = t->sched_pri;
  switch (t->state) {
    case ThreadState::kRunning:
    case ThreadState::kRunnable:
      b.run_state = TH_STATE_RUNNING;
      break;
    case ThreadState::kWaiting:
      b.run_state = TH_STATE_WAITING;
      break;
    case ThreadState::kSuspended:
      b.run_state = TH_STATE_STOPPED;
      break;
    case ThreadState::kHalted:
      b.run_state = TH_STATE_HALTED;
      break;
  }
  b.suspend_count = t->suspend_count;
  memcpy(out, &b, sizeof b);
  *count = THREAD_BASIC_INFO_COUNT;
  return KERN_SUCCESS;
}

kern_return_t task_terminate(Task* task) {
  if (!task) return KERN_INVALID_ARGUMENT;
  task_terminate_internal(task);
  return KERN_SUCCESS;
}

kern_return_t task_suspend(Task* task) {
  if (!task) return KERN_INVALID_ARGUMENT;
  IrqSpinGuard g(task->lock);
  ++task->suspend_count;
  for (Thread* t : task->threads) {
    ++t->suspend_count;
    if (t->started && t != current_thread()) arch_send_reschedule(t->last_cpu);
  }
  return KERN_SUCCESS;
}

kern_return_t task_resume(Task* task) {
  if (!task) return KERN_INVALID_ARGUMENT;
  {
    IrqSpinGuard g(task->lock);
    if (task->suspend_count <= 0) return KERN_FAILURE;
    --task->suspend_count;
  }
  // Each thread takes back the suspension the task gave it.
  Thread* batch[64];
  for (;;) {
    size_t n = 0;
    {
      IrqSpinGuard g(task->lock);
      for (Thread* t : task->threads)
        if (n < 64 && t->suspend_count > 0 && t->suspend_count > task->suspend_count) {
          thread_reference(t);
          batch[n++] = t;
        }
    }
    for (size_t i = 0; i < n; ++i) {
      resume(batch[i]);
      thread_release(batch[i]);
    }
    if (n < 64) break;
  }
  return KERN_SUCCESS;
}

kern_return_t task_info(Task* task, int flavor, integer_t* out, mach_msg_type_number_t* count) {
  if (!task) return KERN_INVALID_ARGUMENT;
  if (flavor != TASK_BASIC_INFO) return KERN_INVALID_ARGUMENT;
  if (*count < TASK_BASIC_INFO_COUNT) return KERN_INVALID_ARGUMENT;
  task_basic_info_data_t b{};
  b.suspend_count = task->suspend_count;
  b.base_priority = kBasePriUser;
  b.virtual_size = task->map->size;
  b.resident_size = pmap_stats(task->pmap).mapped_pages * kPageSize;
  memcpy(out, &b, sizeof b);
  *count = TASK_BASIC_INFO_COUNT;
  return KERN_SUCCESS;
}

}  // extern "C"

extern "C" kern_return_t task_create(Task* parent, boolean_t inherit_memory, Task** child) {
  if (!parent) return KERN_INVALID_ARGUMENT;
  // With inherit_memory the child's map is built from the parent's by its inheritance
  // attributes (share, copy-on-write copy, none).
  Task* task = task_create(parent->name, inherit_memory ? parent->map : nullptr);
  if (!task) return KERN_RESOURCE_SHORTAGE;
  ipc_task_inherit(task, parent);
  task_reference(task);  // for convert_task_to_port, which MIG calls on it
  *child = task;
  return KERN_SUCCESS;
}

// task_threads: send rights for the task's threads, as an out-of-line array of rights (the
// MIG server passes the array through untranslated, as GNU Mach's does).
extern "C" kern_return_t task_threads(Task* task, uint64_t* list, mach_msg_type_number_t* count) {
  if (!task) return KERN_INVALID_ARGUMENT;
  size_t n;
  {
    IrqSpinGuard g(task->lock);
    n = task->threads.size();
  }
  OolPorts* a = ool_ports_alloc(static_cast<uint32_t>(n));
  if (!a) return KERN_RESOURCE_SHORTAGE;
  uint32_t i = 0;
  {
    IpcGuard ig;
    IrqSpinGuard g(task->lock);
    for (Thread* t : task->threads) {
      if (i == n || !t->self_port) continue;
      port_reference(t->self_port);
      port_make_send(t->self_port);
      a->ports[i++] = t->self_port;
    }
  }
  a->count = i;
  *list = reinterpret_cast<uint64_t>(a);
  *count = i;
  return KERN_SUCCESS;
}
