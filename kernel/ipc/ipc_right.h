// Rights in a space: lookup (with dead-name conversion), copyin of a right by disposition,
// copyout of a transit right, and the user operations on names (deallocate, destroy,
// mod_refs). IPC lock held for all of them.
#pragma once
#include <mach/kern_return.h>
#include <mach/message.h>
#include <mach/port.h>

#include "ipc/ipc_port.h"
#include "ipc/ipc_space.h"

// What a message slot holds for a right whose name was a dead name: Mach's MACH_PORT_DEAD.
inline Port* const kDeadPort = reinterpret_cast<Port*>(~uintptr_t{0});
inline bool port_valid(const Port* p) { return p && p != kDeadPort; }

// The transit type a disposition becomes once copied in (MACH_MSG_TYPE_PORT_*), or 0 if
// `disp` is not a port disposition.
unsigned right_transit_type(unsigned disp);

// Entry at `name`; send and send-once rights whose port has died are first turned into dead
// names (Mach's lazy ipc_right_check). nullptr if the name denotes nothing.
IpcEntry* right_lookup(IpcSpace* s, mach_port_name_t name);

// Checks that `name` holds what `disp` needs, without changing anything.
kern_return_t right_copyin_check(IpcSpace* s, mach_port_name_t name, unsigned disp);
// Takes the right `disp` names out of the space into *port (a held transit right, or
// kDeadPort for a dead name with a send disposition). KERN_INVALID_NAME, KERN_INVALID_RIGHT,
// KERN_INVALID_CAPABILITY (a receive right of a port in a set is fine; a dead port is not).
kern_return_t right_copyin(IpcSpace* s, mach_port_name_t name, unsigned disp, Port** port);
// Gives the transit right to the space; *name receives its name there. Consumes the right
// in all cases (on shortage it is destroyed and MACH_PORT_NULL is named).
kern_return_t right_copyout(IpcSpace* s, Port* port, unsigned transit, mach_port_name_t* name);
// Destroys a transit right (a message being destroyed).
void right_release_transit(Port* port, unsigned transit);

// The user calls of mach_port.defs that act on one name.
kern_return_t right_deallocate(IpcSpace* s, mach_port_name_t name);
kern_return_t right_destroy(IpcSpace* s, mach_port_name_t name);
kern_return_t right_mod_refs(IpcSpace* s, mach_port_name_t name, mach_port_right_t right,
                             int delta);
kern_return_t right_get_refs(IpcSpace* s, mach_port_name_t name, mach_port_right_t right,
                             mach_port_urefs_t* refs);
// Removes every right of a dying space (task termination).
void right_space_destroy(IpcSpace* s);
// Frees an entry whose rights have been dealt with, sending port-deleted for its request.
void right_entry_free(IpcSpace* s, IpcEntry* e);
// The dead-name request of entry `e`, if any (on its port).
DeadNameRequest* right_find_request(IpcSpace* s, IpcEntry* e);
