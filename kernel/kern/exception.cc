// The kernel's side of exc.defs. The request is built in the kernel message format (Port
// pointers in the 8-byte port slots) with the layout MIG gives exception_raise on x86-64
// (msgh_id 2400, 112 bytes); the reply (2500, 48 bytes) comes back on a send-once right to a
// port only the kernel receives on.
#include "kern/exception.h"

#include <mach/exception.h>
#include <mach/mig_errors.h>

#include "ipc/ipc_mqueue.h"
#include "ipc/ipc_right.h"
#include "kern/sched.h"
#include "kern/task.h"

namespace {

constexpr mach_msg_id_t kExceptionRaiseId = 2400;

constexpr uint32_t type_word(unsigned name, unsigned bits) {
  return name | (bits << 8) | (1u << 29);  // inline
}

struct ExceptionRequest {
  KMsgHeader head;
  KMsgType thread_type;
  uint64_t thread;
  KMsgType task_type;
  uint64_t task;
  KMsgType exception_type;
  int32_t exception;
  int32_t exception_pad;
  KMsgType code_type;
  int32_t code;
  int32_t code_pad;
  KMsgType subcode_type;
  int64_t subcode;
};
static_assert(sizeof(ExceptionRequest) == 112);

struct ExceptionReply {
  KMsgHeader head;
  KMsgType ret_type;
  int32_t ret;
  int32_t pad;
};
static_assert(sizeof(ExceptionReply) == 48);

// A send right made from a kernel object's port (the thread's or task's own port).
Port* make_send(Port* p) {
  port_reference(p);
  port_make_send(p);
  return p;
}

}  // namespace

// Sends the exception to `exc_port_of(t)` and waits for the answer: true if the handler
// answered KERN_SUCCESS.
bool raise_to(bool thread_port, int exception, int code, int64_t subcode) {
  Thread* t = current_thread();
  Task* task = t->task;
  Port* reply = nullptr;
  {
    IpcGuard g;
    Port* exc = thread_port ? t->exception_port : task->exception_port;
    if (!port_valid(exc) || !exc->active || !t->self_port || !task->self_port) return false;
    KMsg* k = kmsg_alloc(sizeof(ExceptionRequest));
    reply = k ? port_alloc() : nullptr;
    if (!reply) {
      if (k) kmsg_free(k);
      return false;
    }
    // The request holds: a copy of the exception port's send right, a send-once right to
    // our reply port, send rights for the thread and the task.
    port_reference(exc);
    port_copy_send(exc);
    port_reference(reply);
    port_make_send_once(reply);
    auto* m = reinterpret_cast<ExceptionRequest*>(k->data());
    *m = ExceptionRequest{};
    m->head = KMsgHeader{MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND_ONCE) |
                             MACH_MSGH_BITS_COMPLEX,
                         sizeof(ExceptionRequest), reinterpret_cast<uint64_t>(exc),
                         reinterpret_cast<uint64_t>(reply), 0, kExceptionRaiseId};
    m->thread_type = KMsgType{type_word(MACH_MSG_TYPE_PORT_SEND, 64), 1};
    m->thread = reinterpret_cast<uint64_t>(make_send(t->self_port));
    m->task_type = KMsgType{type_word(MACH_MSG_TYPE_PORT_SEND, 64), 1};
    m->task = reinterpret_cast<uint64_t>(make_send(task->self_port));
    m->exception_type = KMsgType{type_word(MACH_MSG_TYPE_INTEGER_32, 32), 1};
    m->exception = exception;
    m->code_type = KMsgType{type_word(MACH_MSG_TYPE_INTEGER_32, 32), 1};
    m->code = code;
    m->subcode_type = KMsgType{type_word(MACH_MSG_TYPE_INTEGER_64, 64), 1};
    m->subcode = subcode;
    // A handler in user space, or a kernel object (which refuses it: it is not an RPC the
    // kernel serves), or a dead port: ipc_deliver sorts it out.
    ipc_deliver(k);
  }
  // Wait for the answer. A handler that dies leaves a send-once notification instead.
  bool resume = false;
  for (;;) {
    KMsg* answer = nullptr;
    {
      IpcGuard g;
      answer = reply->messages.pop_front();
      if (!answer) assert_wait(reply);
    }
    if (!answer) {
      if (thread_block() == WaitResult::kInterrupted) break;  // the task is ending anyway
      continue;
    }
    auto* r = reinterpret_cast<ExceptionReply*>(answer->data());
    // GNU Mach takes only the exact MIG reply; anything else is a failed handler.
    KMsgType want{MACH_MSG_TYPE_INTEGER_32 | (32u << 8) | (1u << 29), 1};
    resume = answer->size() == sizeof(ExceptionReply) && r->head.id == kExceptionRaiseId + 100 &&
             !(r->head.bits & MACH_MSGH_BITS_COMPLEX) && r->ret_type.word == want.word &&
             r->ret_type.number == want.number && r->ret == KERN_SUCCESS;
    IpcGuard g;
    kmsg_destroy(answer);
    break;
  }
  {
    IpcGuard g;
    port_destroy(reply);
    port_release(reply);
  }
  return resume;
}

bool exception_raise(int exception, int code, int64_t subcode) {
  // As GNU Mach: the thread's exception port first; if it has none or its handler fails,
  // the task's.
  return raise_to(true, exception, code, subcode) || raise_to(false, exception, code, subcode);
}
