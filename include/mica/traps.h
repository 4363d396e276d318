/* Mica's own traps, beside GNU Mach's (mach/syscall_sw.h). Same convention: negative number in
   rax, arguments in rdi, rsi, rdx, r10, r8, r9, result in rax.
   These exist only until the IPC issue lands the real interfaces (thread_create,
   thread_set_state and thread_resume over MIG; thread_info for the CPU). Programs written for
   GNU Mach never use them. */
#ifndef MICA_TRAPS_H
#define MICA_TRAPS_H

#define MICA_TRAP_THREAD_FORK   -100  /* (entry, arg, stack_top) -> thread id > 0, or < 0 */
#define MICA_TRAP_THREAD_EXIT   -101  /* () -> does not return */
#define MICA_TRAP_CPU_NUMBER    -102  /* () -> index of the CPU running the caller */
#define MICA_TRAP_CPU_COUNT     -103  /* () -> number of CPUs running */
#define MICA_TRAP_THREAD_ID     -104  /* () -> the caller's thread id */

#ifndef __ASSEMBLER__
long mica_thread_fork(void (*entry)(void *), void *arg, void *stack_top);
void mica_thread_exit(void) __attribute__((noreturn));
long mica_cpu_number(void);
long mica_cpu_count(void);
long mica_thread_id(void);
#endif

#endif
