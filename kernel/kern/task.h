// Tasks: an address space, a set of threads and (with the IPC issue) a port name space.
#pragma once
#include <stdint.h>

#include "kern/lock.h"
#include "kern/queue.h"
#include "ipc/ipc_space.h"
#include "kern/thread.h"
#include "vm/vm_page.h"

struct Pmap;
struct Port;
struct VmMap;

struct Task {
  uint64_t id = 0;
  char name[32] = {};
  VmMap* map = nullptr;  // the address space; nullptr for the kernel task
  Pmap* pmap = nullptr;  // map->pmap, for the context switch
  SpinLock lock;         // guards threads, pages, active
  IntrusiveList<Thread, &Thread::task_link> threads;
  bool active = true;
  QueueLink all_link;
  int suspend_count = 0;
  uint32_t refs = 1;  // the task's own, dropped when it ends, plus one per holder (IPC)

  // IPC (kern/ipc_tt.cc): the name space, the task's port (the kernel holds its receive
  // right) and its special ports (send rights).
  IpcSpace space;
  bool space_active = false;
  Port* self_port = nullptr;
  Port* bootstrap_port = nullptr;
  Port* exception_port = nullptr;
};

void task_reference(Task* task);
// Drops a reference; the task's memory goes with the last one.
void task_release(Task* task);
// The task's name space, or nullptr once it is being torn down.
IpcSpace* task_space(Task* task);

Task* kernel_task();
// Creates a user task with an empty address map, or with a copy of `parent`'s map made by
// its inheritance attributes (task_create's inherit_memory). nullptr on shortage.
Task* task_create(const char* name, VmMap* parent = nullptr);
// Terminates every thread of `task` and, once the last has gone, frees it. On the caller's own
// task it returns too: the calling thread ends when it next returns to user mode.
void task_terminate_internal(Task* task);
// Called when a thread leaves its task; frees the task after its last thread.
void task_thread_gone(Task* task, Thread* t);
uint64_t task_count();
// The number of user tasks still alive; when it reaches zero, `on_empty` runs.
void task_set_all_exited_hook(void (*hook)());
