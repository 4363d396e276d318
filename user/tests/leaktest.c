/* Leak tests (Mica only: they read the kernel's object counts through Mica's host_info flavour
   MICA_HOST_KERNEL_COUNTERS, include/mica/host_info.h). Each test does a batch of IPC and VM
   work, undoes it, and checks that every count (ports, sets, messages, tasks, threads, VM
   objects, entries, maps, copies) is back where it started. Bad input must leak nothing
   either. */
#include <mach.h>
#include <mach/mach_host.h>
#include <mach/notify.h>
#include <mica/host_info.h>
#include <stdio.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/mica_counters.h>
#include <test/test.h>


typedef struct {
  mach_msg_header_t head;
  mach_msg_type_t port_type;
  mach_port_t port;
  char port_pad[4];
  mach_msg_type_t ool_type;
  vm_address_t ool;
} rights_msg_t;

/* Queues on `dest` a message carrying a send right for `carried` and 3 pages out of line. */
static void send_rights(mach_port_t dest, mach_port_t carried, vm_address_t data) {
  rights_msg_t m;
  memset(&m, 0, sizeof m);
  m.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                     MACH_MSGH_BITS_COMPLEX;
  m.head.msgh_size = sizeof m;
  m.head.msgh_remote_port = dest;
  m.head.msgh_local_port = carried;
  m.port_type.msgt_name = MACH_MSG_TYPE_COPY_SEND;
  m.port_type.msgt_size = 64;
  m.port_type.msgt_number = 1;
  m.port_type.msgt_inline = 1;
  m.port = carried;
  m.ool_type.msgt_name = MACH_MSG_TYPE_BYTE;
  m.ool_type.msgt_size = 8;
  m.ool_type.msgt_number = 3 * vm_page_size;
  m.ool = data;
  EXPECT_EQ(mach_msg(&m.head, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
            MACH_MSG_SUCCESS);
}

static vm_address_t touched_pages(vm_size_t n) {
  vm_address_t a = 0;
  EXPECT_EQ(vm_allocate(mach_task_self(), &a, n * vm_page_size, TRUE), KERN_SUCCESS);
  for (vm_size_t i = 0; i < n; i++) ((volatile char *)a)[i * vm_page_size] = (char)i;
  return a;
}

/* The runtime's first calls allocate what it keeps (reply ports, malloc arenas): do them once
   before any baseline. */
TEST(warm_up) {
  struct mica_kernel_counters c = counters();
  EXPECT(c.ports > 0 && c.tasks > 0 && c.threads > 0 && c.free_pages > 0);
}

/* Queued messages with rights and out-of-line memory, destroyed with their ports. */
TEST(queued_messages_destroyed_with_port) {
  vm_address_t data = touched_pages(3);
  struct mica_kernel_counters before = counters();
  mach_port_t ports[16];
  for (int i = 0; i < 16; i++) ports[i] = receive_and_send();
  for (int i = 0; i < 16; i++) send_rights(ports[i], ports[(i + 1) % 16], data);
  struct mica_kernel_counters mid = counters();
  EXPECT_EQ(mid.ports, before.ports + 16);
  EXPECT(mid.kmsgs >= before.kmsgs + 16);
  EXPECT(mid.vm_copies >= before.vm_copies + 16);
  for (int i = 0; i < 16; i++) EXPECT_EQ(mach_port_destroy(mach_task_self(), ports[i]), KERN_SUCCESS);
  struct mica_kernel_counters after = counters();
  EXPECT_SAME_OBJECTS(before, after);
  vm_deallocate(mach_task_self(), data, 3 * vm_page_size);
}

/* A task killed while it holds receive rights with queued messages, send rights and a port
   set: everything goes, and our send rights to its ports become dead names. */
TEST(task_killed_holding_rights) {
  struct mica_kernel_counters before = counters();
  task_t child = MACH_PORT_NULL;
  ASSERT_EQ(task_create(mach_task_self(), FALSE, &child), KERN_SUCCESS);
  mach_port_t in_child[8], ours[8];
  for (int i = 0; i < 8; i++) {
    in_child[i] = MACH_PORT_NULL;
    EXPECT_EQ(mach_port_allocate(child, MACH_PORT_RIGHT_RECEIVE, &in_child[i]), KERN_SUCCESS);
    mach_msg_type_name_t type;
    EXPECT_EQ(mach_port_extract_right(child, in_child[i], MACH_MSG_TYPE_MAKE_SEND, &ours[i], &type),
              KERN_SUCCESS);
  }
  mach_port_t set = MACH_PORT_NULL;
  EXPECT_EQ(mach_port_allocate(child, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
  EXPECT_EQ(mach_port_move_member(child, in_child[0], set), KERN_SUCCESS);
  vm_address_t data = touched_pages(3);
  mach_port_t mine = receive_and_send();
  for (int i = 0; i < 8; i++) send_rights(ours[i], mine, data);
  EXPECT_EQ(task_terminate(child), KERN_SUCCESS);
  for (int i = 0; i < 8; i++) {
    mach_port_type_t t = 0;
    EXPECT_EQ(mach_port_type(mach_task_self(), ours[i], &t), KERN_SUCCESS);
    EXPECT_EQ(t, MACH_PORT_TYPE_DEAD_NAME);
    EXPECT_EQ(mach_port_deallocate(mach_task_self(), ours[i]), KERN_SUCCESS);
  }
  EXPECT_EQ(mach_port_deallocate(mach_task_self(), child), KERN_SUCCESS);
  EXPECT_EQ(mach_port_destroy(mach_task_self(), mine), KERN_SUCCESS);
  vm_deallocate(mach_task_self(), data, 3 * vm_page_size);
  struct mica_kernel_counters after = counters();
  EXPECT_SAME_OBJECTS(before, after);
}

/* Copy-on-write children, written and terminated, 100 times over. */
TEST(fork_cycles_leave_nothing) {
  vm_address_t data = touched_pages(64);
  struct mica_kernel_counters before = counters();
  for (int i = 0; i < 100; i++) {
    task_t child = MACH_PORT_NULL;
    if (task_create(mach_task_self(), TRUE, &child) != KERN_SUCCESS) {
      test_fail(__FILE__, __LINE__, "task_create failed at round %d", i);
      break;
    }
    /* Write into the parent's copy: a copy-on-write fault per page written. */
    for (vm_size_t p = 0; p < 64; p += 8) ((volatile char *)data)[p * vm_page_size] = (char)i;
    EXPECT_EQ(task_terminate(child), KERN_SUCCESS);
    EXPECT_EQ(mach_port_deallocate(mach_task_self(), child), KERN_SUCCESS);
  }
  struct mica_kernel_counters after = counters();
  EXPECT_SAME_OBJECTS(before, after);
  /* No more pages held than the data (and what zones keep) needs. */
  EXPECT(after.free_pages + 64 >= before.free_pages);
  vm_deallocate(mach_task_self(), data, 64 * vm_page_size);
}

/* The child's thread: it touches some of the inherited memory, then ends its own task. */
static volatile char *self_data;
static void self_terminating_child(long pages) {
  child_init();
  for (long i = 0; i < pages; i++) self_data[i * vm_page_size] = 1;
  task_terminate(mach_task_self());
  for (;;) child_idle();  /* not reached: the task ends on the way out of the call */
}

/* Children that end themselves with task_terminate(mach_task_self()) leave nothing either:
   not their memory, not the request that killed them, not their threads. */
TEST(self_terminating_children_leave_nothing) {
  vm_address_t data = alloc(16 * vm_page_size);
  self_data = (volatile char *)data;
  vm_address_t stack = alloc(kThreadStack);
  msleep(1);  /* msleep keeps a port of its own from its first call on */
  struct mica_kernel_counters before = counters();
  for (int i = 0; i < 20; i++) {
    task_t child = MACH_PORT_NULL;
    ASSERT_EQ(task_create(mach_task_self(), TRUE, &child), KERN_SUCCESS);
    mach_port_t previous = MACH_PORT_NULL, notify = receive_right();
    ASSERT_EQ(mach_port_request_notification(mach_task_self(), child, MACH_NOTIFY_DEAD_NAME, 0,
                                             notify, MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
              KERN_SUCCESS);
    thread_t thread = start_thread_in(child, self_terminating_child, 16, stack, kThreadStack);
    ASSERT_NE(thread, MACH_PORT_NULL);
    /* The child's death: its task port's dead-name notification. */
    struct {
      mach_msg_header_t head;
      char body[64];
    } n;
    EXPECT_EQ(mach_msg(&n.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof n, notify, 5000,
                       MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
    EXPECT_EQ(n.head.msgh_id, MACH_NOTIFY_DEAD_NAME);
    destroy(notify);
    /* The dead names: the task's (one reference from our right, one from the
       notification) and the thread's. */
    while (mach_port_deallocate(mach_task_self(), child) == KERN_SUCCESS) {
    }
    EXPECT_EQ(mach_port_deallocate(mach_task_self(), thread), KERN_SUCCESS);
  }
  msleep(50);
  struct mica_kernel_counters after = counters();
  EXPECT_SAME_OBJECTS(before, after);
  EXPECT(after.free_pages + 16 >= before.free_pages);
  vm_deallocate(mach_task_self(), stack, kThreadStack);
  vm_deallocate(mach_task_self(), data, 16 * vm_page_size);
}

/* Asks for a dead-name notification of `task`'s port on a new port, which is returned. */
static mach_port_t death_notification(task_t task) {
  mach_port_t previous = MACH_PORT_NULL, notify = receive_right();
  EXPECT_EQ(mach_port_request_notification(mach_task_self(), task, MACH_NOTIFY_DEAD_NAME, 0,
                                           notify, MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
            KERN_SUCCESS);
  return notify;
}

/* Waits (5 s at most) for the notification death_notification asked for, destroys its port
   and drops every reference to the task's dead name. */
static void await_death(mach_port_t notify, task_t task) {
  struct {
    mach_msg_header_t head;
    char body[64];
  } n;
  EXPECT_EQ(mach_msg(&n.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof n, notify, 5000,
                     MACH_PORT_NULL),
            MACH_MSG_SUCCESS);
  EXPECT_EQ(n.head.msgh_id, MACH_NOTIFY_DEAD_NAME);
  destroy(notify);
  while (mach_port_deallocate(mach_task_self(), task) == KERN_SUCCESS) {
  }
}

/* Children killed by a fault of their only thread (it starts at address 0), holding memory
   of their own, inherited or not, and a huge region. Whoever sees such a child dead (its port's
   dead-name notification) finds everything it held gone already: its map, its entries and
   objects, its thread. The fuzz found maps still there after the notification: the task's
   port died first and the map went later, with the task's last reference (the huge region
   makes the teardown slow enough to see every time). */
TEST(killed_child_gone_when_seen_dead) {
  msleep(1);
  struct mica_kernel_counters before = counters();
  for (int i = 0; i < 6; i++) {
    task_t child = MACH_PORT_NULL;
    ASSERT_EQ(task_create(mach_task_self(), i % 2, &child), KERN_SUCCESS);
    vm_address_t a = 0;
    EXPECT_EQ(vm_allocate(child, &a, 4 * vm_page_size, TRUE), KERN_SUCCESS);
    a = 0;
    EXPECT_EQ(vm_allocate(child, &a, 1ull << 44, TRUE), KERN_SUCCESS);
    thread_t thread = MACH_PORT_NULL;
    ASSERT_EQ(thread_create(child, &thread), KERN_SUCCESS);
    mach_port_t notify = death_notification(child);
    EXPECT_EQ(thread_resume(thread), KERN_SUCCESS);
    await_death(notify, child);
    EXPECT_EQ(mach_port_deallocate(mach_task_self(), thread), KERN_SUCCESS);
    struct mica_kernel_counters after = counters();
    EXPECT_SAME_OBJECTS(before, after);
  }
}

/* A child whose only thread is terminated before it ever ran: the thread goes without
   running, and with it the task (Mica ends a task with its last thread), at once. */
TEST(child_with_never_run_thread_leaves_nothing) {
  msleep(1);
  struct mica_kernel_counters before = counters();
  for (int i = 0; i < 20; i++) {
    task_t child = MACH_PORT_NULL;
    ASSERT_EQ(task_create(mach_task_self(), i % 2, &child), KERN_SUCCESS);
    thread_t thread = MACH_PORT_NULL;
    ASSERT_EQ(thread_create(child, &thread), KERN_SUCCESS);
    mach_port_t notify = death_notification(child);
    EXPECT_EQ(thread_terminate(thread), KERN_SUCCESS);
    EXPECT_EQ(ptype(thread), MACH_PORT_TYPE_DEAD_NAME);
    await_death(notify, child);
    EXPECT_EQ(mach_port_deallocate(mach_task_self(), thread), KERN_SUCCESS);
    struct mica_kernel_counters after = counters();
    EXPECT_SAME_OBJECTS(before, after);
  }
}

/* The threads of the child of task_terminate_frees_everything_before_it_returns. */
static volatile long *dying_shared; /* a page shared with the child */
static volatile char *dying_data;
static void dying_spinner(long pages) {
  for (long i = 0; i < pages; i++) dying_data[i * vm_page_size] = 2; /* its own copies */
  dying_shared[0] = 1;
  for (;;) { /* spins in user mode, never entering the kernel */
  }
}
static void dying_receiver(long unused) {
  (void)unused;
  child_init();
  mach_port_t p = mach_reply_port();
  dying_shared[1] = 1;
  mach_msg_header_t h;
  mach_msg(&h, MACH_RCV_MSG, 0, sizeof h, p, 0, MACH_PORT_NULL); /* no message comes */
  for (;;) {
  }
}

/* task_terminate returns once the task is gone, as on GNU Mach (whose task_terminate waits
   for the task's threads to go): its threads (one spinning in user mode, one blocked in
   mach_msg, one that never ran, all suspended), its map and the pages it wrote are freed by
   then, with nothing more to wait for. Before, the call returned at once and the threads had
   to get a CPU to end, while the caller kept it. */
TEST(task_terminate_frees_everything_before_it_returns) {
  enum { kPages = 64 };
  vm_address_t shared = alloc(vm_page_size);
  EXPECT_EQ(vm_inherit(mach_task_self(), shared, vm_page_size, VM_INHERIT_SHARE), KERN_SUCCESS);
  dying_shared = (volatile long *)shared;
  vm_address_t data = alloc(kPages * vm_page_size);
  for (long i = 0; i < kPages; i++) ((volatile char *)data)[i * vm_page_size] = 1;
  dying_data = (volatile char *)data;
  vm_address_t stacks = alloc(3 * kThreadStack);
  msleep(1);
  for (int round = 0; round < 4; round++) {
    dying_shared[0] = dying_shared[1] = 0;
    struct mica_kernel_counters before = counters();
    task_t child = MACH_PORT_NULL;
    ASSERT_EQ(task_create(mach_task_self(), TRUE, &child), KERN_SUCCESS);
    thread_t t[3];
    t[0] = start_thread_in(child, dying_spinner, kPages, stacks, kThreadStack);
    t[1] = start_thread_in(child, dying_receiver, 0, stacks + kThreadStack, kThreadStack);
    t[2] = create_thread_in(child, dying_spinner, 0, stacks + 2 * kThreadStack, kThreadStack);
    uint64_t start = test_cycles();
    while (!(dying_shared[0] && dying_shared[1]) &&
           test_cycles() - start < 5000 * TEST_CYCLES_PER_MS)
      msleep(1);
    EXPECT(dying_shared[0] && dying_shared[1]);
    if (round % 2) EXPECT_EQ(task_suspend(child), KERN_SUCCESS);
    struct mica_kernel_counters mid = counters();
    EXPECT_EQ(mid.threads, before.threads + 3);
    EXPECT(mid.free_pages + kPages <= before.free_pages);
    EXPECT_EQ(task_terminate(child), KERN_SUCCESS);
    /* At once: only the ports our dead names keep are still there. */
    struct mica_kernel_counters after = counters();
    EXPECT_EQ(after.tasks, before.tasks);
    EXPECT_EQ(after.threads, before.threads);
    EXPECT_EQ(after.vm_maps, before.vm_maps);
    EXPECT_EQ(after.vm_map_entries, before.vm_map_entries);
    EXPECT_EQ(after.vm_objects, before.vm_objects);
    EXPECT_EQ(after.kmsgs, before.kmsgs);
    /* Pages: the child's copies are back; zones may keep a few. */
    EXPECT_GE(after.free_pages + 8, before.free_pages);
    EXPECT_EQ(ptype(child), MACH_PORT_TYPE_DEAD_NAME);
    EXPECT_EQ(mach_port_deallocate(mach_task_self(), child), KERN_SUCCESS);
    for (int i = 0; i < 3; i++) {
      EXPECT_EQ(ptype(t[i]), MACH_PORT_TYPE_DEAD_NAME);
      EXPECT_EQ(mach_port_deallocate(mach_task_self(), t[i]), KERN_SUCCESS);
    }
    after = counters();
    EXPECT_SAME_OBJECTS(before, after);
  }
  vm_deallocate(mach_task_self(), stacks, 3 * kThreadStack);
  vm_deallocate(mach_task_self(), data, kPages * vm_page_size);
  vm_deallocate(mach_task_self(), shared, vm_page_size);
}

/* Bad messages and calls leak nothing. */
TEST(bad_input_leaks_nothing) {
  struct mica_kernel_counters before = counters();
  mach_port_t p = receive_and_send();
  rights_msg_t m;
  for (int i = 0; i < 50; i++) {
    memset(&m, 0, sizeof m);
    m.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.head.msgh_size = sizeof m;
    m.head.msgh_remote_port = p;
    m.port_type.msgt_name = MACH_MSG_TYPE_MOVE_SEND;
    m.port_type.msgt_size = 64;
    m.port_type.msgt_number = 1;
    m.port_type.msgt_inline = 1;
    m.port = 0x7777 + i;  /* no such name */
    EXPECT_EQ(mach_msg(&m.head, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
              MACH_SEND_INVALID_RIGHT);
    m.port = MACH_PORT_NULL;
    m.ool_type.msgt_name = MACH_MSG_TYPE_BYTE;
    m.ool_type.msgt_size = 8;
    m.ool_type.msgt_number = 8192;
    m.ool = 0x7ff000000000ul;  /* unmapped */
    EXPECT_EQ(mach_msg(&m.head, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
              MACH_SEND_INVALID_MEMORY);
    EXPECT_EQ(mach_msg(&m.head, MACH_SEND_MSG, 12, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
              MACH_SEND_MSG_TOO_SMALL);
    /* A VM call on a thread's port: refused, as on GNU Mach. */
    thread_t self = mach_thread_self();
    vm_address_t a = 0;
    EXPECT_EQ(vm_allocate(self, &a, vm_page_size, TRUE), KERN_INVALID_ARGUMENT);
    EXPECT_EQ(mach_port_deallocate(mach_task_self(), self), KERN_SUCCESS);
  }
  EXPECT_EQ(mach_port_destroy(mach_task_self(), p), KERN_SUCCESS);
  struct mica_kernel_counters after = counters();
  EXPECT_SAME_OBJECTS(before, after);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
