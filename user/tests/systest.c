/* systest: the bootstrap test task. The kernel starts it from the boot script with
   argv = {systest, HOST_PORT, DEVICE_PORT}; it checks the user-space basics (ring 3, argv,
   the Mach traps, threads, preemption, every CPU) and prints one result line per TEST.
   tests/system/CMakeLists.txt turns each TEST into a CTest case. */
#include <mach/mach_traps.h>
#include <mica_thread.h>
#include <stdio.h>
#include <string.h>
#include <test/test.h>

static int boot_argc;
static char **boot_argv;

static bool is_decimal(const char *s) {
  if (!s || !*s)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* argv[0] is the module's path (QEMU -initrd) or its name (GRUB). */
static bool names_module(const char *arg0, const char *name) {
  size_t n = strlen(arg0), m = strlen(name);
  return n >= m && strcmp(arg0 + n - m, name) == 0 && (n == m || arg0[n - m - 1] == '/');
}

TEST(runs_in_ring3) {
  uint16_t cs, ss;
  __asm__("mov %%cs, %0" : "=r"(cs));
  __asm__("mov %%ss, %0" : "=r"(ss));
  EXPECT_EQ(cs & 3, 3);
  EXPECT_EQ(ss & 3, 3);
}

TEST(argv_from_boot_script) {
  ASSERT_EQ(boot_argc, 3);
  EXPECT(names_module(boot_argv[0], "systest"));
  EXPECT(is_decimal(boot_argv[1]));
  EXPECT(is_decimal(boot_argv[2]));
  EXPECT(boot_argv[3] == NULL);
}

/* The line starts 20 bytes before a page boundary, so the kernel must read it across two
   pages. tests/system checks that it reached the console whole. */
static char page_pair[2 * 4096] __attribute__((aligned(4096)));

TEST(mach_print_works) {
  static const char text[] = "mach_print: this line crosses a page boundary\n";
  char *p = page_pair + 4096 - 20;
  memcpy(p, text, sizeof text);
  mach_print(p);
  mach_print("");  // prints nothing, and must not fail
}

static volatile mach_port_t other_thread_self, other_task_self;
static volatile int other_done;

static void record_self(void *arg) {
  (void)arg;
  other_thread_self = mach_thread_self();
  other_task_self = mach_task_self();
  other_done = 1;
}

TEST(self_traps) {
  mach_port_t task = mach_task_self(), thread = mach_thread_self(), host = mach_host_self();
  EXPECT(MACH_PORT_VALID(task));
  EXPECT(MACH_PORT_VALID(thread));
  EXPECT(MACH_PORT_VALID(host));
  EXPECT_NE(task, thread);
  EXPECT_NE(task, host);
  EXPECT_NE(thread, host);
  // The same right each time, so the same name.
  EXPECT_EQ(mach_task_self(), task);
  EXPECT_EQ(mach_thread_self(), thread);
  EXPECT_EQ(mach_host_self(), host);

  ASSERT(test_thread(record_self, NULL) > 0);
  ASSERT(WAIT_UNTIL(other_done, 5000));
  EXPECT(MACH_PORT_VALID(other_thread_self));
  EXPECT_NE(other_thread_self, thread);
  EXPECT_EQ(other_task_self, task);
}

TEST(swtch_returns) {
  boolean_t r = swtch();
  EXPECT(r == TRUE || r == FALSE);
  r = swtch_pri(0);
  EXPECT(r == TRUE || r == FALSE);
}

static volatile long spin_count;
static volatile int spin_stop, spin_done;

static void spin(void *arg) {
  (void)arg;
  while (!spin_stop)
    spin_count++;
  spin_done = 1;
}

static void start_spinner(void) {
  spin_count = 0;
  spin_stop = 0;
  spin_done = 0;
  EXPECT(test_thread(spin, NULL) > 0);
}

static void stop_spinner(void) {
  spin_stop = 1;
  EXPECT(WAIT_UNTIL(spin_done, 5000));
}

/* Neither thread yields. The main thread sees the spinner's counter change only if the
   spinner ran between two of its reads, and it reads only while it runs itself: so each
   change seen means both threads advanced. With one CPU, that takes the timer preempting
   the main thread and then the spinner, again and again. */
TEST(two_threads_preempt) {
  start_spinner();
  long last = spin_count;
  int changes = 0;
  uint64_t end = test_cycles() + 10000 * TEST_CYCLES_PER_MS;
  while (changes < 5 && test_cycles() < end) {
    if (spin_count != last) {
      last = spin_count;
      changes++;
    }
  }
  stop_spinner();
  EXPECT_GE(changes, 5);
}

static volatile mach_port_t target_name;
static volatile int target_ready, target_requested, target_ran;

static void handoff_target(void *arg) {
  (void)arg;
  target_name = mach_thread_self();
  target_ready = 1;
  while (!target_requested)
    swtch();  // ready to run, not running
  target_ran = 1;
}

/* thread_switch to a ready thread runs it before the caller goes on. With several CPUs the
   target may be running elsewhere at the time of the call: then it only has to run soon. */
TEST(thread_switch_handoff) {
  ASSERT(test_thread(handoff_target, NULL) > 0);
  ASSERT(WAIT_UNTIL(target_ready, 5000));
  target_requested = 1;
  kern_return_t kr = thread_switch(target_name, SWITCH_OPTION_NONE, 0);
  int ran_before_return = target_ran;
  EXPECT_EQ(kr, KERN_SUCCESS);
  if (mica_cpu_count() == 1)
    EXPECT_EQ(ran_before_return, 1);
  else
    EXPECT(WAIT_UNTIL(target_ran, 5000));
}

/* A depressed caller lets the spinner run, and gets its priority back to return (the
   depression is bounded: a spinner of the same priority never blocks). With several CPUs the
   spinner may have a CPU of its own and the call return at once: then both just go on. */
TEST(thread_switch_depress) {
  start_spinner();
  EXPECT(WAIT_UNTIL(spin_count > 0, 5000));
  long before = spin_count;
  kern_return_t kr = thread_switch(MACH_PORT_NULL, SWITCH_OPTION_DEPRESS, 50);
  long after = spin_count;
  EXPECT_EQ(kr, KERN_SUCCESS);
  if (mica_cpu_count() == 1)
    EXPECT(after > before);
  else
    EXPECT(WAIT_UNTIL(spin_count > after, 5000));
  stop_spinner();
}

TEST(thread_switch_wait) {
  uint64_t start = test_cycles();
  kern_return_t kr = thread_switch(MACH_PORT_NULL, SWITCH_OPTION_WAIT, 50);
  uint64_t elapsed = test_cycles() - start;
  EXPECT_EQ(kr, KERN_SUCCESS);
  EXPECT_GE(elapsed, 10 * TEST_CYCLES_PER_MS);  // at least 10 ms of the 50 asked
}

TEST(thread_switch_bad_option) {
  EXPECT_EQ(thread_switch(MACH_PORT_NULL, 3, 0), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(thread_switch(MACH_PORT_NULL, -1, 0), KERN_INVALID_ARGUMENT);
}

enum { kMaxCpus = 16 };
static long cpus;
static uint32_t cpus_seen;
static int cpus_done, cpu_out_of_range;

static void record_cpus(void *arg) {
  (void)arg;
  uint32_t all = (1u << cpus) - 1;
  uint64_t end = test_cycles() + 3000 * TEST_CYCLES_PER_MS;
  while (__atomic_load_n(&cpus_seen, __ATOMIC_RELAXED) != all && test_cycles() < end) {
    long c = mica_cpu_number();
    if (c < 0 || c >= cpus)
      __atomic_store_n(&cpu_out_of_range, 1, __ATOMIC_RELAXED);
    else
      __atomic_fetch_or(&cpus_seen, 1u << c, __ATOMIC_RELAXED);
  }
  __atomic_fetch_add(&cpus_done, 1, __ATOMIC_SEQ_CST);
}

/* As many spinning threads as CPUs: every CPU must run one of them at some point. */
TEST(all_cpus_run) {
  cpus = mica_cpu_count();
  ASSERT_GE(cpus, 1);
  ASSERT(cpus <= kMaxCpus);
  for (long i = 0; i < cpus; i++)
    ASSERT(test_thread(record_cpus, NULL) > 0);
  EXPECT(WAIT_UNTIL(__atomic_load_n(&cpus_done, __ATOMIC_SEQ_CST) == cpus, 10000));
  EXPECT_EQ(cpus_seen, (1u << cpus) - 1);
  EXPECT_EQ(cpu_out_of_range, 0);
}

enum { kManyThreads = 32 };
static long many_ids[kManyThreads], many_self_ids[kManyThreads];
static int many_ran;

static void many_body(void *arg) {
  long i = (long)arg;
  many_self_ids[i] = mica_thread_id();
  __atomic_fetch_add(&many_ran, 1, __ATOMIC_SEQ_CST);
}

/* 32 threads that each run once and exit; their ids are distinct and each sees its own. */
TEST(many_threads) {
  for (long i = 0; i < kManyThreads; i++)
    many_ids[i] = test_thread(many_body, (void *)i);
  EXPECT(WAIT_UNTIL(__atomic_load_n(&many_ran, __ATOMIC_SEQ_CST) == kManyThreads, 10000));
  for (int i = 0; i < kManyThreads; i++) {
    EXPECT(many_ids[i] > 0);
    EXPECT_EQ(many_self_ids[i], many_ids[i]);
    for (int j = 0; j < i; j++)
      EXPECT_NE(many_ids[j], many_ids[i]);
  }
}

int main(int argc, char **argv) {
  boot_argc = argc;
  boot_argv = argv;
  return test_main(argc, argv);
}
