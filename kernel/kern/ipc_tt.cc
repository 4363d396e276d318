// Task and thread ports, the self traps, special ports, and the conversions MIG's kernel
// servers call (intran, outtran, destructor of mach_types.defs).
#include "kern/ipc_tt.h"

#include <mach/mach_types.h>

#include <utility>
#include <mach/task_special_ports.h>
#include <mach/thread_special_ports.h>

#include "ipc/ipc_kobject.h"
#include "ipc/ipc_right.h"
#include "kern/host.h"
#include "kern/processor.h"
#include "kern/task.h"
#include "kern/hot.h"

namespace {

Port* kobject_port(KObjectType type, void* object) {
  Port* p = port_alloc();
  if (p) {
    p->kotype = type;
    p->kobject = object;
  }
  return p;
}

// Ends a kernel object's port: senders now hold dead names.
void kobject_port_destroy(Port* p) {
  if (!p) return;
  p->kotype = KObjectType::kNone;
  p->kobject = nullptr;
  port_destroy(p);
  port_release(p);
}

void release_send(Port*& p) {
  if (port_valid(p)) port_release_send(p);
  p = nullptr;
}

mach_port_name_t copyout_send(IpcSpace* s, Port* p) {
  if (!s || !p) return MACH_PORT_NULL;
  port_reference(p);
  port_make_send(p);
  mach_port_name_t name;
  right_copyout(s, p, MACH_MSG_TYPE_PORT_SEND, &name);
  return name;
}

}  // namespace

bool ipc_task_init(Task* task) {
  Port* p = kobject_port(KObjectType::kTask, task);
  if (!p) return false;
  IpcGuard g;
  task->self_port = p;
  task->space_active = true;
  return true;
}

void ipc_task_shutdown(Task* task) {
  IpcGuard g;
  release_send(task->bootstrap_port);
  release_send(task->exception_port);
  if (task->space_active) {
    task->space_active = false;
    right_space_destroy(&task->space);
  }
}

Port* ipc_task_disable(Task* task) {
  IpcGuard g;
  Port* p = task->self_port;
  task->self_port = nullptr;
  if (p) {
    p->kotype = KObjectType::kNone;
    p->kobject = nullptr;
  }
  return p;
}

void ipc_kobject_port_kill(Port* p) {
  if (!p) return;
  IpcGuard g;
  port_destroy(p);
  port_release(p);
}

bool ipc_thread_init(Thread* t) {
  Port* p = kobject_port(KObjectType::kThread, t);
  if (!p) return false;
  IpcGuard g;
  t->self_port = p;
  return true;
}

void ipc_thread_terminate(Thread* t) {
  IpcGuard g;
  kobject_port_destroy(t->self_port);
  t->self_port = nullptr;
  release_send(t->exception_port);
}

Port* ipc_port_create_kernel_held() {
  IpcGuard g;
  return port_alloc();
}

void ipc_port_release_kernel_held(Port* p) {
  if (!p) return;
  IpcGuard g;
  if (!p->receiver) port_destroy(p);  // no task took the receive right
  port_release(p);                    // the kernel's own reference
}

mach_port_name_t ipc_task_insert_receive(Task* task, Port* p) {
  IpcGuard g;
  IpcSpace* s = task_space(task);
  if (!s || !p || p->receiver) return MACH_PORT_NULL;
  port_reference(p);  // the receive right's reference; the kernel keeps its own
  mach_port_name_t name;
  right_copyout(s, p, MACH_MSG_TYPE_PORT_RECEIVE, &name);
  return name;
}

void ipc_task_set_bootstrap(Task* task, Port* p) {
  if (!p) return;
  IpcGuard g;
  if (port_valid(task->bootstrap_port)) port_release_send(task->bootstrap_port);
  port_reference(p);
  port_make_send(p);
  task->bootstrap_port = p;
}

void ipc_task_inherit(Task* child, Task* parent) {
  IpcGuard g;
  for (auto [from, to] : {std::pair{parent->bootstrap_port, &child->bootstrap_port},
                          std::pair{parent->exception_port, &child->exception_port}}) {
    if (!port_valid(from)) continue;
    port_reference(from);
    port_copy_send(from);
    *to = from;
  }
}

MICA_HOT IpcSpace* task_space(Task* task) { return task->space_active ? &task->space : nullptr; }

mach_port_name_t ipc_task_insert_send(Task* task, Port* port) {
  IpcGuard g;
  return copyout_send(task_space(task), port);
}

mach_port_name_t ipc_task_self_name() {
  Task* task = current_thread()->task;
  IpcGuard g;
  return copyout_send(task_space(task), task->self_port);
}

mach_port_name_t ipc_thread_self_name() {
  Thread* t = current_thread();
  IpcGuard g;
  return copyout_send(task_space(t->task), t->self_port);
}

mach_port_name_t ipc_host_self_name() {
  Task* task = current_thread()->task;
  IpcGuard g;
  return copyout_send(task_space(task), host_port(false));
}

mach_port_name_t ipc_reply_port() {
  Task* task = current_thread()->task;
  IpcGuard g;
  IpcSpace* s = task_space(task);
  Port* p = s ? port_alloc() : nullptr;
  if (!p) return MACH_PORT_NULL;
  mach_port_name_t name;
  right_copyout(s, p, MACH_MSG_TYPE_PORT_RECEIVE, &name);
  return name;
}

namespace {
void* name_to_kobject(mach_port_name_t name, KObjectType type) {
  Task* task = current_thread()->task;
  IpcSpace* s = task_space(task);
  IpcEntry* e = s ? right_lookup(s, name) : nullptr;
  if (!e || !(e->type & MACH_PORT_TYPE_SEND)) return nullptr;
  auto* p = static_cast<Port*>(e->object);
  if (!p->active || p->kotype != type) return nullptr;
  return p->kobject;
}
}  // namespace

Thread* ipc_name_to_thread(mach_port_name_t name) {
  IpcGuard g;
  auto* t = static_cast<Thread*>(name_to_kobject(name, KObjectType::kThread));
  if (t) thread_reference(t);
  return t;
}

Task* ipc_name_to_task(mach_port_name_t name) {
  IpcGuard g;
  auto* task = static_cast<Task*>(name_to_kobject(name, KObjectType::kTask));
  if (task) task_reference(task);
  return task;
}

// --- conversions for the MIG servers --------------------------------------------------------

extern "C" {

Task* convert_port_to_task(Port* p) {
  IpcGuard g;
  if (!port_valid(p) || !p->active || p->kotype != KObjectType::kTask) return nullptr;
  auto* task = static_cast<Task*>(p->kobject);
  task_reference(task);
  return task;
}

Thread* convert_port_to_thread(Port* p) {
  IpcGuard g;
  if (!port_valid(p) || !p->active || p->kotype != KObjectType::kThread) return nullptr;
  auto* t = static_cast<Thread*>(p->kobject);
  thread_reference(t);
  return t;
}

IpcSpace* convert_port_to_space(Port* p) {
  Task* task = convert_port_to_task(p);
  if (!task) return nullptr;
  if (!task->space_active) {
    task_release(task);
    return nullptr;
  }
  return &task->space;  // the task reference is dropped by space_deallocate
}

void space_deallocate(IpcSpace* s) {
  if (s) task_release(reinterpret_cast<Task*>(reinterpret_cast<char*>(s) - offsetof(Task, space)));
}

void task_deallocate(Task* task) {
  if (task) task_release(task);
}

void thread_deallocate(Thread* t) {
  if (t) thread_release(t);
}

Port* convert_task_to_port(Task* task) {
  if (!task) return nullptr;
  Port* p = nullptr;
  {
    IpcGuard g;
    if (task->self_port) {
      p = task->self_port;
      port_reference(p);
      port_make_send(p);
    }
  }
  task_release(task);
  return p;
}

Port* convert_thread_to_port(Thread* t) {
  if (!t) return nullptr;
  Port* p = nullptr;
  {
    IpcGuard g;
    if (t->self_port) {
      p = t->self_port;
      port_reference(p);
      port_make_send(p);
    }
  }
  thread_release(t);
  return p;
}

void ipc_port_release_send(Port* p) {
  if (!port_valid(p)) return;
  IpcGuard g;
  port_release_send(p);
}

}  // extern "C"

namespace {

// The special port slots of a task or thread: `self` is the object's own port (a send right is
// made from the kernel's receive right); the others hold send rights the user set.
Port** task_slot(Task* task, int which) {
  switch (which) {
    case TASK_KERNEL_PORT: return &task->self_port;
    case TASK_BOOTSTRAP_PORT: return &task->bootstrap_port;
    case TASK_EXCEPTION_PORT: return &task->exception_port;
    default: return nullptr;
  }
}

Port** thread_slot(Thread* t, int which) {
  switch (which) {
    case THREAD_KERNEL_PORT: return &t->self_port;
    case THREAD_EXCEPTION_PORT: return &t->exception_port;
    default: return nullptr;
  }
}

// A new send right from a slot (IPC lock held).
kern_return_t get_special(Port** slot, bool self, Port** port) {
  if (!slot) return KERN_INVALID_ARGUMENT;
  Port* p = *slot;
  if (port_valid(p)) {
    port_reference(p);
    if (self)
      port_make_send(p);
    else
      port_copy_send(p);
  }
  *port = p;
  return KERN_SUCCESS;
}

// Replaces a user-set slot's send right with `port`'s, which the request gave up.
kern_return_t set_special(Port** slot, bool self, Port* port) {
  if (!slot || self) return KERN_INVALID_ARGUMENT;  // an object's own port cannot be replaced
  if (port_valid(*slot)) port_release_send(*slot);
  *slot = port;
  return KERN_SUCCESS;
}

}  // namespace

extern "C" {

kern_return_t task_get_special_port(Task* task, int which, Port** port) {
  if (!task) return KERN_INVALID_ARGUMENT;
  IpcGuard g;
  return get_special(task_slot(task, which), which == TASK_KERNEL_PORT, port);
}

kern_return_t task_set_special_port(Task* task, int which, Port* port) {
  if (!task) return KERN_INVALID_ARGUMENT;
  IpcGuard g;
  return set_special(task_slot(task, which), which == TASK_KERNEL_PORT, port);
}

kern_return_t thread_get_special_port(Thread* t, int which, Port** port) {
  if (!t) return KERN_INVALID_ARGUMENT;
  IpcGuard g;
  return get_special(thread_slot(t, which), which == THREAD_KERNEL_PORT, port);
}

kern_return_t thread_set_special_port(Thread* t, int which, Port* port) {
  if (!t) return KERN_INVALID_ARGUMENT;
  IpcGuard g;
  return set_special(thread_slot(t, which), which == THREAD_KERNEL_PORT, port);
}

}  // extern "C"
