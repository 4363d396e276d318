// External memory management: the kernel's side of the memory_object protocol (seed 002,
// section 3.4 and 5.3-5.5; seed 004, 8.3.3). A memory object is a port whose receiver (a data
// manager, or pager) supplies and takes back the data; the kernel's VmObject for it is only a
// cache of that data.
//
// - vm_map of a memory object port finds or makes the object (vm_pager_object_for) and sends
//   memory_object_init with a control port and a name port the kernel receives on.
// - A fault on a page the object does not hold inserts a busy, absent page and sends
//   memory_object_data_request; the faulting thread waits on the object, not on the pager,
//   for at most kPagerReplyBoundNs (then the fault fails with KERN_MEMORY_ERROR, which the
//   thread gets as an EXC_BAD_ACCESS exception).
// - The pager answers on the control port (mach.defs): data_supply (more or less than asked:
//   pages never asked for are cached as a prefetch, pages already present are left alone),
//   data_unavailable (zero fill), data_error, ready, change_attributes, get_attributes,
//   lock_request and destroy.
// - When the last reference goes, dirty pages go back with memory_object_data_return and the
//   pager gets memory_object_terminate, with the control and name receive rights. That is
//   done by the pager thread (vm_pager_thread), because objects die with map locks held and
//   messages need the IPC lock, which comes first in the lock order.
//
// The messages themselves are the pager_send_* functions: GNU MIG's KernelUser stubs in the
// kernel (vm/memory_object_send.cc), a simulated pager in the host tests.
#pragma once
#include <mach/kern_return.h>
#include <mach/message.h>
#include <mach/vm_prot.h>
#include <stddef.h>
#include <stdint.h>

struct Port;
struct VmObject;
struct VmMapCopy;

// The size of an object backed by a pager: memory objects have no size in Mach; offsets up
// to this are the pager's.
inline constexpr uint64_t kPagerObjectSize = uint64_t{1} << 46;
// The most pages one data request asks for (the faulting one and read-ahead): 64 KiB.
inline constexpr uint64_t kPagerCluster = 16;
// How long a fault waits for a pager's answer (ready, data, unlock) before it fails.
inline constexpr uint64_t kPagerReplyBoundNs = 10'000'000'000;

// --- The kernel's calls (vm_map, faults, object death, port death) -------------------------

// The object caching memory object `pager` (a send right the caller gives up), with one
// reference for the caller: the existing one, or a new one, in which case memory_object_init
// is sent. KERN_INVALID_ARGUMENT for a null or dead port or one the kernel serves itself,
// KERN_RESOURCE_SHORTAGE; on failure the caller keeps its right. No lock held.
kern_return_t vm_pager_object_for(Port* pager, VmObject** object);

// Asks the pager for [offset, offset + length): a busy, absent page is already at `offset`,
// the rest is read-ahead. No lock.
void vm_pager_request(VmObject* object, uint64_t offset, uint64_t length, vm_prot_t access);
// Asks the pager to unlock the page at `offset` for `access`. No lock.
void vm_pager_request_unlock(VmObject* object, uint64_t offset, vm_prot_t access);
// A fault waited too long for the page at `offset`: the request is dropped (a late answer is
// then taken as a prefetch). No lock held.
void vm_pager_request_timed_out(VmObject* object, uint64_t offset);

// The object lost its last reference (vm_object_deallocate). It is queued for the pager
// thread, which returns its dirty pages and terminates it. Any locks may be held.
void vm_pager_object_dying(VmObject* object);

// The memory object port died (port_destroy, IPC lock held): faults on pages the object does
// not hold fail from now on, and faults waiting on it wake up.
void vm_pager_port_died(Port* pager);

// The pager thread's work: terminates the objects queued by vm_pager_object_dying. Returns
// the number done. The kernel runs it in its own thread; host tests call it directly.
size_t vm_pager_run_deferred();
// The pager thread (a kernel thread started at boot).
void vm_pager_thread(void*);
// Objects waiting for the pager thread, for tests.
size_t vm_pager_deferred_count();

// --- The pager's calls on the control port (mach.defs), object reference held ----------------

// `data` (a map copy of `size` bytes, consumed on success) becomes the pages at `offset`.
kern_return_t vm_pager_data_supply(VmObject* object, uint64_t offset, VmMapCopy* data,
                                   uint64_t size, vm_prot_t lock_value, bool precious,
                                   Port* reply, mach_msg_type_name_t reply_type);
kern_return_t vm_pager_data_unavailable(VmObject* object, uint64_t offset, uint64_t size);
kern_return_t vm_pager_data_error(VmObject* object, uint64_t offset, uint64_t size,
                                  kern_return_t error);
kern_return_t vm_pager_ready(VmObject* object, bool may_cache, int copy_strategy);
kern_return_t vm_pager_change_attributes(VmObject* object, bool may_cache, int copy_strategy,
                                         Port* reply, mach_msg_type_name_t reply_type);
kern_return_t vm_pager_get_attributes(VmObject* object, bool* ready, bool* may_cache,
                                      int* copy_strategy);
kern_return_t vm_pager_lock_request(VmObject* object, uint64_t offset, uint64_t size,
                                    int should_return, bool should_flush, vm_prot_t lock_value,
                                    Port* reply, mach_msg_type_name_t reply_type);
kern_return_t vm_pager_destroy(VmObject* object, kern_return_t reason);

// The default pager (vm_set_default_memory_manager): when `manager` is a valid send right it
// becomes the default pager, run by `task`, and the previous one's right is returned; when
// it is null, a copy of the current one's right is returned (nullptr if none). IPC lock free.
Port* vm_pager_set_default(Port* manager, const void* task);
// The task that serves as default pager (its threads may dip into the reserved pages), or
// nullptr.
const void* vm_pager_default_task();

// Gives anonymous object `o` a memory object at the default pager (its first pageout): the
// object becomes internal and memory_object_create is sent. false if there is no default
// pager or no memory. No lock held.
bool vm_pager_bind_default(VmObject* o);

// The object a control port stands for, with a reference (nullptr if none). IPC lock free.
VmObject* vm_pager_object_of_control(Port* control);

// --- Messages to pagers (memory_object.defs), sent with no lock held ------------------------
// Each takes the rights as the .defs says: `pager` is copied (terminate: moved), control and
// name are made (terminate: their receive rights moved), `reply` is moved as `reply_type`.
// C linkage: the kernel's versions (vm/memory_object_send.c) call MIG's C stubs.
extern "C" {

void pager_send_init(Port* pager, Port* control, Port* name);
void pager_send_data_request(Port* pager, Port* control, uint64_t offset, uint64_t length,
                             vm_prot_t access);
void pager_send_data_unlock(Port* pager, Port* control, uint64_t offset, uint64_t length,
                            vm_prot_t access);
void pager_send_data_return(Port* pager, Port* control, uint64_t offset, VmMapCopy* data,
                            uint64_t size, bool dirty, bool kernel_copy);
void pager_send_terminate(Port* pager, Port* control, Port* name);
// memory_object_default.defs: `default_pager` moved, `object`'s receive right moved.
void pager_send_create(Port* default_pager, Port* object, uint64_t size, Port* control,
                       Port* name);
void pager_send_lock_completed(Port* reply, mach_msg_type_name_t reply_type, Port* control,
                               uint64_t offset, uint64_t length);
void pager_send_supply_completed(Port* reply, mach_msg_type_name_t reply_type, Port* control,
                                 uint64_t offset, uint64_t length, kern_return_t result,
                                 uint64_t error_offset);
void pager_send_change_completed(Port* reply, mach_msg_type_name_t reply_type, bool may_cache,
                                 int copy_strategy);
}  // extern "C"
