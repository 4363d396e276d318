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

// A task ends in two steps, once it has been terminated or its last thread has begun to end
// (Mica ends a task whose last thread has gone, as there is nothing left to run it):
//  1. shutdown (task_shutdown): its memory and its port names go, in a thread's context;
//  2. end (after the last thread is reaped): its port dies (dead-name notifications), it leaves
//     the list of tasks, and whoever waits in task_terminate_internal is woken.
// So whoever sees a task dead (its port, the task count) finds its memory and threads gone.
// The Task itself goes with its last reference.
struct Task {
  uint64_t id = 0;
  char name[32] = {};
  VmMap* map = nullptr;  // the address space; nullptr for the kernel task
  Pmap* pmap = nullptr;  // map->pmap, for the context switch
  SpinLock lock;         // guards what follows down to `ended`, and the threads' start and
                         // termination flags (Thread::started, terminate_requested)
  IntrusiveList<Thread, &Thread::task_link> threads;  // until each is reaped
  bool active = true;        // takes new threads; false once terminated or ending
  int runnable_threads = 0;  // threads that have not begun to end (or been discarded)
  bool shutting_down = false;  // step 1 claimed
  bool shut_down = false;      // step 1 done
  bool ending = false;         // step 2 claimed
  bool ended = false;          // step 2 done (task_terminate_internal waits for it)
  QueueLink all_link;
  int suspend_count = 0;
  uint32_t refs = 1;  // the task's own, dropped when it ends, plus one per holder (IPC, threads)

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
// Terminates `task`. Every thread but the caller is told to end (thread_terminate_internal:
// one that never ran is freed at once, the others are woken and raised in priority). When the
// caller is not in the task, it returns once the task has ended (as GNU Mach's task_terminate,
// which returns once the task's threads are gone): its memory and port names freed, its port
// dead. Only the caller's own termination cuts that wait short. On the caller's own task it
// returns at once, and the calling thread ends on its way back to user mode. A task already
// ending is waited for the same way. Takes the task lock; no lock may be held.
void task_terminate_internal(Task* task);

// For kern/thread.cc. A thread of `task` no longer counts as one that may run (it is ending,
// or it never ran and is discarded). Returns true if it was the last: the task is then ending,
// and the caller must call task_shutdown once it holds no lock. Task lock held.
bool task_thread_ending_locked(Task* task);
// Step 1 of the end (see Task): frees the task's memory and names, in the caller's thread
// context. Then step 2, if no thread is left to reap.
void task_shutdown(Task* task);
// A thread leaves its task for good (reaped, or discarded before it ran). Returns true when
// it was the last and step 1 is done: the caller must then call task_end, once it has dropped
// what it holds of the thread (its reference on the task included), so that whoever the end
// wakes finds nothing of it left.
bool task_thread_remove(Task* task, Thread* t);
// Step 2 of the end (see Task): the task's port dies, it leaves the list of tasks, its own
// reference goes and task_terminate_internal's waiters wake. Once, after step 1, when no
// thread is left: in the context of whoever did step 1, or in the reaper of the last thread
// (switch path, interrupts off: what is left to do here is short).
void task_end(Task* task);
uint64_t task_count();
// Calls fn(task, ctx) for every task alive, under the task list's lock (interrupts off):
// fn must not block or take a task's lock.
void task_for_each(void (*fn)(Task* task, void* ctx), void* ctx);
// The number of user tasks still alive; when it reaches zero, `on_empty` runs.
void task_set_all_exited_hook(void (*hook)());
