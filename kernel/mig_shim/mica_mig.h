/* What the MIG-generated kernel servers (compiled as C, -DKERNEL -DMACH_KERNEL) need from the
   kernel: its object types, opaque here, and the conversions the .defs name as intran,
   outtran and destructor. The generated code includes GNU Mach's kernel header names
   (kern/task.h, ipc/ipc_port.h...); each of those names in this folder includes this file.
   The C++ kernel implements these functions with extern "C" linkage (kernel/ipc/ipc_kobject.cc
   and the server routines). */
#ifndef MICA_MIG_H
#define MICA_MIG_H

#define NCPUS 16  /* kMaxCpus (machine/cpu.h) */

#include <mach/kern_return.h>
#include <mach/message.h>
#include <mach/port.h>
#include <stdint.h>

#include <mach/mach_types.h>

#include <ipc/ipc_types.h>
typedef struct PortSet *ipc_pset_t;
typedef struct IpcSpace *ipc_space_t;
typedef struct VmMap *vm_map_t;
typedef struct Host *host_t;
typedef struct VmObject *vm_object_t;
typedef thread_t *thread_array_t;
typedef task_t *task_array_t;
typedef processor_t *processor_array_t;
typedef processor_set_t *processor_set_array_t;
typedef processor_set_t *processor_set_name_array_t;
typedef vm_offset_t *emulation_vector_t;

#define IP_NULL ((ipc_port_t)0)
#define IP_DEAD ((ipc_port_t)~0UL)
#define IP_VALID(p) ((p) != IP_NULL && (p) != IP_DEAD)

/* intran: the object a port denotes, with a reference the destructor drops (or NULL). */
task_t convert_port_to_task(ipc_port_t port);
thread_t convert_port_to_thread(ipc_port_t port);
vm_map_t convert_port_to_map(ipc_port_t port);
ipc_space_t convert_port_to_space(ipc_port_t port);
host_t convert_port_to_host(ipc_port_t port);
host_t convert_port_to_host_priv(ipc_port_t port);
processor_t convert_port_to_processor(ipc_port_t port);
processor_set_t convert_port_to_pset(ipc_port_t port);
processor_set_t convert_port_to_pset_name(ipc_port_t port);
vm_object_t vm_object_lookup(ipc_port_t port);
/* outtran: a send right for the object (consumes the object reference). */
ipc_port_t convert_task_to_port(task_t task);
ipc_port_t convert_thread_to_port(thread_t thread);
ipc_port_t convert_pset_to_port(processor_set_t pset);
ipc_port_t convert_pset_name_to_port(processor_set_t pset);
ipc_port_t convert_processor_to_port(processor_t processor);
ipc_port_t convert_host_to_port(host_t host);
/* destructors */
void task_deallocate(task_t task);
void thread_deallocate(thread_t thread);
void vm_map_deallocate(vm_map_t map);
void space_deallocate(ipc_space_t space);
void pset_deallocate(processor_set_t pset);
void processor_deallocate(processor_t processor);
void host_deallocate(host_t host);
void ipc_port_release_send(ipc_port_t port);
void vm_object_deallocate(vm_object_t object);
/* A message with a port to itself (receive right inside its own message) is refused. */
boolean_t ipc_port_check_circularity(ipc_port_t port, ipc_port_t dest);
#define null_conversion(x) (x)
/* KernelUser stubs (messages the kernel sends, e.g. to pagers): kernel/ipc/ipc_kernel_send.cc. */
mach_msg_return_t mach_msg_send_from_kernel(mach_msg_header_t *msg, mach_msg_size_t size);

#endif
