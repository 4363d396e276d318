/* The task ./mica run boots: says hello with its boot-script arguments, runs a thread on every
   CPU, hands the CPU back and forth between two threads with thread_switch, then ends (and
   with the last task, the boot). */
#include <mach/mach_traps.h>
#include <mach/thread_switch.h>
#include <mica_thread.h>
#include <stdio.h>

enum { kMaxThreads = 16, kStackSize = 16384, kRounds = 5 };
static char stacks[kMaxThreads][kStackSize] __attribute__((aligned(16)));
static volatile int finished;
static volatile long cpu_of[kMaxThreads];

static void where_am_i(void *arg) {
  long i = (long)arg;
  /* Spin a little so that the threads spread over the CPUs. */
  for (volatile long n = 0; n < 2000000; ++n) {
  }
  cpu_of[i] = mica_cpu_number();
  __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
}

static volatile mach_port_t ping_name, pong_name;
static volatile int turn;

static void pong(void *arg) {
  (void)arg;
  pong_name = mach_thread_self();
  for (int r = 0; r < kRounds; ++r) {
    while (turn != 1) thread_switch(ping_name, SWITCH_OPTION_NONE, 0);
    printf("  pong %d (cpu %ld)\n", r, mica_cpu_number());
    turn = 0;
  }
  __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
}

int main(int argc, char **argv) {
  printf("Hello from %s, a user task in ring 3 on Mica.\n", argv[0]);
  if (argc >= 3) printf("Boot script: host port name %s, device port name %s.\n", argv[1], argv[2]);
  long cpus = mica_cpu_count();
  printf("%ld CPU(s) online; starting a thread on each.\n", cpus);
  for (long i = 0; i < cpus && i < kMaxThreads - 1; ++i)
    mica_thread_start(where_am_i, (void *)i, stacks[i], kStackSize);
  while (finished < cpus) swtch();
  for (long i = 0; i < cpus && i < kMaxThreads - 1; ++i)
    printf("  thread %ld ran on cpu %ld\n", i, cpu_of[i]);

  printf("Handoff: two threads pass the CPU with thread_switch.\n");
  finished = 0;
  ping_name = mach_thread_self();
  mica_thread_start(pong, 0, stacks[kMaxThreads - 1], kStackSize);
  while (!pong_name) swtch();
  for (int r = 0; r < kRounds; ++r) {
    printf("  ping %d (cpu %ld)\n", r, mica_cpu_number());
    turn = 1;
    while (turn != 0) thread_switch(pong_name, SWITCH_OPTION_NONE, 0);
  }
  while (!finished) swtch();
  printf("Demo done; the kernel ends the boot when the last task exits.\n");
  return 0;
}
