/* Helpers shared by the Mach conformance tests (mach_util.h). Only the Mach ABI: <mach/...>,
   the MIG stubs and the runtime. */
#include <mach.h>
#include <mach/mig_support.h>
#include <mach/thread_status.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/test.h>

/* --- Ports --- */

mach_port_t receive_right(void) {
  mach_port_t name = MACH_PORT_NULL;
  kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &name);
  if (kr != KERN_SUCCESS)
    test_fail(__FILE__, __LINE__, "mach_port_allocate: 0x%x", kr);
  return name;
}

mach_port_t receive_and_send(void) {
  mach_port_t name = MACH_PORT_NULL;
  kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &name);
  if (kr == KERN_SUCCESS)
    kr = mach_port_insert_right(mach_task_self(), name, name, MACH_MSG_TYPE_MAKE_SEND);
  if (kr != KERN_SUCCESS)
    test_fail(__FILE__, __LINE__, "receive_and_send: 0x%x", kr);
  return name;
}

mach_port_type_t ptype(mach_port_t name) {
  mach_port_type_t type = 0;
  kern_return_t kr = mach_port_type(mach_task_self(), name, &type);
  return kr == KERN_SUCCESS ? type : (mach_port_type_t)kr;
}

long urefs(mach_port_t name, mach_port_right_t right) {
  mach_port_urefs_t refs = 0;
  kern_return_t kr = mach_port_get_refs(mach_task_self(), name, right, &refs);
  return kr == KERN_SUCCESS ? (long)refs : -1;
}

mach_port_status_t status_of(mach_port_t name) {
  mach_port_status_t st;
  memset(&st, 0xee, sizeof st);
  kern_return_t kr = mach_port_get_receive_status(mach_task_self(), name, &st);
  if (kr != KERN_SUCCESS)
    test_fail(__FILE__, __LINE__, "mach_port_get_receive_status: 0x%x", kr);
  return st;
}

void destroy(mach_port_t name) {
  if (MACH_PORT_VALID(name))
    mach_port_destroy(mach_task_self(), name);
}

/* --- Memory and time --- */

vm_address_t alloc(vm_size_t size) {
  vm_address_t a = 0;
  kern_return_t kr = vm_allocate(mach_task_self(), &a, size, TRUE);
  if (kr != KERN_SUCCESS) {
    test_fail(__FILE__, __LINE__, "vm_allocate(%lu): 0x%x", (unsigned long)size, kr);
    return 0;
  }
  return a;
}

void msleep(mach_msg_timeout_t ms) {
  static mach_port_t port;
  if (port == MACH_PORT_NULL)
    port = receive_right();
  mach_msg_header_t h;
  mach_msg_return_t mr =
      mach_msg(&h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof h, port, ms, MACH_PORT_NULL);
  if (mr == MACH_RCV_INVALID_NAME) {
    /* A child task's copy of the parent's name, which means nothing in its own space: without
       a port of its own, every call would return at once and the caller would spin. */
    port = receive_right();
    mach_msg(&h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof h, port, ms, MACH_PORT_NULL);
  }
}

/* --- Threads --- */

thread_t create_thread_in(task_t task, void (*fn)(long), long arg, vm_address_t stack,
                          vm_size_t size) {
  thread_t thread = MACH_PORT_NULL;
  kern_return_t kr = thread_create(task, &thread);
  struct i386_thread_state st;
  mach_msg_type_number_t count = i386_THREAD_STATE_COUNT;
  if (kr == KERN_SUCCESS)
    kr = thread_get_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st, &count);
  if (kr == KERN_SUCCESS) {
    st.rip = (uint64_t)(uintptr_t)fn;
    st.ursp = stack + size - 8;  // as after a call: %rsp + 8 is 16-aligned
    st.rbp = 0;
    st.rdi = (uint64_t)arg;
    kr = thread_set_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st,
                          i386_THREAD_STATE_COUNT);
  }
  if (kr != KERN_SUCCESS) {
    test_fail(__FILE__, __LINE__, "create_thread_in: 0x%x", kr);
    return MACH_PORT_NULL;
  }
  return thread;
}

thread_t start_thread_in(task_t task, void (*fn)(long), long arg, vm_address_t stack,
                         vm_size_t size) {
  thread_t thread = create_thread_in(task, fn, arg, stack, size);
  if (thread == MACH_PORT_NULL)
    return MACH_PORT_NULL;
  kern_return_t kr = thread_resume(thread);
  if (kr != KERN_SUCCESS) {
    test_fail(__FILE__, __LINE__, "thread_resume: 0x%x", kr);
    return MACH_PORT_NULL;
  }
  return thread;
}

thread_t start_thread(void (*fn)(long), long arg) {
  vm_address_t stack = alloc(kThreadStack);
  return stack == 0 ? MACH_PORT_NULL
                    : start_thread_in(mach_task_self(), fn, arg, stack, kThreadStack);
}

void thread_exit(void) {
  thread_terminate(mach_thread_self());
  for (;;)
    msleep(1000);
}

/* --- Child tasks --- */

void child_init(void) {
  mach_init();
  // The MIG runtime's table of reply ports is a copy of the parent's: forget what this
  // thread might match there (its reply port, if any, would be the parent's name).
  mig_dealloc_reply_port(mig_get_reply_port());
}

void child_idle(void) {
  for (;;)
    swtch();
}
