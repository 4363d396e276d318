// Converting a message's rights between names in a space and held transit rights.
// IPC lock held.
#pragma once
#include <mach/message.h>

#include "ipc/ipc_kmsg.h"

class IpcSpace;
struct VmMap;

// Header: destination and reply names to Port pointers, dispositions to transit types.
// On error nothing has changed in the space (a dead destination name keeps its urefs, as
// on GNU Mach).
mach_msg_return_t kmsg_copyin_header(IpcSpace* s, KMsg* k);
// Body: port items to Port pointers. On error the message's rights (header's too) are
// released and the caller frees the buffer.
// Out-of-line memory is copied in from `map` (nullptr: refused with MACH_SEND_INVALID_TYPE).
mach_msg_return_t kmsg_copyin_body(IpcSpace* s, KMsg* k, VmMap* map = nullptr);
// Gives every right to the receiver's space and rewrites names in place.
// Out-of-line memory is copied out into `map` (nullptr: dropped, its address reads 0).
mach_msg_return_t kmsg_copyout(IpcSpace* s, KMsg* k, VmMap* map = nullptr);
