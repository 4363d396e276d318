// Port lifetime, right counting and message queues. IPC lock held throughout.
#include "ipc/ipc_port.h"

#include "ipc/ipc_mqueue.h"
#include "ipc/ipc_right.h"
#include "kern/sched.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "vm/vm_pager.h"
#include "kern/hot.h"

SpinLock ipc_lock;

namespace {

Zone port_zone("ipc.port", sizeof(Port), 0);
Zone pset_zone("ipc.pset", sizeof(PortSet), 0);
Zone dnr_zone("ipc.dnrequest", sizeof(DeadNameRequest), 0);
uint64_t ports_alive, psets_alive;

}  // namespace

uint64_t port_count() { return ports_alive; }
uint64_t pset_count() { return psets_alive; }

Port* port_alloc() {
  void* mem = port_zone.alloc();
  if (!mem) return nullptr;
  ++ports_alive;
  return new (mem) Port;
}

MICA_HOT void port_reference(Port* p) { ++p->refs; }

MICA_HOT void port_release(Port* p) {
  kassert(p->refs > 0);
  if (--p->refs) return;
  kassert(!p->active);
  p->~Port();
  port_zone.free(p);
  --ports_alive;
}

void port_make_send(Port* p) {
  ++p->mscount;
  ++p->srights;
}

void port_copy_send(Port* p) { ++p->srights; }

// Kernel objects that end with their last send right (open devices): ipc_kobject.cc, in the
// kernel only; the host tests have none.
[[gnu::weak]] void ipc_kobject_no_senders(Port* p);

void port_release_send(Port* p) {
  kassert(p->srights > 0);
  if (--p->srights == 0 && p->active && p->nsrequest) {
    Port* notify = p->nsrequest;
    p->nsrequest = nullptr;
    notify_no_senders(notify, p->mscount);
  } else if (p->srights == 0 && p->active && p->kotype != KObjectType::kNone &&
             ipc_kobject_no_senders) {
    ipc_kobject_no_senders(p);
  }
  port_release(p);
}

MICA_HOT void port_make_send_once(Port* p) { ++p->sorights; }

void port_release_send_once(Port* p) {
  kassert(p->sorights > 0);
  // An unused send-once right still owes its receiver a message: the notification is it,
  // and it carries the right until it is received.
  if (p->active && p->kotype == KObjectType::kNone) {
    notify_send_once(p);
  } else {
    --p->sorights;
    port_release(p);
  }
}

void port_release_receive(Port* p) {
  port_destroy(p);
  port_release(p);
}

KMsg* port_peek(Port* p) { return p->messages.front(); }

void ipc_deliver(KMsg* k) {
  Port* dest = reinterpret_cast<Port*>(k->header()->remote);
  // Kernel objects take requests only through mach_msg; a notification or reply aimed at
  // one is dropped.
  if (!port_valid(dest) || !dest->active || dest->kotype != KObjectType::kNone) {
    kmsg_destroy(k);
    return;
  }
  port_enqueue(dest, k);
}

void port_enqueue(Port* p, KMsg* k, bool sender_blocks) {
  p->messages.push_back(k);
  // A sender about to wait for its reply gives its CPU to the receiver.
  auto wake = sender_blocks ? thread_wakeup_one_here : thread_wakeup_one;
  if (!wake(p) && p->pset) wake(p->pset);
}

void port_clear_receiver(Port* p) {
  if (p->pset) pset_remove(p);
  // Threads receiving on the old name wake to find it gone.
  thread_wakeup(p);
  p->mscount = 0;
  p->seqno = 0;
  p->receiver = nullptr;
  p->receiver_name = MACH_PORT_NULL;
}

void port_destroy(Port* p) {
  if (!p->active) return;
  if (Port* pd = p->pdrequest) {
    // The receive right goes to the port-destroyed notification instead.
    p->pdrequest = nullptr;
    port_clear_receiver(p);
    port_reference(p);  // the reference the message holds
    notify_port_destroyed(pd, p);
    return;
  }
  p->active = false;
  if (p->pset) pset_remove(p);
  p->receiver = nullptr;
  if (p->pager_object) vm_pager_port_died(p);
  // Senders waiting for room and receivers waiting for messages find it dead.
  thread_wakeup(p);
  thread_wakeup(&p->qlimit);
  while (KMsg* k = p->messages.pop_front()) kmsg_destroy(k);
  if (Port* ns = p->nsrequest) {
    p->nsrequest = nullptr;
    port_release_send_once(ns);
  }
  while (DeadNameRequest* r = p->dnrequests.pop_front()) {
    notify_dead_name(r->notify, r->name);
    dnr_zone.free(r);
  }
}

PortSet* pset_alloc() {
  void* mem = pset_zone.alloc();
  if (!mem) return nullptr;
  ++psets_alive;
  return new (mem) PortSet;
}

void pset_release(PortSet* s) {
  kassert(s->refs > 0);
  if (--s->refs) return;
  s->~PortSet();
  pset_zone.free(s);
  --psets_alive;
}

void pset_destroy(PortSet* s) {
  s->active = false;
  while (Port* p = s->members.front()) pset_remove(p);
  thread_wakeup(s);
}

void pset_add(PortSet* s, Port* p) {
  if (p->pset) pset_remove(p);
  p->pset = s;
  s->members.push_back(p);
  ++s->refs;
  if (!p->messages.empty()) thread_wakeup_one(s);
}

void pset_remove(Port* p) {
  PortSet* s = p->pset;
  if (!s) return;
  s->members.remove(p);
  p->pset = nullptr;
  pset_release(s);
}

DeadNameRequest* dnrequest_alloc() {
  void* mem = dnr_zone.alloc();
  return mem ? new (mem) DeadNameRequest : nullptr;
}

void dnrequest_free(DeadNameRequest* r) { dnr_zone.free(r); }
