// Tasks and threads as ports (Mach's ipc_tt): each has a port whose receive right the kernel
// holds and whose messages the kernel serves; the self traps give out send rights to them.
#pragma once
#include <mach/port.h>

struct Task;
struct Thread;
struct Port;

bool ipc_task_init(Task* task);
// The task's rights all go (its space is emptied, its port dies).
void ipc_task_terminate(Task* task);
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
// The thread (task) a send right in the current task's space denotes, with a reference, or
// nullptr.
Thread* ipc_name_to_thread(mach_port_name_t name);
Task* ipc_name_to_task(mach_port_name_t name);
