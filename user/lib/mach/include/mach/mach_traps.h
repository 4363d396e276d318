/* The Mach traps as C functions, as glibc declares them on the Hurd (<mach/mach_traps.h>).
   The stubs are in traps.S; the numbers come from GNU Mach's <mach/syscall_sw.h>.
   mach_msg_trap and mach_msg are declared by <mach/message.h>. */
#ifndef _MACH_MACH_TRAPS_H_
#define _MACH_MACH_TRAPS_H_

#include <mach/boolean.h>
#include <mach/kern_return.h>
#include <mach/message.h>
#include <mach/port.h>
#include <mach/std_types.h>
#include <mach/thread_switch.h>
#include <mach/vm_inherit.h>
#include <mach/vm_prot.h>

#ifdef __cplusplus
extern "C" {
#endif

mach_port_t mach_reply_port(void);
mach_port_t mach_thread_self(void);
mach_port_t mach_task_self(void);
mach_port_t mach_host_self(void);

/* Prints a NUL-terminated string on the console. Pass whole lines: printf() buffers. */
void mach_print(const char *s);

/* Yield the processor; true if other threads were ready to run. swtch_pri also lowers the
   caller's priority until it next runs. */
boolean_t swtch(void);
boolean_t swtch_pri(int priority);

/* Yield to thread_name if it is ready (a hint), with option SWITCH_OPTION_NONE, _DEPRESS
   (lower the caller's priority for option_time ms) or _WAIT (block for option_time ms). */
kern_return_t thread_switch(mach_port_t thread_name, int option, mach_msg_timeout_t option_time);

kern_return_t evc_wait(unsigned int event);
kern_return_t evc_wait_clear(unsigned int event);

/* Trap versions of RPCs; they work on the caller's own task only. */
kern_return_t syscall_vm_map(mach_port_t task, vm_address_t *address, vm_size_t size,
                             vm_address_t mask, boolean_t anywhere, mach_port_t memory_object,
                             vm_offset_t offset, boolean_t copy, vm_prot_t cur_protection,
                             vm_prot_t max_protection, vm_inherit_t inheritance);
kern_return_t syscall_vm_allocate(mach_port_t task, vm_address_t *address, vm_size_t size,
                                  boolean_t anywhere);
kern_return_t syscall_vm_deallocate(mach_port_t task, vm_address_t address, vm_size_t size);
kern_return_t syscall_task_create(mach_port_t parent, boolean_t inherit_memory,
                                  mach_port_t *child);
kern_return_t syscall_task_terminate(mach_port_t task);
kern_return_t syscall_task_suspend(mach_port_t task);
kern_return_t syscall_task_set_special_port(mach_port_t task, int which, mach_port_t port);
kern_return_t syscall_mach_port_allocate(mach_port_t task, mach_port_right_t right,
                                         mach_port_t *name);
kern_return_t syscall_mach_port_deallocate(mach_port_t task, mach_port_t name);
kern_return_t syscall_mach_port_insert_right(mach_port_t task, mach_port_t name,
                                             mach_port_t right, mach_msg_type_name_t type);
kern_return_t syscall_mach_port_allocate_name(mach_port_t task, mach_port_right_t right,
                                              mach_port_t name);
kern_return_t syscall_thread_depress_abort(mach_port_t thread);

#ifdef __cplusplus
}
#endif

#endif
