/* The test runner: finds the TEST descriptors in the "mica_tests" section, runs them in
   source order and prints one result line each, then the totals. */
#include <mach/mach_host.h>
#include <mica_thread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/test.h>

/* Bounds of the section, made by the linker for sections named like C identifiers. */
extern const struct test_case __start_mica_tests[];
extern const struct test_case __stop_mica_tests[];

enum { kMaxTests = 256 };

/* The running test's failures. Any thread may add one; the first message is kept. */
static int failures;
static char first_failure[200];

void test_fail(const char *file, int line, const char *fmt, ...) {
  const char *base = strrchr(file, '/');
  file = base ? base + 1 : file;
  if (__atomic_fetch_add(&failures, 1, __ATOMIC_SEQ_CST) != 0)
    return;
  int n = snprintf(first_failure, sizeof first_failure, "%s:%d: ", file, line);
  if (n < 0 || (size_t)n >= sizeof first_failure)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(first_failure + n, sizeof first_failure - (size_t)n, fmt, ap);
  va_end(ap);
}

int test_main(int argc, char **argv) {
  // Sort by line: the order of a section's contents is the compiler's choice.
  static const struct test_case *tests[kMaxTests];
  int count = 0;
  for (const struct test_case *t = __start_mica_tests; t < __stop_mica_tests && count < kMaxTests;
       t++) {
    int i = count++;
    for (; i > 0 && tests[i - 1]->line > t->line; i--)
      tests[i] = tests[i - 1];
    tests[i] = t;
  }

  int passed = 0, failed = 0;
  for (int i = 0; i < count; i++) {
    __atomic_store_n(&failures, 0, __ATOMIC_SEQ_CST);
    first_failure[0] = '\0';
    tests[i]->fn();
    int n = __atomic_load_n(&failures, __ATOMIC_SEQ_CST);
    if (n == 0) {
      passed++;
      printf("ok %s\n", tests[i]->name);
    } else if (n == 1) {
      failed++;
      printf("FAIL %s: %s\n", tests[i]->name, first_failure);
    } else {
      failed++;
      printf("FAIL %s: %s (+%d more)\n", tests[i]->name, first_failure, n - 1);
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  // As a GNU Mach program ends a boot: host_reboot on the host-privileged port, which the
  // boot script passes as argv[1]. If it returns (no such right), the task ends as usual.
  if (argc > 1) {
    stdout_flush();
    host_reboot((mach_port_t)strtoul(argv[1], NULL, 10), 0);
  }
  return failed;
}

/* --- Threads for tests. --- */

enum { kStackSize = 8192, kStacks = 64 };
static char stacks[kStacks][kStackSize] __attribute__((aligned(16)));
static int stacks_used;

long test_thread(void (*fn)(void *), void *arg) {
  int i = __atomic_fetch_add(&stacks_used, 1, __ATOMIC_SEQ_CST);
  if (i >= kStacks) {
    test_fail(__FILE__, __LINE__, "test_thread: all %d stacks used", kStacks);
    return 0;
  }
  long id = mica_thread_start(fn, arg, stacks[i], kStackSize);
  if (id <= 0)
    test_fail(__FILE__, __LINE__, "mica_thread_fork failed: %ld", id);
  return id;
}
