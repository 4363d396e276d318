// Tasks and threads as ports (Mach's ipc_tt): each has a port whose receive right the kernel
// holds and whose messages the kernel serves; the self traps give out send rights to them.
#pragma once
#include <mach/port.h>

struct Task;
struct Thread;
struct Port;

bool ipc_task_init(Task* task);
// The task's rights all go (its space is emptied, its special ports released); its own port
// stays alive.
void ipc_task_shutdown(Task* task);
// The task's port stops denoting it: calls on it fail from now on, and nothing reaches the
// task through it. Returns the port (with the kernel's reference) for ipc_kobject_port_kill.
Port* ipc_task_disable(Task* task);
// Destroys a port ipc_task_disable returned: its senders now hold dead names (dead-name
// notifications go out).
void ipc_kobject_port_kill(Port* port);
bool ipc_thread_init(Thread* t);
void ipc_thread_terminate(Thread* t);

// The self traps, for the current thread's task: a new user reference on a send right.
mach_port_name_t ipc_task_self_name();
mach_port_name_t ipc_thread_self_name();
mach_port_name_t ipc_host_self_name();
// mach_reply_port: a new port, its receive right in the caller's space.
mach_port_name_t ipc_reply_port();
// Gives `task` a send right for `port` (made from the kernel's receive right, or copied);
// returns its name, MACH_PORT_NULL on shortage.
mach_port_name_t ipc_task_insert_send(Task* task, Port* port);
// A new port whose receive right the kernel holds for now (boot-time plumbing), and its
// release: the port dies then unless ipc_task_insert_receive gave the right away.
Port* ipc_port_create_kernel_held();
void ipc_port_release_kernel_held(Port* port);
// Gives `task` the receive right of a kernel-held port; returns its name (MACH_PORT_NULL on
// shortage or if the right was given away already).
mach_port_name_t ipc_task_insert_receive(Task* task, Port* port);
// Sets the task's bootstrap special port to a send right for `port` (made from it).
void ipc_task_set_bootstrap(Task* task, Port* port);
// task_create: the child starts with its parent's bootstrap and exception ports, as in Mach.
void ipc_task_inherit(Task* child, Task* parent);
// The thread (task) a send right in the current task's space denotes, with a reference, or
// nullptr.
Thread* ipc_name_to_thread(mach_port_name_t name);
Task* ipc_name_to_task(mach_port_name_t name);
