/* mica_thread_start: a thread on a caller-supplied stack, through the thread_fork trap. */
#include <mica_thread.h>
#include <stdint.h>

/* start.S: loads {fn, arg} from %rdi, calls fn(arg), then mica_thread_exit(). */
void _mica_thread_entry(void *start);

struct thread_start {
  void (*fn)(void *);
  void *arg;
};

long mica_thread_start(void (*fn)(void *), void *arg, void *stack, size_t size) {
  // {fn, arg} go just above the new thread's stack top, out of the way of its pushes.
  uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
  struct thread_start *start = (struct thread_start *)(top - sizeof(struct thread_start));
  start->fn = fn;
  start->arg = arg;
  return mica_thread_fork(_mica_thread_entry, start, start);
}
