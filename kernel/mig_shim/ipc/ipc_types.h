/* GNU Mach kernel header name that <mach/memory_object.h> includes under KERNEL. */
#ifndef MICA_IPC_TYPES_SHIM_H
#define MICA_IPC_TYPES_SHIM_H
typedef struct Port *ipc_port_t;
#endif
