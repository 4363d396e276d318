// The trap table.
#include "kern/syscall.h"

#include <mach/kern_return.h>
#include <mach/thread_switch.h>

#include "ipc/mach_msg.h"
#include "kern/ipc_tt.h"
#include "kern/log.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "kern/task.h"
#include "lib/string.h"
#include "machine/pmap.h"
#include "vm/vm_usercopy.h"
#include "mica/traps.h"
#include "kern/hot.h"

namespace {


int64_t trap_mach_print(uint64_t str) {
  char buf[512];
  if (!copyin_string(str, buf, sizeof buf)) return KERN_INVALID_ADDRESS;
  console_write(buf, strlen(buf));
  return KERN_SUCCESS;
}

int64_t trap_thread_switch(uint64_t name, uint64_t option, uint64_t time_ms) {
  Thread* self = current_thread();
  if (option != SWITCH_OPTION_NONE && option != SWITCH_OPTION_DEPRESS &&
      option != SWITCH_OPTION_WAIT)
    return KERN_INVALID_ARGUMENT;
  if (name) {
    Thread* to = ipc_name_to_thread(static_cast<mach_port_name_t>(name));
    bool done = to && to != self &&
                thread_handoff(to, option == SWITCH_OPTION_WAIT, time_ms * 1'000'000);
    if (to) thread_release(to);
    if (done) return KERN_SUCCESS;
  }
  if (option == SWITCH_OPTION_WAIT) {
    assert_wait(&self->wait_link, time_ms * 1'000'000 + 1);
    thread_block();
  } else if (option == SWITCH_OPTION_DEPRESS) {
    thread_yield_depressed(time_ms ? time_ms * 1'000'000 : kQuantumTicks * kTickNs);
  } else {
    thread_yield();
  }
  return KERN_SUCCESS;
}

int64_t trap_thread_fork(uint64_t entry, uint64_t arg, uint64_t stack_top) {
  Thread* self = current_thread();
  if (entry >= kUserEnd || stack_top >= kUserEnd || stack_top < 16) return KERN_INVALID_ADDRESS;
  // As after a call: the stack holds a (null) return address.
  uint64_t rsp = (stack_top & ~15ull) - 8;
  uint64_t zero = 0;
  if (!copyout(&zero, rsp, sizeof zero)) return KERN_INVALID_ADDRESS;
  Thread* t = user_thread_create(self->task, entry, rsp, arg);
  if (!t) return KERN_RESOURCE_SHORTAGE;
  // Once started the thread may run, end and be freed before this CPU looks at it again.
  uint64_t id = t->id;
  thread_start(t);
  return static_cast<int64_t>(id);
}

// syscall_task_terminate(task): as the task_terminate RPC, by trap.
int64_t trap_task_terminate(mach_port_name_t name) {
  Task* task = ipc_name_to_task(name);
  if (!task) return KERN_INVALID_ARGUMENT;
  task_terminate_internal(task);  // the caller's own task: it ends on the way out
  task_release(task);
  return KERN_SUCCESS;
}

}  // namespace

// The current task's address space is the one loaded: the kernel copies straight through
// it, and a fault on the user side is served by the VM system as the task's own would be.
MICA_HOT bool copyin(uint64_t src, void* dst, size_t len) {
  if (src >= kUserEnd || len > kUserEnd - src) return false;
  return arch_copy_user(dst, reinterpret_cast<const void*>(src), len);
}

MICA_HOT bool copyout(const void* src, uint64_t dst, size_t len) {
  if (dst >= kUserEnd || len > kUserEnd - dst) return false;
  return arch_copy_user(reinterpret_cast<void*>(dst), src, len);
}

bool copyin_string(uint64_t src, char* dst, size_t max) {
  for (size_t i = 0; i < max; ++i) {
    if (!copyin(src + i, dst + i, 1)) return false;
    if (!dst[i]) return true;
  }
  return false;
}

int64_t mach_trap(const TrapArgs& a) {
  Thread* self = current_thread();
  switch (a.number) {
    case -25:
      return mach_msg(a.arg[0], static_cast<mach_msg_option_t>(a.arg[1]),
                      static_cast<mach_msg_size_t>(a.arg[2]), static_cast<mach_msg_size_t>(a.arg[3]),
                      static_cast<mach_port_name_t>(a.arg[4]),
                      static_cast<mach_msg_timeout_t>(a.arg[5]),
                      MACH_PORT_NULL);  // the notify port: not used
    case -26:
      return ipc_reply_port();
    case -27:
      return ipc_thread_self_name();
    case -28:
      return ipc_task_self_name();
    case -29:
      return ipc_host_self_name();
    case -30:
      return trap_mach_print(a.arg[0]);
    case -59:  // swtch_pri
      return thread_yield_depressed(kQuantumTicks * kTickNs);
    case -60:  // swtch
      return thread_yield();
    case -61:
      return trap_thread_switch(a.arg[0], a.arg[1], a.arg[2]);
    case -69:  // syscall_task_terminate
      return trap_task_terminate(static_cast<mach_port_name_t>(a.arg[0]));
    case MICA_TRAP_THREAD_FORK:
      return trap_thread_fork(a.arg[0], a.arg[1], a.arg[2]);
    case MICA_TRAP_THREAD_EXIT:
      thread_terminate_self();
    case MICA_TRAP_CPU_NUMBER:
      return arch_cpu_id();
    case MICA_TRAP_CPU_COUNT:
      return arch_cpu_count();
    case MICA_TRAP_THREAD_ID:
      return static_cast<int64_t>(self->id);
    default:
      // GNU Mach's trap table has 130 entries (0 to -129): an unused one answers
      // KERN_INVALID_ARGUMENT; a number outside the table is an invalid instruction.
      if (a.number <= 0 && a.number >= -129) return KERN_INVALID_ARGUMENT;
      return kTrapInvalid;
  }
}
