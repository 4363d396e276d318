/* Kernel object counts through Mica's host_info flavour (include/mica/host_info.h), for the
   Mica-only tests that check nothing is left behind (leaktest, fuzztest). */
#ifndef MICA_TEST_COUNTERS_H
#define MICA_TEST_COUNTERS_H

#include <mach.h>
#include <mach/mach_host.h>
#include <mica/host_info.h>
#include <string.h>
#include <test/test.h>

static inline struct mica_kernel_counters counters(void) {
  struct mica_kernel_counters c;
  memset(&c, 0, sizeof c);
  mach_msg_type_number_t n = MICA_HOST_KERNEL_COUNTERS_COUNT;
  kern_return_t kr = host_info(mach_host_self(), MICA_HOST_KERNEL_COUNTERS, (host_info_t)&c, &n);
  if (kr != KERN_SUCCESS) test_fail(__FILE__, __LINE__, "host_info: 0x%x", kr);
  return c;
}

/* Every object count equal (free pages may differ: zones keep pages they used). */
#define EXPECT_SAME_OBJECTS(a, b)                      \
  do {                                                 \
    EXPECT_EQ((a).ports, (b).ports);                   \
    EXPECT_EQ((a).port_sets, (b).port_sets);           \
    EXPECT_EQ((a).kmsgs, (b).kmsgs);                   \
    EXPECT_EQ((a).tasks, (b).tasks);                   \
    EXPECT_EQ((a).threads, (b).threads);               \
    EXPECT_EQ((a).vm_objects, (b).vm_objects);         \
    EXPECT_EQ((a).vm_map_entries, (b).vm_map_entries); \
    EXPECT_EQ((a).vm_maps, (b).vm_maps);               \
    EXPECT_EQ((a).vm_copies, (b).vm_copies);           \
  } while (0)

#endif
