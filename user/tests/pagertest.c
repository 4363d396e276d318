/* External pagers (memory_object.defs / mach.defs), written as a GNU Mach program: a data
   manager thread in this task serves memory objects this task maps with vm_map, and the tests
   look at what the kernel asked and what the mapped memory shows. Hostile pagers (silent,
   dying, lying, flooding) must end in a defined outcome: the access fails, nothing hangs.

   Mica-only: it counts kernel objects (mica_counters.h), and GNU Mach waits for a silent
   pager forever. The first five tests pass on GNU Mach (tools/gnumach-boot.sh).

   An access the kernel cannot satisfy is observed without exceptions: mach_msg's copyin of a
   message that lies in the mapped page fails (MACH_SEND_INVALID_DATA on GNU Mach and
   Mica), after at most the kernel's bound on a pager's answer. */
#include <mach.h>
#include <mach/mach_host.h>
#include <mach/memory_object.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/mica_counters.h>

/* The server side of memory_object.defs (user/CMakeLists.txt: mach_memory_object_server).
   Its routines below take every argument of the .defs, used or not. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
boolean_t memory_object_server(mach_msg_header_t *request, mach_msg_header_t *reply);

enum { kPage = 4096, kPages = 16, kMaxLog = 64 };

/* How the data manager answers a data request. */
enum behaviour {
  kCompute,      /* data_supply of the page's pattern */
  kSilent,       /* never answers */
  kWrongOffset,  /* supplies the page 8 pages further on */
  kBadSize,      /* supplies 100 bytes less than a page */
  kUnavailable,  /* data_unavailable */
  kError,        /* data_error */
  kFlood,        /* supplies the asked page and 255 more nobody asked for */
};

struct event {
  int id;  /* msgh_id of the kernel's message */
  vm_offset_t offset;
  vm_size_t length;
  uint32_t word;  /* data_return: first word of the data */
  boolean_t dirty;
};

static struct {
  volatile enum behaviour behaviour;
  volatile int inits, requests, terminates, returns, lock_dones;
  volatile mach_port_t control;
  struct event log[kMaxLog];
  volatile int nlog;
} pager;

static uint32_t pattern(vm_offset_t offset) { return 0xa5000000u + (uint32_t)(offset / kPage); }

static void record(int id, vm_offset_t offset, vm_size_t length, uint32_t word, boolean_t dirty) {
  if (pager.nlog < kMaxLog) {
    struct event *e = &pager.log[pager.nlog];
    e->id = id;
    e->offset = offset;
    e->length = length;
    e->word = word;
    e->dirty = dirty;
    pager.nlog++;
  }
}

static uint32_t supply_buf[256 * kPage / 4] __attribute__((aligned(4096)));

static void supply(mach_port_t ctl, vm_offset_t offset, vm_size_t length) {
  for (vm_size_t i = 0; i < length / 4; i++) supply_buf[i] = pattern(offset + (i * 4 / kPage) * kPage);
  memory_object_data_supply(ctl, offset, (vm_offset_t)supply_buf, length, FALSE, VM_PROT_NONE,
                            FALSE, MACH_PORT_NULL);
}

kern_return_t memory_object_init(mach_port_t mo, mach_port_t ctl, mach_port_t name,
                                 vm_size_t page_size) {
  pager.inits++;
  pager.control = ctl;
  record(2200, 0, page_size, 0, FALSE);
  return memory_object_ready(ctl, FALSE, MEMORY_OBJECT_COPY_DELAY);
}

kern_return_t memory_object_data_request(mach_port_t mo, mach_port_t ctl, vm_offset_t offset,
                                         vm_size_t length, vm_prot_t access) {
  pager.requests++;
  record(2203, offset, length, 0, FALSE);
  switch (pager.behaviour) {
    case kCompute: supply(ctl, offset, length); break;
    case kSilent: break;
    case kWrongOffset: supply(ctl, offset + 8 * kPage, length); break;
    case kBadSize:
      memory_object_data_supply(ctl, offset, (vm_offset_t)supply_buf, length - 100, FALSE,
                                VM_PROT_NONE, FALSE, MACH_PORT_NULL);
      break;
    case kUnavailable: memory_object_data_unavailable(ctl, offset, length); break;
    case kError: memory_object_data_error(ctl, offset, length, KERN_FAILURE); break;
    case kFlood: supply(ctl, offset, 256 * kPage); break;
  }
  return KERN_SUCCESS;
}

kern_return_t memory_object_terminate(mach_port_t mo, mach_port_t ctl, mach_port_t name) {
  pager.terminates++;
  record(2201, 0, 0, 0, FALSE);
  mach_port_destroy(mach_task_self(), ctl);
  mach_port_destroy(mach_task_self(), name);
  return KERN_SUCCESS;
}

kern_return_t memory_object_data_return(mach_port_t mo, mach_port_t ctl, vm_offset_t offset,
                                        vm_offset_t data, mach_msg_type_number_t count,
                                        boolean_t dirty, boolean_t kernel_copy) {
  pager.returns++;
  record(2207, offset, count, count >= 4 ? *(uint32_t *)data : 0, dirty);
  vm_deallocate(mach_task_self(), data, count);
  return KERN_SUCCESS;
}

kern_return_t memory_object_lock_completed(mach_port_t mo, mach_msg_type_name_t mo_type,
                                           mach_port_t ctl, vm_offset_t offset,
                                           vm_size_t length) {
  pager.lock_dones++;
  record(2205, offset, length, 0, FALSE);
  return KERN_SUCCESS;
}

kern_return_t memory_object_copy(mach_port_t a, mach_port_t b, vm_offset_t c, vm_size_t d,
                                 mach_port_t e) { return KERN_FAILURE; }
kern_return_t memory_object_data_unlock(mach_port_t a, mach_port_t b, vm_offset_t c,
                                        vm_size_t d, vm_prot_t e) { return KERN_FAILURE; }
kern_return_t memory_object_supply_completed(mach_port_t a, mach_msg_type_name_t b,
                                             mach_port_t c, vm_offset_t d, vm_size_t e,
                                             kern_return_t f, vm_offset_t g) {
  return KERN_SUCCESS;
}
kern_return_t memory_object_change_completed(mach_port_t a, mach_msg_type_name_t b,
                                             boolean_t c, memory_object_copy_strategy_t d) {
  return KERN_SUCCESS;
}

/* The data manager: serves every memory object port in the set. */
static mach_port_t pager_set;

static void pager_thread(long unused) {
  struct { mach_msg_header_t h; char body[8192]; } in;
  struct { mig_reply_header_t r; char body[256]; } out;
  for (;;) {
    if (mach_msg(&in.h, MACH_RCV_MSG, 0, sizeof in, pager_set, 0, MACH_PORT_NULL) !=
        MACH_MSG_SUCCESS)
      continue;
    memory_object_server(&in.h, &out.r.Head); /* all simpleroutines: no reply */
  }
}

/* A fresh memory object (receive right + send right), served by the pager thread. */
static mach_port_t new_object(enum behaviour b) {
  if (pager_set == MACH_PORT_NULL) {
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &pager_set))
      return MACH_PORT_NULL;
    start_thread(pager_thread, 0);
  }
  memset((void *)&pager, 0, sizeof pager);
  pager.behaviour = b;
  mach_port_t mo = receive_and_send();
  mach_port_move_member(mach_task_self(), mo, pager_set);
  return mo;
}

static vm_address_t map_object(mach_port_t mo, vm_size_t size) {
  vm_address_t a = 0;
  kern_return_t kr = vm_map(mach_task_self(), &a, size, 0, TRUE, mo, 0, FALSE,
                            VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE);
  EXPECT_EQ(kr, KERN_SUCCESS);
  return kr == KERN_SUCCESS ? a : 0;
}

/* Waits up to ms for *counter to reach n. */
static int wait_for(volatile int *counter, int n, int ms) {
  for (int t = 0; t < ms && *counter < n; t += 10) msleep(10);
  return *counter;
}

/* mach_msg sends the message whose header lies at addr: the kernel reads the page (copyin)
   first. A page it could get has the pager's pattern, not a valid header: any other error. */
__attribute__((unused)) static mach_msg_return_t kernel_reads(vm_address_t addr) {
  return mach_msg((mach_msg_header_t *)addr, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                  sizeof(mach_msg_header_t), 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* pressuretest.c reuses the data manager above with its own test (PAGERTEST_MACHINERY_ONLY). */
#ifndef PAGERTEST_MACHINERY_ONLY

TEST(pager_supplies_what_is_read) {
  mach_port_t mo = new_object(kCompute);
  ASSERT(mo != MACH_PORT_NULL);
  vm_address_t a = map_object(mo, kPages * kPage);
  ASSERT(a != 0);
  for (int i = 0; i < kPages; i++) EXPECT_EQ(*(volatile uint32_t *)(a + i * kPage + 8), pattern(i * kPage));
  EXPECT_EQ(pager.inits, 1);
  EXPECT_EQ(pager.log[0].length, kPage); /* memory_object_init's page size */
  EXPECT(pager.requests >= 1 && pager.requests <= kPages);
  int before = pager.requests;
  for (int i = 0; i < kPages; i++) EXPECT_EQ(*(volatile uint32_t *)(a + i * kPage), pattern(i * kPage));
  EXPECT_EQ(pager.requests, before); /* cached: asked once */
  KR_OK(vm_deallocate(mach_task_self(), a, kPages * kPage));
  EXPECT_EQ(wait_for(&pager.terminates, 1, 2000), 1);
  destroy(mo);
}

TEST(object_mapped_twice_shares_pages_and_inits_once) {
  mach_port_t mo = new_object(kCompute);
  vm_address_t a = map_object(mo, kPages * kPage);
  vm_address_t b = map_object(mo, kPages * kPage);
  ASSERT(a != 0 && b != 0 && a != b);
  *(volatile uint32_t *)(a + 3 * kPage) = 0x12345678;
  EXPECT_EQ(*(volatile uint32_t *)(b + 3 * kPage), 0x12345678);
  EXPECT_EQ(*(volatile uint32_t *)(b + 4 * kPage), pattern(4 * kPage));
  EXPECT_EQ(pager.inits, 1);
  KR_OK(vm_deallocate(mach_task_self(), a, kPages * kPage));
  msleep(50);
  EXPECT_EQ(pager.terminates, 0); /* b still maps it */
  KR_OK(vm_deallocate(mach_task_self(), b, kPages * kPage));
  EXPECT_EQ(wait_for(&pager.terminates, 1, 2000), 1);
  destroy(mo);
}

TEST(dirty_page_returned_before_terminate) {
  mach_port_t mo = new_object(kCompute);
  vm_address_t a = map_object(mo, kPages * kPage);
  ASSERT(a != 0);
  EXPECT_EQ(*(volatile uint32_t *)(a + 2 * kPage), pattern(2 * kPage)); /* read: clean */
  *(volatile uint32_t *)(a + 5 * kPage) = 0xfeedf00d;                  /* written: dirty */
  KR_OK(vm_deallocate(mach_task_self(), a, kPages * kPage));
  ASSERT_EQ(wait_for(&pager.terminates, 1, 2000), 1);
  EXPECT_EQ(pager.returns, 1);
  int ret = -1, term = -1;
  for (int i = 0; i < pager.nlog; i++) {
    if (pager.log[i].id == 2207) ret = i;
    if (pager.log[i].id == 2201) term = i;
  }
  ASSERT(ret >= 0);
  EXPECT(ret < term);
  EXPECT_EQ(pager.log[ret].offset, 5 * kPage);
  EXPECT_EQ(pager.log[ret].length, kPage);
  EXPECT_EQ(pager.log[ret].word, 0xfeedf00d);
  EXPECT(pager.log[ret].dirty);
  destroy(mo);
}

TEST(data_unavailable_reads_zero) {
  mach_port_t mo = new_object(kUnavailable);
  vm_address_t a = map_object(mo, kPages * kPage);
  ASSERT(a != 0);
  EXPECT_EQ(*(volatile uint32_t *)(a + kPage + 12), 0);
  *(volatile uint32_t *)(a + kPage) = 7;
  EXPECT_EQ(*(volatile uint32_t *)(a + kPage), 7);
  KR_OK(vm_deallocate(mach_task_self(), a, kPages * kPage));
  destroy(mo);
}

TEST(data_error_fails_the_access) {
  mach_port_t mo = new_object(kError);
  vm_address_t a = map_object(mo, kPages * kPage);
  ASSERT(a != 0);
  EXPECT_EQ(kernel_reads(a), MACH_SEND_INVALID_DATA);
  EXPECT_EQ(pager.requests, 1);
  pager.behaviour = kCompute; /* the next access asks again */
  EXPECT_EQ(*(volatile uint32_t *)(a + 4), pattern(0));
  EXPECT_EQ(pager.requests, 2);
  KR_OK(vm_deallocate(mach_task_self(), a, kPages * kPage));
  destroy(mo);
}

TEST(silent_pager_fails_the_access_after_a_bound) {
  mach_port_t mo = new_object(kSilent);
  vm_address_t a = map_object(mo, kPages * kPage);
  ASSERT(a != 0);
  EXPECT_EQ(kernel_reads(a + 3 * kPage), MACH_SEND_INVALID_DATA);
  EXPECT_EQ(pager.requests, 1);
  KR_OK(vm_deallocate(mach_task_self(), a, kPages * kPage));
  destroy(mo);
}

TEST(lying_pager_wrong_offset_and_size) {
  mach_port_t mo = new_object(kWrongOffset);
  vm_address_t a = map_object(mo, 32 * kPage);
  ASSERT(a != 0);
  EXPECT_EQ(kernel_reads(a), MACH_SEND_INVALID_DATA);
  /* What it gave instead is taken as data for the page it named. */
  int before = pager.requests;
  EXPECT_EQ(*(volatile uint32_t *)(a + 8 * kPage), pattern(8 * kPage));
  EXPECT_EQ(pager.requests, before);
  pager.behaviour = kBadSize;
  EXPECT_EQ(kernel_reads(a + 2 * kPage), MACH_SEND_INVALID_DATA);
  KR_OK(vm_deallocate(mach_task_self(), a, 32 * kPage));
  destroy(mo);
}

static volatile int dying_result, dying_done;
static vm_address_t dying_addr;
static void dying_reader(long unused) {
  dying_result = kernel_reads(dying_addr);
  dying_done = 1;
  thread_exit();
}

TEST(pager_death_fails_waiting_access_at_once) {
  mach_port_t mo = new_object(kSilent);
  dying_addr = map_object(mo, kPages * kPage);
  ASSERT(dying_addr != 0);
  dying_done = 0;
  start_thread(dying_reader, 0);
  EXPECT_EQ(wait_for(&pager.requests, 1, 1000), 1);
  KR_OK(mach_port_mod_refs(mach_task_self(), mo, MACH_PORT_RIGHT_RECEIVE, -1)); /* dies */
  /* Well before the kernel's bound on an answer (10 s). */
  EXPECT_EQ(wait_for(&dying_done, 1, 500), 1);
  EXPECT_EQ(dying_result, MACH_SEND_INVALID_DATA);
  EXPECT_EQ(kernel_reads(dying_addr + kPage), MACH_SEND_INVALID_DATA);
  KR_OK(vm_deallocate(mach_task_self(), dying_addr, kPages * kPage));
  destroy(mo);
}

/* The child's thread: reads a page of the silent pager's object, then idles. */
static void silent_reader(long addr) {
  (void)*(volatile uint32_t *)addr;
  child_idle();
}

/* The kernel's clock in microseconds (0 if host_get_time fails). */
static uint64_t kernel_us(void) {
  time_value_t t;
  if (host_get_time(mach_host_self(), &t) != KERN_SUCCESS) return 0;
  return (uint64_t)t.seconds * 1000000 + (uint64_t)t.microseconds;
}

/* task_terminate of a child whose thread waits in a fault for a silent pager returns at once,
   not after the kernel's bound on the pager's answer (10 s). Timed by the kernel's clock: the
   TSC rate test_cycles would need is not known here. */
TEST(task_terminate_ends_a_fault_waiting_for_a_pager) {
  mach_port_t mo = new_object(kSilent);
  vm_address_t a = 0;
  KR_OK(vm_map(mach_task_self(), &a, kPages * kPage, 0, TRUE, mo, 0, FALSE,
               VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_SHARE));
  vm_address_t stack = alloc(kThreadStack);
  ASSERT(stack != 0);
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), TRUE, &child));
  thread_t t = start_thread_in(child, silent_reader, (long)(a + 2 * kPage), stack, kThreadStack);
  EXPECT_EQ(wait_for(&pager.requests, 1, 2000), 1);
  msleep(100); /* the child's thread is waiting in its fault by now */
  uint64_t start = kernel_us();
  EXPECT_EQ(task_terminate(child), KERN_SUCCESS);
  uint64_t took = kernel_us() - start;
  printf("task_terminate of a child waiting for a silent pager: %llu us\n",
         (unsigned long long)took);
  EXPECT(start != 0 && took < 5000000);
  EXPECT_EQ(ptype(child), MACH_PORT_TYPE_DEAD_NAME);
  mach_port_deallocate(mach_task_self(), child);
  mach_port_deallocate(mach_task_self(), t);
  KR_OK(vm_deallocate(mach_task_self(), stack, kThreadStack));
  KR_OK(vm_deallocate(mach_task_self(), a, kPages * kPage));
  destroy(mo);
}

TEST(flooding_pager_is_survived) {
  mach_port_t mo = new_object(kFlood);
  vm_address_t a = map_object(mo, 512 * kPage);
  ASSERT(a != 0);
  EXPECT_EQ(*(volatile uint32_t *)(a + 7 * kPage), pattern(7 * kPage));
  EXPECT_EQ(*(volatile uint32_t *)(a + 200 * kPage), pattern(200 * kPage));
  EXPECT_EQ(pager.requests, 1);
  KR_OK(vm_deallocate(mach_task_self(), a, 512 * kPage));
  EXPECT_EQ(wait_for(&pager.terminates, 1, 2000), 1);
  destroy(mo);
}

TEST(lock_request_cleans_and_flushes) {
  mach_port_t mo = new_object(kCompute);
  vm_address_t a = map_object(mo, kPages * kPage);
  ASSERT(a != 0);
  *(volatile uint32_t *)(a + kPage) = 0xc0ffee;
  EXPECT_EQ(*(volatile uint32_t *)(a + 2 * kPage), pattern(2 * kPage));
  ASSERT(pager.control != MACH_PORT_NULL);
  mach_port_t reply = receive_and_send();
  mach_port_move_member(mach_task_self(), reply, pager_set);
  int req = pager.requests;
  KR_OK(memory_object_lock_request(pager.control, 0, kPages * kPage, MEMORY_OBJECT_RETURN_DIRTY,
                                   TRUE, VM_PROT_NONE, reply));
  EXPECT_EQ(wait_for(&pager.lock_dones, 1, 2000), 1);
  EXPECT_EQ(pager.returns, 1); /* only the written page */
  for (int i = 0; i < pager.nlog; i++)
    if (pager.log[i].id == 2207) {
      EXPECT_EQ(pager.log[i].offset, kPage);
      EXPECT_EQ(pager.log[i].word, 0xc0ffee);
    }
  /* Flushed: the next access asks the pager again (read-ahead may bring the next page). */
  EXPECT_EQ(*(volatile uint32_t *)(a + kPage), pattern(kPage));
  EXPECT_EQ(*(volatile uint32_t *)(a + 2 * kPage), pattern(2 * kPage));
  EXPECT(pager.requests > req);
  KR_OK(vm_deallocate(mach_task_self(), a, kPages * kPage));
  destroy(reply);
  destroy(mo);
}

TEST(vm_map_of_bad_ports) {
  vm_address_t a = 0;
  task_t self = mach_task_self();
  /* As GNU Mach: a dead memory object port maps anonymous memory. */
  KR_OK(vm_map(self, &a, kPage, 0, TRUE, MACH_PORT_DEAD, 0, FALSE, VM_PROT_READ, VM_PROT_ALL,
               VM_INHERIT_NONE));
  EXPECT_EQ(*(volatile uint32_t *)a, 0);
  KR_OK(vm_deallocate(self, a, kPage));
  mach_port_t r = receive_right(); /* no send right */
  EXPECT(vm_map(self, &a, kPage, 0, TRUE, r, 0, FALSE, VM_PROT_READ, VM_PROT_ALL,
                VM_INHERIT_NONE) != KERN_SUCCESS);
  destroy(r);
  mach_port_t mo = new_object(kCompute);
  EXPECT_EQ(vm_map(self, &a, kPage, 0, TRUE, mo, 1, FALSE, VM_PROT_READ, VM_PROT_ALL,
                   VM_INHERIT_NONE), KERN_INVALID_ARGUMENT); /* unaligned offset */
  destroy(mo);
}

/* Objects mapped, faulted (by a good and by a silent pager), written and unmapped leave no
   kernel object behind once terminated: ports, messages, VM objects, entries, copies. */
TEST(pager_objects_leave_nothing_behind) {
  mach_port_t mo = new_object(kCompute);
  vm_address_t warm = map_object(mo, 4 * kPage); /* the pager thread's first use */
  EXPECT_EQ(*(volatile uint32_t *)warm, pattern(0));
  KR_OK(vm_deallocate(mach_task_self(), warm, 4 * kPage));
  EXPECT_EQ(wait_for(&pager.terminates, 1, 2000), 1);
  struct mica_kernel_counters before = counters();
  for (int round = 0; round < 10; round++) {
    pager.behaviour = round == 5 ? kSilent : kCompute;
    vm_address_t a = map_object(mo, 64 * kPage);
    ASSERT(a != 0);
    if (round == 5) {
      EXPECT_EQ(kernel_reads(a), MACH_SEND_INVALID_DATA);
    } else {
      for (int i = 0; i < 64; i++) EXPECT_EQ(*(volatile uint32_t *)(a + i * kPage), pattern(i * kPage));
      *(volatile uint32_t *)(a + 3 * kPage) = round; /* dirty: returned at the end */
    }
    KR_OK(vm_deallocate(mach_task_self(), a, 64 * kPage));
    EXPECT_EQ(wait_for(&pager.terminates, round + 2, 2000), round + 2);
  }
  msleep(50);
  struct mica_kernel_counters after = counters();
  EXPECT_EQ(after.ports, before.ports);
  EXPECT_EQ(after.kmsgs, before.kmsgs);
  EXPECT_EQ(after.vm_copies, before.vm_copies);
  EXPECT_EQ(after.vm_map_entries, before.vm_map_entries);
  /* The pager rewrites its supply buffer after each copy-in of it: the shadow object that
     makes may stay until its next fault, when its backing object's lock was busy at the
     copy's end (vm_object_collapse_chain). Ten rounds leak nothing beyond that one. */
  EXPECT(after.vm_objects <= before.vm_objects + 1);
  destroy(mo);
}

static mach_port_t host_priv;  /* argv[1], the boot script's ${host-port} */

TEST(default_memory_manager_set_and_query) {
  ASSERT(host_priv != MACH_PORT_NULL);
  mach_port_t m = MACH_PORT_NULL;
  KR_OK(vm_set_default_memory_manager(host_priv, &m));
  EXPECT_EQ(m, MACH_PORT_NULL); /* none registered at boot here */
  mach_port_t a = receive_right(), b = receive_right();
  m = a;
  KR_OK(vm_set_default_memory_manager(host_priv, &m));
  EXPECT_EQ(m, MACH_PORT_NULL); /* the previous one */
  m = MACH_PORT_NULL;
  KR_OK(vm_set_default_memory_manager(host_priv, &m));
  EXPECT_EQ(m, a); /* a copy of the current one's right */
  EXPECT_EQ(urefs(a, MACH_PORT_RIGHT_SEND), 1);
  m = b;
  KR_OK(vm_set_default_memory_manager(host_priv, &m));
  EXPECT_EQ(m, a);
  EXPECT_EQ(urefs(a, MACH_PORT_RIGHT_SEND), 2);
  m = MACH_PORT_NULL;
  EXPECT_EQ(vm_set_default_memory_manager(mach_task_self(), &m), KERN_INVALID_HOST);
  EXPECT_EQ(m, MACH_PORT_NULL);
}

int main(int argc, char **argv) {
  if (argc > 1) host_priv = (mach_port_t)strtoul(argv[1], NULL, 10);
  return test_main(argc, argv);
}

#endif  /* PAGERTEST_MACHINERY_ONLY */
