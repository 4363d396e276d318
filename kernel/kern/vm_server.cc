// The VM calls of mach.defs and mach_host.defs as the MIG server calls them: C linkage, MIG's
// C types, the task's map converted from the request's port (with a map reference the server
// drops through vm_map_deallocate). Out-of-line data travels as a VmMapCopy* in the message's
// 8-byte pointer slot, as GNU Mach's vm_map_copy_t does.
#include <mach/mach_types.h>
#include <mach/vm_statistics.h>

#include "ipc/ipc_port.h"
#include "ipc/ipc_right.h"
#include "kern/task.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_pager.h"
#include "vm/vm_user.h"

// The C++ VM layer (vm_user.h) has the same names: the MIG entry points get their C symbols
// through asm labels instead.
extern "C" {
void mig_vm_map_deallocate(VmMap* map)
    __asm__("vm_map_deallocate");
kern_return_t mig_vm_allocate(VmMap* map, vm_offset_t* address, vm_size_t size, boolean_t anywhere)
    __asm__("vm_allocate");
kern_return_t mig_vm_deallocate(VmMap* map, vm_offset_t address, vm_size_t size)
    __asm__("vm_deallocate");
kern_return_t mig_vm_protect(VmMap* map, vm_offset_t address, vm_size_t size, boolean_t set_max,
                         vm_prot_t prot)
    __asm__("vm_protect");
kern_return_t mig_vm_inherit(VmMap* map, vm_offset_t address, vm_size_t size, vm_inherit_t inh)
    __asm__("vm_inherit");
kern_return_t mig_vm_read(VmMap* map, vm_offset_t address, vm_size_t size, vm_offset_t* data,
                      mach_msg_type_number_t* count)
    __asm__("vm_read");
kern_return_t mig_vm_write(VmMap* map, vm_offset_t address, vm_offset_t data,
                       mach_msg_type_number_t count)
    __asm__("vm_write");
kern_return_t mig_vm_copy(VmMap* map, vm_offset_t src, vm_size_t size, vm_offset_t dst)
    __asm__("vm_copy");
kern_return_t mig_vm_region(VmMap* map, vm_offset_t* address, vm_size_t* size, vm_prot_t* prot,
                        vm_prot_t* max_prot, vm_inherit_t* inh, boolean_t* shared,
                        Port** object_name, vm_offset_t* offset)
    __asm__("vm_region");
kern_return_t mig_vm_statistics(VmMap* map, vm_statistics_data_t* stats)
    __asm__("vm_statistics");
kern_return_t mig_vm_map(VmMap* map, vm_offset_t* address, vm_size_t size, vm_offset_t mask,
                     boolean_t anywhere, Port* memory_object, vm_offset_t offset,
                     boolean_t copy, vm_prot_t cur, vm_prot_t max, vm_inherit_t inh)
    __asm__("vm_map");
kern_return_t mig_vm_wire(Port* host, VmMap* map, vm_offset_t address, vm_size_t size,
                      vm_prot_t access)
    __asm__("vm_wire");

VmMap* convert_port_to_map(Port* p) {
  IpcGuard g;
  if (!p || p == reinterpret_cast<Port*>(~uintptr_t{0}) || !p->active ||
      p->kotype != KObjectType::kTask)
    return nullptr;
  VmMap* map = static_cast<Task*>(p->kobject)->map;
  if (map) vm_map_reference(map);
  return map;
}

void mig_vm_map_deallocate(VmMap* map) { ::vm_map_deallocate(map); }

kern_return_t mig_vm_allocate(VmMap* map, vm_offset_t* address, vm_size_t size, boolean_t anywhere) {
  if (!map) return KERN_INVALID_ARGUMENT;
  vaddr_t a = *address;
  kern_return_t kr = ::vm_allocate(map, &a, size, anywhere != 0);
  *address = a;
  return kr;
}

kern_return_t mig_vm_deallocate(VmMap* map, vm_offset_t address, vm_size_t size) {
  if (!map) return KERN_INVALID_ARGUMENT;
  return ::vm_deallocate(map, address, size);
}

kern_return_t mig_vm_protect(VmMap* map, vm_offset_t address, vm_size_t size, boolean_t set_max,
                         vm_prot_t prot) {
  if (!map) return KERN_INVALID_ARGUMENT;
  return ::vm_protect(map, address, size, set_max != 0, prot);
}

kern_return_t mig_vm_inherit(VmMap* map, vm_offset_t address, vm_size_t size, vm_inherit_t inh) {
  if (!map) return KERN_INVALID_ARGUMENT;
  return ::vm_inherit(map, address, size, inh);
}

kern_return_t mig_vm_read(VmMap* map, vm_offset_t address, vm_size_t size, vm_offset_t* data,
                      mach_msg_type_number_t* count) {
  if (!map) return KERN_INVALID_ARGUMENT;
  VmMapCopy* copy = nullptr;
  vm_size_t n = 0;
  kern_return_t kr = ::vm_read(map, address, size, &copy, &n);
  if (kr != KERN_SUCCESS) return kr;
  *data = reinterpret_cast<vm_offset_t>(copy);
  *count = static_cast<mach_msg_type_number_t>(n);
  return KERN_SUCCESS;
}

kern_return_t mig_vm_write(VmMap* map, vm_offset_t address, vm_offset_t data,
                       mach_msg_type_number_t count) {
  if (!map) return KERN_INVALID_ARGUMENT;
  return ::vm_write(map, address, reinterpret_cast<VmMapCopy*>(data), count);
}

kern_return_t mig_vm_copy(VmMap* map, vm_offset_t src, vm_size_t size, vm_offset_t dst) {
  if (!map) return KERN_INVALID_ARGUMENT;
  return ::vm_copy(map, src, size, dst);
}

kern_return_t mig_vm_region(VmMap* map, vm_offset_t* address, vm_size_t* size, vm_prot_t* prot,
                        vm_prot_t* max_prot, vm_inherit_t* inh, boolean_t* shared,
                        Port** object_name, vm_offset_t* offset) {
  if (!map) return KERN_INVALID_ARGUMENT;
  vaddr_t a = *address;
  bool is_shared = false;
  uint64_t off = 0;
  kern_return_t kr = ::vm_region(map, &a, size, prot, max_prot, inh, &is_shared, &off);
  *address = a;
  *shared = is_shared;
  *offset = off;
  *object_name = nullptr;  // memory object name ports come with external pagers
  return kr;
}

kern_return_t mig_vm_statistics(VmMap* map, vm_statistics_data_t* stats) {
  if (!map) return KERN_INVALID_ARGUMENT;
  return ::vm_statistics(map, stats);
}

kern_return_t mig_vm_map(VmMap* map, vm_offset_t* address, vm_size_t size, vm_offset_t mask,
                     boolean_t anywhere, Port* memory_object, vm_offset_t offset,
                     boolean_t copy, vm_prot_t cur, vm_prot_t max, vm_inherit_t inh) {
  if (!map) return KERN_INVALID_ARGUMENT;
  VmObject* object = nullptr;
  // As GNU Mach: a null or dead memory object port maps anonymous memory.
  if (port_valid(memory_object)) {
    // The object takes a send right of its own: MIG's server releases the message's right
    // after a success, and on failure the request is destroyed with it.
    {
      IpcGuard g;
      port_copy_send(memory_object);
      port_reference(memory_object);
    }
    kern_return_t kr = vm_pager_object_for(memory_object, &object);
    if (kr != KERN_SUCCESS) {
      IpcGuard g;
      port_release_send(memory_object);
      return kr;
    }
  }
  vaddr_t a = *address;
  kern_return_t kr =
      ::vm_map(map, &a, size, mask, anywhere != 0, object, offset, copy != 0, cur, max, inh);
  if (object) vm_object_deallocate(object);  // the map took its own reference, or failed
  if (kr != KERN_SUCCESS) return kr;
  *address = a;
  return kr;
}

kern_return_t mig_vm_wire(Port* host, VmMap* map, vm_offset_t address, vm_size_t size,
                      vm_prot_t access) {
  // As GNU Mach: the privileged host port may wire anything; the plain host port a little
  // (vm_user.h, kVmWireUnprivilegedLimit); any other port is KERN_INVALID_HOST.
  bool privileged;
  {
    IpcGuard g;
    if (!host || host == reinterpret_cast<Port*>(~uintptr_t{0}) || !host->active ||
        (host->kotype != KObjectType::kHost && host->kotype != KObjectType::kHostPriv))
      return KERN_INVALID_HOST;
    privileged = host->kotype == KObjectType::kHostPriv;
  }
  if (!map) return KERN_INVALID_TASK;
  return ::vm_wire(map, address, size, access, privileged);
}

}  // extern "C"
