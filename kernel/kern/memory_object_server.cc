// The pager's calls on a memory object's control port (mach.defs), as the MIG server calls
// them: C linkage and MIG's C types. The control port is converted to its object with a
// reference (vm_object_lookup), which each routine drops: mach.defs names no destructor.
// Out-of-line data is a VmMapCopy* in the message's pointer slot.
#include <mach/mach_types.h>
#include <mach/memory_object.h>

#include "ipc/ipc_port.h"
#include "kern/thread.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_pager.h"

namespace {

// Runs `call` on the object and drops the reference the conversion took.
template <class F>
kern_return_t with_object(VmObject* object, F&& call) {
  if (!object) return KERN_INVALID_ARGUMENT;
  kern_return_t kr = call(object);
  vm_object_deallocate(object);
  return kr;
}

}  // namespace

extern "C" {

VmObject* vm_object_lookup(Port* control) { return vm_pager_object_of_control(control); }

kern_return_t memory_object_data_supply(VmObject* object, vm_offset_t offset, vm_offset_t data,
                                        mach_msg_type_number_t count, vm_prot_t lock_value,
                                        boolean_t precious, Port* reply,
                                        mach_msg_type_name_t reply_type) {
  return with_object(object, [&](VmObject* o) {
    return vm_pager_data_supply(o, offset, reinterpret_cast<VmMapCopy*>(data), count,
                                lock_value, precious != 0, reply, reply_type);
  });
}

kern_return_t memory_object_data_unavailable(VmObject* object, vm_offset_t offset,
                                             vm_size_t size) {
  return with_object(object,
                     [&](VmObject* o) { return vm_pager_data_unavailable(o, offset, size); });
}

kern_return_t memory_object_data_error(VmObject* object, vm_offset_t offset, vm_size_t size,
                                       kern_return_t error) {
  return with_object(object,
                     [&](VmObject* o) { return vm_pager_data_error(o, offset, size, error); });
}

kern_return_t memory_object_ready(VmObject* object, boolean_t may_cache,
                                  memory_object_copy_strategy_t strategy) {
  return with_object(object,
                     [&](VmObject* o) { return vm_pager_ready(o, may_cache != 0, strategy); });
}

kern_return_t memory_object_change_attributes(VmObject* object, boolean_t may_cache,
                                              memory_object_copy_strategy_t strategy,
                                              Port* reply, mach_msg_type_name_t reply_type) {
  return with_object(object, [&](VmObject* o) {
    return vm_pager_change_attributes(o, may_cache != 0, strategy, reply, reply_type);
  });
}

kern_return_t memory_object_get_attributes(VmObject* object, boolean_t* ready,
                                           boolean_t* may_cache,
                                           memory_object_copy_strategy_t* strategy) {
  return with_object(object, [&](VmObject* o) {
    bool r, c;
    int s;
    kern_return_t kr = vm_pager_get_attributes(o, &r, &c, &s);
    *ready = r;
    *may_cache = c;
    *strategy = s;
    return kr;
  });
}

kern_return_t memory_object_lock_request(VmObject* object, vm_offset_t offset, vm_size_t size,
                                         memory_object_return_t should_return,
                                         boolean_t should_flush, vm_prot_t lock_value,
                                         Port* reply, mach_msg_type_name_t reply_type) {
  return with_object(object, [&](VmObject* o) {
    return vm_pager_lock_request(o, offset, size, should_return, should_flush != 0, lock_value,
                                 reply, reply_type);
  });
}

kern_return_t memory_object_destroy(VmObject* object, kern_return_t reason) {
  return with_object(object, [&](VmObject* o) { return vm_pager_destroy(o, reason); });
}

}  // extern "C"

// The default pager (mach.defs, on the privileged host port): a new manager's send right moves
// to the kernel and the old one's comes back; MACH_PORT_NULL only asks, getting a copy.
extern "C" kern_return_t vm_set_default_memory_manager(void* host_priv, Port** manager) {
  if (!host_priv) return KERN_INVALID_HOST;
  *manager = vm_pager_set_default(*manager, current_thread()->task);
  return KERN_SUCCESS;
}
