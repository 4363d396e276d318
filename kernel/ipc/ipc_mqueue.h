// Sending and receiving kernel messages (Mach's ipc_mqueue / ipc_kmsg_send).
#pragma once
#include <mach/message.h>

#include "ipc/ipc_kmsg.h"

struct Port;
struct PortSet;

// Queues a message the kernel made (a notification, a kernel object's reply) on its
// destination, whatever the queue limit. A dead destination, or one the kernel itself
// serves, destroys the message. Never blocks; IPC lock held throughout.
void ipc_deliver(KMsg* k);
