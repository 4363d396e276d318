// External memory management, the kernel's side (vm_pager.h).
#include "vm/vm_pager.h"

#include <mach/memory_object.h>

#include "ipc/ipc_port.h"
#include "ipc/ipc_right.h"
#include "kern/assert.h"
#include "kern/lock.h"
#include "kern/sched.h"
#include "machine/cpu.h"
#include "machine/pmap.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_resident.h"

namespace {

// Objects whose last reference went, waiting for the pager thread. A leaf lock: objects are
// queued with any VM lock held.
SpinLock g_dying_lock;
IntrusiveList<VmObject, &VmObject::pager_link> g_dying;

bool page_aligned(uint64_t v) { return (v & (kPageSize - 1)) == 0; }

// [offset, offset + size) as whole pages inside a pager object; false if it is not one.
bool valid_range(uint64_t offset, uint64_t size) {
  return page_aligned(offset) && page_aligned(size) && size > 0 && offset < kPagerObjectSize &&
         size <= kPagerObjectSize - offset;
}

// Frees every placeholder of a request still unanswered (object locked): their faults wake
// up, find them gone and ask again or fail.
void drop_placeholders_locked(VmObject* o) {
  for (VmPage* p = o->memq.front(); p;) {
    VmPage* next = o->memq.next(p);
    if ((p->vm_flags & (kVmPageBusy | kVmPageAbsent)) == (kVmPageBusy | kVmPageAbsent))
      vm_page_free_tabled(p);
    p = next;
  }
}

// The pager, control and name ports of a live object, read under its lock. They stay valid
// while the caller holds a reference: only termination takes them away.
struct PagerPorts {
  Port* pager;
  Port* control;
  Port* name;
};
PagerPorts ports_of(VmObject* o) {
  IrqSpinGuard g(o->lock);
  return {o->pager, o->pager_control, o->pager_name};
}

// The highest resident offset + page of `o`, to bound walks over huge ranges (locked).
uint64_t resident_end_locked(VmObject* o) {
  uint64_t end = 0;
  for (VmPage* p : o->memq)
    if (p->offset + kPageSize > end) end = p->offset + kPageSize;
  return end;
}

// A map copy holding the data of page `p` (its object locked), for data_return.
VmMapCopy* copy_of_page(VmPage* p) { return vm_map_copy_from_kernel(vm_page_to_virt(p), kPageSize); }

}  // namespace

kern_return_t vm_pager_object_for(Port* pager, VmObject** object) {
  VmObject* fresh = nullptr;
  bool created = false, shortage = false;
  *object = nullptr;
  while (true) {
    {
      IpcGuard g;
      if (!port_valid(pager) || !pager->active || pager->kotype != KObjectType::kNone) break;
      if (VmObject* o = pager->pager_object) {
        SpinGuard og(o->lock);
        if (!o->terminating) {
          ++o->ref_count;
          port_release_send(pager);  // the object holds a send right already
          *object = o;
          break;
        }
      }
      if (fresh) {
        Port* control = port_alloc();
        Port* name = port_alloc();
        if (!control || !name) {
          Port* made[] = {control, name};
          for (Port* p : made)
            if (p) {
              p->active = false;
              port_release(p);
            }
          shortage = true;
          break;
        }
        control->kotype = KObjectType::kMemoryControl;
        control->kobject = fresh;
        name->kotype = KObjectType::kMemoryName;
        name->kobject = fresh;
        // The caller's send right moves to the object.
        fresh->pager = pager;
        fresh->pager_control = control;
        fresh->pager_name = name;
        // Every mapping of the object is direct (copies shadow it): mark it shared, so that
        // faults put its pages into the object itself (vm_object.h).
        fresh->shared = true;
        pager->pager_object = fresh;
        *object = fresh;
        fresh = nullptr;
        created = true;
        break;
      }
    }
    fresh = vm_object_allocate(kPagerObjectSize);
    if (!fresh) return KERN_RESOURCE_SHORTAGE;
  }
  if (fresh) vm_object_deallocate(fresh);  // unused: the port had an object, or was bad
  if (shortage) return KERN_RESOURCE_SHORTAGE;
  if (!created) return *object ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
  // A new object: its pager hears of it (with no lock held).
  VmObject* o = *object;
  pager_send_init(o->pager, o->pager_control, o->pager_name);
  return KERN_SUCCESS;
}

void vm_pager_request(VmObject* object, uint64_t offset, uint64_t length, vm_prot_t access) {
  PagerPorts p = ports_of(object);
  pager_send_data_request(p.pager, p.control, offset, length, access);
}

void vm_pager_request_unlock(VmObject* object, uint64_t offset, vm_prot_t access) {
  PagerPorts p = ports_of(object);
  pager_send_data_unlock(p.pager, p.control, offset, kPageSize, access);
}

void vm_pager_request_timed_out(VmObject* object, uint64_t offset) {
  IrqSpinGuard g(object->lock);
  VmPage* p = vm_page_lookup(object, offset);
  if (p && (p->vm_flags & (kVmPageBusy | kVmPageAbsent)) == (kVmPageBusy | kVmPageAbsent))
    vm_page_free_tabled(p);
  if (p && !(p->vm_flags & kVmPageBusy))
    p->vm_flags &= static_cast<uint16_t>(~kVmPageUnlockMask);  // ask again next time
  thread_wakeup(object);
}

void vm_pager_object_dying(VmObject* object) {
  IrqSpinGuard g(g_dying_lock);
  g_dying.push_back(object);
  thread_wakeup(&g_dying);
}

void vm_pager_port_died(Port* pager) {
  VmObject* o = pager->pager_object;
  pager->pager_object = nullptr;
  SpinGuard g(o->lock);
  o->pager_dead = true;
  drop_placeholders_locked(o);
  thread_wakeup(o);
}

size_t vm_pager_deferred_count() {
  IrqSpinGuard g(g_dying_lock);
  return g_dying.size();
}

size_t vm_pager_run_deferred() {
  size_t done = 0;
  while (true) {
    VmObject* o;
    {
      IrqSpinGuard g(g_dying_lock);
      o = g_dying.pop_front();
    }
    if (!o) return done;
    ++done;
    // First cut it from its port, so that nothing else reaches it.
    {
      IpcGuard g;
      if (port_valid(o->pager) && o->pager->pager_object == o) o->pager->pager_object = nullptr;
    }
    // An external pager gets its dirty pages back; the default pager's are simply dropped.
    bool alive = port_valid(o->pager) && !o->pager_dead && !o->internal;
    // Its dirty and precious pages go back to the pager, one message a page.
    while (alive) {
      VmMapCopy* copy = nullptr;
      uint64_t offset = 0;
      bool dirty = false;
      {
        IrqSpinGuard g(o->lock);
        VmPage* p = nullptr;
        for (VmPage* q : o->memq)
          if (q->vm_flags & (kVmPageDirty | kVmPagePrecious)) {
            p = q;
            break;
          }
        if (!p) break;
        offset = p->offset;
        dirty = p->vm_flags & kVmPageDirty;
        copy = copy_of_page(p);
        vm_page_free_tabled(p);
      }
      if (!copy) continue;  // no memory for the message: the data is lost with the object
      vm_count(&VmCounters::pageouts);
      pager_send_data_return(o->pager, o->pager_control, offset, copy, kPageSize, dirty, false);
    }
    if (port_valid(o->pager)) {
      pager_send_terminate(o->pager, o->pager_control, o->pager_name);
    } else {
      IpcGuard g;
      Port* ports[] = {o->pager_control, o->pager_name};
      for (Port* p : ports)
        if (p) {
          p->kotype = KObjectType::kNone;
          p->kobject = nullptr;
          port_destroy(p);
          port_release(p);
        }
    }
    o->pager = nullptr;
    o->pager_control = o->pager_name = nullptr;
    vm_object_free_dead(o);
  }
}

void vm_pager_thread(void*) {
  while (true) {
    {
      IrqSpinGuard g(g_dying_lock);
      if (g_dying.empty()) assert_wait(&g_dying);
    }
    thread_block();
    vm_pager_run_deferred();
  }
}

namespace {
Port* g_default_pager;             // a send right (guarded by ipc_lock)
const void* g_default_pager_task;  // written under ipc_lock, read without a lock
}  // namespace

Port* vm_pager_set_default(Port* manager, const void* task) {
  IpcGuard g;
  Port* current = g_default_pager;
  if (port_valid(manager)) {
    g_default_pager = manager;  // the caller's right moves to the kernel, the old one out
    __atomic_store_n(&g_default_pager_task, task, __ATOMIC_RELEASE);
    return current;
  }
  if (port_valid(current)) {
    port_copy_send(current);
    port_reference(current);
  }
  return current;
}

const void* vm_pager_default_task() {
  // Read with object locks held (page allocation), which come after the IPC lock.
  return __atomic_load_n(&g_default_pager_task, __ATOMIC_ACQUIRE);
}

bool vm_pager_bind_default(VmObject* o) {
  Port* dp;
  Port* mo;
  Port* control;
  Port* name;
  {
    IpcGuard g;
    if (!port_valid(g_default_pager) || !g_default_pager->active) return false;
    {
      SpinGuard og(o->lock);
      if (o->pager) return true;
      if (o->terminating) return false;
    }
    mo = port_alloc();
    control = port_alloc();
    name = port_alloc();
    if (!mo || !control || !name) {
      Port* made[] = {mo, control, name};
      for (Port* p : made)
        if (p) {
          p->active = false;
          port_release(p);
        }
      return false;
    }
    // The memory object's receive right goes to the default pager with memory_object_create;
    // the object keeps a send right.
    port_make_send(mo);
    port_reference(mo);
    mo->pager_object = o;
    control->kotype = KObjectType::kMemoryControl;
    control->kobject = o;
    name->kotype = KObjectType::kMemoryName;
    name->kobject = o;
    dp = g_default_pager;
    port_copy_send(dp);  // moved by memory_object_create
    port_reference(dp);
    SpinGuard og(o->lock);
    o->pager = mo;
    o->pager_control = control;
    o->pager_name = name;
    o->internal = true;
    o->pager_ready = true;
  }
  pager_send_create(dp, mo, o->size, control, name);
  return true;
}

VmObject* vm_pager_object_of_control(Port* control) {
  IpcGuard g;
  if (!port_valid(control) || !control->active || control->kotype != KObjectType::kMemoryControl)
    return nullptr;
  auto* o = static_cast<VmObject*>(control->kobject);
  SpinGuard og(o->lock);
  if (o->terminating) return nullptr;
  ++o->ref_count;
  return o;
}

// --- The pager's calls ----------------------------------------------------------------------

kern_return_t vm_pager_data_supply(VmObject* object, uint64_t offset, VmMapCopy* data,
                                   uint64_t size, vm_prot_t lock_value, bool precious,
                                   Port* reply, mach_msg_type_name_t reply_type) {
  if (!valid_range(offset, size) || (lock_value & ~VM_PROT_ALL) || !data || data->size < size)
    return KERN_INVALID_ARGUMENT;
  kern_return_t result = KERN_SUCCESS;
  uint64_t error_offset = 0;
  bool woke = false;
  for (uint64_t pos = 0; pos < size; pos += kPageSize) {
    // The data is copied with no lock of this object held: the copy may even come from a
    // mapping of this very object.
    VmPage* np = vm_page_grab();
    if (!np) {
      result = KERN_RESOURCE_SHORTAGE;
      error_offset = offset + pos;
      break;
    }
    vm_map_copy_read(data, pos, vm_page_to_virt(np), kPageSize);
    IrqSpinGuard g(object->lock);
    VmPage* p = vm_page_lookup(object, offset + pos);
    if (p && (p->vm_flags & (kVmPageBusy | kVmPageAbsent)) == (kVmPageBusy | kVmPageAbsent)) {
      vm_page_free_tabled(p);  // the placeholder of a request: nobody maps it
      p = nullptr;
      woke = true;
    }
    if (p) {
      // Present already (or being unlocked): the kernel's copy wins, as on GNU Mach.
      vm_page_release(np);
      if (result == KERN_SUCCESS) {
        result = KERN_MEMORY_PRESENT;
        error_offset = offset + pos;
      }
      continue;
    }
    // Asked for, or a prefetch.
    vm_page_insert(np, object, offset + pos);
    np->vm_flags |= static_cast<uint16_t>(lock_value << kVmPageLockShift);
    if (precious) np->vm_flags |= kVmPagePrecious;
  }
  if (woke) thread_wakeup(object);
  vm_map_copy_discard(data);
  if (port_valid(reply)) {
    pager_send_supply_completed(reply, reply_type, ports_of(object).control, offset, size,
                                result, error_offset);
  }
  return KERN_SUCCESS;
}

namespace {

// Ends every unanswered request (placeholder) in [offset, offset + size) with `ending`, which
// gets the page, then wakes the faults waiting on the object.
template <class F>
kern_return_t end_requests(VmObject* object, uint64_t offset, uint64_t size, F&& ending) {
  if (!valid_range(offset, size)) return KERN_INVALID_ARGUMENT;
  IrqSpinGuard g(object->lock);
  uint64_t end = offset + size;
  if (end > resident_end_locked(object)) end = resident_end_locked(object);
  for (uint64_t off = offset; off < end; off += kPageSize) {
    VmPage* p = vm_page_lookup(object, off);
    if (!p || (p->vm_flags & (kVmPageBusy | kVmPageAbsent)) != (kVmPageBusy | kVmPageAbsent))
      continue;
    p->vm_flags &= static_cast<uint16_t>(~(kVmPageBusy | kVmPageAbsent));
    ending(p);
  }
  thread_wakeup(object);
  return KERN_SUCCESS;
}

}  // namespace

kern_return_t vm_pager_data_unavailable(VmObject* object, uint64_t offset, uint64_t size) {
  return end_requests(object, offset, size, [](VmPage* p) { vm_page_zero_fill(p); });
}

kern_return_t vm_pager_data_error(VmObject* object, uint64_t offset, uint64_t size,
                                  kern_return_t) {
  // The fault fails with KERN_MEMORY_ERROR whatever the pager's code, as on GNU Mach.
  return end_requests(object, offset, size, [](VmPage* p) { p->vm_flags |= kVmPageError; });
}

kern_return_t vm_pager_ready(VmObject* object, bool may_cache, int copy_strategy) {
  IrqSpinGuard g(object->lock);
  object->pager_ready = true;
  object->can_cache = may_cache;
  object->pager_copy_strategy = copy_strategy;
  thread_wakeup(object);
  return KERN_SUCCESS;
}

kern_return_t vm_pager_change_attributes(VmObject* object, bool may_cache, int copy_strategy,
                                         Port* reply, mach_msg_type_name_t reply_type) {
  vm_pager_ready(object, may_cache, copy_strategy);
  if (port_valid(reply)) pager_send_change_completed(reply, reply_type, may_cache, copy_strategy);
  return KERN_SUCCESS;
}

kern_return_t vm_pager_get_attributes(VmObject* object, bool* ready, bool* may_cache,
                                      int* copy_strategy) {
  IrqSpinGuard g(object->lock);
  *ready = object->pager_ready;
  *may_cache = object->can_cache;
  *copy_strategy = object->pager_copy_strategy;
  return KERN_SUCCESS;
}

kern_return_t vm_pager_lock_request(VmObject* object, uint64_t offset, uint64_t size,
                                    int should_return, bool should_flush, vm_prot_t lock_value,
                                    Port* reply, mach_msg_type_name_t reply_type) {
  if (!valid_range(offset, size) || (lock_value & ~VM_PROT_ALL) || should_return < 0 ||
      should_return > MEMORY_OBJECT_RETURN_ALL)
    return KERN_INVALID_ARGUMENT;
  PagerPorts ports = ports_of(object);
  uint64_t end;
  {
    IrqSpinGuard g(object->lock);
    end = resident_end_locked(object);
  }
  if (end > offset + size) end = offset + size;
  bool woke = false;
  for (uint64_t off = offset; off < end; off += kPageSize) {
    VmMapCopy* copy = nullptr;
    bool dirty = false;
    {
      IrqSpinGuard g(object->lock);
      VmPage* p = vm_page_lookup(object, off);
      if (!p || (p->vm_flags & kVmPageBusy)) continue;
      paddr_t pa = vm_page_to_phys(p);
      // Stop every access the new state forbids; a page to return is write-protected first so
      // that later writes dirty it again.
      if (should_flush) {
        pmap_page_protect(pa, kProtNone);
      } else if (lock_value || should_return != MEMORY_OBJECT_RETURN_NONE) {
        unsigned allowed = VM_PROT_ALL & ~static_cast<unsigned>(lock_value);
        if (should_return != MEMORY_OBJECT_RETURN_NONE) allowed &= ~VM_PROT_WRITE;
        pmap_page_protect(pa, allowed);
      }
      dirty = (p->vm_flags & kVmPageDirty) || pmap_is_modified(pa);
      bool precious = p->vm_flags & kVmPagePrecious;
      bool give = (should_return == MEMORY_OBJECT_RETURN_DIRTY && dirty) ||
                  (should_return == MEMORY_OBJECT_RETURN_ALL && (dirty || precious));
      if (give) {
        copy = copy_of_page(p);
        if (copy) {
          p->vm_flags &= static_cast<uint16_t>(~(kVmPageDirty | kVmPagePrecious));
          pmap_clear_modify(pa);
        }
      }
      if (should_flush && p->wire_count == 0) {
        vm_page_free_tabled(p);
      } else {
        unsigned unlocked = vm_page_locked(p) & ~static_cast<unsigned>(lock_value);
        if (unlocked) woke = true;
        p->vm_flags = static_cast<uint16_t>(
            (p->vm_flags & ~(kVmPageLockMask | kVmPageUnlockMask)) |
            (lock_value << kVmPageLockShift) |
            ((vm_page_unlock_asked(p) & lock_value) << kVmPageUnlockShift));
      }
    }
    if (copy) {
      vm_count(&VmCounters::pageouts);
      pager_send_data_return(ports.pager, ports.control, off, copy, kPageSize, dirty, false);
    }
  }
  if (woke) thread_wakeup(object);
  if (port_valid(reply))
    pager_send_lock_completed(reply, reply_type, ports.control, offset, size);
  return KERN_SUCCESS;
}

kern_return_t vm_pager_destroy(VmObject* object, kern_return_t) {
  // The object stays (maps refer to it) but has no data any more: every page is dropped and
  // faults fail, as after the pager's death.
  {
    IpcGuard g;
    if (port_valid(object->pager) && object->pager->pager_object == object)
      object->pager->pager_object = nullptr;
    SpinGuard og(object->lock);
    object->pager_dead = true;
    for (VmPage* p = object->memq.front(); p;) {
      VmPage* next = object->memq.next(p);
      if (!(p->vm_flags & kVmPageBusy) || (p->vm_flags & kVmPageAbsent)) {
        pmap_page_protect(vm_page_to_phys(p), kProtNone);
        if (p->wire_count == 0) vm_page_free_tabled(p);
      }
      p = next;
    }
    thread_wakeup(object);
  }
  return KERN_SUCCESS;
}
