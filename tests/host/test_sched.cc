// The scheduler (kern/sched_prim.cc) on a simulated multiprocessor (sched/sim.h): waits and
// wakeups that race with a thread's way off its CPU.
#include <gtest/gtest.h>

#include "kern/lock.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "sched/sim.h"

namespace {

// Threads of a scripted run take their steps in the order of `step`.
struct Script {
  int step = 0;
  char e1 = 0, e2 = 0;  // events
  Thread* x = nullptr;
  Thread* d = nullptr;
  WaitResult x_result = WaitResult::kTimedOut;
  WaitResult d_result = WaitResult::kTimedOut;
  ThreadState x_state_after_wakeup = ThreadState::kSuspended;
  bool x_queued_after_wakeup = true;
  bool took_x = false;
  unsigned x_cpu_before = 99, x_cpu_after = 99;
  uint64_t x_switches_before = 0, x_switches_after = 0;
};

void wait_step(Script* s, int n) {
  while (s->step != n) sim_yield();
}

// Each of two CPUs runs a thread that asserts a wait, wakes the other's wait, then blocks
// (vm_page_wait does this against the pageout daemon, which does the same the other way).
// Both wakeups land before the woken thread has left its CPU.
void cross_x(void* arg) {
  auto* s = static_cast<Script*>(arg);
  wait_step(s, 0);
  assert_wait(&s->e1);
  s->step = 1;
  wait_step(s, 2);
  thread_wakeup(&s->e2);
  s->x_cpu_before = sim_cpu();
  s->x_switches_before = sim_context_switches(sim_cpu());
  s->x_result = thread_block();
  s->x_cpu_after = sim_cpu();
  s->x_switches_after = sim_context_switches(sim_cpu());
}

void cross_d(void* arg) {
  auto* s = static_cast<Script*>(arg);
  wait_step(s, 1);
  thread_wakeup(&s->e1);
  s->x_state_after_wakeup = s->x->state;
  s->x_queued_after_wakeup = s->x->runq_owner != nullptr;
  assert_wait(&s->e2);
  s->step = 2;
  s->d_result = thread_block();
}

TEST(SchedSim, WaitEndedBeforeTheThreadLeftItsCpuKeepsItRunning) {
  sim_init(2);
  Script& s = *sim_new<Script>();
  s.x = sim_thread("x", cross_x, &s, 0);
  s.d = sim_thread("d", cross_d, &s, 1);
  SimEnd end = sim_run();
  ASSERT_EQ(end, SimEnd::kDone) << sim_end_name(end);
  // Woken between assert_wait and thread_block: still X's CPU's thread, on no run queue
  // (where the other CPU could take it while it still runs here).
  EXPECT_EQ(s.x_state_after_wakeup, ThreadState::kRunning);
  EXPECT_FALSE(s.x_queued_after_wakeup);
  // Its thread_block returns at once, without a switch.
  EXPECT_EQ(s.x_result, WaitResult::kAwakened);
  EXPECT_EQ(s.x_cpu_after, s.x_cpu_before);
  EXPECT_EQ(s.x_switches_after, s.x_switches_before);
  EXPECT_EQ(s.d_result, WaitResult::kAwakened);
}

// The earlier lost wakeup: a thread preempted between assert_wait and thread_block leaves its
// CPU as if it had blocked; woken, it runs again, and its thread_block must not block again.
void preempted_x(void* arg) {
  auto* s = static_cast<Script*>(arg);
  wait_step(s, 0);
  assert_wait(&s->e1);
  s->step = 1;
  sim_preempt();
  s->x_result = thread_block();
}

void preempted_d(void* arg) {
  auto* s = static_cast<Script*>(arg);
  wait_step(s, 1);
  thread_wakeup(&s->e1);
  s->step = 2;
}

TEST(SchedSim, ThreadPreemptedBeforeBlockingIsNotLostWhenWoken) {
  sim_init(2);
  Script& s = *sim_new<Script>();
  s.x = sim_thread("x", preempted_x, &s, 0);
  s.d = sim_thread("d", preempted_d, &s, 1);
  SimEnd end = sim_run();
  ASSERT_EQ(end, SimEnd::kDone) << sim_end_name(end);
  EXPECT_EQ(s.x_result, WaitResult::kAwakened);
}

// A receiver woken by a handoff (thread_wakeup_take, thread_block_handoff) before it has left
// its CPU keeps running there; the sender blocks instead of waiting for it to leave.
void handoff_receiver(void* arg) {
  auto* s = static_cast<Script*>(arg);
  wait_step(s, 0);
  assert_wait(&s->e1);
  s->step = 1;
  wait_step(s, 2);
  s->x_cpu_before = sim_cpu();
  s->x_switches_before = sim_context_switches(sim_cpu());
  s->x_result = thread_block();
  s->x_cpu_after = sim_cpu();
  s->x_switches_after = sim_context_switches(sim_cpu());
  thread_wakeup(&s->e2);
}

void handoff_sender(void* arg) {
  auto* s = static_cast<Script*>(arg);
  wait_step(s, 1);
  Thread* to = thread_wakeup_take(&s->e1);
  s->took_x = to == s->x;
  assert_wait(&s->e2);
  s->step = 2;
  s->d_result = thread_block_handoff(to);
}

TEST(SchedSim, HandoffToAThreadStillOnItsCpuLeavesItThere) {
  sim_init(2);
  Script& s = *sim_new<Script>();
  s.x = sim_thread("receiver", handoff_receiver, &s, 1);
  s.d = sim_thread("sender", handoff_sender, &s, 0);
  SimEnd end = sim_run();
  ASSERT_EQ(end, SimEnd::kDone) << sim_end_name(end);
  EXPECT_TRUE(s.took_x);
  EXPECT_EQ(s.x_result, WaitResult::kAwakened);
  EXPECT_EQ(s.x_cpu_after, s.x_cpu_before);
  EXPECT_EQ(s.x_switches_after, s.x_switches_before);
  EXPECT_EQ(s.d_result, WaitResult::kAwakened);
}

// Random interleavings of RPC-like pairs: a client posts a request and waits for the reply,
// the server waits for requests and replies. Each side wakes the other in one of two ways:
// - between its own assert_wait and thread_block, interrupts off (vm_page_wait does this
//   against the pageout daemon, which does the same the other way);
// - before asserting its wait, and then waits with interrupts on, so that a preemption can
//   come between assert_wait and thread_block.
// Turns pass to other CPUs at random points (and preemptions fall there when interrupts are
// on); wakeups go through each of the three wakeup calls, or a handoff.
struct Pair {
  SpinLock lock;
  bool request = false;
  bool reply = false;
  int rounds = 0;
  int served = 0;
  int received = 0;
  uint64_t rng = 0;
};

uint32_t draw(Pair* p) {
  p->rng ^= p->rng << 13;
  p->rng ^= p->rng >> 7;
  p->rng ^= p->rng << 17;
  return static_cast<uint32_t>(p->rng >> 32);
}

// A place where the other CPUs may run, or, interrupts on, a timer interrupt may preempt.
void maybe_interrupt(Pair* p) {
  uint32_t r = draw(p) % 16;
  if (r < 6)
    sim_yield();
  else if (r < 8)
    sim_preempt();
}

void wake(Pair* p, const void* event) {
  switch (draw(p) % 3) {
    case 0:
      thread_wakeup(event);
      break;
    case 1:
      thread_wakeup_one(event);
      break;
    default:
      thread_wakeup_one_here(event);
      break;
  }
}

// Locks the pair with interrupts off, as an IrqSpinGuard does.
IrqState lock(Pair* p) {
  IrqState s = arch_irq_disable();
  p->lock.lock();
  return s;
}

void unlock(Pair* p, IrqState s) {
  p->lock.unlock();
  arch_irq_restore(s);
}

// Waits, pair locked, until *flag; `partner` (if not null) is woken between assert_wait and
// thread_block, interrupts off, the first time round. Returns with the pair locked.
void wait_for(Pair* p, bool* flag, IrqState* s, const void* partner) {
  while (!*flag) {
    assert_wait(flag);
    p->lock.unlock();  // interrupts stay off
    Thread* handoff = nullptr;
    if (partner) {
      maybe_interrupt(p);
      // One time in four, as mach_msg's RPC: take the partner off its wait and hand it
      // this CPU.
      if (draw(p) % 4 == 0)
        handoff = thread_wakeup_take(partner);
      else
        wake(p, partner);
      partner = nullptr;
      maybe_interrupt(p);
    } else {
      arch_irq_restore(*s);
      maybe_interrupt(p);
    }
    if (handoff)
      thread_block_handoff(handoff);
    else
      thread_block();
    *s = lock(p);
  }
}

void client(void* arg) {
  auto* p = static_cast<Pair*>(arg);
  for (int r = 0; r < p->rounds; ++r) {
    IrqState s = lock(p);
    p->request = true;
    bool wake_inside = draw(p) % 2;
    if (!wake_inside) {
      unlock(p, s);
      maybe_interrupt(p);
      wake(p, &p->request);
      s = lock(p);
    }
    wait_for(p, &p->reply, &s, wake_inside ? &p->request : nullptr);
    p->reply = false;
    ++p->received;
    unlock(p, s);
    maybe_interrupt(p);
  }
}

void server(void* arg) {
  auto* p = static_cast<Pair*>(arg);
  IrqState s = lock(p);
  wait_for(p, &p->request, &s, nullptr);
  for (int r = 0; r < p->rounds; ++r) {
    p->request = false;
    p->reply = true;
    ++p->served;
    bool last = r + 1 == p->rounds;
    bool wake_inside = draw(p) % 2;
    if (last || !wake_inside) {
      unlock(p, s);
      maybe_interrupt(p);
      wake(p, &p->reply);
      s = lock(p);
      if (!last) wait_for(p, &p->request, &s, nullptr);
    } else {
      wait_for(p, &p->request, &s, &p->reply);
    }
  }
  unlock(p, s);
}

void run_pairs(unsigned ncpus, uint64_t seed) {
  constexpr unsigned kPairs = 3;
  constexpr int kRounds = 40;
  sim_init(ncpus);
  Pair* pairs = static_cast<Pair*>(sim_alloc(kPairs * sizeof(Pair)));
  for (unsigned i = 0; i < kPairs; ++i) {
    Pair* p = new (&pairs[i]) Pair();
    p->rounds = kRounds;
    p->rng = seed * 0x9e3779b97f4a7c15ull + i + 1;
    sim_thread("client", client, p, i % ncpus);
    sim_thread("server", server, p, (i + 1) % ncpus);
  }
  SimEnd end = sim_run();
  if (end != SimEnd::kDone) sim_dump();
  ASSERT_EQ(end, SimEnd::kDone) << "seed " << seed << ": " << sim_end_name(end);
  for (unsigned i = 0; i < kPairs; ++i) {
    EXPECT_EQ(pairs[i].served, kRounds) << "seed " << seed;
    EXPECT_EQ(pairs[i].received, kRounds) << "seed " << seed;
  }
}

TEST(SchedSim, RandomWaitsAndWakeupsOnTwoCpus) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    run_pairs(2, seed);
    if (HasFatalFailure()) return;
  }
}

TEST(SchedSim, RandomWaitsAndWakeupsOnThreeCpus) {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    run_pairs(3, seed);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
