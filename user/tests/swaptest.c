/* Paging to the default pager (issue 6): booted with 64 MiB of memory after the default_pager
   module, whose swap area is a virtio disk. Four child tasks each write 64 MiB (256 MiB in
   all), then read it all back and check every page; the pageout daemon must send anonymous
   memory to the default pager and bring it back intact. Mica only (GNU Mach's boot script
   cannot start our default pager).

   Children are made as a fork would make them (task_create with inherited memory, a thread on
   a stack the parent allocated) and report through a VM_INHERIT_SHARE page. */
#include <mach.h>
#include <mach/vm_statistics.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>

enum { kChildren = 4, kChildStack = 64 * 1024 };
#define PAGE ((vm_size_t)4096)
#define MiB ((vm_size_t)1 << 20)
#define kPerChild (64 * MiB)

struct report {
  volatile int written, checked, bad;
  volatile kern_return_t kr;
  volatile unsigned long first_bad;
};

static struct report *reports; /* kChildren of them, in a shared page */
static mach_port_t host_priv;

static uint64_t word_for(long child, vm_size_t off) {
  return 0x5a00000000000000ull | ((uint64_t)child << 40) | (uint64_t)off;
}

static void child_main(long child) {
  child_init();
  struct report *r = &reports[child];
  vm_address_t a = 0;
  r->kr = vm_allocate(mach_task_self(), &a, kPerChild, TRUE);
  if (r->kr != KERN_SUCCESS) child_idle();
  for (vm_size_t off = 0; off < kPerChild; off += PAGE) {
    uint64_t *p = (uint64_t *)(a + off);
    p[0] = word_for(child, off);
    p[PAGE / 8 - 1] = ~word_for(child, off);
  }
  r->written = 1;
  /* Wait until every child has written: the others' memory pushes ours out. */
  for (int i = 0; i < kChildren; i++)
    while (!reports[i].written) msleep(20);
  int bad = 0;
  for (vm_size_t off = 0; off < kPerChild; off += PAGE) {
    uint64_t *p = (uint64_t *)(a + off);
    if (p[0] != word_for(child, off) || p[PAGE / 8 - 1] != ~word_for(child, off)) {
      if (!bad) r->first_bad = off;
      bad++;
    }
  }
  r->bad = bad;
  r->checked = 1;
  child_idle();
}

static int wait_all(volatile int *(*field)(int), int seconds) {
  for (int t = 0; t < seconds * 10; t++) {
    int n = 0;
    for (int i = 0; i < kChildren; i++) n += *field(i) != 0;
    if (n == kChildren) return n;
    msleep(100);
  }
  int n = 0;
  for (int i = 0; i < kChildren; i++) n += *field(i) != 0;
  return n;
}
static volatile int *written_of(int i) { return &reports[i].written; }
static volatile int *checked_of(int i) { return &reports[i].checked; }

TEST(default_pager_registered) {
  mach_port_t m = MACH_PORT_NULL;
  for (int i = 0; i < 100 && m == MACH_PORT_NULL; i++) {
    EXPECT_EQ(vm_set_default_memory_manager(host_priv, &m), KERN_SUCCESS);
    if (m == MACH_PORT_NULL) msleep(50);
  }
  EXPECT(m != MACH_PORT_NULL);
}

TEST(touch_256_MiB_in_64_MiB_and_read_it_back) {
  vm_statistics_data_t before, after;
  KR_OK(vm_statistics(mach_task_self(), &before));
  vm_address_t shared = alloc(PAGE);
  ASSERT(shared != 0);
  KR_OK(vm_inherit(mach_task_self(), shared, PAGE, VM_INHERIT_SHARE));
  reports = (struct report *)shared;
  memset(reports, 0, PAGE);
  task_t children[kChildren];
  for (long i = 0; i < kChildren; i++) {
    vm_address_t stack = alloc(kChildStack);
    ASSERT(stack != 0);
    KR_OK(task_create(mach_task_self(), TRUE, &children[i]));
    ASSERT(start_thread_in(children[i], child_main, i, stack, kChildStack) != MACH_PORT_NULL);
  }
  EXPECT_EQ(wait_all(written_of, 600), kChildren);
  EXPECT_EQ(wait_all(checked_of, 600), kChildren);
  for (int i = 0; i < kChildren; i++) {
    EXPECT_EQ(reports[i].kr, KERN_SUCCESS);
    EXPECT_EQ(reports[i].bad, 0);
    if (reports[i].bad) printf("# child %d: %d bad pages, first at 0x%lx\n", i, reports[i].bad,
                               reports[i].first_bad);
  }
  KR_OK(vm_statistics(mach_task_self(), &after));
  printf("# pageouts %ld pageins %ld free pages %ld\n", (long)(after.pageouts - before.pageouts),
         (long)(after.pageins - before.pageins), (long)after.free_count);
  /* 256 MiB cannot fit in 64 MiB: most of it went out and came back. */
  EXPECT(after.pageouts - before.pageouts > 32768);
  EXPECT(after.pageins - before.pageins > 1000); /* requests, of up to 16 pages each */
  for (int i = 0; i < kChildren; i++) KR_OK(task_terminate(children[i]));
}

int main(int argc, char **argv) {
  if (argc > 1) host_priv = (mach_port_t)strtoul(argv[1], NULL, 10);
  return test_main(argc, argv);
}
