/* Conformance tests of the VM calls of mach.defs (and vm_wire of mach_host.defs), written as
   any GNU Mach program would be: only <mach/...> headers, the MIG stubs and mach_msg. No Mica
   trap. Every expectation here was checked on the real GNU Mach x86_64 (trixie's
   1.8+git20250702, tools/gnumach-boot.sh); comments marked "GNU Mach:" record behaviour that
   is easy to get wrong.

   Child tasks are made as a fork would make them: task_create(inherit_memory = TRUE), then
   thread_create in the child, its registers set with thread_set_state (i386_REGS_SEGS_STATE)
   and thread_resume. The child's thread runs code of the inherited text, on a stack in a
   region the parent allocated (VM_INHERIT_COPY) before task_create, and reports through a
   VM_INHERIT_SHARE page. */
#include <mach.h>
#include <mach/host_info.h>
#include <mach/task_info.h>
#include <mach/thread_status.h>
#include <mach/vm_inherit.h>
#include <mach/vm_prot.h>
#include <mach/vm_statistics.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/test.h>

/* --- Helpers --- */

#define PAGE ((vm_size_t)4096)
#define MiB ((vm_size_t)1 << 20)

/* The host-privileged port: argv[1] of the boot script. */
static mach_port_t host_priv;

static void release(vm_address_t a, vm_size_t size) {
  vm_deallocate(mach_task_self(), a, size);
}

/* A free range of size bytes with a free page on each side (so that what we allocate there
   does not merge with a neighbour): allocated anywhere, then deallocated. */
static vm_address_t free_range(vm_size_t size) {
  vm_address_t a = alloc(size + 2 * PAGE);
  if (a != 0)
    release(a, size + 2 * PAGE);
  return a == 0 ? 0 : a + PAGE;
}

/* What vm_region answers for addr: the region holding addr, or the next one above it. */
typedef struct {
  kern_return_t kr;
  vm_address_t addr;
  vm_size_t size;
  vm_prot_t prot, max;
  vm_inherit_t inherit;
  boolean_t shared;
  mach_port_t object;
  vm_offset_t offset;
} region_t;

static region_t region(task_t task, vm_address_t addr) {
  region_t r;
  memset(&r, 0, sizeof r);
  r.addr = addr;
  r.kr = vm_region(task, &r.addr, &r.size, &r.prot, &r.max, &r.inherit, &r.shared, &r.object,
                   &r.offset);
  if (r.kr == KERN_SUCCESS && MACH_PORT_VALID(r.object))
    mach_port_deallocate(mach_task_self(), r.object);
  return r;
}

/* Whether addr is mapped in task. */
static bool mapped(task_t task, vm_address_t addr) {
  region_t r = region(task, addr);
  return r.kr == KERN_SUCCESS && r.addr <= addr && addr - r.addr < r.size;
}

/* Fills every word of [a, a + size) with a pattern of seed; check_fill says whether it is
   still there. */
static unsigned long fill_word(unsigned long seed, vm_size_t i) {
  return seed * 0x9e3779b97f4a7c15ul + i;
}

static void fill(vm_address_t a, vm_size_t size, unsigned long seed) {
  unsigned long *w = (unsigned long *)a;
  for (vm_size_t i = 0; i < size / sizeof *w; i++)
    w[i] = fill_word(seed, i);
}

static bool check_fill(vm_address_t a, vm_size_t size, unsigned long seed) {
  const unsigned long *w = (const unsigned long *)a;
  for (vm_size_t i = 0; i < size / sizeof *w; i++)
    if (w[i] != fill_word(seed, i))
      return false;
  return true;
}

static bool all_zero(vm_address_t a, vm_size_t size) {
  const unsigned long *w = (const unsigned long *)a;
  for (vm_size_t i = 0; i < size / sizeof *w; i++)
    if (w[i] != 0)
      return false;
  return true;
}

/* Big regions: one stamp at each end of every page. */
static void stamp(vm_address_t a, vm_size_t size, unsigned long seed) {
  for (vm_size_t off = 0; off < size; off += PAGE) {
    *(unsigned long *)(a + off) = seed << 32 | off / PAGE;
    *(unsigned long *)(a + off + PAGE - 8) = ~(seed << 32 | off / PAGE);
  }
}

static bool check_stamp(vm_address_t a, vm_size_t size, unsigned long seed) {
  for (vm_size_t off = 0; off < size; off += PAGE) {
    if (*(unsigned long *)(a + off) != (seed << 32 | off / PAGE) ||
        *(unsigned long *)(a + off + PAGE - 8) != ~(seed << 32 | off / PAGE))
      return false;
  }
  return true;
}

static vm_statistics_data_t vm_stats(void) {
  vm_statistics_data_t s;
  memset(&s, 0, sizeof s);
  kern_return_t kr = vm_statistics(mach_task_self(), &s);
  if (kr != KERN_SUCCESS)
    test_fail(__FILE__, __LINE__, "vm_statistics: 0x%x", kr);
  return s;
}

/* --- Child tasks --- */

/* Set up by the parent in a VM_INHERIT_SHARE page; the child's thread gets its address. */
struct child_report {
  volatile int started, done;
  vm_address_t copy_pages;    // kCopyPages pages, VM_INHERIT_COPY
  vm_address_t none_page;     // VM_INHERIT_NONE
  vm_address_t gone;          // deallocated before task_create
  unsigned long parent_mark;  // written by the parent after task_create
  unsigned long saw_copy[4];  // first word of each copy page, as the child found it
  unsigned long saw_own[4];   // the same after the child wrote them
  unsigned long saw_parent_mark;
  unsigned long child_mark;   // written by the child
  kern_return_t none_kr;      // the child's vm_region at none_page
  vm_address_t none_addr;
};
enum { kCopyPages = 4, kChildStack = 64 * 1024 };

static void child_inherit(long arg) {
  struct child_report *r = (struct child_report *)arg;
  child_init();
  r->started = 1;
  for (int i = 0; i < kCopyPages; i++) {
    unsigned long *w = (unsigned long *)(r->copy_pages + i * PAGE);
    r->saw_copy[i] = *w;
    *w = 0xc0000000ul + i;
    r->saw_own[i] = *w;
  }
  r->saw_parent_mark = r->parent_mark;
  r->child_mark = 0xc4117d;
  region_t n = region(mach_task_self(), r->none_page);
  r->none_kr = n.kr;
  r->none_addr = n.addr;
  __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
  child_idle();
}

static void child_touch_gone(long arg) {
  struct child_report *r = (struct child_report *)arg;
  r->started = 1;
  *(volatile unsigned long *)r->gone = 1;  // faults: no exception port, the task dies
  __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
  child_idle();
}

/* --- vm_allocate --- */

TEST(allocate_anywhere) {
  const vm_size_t size = 3 * PAGE;
  vm_address_t a = alloc(size), b = alloc(size);
  ASSERT(a != 0 && b != 0);
  EXPECT_EQ(a % PAGE, 0);
  EXPECT_EQ(b % PAGE, 0);
  EXPECT(a + size <= b || b + size <= a);
  EXPECT(all_zero(a, size));
  EXPECT(all_zero(b, size));
  fill(a, size, 1);
  fill(b, size, 2);
  EXPECT(check_fill(a, size, 1));
  EXPECT(check_fill(b, size, 2));
  region_t r = region(mach_task_self(), a);
  KR_OK(r.kr);
  // GNU Mach may extend a neighbouring region rather than add one: the region holds a.
  EXPECT(r.addr <= a && a + size <= r.addr + r.size);
  EXPECT_EQ(r.prot, VM_PROT_READ | VM_PROT_WRITE);
  EXPECT_EQ(r.max, VM_PROT_ALL);
  EXPECT_EQ(r.inherit, VM_INHERIT_COPY);
  EXPECT(!r.shared);
  release(a, size);
  release(b, size);
}

TEST(allocate_rounds_size) {
  vm_address_t a = alloc(1);
  ASSERT(a != 0);
  // One byte asked, one page given: the whole page is there and writable.
  *(volatile char *)(a + PAGE - 1) = 7;
  EXPECT(mapped(mach_task_self(), a + PAGE - 1));
  release(a, 1);
  EXPECT(!mapped(mach_task_self(), a));
}

TEST(allocate_size_zero) {
  vm_address_t a = 0x1234000;
  // GNU Mach: size 0 succeeds and answers address 0.
  KR_OK(vm_allocate(mach_task_self(), &a, 0, TRUE));
  EXPECT_EQ(a, 0);
}

TEST(allocate_fixed) {
  vm_address_t base = free_range(8 * PAGE);
  ASSERT(base != 0);
  vm_address_t a = base + 2 * PAGE;
  KR_OK(vm_allocate(mach_task_self(), &a, 2 * PAGE, FALSE));
  EXPECT_EQ(a, base + 2 * PAGE);
  EXPECT(all_zero(a, 2 * PAGE));
  fill(a, 2 * PAGE, 3);
  region_t r = region(mach_task_self(), base);
  KR_OK(r.kr);
  EXPECT_EQ(r.addr, base + 2 * PAGE);
  EXPECT_EQ(r.size, 2 * PAGE);
  // Over an existing region, at its start or overlapping it: KERN_NO_SPACE, nothing changed.
  vm_address_t over = base + 2 * PAGE;
  EXPECT_EQ(vm_allocate(mach_task_self(), &over, PAGE, FALSE), KERN_NO_SPACE);
  over = base + PAGE;
  EXPECT_EQ(vm_allocate(mach_task_self(), &over, 2 * PAGE, FALSE), KERN_NO_SPACE);
  over = base + 3 * PAGE;
  EXPECT_EQ(vm_allocate(mach_task_self(), &over, 2 * PAGE, FALSE), KERN_NO_SPACE);
  EXPECT(check_fill(a, 2 * PAGE, 3));
  EXPECT(!mapped(mach_task_self(), base + PAGE));
  EXPECT(!mapped(mach_task_self(), base + 4 * PAGE));
  release(a, 2 * PAGE);
}

TEST(allocate_fixed_unaligned) {
  vm_address_t base = free_range(4 * PAGE);
  ASSERT(base != 0);
  // GNU Mach: a fixed address is truncated to its page, not refused.
  vm_address_t a = base + PAGE + 123;
  KR_OK(vm_allocate(mach_task_self(), &a, 100, FALSE));
  EXPECT_EQ(a, base + PAGE);
  region_t r = region(mach_task_self(), base);
  EXPECT_EQ(r.addr, base + PAGE);
  EXPECT_EQ(r.size, PAGE);
  release(base + PAGE, PAGE);
}

TEST(allocate_fixed_out_of_range) {
  // Outside the user space (it ends at 0x800000000000), or wrapping around: fixed, that is
  // KERN_INVALID_ADDRESS; anywhere, a size that fits nowhere is KERN_NO_SPACE (and GNU Mach
  // prints "no more room in ..." on the console).
  vm_address_t a = 0xffff900000000000ul;
  EXPECT_EQ(vm_allocate(mach_task_self(), &a, PAGE, FALSE), KERN_INVALID_ADDRESS);
  a = 0x0000800000000000ul;
  EXPECT_EQ(vm_allocate(mach_task_self(), &a, PAGE, FALSE), KERN_INVALID_ADDRESS);
  a = 0xfffffffffffff000ul;
  EXPECT_EQ(vm_allocate(mach_task_self(), &a, 2 * PAGE, FALSE), KERN_INVALID_ADDRESS);
  a = 0;
  EXPECT_EQ(vm_allocate(mach_task_self(), &a, (vm_size_t)1 << 48, TRUE), KERN_NO_SPACE);
  a = 0;
  EXPECT_EQ(vm_allocate(mach_task_self(), &a, (vm_size_t)-PAGE, TRUE), KERN_NO_SPACE);
  // GNU Mach: a size that rounds up to 0 (it wraps) is KERN_INVALID_ARGUMENT, unlike size 0.
  a = 0;
  EXPECT_EQ(vm_allocate(mach_task_self(), &a, (vm_size_t)-1, TRUE), KERN_INVALID_ARGUMENT);
}

TEST(allocate_fixed_page_zero) {
  // GNU Mach: the user space starts at 0, so page 0 can be allocated at a fixed address.
  EXPECT(!mapped(mach_task_self(), 0));
  vm_address_t a = 0;
  KR_OK(vm_allocate(mach_task_self(), &a, PAGE, FALSE));
  EXPECT_EQ(a, 0);
  EXPECT(mapped(mach_task_self(), 0));
  KR_OK(vm_deallocate(mach_task_self(), 0, PAGE));
  EXPECT(!mapped(mach_task_self(), 0));
}

/* --- vm_deallocate --- */

TEST(deallocate_middle) {
  vm_address_t base = free_range(4 * PAGE);
  ASSERT(base != 0);
  vm_address_t a = base;
  KR_OK(vm_allocate(mach_task_self(), &a, 4 * PAGE, FALSE));
  fill(a, 4 * PAGE, 4);
  KR_OK(vm_deallocate(mach_task_self(), a + PAGE, 2 * PAGE));
  // The hole is gone from the map: vm_region skips it, vm_read refuses it.
  region_t r = region(mach_task_self(), a + PAGE);
  KR_OK(r.kr);
  EXPECT_EQ(r.addr, a + 3 * PAGE);
  EXPECT_EQ(r.size, PAGE);
  EXPECT(!mapped(mach_task_self(), a + 2 * PAGE));
  vm_offset_t data = 0;
  mach_msg_type_number_t count = 0;
  EXPECT_EQ(vm_read(mach_task_self(), a + PAGE, PAGE, &data, &count), KERN_INVALID_ADDRESS);
  // The pages on either side keep their contents.
  EXPECT(check_fill(a, PAGE, 4));
  EXPECT_EQ(*(unsigned long *)(a + 3 * PAGE), fill_word(4, 3 * PAGE / 8));
  release(a, 4 * PAGE);
  EXPECT(!mapped(mach_task_self(), a));
  EXPECT(!mapped(mach_task_self(), a + 3 * PAGE));
}

TEST(deallocate_unmapped_and_unaligned) {
  vm_address_t base = free_range(4 * PAGE);
  ASSERT(base != 0);
  // GNU Mach: deallocating nothing, or size 0, is not an error.
  KR_OK(vm_deallocate(mach_task_self(), base, 4 * PAGE));
  KR_OK(vm_deallocate(mach_task_self(), base, 0));
  // An unaligned range takes every page it touches.
  vm_address_t a = base;
  KR_OK(vm_allocate(mach_task_self(), &a, 3 * PAGE, FALSE));
  KR_OK(vm_deallocate(mach_task_self(), a + PAGE + 100, 10));
  EXPECT(mapped(mach_task_self(), a));
  EXPECT(!mapped(mach_task_self(), a + PAGE));
  EXPECT(mapped(mach_task_self(), a + 2 * PAGE));
  KR_OK(vm_deallocate(mach_task_self(), a + PAGE - 1, 2));  // straddles pages 0 and 1
  EXPECT(!mapped(mach_task_self(), a));
  EXPECT(mapped(mach_task_self(), a + 2 * PAGE));
  // GNU Mach: ranges outside the user space, or wrapping around, are not errors either; they
  // remove nothing.
  KR_OK(vm_deallocate(mach_task_self(), 0xffff900000000000ul, PAGE));
  KR_OK(vm_deallocate(mach_task_self(), 0xfffffffffffff000ul, 2 * PAGE));
  EXPECT(mapped(mach_task_self(), a + 2 * PAGE));
  release(a, 3 * PAGE);
}

TEST(deallocate_then_touch_faults_in_child) {
  // A fault without an exception port ends the task, so the touch is made by a child.
  vm_address_t shared = alloc(PAGE), stack = alloc(kChildStack), gone = alloc(PAGE);
  ASSERT(shared != 0 && stack != 0 && gone != 0);
  KR_OK(vm_inherit(mach_task_self(), shared, PAGE, VM_INHERIT_SHARE));
  *(volatile unsigned long *)gone = 5;
  KR_OK(vm_deallocate(mach_task_self(), gone, PAGE));
  struct child_report *r = (struct child_report *)shared;
  r->gone = gone;
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), TRUE, &child));
  EXPECT(!mapped(child, gone));
  thread_t t = start_thread_in(child, child_touch_gone, (long)shared, stack, kChildStack);
  ASSERT_NE(t, MACH_PORT_NULL);
  EXPECT(WAIT_UNTIL(r->started, 5000));
  struct task_basic_info info;
  mach_msg_type_number_t count;
  kern_return_t kr = KERN_SUCCESS;
  for (int i = 0; i < 500 && kr == KERN_SUCCESS; i++) {
    count = TASK_BASIC_INFO_COUNT;
    kr = task_info(child, TASK_BASIC_INFO, (task_info_t)&info, &count);
    if (kr == KERN_SUCCESS)
      msleep(10);
  }
  // GNU Mach: the task is terminated; its port dies, so our send right is a dead name.
  EXPECT_EQ(kr, MACH_SEND_INVALID_DEST);
  EXPECT_EQ(r->done, 0);
  mach_port_deallocate(mach_task_self(), t);
  mach_port_deallocate(mach_task_self(), child);
  release(shared, PAGE);
  release(stack, kChildStack);
}

/* --- vm_protect --- */

TEST(protect_read_only) {
  vm_address_t a = free_range(2 * PAGE);
  ASSERT(a != 0);
  KR_OK(vm_allocate(mach_task_self(), &a, 2 * PAGE, FALSE));
  fill(a, 2 * PAGE, 6);
  KR_OK(vm_protect(mach_task_self(), a, PAGE, FALSE, VM_PROT_READ));
  region_t r = region(mach_task_self(), a);
  KR_OK(r.kr);
  EXPECT_EQ(r.addr, a);
  EXPECT_EQ(r.size, PAGE);  // the region was split
  EXPECT_EQ(r.prot, VM_PROT_READ);
  EXPECT_EQ(r.max, VM_PROT_ALL);
  r = region(mach_task_self(), a + PAGE);
  EXPECT_EQ(r.addr, a + PAGE);
  EXPECT_EQ(r.prot, VM_PROT_READ | VM_PROT_WRITE);
  // Still readable, by us and by vm_read.
  EXPECT(check_fill(a, PAGE, 6));
  vm_offset_t data = 0;
  mach_msg_type_number_t count = 0;
  KR_OK(vm_read(mach_task_self(), a, PAGE, &data, &count));
  EXPECT(check_fill(data, PAGE, 6));
  // GNU Mach: vm_write honours the protection too.
  EXPECT_EQ(vm_write(mach_task_self(), a, data, PAGE), KERN_PROTECTION_FAILURE);
  release(data, count);
  // Below the maximum, protection goes up again.
  KR_OK(vm_protect(mach_task_self(), a, PAGE, FALSE, VM_PROT_READ | VM_PROT_WRITE));
  EXPECT_EQ(region(mach_task_self(), a).prot, VM_PROT_READ | VM_PROT_WRITE);
  *(volatile unsigned long *)a = 1;
  release(a, 2 * PAGE);
}

TEST(protect_set_max) {
  vm_address_t a = alloc(PAGE);
  ASSERT(a != 0);
  // Lowering the maximum lowers the current protection with it.
  KR_OK(vm_protect(mach_task_self(), a, PAGE, TRUE, VM_PROT_READ));
  region_t r = region(mach_task_self(), a);
  EXPECT_EQ(r.max, VM_PROT_READ);
  EXPECT_EQ(r.prot, VM_PROT_READ);
  EXPECT_EQ(vm_protect(mach_task_self(), a, PAGE, FALSE, VM_PROT_READ | VM_PROT_WRITE),
            KERN_PROTECTION_FAILURE);
  // The maximum never goes up again.
  EXPECT_EQ(vm_protect(mach_task_self(), a, PAGE, TRUE, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
  r = region(mach_task_self(), a);
  EXPECT_EQ(r.max, VM_PROT_READ);
  EXPECT_EQ(r.prot, VM_PROT_READ);
  KR_OK(vm_protect(mach_task_self(), a, PAGE, FALSE, VM_PROT_NONE));
  EXPECT_EQ(region(mach_task_self(), a).prot, VM_PROT_NONE);
  release(a, PAGE);
}

TEST(protect_none_blocks_vm_read) {
  vm_address_t a = alloc(PAGE);
  ASSERT(a != 0);
  fill(a, PAGE, 7);
  KR_OK(vm_protect(mach_task_self(), a, PAGE, FALSE, VM_PROT_NONE));
  vm_offset_t data = 0;
  mach_msg_type_number_t count = 0;
  EXPECT_EQ(vm_read(mach_task_self(), a, PAGE, &data, &count), KERN_PROTECTION_FAILURE);
  KR_OK(vm_protect(mach_task_self(), a, PAGE, FALSE, VM_PROT_READ));
  EXPECT(check_fill(a, PAGE, 7));
  release(a, PAGE);
}

TEST(protect_holes_and_bad_input) {
  vm_address_t base = free_range(2 * PAGE);
  ASSERT(base != 0);
  // GNU Mach: vm_protect skips holes. An unmapped range is KERN_SUCCESS, not
  // KERN_INVALID_ADDRESS, and a range running into a hole changes the mapped part.
  KR_OK(vm_protect(mach_task_self(), base, PAGE, FALSE, VM_PROT_READ));
  EXPECT(!mapped(mach_task_self(), base));
  vm_address_t a = base;
  KR_OK(vm_allocate(mach_task_self(), &a, PAGE, FALSE));
  KR_OK(vm_protect(mach_task_self(), a, 2 * PAGE, FALSE, VM_PROT_READ));
  EXPECT_EQ(region(mach_task_self(), a).prot, VM_PROT_READ);
  EXPECT(!mapped(mach_task_self(), a + PAGE));
  KR_OK(vm_protect(mach_task_self(), a, PAGE, FALSE, VM_PROT_READ | VM_PROT_WRITE));
  // Bits other than VM_PROT_ALL (and VM_PROT_NOTIFY).
  EXPECT_EQ(vm_protect(mach_task_self(), a, PAGE, FALSE, 0x100), KERN_INVALID_ARGUMENT);
  // GNU Mach: a range that wraps around the address space is KERN_SUCCESS and changes nothing.
  KR_OK(vm_protect(mach_task_self(), a, (vm_size_t)0 - a, FALSE, VM_PROT_ALL));
  EXPECT_EQ(region(mach_task_self(), a).prot, VM_PROT_READ | VM_PROT_WRITE);
  release(a, PAGE);
}

/* --- vm_inherit --- */

TEST(inherit_values) {
  vm_address_t a = free_range(3 * PAGE);
  ASSERT(a != 0);
  KR_OK(vm_allocate(mach_task_self(), &a, 3 * PAGE, FALSE));
  KR_OK(vm_inherit(mach_task_self(), a, PAGE, VM_INHERIT_SHARE));
  KR_OK(vm_inherit(mach_task_self(), a + 2 * PAGE, PAGE, VM_INHERIT_NONE));
  EXPECT_EQ(region(mach_task_self(), a).inherit, VM_INHERIT_SHARE);
  EXPECT_EQ(region(mach_task_self(), a + PAGE).inherit, VM_INHERIT_COPY);
  EXPECT_EQ(region(mach_task_self(), a + 2 * PAGE).inherit, VM_INHERIT_NONE);
  EXPECT_EQ(region(mach_task_self(), a + 2 * PAGE).size, PAGE);
  EXPECT_EQ(vm_inherit(mach_task_self(), a, PAGE, 7), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(region(mach_task_self(), a).inherit, VM_INHERIT_SHARE);
  release(a, 3 * PAGE);
  // GNU Mach: as vm_protect, vm_inherit skips holes: an unmapped range is KERN_SUCCESS.
  KR_OK(vm_inherit(mach_task_self(), a, 3 * PAGE, VM_INHERIT_SHARE));
  EXPECT(!mapped(mach_task_self(), a));
}

/* --- task_create with inherited memory --- */

TEST(task_create_inherits_copy_share_none) {
  vm_address_t shared = alloc(PAGE), stack = alloc(kChildStack);
  vm_address_t copy = alloc(kCopyPages * PAGE), none = alloc(PAGE);
  ASSERT(shared != 0 && stack != 0 && copy != 0 && none != 0);
  KR_OK(vm_inherit(mach_task_self(), shared, PAGE, VM_INHERIT_SHARE));
  KR_OK(vm_inherit(mach_task_self(), none, PAGE, VM_INHERIT_NONE));
  struct child_report *r = (struct child_report *)shared;
  r->copy_pages = copy;
  r->none_page = none;
  for (int i = 0; i < kCopyPages; i++)
    *(unsigned long *)(copy + i * PAGE) = 0xb0000000ul + i;  // before the fork
  *(unsigned long *)none = 0xdead;

  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), TRUE, &child));
  // After the fork the parent writes the copy pages and the shared page.
  for (int i = 0; i < kCopyPages; i++)
    *(unsigned long *)(copy + i * PAGE) = 0xa0000000ul + i;
  r->parent_mark = 0xa11ce;
  thread_t t = start_thread_in(child, child_inherit, (long)shared, stack, kChildStack);
  ASSERT_NE(t, MACH_PORT_NULL);
  EXPECT(WAIT_UNTIL(__atomic_load_n(&r->done, __ATOMIC_ACQUIRE), 10000));

  // Copy: each sees the pages as they were at the fork, then only its own writes.
  for (int i = 0; i < kCopyPages; i++) {
    EXPECT_EQ(r->saw_copy[i], 0xb0000000ul + i);
    EXPECT_EQ(r->saw_own[i], 0xc0000000ul + i);
    EXPECT_EQ(*(unsigned long *)(copy + i * PAGE), 0xa0000000ul + i);
  }
  vm_offset_t data = 0;
  mach_msg_type_number_t count = 0;
  KR_OK(vm_read(child, copy, kCopyPages * PAGE, &data, &count));
  EXPECT_EQ(count, kCopyPages * PAGE);
  for (int i = 0; i < kCopyPages; i++)
    EXPECT_EQ(*(unsigned long *)(data + i * PAGE), 0xc0000000ul + i);
  release(data, count);
  // Share: both see both writes.
  EXPECT_EQ(r->saw_parent_mark, 0xa11ce);
  EXPECT_EQ(r->child_mark, 0xc4117d);
  // None: the child has no region there, by its own vm_region and by ours.
  EXPECT(!(r->none_kr == KERN_SUCCESS && r->none_addr <= none));
  EXPECT(!mapped(child, none));
  EXPECT(mapped(child, shared));
  EXPECT(mapped(child, copy));
  EXPECT_EQ(*(unsigned long *)none, 0xdead);
  region_t rs = region(child, shared);
  EXPECT_EQ(rs.inherit, VM_INHERIT_SHARE);
  EXPECT(rs.shared);
  EXPECT(region(mach_task_self(), shared).shared);
  KR_OK(task_terminate(child));
  mach_port_deallocate(mach_task_self(), t);
  mach_port_deallocate(mach_task_self(), child);
  // The child is gone; the shared page is still ours, with what the child wrote.
  EXPECT(mapped(mach_task_self(), shared));
  EXPECT_EQ(r->child_mark, 0xc4117d);
  release(shared, PAGE);
  release(stack, kChildStack);
  release(copy, kCopyPages * PAGE);
  release(none, PAGE);
}

TEST(task_create_without_memory) {
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), FALSE, &child));
  // The child's map is empty.
  EXPECT_EQ(region(child, 0).kr, KERN_NO_SPACE);
  vm_address_t a = 0;
  KR_OK(vm_allocate(child, &a, 2 * PAGE, TRUE));
  region_t r = region(child, 0);
  KR_OK(r.kr);
  EXPECT_EQ(r.addr, a);
  EXPECT_EQ(r.size, 2 * PAGE);
  EXPECT_EQ(region(child, a + 2 * PAGE).kr, KERN_NO_SPACE);
  KR_OK(task_terminate(child));
  mach_port_deallocate(mach_task_self(), child);
}

/* --- vm_read --- */

TEST(read_own_memory) {
  const vm_size_t size = 3 * PAGE;
  vm_address_t a = alloc(size);
  ASSERT(a != 0);
  fill(a, size, 8);
  vm_offset_t data = 0;
  mach_msg_type_number_t count = 0;
  KR_OK(vm_read(mach_task_self(), a, size, &data, &count));
  EXPECT_EQ(count, size);
  EXPECT(data != a);
  EXPECT_EQ(data % PAGE, 0);
  EXPECT(check_fill(data, size, 8));
  // The data is a copy: writing either side leaves the other as it was.
  fill(a, size, 9);
  EXPECT(check_fill(data, size, 8));
  fill(data, PAGE, 10);
  EXPECT(check_fill(a, size, 9));
  KR_OK(vm_deallocate(mach_task_self(), data, count));
  EXPECT(!mapped(mach_task_self(), data));
  release(a, size);
}

TEST(read_unaligned) {
  vm_address_t a = alloc(2 * PAGE);
  ASSERT(a != 0);
  fill(a, 2 * PAGE, 11);
  vm_offset_t data = 0;
  mach_msg_type_number_t count = 0;
  // GNU Mach: an unaligned range is read as is; the data keeps its offset in the page.
  KR_OK(vm_read(mach_task_self(), a + 200, 5000, &data, &count));
  EXPECT_EQ(count, 5000);
  EXPECT_EQ(data % PAGE, 200);
  EXPECT(memcmp((void *)data, (void *)(a + 200), 5000) == 0);
  release(data, count);
  release(a, 2 * PAGE);
}

TEST(read_bad_ranges) {
  vm_address_t a = free_range(2 * PAGE);
  ASSERT(a != 0);
  vm_offset_t data = 0;
  mach_msg_type_number_t count = 0;
  EXPECT_EQ(vm_read(mach_task_self(), a, PAGE, &data, &count), KERN_INVALID_ADDRESS);
  KR_OK(vm_allocate(mach_task_self(), &a, PAGE, FALSE));
  // Past the end into a hole; wrapping around.
  EXPECT_EQ(vm_read(mach_task_self(), a, 2 * PAGE, &data, &count), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_read(mach_task_self(), a, (vm_size_t)0 - a + PAGE, &data, &count),
            KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_read(mach_task_self(), 0xffff900000000000ul, PAGE, &data, &count),
            KERN_INVALID_ADDRESS);
  release(a, PAGE);
}

/* --- vm_write --- */

TEST(write_own_memory) {
  vm_address_t src = alloc(2 * PAGE), dst = alloc(2 * PAGE);
  ASSERT(src != 0 && dst != 0);
  fill(src, 2 * PAGE, 12);
  KR_OK(vm_write(mach_task_self(), dst, src, 2 * PAGE));
  EXPECT(check_fill(dst, 2 * PAGE, 12));
  // A copy: the source can change without the destination changing.
  fill(src, 2 * PAGE, 13);
  EXPECT(check_fill(dst, 2 * PAGE, 12));
  fill(dst, 2 * PAGE, 14);
  EXPECT(check_fill(src, 2 * PAGE, 13));
  release(src, 2 * PAGE);
  release(dst, 2 * PAGE);
}

TEST(write_bad_ranges) {
  vm_address_t src = alloc(2 * PAGE), dst = free_range(2 * PAGE);
  ASSERT(src != 0 && dst != 0);
  EXPECT_EQ(vm_write(mach_task_self(), dst, src, PAGE), KERN_INVALID_ADDRESS);
  KR_OK(vm_allocate(mach_task_self(), &dst, PAGE, FALSE));
  EXPECT_EQ(vm_write(mach_task_self(), dst, src, 2 * PAGE), KERN_INVALID_ADDRESS);
  // GNU Mach: vm_write works on whole pages only.
  EXPECT_EQ(vm_write(mach_task_self(), dst + 8, src, 64), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_write(mach_task_self(), dst, src, 64), KERN_INVALID_ARGUMENT);
  EXPECT(all_zero(dst, PAGE));
  release(src, 2 * PAGE);
  release(dst, PAGE);
}

TEST(write_into_child_task) {
  vm_address_t copy = alloc(PAGE), buf = alloc(PAGE);
  ASSERT(copy != 0 && buf != 0);
  fill(copy, PAGE, 15);
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), TRUE, &child));
  // Into a page the child inherited by copy: only the child's copy changes.
  fill(buf, PAGE, 16);
  KR_OK(vm_write(child, copy, buf, PAGE));
  EXPECT(check_fill(copy, PAGE, 15));
  vm_offset_t data = 0;
  mach_msg_type_number_t count = 0;
  KR_OK(vm_read(child, copy, PAGE, &data, &count));
  EXPECT(check_fill(data, PAGE, 16));
  release(data, count);
  // Into memory allocated in the child.
  vm_address_t a = 0;
  KR_OK(vm_allocate(child, &a, PAGE, TRUE));
  KR_OK(vm_write(child, a, buf, PAGE));
  KR_OK(vm_read(child, a, PAGE, &data, &count));
  EXPECT(check_fill(data, PAGE, 16));
  release(data, count);
  KR_OK(task_terminate(child));
  mach_port_deallocate(mach_task_self(), child);
  release(copy, PAGE);
  release(buf, PAGE);
}

/* --- vm_copy --- */

TEST(copy_is_independent) {
  const vm_size_t size = 4 * PAGE;
  vm_address_t src = alloc(size), dst = alloc(size);
  ASSERT(src != 0 && dst != 0);
  fill(src, size, 17);
  KR_OK(vm_copy(mach_task_self(), src, size, dst));
  EXPECT(check_fill(dst, size, 17));
  fill(src, PAGE, 18);
  EXPECT(check_fill(dst, size, 17));
  fill(dst + PAGE, PAGE, 19);
  EXPECT(check_fill(dst + PAGE, PAGE, 19));
  EXPECT(check_fill(src, PAGE, 18));
  // src's pages 1 to 3 still hold what they held when copied, as dst's pages 0, 2 and 3 do.
  EXPECT(memcmp((void *)(src + PAGE), (void *)(dst + PAGE), PAGE) != 0);
  EXPECT(memcmp((void *)(src + 2 * PAGE), (void *)(dst + 2 * PAGE), 2 * PAGE) == 0);
  EXPECT_EQ(*(unsigned long *)(src + PAGE), fill_word(17, PAGE / 8));
  release(src, size);
  release(dst, size);
}

TEST(copy_bad_ranges) {
  vm_address_t src = alloc(PAGE), hole = free_range(PAGE), ro = alloc(PAGE);
  ASSERT(src != 0 && hole != 0 && ro != 0);
  fill(src, PAGE, 21);
  EXPECT_EQ(vm_copy(mach_task_self(), src, PAGE, hole), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_copy(mach_task_self(), hole, PAGE, src), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_copy(mach_task_self(), src, (vm_size_t)0 - src + PAGE, ro),
            KERN_INVALID_ADDRESS);
  // GNU Mach: as vm_write, vm_copy overwrites whole pages only.
  EXPECT_EQ(vm_copy(mach_task_self(), src, 64, ro), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_copy(mach_task_self(), src + 8, PAGE - 8, ro + 8), KERN_INVALID_ARGUMENT);
  EXPECT(all_zero(ro, PAGE));
  KR_OK(vm_protect(mach_task_self(), ro, PAGE, FALSE, VM_PROT_READ));
  EXPECT_EQ(vm_copy(mach_task_self(), src, PAGE, ro), KERN_PROTECTION_FAILURE);
  release(src, PAGE);
  release(ro, PAGE);
}

/* --- vm_region --- */

TEST(region_walk) {
  vm_address_t base = free_range(5 * PAGE);
  ASSERT(base != 0);
  vm_address_t a = base, b = base + 2 * PAGE, c = base + 3 * PAGE;
  KR_OK(vm_allocate(mach_task_self(), &a, 2 * PAGE, FALSE));
  KR_OK(vm_allocate(mach_task_self(), &b, PAGE, FALSE));
  KR_OK(vm_allocate(mach_task_self(), &c, 2 * PAGE, FALSE));
  KR_OK(vm_protect(mach_task_self(), b, PAGE, FALSE, VM_PROT_READ));
  KR_OK(vm_inherit(mach_task_self(), c, 2 * PAGE, VM_INHERIT_NONE));
  static const struct {
    vm_size_t off, size;
    vm_prot_t prot;
    vm_inherit_t inherit;
  } want[3] = {{0, 2 * PAGE, VM_PROT_READ | VM_PROT_WRITE, VM_INHERIT_COPY},
               {2 * PAGE, PAGE, VM_PROT_READ, VM_INHERIT_COPY},
               {3 * PAGE, 2 * PAGE, VM_PROT_READ | VM_PROT_WRITE, VM_INHERIT_NONE}};
  // From below the first region: each answer is the next region; a gap ends the walk.
  vm_address_t at = base - PAGE;
  for (int i = 0; i < 3; i++) {
    region_t r = region(mach_task_self(), at);
    KR_OK(r.kr);
    EXPECT_EQ(r.addr, base + want[i].off);
    EXPECT_EQ(r.size, want[i].size);
    EXPECT_EQ(r.prot, want[i].prot);
    EXPECT_EQ(r.max, VM_PROT_ALL);
    EXPECT_EQ(r.inherit, want[i].inherit);
    EXPECT(!r.shared);
    EXPECT_EQ(r.object, MACH_PORT_NULL);
    at = r.addr + r.size;
  }
  region_t r = region(mach_task_self(), at);
  EXPECT(r.kr == KERN_NO_SPACE || r.addr > base + 5 * PAGE);
  release(base, 5 * PAGE);
}

TEST(region_walk_whole_space) {
  // Every region, in order, without overlap; past the last one, KERN_NO_SPACE.
  vm_address_t at = 0, last_end = 0;
  int n = 0;
  region_t r;
  for (;;) {
    r = region(mach_task_self(), at);
    if (r.kr != KERN_SUCCESS)
      break;
    EXPECT(r.addr >= at);
    EXPECT(r.addr >= last_end);
    EXPECT(r.size > 0 && r.size % PAGE == 0);
    last_end = r.addr + r.size;
    at = last_end;
    if (++n > 10000 || at == 0)
      break;
  }
  EXPECT_EQ(r.kr, KERN_NO_SPACE);
  EXPECT_GE(n, 3);  // at least text, data and stack
  EXPECT(mapped(mach_task_self(), (vm_address_t)&host_priv));
  EXPECT(mapped(mach_task_self(), (vm_address_t)__builtin_frame_address(0)));
  // The text is executable and not writable.
  region_t text = region(mach_task_self(), (vm_address_t)(uintptr_t)&test_main);
  KR_OK(text.kr);
  EXPECT(text.prot & VM_PROT_EXECUTE);
  EXPECT(!(text.prot & VM_PROT_WRITE));
}

/* --- vm_statistics --- */

TEST(statistics) {
  vm_statistics_data_t s = vm_stats();
  EXPECT_EQ(s.pagesize, PAGE);
  EXPECT_EQ(s.pagesize, vm_page_size);
  struct host_basic_info info;
  mach_msg_type_number_t count = HOST_BASIC_INFO_COUNT;
  KR_OK(host_info(mach_host_self(), HOST_BASIC_INFO, (host_info_t)&info, &count));
  EXPECT(s.free_count > 0);
  EXPECT((unsigned long)s.free_count * PAGE < info.memory_size);
  EXPECT(s.active_count + s.inactive_count + s.wire_count > 0);
}

TEST(statistics_free_count_drops) {
  enum { kPages = 512 };
  vm_address_t a = alloc(kPages * PAGE);
  ASSERT(a != 0);
  vm_statistics_data_t before = vm_stats();
  for (int i = 0; i < kPages; i++)
    *(volatile char *)(a + i * PAGE) = 1;
  vm_statistics_data_t after = vm_stats();
  EXPECT_GE(before.free_count - after.free_count, kPages / 2);
  EXPECT_GE(after.zero_fill_count - before.zero_fill_count, kPages);
  EXPECT_GE(after.faults - before.faults, kPages);
  // GNU Mach: the free count does not come back at once after vm_deallocate (measured: no
  // change, even 100 ms later), so that is not checked here.
  release(a, kPages * PAGE);
}

/* --- vm_map (anonymous) --- */

TEST(map_anonymous) {
  vm_address_t a = 0;
  KR_OK(vm_map(mach_task_self(), &a, 3 * PAGE, 0, TRUE, MACH_PORT_NULL, 0, FALSE,
               VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_SHARE));
  EXPECT_EQ(a % PAGE, 0);
  EXPECT(all_zero(a, 3 * PAGE));
  fill(a, 3 * PAGE, 20);
  EXPECT(check_fill(a, 3 * PAGE, 20));
  region_t r = region(mach_task_self(), a);
  EXPECT_EQ(r.addr, a);
  EXPECT_EQ(r.size, 3 * PAGE);
  EXPECT_EQ(r.prot, VM_PROT_READ | VM_PROT_WRITE);
  EXPECT_EQ(r.max, VM_PROT_ALL);
  EXPECT_EQ(r.inherit, VM_INHERIT_SHARE);
  release(a, 3 * PAGE);
}

TEST(map_anonymous_mask_and_protections) {
  // The mask: the address has those bits clear.
  const vm_address_t mask = MiB - 1;
  for (int i = 0; i < 3; i++) {
    vm_address_t a = 0;
    KR_OK(vm_map(mach_task_self(), &a, PAGE, mask, TRUE, MACH_PORT_NULL, 0, FALSE,
                 VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_COPY));
    EXPECT_EQ(a & mask, 0);
    *(volatile char *)a = 1;
    release(a, PAGE);
  }
  vm_address_t a = 0;
  KR_OK(vm_map(mach_task_self(), &a, PAGE, 0, TRUE, MACH_PORT_NULL, 0, FALSE, VM_PROT_READ,
               VM_PROT_READ, VM_INHERIT_NONE));
  region_t r = region(mach_task_self(), a);
  EXPECT_EQ(r.prot, VM_PROT_READ);
  EXPECT_EQ(r.max, VM_PROT_READ);
  EXPECT_EQ(r.inherit, VM_INHERIT_NONE);
  EXPECT(all_zero(a, PAGE));
  // Fixed, over an existing region.
  EXPECT_EQ(vm_map(mach_task_self(), &a, PAGE, 0, FALSE, MACH_PORT_NULL, 0, FALSE,
                   VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE),
            KERN_NO_SPACE);
  release(a, PAGE);
}

TEST(map_bad_input) {
  vm_address_t a = 0;
  // GNU Mach: unlike vm_allocate, vm_map refuses size 0.
  EXPECT_EQ(vm_map(mach_task_self(), &a, 0, 0, TRUE, MACH_PORT_NULL, 0, FALSE, VM_PROT_READ,
                   VM_PROT_ALL, VM_INHERIT_COPY),
            KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_map(mach_task_self(), &a, PAGE, 0, TRUE, MACH_PORT_NULL, 0, FALSE, VM_PROT_READ,
                   VM_PROT_ALL, 7),
            KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_map(mach_task_self(), &a, PAGE, 0, TRUE, MACH_PORT_NULL, 0, FALSE, 0x10,
                   VM_PROT_ALL, VM_INHERIT_COPY),
            KERN_INVALID_ARGUMENT);
  a = 0;
  EXPECT_EQ(vm_map(mach_task_self(), &a, (vm_size_t)1 << 48, 0, TRUE, MACH_PORT_NULL, 0, FALSE,
                   VM_PROT_READ, VM_PROT_ALL, VM_INHERIT_COPY),
            KERN_NO_SPACE);
}

/* --- vm_wire --- */

TEST(wire_privileged) {
  ASSERT(MACH_PORT_VALID(host_priv));
  vm_address_t a = alloc(4 * PAGE);
  ASSERT(a != 0);
  vm_statistics_data_t before = vm_stats();
  KR_OK(vm_wire(host_priv, mach_task_self(), a, 4 * PAGE, VM_PROT_READ | VM_PROT_WRITE));
  vm_statistics_data_t wired = vm_stats();
  EXPECT_GE(wired.wire_count - before.wire_count, 4);
  // Wired pages are there without a fault.
  EXPECT(all_zero(a, 4 * PAGE));
  KR_OK(vm_wire(host_priv, mach_task_self(), a, 4 * PAGE, VM_PROT_NONE));
  vm_statistics_data_t unwired = vm_stats();
  EXPECT_GE(wired.wire_count - unwired.wire_count, 4);
  // GNU Mach: unmapped memory is KERN_NO_SPACE here (KERN_INVALID_ADDRESS elsewhere).
  vm_address_t hole = free_range(PAGE);
  EXPECT_EQ(vm_wire(host_priv, mach_task_self(), hole, PAGE, VM_PROT_READ), KERN_NO_SPACE);
  EXPECT_EQ(vm_wire(host_priv, mach_task_self(), a, PAGE, 0x10), KERN_INVALID_ARGUMENT);
  release(a, 4 * PAGE);
}

TEST(wire_unprivileged) {
  vm_address_t a = alloc(2 * PAGE);
  ASSERT(a != 0);
  // GNU Mach: the plain host port may wire a little (up to 8 MiB a task), not more.
  KR_OK(vm_wire(mach_host_self(), mach_task_self(), a, 2 * PAGE, VM_PROT_READ));
  KR_OK(vm_wire(mach_host_self(), mach_task_self(), a, 2 * PAGE, VM_PROT_NONE));
  vm_address_t big = alloc(9 * MiB);
  ASSERT(big != 0);
  EXPECT_EQ(vm_wire(mach_host_self(), mach_task_self(), big, 9 * MiB, VM_PROT_READ),
            KERN_NO_ACCESS);
  // Not a host port at all; not a task.
  EXPECT_EQ(vm_wire(mach_task_self(), mach_task_self(), a, PAGE, VM_PROT_READ),
            KERN_INVALID_HOST);
  EXPECT_EQ(vm_wire(host_priv, mach_thread_self(), a, PAGE, VM_PROT_READ), KERN_INVALID_TASK);
  // The host is the request's destination: a null one fails the send.
  EXPECT_EQ(vm_wire(MACH_PORT_NULL, mach_task_self(), a, PAGE, VM_PROT_READ),
            MACH_SEND_INVALID_DEST);
  release(big, 9 * MiB);
  release(a, 2 * PAGE);
}

/* --- Out-of-line memory in messages --- */

typedef struct {
  mach_msg_header_t head;
  mach_msg_type_t type;
  vm_offset_t address;
} ool_msg_t;

static union {
  mach_msg_header_t head;
  ool_msg_t ool;
  char space[256];
} rcv;

static mach_msg_return_t send_ool(mach_port_t dest, vm_address_t addr, vm_size_t size,
                                  boolean_t dealloc) {
  ool_msg_t m;
  memset(&m, 0, sizeof m);
  m.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
  m.head.msgh_size = sizeof m;
  m.head.msgh_remote_port = dest;
  m.head.msgh_id = 4242;
  m.type.msgt_name = MACH_MSG_TYPE_BYTE;
  m.type.msgt_size = 8;
  m.type.msgt_number = (mach_msg_type_number_t)size;
  m.type.msgt_inline = FALSE;
  m.type.msgt_deallocate = dealloc;
  m.address = addr;
  return mach_msg(&m.head, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

static mach_msg_return_t receive(mach_port_t name, mach_msg_timeout_t timeout) {
  memset(&rcv, 0, sizeof rcv);
  return mach_msg(&rcv.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof rcv, name, timeout,
                  MACH_PORT_NULL);
}

/* The sending thread of the 16 MiB tests. */
static struct {
  mach_port_t port;
  vm_address_t addr;
  vm_size_t size;
  boolean_t dealloc;
  mach_msg_return_t mr;
  bool mapped_after;  // the sender's range, after the send
  volatile int done;
} sender;

static void ool_sender(long arg) {
  (void)arg;
  sender.mr = send_ool(sender.port, sender.addr, sender.size, sender.dealloc);
  sender.mapped_after = mapped(mach_task_self(), sender.addr);
  if (sender.mr == MACH_MSG_SUCCESS && !sender.dealloc)
    stamp(sender.addr, sender.size, 2);  // the sender's copy changes after the send
  __atomic_store_n(&sender.done, 1, __ATOMIC_RELEASE);
  thread_exit();
}

/* Receives the 16 MiB message and checks it holds stamp 1; answers the received address. */
static vm_address_t receive_16mib(mach_port_t port) {
  mach_msg_return_t mr = receive(port, 5000);
  if (mr != MACH_MSG_SUCCESS) {
    test_fail(__FILE__, __LINE__, "receive: 0x%x", mr);
    return 0;
  }
  EXPECT_EQ(rcv.head.msgh_id, 4242);
  EXPECT(rcv.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
  EXPECT_EQ(rcv.head.msgh_size, sizeof(ool_msg_t));
  EXPECT_EQ(rcv.ool.type.msgt_inline, FALSE);
  EXPECT_EQ(rcv.ool.type.msgt_name, MACH_MSG_TYPE_BYTE);
  EXPECT_EQ((vm_size_t)rcv.ool.type.msgt_number * rcv.ool.type.msgt_size / 8, 16 * MiB);
  vm_address_t got = rcv.ool.address;
  EXPECT(got != 0 && got % PAGE == 0);
  EXPECT(mapped(mach_task_self(), got) && mapped(mach_task_self(), got + 16 * MiB - 1));
  EXPECT(check_stamp(got, 16 * MiB, 1));
  return got;
}

TEST(ool_16mib_deallocate) {
  mach_port_t port = receive_and_send();
  vm_address_t a = alloc(16 * MiB);
  ASSERT(a != 0);
  stamp(a, 16 * MiB, 1);
  memset(&sender, 0, sizeof sender);
  sender.port = port;
  sender.addr = a;
  sender.size = 16 * MiB;
  sender.dealloc = TRUE;
  ASSERT_NE(start_thread(ool_sender, 0), MACH_PORT_NULL);
  ASSERT(WAIT_UNTIL(__atomic_load_n(&sender.done, __ATOMIC_ACQUIRE), 10000));
  EXPECT_EQ(sender.mr, MACH_MSG_SUCCESS);
  // Sent with deallocate: the range left the sender's space with the message.
  EXPECT(!sender.mapped_after);
  EXPECT(!mapped(mach_task_self(), a));
  EXPECT(!mapped(mach_task_self(), a + 16 * MiB - 1));
  vm_address_t got = receive_16mib(port);
  if (got != 0)
    KR_OK(vm_deallocate(mach_task_self(), got, 16 * MiB));
  destroy(port);
}

TEST(ool_16mib_copy) {
  mach_port_t port = receive_and_send();
  vm_address_t a = alloc(16 * MiB);
  ASSERT(a != 0);
  stamp(a, 16 * MiB, 1);
  memset(&sender, 0, sizeof sender);
  sender.port = port;
  sender.addr = a;
  sender.size = 16 * MiB;
  sender.dealloc = FALSE;
  ASSERT_NE(start_thread(ool_sender, 0), MACH_PORT_NULL);
  ASSERT(WAIT_UNTIL(__atomic_load_n(&sender.done, __ATOMIC_ACQUIRE), 20000));
  EXPECT_EQ(sender.mr, MACH_MSG_SUCCESS);
  EXPECT(sender.mapped_after);
  // The sender rewrote its copy after the send; the message still holds the old contents.
  EXPECT(check_stamp(a, 16 * MiB, 2));
  vm_address_t got = receive_16mib(port);
  ASSERT(got != 0);
  EXPECT(got != a);
  // And the receiver's writes do not reach the sender.
  stamp(got, 16 * MiB, 3);
  EXPECT(check_stamp(a, 16 * MiB, 2));
  KR_OK(vm_deallocate(mach_task_self(), got, 16 * MiB));
  release(a, 16 * MiB);
  destroy(port);
}

TEST(ool_invalid_memory) {
  mach_port_t port = receive_and_send();
  vm_address_t hole = free_range(2 * PAGE);
  ASSERT(hole != 0);
  EXPECT_EQ(send_ool(port, hole, PAGE, FALSE), MACH_SEND_INVALID_MEMORY);
  EXPECT_EQ(send_ool(port, hole, PAGE, TRUE), MACH_SEND_INVALID_MEMORY);
  EXPECT_EQ(send_ool(port, 0x7ff000000000ul, 8192, FALSE), MACH_SEND_INVALID_MEMORY);
  // Half mapped: the first page is there, the second is not.
  vm_address_t a = hole;
  KR_OK(vm_allocate(mach_task_self(), &a, PAGE, FALSE));
  EXPECT_EQ(send_ool(port, a, 2 * PAGE, TRUE), MACH_SEND_INVALID_MEMORY);
  // Nothing was queued, and the failed move left the mapped page where it was.
  EXPECT_EQ(receive(port, 0), MACH_RCV_TIMED_OUT);
  EXPECT(mapped(mach_task_self(), a));
  release(a, PAGE);
  destroy(port);
}

/* --- A task port that is not a task --- */

TEST(not_a_task_kernel_port) {
  // A thread port is a kernel object, but not a task: the kernel answers each call.
  const mach_port_t t = mach_thread_self();
  vm_address_t a = alloc(PAGE), out = 0;
  ASSERT(a != 0);
  vm_size_t size = 0;
  vm_prot_t prot, max;
  vm_inherit_t inh;
  boolean_t shared;
  mach_port_t obj;
  vm_offset_t off, data = 0;
  mach_msg_type_number_t count = 0;
  vm_statistics_data_t s;
  EXPECT_EQ(vm_allocate(t, &out, PAGE, TRUE), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_deallocate(t, a, PAGE), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_protect(t, a, PAGE, FALSE, VM_PROT_READ), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_inherit(t, a, PAGE, VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_read(t, a, PAGE, &data, &count), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_write(t, a, a, PAGE), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_copy(t, a, PAGE, a), KERN_INVALID_ARGUMENT);
  out = a;
  EXPECT_EQ(vm_region(t, &out, &size, &prot, &max, &inh, &shared, &obj, &off),
            KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_statistics(t, &s), KERN_INVALID_ARGUMENT);
  out = 0;
  EXPECT_EQ(vm_map(t, &out, PAGE, 0, TRUE, MACH_PORT_NULL, 0, FALSE, VM_PROT_READ, VM_PROT_ALL,
                   VM_INHERIT_COPY),
            KERN_INVALID_ARGUMENT);
  // Nothing changed in our own space.
  region_t r = region(mach_task_self(), a);
  EXPECT_EQ(r.addr, a);
  EXPECT_EQ(r.prot, VM_PROT_READ | VM_PROT_WRITE);
  EXPECT_EQ(r.inherit, VM_INHERIT_COPY);
  // The host port is not a task either.
  EXPECT_EQ(vm_allocate(mach_host_self(), &out, PAGE, TRUE), KERN_INVALID_ARGUMENT);
  release(a, PAGE);
}

TEST(not_a_task_null_or_dead) {
  vm_address_t a = 0;
  EXPECT_EQ(vm_allocate(MACH_PORT_NULL, &a, PAGE, TRUE), MACH_SEND_INVALID_DEST);
  mach_port_t p = receive_and_send();
  KR_OK(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, -1));  // a dead name
  EXPECT_EQ(vm_allocate(p, &a, PAGE, TRUE), MACH_SEND_INVALID_DEST);
  vm_statistics_data_t s;
  EXPECT_EQ(vm_statistics(p, &s), MACH_SEND_INVALID_DEST);
  mach_port_deallocate(mach_task_self(), p);
}

/* A port whose receive right we hold: the request comes to us, not to the kernel. */
static struct {
  mach_port_t port;
  kern_return_t kr;
  volatile int done;
} caller;

static void vm_allocate_caller(long arg) {
  (void)arg;
  vm_address_t a = 0;
  caller.kr = vm_allocate(caller.port, &a, PAGE, TRUE);
  __atomic_store_n(&caller.done, 1, __ATOMIC_RELEASE);
  thread_exit();
}

TEST(not_a_task_receive_right) {
  memset(&caller, 0, sizeof caller);
  caller.port = receive_and_send();
  ASSERT_NE(start_thread(vm_allocate_caller, 0), MACH_PORT_NULL);
  ASSERT_EQ(receive(caller.port, 5000), MACH_MSG_SUCCESS);
  EXPECT_EQ(rcv.head.msgh_id, 2021);  // vm_allocate's request
  EXPECT_EQ(MACH_MSGH_BITS_REMOTE(rcv.head.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
  // Destroying the request destroys its reply right: the stub sees the server die.
  mach_msg_destroy(&rcv.head);
  EXPECT(WAIT_UNTIL(__atomic_load_n(&caller.done, __ATOMIC_ACQUIRE), 5000));
  EXPECT_EQ(caller.kr, MIG_SERVER_DIED);
  destroy(caller.port);
}


int main(int argc, char **argv) {
  if (argc > 1)
    host_priv = (mach_port_t)strtoul(argv[1], NULL, 10);
  return test_main(argc, argv);
}
