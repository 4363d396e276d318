// The kernel side of mach_port.defs: operations on a task's port name space, called by the
// MIG-generated server with the space of the task named by the request's destination (and a
// reference on that task). Rights in the request (notify, poly) are consumed on success.
#include <mach/mach_types.h>
#include <mach/notify.h>

#include "ipc/ipc_right.h"
#include "kern/sched.h"
#include "vm/vm_map.h"
#include "vm/vm_page.h"

namespace {

// Port a receive right names, or nullptr.
Port* receive_port(IpcSpace* s, mach_port_name_t name, kern_return_t* kr) {
  IpcEntry* e = right_lookup(s, name);
  if (!e) {
    *kr = KERN_INVALID_NAME;
    return nullptr;
  }
  if (!(e->type & MACH_PORT_TYPE_RECEIVE)) {
    *kr = KERN_INVALID_RIGHT;
    return nullptr;
  }
  return static_cast<Port*>(e->object);
}

kern_return_t allocate_at(IpcSpace* s, mach_port_right_t right, IpcEntry* e) {
  switch (right) {
    case MACH_PORT_RIGHT_RECEIVE: {
      Port* p = port_alloc();
      if (!p) return KERN_RESOURCE_SHORTAGE;
      e->object = p;
      if (s->reverse_insert(e) != KERN_SUCCESS) {
        p->active = false;
        port_release(p);
        return KERN_RESOURCE_SHORTAGE;
      }
      e->type = MACH_PORT_TYPE_RECEIVE;
      p->receiver = s;
      p->receiver_name = e->name;
      return KERN_SUCCESS;
    }
    case MACH_PORT_RIGHT_PORT_SET: {
      PortSet* set = pset_alloc();
      if (!set) return KERN_RESOURCE_SHORTAGE;
      set->space = s;
      set->name = e->name;
      e->object = set;
      e->type = MACH_PORT_TYPE_PORT_SET;
      return KERN_SUCCESS;
    }
    case MACH_PORT_RIGHT_DEAD_NAME:
      e->object = nullptr;
      e->type = MACH_PORT_TYPE_DEAD_NAME;
      e->urefs = 1;
      return KERN_SUCCESS;
    default:
      return KERN_INVALID_VALUE;
  }
}

}  // namespace

extern "C" {

kern_return_t mach_port_allocate(IpcSpace* s, mach_port_right_t right, mach_port_name_t* name) {
  if (!s) return KERN_INVALID_TASK;
  if (right != MACH_PORT_RIGHT_RECEIVE && right != MACH_PORT_RIGHT_PORT_SET &&
      right != MACH_PORT_RIGHT_DEAD_NAME)
    return KERN_INVALID_VALUE;
  IpcGuard g;
  IpcEntry* e;
  kern_return_t kr = s->alloc(&e);
  if (kr != KERN_SUCCESS) return kr;
  kr = allocate_at(s, right, e);
  if (kr != KERN_SUCCESS) {
    s->free(e);
    return kr;
  }
  *name = e->name;
  return KERN_SUCCESS;
}

kern_return_t mach_port_allocate_name(IpcSpace* s, mach_port_right_t right,
                                      mach_port_name_t name) {
  if (!s) return KERN_INVALID_TASK;
  if (right != MACH_PORT_RIGHT_RECEIVE && right != MACH_PORT_RIGHT_PORT_SET &&
      right != MACH_PORT_RIGHT_DEAD_NAME)
    return KERN_INVALID_VALUE;
  if (name == MACH_PORT_NULL || name == MACH_PORT_DEAD) return KERN_INVALID_VALUE;
  IpcGuard g;
  IpcEntry* e;
  kern_return_t kr = s->alloc_name(name, &e);
  if (kr != KERN_SUCCESS) return kr;
  kr = allocate_at(s, right, e);
  if (kr != KERN_SUCCESS) s->free(e);
  return kr;
}

kern_return_t mach_port_type(IpcSpace* s, mach_port_name_t name, mach_port_type_t* type) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  IpcEntry* e = right_lookup(s, name);
  if (!e) return KERN_INVALID_NAME;
  *type = e->type | (e->request ? MACH_PORT_TYPE_DNREQUEST : 0);
  return KERN_SUCCESS;
}

kern_return_t mach_port_deallocate(IpcSpace* s, mach_port_name_t name) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  return right_deallocate(s, name);
}

kern_return_t mach_port_destroy(IpcSpace* s, mach_port_name_t name) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  return right_destroy(s, name);
}

kern_return_t mach_port_get_refs(IpcSpace* s, mach_port_name_t name, mach_port_right_t right,
                                 mach_port_urefs_t* refs) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  return right_get_refs(s, name, right, refs);
}

kern_return_t mach_port_mod_refs(IpcSpace* s, mach_port_name_t name, mach_port_right_t right,
                                 mach_port_delta_t delta) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  return right_mod_refs(s, name, right, delta);
}

kern_return_t mach_port_rename(IpcSpace* s, mach_port_name_t old_name, mach_port_name_t new_name) {
  if (!s) return KERN_INVALID_TASK;
  if (new_name == MACH_PORT_NULL || new_name == MACH_PORT_DEAD) return KERN_INVALID_VALUE;
  IpcGuard g;
  IpcEntry* e = right_lookup(s, old_name);
  if (!e) return KERN_INVALID_NAME;
  if (DeadNameRequest* r = right_find_request(s, e)) r->name = new_name;
  IpcEntry* out;
  kern_return_t kr = s->rename(e, new_name, &out);
  if (kr != KERN_SUCCESS) {
    if (DeadNameRequest* r = right_find_request(s, e)) r->name = old_name;
    return kr;
  }
  if (out->type & MACH_PORT_TYPE_RECEIVE) static_cast<Port*>(out->object)->receiver_name = new_name;
  if (out->type & MACH_PORT_TYPE_PORT_SET) static_cast<PortSet*>(out->object)->name = new_name;
  return KERN_SUCCESS;
}

kern_return_t mach_port_get_receive_status(IpcSpace* s, mach_port_name_t name,
                                           mach_port_status_t* st) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  kern_return_t kr;
  Port* p = receive_port(s, name, &kr);
  if (!p) return kr;
  st->mps_pset = p->pset ? p->pset->name : MACH_PORT_NULL;
  st->mps_seqno = p->seqno;
  st->mps_mscount = p->mscount;
  st->mps_qlimit = p->qlimit;
  st->mps_msgcount = static_cast<mach_port_msgcount_t>(p->messages.size());
  st->mps_sorights = p->sorights;
  st->mps_srights = p->srights > 0;
  st->mps_pdrequest = p->pdrequest != nullptr;
  st->mps_nsrequest = p->nsrequest != nullptr;
  return KERN_SUCCESS;
}

kern_return_t mach_port_set_qlimit(IpcSpace* s, mach_port_name_t name, mach_port_msgcount_t q) {
  if (!s) return KERN_INVALID_TASK;
  if (q > MACH_PORT_QLIMIT_MAX) return KERN_INVALID_VALUE;
  IpcGuard g;
  kern_return_t kr;
  Port* p = receive_port(s, name, &kr);
  if (!p) return kr;
  p->qlimit = q;
  thread_wakeup(&p->qlimit);  // senders may fit now
  return KERN_SUCCESS;
}

kern_return_t mach_port_set_mscount(IpcSpace* s, mach_port_name_t name, mach_port_mscount_t n) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  kern_return_t kr;
  Port* p = receive_port(s, name, &kr);
  if (!p) return kr;
  p->mscount = n;
  return KERN_SUCCESS;
}

kern_return_t mach_port_set_seqno(IpcSpace* s, mach_port_name_t name, mach_port_seqno_t n) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  kern_return_t kr;
  Port* p = receive_port(s, name, &kr);
  if (!p) return kr;
  p->seqno = n;
  return KERN_SUCCESS;
}

kern_return_t mach_port_move_member(IpcSpace* s, mach_port_name_t member, mach_port_name_t after) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  kern_return_t kr;
  Port* p = receive_port(s, member, &kr);
  if (!p) return kr;
  if (after == MACH_PORT_NULL) {
    pset_remove(p);
    return KERN_SUCCESS;
  }
  IpcEntry* e = right_lookup(s, after);
  if (!e) return KERN_INVALID_NAME;
  if (!(e->type & MACH_PORT_TYPE_PORT_SET)) return KERN_INVALID_RIGHT;
  pset_add(static_cast<PortSet*>(e->object), p);
  return KERN_SUCCESS;
}

kern_return_t mach_port_request_notification(IpcSpace* s, mach_port_name_t name,
                                             mach_msg_id_t id, mach_port_mscount_t sync,
                                             Port* notify, Port** previous) {
  if (!s) return KERN_INVALID_TASK;
  IpcGuard g;
  // The notify right arrives as a send-once right (the .defs ask MAKE_SEND_ONCE of users).
  *previous = nullptr;
  switch (id) {
    case MACH_NOTIFY_NO_SENDERS: {
      kern_return_t kr;
      Port* p = receive_port(s, name, &kr);
      if (!p) return kr;
      *previous = p->nsrequest;
      p->nsrequest = port_valid(notify) ? notify : nullptr;
      // Already no senders and the count is as asked: notify at once.
      if (p->nsrequest && p->srights == 0 && sync <= p->mscount) {
        Port* n = p->nsrequest;
        p->nsrequest = nullptr;
        notify_no_senders(n, p->mscount);
      }
      return KERN_SUCCESS;
    }
    case MACH_NOTIFY_PORT_DESTROYED: {
      kern_return_t kr;
      Port* p = receive_port(s, name, &kr);
      if (!p) return kr;
      if (sync != 0) return KERN_INVALID_VALUE;
      *previous = p->pdrequest;
      p->pdrequest = port_valid(notify) ? notify : nullptr;
      return KERN_SUCCESS;
    }
    case MACH_NOTIFY_DEAD_NAME: {
      IpcEntry* e = right_lookup(s, name);
      if (!e) return KERN_INVALID_NAME;
      if (e->type & MACH_PORT_TYPE_DEAD_NAME) {
        // Already dead: with sync, the notification comes at once.
        if (sync == 0 || !port_valid(notify)) return KERN_INVALID_ARGUMENT;
        if (e->urefs < IpcEntry::kMaxUrefs) ++e->urefs;
        notify_dead_name(notify, name);
        return KERN_SUCCESS;
      }
      if (!(e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE | MACH_PORT_TYPE_RECEIVE)))
        return KERN_INVALID_RIGHT;
      Port* p = static_cast<Port*>(e->object);
      DeadNameRequest* r = right_find_request(s, e);
      if (r) {
        *previous = r->notify;
        if (port_valid(notify)) {
          r->notify = notify;
        } else {
          p->dnrequests.remove(r);
          dnrequest_free(r);
          e->request = 0;
        }
        return KERN_SUCCESS;
      }
      if (!port_valid(notify)) return KERN_SUCCESS;
      r = dnrequest_alloc();
      if (!r) return KERN_RESOURCE_SHORTAGE;
      r->space = s;
      r->name = name;
      r->notify = notify;
      p->dnrequests.push_back(r);
      e->request = 1;
      return KERN_SUCCESS;
    }
    default:
      return KERN_INVALID_VALUE;
  }
}

kern_return_t mach_port_insert_right(IpcSpace* s, mach_port_name_t name, Port* poly,
                                     mach_msg_type_name_t poly_type) {
  if (!s) return KERN_INVALID_TASK;
  if (name == MACH_PORT_NULL || name == MACH_PORT_DEAD) return KERN_INVALID_VALUE;
  // poly is polymorphic: MIG lets any non-port type through (in a simple message too), and
  // then poly is the sender's raw data, no right at all. GNU Mach refuses it the same way.
  if (poly_type != MACH_MSG_TYPE_PORT_RECEIVE && poly_type != MACH_MSG_TYPE_PORT_SEND &&
      poly_type != MACH_MSG_TYPE_PORT_SEND_ONCE)
    return KERN_INVALID_VALUE;
  if (!port_valid(poly)) return KERN_INVALID_CAPABILITY;
  IpcGuard g;
  IpcEntry* existing = s->reverse_lookup(poly);
  IpcEntry* e = right_lookup(s, name);
  if (poly_type == MACH_MSG_TYPE_PORT_SEND_ONCE) {
    if (e) return KERN_NAME_EXISTS;
  } else if (e) {
    // A send right may join the entry that already names this port.
    if (e != existing || poly_type != MACH_MSG_TYPE_PORT_SEND) return KERN_NAME_EXISTS;
    if (e->type & MACH_PORT_TYPE_SEND) {
      if (e->urefs >= IpcEntry::kMaxUrefs) return KERN_UREFS_OVERFLOW;
      ++e->urefs;
      port_release_send(poly);
    } else {
      e->type |= MACH_PORT_TYPE_SEND;
      e->urefs = 1;
    }
    return KERN_SUCCESS;
  } else if (existing) {
    return KERN_RIGHT_EXISTS;
  }
  kern_return_t kr = s->alloc_name(name, &e);
  if (kr != KERN_SUCCESS) return kr;
  e->object = poly;
  e->request = 0;
  if (poly_type != MACH_MSG_TYPE_PORT_SEND_ONCE && s->reverse_insert(e) != KERN_SUCCESS) {
    s->free(e);
    return KERN_RESOURCE_SHORTAGE;
  }
  switch (poly_type) {
    case MACH_MSG_TYPE_PORT_SEND:
      e->type = MACH_PORT_TYPE_SEND;
      e->urefs = 1;
      break;
    case MACH_MSG_TYPE_PORT_SEND_ONCE:
      e->type = MACH_PORT_TYPE_SEND_ONCE;
      e->urefs = 1;
      break;
    default:  // PORT_RECEIVE
      e->type = MACH_PORT_TYPE_RECEIVE;
      poly->receiver = s;
      poly->receiver_name = name;
      break;
  }
  return KERN_SUCCESS;
}

kern_return_t mach_port_extract_right(IpcSpace* s, mach_port_name_t name,
                                      mach_msg_type_name_t msgt_name, Port** poly,
                                      mach_msg_type_name_t* poly_type) {
  if (!s) return KERN_INVALID_TASK;
  unsigned transit = right_transit_type(msgt_name);
  if (!transit) return KERN_INVALID_VALUE;
  IpcGuard g;
  kern_return_t kr = right_copyin_check(s, name, msgt_name);
  if (kr != KERN_SUCCESS) return kr;
  Port* p;
  right_copyin(s, name, msgt_name, &p);
  *poly = p;
  *poly_type = transit;
  return KERN_SUCCESS;
}

}  // extern "C"

// The two calls that return arrays, out of line: the arrays are built in kernel pages, then
// handed to MIG as map copies (their address in the reply is where the receiver finds them).
namespace {

// A kernel buffer of `n` 32-bit words from the page allocator (nullptr on shortage).
uint32_t* words_alloc(size_t n, unsigned* order) {
  *order = 0;
  while ((kPageSize << *order) < n * sizeof(uint32_t)) ++*order;
  if (*order > kVmPageMaxOrder) return nullptr;
  VmPage* p = vm_page_alloc(*order);
  return p ? static_cast<uint32_t*>(vm_page_to_virt(p)) : nullptr;
}

void words_free(uint32_t* w, unsigned order) {
  vm_page_free(vm_page_from_phys(arch_virt_to_phys(w)), order);
}

}  // namespace

extern "C" {

kern_return_t mach_port_names(IpcSpace* s, uint64_t* names, mach_msg_type_number_t* names_count,
                              uint64_t* types, mach_msg_type_number_t* types_count) {
  if (!s) return KERN_INVALID_TASK;
  unsigned order_n, order_t;
  size_t n;
  uint32_t* nbuf;
  uint32_t* tbuf;
  {
    IpcGuard g;
    n = s->size();
  }
  nbuf = words_alloc(n + 1, &order_n);
  tbuf = nbuf ? words_alloc(n + 1, &order_t) : nullptr;
  if (!tbuf) {
    if (nbuf) words_free(nbuf, order_n);
    return KERN_RESOURCE_SHORTAGE;
  }
  {
    IpcGuard g;
    // The space may have grown since it was counted: report what fits.
    size_t total = s->names(nbuf, n);
    if (total < n) n = total;
    for (size_t i = 0; i < n; ++i) {
      IpcEntry* e = right_lookup(s, nbuf[i]);
      tbuf[i] = e ? e->type | (e->request ? MACH_PORT_TYPE_DNREQUEST : 0) : 0;
    }
  }
  VmMapCopy* nc = vm_map_copy_from_kernel(nbuf, n * sizeof(uint32_t));
  VmMapCopy* tc = nc ? vm_map_copy_from_kernel(tbuf, n * sizeof(uint32_t)) : nullptr;
  words_free(nbuf, order_n);
  words_free(tbuf, order_t);
  if (!tc) {
    if (nc) vm_map_copy_discard(nc);
    return KERN_RESOURCE_SHORTAGE;
  }
  *names = reinterpret_cast<uint64_t>(nc);
  *types = reinterpret_cast<uint64_t>(tc);
  *names_count = *types_count = static_cast<mach_msg_type_number_t>(n);
  return KERN_SUCCESS;
}

kern_return_t mach_port_get_set_status(IpcSpace* s, mach_port_name_t name, uint64_t* members,
                                       mach_msg_type_number_t* count) {
  if (!s) return KERN_INVALID_TASK;
  unsigned order;
  size_t n;
  {
    IpcGuard g;
    IpcEntry* e = right_lookup(s, name);
    if (!e) return KERN_INVALID_NAME;
    if (!(e->type & MACH_PORT_TYPE_PORT_SET)) return KERN_INVALID_RIGHT;
    n = static_cast<PortSet*>(e->object)->members.size();
  }
  uint32_t* buf = words_alloc(n + 1, &order);
  if (!buf) return KERN_RESOURCE_SHORTAGE;
  {
    IpcGuard g;
    IpcEntry* e = right_lookup(s, name);
    size_t i = 0;
    if (e && (e->type & MACH_PORT_TYPE_PORT_SET))
      for (Port* p : static_cast<PortSet*>(e->object)->members)
        if (i < n && p->receiver == s) buf[i++] = p->receiver_name;
    n = i;
  }
  VmMapCopy* c = vm_map_copy_from_kernel(buf, n * sizeof(uint32_t));
  words_free(buf, order);
  if (!c) return KERN_RESOURCE_SHORTAGE;
  *members = reinterpret_cast<uint64_t>(c);
  *count = static_cast<mach_msg_type_number_t>(n);
  return KERN_SUCCESS;
}

}  // extern "C"
