// Mach run queues: one FIFO per priority level and a bitmap of the non-empty levels, so
// the highest-priority runnable thread is found with one count-trailing-zeros.
// Level 0 is the highest priority (bit 0 of the bitmap), level 31 the lowest.
// No locking inside: the scheduler holds its own lock around every call.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kern/assert.h"
#include "kern/queue.h"
#include "kern/sched_pri.h"

// T must have an `int sched_pri` member in [0, kNumPriorities) and a QueueLink member `Link`
// that no other list uses while T is queued here. sched_pri must not change while T is
// queued: remove it, change the priority, enqueue it again.
template <class T, QueueLink T::*Link>
class RunQueue {
 public:
  constexpr RunQueue() = default;
  RunQueue(const RunQueue&) = delete;
  RunQueue& operator=(const RunQueue&) = delete;

  // Queues `t` at level t->sched_pri: at the tail (round robin within a level), or at the
  // head when `at_head` (a preempted thread that keeps the rest of its quantum).
  void enqueue(T* t, bool at_head = false) {
    int pri = t->sched_pri;
    kassert(pri >= 0 && pri < kNumPriorities);
    if (at_head)
      levels_[pri].push_front(t);
    else
      levels_[pri].push_back(t);
    bitmap_ |= 1u << pri;
    ++count_;
  }

  // Removes and returns the first thread of the highest-priority non-empty level, or
  // nullptr when the queue is empty.
  T* dequeue() {
    if (bitmap_ == 0) return nullptr;
    int pri = __builtin_ctz(bitmap_);
    T* t = levels_[pri].pop_front();
    if (levels_[pri].empty()) bitmap_ &= ~(1u << pri);
    --count_;
    return t;
  }

  // Removes `t`, which must be queued here (at level t->sched_pri).
  void remove(T* t) {
    int pri = t->sched_pri;
    kassert(pri >= 0 && pri < kNumPriorities);
    levels_[pri].remove(t);
    if (levels_[pri].empty()) bitmap_ &= ~(1u << pri);
    --count_;
  }

  // The highest priority (lowest number) with a queued thread, kNumPriorities when empty.
  int highest_priority() const { return bitmap_ ? __builtin_ctz(bitmap_) : kNumPriorities; }

  // The first thread dequeue() would return, without removing it; nullptr when empty.
  T* peek() const { return bitmap_ ? levels_[__builtin_ctz(bitmap_)].front() : nullptr; }

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Bit p is set when level p is non-empty.
  uint32_t bitmap() const { return bitmap_; }
  // Number of threads queued at level `pri`.
  size_t count_at(int pri) const { return levels_[pri].size(); }

 private:
  IntrusiveList<T, Link> levels_[kNumPriorities];
  uint32_t bitmap_ = 0;
  size_t count_ = 0;
};
