// The mach_msg trap: send, receive, or both (an RPC), with the options of <mach/message.h>.
#include "ipc/mach_msg.h"

#include "ipc/ipc_fastpath.h"
#include "ipc/ipc_kmsg_copy.h"
#include "ipc/ipc_kobject.h"
#include "ipc/ipc_mqueue.h"
#include "ipc/ipc_right.h"
#include "kern/sched.h"
#include "kern/syscall.h"
#include "kern/task.h"
#include "kern/hot.h"

namespace {

uint64_t timeout_ns(mach_msg_timeout_t ms) { return uint64_t{ms} * 1'000'000 + 1; }

// Puts a message the sender could not send back in the sender's hands: its rights return to
// the space and the message to the user's buffer (Mach's pseudo-receive).
void pseudo_receive(IpcSpace* s, KMsg* k, uint64_t user_msg) {
  kmsg_copyout(s, k, current_thread()->task->map);
  copyout(k->data(), user_msg, k->size());
  kmsg_free(k);
}

// Queues `k` on `dest`, or hands it straight to a receiver blocked on `dest` (or on its
// set): a simple message that fits goes to that thread with its rights already in the
// receiver's space, and never sits in the queue (Mach's fast path). The woken receiver is
// left in *handoff when the sender is about to receive (it runs next, on this CPU, when
// the sender blocks) and none is there yet; otherwise it is queued to run.
void deliver(Port* dest, KMsg* k, bool sender_receives, Thread** handoff) {
  if (!dest->messages.empty() || (k->header()->bits & MACH_MSGH_BITS_COMPLEX)) {
    port_enqueue(dest, k, sender_receives);
    return;
  }
  Thread* t = thread_wakeup_take(dest);
  if (!t && dest->pset) t = thread_wakeup_take(dest->pset);
  if (!t) {
    dest->messages.push_back(k);  // nobody waits: nobody to wake
    return;
  }
  IpcSpace* rs = task_space(t->task);
  if (t->ipc_rcv_max >= k->size() && rs && rs == dest->receiver) {
    k->header()->seqno = dest->seqno++;
    kmsg_copyout(rs, k);
    t->ipc_rcv_kmsg = k;
  } else {
    // Not a receive that takes it (too small a buffer: it learns so from the queue).
    dest->messages.push_back(k);
  }
  if (sender_receives && !*handoff)
    *handoff = t;
  else
    thread_setrun(t);
}

// Sends a copied-in message; may block for queue room (IPC lock dropped meanwhile).
mach_msg_return_t send_kmsg(IpcSpace* s, KMsg* k, mach_msg_option_t option,
                            mach_msg_timeout_t timeout, uint64_t user_msg, Thread** handoff) {
  for (;;) {
    Port* dest = reinterpret_cast<Port*>(k->header()->remote);
    if (!dest->active) {
      kmsg_destroy(k);
      return MACH_SEND_INVALID_DEST;
    }
    bool full = dest->messages.size() >= dest->qlimit &&
                MACH_MSGH_BITS_REMOTE(k->header()->bits) != MACH_MSG_TYPE_PORT_SEND_ONCE &&
                dest->kotype == KObjectType::kNone;
    if (dest->kotype != KObjectType::kNone) {
      // A call to the kernel: served now, in the caller's thread, without the IPC lock.
      ipc_lock.unlock();
      KMsg* reply = ipc_kobject_server(k);
      ipc_lock.lock();
      if (reply) ipc_deliver(reply);
      return MACH_MSG_SUCCESS;
    }
    if (!full) {
      deliver(dest, k, (option & MACH_RCV_MSG) != 0, handoff);
      return MACH_MSG_SUCCESS;
    }
    if ((option & MACH_SEND_TIMEOUT) && timeout == 0) {
      pseudo_receive(s, k, user_msg);
      return MACH_SEND_TIMED_OUT;
    }
    assert_wait(&dest->qlimit, (option & MACH_SEND_TIMEOUT) ? timeout_ns(timeout) : 0);
    ++dest->blocked_senders;
    ipc_lock.unlock();
    WaitResult wr = thread_block();
    ipc_lock.lock();
    --dest->blocked_senders;
    if (wr == WaitResult::kTimedOut) {
      pseudo_receive(s, k, user_msg);
      return MACH_SEND_TIMED_OUT;
    }
    if (wr == WaitResult::kInterrupted) {
      pseudo_receive(s, k, user_msg);
      return MACH_SEND_INTERRUPTED;
    }
  }
}

// The port (or the first port of the set) with a message for the receiver.
Port* ready_port(IpcEntry* e) {
  if (e->type & MACH_PORT_TYPE_RECEIVE) {
    auto* p = static_cast<Port*>(e->object);
    return p->messages.empty() ? nullptr : p;
  }
  auto* set = static_cast<PortSet*>(e->object);
  for (Port* p : set->members)
    if (!p->messages.empty()) return p;
  return nullptr;
}

// Receives on `rcv_name`. A thread in *handoff (from deliver) runs next if the caller
// blocks; the caller queues it if it is still there on return.
mach_msg_return_t receive(IpcSpace* s, uint64_t user_msg, mach_msg_option_t option,
                          mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
                          mach_msg_timeout_t timeout, Thread** handoff) {
  Thread* self = current_thread();
  ipc_lock.lock();
  IpcEntry* e = right_lookup(s, rcv_name);
  if (!e || !(e->type & (MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_PORT_SET))) {
    ipc_lock.unlock();
    return MACH_RCV_INVALID_NAME;
  }
  void* object = e->object;
  if ((e->type & MACH_PORT_TYPE_RECEIVE) && static_cast<Port*>(object)->pset) {
    ipc_lock.unlock();
    return MACH_RCV_IN_SET;
  }
  Port* port;
  while (!(port = ready_port(e))) {
    if ((option & MACH_RCV_TIMEOUT) && timeout == 0) {
      ipc_lock.unlock();
      return MACH_RCV_TIMED_OUT;
    }
    // A sender may hand a message of up to rcv_size bytes straight to us (deliver).
    self->ipc_rcv_max = rcv_size;
    assert_wait(object, (option & MACH_RCV_TIMEOUT) ? timeout_ns(timeout) : 0);
    ipc_lock.unlock();
    WaitResult wr;
    if (Thread* to = *handoff) {
      *handoff = nullptr;
      wr = thread_block_handoff(to);
    } else {
      wr = thread_block();
    }
    ipc_lock.lock();
    self->ipc_rcv_max = 0;
    mach_msg_return_t mr;
    if (ipc_rcv_take_delivered(self, user_msg, &mr)) return mr;
    if (wr == WaitResult::kTimedOut) {
      ipc_lock.unlock();
      return MACH_RCV_TIMED_OUT;
    }
    if (wr == WaitResult::kInterrupted) {
      ipc_lock.unlock();
      return MACH_RCV_INTERRUPTED;
    }
    // The name may have been destroyed or moved while we slept. A receive right moved
    // out of a SEND|RECEIVE entry leaves the entry, and its object, behind.
    e = right_lookup(s, rcv_name);
    if (!e || e->object != object ||
        !(e->type & (MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_PORT_SET))) {
      ipc_lock.unlock();
      return MACH_RCV_PORT_DIED;
    }
    if ((e->type & MACH_PORT_TYPE_RECEIVE) && static_cast<Port*>(object)->pset) {
      ipc_lock.unlock();
      return MACH_RCV_PORT_CHANGED;
    }
  }
  KMsg* k = port->messages.front();
  uint32_t size = k->size();
  if (size > rcv_size) {
    // The caller learns the size it needs; without MACH_RCV_LARGE the message is lost.
    if (!(option & MACH_RCV_LARGE)) {
      port->messages.remove(k);
      ++port->seqno;
      thread_wakeup_one(&port->qlimit);
      kmsg_destroy(k);
    }
    ipc_lock.unlock();
    if (rcv_size >= offsetof(mach_msg_header_t, msgh_remote_port))
      copyout(&size, user_msg + offsetof(mach_msg_header_t, msgh_size), sizeof size);
    return MACH_RCV_TOO_LARGE;
  }
  port->messages.remove(k);
  k->header()->seqno = port->seqno++;
  if (port->blocked_senders) thread_wakeup_one(&port->qlimit);
  kmsg_copyout(s, k, self->task->map);
  ipc_lock.unlock();
  bool ok = copyout(k->data(), user_msg, size);
  kmsg_free(k);
  return ok ? MACH_MSG_SUCCESS : MACH_RCV_INVALID_DATA;
}

}  // namespace

mach_msg_return_t mach_msg(uint64_t msg, mach_msg_option_t option, mach_msg_size_t send_size,
                           mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
                           mach_msg_timeout_t timeout, mach_port_name_t notify) {
  (void)notify;
  IpcSpace* s = task_space(current_thread()->task);
  if (!s) return MACH_SEND_INVALID_DEST;
  Thread* handoff = nullptr;  // a receiver our send woke, to run when we block
  if (option & MACH_SEND_MSG) {
    // GNU Mach: the size must be a multiple of the 8-byte message alignment.
    if (send_size < sizeof(mach_msg_header_t) || (send_size & (kMsgAlign - 1)))
      return MACH_SEND_MSG_TOO_SMALL;
    if (send_size > kMsgMaxSize) return MACH_SEND_NO_BUFFER;
    KMsg* k = kmsg_alloc(send_size);
    if (!k) return MACH_SEND_NO_BUFFER;
    if (!copyin(msg, k->data(), send_size)) {
      kmsg_free(k);
      return MACH_SEND_INVALID_DATA;
    }
    k->header()->size = send_size;
    IrqState irq = arch_irq_disable();
    ipc_lock.lock();
    mach_msg_return_t mr = kmsg_copyin_header(s, k);
    if (mr == MACH_MSG_SUCCESS) {
      mr = kmsg_copyin_body(s, k, current_thread()->task->map);
      if (mr == MACH_MSG_SUCCESS) {
        mr = send_kmsg(s, k, option, timeout, msg, &handoff);
      } else {
        kmsg_free(k);
      }
    } else {
      kmsg_free(k);
    }
    ipc_lock.unlock();
    arch_irq_restore(irq);
    if (mr != MACH_MSG_SUCCESS) return mr;
  }
  if (option & MACH_RCV_MSG) {
    IrqState irq = arch_irq_disable();
    mach_msg_return_t mr = receive(s, msg, option, rcv_size, rcv_name, timeout, &handoff);
    if (handoff) thread_setrun(handoff);
    arch_irq_restore(irq);
    return mr;
  }
  return MACH_MSG_SUCCESS;
}

MICA_HOT mach_msg_return_t mach_msg_trap_fast(uint64_t msg, mach_msg_option_t option,
                                     mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                     mach_port_name_t rcv_name, bool* handled) {
  mach_msg_return_t mr = MACH_MSG_SUCCESS;
  switch (mach_msg_fast(msg, option, send_size, rcv_size, rcv_name, &mr)) {
    case FastPath::kDone:
      *handled = true;
      return mr;
    case FastPath::kSent:
      // Sent; woken without a message: the general receive, as after any wakeup.
      *handled = true;
      return mach_msg(msg, option & ~MACH_SEND_MSG, 0, rcv_size, rcv_name, 0, MACH_PORT_NULL);
    case FastPath::kNo:
      break;
  }
  *handled = false;
  return mr;
}
