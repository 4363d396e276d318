// Kernel objects served as ports (Mach's ipc_kobject): a message sent to a port whose receive
// right the kernel holds is handled at once, in the sender's thread, by the MIG-generated
// server routine for its msgh_id.
#pragma once
#include "ipc/ipc_kmsg.h"

// Serves `request` (its rights copied in; IPC lock NOT held) and returns the reply to deliver
// to the request's reply port, or nullptr if there is none. Consumes the request.
KMsg* ipc_kobject_server(KMsg* request);
