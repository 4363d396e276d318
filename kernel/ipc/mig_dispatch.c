/* The one C file of the kernel proper: it finds the MIG-generated routine for a request's
   msgh_id in the servers of mach.defs, mach_port.defs, mach_host.defs and device.defs. The
   inline lookups come from the generated server headers, which only C can include (see
   mig_shim/). */
#include "device.server.h"
#include "mach.server.h"
#include "mach_host.server.h"
#include "mach_port.server.h"

mig_routine_t mica_mig_routine(const mach_msg_header_t *request) {
  mig_routine_t r;
  if ((r = mach_server_routine(request))) return r;
  if ((r = mach_port_server_routine(request))) return r;
  if ((r = mach_host_server_routine(request))) return r;
  if ((r = device_server_routine(request))) return r;
  return 0;
}
