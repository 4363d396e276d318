/* What the parts of the benchmark module share: timing, reporting and the group filter
   (bench.c), and the task and VM benchmarks (bench_tasks.c). */
#ifndef MICA_BENCH_H
#define MICA_BENCH_H

#include <mach.h>
#include <stdint.h>

enum {
  kTrapLoops = 200000,
  kSwitchLoops = 20000,
  kRpcLoops = 20000,
  kReplyPorts = 2000,
  kWarmup = 1000,
  kMaxReps = 31
};

extern uint64_t tsc_khz;  /* 0: report cycles */
extern int reps;

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

/* Sorts cycles[0..reps) and prints the median per operation (n operations a pass) as the
   line `name`, with a "#" line of min and max. */
void report(const char *name, uint64_t *cycles, uint64_t n);
/* Per-operation value of `cycles` over `n` operations, in tenths of the unit. */
uint64_t tenths(uint64_t cycles, uint64_t n);

/* The groups of bench_tasks.c: two tasks, VM calls and faults, copy-on-write, fork. */
/* with_ool = 0 (only=xrpc): the null RPC alone, to profile it. */
void bench_cross_task(int with_ool);
void bench_vm(void);
void bench_cow(void);
void bench_fork(const char *name, unsigned long extra, int self_terminate, int rewrite);
/* bench_pager.c: faults served by a data manager in this task. */
void bench_pager(void);
/* vm_map and vm_deallocate of that pager's object, untouched. */
void bench_vm_map(void);
/* bench_disk.c: device_write/device_read throughput of vd0, and paging through the default
   pager. */
void bench_disk(mach_port_t device_master);
void bench_paging(unsigned mib);

#define PAGE ((vm_size_t)4096)
#define MiB ((vm_size_t)1 << 20)

/* The null RPC's message (bench.c's server answers it; bench_tasks.c's child server too). */
enum { kRpcId = 4242, kRpcStopId = 4243 };
struct rpc_msg {
  mach_msg_header_t h;
  char pad[128];
};
mach_msg_return_t rpc_call(mach_port_t dest, mach_port_t reply, mach_msg_id_t id);
void sort(uint64_t *v, int n);

#endif
