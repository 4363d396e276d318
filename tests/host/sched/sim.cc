// The simulated multiprocessor of sim.h: the arch interface (machine/cpu.h) and the thread
// machinery sched_prim.cc needs (context switch, kernel thread creation, reaping), over
// ucontext coroutines in one host thread.
#include "sched/sim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <new>
#include <vector>

#include "kern/processor.h"
#include "kern/sched.h"
#include "machine/cpu.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SIM_ASAN 1
#else
#define SIM_ASAN 0
#endif

namespace {

constexpr size_t kStackSize = 256 * 1024;  // ASan's frames are large

struct SimThread {
  ucontext_t ctx;  // saved while the thread is switched out
  char* stack = nullptr;
  void (*body)(void*) = nullptr;
  void* arg = nullptr;
  Thread* thread = nullptr;
  bool reaped = false;
};

struct SimCpu {
  ucontext_t ctx;  // where the CPU stopped when it gave the turn away
  ucontext_t* start = nullptr;  // where it starts: its first thread's context
  bool started = false;
  unsigned id = 0;
  bool irq_enabled = false;
  SimThread* on_stack = nullptr;  // whose stack the CPU runs on
  Thread* prev = nullptr;         // the thread it switched away from last (for the new one)
  uint64_t relax_run = 0;         // spin-waits in a row
  uint64_t idle_run = 0;          // idle waits in a row
};

SimCpu g_cpus[kMaxCpus];
unsigned g_ncpus;
SimCpu* g_cur;  // the CPU whose turn it is; nullptr in the test's own context
ucontext_t g_main_ctx;
const void* g_main_stack;
size_t g_main_stack_size;
uint64_t g_turns, g_max_turns;
unsigned g_bodies, g_bodies_done;
SimEnd g_end;
// Every SimThread ever made. Those of a run that did not end cleanly stay allocated: its
// threads may still be on the scheduler's wait queues, whose lists go through them. (The
// vectors are never destroyed: LeakSanitizer looks after the static destructors.)
std::vector<SimThread*>& g_threads = *new std::vector<SimThread*>;
std::vector<void*>& g_allocs = *new std::vector<void*>;  // sim_alloc's, kept on the same terms

SimThread* sim_of(Thread* t) { return static_cast<SimThread*>(t->arch.sim); }

// Switches the host thread from the context to be saved in `save` to `to`, which runs on the
// stack [bottom, bottom + size), telling ASan about the change of stacks.
void switch_context(ucontext_t* save, ucontext_t* to, const void* bottom, size_t size) {
#if SIM_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, bottom, size);
#else
  (void)bottom;
  (void)size;
#endif
  swapcontext(save, to);
#if SIM_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void entered_new_context() {
#if SIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

bool all_idle_too_long() {
  for (unsigned i = 0; i < g_ncpus; ++i)
    if (g_cpus[i].idle_run < kSimIdleLimit) return false;
  return true;
}

ucontext_t* resume_point(SimCpu* c) {
  if (c->started) return &c->ctx;
  c->started = true;
  return c->start;
}

enum class Turn { kYield, kRelax, kIdle };

// The running CPU ends its turn: the next CPU runs, or the test's context if the run is over.
void end_turn(Turn why) {
  SimCpu* me = g_cur;
  me->relax_run = why == Turn::kRelax ? me->relax_run + 1 : 0;
  me->idle_run = why == Turn::kIdle ? me->idle_run + 1 : 0;
  ++g_turns;
  bool over = true;
  if (g_bodies_done == g_bodies)
    g_end = SimEnd::kDone;
  else if (me->relax_run >= kSimSpinLimit)
    g_end = SimEnd::kSpinForever;
  else if (all_idle_too_long())
    g_end = SimEnd::kThreadLost;
  else if (g_turns >= g_max_turns)
    g_end = SimEnd::kTurnLimit;
  else
    over = false;
  if (over) {
    // This CPU is never resumed: the machine is dropped as it stands.
    g_cur = nullptr;
    switch_context(&me->ctx, &g_main_ctx, g_main_stack, g_main_stack_size);
    abort();
  }
  SimCpu* next = &g_cpus[(me->id + 1) % g_ncpus];
  g_cur = next;
  switch_context(&me->ctx, resume_point(next), next->on_stack->stack, kStackSize);
  g_cur = me;
}

SimThread* new_sim_thread(Thread* t) {
  auto* st = new SimThread;
  st->stack = static_cast<char*>(malloc(kStackSize));
  st->thread = t;
  t->arch.sim = st;
  g_threads.push_back(st);
  return st;
}

// A new thread's first frame, as the kernel's thread_trampoline: finish the switch, then run
// the body with interrupts on, then end as thread_terminate_self ends a thread.
void thread_entry() {
  entered_new_context();
  thread_switch_finish(g_cur->prev);
  Thread* self = current_thread();
  SimThread* st = sim_of(self);
  g_cur->irq_enabled = true;
  st->body(st->arg);
  ++g_bodies_done;
  arch_irq_disable();
  self->state = ThreadState::kHalted;
  thread_block();
  abort();  // a halted thread never runs again
}

// An idle thread's first frame: the idle loop (where the kernel's CPUs end their start-up).
// Entered by a switch when its CPU started in a thread of sim_thread.
void cpu_entry() {
  entered_new_context();
  if (g_cur->prev) thread_switch_finish(g_cur->prev);
  processor_idle_loop();
}

}  // namespace

const char* sim_end_name(SimEnd e) {
  switch (e) {
    case SimEnd::kDone:
      return "done";
    case SimEnd::kSpinForever:
      return "a CPU spins forever";
    case SimEnd::kThreadLost:
      return "every CPU idle, a thread lost";
    case SimEnd::kTurnLimit:
      return "turn limit";
  }
  return "?";
}

// --- machine/cpu.h ---------------------------------------------------------------------

IrqState arch_irq_disable() {
  IrqState prev = g_cur->irq_enabled ? 1 : 0;
  g_cur->irq_enabled = false;
  return prev;
}

void arch_irq_restore(IrqState state) { g_cur->irq_enabled = state != 0; }
bool arch_irq_enabled() { return g_cur->irq_enabled; }
void arch_cpu_relax() { end_turn(Turn::kRelax); }
unsigned arch_cpu_id() { return g_cur->id; }
unsigned arch_cpu_count() { return g_ncpus; }
Processor* arch_processor() { return &processors[g_cur->id]; }
void arch_set_processor(Processor*) {}
uint64_t arch_time_ns() { return g_turns * 1000; }

void arch_idle_wait() {
  g_cur->irq_enabled = true;
  end_turn(Turn::kIdle);
  g_cur->irq_enabled = false;
}

void arch_send_reschedule(unsigned) {}  // need_resched is seen at the next sim_yield
void arch_halt() { abort(); }
void arch_shutdown(unsigned) { abort(); }

// --- threads -----------------------------------------------------------------------------

Thread* kernel_thread_create(const char* name, void (*entry)(void*), void* arg, int pri) {
  auto* t = new Thread;
  strncpy(t->name, name, sizeof t->name - 1);
  t->base_pri = t->sched_pri = pri;
  SimThread* st = new_sim_thread(t);
  st->body = entry;
  st->arg = arg;
  getcontext(&st->ctx);
  st->ctx.uc_stack.ss_sp = st->stack;
  st->ctx.uc_stack.ss_size = kStackSize;
  st->ctx.uc_link = nullptr;
  makecontext(&st->ctx, thread_entry, 0);
  return t;
}

// The idle thread of the CPU being started: it starts in the idle loop, and the CPU starts
// in it unless sim_thread gives the CPU a first thread.
void arch_thread_adopt_boot(Thread* t) {
  SimCpu* c = g_cur;
  SimThread* st = sim_of(t);
  makecontext(&st->ctx, cpu_entry, 0);
  c->on_stack = st;
  c->start = &st->ctx;
}

Thread* arch_context_switch(Thread* from, Thread* to) {
  SimCpu* c = g_cur;
  // A thread runs: no CPU is stuck idle.
  for (unsigned i = 0; i < g_ncpus; ++i) g_cpus[i].idle_run = 0;
  c->prev = from;
  c->on_stack = sim_of(to);
  switch_context(&sim_of(from)->ctx, &sim_of(to)->ctx, sim_of(to)->stack, kStackSize);
  return g_cur->prev;  // back on `from`, on whichever CPU took it
}

void thread_reap(Thread* t) { sim_of(t)->reaped = true; }

// --- sim.h ---------------------------------------------------------------------------------

void sim_init(unsigned ncpus) {
  if (!g_main_stack) {
    pthread_attr_t a;
    pthread_getattr_np(pthread_self(), &a);
    void* addr;
    pthread_attr_getstack(&a, &addr, &g_main_stack_size);
    g_main_stack = addr;
    pthread_attr_destroy(&a);
  }
  // The previous run's threads, when it ended cleanly: all reaped but the idle threads,
  // whose CPUs are dropped with the old machine.
  if (g_end == SimEnd::kDone) {
    for (SimThread* st : g_threads) {
      free(st->stack);
      delete st->thread;
      delete st;
    }
    g_threads.clear();
    for (void* a : g_allocs) free(a);
    g_allocs.clear();
  }
  g_ncpus = ncpus;
  g_turns = 0;
  g_bodies = g_bodies_done = 0;
  g_end = SimEnd::kTurnLimit;
  for (unsigned i = 0; i < kMaxCpus; ++i) {
    processors[i].~Processor();
    new (&processors[i]) Processor();
    g_cpus[i] = SimCpu();
    g_cpus[i].id = i;
  }
  for (unsigned i = 0; i < ncpus; ++i) {
    g_cur = &g_cpus[i];
    processor_start(i);
  }
  g_cur = nullptr;
}

Thread* sim_thread(const char* name, void (*body)(void*), void* arg, unsigned cpu, int pri) {
  Thread* t = kernel_thread_create(name, body, arg, pri);
  Processor* p = &processors[cpu];
  SimCpu* c = &g_cpus[cpu];
  t->last_cpu = cpu;
  if (p->active_thread == p->idle_thread) {
    // The CPU's first thread: the CPU starts in it, as if it had just switched from idle.
    p->active_thread = t;
    t->state = ThreadState::kRunning;
    t->on_cpu = true;
    c->prev = p->idle_thread;
    c->on_stack = sim_of(t);
    c->start = &sim_of(t)->ctx;
  } else {
    t->state = ThreadState::kRunnable;
    t->runq_owner = p;
    p->runq.enqueue(t);
  }
  ++g_bodies;
  return t;
}

SimEnd sim_run(uint64_t max_turns) {
  g_max_turns = max_turns;
  g_cur = &g_cpus[0];
  switch_context(&g_main_ctx, resume_point(g_cur), g_cur->on_stack->stack, kStackSize);
  return g_end;
}

void sim_yield() {
  end_turn(Turn::kYield);
  if (!arch_irq_enabled() || !current_processor()->need_resched) return;
  arch_irq_disable();
  sched_preempt_check();
  arch_irq_restore(1);
}

void sim_preempt() {
  if (!arch_irq_enabled()) return;
  arch_irq_disable();
  current_processor()->need_resched = true;
  sched_preempt_check();
  arch_irq_restore(1);
}

void* sim_alloc(size_t size) {
  void* a = calloc(1, size);
  g_allocs.push_back(a);
  return a;
}

unsigned sim_cpu() { return g_cur->id; }

void sim_dump() {
  for (unsigned i = 0; i < g_ncpus; ++i)
    fprintf(stderr, "cpu %u: active %s, %zu queued, relax %lu idle %lu\n", i,
            processors[i].active_thread->name, processors[i].runq.size(),
            static_cast<unsigned long>(g_cpus[i].relax_run),
            static_cast<unsigned long>(g_cpus[i].idle_run));
  for (SimThread* st : g_threads) {
    Thread* t = st->thread;
    fprintf(stderr, "thread %p %s: state %d event %p on_cpu %d last_cpu %u queued %d reaped %d\n",
            static_cast<void*>(t), t->name, static_cast<int>(t->state), t->wait_event, t->on_cpu,
            t->last_cpu, t->runq_owner != nullptr, st->reaped);
  }
}

uint64_t sim_context_switches(unsigned cpu) { return processors[cpu].context_switches; }
