// Scheduling primitives. Each CPU has a run queue (Processor::runq) guarded by its
// Processor::lock. Waiting threads sit in a hash of wait queues keyed by event.
//
// Switching protocol: a thread may be put on a run queue (by a wakeup on another CPU) before
// its own CPU has finished switching away from it. Thread::on_cpu stays true until the old
// CPU is off the thread's stack (thread_switch_finish), and a CPU about to run a thread spins
// until that flag drops. Lock order: wait bucket -> timeout list -> processor.
//
// A thread is queued (or handed the CPU) only once it has left its CPU, that is once its
// processor's active_thread names another thread (set under the processor's lock). A wait
// that ends before that (between assert_wait and the switch) leaves the thread running where
// it is (runs_on), and its thread_block returns at once. So a CPU only ever spins for a
// thread whose CPU chose its own next thread earlier, and two CPUs can never spin for each
// other: when each could take the thread the other was still running, each spun for the
// other's, interrupts off, forever (the 2-CPU pressuretest hang).
#include "kern/sched.h"

#include "kern/processor.h"
#include "kern/task.h"
#include "kern/hot.h"

namespace {

struct WaitBucket {
  SpinLock lock;
  IntrusiveList<Thread, &Thread::wait_link> threads;
};
constexpr unsigned kWaitBuckets = 64;
WaitBucket wait_buckets[kWaitBuckets];

WaitBucket& bucket_for(const void* event) {
  auto h = reinterpret_cast<uintptr_t>(event);
  h ^= h >> 17;
  h *= 0x9e3779b97f4a7c15ull;
  return wait_buckets[(h >> 40) % kWaitBuckets];
}

SpinLock timeout_lock;  // also guards the depress list
IntrusiveList<Thread, &Thread::timeout_link> timeout_list;
IntrusiveList<Thread, &Thread::depress_link> depress_list;

// Ends a depression: restores the priority and, if the thread is queued, requeues it at the
// restored priority. Called with interrupts off, timeout_lock not held.
void depress_end(Thread* t) {
  {
    SpinGuard g(timeout_lock);
    if (!t->depressed) return;
    depress_list.remove(t);
    t->depressed = false;
  }
  for (;;) {
    Processor* owner = __atomic_load_n(&t->runq_owner, __ATOMIC_ACQUIRE);
    if (!owner) {
      t->sched_pri = t->base_pri;
      return;
    }
    SpinGuard g(owner->lock);
    if (t->runq_owner != owner) continue;
    owner->runq.remove(t);
    t->sched_pri = t->base_pri;
    owner->runq.enqueue(t);
    if (t->sched_pri < owner->active_thread->sched_pri) {
      owner->need_resched = true;
      if (owner != current_processor()) arch_send_reschedule(owner->id);
    }
    return;
  }
}

MICA_HOT void timeout_cancel(Thread* t) {
  SpinGuard g(timeout_lock);
  if (t->on_timeout_list) {
    timeout_list.remove(t);
    t->on_timeout_list = false;
  }
}

// Picks the next thread for processor `p` (locked). Tries the local queue, then steals from
// another CPU's queue, then falls back to the idle thread.
Thread* choose_next(Processor* p) {
  if (Thread* t = p->runq.dequeue()) return t;
  for (unsigned i = 0; i < kMaxCpus; ++i) {
    Processor* o = &processors[i];
    if (o == p || !o->online || o->runq.size() == 0) continue;
    if (!o->lock.try_lock()) continue;
    Thread* t = nullptr;
    // Leave threads bound to that CPU where they are.
    for (int tries = 0; tries < 4 && (t = o->runq.dequeue()); ++tries) {
      if (t->bound_cpu < 0 || t->bound_cpu == static_cast<int>(p->id)) break;
      o->runq.enqueue(t);
      t = nullptr;
    }
    o->lock.unlock();
    if (t) return t;
  }
  return p->idle_thread;
}

// Whether `t`, whose wait has just ended (off its wait queue, kRunnable, and owned by the
// caller), has yet to leave its CPU: then it goes on running there (kRunning), and must be
// neither queued nor handed the CPU. Interrupts off.
MICA_HOT bool runs_on(Thread* t) {
  // last_cpu does not change meanwhile: only a CPU that takes t off a run queue sets it.
  Processor* home = &processors[t->last_cpu];
  if (home == current_processor()) {
    // This CPU is not inside a switch (interrupts are off, and we run): its active_thread
    // is the thread it runs, and only it changes it.
    if (home->active_thread != t) return false;
    __atomic_store_n(&t->state, ThreadState::kRunning, __ATOMIC_RELEASE);
    return true;
  }
  SpinGuard g(home->lock);
  if (home->active_thread != t) return false;
  __atomic_store_n(&t->state, ThreadState::kRunning, __ATOMIC_RELEASE);
  return true;
}

// Switches away from `self` (interrupts off, no locks held), or not, if self is the best
// choice. A self still kRunning (preempted, yielding, or woken before it could block) stays
// runnable and goes back on this CPU's run queue; a waiting or halted one leaves it.
MICA_HOT bool reschedule(Thread* self, Thread* direct = nullptr) {
  Processor* p = current_processor();
  Thread* next;
  {
    SpinGuard g(p->lock);
    p->need_resched = false;
    if (self != p->idle_thread && self->state == ThreadState::kRunning) {
      self->state = ThreadState::kRunnable;
      self->runq_owner = p;
      p->runq.enqueue(self);
    }
    if (direct) {
      next = direct;
    } else {
      next = choose_next(p);
      if (next != p->idle_thread) next->runq_owner = nullptr;
    }
    next->state = ThreadState::kRunning;
    next->quantum_left = kQuantumTicks;
    next->last_cpu = p->id;
    p->active_thread = next;
  }
  if (next == self) return false;
  while (__atomic_load_n(&next->on_cpu, __ATOMIC_ACQUIRE)) arch_cpu_relax();
  next->on_cpu = true;
  ++p->context_switches;
  Thread* prev = arch_context_switch(self, next);
  thread_switch_finish(prev);
  return true;
}

}  // namespace

MICA_HOT Thread* current_thread() { return current_processor()->active_thread; }

MICA_HOT void thread_switch_finish(Thread* prev) {
  bool halted = prev->state == ThreadState::kHalted;
  __atomic_store_n(&prev->on_cpu, false, __ATOMIC_RELEASE);
  if (halted) thread_reap(prev);
}

MICA_HOT void assert_wait(const void* event, uint64_t timeout_ns) {
  Thread* self = current_thread();
  IrqState s = arch_irq_disable();
  WaitBucket& b = bucket_for(event);
  {
    SpinGuard g(b.lock);
    self->wait_event = event;
    self->wait_result = WaitResult::kAwakened;
    self->state = ThreadState::kWaiting;
    b.threads.push_back(self);
    if (timeout_ns) {
      SpinGuard tg(timeout_lock);
      self->wait_deadline_ns = arch_time_ns() + timeout_ns;
      self->on_timeout_list = true;
      timeout_list.push_back(self);
    }
  }
  arch_irq_restore(s);
}

namespace {

// A thread told to end does not wait (its wait returns kInterrupted), except for what it
// still does once it is ending (thread_terminate_self). Interrupts off.
void interrupt_wait_if_ending(Thread* self) {
  if (self->terminate_requested && !self->dying && self->state == ThreadState::kWaiting)
    clear_wait(self, WaitResult::kInterrupted);
}

// kRunning: the wait has ended already, while the thread still ran (runs_on), or while it was
// off its CPU after a preemption between assert_wait and here. Either way there is nothing
// left to wait for. (A wait ending from now on finds the thread in reschedule, under its
// processor's lock, and reschedule then keeps it runnable.)
bool wait_over(const Thread* self) {
  return __atomic_load_n(&self->state, __ATOMIC_ACQUIRE) == ThreadState::kRunning;
}

}  // namespace

WaitResult thread_block() {
  Thread* self = current_thread();
  IrqState s = arch_irq_disable();
  interrupt_wait_if_ending(self);
  if (!wait_over(self)) reschedule(self);
  arch_irq_restore(s);
  return self->wait_result;
}

MICA_HOT WaitResult thread_block_handoff(Thread* to) {
  Thread* self = current_thread();
  IrqState s = arch_irq_disable();
  interrupt_wait_if_ending(self);
  bool here = to->bound_cpu < 0 || to->bound_cpu == static_cast<int>(arch_cpu_id());
  if (!here || wait_over(self)) {
    // `to` cannot run here, or our own wait is already over: `to` goes the ordinary way.
    thread_setrun(to);
    if (!wait_over(self)) reschedule(self);
  } else if (runs_on(to)) {
    // `to` was woken before it left its CPU: it goes on there, and we block.
    reschedule(self);
  } else {
    // `to` runs now (or, if our wait ends meanwhile, after us: reschedule queues us).
    reschedule(self, to);
  }
  arch_irq_restore(s);
  return self->wait_result;
}

void clear_wait(Thread* t, WaitResult result) {
  IrqState s = arch_irq_disable();
  const void* event = __atomic_load_n(&t->wait_event, __ATOMIC_ACQUIRE);
  bool woke = false;
  if (event) {
    WaitBucket& b = bucket_for(event);
    SpinGuard g(b.lock);
    if (t->state == ThreadState::kWaiting && t->wait_event == event) {
      b.threads.remove(t);
      t->wait_event = nullptr;
      t->wait_result = result;
      t->state = ThreadState::kRunnable;
      woke = true;
    }
  }
  if (woke) {
    timeout_cancel(t);
    thread_setrun(t);
  }
  arch_irq_restore(s);
}

void thread_wake_to_end(Thread* t, int pri) {
  IrqState s = arch_irq_disable();
  // A waiting thread belongs to whoever ends its wait until it is queued: its priority may
  // change in between.
  const void* event = __atomic_load_n(&t->wait_event, __ATOMIC_ACQUIRE);
  bool woke = false;
  if (event) {
    WaitBucket& b = bucket_for(event);
    SpinGuard g(b.lock);
    if (t->state == ThreadState::kWaiting && t->wait_event == event && !t->dying) {
      b.threads.remove(t);
      t->wait_event = nullptr;
      t->wait_result = WaitResult::kInterrupted;
      t->state = ThreadState::kRunnable;
      woke = true;
    }
  }
  if (woke) {
    timeout_cancel(t);
    if (t->sched_pri > pri) t->sched_pri = pri;
    thread_setrun(t);
    arch_irq_restore(s);
    return;
  }
  // A queued thread moves to its new level under its queue's lock (run_queue.h). One that
  // runs, or is between a CPU and a queue, is left alone: the caller interrupts it.
  for (;;) {
    Processor* owner = __atomic_load_n(&t->runq_owner, __ATOMIC_ACQUIRE);
    if (!owner) break;
    SpinGuard g(owner->lock);
    if (t->runq_owner != owner) continue;
    if (t->sched_pri > pri) {
      owner->runq.remove(t);
      t->sched_pri = pri;
      owner->runq.enqueue(t);
      if (pri < owner->active_thread->sched_pri) {
        owner->need_resched = true;
        if (owner != current_processor()) arch_send_reschedule(owner->id);
      }
    }
    break;
  }
  arch_irq_restore(s);
}

namespace {
void setrun_here(Thread* t) {
  Processor* p = current_processor();
  if (t->bound_cpu >= 0 && t->bound_cpu != static_cast<int>(p->id)) return thread_setrun(t);
  if (runs_on(t)) return;
  SpinGuard g(p->lock);
  t->state = ThreadState::kRunnable;
  t->runq_owner = p;
  p->runq.enqueue(t, true);
}

// Takes the first thread waiting on `event` off bucket `b`, made runnable (not yet queued).
MICA_HOT inline Thread* take_waiter(WaitBucket& b, const void* event) {
  SpinGuard g(b.lock);
  for (Thread* t : b.threads) {
    if (t->wait_event == event) {
      b.threads.remove(t);
      t->wait_event = nullptr;
      t->wait_result = WaitResult::kAwakened;
      t->state = ThreadState::kRunnable;
      return t;
    }
  }
  return nullptr;
}

bool wakeup(const void* event, bool one, bool here = false) {
  IrqState s = arch_irq_disable();
  WaitBucket& b = bucket_for(event);
  bool any = false;
  for (;;) {
    Thread* found = take_waiter(b, event);
    if (!found) break;
    any = true;
    timeout_cancel(found);
    if (here)
      setrun_here(found);
    else
      thread_setrun(found);
    if (one) break;
  }
  arch_irq_restore(s);
  return any;
}
}  // namespace

MICA_HOT Thread* thread_wakeup_take(const void* event) {
  IrqState s = arch_irq_disable();
  WaitBucket& b = bucket_for(event);
  Thread* found = take_waiter(b, event);
  // The flag was set under the bucket lock, before the thread was queued there: a waiter
  // without a timeout costs no timeout_lock.
  if (found && __atomic_load_n(&found->on_timeout_list, __ATOMIC_RELAXED)) timeout_cancel(found);
  arch_irq_restore(s);
  return found;
}

void thread_wakeup(const void* event) { wakeup(event, false); }
bool thread_wakeup_one(const void* event) { return wakeup(event, true); }
bool thread_wakeup_one_here(const void* event) { return wakeup(event, true, true); }

void thread_setrun(Thread* t) {
  IrqState s = arch_irq_disable();
  if (runs_on(t)) {
    arch_irq_restore(s);
    return;
  }
  Processor* here = current_processor();
  Processor* target = nullptr;
  if (t->bound_cpu >= 0) {
    target = &processors[t->bound_cpu];
  } else {
    // Prefer an idle CPU, starting with the one the thread last ran on (its cache).
    for (unsigned k = 0; k < kMaxCpus && !target; ++k) {
      Processor* p = &processors[(t->last_cpu + k) % kMaxCpus];
      if (p->online && p->active_thread == p->idle_thread && p->runq.size() == 0) target = p;
    }
    if (!target) target = processors[t->last_cpu].online ? &processors[t->last_cpu] : here;
  }
  bool kick;
  {
    SpinGuard g(target->lock);
    t->state = ThreadState::kRunnable;
    t->runq_owner = target;
    target->runq.enqueue(t);
    Thread* running = target->active_thread;
    kick = running == target->idle_thread || t->sched_pri < running->sched_pri;
    if (kick) target->need_resched = true;
  }
  if (kick && target != here) arch_send_reschedule(target->id);
  arch_irq_restore(s);
}

bool thread_yield() {
  Thread* self = current_thread();
  IrqState s = arch_irq_disable();
  bool ran_other = reschedule(self);
  arch_irq_restore(s);
  return ran_other;
}

bool thread_yield_depressed(uint64_t ns) {
  Thread* self = current_thread();
  IrqState s = arch_irq_disable();
  {
    SpinGuard g(timeout_lock);
    if (!self->depressed) {
      self->depressed = true;
      self->sched_pri = kDepressPriority;
      depress_list.push_back(self);
    }
    self->depress_deadline_ns = arch_time_ns() + ns;
  }
  bool ran_other = reschedule(self);
  depress_end(self);
  arch_irq_restore(s);
  return ran_other;
}

bool thread_handoff(Thread* to, bool wait, uint64_t wait_ns) {
  Thread* self = current_thread();
  if (to == self) return false;
  IrqState s = arch_irq_disable();
  // Take `to` off whatever run queue holds it; if it is not queued it cannot be handed to.
  Processor* owner = __atomic_load_n(&to->runq_owner, __ATOMIC_ACQUIRE);
  bool taken = false;
  if (owner) {
    SpinGuard g(owner->lock);
    if (to->runq_owner == owner && to->state == ThreadState::kRunnable &&
        (to->bound_cpu < 0 || to->bound_cpu == static_cast<int>(arch_cpu_id()))) {
      owner->runq.remove(to);
      to->runq_owner = nullptr;
      taken = true;
    }
  }
  if (!taken) {
    arch_irq_restore(s);
    return false;
  }
  if (wait) {
    arch_irq_restore(s);
    assert_wait(&self->wait_event, wait_ns);  // an event nobody signals: only the timeout
    arch_irq_disable();
  }
  reschedule(self, to);
  arch_irq_restore(s);
  return true;
}

void sched_tick() {
  Processor* p = current_processor();
  Thread* t = p->active_thread;
  ++p->ticks;
  t->cpu_time_ns += kTickNs;
  {
    SpinGuard g(p->lock);
    if (t == p->idle_thread) {
      p->idle_ns += kTickNs;
      if (p->runq.size()) p->need_resched = true;
    } else if (--t->quantum_left <= 0) {
      // Round robin: give way to a thread of equal or higher priority.
      if (p->runq.size() && p->runq.highest_priority() <= t->sched_pri) p->need_resched = true;
      t->quantum_left = kQuantumTicks;
    }
  }
  if (p->id == 0) {
    uint64_t now = arch_time_ns();
    for (;;) {
      Thread* expired = nullptr;
      {
        SpinGuard g(timeout_lock);
        for (Thread* w : timeout_list) {
          if (w->wait_deadline_ns <= now) {
            expired = w;
            break;
          }
        }
        if (expired) {
          timeout_list.remove(expired);
          expired->on_timeout_list = false;
        }
      }
      if (!expired) break;
      clear_wait(expired, WaitResult::kTimedOut);
    }
    for (;;) {
      Thread* expired = nullptr;
      {
        SpinGuard g(timeout_lock);
        for (Thread* d : depress_list) {
          if (d->depress_deadline_ns <= now) {
            expired = d;
            break;
          }
        }
      }
      if (!expired) break;
      depress_end(expired);
    }
  }
}

MICA_HOT void sched_preempt_check() {
  Processor* p = current_processor();
  if (!p->need_resched) return;
  reschedule(p->active_thread);
}

void processor_start(unsigned id) {
  Processor* p = &processors[id];
  p->id = id;
  arch_set_processor(p);
  Thread* idle = kernel_thread_create("idle", nullptr, nullptr, kIdlePriority);
  if (!idle) panic("no memory for the idle thread of cpu %u", id);
  arch_thread_adopt_boot(idle);
  idle->bound_cpu = static_cast<int>(id);
  idle->state = ThreadState::kRunning;
  idle->on_cpu = true;
  idle->last_cpu = id;
  p->idle_thread = idle;
  p->active_thread = idle;
  __atomic_store_n(&p->online, true, __ATOMIC_RELEASE);
}

void processor_idle_loop() {
  Processor* p = current_processor();
  for (;;) {
    arch_irq_disable();
    bool work = p->need_resched || p->runq.size() != 0;
    if (!work) {
      for (unsigned i = 0; i < kMaxCpus && !work; ++i)
        work = processors[i].online && processors[i].runq.size() > 0;
    }
    if (work) {
      reschedule(p->idle_thread);
    } else {
      arch_idle_wait();
    }
  }
}
