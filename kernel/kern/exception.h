// Exceptions as messages (exc.defs): a thread's fault is sent as exception_raise to the
// thread's exception port, or else its task's; the thread waits in the kernel for the reply.
// A handler that answers KERN_SUCCESS lets the thread go on (with the state it may have set
// through thread_set_state); any other answer, or no handler at all, ends the task.
#pragma once
#include <stdint.h>

struct Thread;

// Raises `exception` (EXC_*) with `code` and `subcode` for the current thread. Returns true
// if a handler took it and the thread may resume; false if the task must end.
bool exception_raise(int exception, int code, int64_t subcode);
