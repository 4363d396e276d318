/* Threads through Mica's temporary thread_fork trap (<mica/traps.h>), until thread_create,
   thread_set_state and thread_resume arrive over MIG. */
#ifndef MICA_USER_MICA_THREAD_H
#define MICA_USER_MICA_THREAD_H

#include <stddef.h>
#include <mica/traps.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts a thread of the caller's task that runs fn(arg) on the stack [stack, stack+size)
   and ends when fn returns. The stack must stay unused by others until then.
   Returns the thread id (> 0), or the kernel's negative error. */
long mica_thread_start(void (*fn)(void *), void *arg, void *stack, size_t size);

#ifdef __cplusplus
}
#endif

#endif
