/* C threads (Mach 3's cthreads, as the seed 004 section 8.2.2 describes them) over Mach
   threads: each cthread is one kernel thread made with thread_create, thread_set_state and
   thread_resume, on a stack from vm_allocate. Library mach_cthreads (user/CMakeLists.txt).

   - cthread_fork(func, arg) starts func(arg) in a new thread; the thread ends when func
     returns or calls cthread_exit, with that value as its result.
   - cthread_join(t) waits for t to end and returns its result; it frees t. Join a thread
     once, and never a detached one.
   - cthread_detach(t): t will never be joined; it is freed after it ends (at a later
     cthread_fork or cthread_detach: its stack cannot be freed by the thread itself).
   - cthread_self() is the calling cthread (the FS base points at it). The main thread is a
     cthread too; threads made by other means (mica_thread_start, test_thread) are not.
   - cthread_exit from the main thread ends the task.
   - Mutexes spin a little, then yield with swtch_pri, as Mach 3's cthreads did. Conditions
     keep a queue of waiters; each waiter sleeps in mach_msg on a port of its own, and
     signal sends it one message, so a wakeup sent before the waiter sleeps is not lost.
   Written to GNU Mach's ABI (no Mica trap), though tested only on Mica. */
#ifndef MICA_CTHREADS_H
#define MICA_CTHREADS_H

#include <mach/mach_types.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cthread *cthread_t;
typedef void *(*cthread_fn_t)(void *arg);
typedef void *any_t;

/* NULL when no thread or memory could be had. */
cthread_t cthread_fork(cthread_fn_t func, void *arg);
void *cthread_join(cthread_t t);
void cthread_detach(cthread_t t);
void cthread_exit(void *result) __attribute__((noreturn));
void cthread_yield(void);
cthread_t cthread_self(void);
/* The thread's kernel port (a send right of the task; do not deallocate it). */
thread_t cthread_kernel_thread(cthread_t t);
/* One word of data per thread, for the program's own use. */
void cthread_set_data(cthread_t t, void *data);
void *cthread_data(cthread_t t);

struct mutex {
  int lock;  // 0 free, 1 held
  const char *name;
};
typedef struct mutex *mutex_t;
#define MUTEX_INITIALIZER {0, 0}

void mutex_init(mutex_t m);
mutex_t mutex_alloc(void);
void mutex_free(mutex_t m);
void mutex_lock(mutex_t m);
bool mutex_try_lock(mutex_t m);  // true if taken
void mutex_unlock(mutex_t m);

struct condition {
  int lock;                      // guards the queue
  struct cthread *waiters;       // FIFO, linked through the cthreads
  const char *name;
};
typedef struct condition *condition_t;
#define CONDITION_INITIALIZER {0, 0, 0}

void condition_init(condition_t c);
condition_t condition_alloc(void);
void condition_free(condition_t c);
/* Releases m, waits for a signal, takes m again. Wakeups may be spurious: loop on the
   predicate, as with any condition variable. */
void condition_wait(condition_t c, mutex_t m);
void condition_signal(condition_t c);
void condition_broadcast(condition_t c);

#ifdef __cplusplus
}
#endif

#endif
