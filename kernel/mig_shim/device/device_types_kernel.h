/* GNU Mach kernel header name that <device/device_types.h> includes under MACH_KERNEL (the
   device.defs server): the kernel's device_t, an open device (kernel/device/ds_routines.cc),
   and the conversions device_types.defs names for it. device_deallocate is declared by
   <device/device_types.h> itself. */
#ifndef MICA_DEVICE_TYPES_KERNEL_SHIM_H
#define MICA_DEVICE_TYPES_KERNEL_SHIM_H
#include "mica_mig.h"

typedef struct Device *device_t;

/* intran: the open device a port denotes, with a reference device_deallocate drops; NULL
   for any other port (the routines answer D_NO_SUCH_DEVICE). */
device_t dev_port_lookup(ipc_port_t port);
/* outtran: a send right for the device (consumes the reference). */
ipc_port_t convert_device_to_port(device_t device);
#endif
