// RunQueue: priority order, FIFO within a level, the bitmap, removal; the priority helpers.
#include <gtest/gtest.h>

#include "kern/run_queue.h"
#include "kern/sched_pri.h"

namespace {

struct Thread {
  int id = 0;
  int sched_pri = kBasePriUser;
  QueueLink run_link;
};

using Queue = RunQueue<Thread, &Thread::run_link>;

constinit Queue g_queue;  // must be constant-initializable

TEST(RunQueue, Empty) {
  Queue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.bitmap(), 0u);
  EXPECT_EQ(q.highest_priority(), kNumPriorities);
  EXPECT_EQ(q.dequeue(), nullptr);
  EXPECT_EQ(q.peek(), nullptr);
  EXPECT_TRUE(g_queue.empty());
}

TEST(RunQueue, HighestPriorityFirst) {
  Thread t[5];
  const int pris[5] = {20, 3, 31, 0, 12};
  Queue q;
  for (int i = 0; i < 5; ++i) {
    t[i].id = i;
    t[i].sched_pri = pris[i];
    q.enqueue(&t[i]);
  }
  EXPECT_EQ(q.size(), 5u);
  EXPECT_EQ(q.bitmap(), (1u << 20) | (1u << 3) | (1u << 31) | (1u << 0) | (1u << 12));
  EXPECT_EQ(q.highest_priority(), 0);
  EXPECT_EQ(q.peek(), &t[3]);
  const int order[5] = {3, 1, 4, 0, 2};
  for (int i : order) {
    EXPECT_EQ(q.highest_priority(), t[i].sched_pri);
    EXPECT_EQ(q.dequeue(), &t[i]);
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bitmap(), 0u);
  EXPECT_EQ(q.highest_priority(), kNumPriorities);
}

TEST(RunQueue, FifoWithinALevelAndRoundRobin) {
  Thread t[4];
  Queue q;
  for (int i = 0; i < 4; ++i) {
    t[i].id = i;
    t[i].sched_pri = kBasePriSystem;
    q.enqueue(&t[i]);
  }
  EXPECT_EQ(q.count_at(kBasePriSystem), 4u);
  // Round robin: each dequeued thread goes back to the tail of its level.
  for (int round = 0; round < 8; ++round) {
    Thread* th = q.dequeue();
    ASSERT_NE(th, nullptr);
    EXPECT_EQ(th->id, round % 4);
    q.enqueue(th);
  }
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(q.bitmap(), 1u << kBasePriSystem);
}

TEST(RunQueue, EnqueueAtHead) {
  Thread a, b, c;
  a.id = 1;
  b.id = 2;
  c.id = 3;
  Queue q;
  q.enqueue(&a);
  q.enqueue(&b);
  q.enqueue(&c, /*at_head=*/true);  // a preempted thread resumes first
  EXPECT_EQ(q.dequeue(), &c);
  EXPECT_EQ(q.dequeue(), &a);
  EXPECT_EQ(q.dequeue(), &b);
}

TEST(RunQueue, RemoveFromMiddleKeepsBitmapExact) {
  Thread t[6];
  Queue q;
  for (int i = 0; i < 6; ++i) {
    t[i].id = i;
    t[i].sched_pri = i < 3 ? 5 : 9;
    q.enqueue(&t[i]);
  }
  q.remove(&t[1]);  // middle of level 5
  EXPECT_EQ(q.size(), 5u);
  EXPECT_EQ(q.count_at(5), 2u);
  EXPECT_EQ(q.bitmap(), (1u << 5) | (1u << 9));
  q.remove(&t[0]);
  q.remove(&t[2]);  // level 5 now empty: its bit clears
  EXPECT_EQ(q.bitmap(), 1u << 9);
  EXPECT_EQ(q.highest_priority(), 9);
  EXPECT_EQ(q.dequeue(), &t[3]);
  q.remove(&t[5]);
  EXPECT_EQ(q.dequeue(), &t[4]);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bitmap(), 0u);
}

TEST(RunQueue, ChangePriorityByRemoveAndEnqueue) {
  Thread a, b;
  a.sched_pri = 10;
  b.sched_pri = 11;
  Queue q;
  q.enqueue(&a);
  q.enqueue(&b);
  q.remove(&b);
  b.sched_pri = 2;
  q.enqueue(&b);
  EXPECT_EQ(q.highest_priority(), 2);
  EXPECT_EQ(q.dequeue(), &b);
  EXPECT_EQ(q.dequeue(), &a);
}

TEST(RunQueue, AllLevels) {
  Thread t[kNumPriorities];
  Queue q;
  for (int p = kNumPriorities - 1; p >= 0; --p) {
    t[p].sched_pri = p;
    q.enqueue(&t[p]);
  }
  EXPECT_EQ(q.bitmap(), 0xffffffffu);
  for (int p = 0; p < kNumPriorities; ++p) EXPECT_EQ(q.dequeue(), &t[p]);
  EXPECT_TRUE(q.empty());
}

TEST(RunQueueDeathTest, BadPriorityIsCaught) {
  Thread t;
  t.sched_pri = kNumPriorities;
  Queue q;
  EXPECT_DEATH(q.enqueue(&t), "assertion failed");
}

// --- Priority helpers (sched_pri.h) ---

static_assert(kNumPriorities == 32 && kIdlePriority == 31);
static_assert(kBasePriSystem < kBasePriUser, "system threads outrank user threads");
static_assert(sched_compute_pri(kBasePriUser, 0) == kBasePriUser);

TEST(SchedPri, AgingLowersPriorityWithUsage) {
  const uint64_t level = uint64_t{1} << kSchedUsageShift;
  EXPECT_EQ(sched_compute_pri(kBasePriUser, level - 1), kBasePriUser);
  EXPECT_EQ(sched_compute_pri(kBasePriUser, level), kBasePriUser + 1);
  EXPECT_EQ(sched_compute_pri(kBasePriUser, 5 * level), kBasePriUser + 5);
  // Clamped at the lowest level, even for absurd usage.
  EXPECT_EQ(sched_compute_pri(kBasePriUser, 1000 * level), kIdlePriority);
  EXPECT_EQ(sched_compute_pri(kBasePriUser, ~uint64_t{0}), kIdlePriority);
  EXPECT_EQ(sched_compute_pri(-3, 0), 0);
  // A custom shift.
  EXPECT_EQ(sched_compute_pri(kBasePriSystem, 64, 4), kBasePriSystem + 4);
}

TEST(SchedPri, UsageDecaysByFiveEighths) {
  EXPECT_EQ(sched_decay_usage(800, 0), 800u);
  EXPECT_EQ(sched_decay_usage(800, 1), 500u);
  EXPECT_EQ(sched_decay_usage(800, 2), 312u);
  EXPECT_EQ(sched_decay_usage(~uint64_t{0} >> 4, 64), 0u);
  // A CPU hog settles near 5/3 s of usage: about 12 levels below its base.
  uint64_t usage = 0;
  for (int s = 0; s < 50; ++s) usage = sched_decay_usage(usage + 1000000, 1);
  EXPECT_NEAR(static_cast<double>(usage), 1666666.0, 10.0);
  EXPECT_EQ(sched_compute_pri(kBasePriUser, usage), kBasePriUser + 12);
}

TEST(SchedPri, DepressAndAbort) {
  const uint64_t level = uint64_t{1} << kSchedUsageShift;
  SchedPri p;
  p = sched_pri_update(p, 2 * level);
  EXPECT_EQ(p.sched_pri, kBasePriUser + 2);
  p = sched_pri_depress(p);
  EXPECT_TRUE(p.depressed);
  EXPECT_EQ(p.sched_pri, kDepressPriority);
  // Aging does not undo a depression.
  p = sched_pri_update(p, 0);
  EXPECT_EQ(p.sched_pri, kDepressPriority);
  // A new base priority is remembered but the depression holds.
  p = sched_pri_set_base(p, kBasePriSystem, 0);
  EXPECT_EQ(p.base_pri, kBasePriSystem);
  EXPECT_EQ(p.sched_pri, kDepressPriority);
  // The abort restores the aged priority from the (new) base.
  p = sched_pri_depress_abort(p, level);
  EXPECT_FALSE(p.depressed);
  EXPECT_EQ(p.sched_pri, kBasePriSystem + 1);
  // Aborting a thread that is not depressed changes nothing.
  SchedPri q = sched_pri_depress_abort(p, 10 * level);
  EXPECT_EQ(q.sched_pri, p.sched_pri);
  EXPECT_FALSE(q.depressed);
}

TEST(SchedPri, SetBaseClamps) {
  SchedPri p = sched_pri_set_base(SchedPri{}, 99, 0);
  EXPECT_EQ(p.base_pri, kIdlePriority);
  EXPECT_EQ(p.sched_pri, kIdlePriority);
  p = sched_pri_set_base(p, -5, 0);
  EXPECT_EQ(p.base_pri, 0);
  EXPECT_EQ(p.sched_pri, 0);
}

}  // namespace
