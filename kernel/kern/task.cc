// Task creation and termination.
#include "kern/task.h"

#include "kern/ipc_tt.h"
#include "kern/log.h"
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

// The task has ended: its rights go now; its memory when the last reference does.
void task_free(Task* task) {
  ipc_task_terminate(task);
  bool last;
  {
    IrqSpinGuard g(all_tasks_lock);
    all_tasks.remove(task);
    last = --user_tasks_alive == 0;
  }
  task_release(task);
  if (last && all_exited_hook) all_exited_hook();
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
  bool empty;
  {
    IrqSpinGuard g(task->lock);
    if (!task->active) return;  // already ending
    task->active = false;
    for (Thread* t : task->threads) {
      if (t == self) continue;
      if (!t->started) {
        // Never ran (thread_create without thread_resume): nothing would ever run it to
        // notice the request, and the task would stay forever. Make it run only to die on
        // its way to user mode, as thread_terminate does.
        t->terminate_requested = true;
        t->started = true;
        t->suspend_count = 0;
        thread_start(t);
      } else {
        thread_terminate_internal(t);
      }
    }
    empty = task->threads.empty();
  }
  // The caller's own task: its thread ends on its way back to user mode, once the call has
  // unwound and released what it holds (references, the request message).
  if (self->task == task) __atomic_store_n(&self->terminate_requested, true, __ATOMIC_RELEASE);
  if (empty) task_free(task);
}

void task_thread_gone(Task* task, Thread* t) {
  if (task == kernel_task()) {
    IrqSpinGuard g(task->lock);
    task->threads.remove(t);
    return;
  }
  bool last;
  {
    IrqSpinGuard g(task->lock);
    task->threads.remove(t);
    // The last thread of a task ends the task too (there is nothing left to run it).
    last = task->threads.empty();
    task->active = !last && task->active;
  }
  if (last) task_free(task);
}

uint64_t task_count() {
  IrqSpinGuard g(all_tasks_lock);
  return all_tasks.size();
}

void task_set_all_exited_hook(void (*hook)()) { all_exited_hook = hook; }
