// Kernel objects served as ports (Mach's ipc_kobject): a message sent to a port whose receive
// right the kernel holds is handled at once, in the sender's thread, by the MIG-generated
// server routine for its msgh_id.
#pragma once
#include "ipc/ipc_kmsg.h"

struct Port;

// Serves `request` (its rights copied in; IPC lock NOT held) and returns the reply to deliver
// to the request's reply port, or nullptr if there is none. Consumes the request.
KMsg* ipc_kobject_server(KMsg* request);

// The last send right of `port`, an active kernel-object port, is gone (IPC lock held; the
// caller still holds a reference on the port). Objects that end with their senders end here:
// open devices close, as GNU Mach's device_no_senders. Others are left as they are.
void ipc_kobject_no_senders(Port* port);
