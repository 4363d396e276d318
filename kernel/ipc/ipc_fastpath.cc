// The mach_msg fast path (ipc_fastpath.h). It decides from the names alone, under the IPC
// lock, whether the call is the common RPC; if any check fails it has changed nothing and
// the general path (mach_msg.cc) does the whole call, so both give the same results. Under
// the emulator every call, return and interrupt toggle costs, so this is one function.
#include "ipc/ipc_fastpath.h"

#include "ipc/ipc_kmsg.h"
#include "ipc/ipc_port.h"
#include "ipc/ipc_right.h"
#include "kern/sched.h"
#include "kern/syscall.h"
#include "kern/task.h"
#include "kern/hot.h"

static_assert(sizeof(Thread::ipc_rcv_buf) == kFastMsgMax);

namespace {

// Whether the receive on `e` would find a message at once (or fail): then the caller does
// not block and the fast path is not for it.
MICA_HOT bool receive_ready(IpcEntry* e) {
  if (e->type & MACH_PORT_TYPE_RECEIVE) {
    auto* p = static_cast<Port*>(e->object);
    return p->pset || !p->messages.empty();
  }
  if (!(e->type & MACH_PORT_TYPE_PORT_SET)) return true;
  for (Port* p : static_cast<PortSet*>(e->object)->members)
    if (!p->messages.empty()) return true;
  return false;
}

}  // namespace

MICA_HOT bool ipc_rcv_take_delivered(Thread* self, uint64_t user_msg, mach_msg_return_t* mr) {
  if (uint32_t size = self->ipc_rcv_size) {
    self->ipc_rcv_size = 0;
    ipc_lock.unlock();
    *mr = copyout(self->ipc_rcv_buf, user_msg, size) ? MACH_MSG_SUCCESS : MACH_RCV_INVALID_DATA;
    return true;
  }
  if (KMsg* k = self->ipc_rcv_kmsg) {
    self->ipc_rcv_kmsg = nullptr;
    ipc_lock.unlock();
    *mr = copyout(k->data(), user_msg, k->size()) ? MACH_MSG_SUCCESS : MACH_RCV_INVALID_DATA;
    kmsg_free(k);
    return true;
  }
  return false;
}

MICA_HOT FastPath mach_msg_fast(uint64_t msg, mach_msg_option_t option, mach_msg_size_t send_size,
                       mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
                       mach_msg_return_t* mr) {
  if (option != (MACH_SEND_MSG | MACH_RCV_MSG) || send_size > kFastMsgMax ||
      send_size < sizeof(mach_msg_header_t) || (send_size & (kMsgAlign - 1)))
    return FastPath::kNo;
  Thread* self = current_thread();
  alignas(8) uint8_t buf[kFastMsgMax];
  if (!copyin(msg, buf, send_size)) return FastPath::kNo;
  auto* h = reinterpret_cast<KMsgHeader*>(buf);
  unsigned rd = MACH_MSGH_BITS_REMOTE(h->bits), ld = MACH_MSGH_BITS_LOCAL(h->bits);
  auto dest_name = static_cast<mach_port_name_t>(h->remote);
  auto reply_name = static_cast<mach_port_name_t>(h->local);
  if ((h->bits & MACH_MSGH_BITS_COMPLEX) ||
      (rd != MACH_MSG_TYPE_COPY_SEND && rd != MACH_MSG_TYPE_MOVE_SEND_ONCE) ||
      (ld == 0 ? reply_name != MACH_PORT_NULL
               : ld != MACH_MSG_TYPE_MAKE_SEND_ONCE || reply_name == dest_name))
    return FastPath::kNo;

  IrqState irq = arch_irq_disable();
  ipc_lock.lock();
  IpcSpace* s = task_space(self->task);
  IpcEntry* de = nullptr;
  IpcEntry* re = nullptr;
  IpcEntry* we = nullptr;
  if (s) {
    de = s->lookup(dest_name);
    re = ld ? s->lookup(reply_name) : nullptr;
    we = s->lookup(rcv_name);
  }
  Port* dest = de ? static_cast<Port*>(de->object) : nullptr;
  unsigned need = rd == MACH_MSG_TYPE_COPY_SEND ? MACH_PORT_TYPE_SEND : MACH_PORT_TYPE_SEND_ONCE;
  Thread* to = nullptr;
  // Every check before anything changes: the destination right and its port, the reply's
  // receive right, our own receive, and last the receiver (taken off its wait).
  // (A message to the port we then receive on has no receiver waiting: us.)
  if (de && (de->type & need) && dest->active && dest->kotype == KObjectType::kNone &&
      dest->messages.empty() && dest->receiver &&
      (!ld || (re && (re->type & MACH_PORT_TYPE_RECEIVE))) && we && we->object != dest &&
      we->object != dest->pset && !receive_ready(we)) {
    to = thread_wakeup_take(dest);
    if (!to && dest->pset) to = thread_wakeup_take(dest->pset);
    if (to && (to->ipc_rcv_max < send_size || task_space(to->task) != dest->receiver ||
               (to->bound_cpu >= 0 && to->bound_cpu != static_cast<int>(arch_cpu_id())))) {
      // Not a receive the message can go to here: it looks again, and finds the message
      // the general path queues.
      thread_setrun(to);
      to = nullptr;
    }
  }
  if (!to) {
    ipc_lock.unlock();
    arch_irq_restore(irq);
    return FastPath::kNo;
  }

  // The rights. A copied send right would be released by the delivery at once: nothing
  // to do. A moved send-once right leaves our space and is used up by the delivery.
  unsigned rt = MACH_MSG_TYPE_PORT_SEND;
  if (rd == MACH_MSG_TYPE_MOVE_SEND_ONCE) {
    rt = MACH_MSG_TYPE_PORT_SEND_ONCE;
    right_entry_free(s, de);
    --dest->sorights;
    port_release(dest);  // its receive right keeps it
  }
  mach_port_name_t to_reply = MACH_PORT_NULL;
  unsigned lt = 0;
  if (ld) {
    Port* reply = static_cast<Port*>(re->object);
    port_reference(reply);
    port_make_send_once(reply);
    lt = MACH_MSG_TYPE_PORT_SEND_ONCE;
    right_copyout(dest->receiver, reply, lt, &to_reply);
  }
  h->bits = (h->bits & ~MACH_MSGH_BITS_PORTS_MASK) | MACH_MSGH_BITS(lt, rt);
  h->size = send_size;
  h->remote = to_reply;
  h->local = dest->receiver_name;
  h->seqno = dest->seqno++;
  // By words: a string move runs one element per emulator step.
  for (uint32_t i = 0; i < send_size / 8; ++i)
    reinterpret_cast<uint64_t*>(to->ipc_rcv_buf)[i] = reinterpret_cast<uint64_t*>(buf)[i];
  to->ipc_rcv_size = send_size;

  // Our receive: wait on it, and let the receiver run in our place.
  void* object = we->object;
  self->ipc_rcv_max = rcv_size;
  assert_wait(object);
  ipc_lock.unlock();
  WaitResult wr = thread_block_handoff(to);
  ipc_lock.lock();
  self->ipc_rcv_max = 0;
  FastPath result = FastPath::kDone;
  if (ipc_rcv_take_delivered(self, msg, mr)) {
    arch_irq_restore(irq);
    return result;
  }
  // Woken otherwise: as the general receive after a wakeup (mach_msg.cc). A message the
  // general path queued is left to it.
  we = s->lookup(rcv_name);
  if (wr == WaitResult::kInterrupted)
    *mr = MACH_RCV_INTERRUPTED;
  else if (!we || we->object != object ||
           !(we->type & (MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_PORT_SET)))
    *mr = MACH_RCV_PORT_DIED;
  else if ((we->type & MACH_PORT_TYPE_RECEIVE) && static_cast<Port*>(object)->pset)
    *mr = MACH_RCV_PORT_CHANGED;
  else
    result = FastPath::kSent;
  ipc_lock.unlock();
  arch_irq_restore(irq);
  return result;
}
