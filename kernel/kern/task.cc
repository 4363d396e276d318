// Task creation and termination. Lock order (docs/design.md): a task's lock before the wait
// buckets and run queues, after ipc_lock; never two tasks' locks at once.
#include "kern/task.h"

#include "kern/ipc_tt.h"
#include "kern/log.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "lib/string.h"
#include "machine/pmap.h"
#include "vm/vm_map.h"

namespace {

Task kernel_task_store;
Zone task_zone("task", sizeof(Task), 1024);
SpinLock all_tasks_lock;
IntrusiveList<Task, &Task::all_link> all_tasks;
uint64_t next_task_id = 1;
uint64_t user_tasks_alive;
void (*all_exited_hook)();

// Waits until `task` has ended. The wait ends early only if the caller is told to end itself.
// The flag is read and the wait asserted under the task lock, under which task_end sets it.
void task_wait_ended(Task* task) {
  Thread* self = current_thread();
  for (;;) {
    {
      IrqSpinGuard g(task->lock);
      if (task->ended) return;
      assert_wait(&task->ended);
    }
    if (thread_block() == WaitResult::kInterrupted &&
        __atomic_load_n(&self->terminate_requested, __ATOMIC_ACQUIRE))
      return;
  }
}

}  // namespace

void task_reference(Task* task) { __atomic_fetch_add(&task->refs, 1, __ATOMIC_RELAXED); }

void task_release(Task* task) {
  if (__atomic_sub_fetch(&task->refs, 1, __ATOMIC_ACQ_REL)) return;
  if (task->map) vm_map_deallocate(task->map);
  task->~Task();
  task_zone.free(task);
}

Task* kernel_task() {
  if (!kernel_task_store.id) {
    kernel_task_store.id = 0xffffffff;
    memcpy(kernel_task_store.name, "kernel", 7);
  }
  return &kernel_task_store;
}

Task* task_create(const char* name, VmMap* parent) {
  void* mem = task_zone.alloc();
  if (!mem) return nullptr;
  auto* task = new (mem) Task;
  task->map = parent ? vm_map_fork(parent) : vm_map_create(kUserStart, kUserEnd);
  if (task->map) task->pmap = task->map->pmap;
  if (!task->map) {
    task_zone.free(task);
    return nullptr;
  }
  size_t n = strlen(name);
  if (n >= sizeof task->name) n = sizeof task->name - 1;
  memcpy(task->name, name, n);
  if (!ipc_task_init(task)) {
    vm_map_deallocate(task->map);
    task->~Task();
    task_zone.free(task);
    return nullptr;
  }
  IrqSpinGuard g(all_tasks_lock);
  task->id = next_task_id++;
  all_tasks.push_back(task);
  ++user_tasks_alive;
  return task;
}

void task_terminate_internal(Task* task) {
  Thread* self = current_thread();
  task_reference(task);  // the task may end (and lose its own reference) while we look at it
  bool shut = false;
  {
    IrqSpinGuard g(task->lock);
    task->active = false;  // no new threads
    // A task without threads ends now; one with threads when the last has begun to end.
    if (task->runnable_threads == 0 && !task->shutting_down) {
      task->shutting_down = true;
      shut = true;
    }
  }
  if (shut) task_shutdown(task);
  // Tell each thread, one at a time: each call takes the task lock itself, and a thread that
  // never ran leaves the list at once.
  for (;;) {
    Thread* t = nullptr;
    {
      IrqSpinGuard g(task->lock);
      for (Thread* x : task->threads) {
        if (x != self && !x->terminate_requested) {
          t = x;
          thread_reference(t);
          break;
        }
      }
    }
    if (!t) break;
    thread_terminate_internal(t);
    thread_release(t);
  }
  if (self->task == task) {
    // The caller's own task: its thread ends on its way back to user mode, once the call has
    // unwound and released what it holds (references, the request message); the task ends
    // with it, or with the last of its threads.
    __atomic_store_n(&self->terminate_requested, true, __ATOMIC_RELEASE);
  } else if (self != current_processor()->idle_thread) {
    // The boot-time callers (running on the idle thread, which may not block) only
    // terminate tasks without threads, which have ended by now.
    task_wait_ended(task);
  }
  task_release(task);
}

bool task_thread_ending_locked(Task* task) {
  if (task == kernel_task()) return false;
  if (--task->runnable_threads > 0) return false;
  task->active = false;  // the last thread has gone: nothing will run the task again
  if (task->shutting_down) return false;
  task->shutting_down = true;
  return true;
}

void task_shutdown(Task* task) {
  // The address space: its pages go now (or, if even the two spare entries vm_map_remove
  // needs cannot be had, with the map); the map itself and its page tables go with the last
  // reference to the task, for whoever still holds one.
  if (task->map) vm_map_remove(task->map, task->map->min_offset, task->map->max_offset);
  ipc_task_shutdown(task);
  bool end;
  {
    IrqSpinGuard g(task->lock);
    task->shut_down = true;
    end = task->threads.empty() && !task->ending;
    if (end) task->ending = true;
  }
  if (end) task_end(task);
}

bool task_thread_remove(Task* task, Thread* t) {
  IrqSpinGuard g(task->lock);
  task->threads.remove(t);
  bool end = task->shut_down && task->threads.empty() && !task->ending;
  if (end) task->ending = true;
  return end;
}

void task_end(Task* task) {
  Port* port = ipc_task_disable(task);
  bool last;
  {
    IrqSpinGuard g(all_tasks_lock);
    all_tasks.remove(task);
    last = --user_tasks_alive == 0;
  }
  {
    IrqSpinGuard g(task->lock);
    task->ended = true;
  }
  // The task's own reference goes before its port dies and its waiters wake: whoever sees
  // it dead finds its map and page tables (which go with the last reference) gone too,
  // unless a call on the task is still under way. The waiters hold references of their own;
  // without any the task may be freed here, and the wakeup below only uses the event's
  // address.
  const void* event = &task->ended;
  task_release(task);
  ipc_kobject_port_kill(port);
  thread_wakeup(event);
  if (last && all_exited_hook) all_exited_hook();
}

void task_for_each(void (*fn)(Task* task, void* ctx), void* ctx) {
  IrqSpinGuard g(all_tasks_lock);
  for (Task* t : all_tasks) fn(t, ctx);
}

uint64_t task_count() {
  IrqSpinGuard g(all_tasks_lock);
  return all_tasks.size();
}

void task_set_all_exited_hook(void (*hook)()) { all_exited_hook = hook; }
