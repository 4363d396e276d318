/* The task's own names, as the Hurd's glibc gives them (<mach_init.h>): mach_task_self()
   is a variable read, filled in once at start-up (mig_support.c), not a trap per call. */
#ifndef _MACH_INIT_H
#define _MACH_INIT_H

#include <mach/mach_traps.h>  /* declares the trap versions before the macro below */
#include <mach/mach_types.h>

#ifdef __cplusplus
extern "C" {
#endif

extern mach_port_t mach_task_self_;
extern vm_size_t vm_page_size;

#define mach_task_self() (mach_task_self_ + 0) /* not an lvalue */

/* Fills in mach_task_self_ and vm_page_size. Runs as a constructor before main; calling it
   again is harmless. */
void mach_init(void);

#ifdef __cplusplus
}
#endif

#endif
