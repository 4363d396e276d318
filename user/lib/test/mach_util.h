/* Helpers shared by the Mach conformance tests (ipctest, vmtest, exctest, nametest, leaktest),
   written as any GNU Mach program would be: only <mach/...> headers, the MIG stubs and the
   runtime. No Mica trap, so the tests that use them still run on GNU Mach
   (tools/gnumach-boot.sh).

   Helpers that can fail record the failure with test_fail (<test/test.h>) and return a value
   the caller can test (MACH_PORT_NULL, 0). */
#ifndef MICA_USER_TEST_MACH_UTIL_H
#define MICA_USER_TEST_MACH_UTIL_H

#include <mach.h>
#include <test/test.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KR_OK(call) ASSERT_EQ((call), KERN_SUCCESS)

/* --- Ports --- */

/* A new receive right (MACH_PORT_NULL on failure). */
mach_port_t receive_right(void);

/* A receive right with one send right under the same name. */
mach_port_t receive_and_send(void);

/* The type of name, or the error of mach_port_type (they cannot be confused: errors are
   small numbers, types have bits 16 and up). */
mach_port_type_t ptype(mach_port_t name);

/* The user references of a right, or -1 if mach_port_get_refs fails. */
long urefs(mach_port_t name, mach_port_right_t right);

/* mach_port_get_receive_status of name (0xee bytes if it fails). */
mach_port_status_t status_of(mach_port_t name);

/* mach_port_destroy of name in our space, if it is a valid name. */
void destroy(mach_port_t name);

/* --- Memory and time --- */

/* size bytes anywhere in our space, or 0. */
vm_address_t alloc(vm_size_t size);

/* Sleeps: a receive that times out on a port nobody sends to. */
void msleep(mach_msg_timeout_t ms);

/* --- Threads, the GNU Mach way --- */

/* The stack of a thread start_thread makes. */
enum { kThreadStack = 64 * 1024 };

/* Creates a thread in task (ours or a child's) that will run fn(arg) on the stack
   [stack, stack + size) of that task: thread_create, then thread_set_state
   (i386_REGS_SEGS_STATE: rip = fn, rdi = arg, rsp = stack + size - 8 as after a call). The
   thread is left suspended. fn must not return (it ends with thread_exit, or idles until its
   task is terminated). */
thread_t create_thread_in(task_t task, void (*fn)(long), long arg, vm_address_t stack,
                          vm_size_t size);

/* create_thread_in, then thread_resume. */
thread_t start_thread_in(task_t task, void (*fn)(long), long arg, vm_address_t stack,
                         vm_size_t size);

/* fn(arg) in a new running thread of our task, on a fresh kThreadStack stack (never freed,
   so a thread a failed test left running harms no later test). */
thread_t start_thread(void (*fn)(long), long arg);

/* Ends the calling thread (thread_terminate of itself). */
void thread_exit(void) __attribute__((noreturn));

/* --- Child tasks, made as a fork would make them: task_create(inherit_memory = TRUE), then
   a thread in the child (start_thread_in) on a stack the parent allocated before
   task_create. --- */

/* First code of a child's thread that calls the kernel through MIG: the names cached at
   start-up are the parent's. Refreshes mach_task_self_ and forgets the reply port the MIG
   runtime's table (a copy of the parent's) might match for this thread. */
void child_init(void);

/* Yields forever: the last code of a child's thread (the parent terminates the task). */
void child_idle(void) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif
