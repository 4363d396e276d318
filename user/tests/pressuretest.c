/* Memory pressure with an external pager: booted with 64 MiB, the test reads a 96 MiB memory
   object, so the pageout daemon must drop clean pages (the pager has them), which are asked
   for again when read again. The data manager is pagertest's (its machinery is compiled here
   without its tests).

   Booted on 1 and 2 CPUs (system.pressure{1,2}). On 2 CPUs it used to hang about one time in
   three: a fault waiting for memory and the pageout daemon each woke the other on the way to
   block, and the two CPUs spun for each other's thread (docs/design.md, "Threads and
   scheduling"). */
#define PAGERTEST_MACHINERY_ONLY
#include "pagertest.c"

/* Mica boots this test with 64 MiB: reading a 96 MiB object makes the pageout daemon drop
   clean pages (the pager has them), which are asked for again when read again. */
TEST(clean_pages_dropped_under_memory_pressure) {
  enum { kBig = 96 << 20 };
  mach_port_t mo = new_object(kCompute);
  vm_address_t a = map_object(mo, kBig);
  ASSERT(a != 0);
  int bad = 0;
  for (vm_size_t off = 0; off < kBig; off += kPage)
    bad += *(volatile uint32_t *)(a + off) != pattern(off);
  EXPECT_EQ(bad, 0);
  int before = pager.requests;
  for (vm_size_t off = 0; off < 16 * kPage; off += kPage)
    bad += *(volatile uint32_t *)(a + off) != pattern(off);
  EXPECT_EQ(bad, 0);
  EXPECT(pager.requests > before); /* the first pages had been dropped */
  EXPECT_EQ(pager.returns, 0);     /* clean: nothing sent back */
  KR_OK(vm_deallocate(mach_task_self(), a, kBig));
  EXPECT_EQ(wait_for(&pager.terminates, 1, 2000), 1);
  destroy(mo);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
