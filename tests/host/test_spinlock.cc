// SpinLock (kern/lock.h) on the simulated multiprocessor (sched/sim.h): fairness between a
// CPU that keeps taking a lock again and one that waits for it.
#include <gtest/gtest.h>

#include "kern/lock.h"
#include "sched/sim.h"

namespace {

struct Contended {
  SpinLock lock;
  int holder_rounds = 0;        // critical sections the holder went through
  int rounds_before_waiter = -1;  // how many of them came before the waiter's
  bool waiter_asking = false;
  bool try_failed_while_waiting = false;
};

constexpr int kRounds = 50;

// Takes the lock again right after each release, as the pageout daemon does page after page
// of one object. Inside, it gives the other CPU turns, as a holder waiting for a TLB
// shootdown does.
void holder(void* arg) {
  auto* c = static_cast<Contended*>(arg);
  for (int i = 0; i < kRounds; ++i) {
    IrqState s = arch_irq_disable();
    c->lock.lock();
    ++c->holder_rounds;
    sim_yield();
    sim_yield();
    c->lock.unlock();
    arch_irq_restore(s);
  }
}

void waiter(void* arg) {
  auto* c = static_cast<Contended*>(arg);
  while (c->holder_rounds == 0) sim_yield();
  IrqState s = arch_irq_disable();
  c->waiter_asking = true;
  c->lock.lock();
  c->rounds_before_waiter = c->holder_rounds;
  c->lock.unlock();
  arch_irq_restore(s);
}

TEST(SpinLockSim, WaiterGetsTheLockBeforeItsHolderTakesItAgain) {
  sim_init(2);
  Contended& c = *sim_new<Contended>();
  sim_thread("holder", holder, &c, 0);
  sim_thread("waiter", waiter, &c, 1);
  SimEnd end = sim_run();
  ASSERT_EQ(end, SimEnd::kDone) << sim_end_name(end);
  // The waiter asked during the holder's first critical section at the latest, so it comes
  // right after that one or the next; an unfair lock let the holder go through all of them.
  EXPECT_GE(c.rounds_before_waiter, 1);
  EXPECT_LE(c.rounds_before_waiter, 2);
}

// try_lock fails while another CPU waits, even in the moment the lock is free: the waiter is
// next (the pageout daemon try-locks objects, and must let a faulting thread through).
void try_holder(void* arg) {
  auto* c = static_cast<Contended*>(arg);
  IrqState s = arch_irq_disable();
  c->lock.lock();
  c->holder_rounds = 1;
  while (!c->waiter_asking) sim_yield();
  sim_yield();  // the waiter is spinning for its turn now
  c->lock.unlock();
  c->try_failed_while_waiting = !c->lock.try_lock();
  if (!c->try_failed_while_waiting) c->lock.unlock();
  arch_irq_restore(s);
}

TEST(SpinLockSim, TryLockFailsWhileACpuWaits) {
  sim_init(2);
  Contended& c = *sim_new<Contended>();
  sim_thread("holder", try_holder, &c, 0);
  sim_thread("waiter", waiter, &c, 1);
  SimEnd end = sim_run();
  ASSERT_EQ(end, SimEnd::kDone) << sim_end_name(end);
  EXPECT_TRUE(c.try_failed_while_waiting);
  EXPECT_EQ(c.rounds_before_waiter, 1);
}

// panic frees the console lock that a stopped CPU may hold: the next lock must not wait.
TEST(SpinLock, ResetFreesALockItsHolderWillNeverRelease) {
  SpinLock l;
  EXPECT_TRUE(l.try_lock());
  l.reset();
  EXPECT_FALSE(l.is_locked());
  EXPECT_TRUE(l.try_lock());
  l.unlock();
  EXPECT_FALSE(l.is_locked());
  SpinLock free_lock;  // and a lock nobody holds stays usable
  free_lock.reset();
  EXPECT_TRUE(free_lock.try_lock());
}

}  // namespace
