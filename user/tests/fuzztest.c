/* Fuzz of the kernel boundary from a hostile task (Mica only: it reads the kernel's object
   counts through Mica's host_info flavour MICA_HOST_KERNEL_COUNTERS, include/mica/host_info.h,
   as leaktest does). STYLE.md point 11: random hostile mach_msg calls in QEMU.

   With a fixed-seed PRNG (the seed is printed; argv word seed=N overrides it) the task makes
   thousands of random calls:
     - fuzz_mach_msg: mach_msg with random options, sizes (0, huge, unaligned), header bits,
       dispositions, names (ports of a small pool, dead names, random numbers), bodies of
       random type descriptors (ports, inline and out-of-line data and port arrays, longform,
       deallocate bits) and buffers that are valid, unaligned, half-mapped, read-only, lazy or
       not mapped at all;
     - fuzz_kernel_calls: MIG calls and traps on its task, thread and host ports (and on
       short-lived children) with garbage arguments;
     - fuzz_raw_kernel_messages: raw messages with random msgh_id and bodies sent to the
       task, thread and host ports.
   Any return code is accepted. What must hold: the kernel does not panic, the task does not
   hang (every send carries MACH_SEND_TIMEOUT, every receive MACH_RCV_TIMEOUT with a small
   timeout), and once every right and region the fuzz made is gone, the kernel's object
   counts are back at their baseline (taken after a warm-up round: the runtime and the kernel
   allocate some things once).

   The fuzz never harms itself: the port names it held at the start (its task, thread, host
   and device ports, the MIG reply port) and the regions it owned (text, data, stack, heap,
   its buffers) are protected: no random call mutates them, and no random name or address
   lands on them. It never terminates, suspends, aborts or sets the state of itself.

   argv words (after the boot script's ports): seed=N, iters=N (iterations of each fuzz
   test), children=1 (child tasks too: see fuzz_children), trace=N (print every call from
   iteration N on, to find a reproducer), sweep=N (sweep every N iterations, 256 by default,
   and say after which iterations the counts first left the baseline: sweep=1 finds the
   one).

   The parts are in user/tests/fuzz/ (fuzz.h says which file holds what); this file is the
   driver: settings, the runs with their sweeps and count checks, and the tests. */
#include <mach.h>
#include <mach/mach_host.h>
#include <mica/host_info.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/mica_counters.h>
#include <test/test.h>

#include "fuzz/fuzz.h"

/* --- Settings (argv) --- */

uint64_t seed = 20250801;
static long iterations = 20000;
long trace_from = -1; /* -1: no trace */
/* children=1: fuzz_kernel_calls also makes child tasks (and threads in them with garbage
   registers) and aims calls at them. Off by default, so that a seed's calls stay what they
   were; CTest passes children=1 (tests/system/CMakeLists.txt). What it found is fixed: a
   killed child whose map outlived its death and task_terminate returning before the task's
   threads had gone (both with leaktest cases), and task_create spinning on a touched region
   of 2^45 bytes, which pmap_protect walked a page at a time (11124aa; docs/status.md). */
bool fuzz_children = false;

/* --- Kernel object counts: counters() and EXPECT_SAME_OBJECTS, <test/mica_counters.h> --- */

static void print_counters(const char *what, struct mica_kernel_counters c) {
  printf(
      "%s: ports %d sets %d kmsgs %d tasks %d threads %d objects %d entries %d maps %d "
      "copies %d free %d\n",
      what, c.ports, c.port_sets, c.kmsgs, c.tasks, c.threads, c.vm_objects, c.vm_map_entries,
      c.vm_maps, c.vm_copies, c.free_pages);
}

/* --- The driver --- */

enum { kFuzzMsg = 1, kFuzzCalls = 2, kFuzzRaw = 3, kWarmUp = 8 };
static long sweep_every = 256; /* argv sweep=N: sweep (and compare counts) every N iterations */
static bool ready;
static struct mica_kernel_counters baseline;

static bool same_objects(const struct mica_kernel_counters *a,
                         const struct mica_kernel_counters *b) {
  return a->ports == b->ports && a->port_sets == b->port_sets && a->kmsgs == b->kmsgs &&
         a->tasks == b->tasks && a->threads == b->threads && a->vm_objects == b->vm_objects &&
         a->vm_map_entries == b->vm_map_entries && a->vm_maps == b->vm_maps &&
         a->vm_copies == b->vm_copies;
}

/* The counts, once they have settled back to `want` (1 s at most). One thing goes after the
   sweep by design: a memory object whose pager is one of our ports (vm_map of a pool port),
   mapped in a child, is ended by the kernel's pager thread a moment after its last mapping
   and its pager's port have gone, with its control and name ports. */
static struct mica_kernel_counters settled_counters(const struct mica_kernel_counters *want) {
  struct mica_kernel_counters c = counters();
  for (int i = 0; i < 100 && !same_objects(&c, want); i++) {
    msleep(10);
    c = counters();
  }
  return c;
}

/* After a sweep: the counts should be the baseline's. The first time they are not in a test,
   say after which iterations (run with sweep=1 to find the one). */
static void check_after_sweep(const char *name, long first, long last,
                              struct mica_kernel_counters *previous, bool *reported) {
  if (!ready || *reported) return;
  struct mica_kernel_counters b = *previous, c = settled_counters(&b);
  if (!same_objects(&c, &b)) {
    printf("%s: counts changed by iterations %ld..%ld\n", name, first, last);
    print_counters("  before", b);
    print_counters("  after", c);
    *reported = true;
  }
  *previous = c;
}

static void run(int test, const char *name, long count, void (*one)(long)) {
  bool reported = false;
  long since = 0;
  struct mica_kernel_counters previous = ready ? counters() : baseline;
  for (long i = 0; i < count; i++) {
    rng_iteration(test, i);
    if (i % 8 == 0) pool_refill();
    if (!MACH_PORT_VALID(sink)) sink = receive_right();
    one(i);
    drop_scratch();
    if (i % sweep_every == sweep_every - 1) {
      end_child();
      sweep();
      check_after_sweep(name, since, i, &previous, &reported);
      since = i + 1;
    }
    if (count >= 1000 && i % (count / 4) == count / 4 - 1) {
      printf("%s: %ld/%ld\n", name, i + 1, count);
      stdout_flush();
    }
  }
  end_child();
  sweep();
}

static void warm_up(long i) {
  switch (i % 3) {
    case 0:
      fuzz_one_msg(i);
      break;
    case 1:
      fuzz_one_call(i);
      break;
    default:
      fuzz_one_raw(i);
      break;
  }
}

/* The protected state, then a short round of every part, then the baseline. */
TEST(warm_up) {
  self_task = mach_task_self();
  self_thread = mach_thread_self();
  self_host = mach_host_self();
  (void)counters();
  msleep(1); /* its port, kept from the first call on, is a protected one */
  printf("fuzz seed=%llu iters=%ld children=%d\n", (unsigned long long)seed, iterations,
         fuzz_children ? 1 : 0);
  stdout_flush();
  make_arena();
  if (!arena) return;
  mach_port_name_array_t names = NULL;
  mach_port_type_array_t types = NULL;
  mach_msg_type_number_t nn = 0, nt = 0;
  KR_OK(mach_port_names(self_task, &names, &nn, &types, &nt));
  for (mach_msg_type_number_t i = 0; i < nn && n_protected_names < kMaxProtectedNames; i++)
    protected_names[n_protected_names++] = names[i];
  KR_OK(vm_deallocate(self_task, (vm_address_t)names, nn * sizeof *names));
  KR_OK(vm_deallocate(self_task, (vm_address_t)types, nt * sizeof *types));
  n_protected_ranges = map_regions(protected_ranges, kMaxProtectedRanges);
  ASSERT(n_protected_ranges > 0 && n_protected_ranges < kMaxProtectedRanges);
  EXPECT(name_protected(self_task) && name_protected(self_thread) && name_protected(self_host));
  run(kWarmUp, "warm_up", 600, warm_up);
  baseline = counters();
  print_counters("baseline", baseline);
  ready = true;
}

static void fuzz_test(int test, const char *name, void (*one)(long)) {
  if (!ready) {
    test_fail(__FILE__, __LINE__, "no warm-up");
    return;
  }
  run(test, name, iterations, one);
  struct mica_kernel_counters after = settled_counters(&baseline);
  print_counters(name, after);
  EXPECT_SAME_OBJECTS(baseline, after);
}

TEST(fuzz_mach_msg) { fuzz_test(kFuzzMsg, "fuzz_mach_msg", fuzz_one_msg); }

TEST(fuzz_kernel_calls) { fuzz_test(kFuzzCalls, "fuzz_kernel_calls", fuzz_one_call); }

TEST(fuzz_raw_kernel_messages) { fuzz_test(kFuzzRaw, "fuzz_raw_kernel_messages", fuzz_one_raw); }

/* Everything the fuzz made is gone (the sweeps destroyed it): the counts are the baseline's,
   and the kernel still answers a well-formed call. */
TEST(counts_back_at_baseline) {
  ASSERT(ready);
  end_child();
  sweep();
  struct mica_kernel_counters after = settled_counters(&baseline);
  EXPECT_SAME_OBJECTS(baseline, after);
  mach_port_t p = receive_and_send();
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_SEND_RECEIVE);
  destroy(p);
  vm_deallocate(self_task, (vm_address_t)arena, kArenaPages * vm_page_size);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "seed=", 5) == 0)
      seed = strtoul(argv[i] + 5, NULL, 0);
    else if (strncmp(argv[i], "iters=", 6) == 0)
      iterations = strtol(argv[i] + 6, NULL, 0);
    else if (strncmp(argv[i], "trace=", 6) == 0)
      trace_from = strtol(argv[i] + 6, NULL, 0);
    else if (strncmp(argv[i], "sweep=", 6) == 0)
      sweep_every = strtol(argv[i] + 6, NULL, 0);
    else if (strncmp(argv[i], "children=", 9) == 0)
      fuzz_children = strtol(argv[i] + 9, NULL, 0) != 0;
  }
  return test_main(argc, argv);
}
