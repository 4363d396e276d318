/* GNU Mach kernel header name that MIG's KernelUser stubs include: the kernel's send. */
#include "mica_mig.h"
