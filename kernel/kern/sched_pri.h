// Scheduling priorities, as in Mach: 0 is the highest priority, 31 the lowest.
//
// Decisions:
// - 32 levels so that one 32-bit word is the bitmap of non-empty run queue levels.
// - Timesharing threads age as in Mach 3: sched_pri = base_pri + (sched_usage >> shift),
//   clamped to kIdlePriority. sched_usage is the thread's CPU time in microseconds, decayed
//   by 5/8 once per second (Mach's sched_tick), so a thread that runs all the time settles
//   near 1.67 s of usage, i.e. about 12 levels below its base with kSchedUsageShift = 17,
//   while an interactive thread stays near its base.
// - swtch_pri and thread_switch with SWITCH_OPTION_DEPRESS depress the thread to the lowest
//   level (kDepressPriority) until it is aborted (thread_depress_abort, or the timeout);
//   aging does not undo a depression; the abort recomputes the aged priority.
// These helpers are pure: the scheduler stores the values and holds its own lock.
#pragma once
#include <stdint.h>

inline constexpr int kNumPriorities = 32;
inline constexpr int kMaxPriority = 0;  // the highest
inline constexpr int kIdlePriority = kNumPriorities - 1;
inline constexpr int kBasePriSystem = 6;
inline constexpr int kBasePriUser = 12;
inline constexpr int kDepressPriority = kIdlePriority;

// One priority level per 2^17 us (about 131 ms) of decayed CPU usage.
inline constexpr unsigned kSchedUsageShift = 17;

// Clamps a priority to the valid range [kMaxPriority, kIdlePriority].
constexpr int sched_pri_clamp(int pri) {
  return pri < kMaxPriority ? kMaxPriority : (pri > kIdlePriority ? kIdlePriority : pri);
}

// The aged scheduled priority of a thread with base priority `base_pri` and decayed CPU
// usage `usage_us`: base_pri + (usage_us >> shift), clamped to [0, kIdlePriority].
constexpr int sched_compute_pri(int base_pri, uint64_t usage_us,
                                unsigned shift = kSchedUsageShift) {
  uint64_t aging = usage_us >> shift;
  if (aging > static_cast<uint64_t>(kNumPriorities)) aging = kNumPriorities;
  return sched_pri_clamp(base_pri + static_cast<int>(aging));
}

// Usage after `seconds` whole decay periods: multiplied by 5/8 per period (Mach's sched
// usage decay). After 64 periods any usage has decayed to zero.
constexpr uint64_t sched_decay_usage(uint64_t usage_us, unsigned seconds) {
  if (seconds >= 64) return 0;
  // (u * 5) >> 3 without overflowing for large u.
  for (unsigned i = 0; i < seconds && usage_us != 0; ++i)
    usage_us = (usage_us >> 3) * 5 + (((usage_us & 7) * 5) >> 3);
  return usage_us;
}

// The priority state of a thread as the priority logic sees it.
struct SchedPri {
  int base_pri = kBasePriUser;   // set by thread_priority / task defaults
  int sched_pri = kBasePriUser;  // what the run queue uses
  bool depressed = false;        // swtch_pri / thread_switch depression in effect
};

// Periodic (or on-wakeup) recomputation: ages sched_pri from base_pri and usage, unless the
// thread is depressed, in which case it stays at kDepressPriority.
constexpr SchedPri sched_pri_update(SchedPri p, uint64_t usage_us) {
  p.sched_pri = p.depressed ? kDepressPriority : sched_compute_pri(p.base_pri, usage_us);
  return p;
}

// swtch_pri / thread_switch(SWITCH_OPTION_DEPRESS): lowest priority until aborted.
constexpr SchedPri sched_pri_depress(SchedPri p) {
  p.depressed = true;
  p.sched_pri = kDepressPriority;
  return p;
}

// thread_depress_abort or the depression's timeout: back to the aged priority. A thread
// that is not depressed is returned unchanged.
constexpr SchedPri sched_pri_depress_abort(SchedPri p, uint64_t usage_us) {
  if (!p.depressed) return p;
  p.depressed = false;
  return sched_pri_update(p, usage_us);
}

// thread_priority: a new base priority; the scheduled priority follows unless depressed.
constexpr SchedPri sched_pri_set_base(SchedPri p, int base_pri, uint64_t usage_us) {
  p.base_pri = sched_pri_clamp(base_pri);
  return sched_pri_update(p, usage_us);
}
