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
