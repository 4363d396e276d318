/* C threads over Mach threads (cthreads.h).

   A cthread is a kernel thread of the task and this record, which its FS base points at
   (i386_FSGS_BASE_STATE), so cthread_self is one load from %fs:0.

   Ending and joining: before a cthread is resumed, the task asks for a dead-name
   notification on the thread's port, sent to the cthread's exit port. The notification
   comes once the kernel has destroyed the thread, so whoever receives it knows the thread
   no longer runs on its stack and may free it. (An "I am done" message sent by the thread
   itself would come while it still ran on that stack.) cthread_join waits on the exit port;
   detached cthreads are polled and freed by later cthread_fork and cthread_detach calls. */
#include <cthreads/cthreads.h>
#include <mach.h>
#include <mach/notify.h>
#include <mach/thread_status.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { kStackSize = 64 * 1024 };

struct cthread {
  struct cthread *self;  // at offset 0: %fs:0
  thread_t kthread;      // our send right to the kernel thread (becomes a dead name)
  cthread_fn_t func;
  void *arg;
  void *result;
  void *data;
  vm_address_t stack;
  mach_port_t exit_port;    // receive right: the thread's dead-name notification
  mach_port_t wake_port;    // receive right, made on first condition_wait
  mach_port_t reply_port;   // the thread's MIG reply port, freed with it
  struct cthread *next;     // in a condition's waiters, or in the detached list
};

/* --- Spin locks: a few spins, then yield, as Mach 3's cthreads' spin_lock did. --- */

static void spin_lock(int *lock) {
  unsigned spins = 0;
  while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
    while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
      if (++spins < 64)
        __builtin_ia32_pause();
      else
        swtch_pri(0);
    }
  }
}

static bool spin_try_lock(int *lock) { return !__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE); }

static void spin_unlock(int *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

/* --- The main thread and cthread_self. --- */

static struct cthread main_cthread;
static bool initialized;

static kern_return_t set_fs_base(thread_t thread, struct cthread *ct) {
  struct i386_fsgs_base_state st = {.fs_base = (unsigned long)(uintptr_t)ct, .gs_base = 0};
  return thread_set_state(thread, i386_FSGS_BASE_STATE, (thread_state_t)&st,
                          i386_FSGS_BASE_STATE_COUNT);
}

/* Makes the main thread a cthread. Runs as a constructor (it uses the traps and the
   thread_set_state stub, nothing that mach_init sets up), so any thread sees it done. */
__attribute__((constructor)) static void cthread_init(void) {
  if (initialized)
    return;
  main_cthread.self = &main_cthread;
  main_cthread.kthread = (mach_thread_self)();
  if (set_fs_base(main_cthread.kthread, &main_cthread) == KERN_SUCCESS)
    initialized = true;
}

cthread_t cthread_self(void) {
  if (!initialized)
    cthread_init();
  struct cthread *self;
  __asm__ volatile("movq %%fs:0, %0" : "=r"(self));
  return self;
}

thread_t cthread_kernel_thread(cthread_t t) { return t->kthread; }
void cthread_set_data(cthread_t t, void *data) { t->data = data; }
void *cthread_data(cthread_t t) { return t->data; }

/* --- Creation and end. --- */

static void destroy_receive(mach_port_t port) {
  if (MACH_PORT_VALID(port))
    mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

/* Frees a cthread whose kernel thread is gone (or never ran). */
static void cthread_free(struct cthread *ct) {
  if (MACH_PORT_VALID(ct->reply_port))
    mig_dealloc_reply_port(ct->reply_port);
  if (MACH_PORT_VALID(ct->kthread))
    mach_port_destroy(mach_task_self(), ct->kthread);  // the dead name, all its references
  destroy_receive(ct->exit_port);
  destroy_receive(ct->wake_port);
  if (ct->stack)
    vm_deallocate(mach_task_self(), ct->stack, kStackSize);
  free(ct);
}

/* Waits for ct's kernel thread to be destroyed (poll: only looks): true when it is. */
static bool wait_for_end(struct cthread *ct, bool poll) {
  union {
    mach_msg_header_t head;
    mach_dead_name_notification_t dead;
    char buffer[256];
  } msg;
  for (;;) {
    memset(&msg.head, 0, sizeof msg.head);
    mach_msg_return_t mr =
        mach_msg(&msg.head, MACH_RCV_MSG | (poll ? MACH_RCV_TIMEOUT : 0), 0, sizeof msg,
                 ct->exit_port, 0, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
      return false;
    // Nothing else is sent there; anything else is released and ignored.
    if (msg.head.msgh_id == MACH_NOTIFY_DEAD_NAME)
      return true;
    mach_msg_destroy(&msg.head);
  }
}

static void __attribute__((noreturn)) cthread_body(struct cthread *ct) {
  cthread_exit(ct->func(ct->arg));
}

/* Detached cthreads that have not yet been freed. */
static int detached_lock;
static struct cthread *detached;

/* Frees the detached cthreads whose threads have ended. */
static void reap_detached(void) {
  spin_lock(&detached_lock);
  struct cthread *list = detached;
  detached = NULL;
  spin_unlock(&detached_lock);
  struct cthread *alive = NULL;
  while (list) {
    struct cthread *ct = list;
    list = ct->next;
    if (wait_for_end(ct, true)) {
      cthread_free(ct);
    } else {
      ct->next = alive;
      alive = ct;
    }
  }
  if (!alive)
    return;
  spin_lock(&detached_lock);
  struct cthread *last = alive;
  while (last->next)
    last = last->next;
  last->next = detached;
  detached = alive;
  spin_unlock(&detached_lock);
}

cthread_t cthread_fork(cthread_fn_t func, void *arg) {
  if (!initialized)
    cthread_init();
  reap_detached();
  struct cthread *ct = calloc(1, sizeof *ct);
  if (!ct)
    return NULL;
  ct->self = ct;
  ct->func = func;
  ct->arg = arg;
  mach_port_t task = mach_task_self();
  kern_return_t kr = vm_allocate(task, &ct->stack, kStackSize, TRUE);
  if (kr != KERN_SUCCESS)
    ct->stack = 0;
  if (kr == KERN_SUCCESS)
    kr = mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &ct->exit_port);
  if (kr == KERN_SUCCESS)
    kr = thread_create(task, &ct->kthread);
  bool requested = false;
  if (kr == KERN_SUCCESS) {
    mach_port_t previous = MACH_PORT_NULL;
    kr = mach_port_request_notification(task, ct->kthread, MACH_NOTIFY_DEAD_NAME, 0,
                                        ct->exit_port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous);
    requested = kr == KERN_SUCCESS;
  }
  struct i386_thread_state st;
  mach_msg_type_number_t count = i386_THREAD_STATE_COUNT;
  if (kr == KERN_SUCCESS)
    kr = thread_get_state(ct->kthread, i386_REGS_SEGS_STATE, (thread_state_t)&st, &count);
  if (kr == KERN_SUCCESS) {
    st.rip = (uint64_t)(uintptr_t)cthread_body;
    st.ursp = ct->stack + kStackSize - 8;  // as after a call: %rsp + 8 is 16-aligned
    st.rbp = 0;
    st.rdi = (uint64_t)(uintptr_t)ct;
    kr = thread_set_state(ct->kthread, i386_REGS_SEGS_STATE, (thread_state_t)&st,
                          i386_THREAD_STATE_COUNT);
  }
  if (kr == KERN_SUCCESS)
    kr = set_fs_base(ct->kthread, ct);
  if (kr == KERN_SUCCESS)
    kr = thread_resume(ct->kthread);
  if (kr != KERN_SUCCESS) {
    if (MACH_PORT_VALID(ct->kthread)) {
      // A thread that never ran: end it and wait until it is gone before freeing its
      // stack (kept, if we cannot know).
      thread_terminate(ct->kthread);
      if (!requested || !wait_for_end(ct, false))
        ct->stack = 0;
    }
    cthread_free(ct);
    return NULL;
  }
  return ct;
}

void cthread_exit(void *result) {
  struct cthread *self = cthread_self();
  if (self == &main_cthread)
    exit((int)(intptr_t)result);  // as Mach 3's: the main thread's end is the task's
  self->result = result;
  // The reply port thread_terminate uses: the cthread's freer releases it afterwards.
  self->reply_port = mig_get_reply_port();
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  thread_terminate(self->kthread);
  for (;;)  // not reached: the kernel ends the thread in thread_terminate
    swtch();
}

void *cthread_join(cthread_t t) {
  if (!t || t == &main_cthread)
    return NULL;
  while (!wait_for_end(t, false))
    swtch();  // a receive error: only if the exit port were gone, which it is not
  void *result = t->result;
  cthread_free(t);
  return result;
}

void cthread_detach(cthread_t t) {
  if (!t || t == &main_cthread)
    return;
  spin_lock(&detached_lock);
  t->next = detached;
  detached = t;
  spin_unlock(&detached_lock);
  reap_detached();
}

void cthread_yield(void) { swtch(); }

/* --- Mutexes --- */

void mutex_init(mutex_t m) {
  m->lock = 0;
  m->name = NULL;
}

mutex_t mutex_alloc(void) {
  mutex_t m = malloc(sizeof *m);
  if (m)
    mutex_init(m);
  return m;
}

void mutex_free(mutex_t m) { free(m); }
void mutex_lock(mutex_t m) { spin_lock(&m->lock); }
bool mutex_try_lock(mutex_t m) { return spin_try_lock(&m->lock); }
void mutex_unlock(mutex_t m) { spin_unlock(&m->lock); }

/* --- Conditions --- */

void condition_init(condition_t c) {
  c->lock = 0;
  c->waiters = NULL;
  c->name = NULL;
}

condition_t condition_alloc(void) {
  condition_t c = malloc(sizeof *c);
  if (c)
    condition_init(c);
  return c;
}

void condition_free(condition_t c) { free(c); }

void condition_wait(condition_t c, mutex_t m) {
  struct cthread *self = cthread_self();
  if (!MACH_PORT_VALID(self->wake_port) &&
      mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &self->wake_port) !=
          KERN_SUCCESS) {
    // No port: wait by yielding once (a spurious wakeup, which callers allow).
    self->wake_port = MACH_PORT_NULL;
    mutex_unlock(m);
    swtch_pri(0);
    mutex_lock(m);
    return;
  }
  self->next = NULL;
  spin_lock(&c->lock);
  struct cthread **tail = &c->waiters;
  while (*tail)
    tail = &(*tail)->next;
  *tail = self;
  spin_unlock(&c->lock);
  mutex_unlock(m);
  // One message per wait: the signal that took us off the queue sends exactly one, which
  // waits in the port's queue if it comes before we sleep.
  mach_msg_header_t msg;
  mach_msg_return_t mr;
  do {
    memset(&msg, 0, sizeof msg);
    mr = mach_msg(&msg, MACH_RCV_MSG, 0, sizeof msg, self->wake_port, 0, MACH_PORT_NULL);
  } while (mr != MACH_MSG_SUCCESS && mr != MACH_RCV_TOO_LARGE && mr != MACH_RCV_PORT_DIED &&
           mr != MACH_RCV_INVALID_NAME);
  mutex_lock(m);
}

static void wake(struct cthread *waiter) {
  mach_msg_header_t msg;
  memset(&msg, 0, sizeof msg);
  msg.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
  msg.msgh_size = sizeof msg;
  msg.msgh_remote_port = waiter->wake_port;
  msg.msgh_id = 0x63746877;  // "cthw"
  mach_msg(&msg, MACH_SEND_MSG, sizeof msg, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

void condition_signal(condition_t c) {
  if (!__atomic_load_n(&c->waiters, __ATOMIC_ACQUIRE))
    return;
  spin_lock(&c->lock);
  struct cthread *waiter = c->waiters;
  if (waiter)
    c->waiters = waiter->next;
  spin_unlock(&c->lock);
  if (waiter)
    wake(waiter);
}

void condition_broadcast(condition_t c) {
  if (!__atomic_load_n(&c->waiters, __ATOMIC_ACQUIRE))
    return;
  spin_lock(&c->lock);
  struct cthread *list = c->waiters;
  c->waiters = NULL;
  spin_unlock(&c->lock);
  while (list) {
    struct cthread *waiter = list;
    list = waiter->next;  // read before the wakeup: the waiter may reuse its link at once
    wake(waiter);
  }
}
