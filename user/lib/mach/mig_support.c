/* The MIG runtime of a Mach program (<mach/mig_support.h>): per-thread reply ports,
   mach_msg over the trap, the server loops, mach_msg_destroy, and the task's cached names
   (<mach_init.h>). It calls the kernel only through the Mach ABI (traps and MIG stubs), so it
   behaves the same on GNU Mach and on Mica. */
#include <mach.h>
#include <mach/mig_support.h>
#include <mach/notify.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* --- The task's names, fixed at start-up. --- */

mach_port_t mach_task_self_;
vm_size_t vm_page_size = 4096;

__attribute__((constructor)) void mach_init(void) {
  // (mach_task_self) is the trap: the parentheses keep <mach_init.h>'s macro out.
  mach_task_self_ = (mach_task_self)();
}

/* --- Reply ports, one per thread. ---
   Without thread-local storage the thread is known by its name, from mach_thread_self.
   That trap adds a user reference to the thread's send right each time; GNU Mach caps the
   count at MACH_PORT_UREFS_MAX instead of failing, so the table leaves them be rather than
   paying a second kernel call per RPC to drop them. A thread that ends leaves a dead name
   behind, which no new thread can have, so its entry is never matched again; when the
   table is full, entries are reused in turn (their receive rights are destroyed). */

enum { kReplyPorts = 64 };
static struct {
  mach_port_t thread;
  mach_port_t reply;
} reply_ports[kReplyPorts];
static int reply_lock;
static unsigned reply_evict;

static void reply_ports_lock(void) {
  while (__atomic_exchange_n(&reply_lock, 1, __ATOMIC_ACQUIRE))
    swtch();
}

static void reply_ports_unlock(void) { __atomic_store_n(&reply_lock, 0, __ATOMIC_RELEASE); }

/* Destroys a receive right of ours (the MIG stub makes its own reply port for the call). */
static void destroy_receive_right(mach_port_t port) {
  if (MACH_PORT_VALID(port))
    mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

mach_port_t mig_get_reply_port(void) {
  mach_port_t self = mach_thread_self();
  mach_port_t evicted = MACH_PORT_NULL;
  reply_ports_lock();
  for (int i = 0; i < kReplyPorts; i++) {
    if (reply_ports[i].thread == self && MACH_PORT_VALID(reply_ports[i].reply)) {
      mach_port_t reply = reply_ports[i].reply;
      reply_ports_unlock();
      return reply;
    }
  }
  reply_ports_unlock();

  mach_port_t reply = mach_reply_port();
  if (!MACH_PORT_VALID(reply))
    return reply;  // nothing to keep; the RPC fails and says why
  reply_ports_lock();
  int slot = -1;
  for (int i = 0; i < kReplyPorts && slot < 0; i++)
    if (reply_ports[i].thread == MACH_PORT_NULL)
      slot = i;
  if (slot < 0) {
    slot = (int)(reply_evict++ % kReplyPorts);
    evicted = reply_ports[slot].reply;
  }
  reply_ports[slot].thread = self;
  reply_ports[slot].reply = reply;
  reply_ports_unlock();
  destroy_receive_right(evicted);
  return reply;
}

void mig_dealloc_reply_port(mach_port_t reply_port) {
  reply_ports_lock();
  for (int i = 0; i < kReplyPorts; i++) {
    if (reply_ports[i].reply == reply_port && reply_ports[i].thread != MACH_PORT_NULL) {
      reply_ports[i].thread = MACH_PORT_NULL;
      reply_ports[i].reply = MACH_PORT_NULL;
    }
  }
  reply_ports_unlock();
  destroy_receive_right(reply_port);
}

void mig_put_reply_port(mach_port_t reply_port) { (void)reply_port; }

/* --- Memory and strings for stubs. --- */

void mig_allocate(vm_address_t *addr, vm_size_t size) {
  *addr = 0;
  if (vm_allocate(mach_task_self(), addr, size, TRUE) != KERN_SUCCESS)
    *addr = 0;
}

void mig_deallocate(vm_address_t addr, vm_size_t size) {
  vm_deallocate(mach_task_self(), addr, size);
}

vm_size_t mig_strncpy(char *dst, const char *src, vm_size_t len) {
  vm_size_t i = 0;
  for (; i < len && src[i]; i++)
    dst[i] = src[i];
  vm_size_t n = i;
  for (; i < len; i++)
    dst[i] = '\0';
  return n;
}

void mig_reply_setup(const mach_msg_header_t *request, mach_msg_header_t *reply) {
  static const mach_msg_type_t ret_code_type = {
      .msgt_name = MACH_MSG_TYPE_INTEGER_32,
      .msgt_size = 32,
      .msgt_number = 1,
      .msgt_inline = TRUE,
  };
  mig_reply_header_t *r = (mig_reply_header_t *)reply;
  r->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(request->msgh_bits), 0);
  r->Head.msgh_size = sizeof *r;
  // On receipt the kernel has swapped the ports: the remote port is the reply right.
  r->Head.msgh_remote_port = request->msgh_remote_port;
  r->Head.msgh_local_port = MACH_PORT_NULL;
  r->Head.msgh_seqno = 0;
  r->Head.msgh_id = request->msgh_id + 100;
  r->RetCodeType = ret_code_type;
  r->RetCode = MIG_BAD_ID;
}

/* --- mach_msg --- */

mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                           mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                           mach_port_t rcv_name, mach_msg_timeout_t timeout,
                           mach_port_t notify) {
  mach_msg_return_t mr = mach_msg_trap(msg, option, send_size, rcv_size, rcv_name, timeout, notify);
  // An interrupted send did not happen: send again. An interrupted receive (the send, if
  // any, is done) is resumed as a receive alone.
  while (mr == MACH_SEND_INTERRUPTED && !(option & MACH_SEND_INTERRUPT))
    mr = mach_msg_trap(msg, option, send_size, rcv_size, rcv_name, timeout, notify);
  while (mr == MACH_RCV_INTERRUPTED && !(option & MACH_RCV_INTERRUPT))
    mr = mach_msg_trap(msg, option & ~MACH_SEND_MSG, 0, rcv_size, rcv_name, timeout, notify);
  return mr;
}

/* --- mach_msg_destroy --- */

static void destroy_right(mach_port_t name, mach_msg_type_name_t type) {
  if (!MACH_PORT_VALID(name))
    return;
  switch (type) {
    case MACH_MSG_TYPE_PORT_SEND:
    case MACH_MSG_TYPE_PORT_SEND_ONCE:
      mach_port_deallocate(mach_task_self(), name);
      break;
    case MACH_MSG_TYPE_PORT_RECEIVE:
      mach_port_mod_refs(mach_task_self(), name, MACH_PORT_RIGHT_RECEIVE, -1);
      break;
    default:
      break;
  }
}

void mach_msg_destroy(mach_msg_header_t *msg) {
  mach_msg_bits_t bits = msg->msgh_bits;
  // On receipt the remote port is the reply right. The local port only names the
  // destination: receiving consumed the right the message was sent with.
  destroy_right(msg->msgh_remote_port, MACH_MSGH_BITS_REMOTE(bits));
  if (!(bits & MACH_MSGH_BITS_COMPLEX))
    return;

  char *p = (char *)(msg + 1);
  char *end = (char *)msg + msg->msgh_size;
  while (p + sizeof(mach_msg_type_t) <= end) {
    const mach_msg_type_t *t = (const mach_msg_type_t *)p;
    mach_msg_type_name_t name = t->msgt_name;
    uint64_t size_bits = t->msgt_size;
    uint64_t number = t->msgt_number;
    bool is_inline = t->msgt_inline;
    p += sizeof(mach_msg_type_t);
    uint64_t bytes = (size_bits * number + 7) / 8;
    char *data = p;
    if (is_inline) {
      p += (bytes + MACH_MSG_USER_ALIGNMENT - 1) & ~(uint64_t)(MACH_MSG_USER_ALIGNMENT - 1);
    } else {
      data = *(char **)p;
      p += sizeof(vm_offset_t);
    }
    if (p > end)
      break;
    if (MACH_MSG_TYPE_PORT_ANY_RIGHT(name) && data != NULL) {
      // A port is a mach_port_name_inlined_t (8 bytes) in the x86-64 ABI.
      const mach_port_name_inlined_t *ports = (const mach_port_name_inlined_t *)data;
      for (uint64_t i = 0; i < number; i++)
        destroy_right(ports[i].name, name);
    }
    if (!is_inline && data != NULL && bytes != 0)
      vm_deallocate(mach_task_self(), (vm_address_t)data, bytes);
  }
}

/* --- Server loops --- */

mach_msg_return_t mach_msg_server_timeout(mach_msg_demux_t demux, mach_msg_size_t max_size,
                                          mach_port_t rcv_name, mach_msg_option_t option,
                                          mach_msg_timeout_t timeout) {
  if (max_size == 0)
    max_size = 2 * (mach_msg_size_t)vm_page_size;
  // Two buffers on the stack (as glibc's loop has them) that swap roles: the reply just made
  // is sent from one and the next request arrives in the same one, in a single mach_msg.
  max_size = (max_size + 7) & ~7u;
  mig_reply_header_t *request = __builtin_alloca(max_size);
  mig_reply_header_t *reply = __builtin_alloca(max_size);

  mach_msg_return_t mr;
  bool have_reply = false;
  for (;;) {
    if (have_reply)
      mr = mach_msg(&request->Head, MACH_SEND_MSG | MACH_RCV_MSG | option,
                    request->Head.msgh_size, max_size, rcv_name, timeout, MACH_PORT_NULL);
    else
      mr = mach_msg(&request->Head, MACH_RCV_MSG | option, 0, max_size, rcv_name, timeout,
                    MACH_PORT_NULL);
    have_reply = false;
    if (mr == MACH_SEND_INVALID_DEST) {
      // The client went away before its answer: drop the answer, serve on.
      mach_msg_destroy(&request->Head);
      continue;
    }
    if (mr == MACH_RCV_TOO_LARGE && !(option & MACH_RCV_LARGE))
      continue;  // the kernel dropped the oversized request
    if (mr != MACH_MSG_SUCCESS)
      break;

    (void)(*demux)(&request->Head, &reply->Head);
    if (reply->RetCode == MIG_NO_REPLY)
      continue;  // the routine kept the request, to answer later or never
    if (reply->RetCode != KERN_SUCCESS) {
      // Refused: release what the request holds, but keep the reply right for the error.
      request->Head.msgh_remote_port = MACH_PORT_NULL;
      mach_msg_destroy(&request->Head);
    }
    if (reply->Head.msgh_remote_port == MACH_PORT_NULL) {
      if (reply->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX)
        mach_msg_destroy(&reply->Head);
      continue;  // no one to answer
    }
    mig_reply_header_t *made = reply;
    reply = request;
    request = made;
    have_reply = true;
  }
  return mr;
}

mach_msg_return_t mach_msg_server(mach_msg_demux_t demux, mach_msg_size_t max_size,
                                  mach_port_t rcv_name) {
  return mach_msg_server_timeout(demux, max_size, rcv_name, MACH_MSG_OPTION_NONE,
                                 MACH_MSG_TIMEOUT_NONE);
}

mach_msg_return_t mach_msg_server_once(mach_msg_demux_t demux, mach_msg_size_t max_size,
                                       mach_port_t rcv_name, mach_msg_option_t option,
                                       mach_msg_timeout_t timeout) {
  if (max_size == 0)
    max_size = 2 * (mach_msg_size_t)vm_page_size;
  max_size = (max_size + 7) & ~7u;
  mig_reply_header_t *request = __builtin_alloca(max_size);
  mig_reply_header_t *reply = __builtin_alloca(max_size);

  mach_msg_return_t mr = mach_msg(&request->Head, MACH_RCV_MSG | option, 0, max_size, rcv_name,
                                  timeout, MACH_PORT_NULL);
  if (mr == MACH_MSG_SUCCESS) {
    (void)(*demux)(&request->Head, &reply->Head);
    if (reply->RetCode != MIG_NO_REPLY) {
      if (reply->RetCode != KERN_SUCCESS) {
        request->Head.msgh_remote_port = MACH_PORT_NULL;
        mach_msg_destroy(&request->Head);
      }
      if (reply->Head.msgh_remote_port == MACH_PORT_NULL) {
        if (reply->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX)
          mach_msg_destroy(&reply->Head);
      } else {
        // A reply right is a send-once right or a send right to a client's port: neither
        // should block a server, so the send does not wait.
        mr = mach_msg(&reply->Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, reply->Head.msgh_size,
                      0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
        if (mr != MACH_MSG_SUCCESS)
          mach_msg_destroy(&reply->Head);
      }
    }
  }
  return mr;
}
