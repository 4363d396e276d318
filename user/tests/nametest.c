/* Tests of the bootstrap (name) server (user/servers/bootstrap.c, include/mica/bootstrap.defs)
   and of cthreads (user/lib/cthreads). Mica only: the boot needs the bootstrap server as a
   module marked $(bootstrap-server), a word GNU Mach's boot script does not have
   (tests/system/CMakeLists.txt, configuration `names`). Apart from that, only the Mach ABI:
   <mach/...>, MIG stubs and mach_msg.

   Service names start with "nametest." and are used once each: the server lives as long as
   the boot, so a name registered by one test is still there in the next. */
#include <cthreads/cthreads.h>
#include <mach.h>
#include <mach/notify.h>
#include <mach/task_special_ports.h>
#include <mach/vm_inherit.h>
#include <bootstrap.user.h>
#include <mica/bootstrap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/test.h>

/* --- Helpers --- */

static mach_port_t bootstrap(void) {
  mach_port_t bs = MACH_PORT_NULL;
  if (task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &bs) != KERN_SUCCESS)
    return MACH_PORT_NULL;
  return bs;
}

/* Sends a header-only message with id to port (a send right: copied). */
static mach_msg_return_t send_id(mach_port_t port, mach_msg_id_t id) {
  mach_msg_header_t h;
  memset(&h, 0, sizeof h);
  h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
  h.msgh_size = sizeof h;
  h.msgh_remote_port = port;
  h.msgh_id = id;
  return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 1000,
                  MACH_PORT_NULL);
}

/* Receives a header-only message on port within ms; its id, or -1. */
static mach_msg_id_t receive_id(mach_port_t port, mach_msg_timeout_t ms) {
  union {
    mach_msg_header_t h;
    char buf[256];
  } m;
  memset(&m, 0, sizeof m);
  mach_msg_return_t mr =
      mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, port, ms, MACH_PORT_NULL);
  return mr == MACH_MSG_SUCCESS ? m.h.msgh_id : -1;
}

static kern_return_t look_up(const char *name, mach_port_t *port) {
  *port = MACH_PORT_NULL;
  return bootstrap_look_up(bootstrap(), name, port);
}

/* --- The bootstrap port --- */

TEST(bootstrap_port_exists) {
  mach_port_t bs = bootstrap();
  ASSERT(MACH_PORT_VALID(bs));
  EXPECT_EQ(ptype(bs), MACH_PORT_TYPE_SEND);
  // The same port each time: one name per port.
  EXPECT_EQ(bootstrap(), bs);
}

TEST(register_and_look_up) {
  mach_port_t p = receive_and_send();
  KR_OK(bootstrap_register(bootstrap(), "nametest.register", p));
  mach_port_t found = MACH_PORT_NULL;
  KR_OK(look_up("nametest.register", &found));
  // The server's copy of our send right comes back under our name for the port.
  EXPECT_EQ(found, p);
  EXPECT_EQ(send_id(found, 4242), MACH_MSG_SUCCESS);
  EXPECT_EQ(receive_id(p, 1000), 4242);
}

/* check_in's port, used by a cthread through look_up. */
static void *checked_in_sender(void *arg) {
  (void)arg;
  mach_port_t found = MACH_PORT_NULL;
  kern_return_t kr = look_up("nametest.check_in", &found);
  if (kr != KERN_SUCCESS)
    return (void *)(long)kr;
  return (void *)(long)send_id(found, 4343);
}

TEST(check_in_gives_receive_right) {
  mach_port_t p = MACH_PORT_NULL;
  KR_OK(bootstrap_check_in(bootstrap(), "nametest.check_in", &p));
  ASSERT(MACH_PORT_VALID(p));
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_RECEIVE);
  cthread_t t = cthread_fork(checked_in_sender, NULL);
  ASSERT(t != NULL);
  EXPECT_EQ((long)cthread_join(t), KERN_SUCCESS);
  EXPECT_EQ(receive_id(p, 2000), 4343);
  // Looking it up here: the send right joins our receive right under the same name.
  mach_port_t found = MACH_PORT_NULL;
  KR_OK(look_up("nametest.check_in", &found));
  EXPECT_EQ(found, p);
  EXPECT_EQ(ptype(p), MACH_PORT_TYPE_SEND_RECEIVE);
  // The server's send right counts as a sender.
  mach_port_status_t st;
  KR_OK(mach_port_get_receive_status(mach_task_self(), p, &st));
  EXPECT_GE(st.mps_srights, 1);
}

TEST(duplicate_name_refused) {
  mach_port_t p = receive_and_send();
  mach_port_t q = receive_and_send();
  KR_OK(bootstrap_register(bootstrap(), "nametest.duplicate", p));
  EXPECT_EQ(bootstrap_register(bootstrap(), "nametest.duplicate", q), KERN_NAME_EXISTS);
  EXPECT_EQ(bootstrap_register(bootstrap(), "nametest.duplicate", p), KERN_NAME_EXISTS);
  mach_port_t r = MACH_PORT_NULL;
  EXPECT_EQ(bootstrap_check_in(bootstrap(), "nametest.duplicate", &r), KERN_NAME_EXISTS);
  EXPECT_EQ(r, MACH_PORT_NULL);
  // The name still means the first port.
  mach_port_t found = MACH_PORT_NULL;
  KR_OK(look_up("nametest.duplicate", &found));
  EXPECT_EQ(found, p);
  // The refused request's send right was released before the answer: without our own,
  // q has no send right left.
  KR_OK(mach_port_mod_refs(mach_task_self(), q, MACH_PORT_RIGHT_SEND, -1));
  mach_port_status_t st;
  KR_OK(mach_port_get_receive_status(mach_task_self(), q, &st));
  EXPECT_EQ(st.mps_srights, FALSE);
  destroy(q);
}

TEST(unknown_name_refused) {
  mach_port_t found = 99;
  EXPECT_EQ(look_up("nametest.no_such_service", &found), KERN_INVALID_NAME);
  EXPECT_EQ(found, MACH_PORT_NULL);
  EXPECT_EQ(BOOTSTRAP_UNKNOWN_SERVICE, KERN_INVALID_NAME);
}

TEST(bad_requests_refused) {
  EXPECT_EQ(bootstrap_register(bootstrap(), "", receive_and_send()), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(bootstrap_register(bootstrap(), "nametest.null", MACH_PORT_NULL),
            KERN_INVALID_RIGHT);
  mach_port_t found = MACH_PORT_NULL;
  EXPECT_EQ(look_up("", &found), KERN_INVALID_ARGUMENT);
  // A name too long is cut to 127 characters by the stub, and found so.
  char long_name[300];
  memset(long_name, 'x', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  memcpy(long_name, "nametest.", 9);
  mach_port_t p = receive_and_send();
  KR_OK(bootstrap_register(bootstrap(), long_name, p));
  long_name[127] = '\0';
  KR_OK(look_up(long_name, &found));
  EXPECT_EQ(found, p);
}

TEST(destroyed_service_dropped) {
  mach_port_t p = receive_and_send();
  KR_OK(bootstrap_register(bootstrap(), "nametest.destroyed", p));
  destroy(p);
  mach_port_t found = MACH_PORT_NULL;
  EXPECT(WAIT_UNTIL(look_up("nametest.destroyed", &found) == KERN_INVALID_NAME, 5000));
  // The dead-name notification frees the name for a new service.
  mach_port_t q = receive_and_send();
  EXPECT(WAIT_UNTIL(bootstrap_register(bootstrap(), "nametest.destroyed", q) == KERN_SUCCESS,
                    5000));
  KR_OK(look_up("nametest.destroyed", &found));
  EXPECT_EQ(found, q);
}

/* --- A service whose task dies --- */

enum { kPage = 4096, kChildStack = 64 * 1024 };

struct child_report {
  volatile int phase;  // 1: checked in
  volatile kern_return_t bootstrap_kr;
  volatile kern_return_t check_in_kr;
  volatile mach_port_t service;
};

/* Runs in the child task (inherited memory; the report page is shared). The copied
   mach_task_self_ and MIG reply-port table are the parent's, so child_init first. */
static void __attribute__((noreturn)) child_check_in(long arg) {
  struct child_report *r = (struct child_report *)arg;
  child_init();
  mach_port_t bs = MACH_PORT_NULL;
  r->bootstrap_kr = task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &bs);
  mach_port_t service = MACH_PORT_NULL;
  r->check_in_kr = bootstrap_check_in(bs, "nametest.child_service", &service);
  r->service = service;
  __atomic_store_n(&r->phase, 1, __ATOMIC_RELEASE);
  for (;;) {  // serve (and drop) whatever comes, until the task is terminated
    union {
      mach_msg_header_t h;
      char buf[256];
    } m;
    mach_msg(&m.h, MACH_RCV_MSG, 0, sizeof m, service, 0, MACH_PORT_NULL);
  }
}

TEST(dead_task_service_dropped) {
  vm_address_t shared = 0, stack = 0;
  KR_OK(vm_allocate(mach_task_self(), &shared, kPage, TRUE));
  KR_OK(vm_allocate(mach_task_self(), &stack, kChildStack, TRUE));
  KR_OK(vm_inherit(mach_task_self(), shared, kPage, VM_INHERIT_SHARE));
  struct child_report *r = (struct child_report *)shared;
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), TRUE, &child));
  thread_t thread = start_thread_in(child, child_check_in, (long)shared, stack, kChildStack);
  EXPECT_NE(thread, MACH_PORT_NULL);

  if (thread != MACH_PORT_NULL) {
    EXPECT(WAIT_UNTIL(__atomic_load_n(&r->phase, __ATOMIC_ACQUIRE) == 1, 5000));
    EXPECT_EQ(r->bootstrap_kr, KERN_SUCCESS);
    EXPECT_EQ(r->check_in_kr, KERN_SUCCESS);
    mach_port_t found = MACH_PORT_NULL;
    EXPECT_EQ(look_up("nametest.child_service", &found), KERN_SUCCESS);
    EXPECT(MACH_PORT_VALID(found));
    if (MACH_PORT_VALID(found))
      EXPECT_EQ(send_id(found, 4444), MACH_MSG_SUCCESS);  // the child is alive to receive

    KR_OK(task_terminate(child));
    // The child's receive right died with it: the server drops the name.
    mach_port_t again = MACH_PORT_NULL;
    EXPECT(WAIT_UNTIL(look_up("nametest.child_service", &again) == KERN_INVALID_NAME, 5000));
    EXPECT_EQ(again, MACH_PORT_NULL);
    if (MACH_PORT_VALID(found))
      EXPECT_EQ(ptype(found), MACH_PORT_TYPE_DEAD_NAME);
    destroy(found);
    // And, once the notification is served, the name is free again.
    mach_port_t p = receive_and_send();
    EXPECT(WAIT_UNTIL(
        bootstrap_register(bootstrap(), "nametest.child_service", p) == KERN_SUCCESS, 5000));
  } else {
    task_terminate(child);
  }
  destroy(thread);
  destroy(child);
  vm_deallocate(mach_task_self(), stack, kChildStack);
  vm_deallocate(mach_task_self(), shared, kPage);
}

TEST(child_inherits_bootstrap_port) {
  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), FALSE, &child));
  mach_port_t theirs = MACH_PORT_NULL;
  EXPECT_EQ(task_get_special_port(child, TASK_BOOTSTRAP_PORT, &theirs), KERN_SUCCESS);
  // The same port as ours, so the same name in our space.
  EXPECT_EQ(theirs, bootstrap());
  KR_OK(task_terminate(child));
  destroy(child);
}

/* --- cthreads --- */

static void *times_two(void *arg) { return (void *)((long)arg * 2); }

TEST(cthread_fork_join_values) {
  cthread_t t[6];
  for (long i = 0; i < 6; i++) {
    t[i] = cthread_fork(times_two, (void *)(i + 1));
    ASSERT(t[i] != NULL);
  }
  for (long i = 5; i >= 0; i--)
    EXPECT_EQ((long)cthread_join(t[i]), 2 * (i + 1));
}

/* Calls cthread_exit a few frames down. */
static long __attribute__((noinline)) exit_deep(long depth) {
  if (depth == 0)
    cthread_exit((void *)4711);
  if (depth < 0)
    return 0;
  return exit_deep(depth - 1) + 1;  // not a tail call
}

static void *exits_early(void *arg) { return (void *)exit_deep((long)arg); }

TEST(cthread_exit_value) {
  cthread_t t = cthread_fork(exits_early, (void *)5);
  ASSERT(t != NULL);
  EXPECT_EQ((long)cthread_join(t), 4711);
}

static volatile int quick_done;

static void *quick(void *arg) {
  quick_done = 1;
  return arg;
}

TEST(cthread_join_after_end) {
  quick_done = 0;
  cthread_t t = cthread_fork(quick, (void *)77);
  ASSERT(t != NULL);
  EXPECT(WAIT_UNTIL(quick_done, 2000));
  msleep(20);  // long gone by now
  EXPECT_EQ((long)cthread_join(t), 77);
}

enum { kCounterThreads = 8, kIncrements = 10000 };
static struct mutex counter_lock = MUTEX_INITIALIZER;
static volatile long counter;

static void *increment(void *arg) {
  (void)arg;
  for (int i = 0; i < kIncrements; i++) {
    mutex_lock(&counter_lock);
    long v = counter;  // a read and a write: lost updates without the lock
    if ((i & 255) == 0)
      cthread_yield();  // now and then, with the lock held
    counter = v + 1;
    mutex_unlock(&counter_lock);
  }
  return NULL;
}

TEST(cthread_mutex_counter) {
  counter = 0;
  mutex_init(&counter_lock);
  cthread_t t[kCounterThreads];
  for (int i = 0; i < kCounterThreads; i++) {
    t[i] = cthread_fork(increment, NULL);
    ASSERT(t[i] != NULL);
  }
  for (int i = 0; i < kCounterThreads; i++)
    cthread_join(t[i]);
  EXPECT_EQ(counter, (long)kCounterThreads * kIncrements);
}

static void *try_lock_other(void *arg) { return (void *)(long)mutex_try_lock((mutex_t)arg); }

TEST(cthread_mutex_try_lock) {
  mutex_t m = mutex_alloc();
  ASSERT(m != NULL);
  EXPECT(mutex_try_lock(m));
  EXPECT(!mutex_try_lock(m));
  cthread_t t = cthread_fork(try_lock_other, m);
  ASSERT(t != NULL);
  EXPECT_EQ((long)cthread_join(t), 0);  // held by us
  mutex_unlock(m);
  t = cthread_fork(try_lock_other, m);
  ASSERT(t != NULL);
  EXPECT_EQ((long)cthread_join(t), 1);  // free: the other thread took it
  EXPECT(!mutex_try_lock(m));
  mutex_unlock(m);
  mutex_free(m);
}

/* A bounded buffer: producers put 1..kItems each, consumers take until they see 0. */
enum { kSlots = 4, kItems = 2000, kProducers = 2, kConsumers = 3 };
static struct {
  struct mutex lock;
  struct condition not_full, not_empty;
  long items[kSlots];
  int head, count;
} buf;

static void put(long v) {
  mutex_lock(&buf.lock);
  while (buf.count == kSlots)
    condition_wait(&buf.not_full, &buf.lock);
  buf.items[(buf.head + buf.count) % kSlots] = v;
  buf.count++;
  condition_signal(&buf.not_empty);
  mutex_unlock(&buf.lock);
}

static long take(void) {
  mutex_lock(&buf.lock);
  while (buf.count == 0)
    condition_wait(&buf.not_empty, &buf.lock);
  long v = buf.items[buf.head];
  buf.head = (buf.head + 1) % kSlots;
  buf.count--;
  condition_signal(&buf.not_full);
  mutex_unlock(&buf.lock);
  return v;
}

static void *producer(void *arg) {
  (void)arg;
  for (long i = 1; i <= kItems; i++)
    put(i);
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  long sum = 0;
  for (long v; (v = take()) != 0;)
    sum += v;
  return (void *)sum;
}

TEST(cthread_condition_producer_consumer) {
  memset(&buf, 0, sizeof buf);
  mutex_init(&buf.lock);
  condition_init(&buf.not_full);
  condition_init(&buf.not_empty);
  cthread_t p[kProducers], c[kConsumers];
  for (int i = 0; i < kConsumers; i++)
    ASSERT((c[i] = cthread_fork(consumer, NULL)) != NULL);
  for (int i = 0; i < kProducers; i++)
    ASSERT((p[i] = cthread_fork(producer, NULL)) != NULL);
  for (int i = 0; i < kProducers; i++)
    cthread_join(p[i]);
  for (int i = 0; i < kConsumers; i++)
    put(0);  // one end mark for each consumer
  long total = 0;
  for (int i = 0; i < kConsumers; i++)
    total += (long)cthread_join(c[i]);
  EXPECT_EQ(total, (long)kProducers * kItems * (kItems + 1) / 2);
  EXPECT_EQ(buf.count, 0);
}

/* Broadcast wakes every waiter. */
static struct {
  struct mutex lock;
  struct condition go;
  int open, waiting, through;
} gate;

static void *gate_waiter(void *arg) {
  (void)arg;
  mutex_lock(&gate.lock);
  gate.waiting++;
  while (!gate.open)
    condition_wait(&gate.go, &gate.lock);
  gate.through++;
  mutex_unlock(&gate.lock);
  return NULL;
}

TEST(cthread_condition_broadcast) {
  memset(&gate, 0, sizeof gate);
  mutex_init(&gate.lock);
  condition_init(&gate.go);
  cthread_t t[5];
  for (int i = 0; i < 5; i++)
    ASSERT((t[i] = cthread_fork(gate_waiter, NULL)) != NULL);
  EXPECT(WAIT_UNTIL(__atomic_load_n(&gate.waiting, __ATOMIC_ACQUIRE) == 5, 5000));
  msleep(10);
  mutex_lock(&gate.lock);
  EXPECT_EQ(gate.through, 0);
  gate.open = 1;
  condition_broadcast(&gate.go);
  mutex_unlock(&gate.lock);
  for (int i = 0; i < 5; i++)
    cthread_join(t[i]);
  EXPECT_EQ(gate.through, 5);
}

/* The number of threads in our task, or -1. */
static long thread_count(void) {
  thread_array_t threads = NULL;
  mach_msg_type_number_t n = 0;
  if (task_threads(mach_task_self(), &threads, &n) != KERN_SUCCESS)
    return -1;
  for (mach_msg_type_number_t i = 0; i < n; i++)
    mach_port_deallocate(mach_task_self(), threads[i]);
  vm_deallocate(mach_task_self(), (vm_address_t)threads, n * sizeof threads[0]);
  return (long)n;
}

static volatile int detached_ran;

static void *detached_body(void *arg) {
  (void)arg;
  msleep(10);
  detached_ran = 1;
  return NULL;
}

TEST(cthread_detach) {
  long before = thread_count();
  ASSERT_GE(before, 1);
  detached_ran = 0;
  cthread_t t = cthread_fork(detached_body, NULL);
  ASSERT(t != NULL);
  cthread_detach(t);
  EXPECT(WAIT_UNTIL(detached_ran, 5000));
  // The kernel thread ends by itself; nobody joins it.
  EXPECT(WAIT_UNTIL(thread_count() == before, 5000));
  // Later forks free what it left (and work as usual).
  cthread_t u = cthread_fork(times_two, (void *)21);
  ASSERT(u != NULL);
  EXPECT_EQ((long)cthread_join(u), 42);
  EXPECT_EQ(thread_count(), before);
}

enum { kSelfThreads = 8 };
static cthread_t seen_self[kSelfThreads];

static void *record_self(void *arg) {
  long i = (long)arg;
  seen_self[i] = cthread_self();
  cthread_set_data(cthread_self(), (void *)(i + 100));
  cthread_yield();
  // Still the same after a switch, and so is its data.
  if (cthread_self() != seen_self[i] || (long)cthread_data(cthread_self()) != i + 100)
    return (void *)0;
  return (void *)1;
}

TEST(cthread_self_distinct) {
  cthread_t main_self = cthread_self();
  ASSERT(main_self != NULL);
  EXPECT_EQ(cthread_self(), main_self);
  cthread_t t[kSelfThreads];
  memset(seen_self, 0, sizeof seen_self);
  for (long i = 0; i < kSelfThreads; i++)
    ASSERT((t[i] = cthread_fork(record_self, (void *)i)) != NULL);
  for (int i = 0; i < kSelfThreads; i++)
    EXPECT_EQ(cthread_self(), main_self);
  // Each thread's self is the handle cthread_fork returned, distinct from the others.
  for (int i = 0; i < kSelfThreads; i++) {
    EXPECT(WAIT_UNTIL(seen_self[i] != NULL, 5000));
    EXPECT(seen_self[i] == t[i]);
    EXPECT(seen_self[i] != main_self);
    for (int j = 0; j < i; j++)
      EXPECT(seen_self[i] != seen_self[j]);
  }
  for (int i = 0; i < kSelfThreads; i++)
    EXPECT_EQ((long)cthread_join(t[i]), 1);
  EXPECT_EQ(cthread_self(), main_self);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
