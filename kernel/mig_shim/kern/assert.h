/* GNU Mach kernel header name that <mach/machine/vm_types.h> includes under KERNEL. */
#ifndef MICA_KERN_ASSERT_SHIM_H
#define MICA_KERN_ASSERT_SHIM_H
#define assert(x) ((void)0)
#endif
