/* Messages to pagers (vm/vm_pager.h), through GNU MIG's KernelUser stubs of trixie's
   memory_object.defs: the stubs lay the message out, mach_msg_send_from_kernel queues it.
   Ports are kernel pointers (ipc_port_t), out-of-line data a VmMapCopy*. */
#include <stdbool.h>
#include <stdint.h>

#include "mica_mig.h"
#include "memory_object.user.h"
#include "memory_object_default.user.h"

struct VmMapCopy;

void pager_send_init(ipc_port_t pager, ipc_port_t control, ipc_port_t name) {
  memory_object_init(pager, control, name, 4096 /* kPageSize */);
}

void pager_send_data_request(ipc_port_t pager, ipc_port_t control, uint64_t offset,
                             uint64_t length, vm_prot_t access) {
  memory_object_data_request(pager, control, offset, length, access);
}

void pager_send_data_unlock(ipc_port_t pager, ipc_port_t control, uint64_t offset,
                            uint64_t length, vm_prot_t access) {
  memory_object_data_unlock(pager, control, offset, length, access);
}

void pager_send_data_return(ipc_port_t pager, ipc_port_t control, uint64_t offset,
                            struct VmMapCopy *data, uint64_t size, bool dirty, bool kernel_copy) {
  memory_object_data_return(pager, control, offset, (vm_offset_t)data,
                            (mach_msg_type_number_t)size, dirty, kernel_copy);
}

void pager_send_terminate(ipc_port_t pager, ipc_port_t control, ipc_port_t name) {
  memory_object_terminate(pager, control, name);
}

void pager_send_lock_completed(ipc_port_t reply, mach_msg_type_name_t reply_type,
                               ipc_port_t control, uint64_t offset, uint64_t length) {
  memory_object_lock_completed(reply, reply_type, control, offset, length);
}

void pager_send_supply_completed(ipc_port_t reply, mach_msg_type_name_t reply_type,
                                 ipc_port_t control, uint64_t offset, uint64_t length,
                                 kern_return_t result, uint64_t error_offset) {
  memory_object_supply_completed(reply, reply_type, control, offset, length, result,
                                 error_offset);
}

void pager_send_change_completed(ipc_port_t reply, mach_msg_type_name_t reply_type,
                                 bool may_cache, int copy_strategy) {
  memory_object_change_completed(reply, reply_type, may_cache, copy_strategy);
}

void pager_send_create(ipc_port_t default_pager, ipc_port_t object, uint64_t size,
                       ipc_port_t control, ipc_port_t name) {
  memory_object_create(default_pager, object, size, control, name, 4096 /* kPageSize */);
}
