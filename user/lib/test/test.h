/* A tiny test framework for system test tasks.

     TEST(name) { EXPECT(x == 1); ASSERT_EQ(f(), 2); ... }
     int main(int argc, char **argv) { return test_main(argc, argv); }

   TEST places a descriptor in the linker section "mica_tests"; test_main() runs every test
   in source order and prints, one line each, "ok NAME" or "FAIL NAME: file:line: expression"
   (the first failure; "(+N more)" counts the others), then "N passed, M failed".
   EXPECT* record a failure and go on; ASSERT* also return from the function that uses them,
   so use ASSERT* only in a TEST body or a void helper. Threads of a test may use EXPECT*:
   failures count against the test that is running. */
#ifndef MICA_USER_TEST_H
#define MICA_USER_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mach/mach_traps.h>

#ifdef __cplusplus
extern "C" {
#endif

struct test_case {
  const char *name;
  void (*fn)(void);
  int line;  // tests run in order of line
};

#define TEST(name)                                                                          \
  static void test_fn_##name(void);                                                         \
  static const struct test_case test_case_##name                                            \
      __attribute__((used, section("mica_tests"), aligned(8))) = {#name, test_fn_##name,    \
                                                                  __LINE__};                \
  static void test_fn_##name(void)

#define EXPECT(cond) ((cond) ? (void)0 : test_fail(__FILE__, __LINE__, "%s", #cond))
#define ASSERT(cond)                                                                        \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      test_fail(__FILE__, __LINE__, "%s", #cond);                                           \
      return;                                                                               \
    }                                                                                       \
  } while (0)

/* Compare as long long and print both values on failure. */
#define TEST_CHECK_OP_(a, op, b, on_fail)                                                   \
  do {                                                                                      \
    long long test_a_ = (long long)(a), test_b_ = (long long)(b);                           \
    if (!(test_a_ op test_b_)) {                                                            \
      test_fail(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)", #a, #op, #b, test_a_,        \
                test_b_);                                                                   \
      on_fail;                                                                              \
    }                                                                                       \
  } while (0)
#define EXPECT_EQ(a, b) TEST_CHECK_OP_(a, ==, b, (void)0)
#define EXPECT_NE(a, b) TEST_CHECK_OP_(a, !=, b, (void)0)
#define EXPECT_GE(a, b) TEST_CHECK_OP_(a, >=, b, (void)0)
#define ASSERT_EQ(a, b) TEST_CHECK_OP_(a, ==, b, return)
#define ASSERT_NE(a, b) TEST_CHECK_OP_(a, !=, b, return)
#define ASSERT_GE(a, b) TEST_CHECK_OP_(a, >=, b, return)

/* Records a failure of the running test; fmt describes what failed. */
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs every TEST and prints the results. Returns the number of failed tests. */
int test_main(int argc, char **argv);

/* The time stamp counter, for bounded waits. */
static inline uint64_t test_cycles(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

/* TSC ticks per millisecond, taken high (4 GHz) so that a wait lasts at least as long as
   asked on any machine of today. */
#define TEST_CYCLES_PER_MS 4000000ull

/* Yields (swtch) until cond holds or ms milliseconds have passed; evaluates to cond. */
#define WAIT_UNTIL(cond, ms)                                                                \
  __extension__({                                                                           \
    uint64_t test_end_ = test_cycles() + (uint64_t)(ms)*TEST_CYCLES_PER_MS;                 \
    bool test_ok_;                                                                          \
    while (!(test_ok_ = (cond)) && test_cycles() < test_end_)                               \
      swtch();                                                                              \
    test_ok_;                                                                               \
  })

/* Starts fn(arg) in a new thread of this task on a fresh stack from a static pool (stacks
   are never reused, so a thread a failed test left running harms no later test).
   Returns the thread id (> 0); on failure records it and returns <= 0. */
long test_thread(void (*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif
