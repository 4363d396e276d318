// Thread creation and termination.
#include "kern/thread.h"

#include "kern/ipc_tt.h"
#include "kern/log.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "kern/task.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "lib/string.h"

namespace {

Zone thread_zone("thread", sizeof(Thread), 8192);
SpinLock all_threads_lock;
IntrusiveList<Thread, &Thread::all_link> all_threads;
uint64_t next_thread_id = 1;

Thread* thread_alloc(Task* task, const char* name, int pri) {
  void* mem = thread_zone.alloc();
  if (!mem) return nullptr;
  auto* t = new (mem) Thread;
  t->task = task;
  t->base_pri = t->sched_pri = pri;
  t->last_cpu = arch_cpu_id();
  size_t n = strlen(name);
  if (n >= sizeof t->name) n = sizeof t->name - 1;
  memcpy(t->name, name, n);
  IrqSpinGuard g(all_threads_lock);
  t->id = next_thread_id++;
  all_threads.push_back(t);
  return t;
}

void thread_unlink(Thread* t) {
  IrqSpinGuard g(all_threads_lock);
  all_threads.remove(t);
}

// A user thread holds a reference on its task (thread.h), the kernel task needs none.
bool attach(Task* task, Thread* t) {
  {
    IrqSpinGuard g(task->lock);
    if (!task->active) return false;
    task->threads.push_back(t);
    ++task->runnable_threads;
  }
  if (task != kernel_task()) task_reference(task);
  return true;
}

// A thread that never ran and has left its task's list: nothing runs on its stack and no
// queue holds it, so it goes at once (its port, stack and place in the list of threads).
void thread_discard(Thread* t) {
  Task* task = t->task;
  ipc_thread_terminate(t);
  arch_thread_free(t);
  thread_unlink(t);
  bool end = task_thread_remove(task, t);
  thread_release(t);
  if (end) task_end(task);
}

}  // namespace

Thread* kernel_thread_create(const char* name, void (*entry)(void*), void* arg, int pri) {
  Thread* t = thread_alloc(kernel_task(), name, pri);
  if (!t) return nullptr;
  t->kernel_entry = entry;
  t->kernel_arg = arg;
  if (entry && !arch_thread_init_kernel(t)) {
    thread_unlink(t);
    thread_zone.free(t);
    return nullptr;
  }
  attach(kernel_task(), t);
  return t;
}

Thread* user_thread_create(Task* task, uint64_t rip, uint64_t rsp, uint64_t arg) {
  Thread* t = thread_alloc(task, task->name, kBasePriUser);
  if (!t) return nullptr;
  if (!ipc_thread_init(t)) {
    thread_unlink(t);
    thread_zone.free(t);
    return nullptr;
  }
  if (!arch_thread_init_user(t, rip, rsp, arg) || !attach(task, t)) {
    arch_thread_free(t);
    ipc_thread_terminate(t);
    thread_unlink(t);
    thread_zone.free(t);
    return nullptr;
  }
  return t;
}

void thread_start(Thread* t) {
  {
    IrqSpinGuard g(t->task->lock);
    if (t->started) return;
    t->started = true;
  }
  thread_setrun(t);
}

void thread_terminate_self() {
  Thread* self = current_thread();
  Task* task = self->task;
  bool shut;
  {
    IrqSpinGuard g(task->lock);
    __atomic_store_n(&self->terminate_requested, true, __ATOMIC_RELEASE);
    __atomic_store_n(&self->dying, true, __ATOMIC_RELEASE);
    shut = task_thread_ending_locked(task);
  }
  if (shut) task_shutdown(task);
  arch_irq_disable();
  self->state = ThreadState::kHalted;
  thread_block();
  panic("halted thread %lu resumed", self->id);
}

void thread_terminate_internal(Thread* t) {
  Task* task = t->task;
  bool never_ran, shut = false;
  {
    IrqSpinGuard g(task->lock);
    if (t->terminate_requested) return;  // told already, or ending by itself
    __atomic_store_n(&t->terminate_requested, true, __ATOMIC_RELEASE);
    never_ran = !t->started;
    if (never_ran) {
      // thread_create without thread_resume: it goes now without ever running. Marked
      // started so that no thread_resume or task_resume makes it run.
      t->started = true;
      shut = task_thread_ending_locked(task);
    }
  }
  if (never_ran) {
    if (shut) task_shutdown(task);
    thread_discard(t);
    return;
  }
  // Out of any wait (a suspended thread's too), at a priority that gets it a CPU soon even
  // against threads that keep this CPU busy; one running on another CPU is interrupted.
  thread_wake_to_end(t, kBasePriSystem);
  arch_send_reschedule(t->last_cpu);
}

// The task's own reference keeps it until task_end, whatever thread_release drops.
void thread_reap(Thread* t) {
  Task* task = t->task;
  arch_thread_free(t);
  thread_unlink(t);
  ipc_thread_terminate(t);
  bool end = task_thread_remove(task, t);
  thread_release(t);
  if (end) task_end(task);
}

void thread_reference(Thread* t) { __atomic_fetch_add(&t->refs, 1, __ATOMIC_RELAXED); }

void thread_release(Thread* t) {
  if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL)) return;
  Task* task = t->task;
  t->~Thread();
  thread_zone.free(t);
  if (task != kernel_task()) task_release(task);
}

Thread* thread_lookup(uint64_t id) {
  IrqSpinGuard g(all_threads_lock);
  for (Thread* t : all_threads)
    if (t->id == id) return t;
  return nullptr;
}

void thread_for_each(void (*fn)(Thread* t, void* ctx), void* ctx) {
  IrqSpinGuard g(all_threads_lock);
  for (Thread* t : all_threads) fn(t, ctx);
}

uint64_t thread_count() {
  IrqSpinGuard g(all_threads_lock);
  return all_threads.size();
}
