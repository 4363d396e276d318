/* Everything a Mach program usually needs, as the Hurd's glibc <mach.h> gathers it: the
   types, the traps, mach_task_self(), the MIG runtime and the stubs of mach.defs,
   mach_port.defs and mach_host.defs. */
#ifndef _MACH_H
#define _MACH_H

#include <mach/mach_types.h>
#include <mach/mach_traps.h>
#include <mach_init.h>
#include <mach/mig_support.h>
#include <mach/mach_interface.h>
#include <mach/mach_port.h>
#include <mach/mach_host.h>

#endif
