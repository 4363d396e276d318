// Right transitions, as Mach's ipc_right.c. Each right holds one reference on its port: an
// entry's send rights count once in Port::srights and hold one reference whatever their
// urefs; its receive right holds another (an entry with both holds two); each send-once
// right holds one and counts in Port::sorights. Transit rights in messages follow the same
// rule, so a right moves between entries and messages with its reference.
#include "ipc/ipc_right.h"

#include "kern/assert.h"
#include "kern/hot.h"

namespace {
Port* entry_port(IpcEntry* e) { return static_cast<Port*>(e->object); }
}  // namespace

DeadNameRequest* right_find_request(IpcSpace* s, IpcEntry* e) {
  // Not by e->type: callers that give up an entry's last right clear its type bits before
  // right_entry_free, and the request must still be found then. Only port entries have a
  // request and an object; dead names and port sets have no request.
  if (!e->request || !e->object) return nullptr;
  Port* p = entry_port(e);
  for (DeadNameRequest* r : p->dnrequests)
    if (r->space == s && r->name == e->name) return r;
  return nullptr;
}

MICA_HOT void right_entry_free(IpcSpace* s, IpcEntry* e) {
  if (DeadNameRequest* r = right_find_request(s, e)) {
    entry_port(e)->dnrequests.remove(r);
    notify_port_deleted(r->notify, e->name);
    dnrequest_free(r);
  }
  if (IpcSpace::in_reverse(e)) s->reverse_remove(e);
  s->free(e);
}

unsigned right_transit_type(unsigned disp) {
  switch (disp) {
    case MACH_MSG_TYPE_MOVE_RECEIVE:
      return MACH_MSG_TYPE_PORT_RECEIVE;
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_COPY_SEND:
    case MACH_MSG_TYPE_MAKE_SEND:
      return MACH_MSG_TYPE_PORT_SEND;
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
      return MACH_MSG_TYPE_PORT_SEND_ONCE;
    default:
      return 0;
  }
}

IpcEntry* right_lookup(IpcSpace* s, mach_port_name_t name) {
  IpcEntry* e = s->lookup(name);
  if (!e) return nullptr;
  if ((e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)) &&
      !(e->type & MACH_PORT_TYPE_RECEIVE) && !entry_port(e)->active) {
    Port* p = entry_port(e);
    uint32_t urefs = (e->type & MACH_PORT_TYPE_SEND) ? e->urefs : 1;
    // A dead-name request on it has been (or is being) notified: the notification's name
    // carries one more user reference, as in Mach.
    if (e->request) ++urefs;
    if (e->type & MACH_PORT_TYPE_SEND) {
      s->reverse_remove(e);
      --p->srights;
    } else {
      --p->sorights;
    }
    e->type = MACH_PORT_TYPE_DEAD_NAME;
    e->urefs = urefs > IpcEntry::kMaxUrefs ? IpcEntry::kMaxUrefs : urefs;
    e->object = nullptr;
    e->request = 0;
    port_release(p);
  }
  return e;
}

kern_return_t right_copyin_check(IpcSpace* s, mach_port_name_t name, unsigned disp) {
  IpcEntry* e = right_lookup(s, name);
  if (!e) return KERN_INVALID_NAME;
  switch (disp) {
    case MACH_MSG_TYPE_MOVE_RECEIVE:
    case MACH_MSG_TYPE_MAKE_SEND:
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
      return (e->type & MACH_PORT_TYPE_RECEIVE) ? KERN_SUCCESS : KERN_INVALID_RIGHT;
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_COPY_SEND:
      return (e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DEAD_NAME)) ? KERN_SUCCESS
                                                                         : KERN_INVALID_RIGHT;
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
      return (e->type & (MACH_PORT_TYPE_SEND_ONCE | MACH_PORT_TYPE_DEAD_NAME))
                 ? KERN_SUCCESS
                 : KERN_INVALID_RIGHT;
    default:
      return KERN_INVALID_VALUE;
  }
}

kern_return_t right_copyin(IpcSpace* s, mach_port_name_t name, unsigned disp, Port** out) {
  kern_return_t kr = right_copyin_check(s, name, disp);
  if (kr != KERN_SUCCESS) return kr;
  IpcEntry* e = right_lookup(s, name);
  if (e->type & MACH_PORT_TYPE_DEAD_NAME) {
    // A dead name sent as a send right travels as MACH_PORT_DEAD.
    if (disp == MACH_MSG_TYPE_MOVE_SEND || disp == MACH_MSG_TYPE_MOVE_SEND_ONCE) {
      if (--e->urefs == 0) right_entry_free(s, e);
    }
    *out = kDeadPort;
    return KERN_SUCCESS;
  }
  Port* p = entry_port(e);
  switch (disp) {
    case MACH_MSG_TYPE_MAKE_SEND:
      port_reference(p);
      port_make_send(p);
      break;
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
      port_reference(p);
      port_make_send_once(p);
      break;
    case MACH_MSG_TYPE_COPY_SEND:
      port_reference(p);
      port_copy_send(p);
      break;
    case MACH_MSG_TYPE_MOVE_SEND:
      if (e->urefs > 1) {
        --e->urefs;
        port_reference(p);
        port_copy_send(p);
      } else {
        // The entry's own send right leaves with the message.
        e->type &= ~MACH_PORT_TYPE_SEND;
        e->urefs = 0;
        if (!(e->type & MACH_PORT_TYPE_RECEIVE)) right_entry_free(s, e);
      }
      break;
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
      right_entry_free(s, e);  // its reference and sorights count travel on
      break;
    case MACH_MSG_TYPE_MOVE_RECEIVE:
      port_clear_receiver(p);
      e->type &= ~MACH_PORT_TYPE_RECEIVE;
      if (!(e->type & MACH_PORT_TYPE_SEND)) right_entry_free(s, e);
      break;
  }
  *out = p;
  return KERN_SUCCESS;
}

MICA_HOT kern_return_t right_copyout(IpcSpace* s, Port* p, unsigned transit, mach_port_name_t* name) {
  *name = MACH_PORT_NULL;
  if (!p) return KERN_SUCCESS;
  if (p == kDeadPort) {
    *name = MACH_PORT_DEAD;
    return KERN_SUCCESS;
  }
  if (transit != MACH_MSG_TYPE_PORT_RECEIVE && !p->active) {
    // A send or send-once right to a port that died in transit: the receiver gets
    // MACH_PORT_DEAD, as from GNU Mach's ipc_kmsg_copyout_object.
    right_release_transit(p, transit);
    *name = MACH_PORT_DEAD;
    return KERN_SUCCESS;
  }
  IpcEntry* e = nullptr;
  if (transit != MACH_MSG_TYPE_PORT_SEND_ONCE) e = s->reverse_lookup(p);
  if (e) {
    if (transit == MACH_MSG_TYPE_PORT_SEND) {
      if (e->type & MACH_PORT_TYPE_SEND) {
        // Merge: the entry already holds the port's send right and its reference.
        if (e->urefs < IpcEntry::kMaxUrefs) ++e->urefs;
        port_release_send(p);
      } else {
        e->type |= MACH_PORT_TYPE_SEND;
        e->urefs = 1;
      }
    } else {  // receive right arriving where send rights are
      e->type |= MACH_PORT_TYPE_RECEIVE;
      p->receiver = s;
      p->receiver_name = e->name;
    }
    *name = e->name;
    return KERN_SUCCESS;
  }
  kern_return_t kr = s->alloc(&e);
  if (kr == KERN_SUCCESS && transit != MACH_MSG_TYPE_PORT_SEND_ONCE) {
    e->object = p;
    kr = s->reverse_insert(e);
    if (kr != KERN_SUCCESS) s->free(e);
  }
  if (kr != KERN_SUCCESS) {
    right_release_transit(p, transit);
    return kr;
  }
  e->object = p;
  e->request = 0;
  if (transit == MACH_MSG_TYPE_PORT_SEND) {
    e->type = MACH_PORT_TYPE_SEND;
    e->urefs = 1;
  } else if (transit == MACH_MSG_TYPE_PORT_SEND_ONCE) {
    e->type = MACH_PORT_TYPE_SEND_ONCE;
    e->urefs = 1;
  } else {
    e->type = MACH_PORT_TYPE_RECEIVE;
    e->urefs = 0;
    p->receiver = s;
    p->receiver_name = e->name;
  }
  *name = e->name;
  return KERN_SUCCESS;
}

void right_release_transit(Port* p, unsigned transit) {
  if (!port_valid(p)) return;
  switch (transit) {
    case MACH_MSG_TYPE_PORT_SEND:
      port_release_send(p);
      break;
    case MACH_MSG_TYPE_PORT_SEND_ONCE:
      port_release_send_once(p);
      break;
    case MACH_MSG_TYPE_PORT_RECEIVE:
      port_release_receive(p);
      break;
    default:
      break;
  }
}

kern_return_t right_deallocate(IpcSpace* s, mach_port_name_t name) {
  IpcEntry* e = right_lookup(s, name);
  if (!e) return KERN_INVALID_NAME;
  if (e->type & MACH_PORT_TYPE_DEAD_NAME) {
    if (--e->urefs == 0) right_entry_free(s, e);
    return KERN_SUCCESS;
  }
  if (e->type & MACH_PORT_TYPE_SEND_ONCE) {
    Port* p = entry_port(e);
    right_entry_free(s, e);
    port_release_send_once(p);
    return KERN_SUCCESS;
  }
  if (!(e->type & MACH_PORT_TYPE_SEND)) return KERN_INVALID_RIGHT;
  if (--e->urefs > 0) return KERN_SUCCESS;
  Port* p = entry_port(e);
  bool keep = e->type & MACH_PORT_TYPE_RECEIVE;
  e->type &= ~MACH_PORT_TYPE_SEND;
  if (!keep) right_entry_free(s, e);
  port_release_send(p);
  return KERN_SUCCESS;
}

namespace {
void destroy_entry(IpcSpace* s, IpcEntry* e) {
  uint32_t type = e->type;
  if (type & MACH_PORT_TYPE_PORT_SET) {
    auto* set = static_cast<PortSet*>(e->object);
    s->free(e);
    pset_destroy(set);
    pset_release(set);
    return;
  }
  if (type & MACH_PORT_TYPE_DEAD_NAME) {
    s->free(e);
    return;
  }
  Port* p = entry_port(e);
  right_entry_free(s, e);
  if (type & MACH_PORT_TYPE_SEND_ONCE) {
    port_release_send_once(p);
    return;
  }
  if (type & MACH_PORT_TYPE_SEND) port_release_send(p);
  if (type & MACH_PORT_TYPE_RECEIVE) port_release_receive(p);
}
}  // namespace

kern_return_t right_destroy(IpcSpace* s, mach_port_name_t name) {
  IpcEntry* e = right_lookup(s, name);
  if (!e) return KERN_INVALID_NAME;
  destroy_entry(s, e);
  return KERN_SUCCESS;
}

kern_return_t right_mod_refs(IpcSpace* s, mach_port_name_t name, mach_port_right_t right,
                             int delta) {
  if (right >= MACH_PORT_RIGHT_NUMBER) return KERN_INVALID_VALUE;
  IpcEntry* e = right_lookup(s, name);
  if (!e) return KERN_INVALID_NAME;
  mach_port_type_t want = MACH_PORT_TYPE(right);
  if (!(e->type & want)) return KERN_INVALID_RIGHT;
  if (delta == 0) return KERN_SUCCESS;
  switch (right) {
    case MACH_PORT_RIGHT_RECEIVE:
      if (delta != -1) return KERN_INVALID_VALUE;
      break;
    case MACH_PORT_RIGHT_SEND_ONCE:
    case MACH_PORT_RIGHT_PORT_SET:
      if (delta != -1) return KERN_INVALID_VALUE;
      break;
    default:
      break;
  }
  if (right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_DEAD_NAME) {
    int64_t n = static_cast<int64_t>(e->urefs) + delta;
    if (n < 0) return KERN_INVALID_VALUE;
    if (n > IpcEntry::kMaxUrefs) return KERN_UREFS_OVERFLOW;
    if (n > 0) {
      e->urefs = static_cast<uint32_t>(n);
      return KERN_SUCCESS;
    }
    if (right == MACH_PORT_RIGHT_DEAD_NAME) {
      s->free(e);
      return KERN_SUCCESS;
    }
    Port* p = entry_port(e);
    if (e->type & MACH_PORT_TYPE_RECEIVE) {
      e->type &= ~MACH_PORT_TYPE_SEND;
      e->urefs = 0;
    } else {
      right_entry_free(s, e);
    }
    port_release_send(p);
    return KERN_SUCCESS;
  }
  if (right == MACH_PORT_RIGHT_RECEIVE) {
    Port* p = entry_port(e);
    if (e->type & MACH_PORT_TYPE_SEND) {
      // The send right stays; it will find the port dead.
      e->type &= ~MACH_PORT_TYPE_RECEIVE;
    } else {
      right_entry_free(s, e);
    }
    port_release_receive(p);
    return KERN_SUCCESS;
  }
  destroy_entry(s, e);
  return KERN_SUCCESS;
}

kern_return_t right_get_refs(IpcSpace* s, mach_port_name_t name, mach_port_right_t right,
                             mach_port_urefs_t* refs) {
  if (right >= MACH_PORT_RIGHT_NUMBER) return KERN_INVALID_VALUE;
  IpcEntry* e = right_lookup(s, name);
  if (!e) return KERN_INVALID_NAME;
  mach_port_type_t want = MACH_PORT_TYPE(right);
  if (!(e->type & want)) {
    *refs = 0;
    return KERN_SUCCESS;
  }
  switch (right) {
    case MACH_PORT_RIGHT_SEND:
    case MACH_PORT_RIGHT_DEAD_NAME:
      *refs = e->urefs;
      break;
    default:
      *refs = 1;
  }
  return KERN_SUCCESS;
}

void right_space_destroy(IpcSpace* s) {
  // Receive rights last would let notifications reach this dying space; order does not
  // matter for correctness because the space is already marked dead by the caller.
  s->for_each([&](IpcEntry* e) { destroy_entry(s, e); });
  s->destroy();
}
