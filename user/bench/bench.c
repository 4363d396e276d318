/* bench: Mica's micro-benchmarks, run as a boot module by tools/bench.sh (./mica bench).
   Prints "name value unit" lines between "bench-start" and "bench-done", then exits.

   Arguments (after the boot script's words): tsc_mhz=F sets the TSC rate used to turn cycles
   into ns (Mica has no host_get_time yet; under QEMU TCG the guest TSC is the host's, so the
   harness passes the host's rate). reps=N sets the repetitions per benchmark (default 5).
   Without tsc_mhz the values are in TSC cycles (unit "cyc").

   Each benchmark runs one warm-up pass, then `reps` timed passes of a fixed loop; the line
   gives the median pass, per operation. A "#" line after it gives min and max. Loop sizes
   follow the GNU Mach peer: 200k for traps, 20k (after 1k warm-up) for switches. */
#include <mach/mach_traps.h>
#include <mica_thread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kTrapLoops = 200000, kSwitchLoops = 20000, kWarmup = 1000, kMaxReps = 31 };

static uint64_t tsc_khz;  // 0: report cycles
static int reps = 5;

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

/* "2596.146" -> 2596146 (kHz); 0 if malformed. */
static uint64_t parse_mhz(const char *s) {
  uint64_t khz = 0;
  int frac = -1;
  for (; *s; s++) {
    if (*s == '.' && frac < 0) {
      frac = 0;
    } else if (*s >= '0' && *s <= '9') {
      if (frac >= 3)
        continue;
      khz = khz * 10 + (uint64_t)(*s - '0');
      if (frac >= 0)
        frac++;
    } else {
      return 0;
    }
  }
  for (int i = frac < 0 ? 0 : frac; i < 3; i++)
    khz *= 10;
  return khz;
}

/* Cycles per operation in tenths of the reporting unit (ns, or cycles). */
static uint64_t tenths(uint64_t cycles, uint64_t n) {
  if (tsc_khz == 0)
    return cycles * 10 / n;
  return cycles * 10000000ull / (n * tsc_khz);
}

static void sort(uint64_t *v, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      uint64_t t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
}

/* Prints the median of reps passes of n operations each (cycles[] per pass). */
static void report(const char *name, uint64_t *cycles, uint64_t n) {
  sort(cycles, reps);
  const char *unit = tsc_khz ? "ns" : "cyc";
  uint64_t med = tenths(cycles[reps / 2], n), lo = tenths(cycles[0], n),
           hi = tenths(cycles[reps - 1], n);
  printf("%s %lu.%lu %s\n", name, med / 10, med % 10, unit);
  printf("# %s min %lu.%lu max %lu.%lu reps %d n %lu cycles/op %lu\n", name, lo / 10, lo % 10,
         hi / 10, hi % 10, reps, n, cycles[reps / 2] / n);
}

/* ---- traps that return at once ---- */

static void bench_traps(void) {
  uint64_t c[kMaxReps];
  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kTrapLoops; i++)
      mach_task_self();
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("mach_task_self_trap", c, kTrapLoops);

  // Nothing else of this task is runnable, and the idle thread never is.
  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kTrapLoops; i++)
      swtch_pri(0);
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("swtch_pri_trap_no_other_runnable", c, kTrapLoops);

  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kTrapLoops; i++)
      swtch();
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("swtch_trap_no_other_runnable", c, kTrapLoops);
}

/* ---- two threads of the task taking turns ----
   The partner runs `partner_loop`: each time it runs it counts one turn and gives the CPU
   back, by handoff (thread_switch to the main thread) or by swtch. The main thread does the
   same. On one CPU each round trip is then exactly two switches; the "#" line compares the
   partner's turns with the main thread's calls to show it. With more CPUs the partner may
   run beside the main thread and the figure means nothing; tools/bench.sh uses -smp 1. */

static volatile mach_port_t main_name, partner_name;
static volatile int partner_ready, partner_stop, partner_done, use_handoff;
static volatile uint64_t turns;
// One stack per benchmark: a partner that set partner_done may still be on its way out.
static char partner_stacks[2][16384] __attribute__((aligned(16)));

static void give_way(mach_port_t to) {
  if (use_handoff)
    thread_switch(to, SWITCH_OPTION_NONE, 0);
  else
    swtch();
}

static void partner_loop(void *arg) {
  (void)arg;
  partner_name = mach_thread_self();
  partner_ready = 1;
  while (!partner_stop) {
    turns++;
    give_way(main_name);
  }
  partner_done = 1;
}

static void bench_pingpong(const char *name, int handoff) {
  uint64_t c[kMaxReps], calls = 0, seen = 0;
  partner_ready = partner_stop = partner_done = 0;
  use_handoff = handoff;
  main_name = mach_thread_self();
  char *stack = partner_stacks[handoff ? 0 : 1];
  if (mica_thread_start(partner_loop, NULL, stack, sizeof partner_stacks[0]) <= 0) {
    printf("# %s: cannot start a thread\n", name);
    return;
  }
  while (!partner_ready)
    swtch();
  for (int r = -1; r < reps; r++) {
    int n = r < 0 ? kWarmup : kSwitchLoops;
    uint64_t before = turns, t0 = rdtsc();
    for (int i = 0; i < n; i++)
      give_way(partner_name);
    uint64_t t1 = rdtsc();
    if (r >= 0) {
      c[r] = t1 - t0;
      calls += (uint64_t)n;
      seen += turns - before;
    }
  }
  partner_stop = 1;
  while (!partner_done)
    give_way(partner_name);
  report(name, c, kSwitchLoops);
  // Equal on one CPU (a timer preemption may add one now and then).
  printf("# %s: partner turns %lu for %lu calls\n", name, seen, calls);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "tsc_mhz=", 8) == 0)
      tsc_khz = parse_mhz(argv[i] + 8);
    else if (strncmp(argv[i], "reps=", 5) == 0)
      reps = atoi(argv[i] + 5);
  }
  if (reps < 1)
    reps = 1;
  if (reps > kMaxReps)
    reps = kMaxReps;
  long cpus = mica_cpu_count();
  printf("bench-start cpus=%ld reps=%d tsc_khz=%lu\n", cpus, reps, tsc_khz);
  if (cpus > 1)
    printf("# more than one CPU: the round trips below are not pure switches\n");
  bench_traps();
  bench_pingpong("thread_switch_handoff_rtt", 1);
  bench_pingpong("swtch_yield_rtt", 0);
  printf("bench-done\n");
  return 0;
}
