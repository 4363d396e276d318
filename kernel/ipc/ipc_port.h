// Ports and port sets (seed 004, 8.4; seed 002, 3.2). A port is a kernel-protected message
// queue with exactly one receive right; send and send-once rights are counted here, held in
// name spaces (ipc_space.h) or in messages in transit.
//
// Locking: all IPC state (ports, port sets, spaces, queued messages) is guarded by one lock,
// ipc_lock (taken through IpcGuard), as early Mach's master lock did. It keeps every right
// transition atomic and simple; per-space and per-port locks are a later refinement, once a
// benchmark on several CPUs asks for it. Blocking: a thread waits with assert_wait on the
// port (or set) as event, releases the lock, then blocks.
#pragma once
#include <mach/kern_return.h>
#include <mach/port.h>
#include <stdint.h>

#include "ipc/ipc_kmsg.h"
#include "kern/lock.h"
#include "kern/queue.h"

struct IpcSpace;
struct PortSet;
struct VmObject;

extern SpinLock ipc_lock;

class IpcGuard {
 public:
  IpcGuard() : state_(arch_irq_disable()) { ipc_lock.lock(); }
  ~IpcGuard() {
    ipc_lock.unlock();
    arch_irq_restore(state_);
  }
  IpcGuard(const IpcGuard&) = delete;
  IpcGuard& operator=(const IpcGuard&) = delete;

 private:
  IrqState state_;
};

// What a port stands for when the kernel holds its receive right.
enum class KObjectType : uint8_t {
  kNone,
  kTask,
  kThread,
  kHost,
  kHostPriv,
  kProcessor,
  kProcessorSet,
  kProcessorSetName,
  kDevice,        // the device master (device.defs is served with the drivers)
  kDeviceObject,  // an open device (kernel/device/)
  kMemoryControl, // a memory object's control port: the pager's calls on the kernel (vm/)
  kMemoryName,    // a memory object's name port (vm_region names it)
};

struct Port;

// A dead-name request: when the port dies, `notify` (a send-once right) is sent
// MACH_NOTIFY_DEAD_NAME for `name` in `space`.
struct DeadNameRequest {
  QueueLink link;
  IpcSpace* space;
  mach_port_name_t name;
  Port* notify;
};

struct Port {
  uint32_t refs = 1;  // pointers to this Port: entries, messages, kobjects, requests
  bool active = true;
  // Where the receive right is: in a space (receiver, receiver_name), in transit in a
  // message (receiver == nullptr), or with the kernel (kotype != kNone).
  IpcSpace* receiver = nullptr;
  mach_port_name_t receiver_name = MACH_PORT_NULL;
  KObjectType kotype = KObjectType::kNone;
  void* kobject = nullptr;

  uint32_t srights = 0;   // send rights in existence (an entry counts once, whatever its urefs)
  uint32_t sorights = 0;  // send-once rights in existence
  uint32_t mscount = 0;   // make-send count
  uint32_t seqno = 0;
  uint32_t qlimit = MACH_PORT_QLIMIT_DEFAULT;
  IntrusiveList<KMsg, &KMsg::link> messages;
  uint32_t blocked_senders = 0;

  PortSet* pset = nullptr;
  QueueLink pset_link;

  Port* nsrequest = nullptr;  // no-senders notification (send-once right)
  Port* pdrequest = nullptr;  // port-destroyed notification (send-once right)
  IntrusiveList<DeadNameRequest, &DeadNameRequest::link> dnrequests;

  // When this port is a memory object (vm_map'ed), the kernel's object that caches its data
  // (vm/vm_pager.h). Its death cuts the object from its pager.
  VmObject* pager_object = nullptr;

  QueueLink all_link;
};

struct PortSet {
  uint32_t refs = 1;
  bool active = true;
  IpcSpace* space = nullptr;
  mach_port_name_t name = MACH_PORT_NULL;
  IntrusiveList<Port, &Port::pset_link> members;
};

// All functions below need the IPC lock held.

// A new active port with one reference and no rights. nullptr on shortage.
Port* port_alloc();
void port_reference(Port* p);
// Drops a reference; frees the port when none remain (it must be inactive then).
void port_release(Port* p);
// Destroys the receive right: the port dies, its messages are destroyed, dead-name
// notifications are sent. If a port-destroyed request exists, the receive right is sent in the
// notification instead and the port lives on.
void port_destroy(Port* p);

// Takes the receive right out of its space, as Mach's ipc_port_clear_receiver: the port
// leaves its set, threads receiving on it are woken (to find the name gone), and the
// make-send count and sequence number start over for the next receiver.
void port_clear_receiver(Port* p);

// Right counting. make_send: a new send right from the receive right (mscount++).
void port_make_send(Port* p);
void port_copy_send(Port* p);
// Releases a send right; fires the no-senders notification when the last one goes.
void port_release_send(Port* p);
void port_make_send_once(Port* p);
// Releases an unused send-once right: the port's receiver gets MACH_NOTIFY_SEND_ONCE.
void port_release_send_once(Port* p);
// Releases a receive right held in a message being destroyed.
void port_release_receive(Port* p);

// Queues `k` on `p` and wakes a receiver. The message's rights already belong to it. With
// sender_blocks (an RPC's send), the receiver is made to run next on this CPU.
void port_enqueue(Port* p, KMsg* k, bool sender_blocks = false);
// First message of `p` (nullptr if none), not dequeued.
KMsg* port_peek(Port* p);

PortSet* pset_alloc();
void pset_release(PortSet* s);
void pset_destroy(PortSet* s);
void pset_add(PortSet* s, Port* p);
void pset_remove(Port* p);

// Notifications (ipc_notify.cc): each consumes the send-once right `notify`.
void notify_dead_name(Port* notify, mach_port_name_t name);
void notify_port_deleted(Port* notify, mach_port_name_t name);
void notify_no_senders(Port* notify, uint32_t mscount);
void notify_send_once(Port* notify);
// Sends the receive right of `port` to `notify` (port-destroyed).
void notify_port_destroyed(Port* notify, Port* port);

// Counters for tests: ports and port sets alive.
uint64_t port_count();
uint64_t pset_count();

DeadNameRequest* dnrequest_alloc();
void dnrequest_free(DeadNameRequest* r);
