// Messages the kernel sends as a client (GNU MIG's KernelUser stubs call
// mach_msg_send_from_kernel): to pagers, for now. The stub builds the message with Port
// pointers where names would be and the dispositions of the .defs; this turns each into the
// right it carries in transit, as copyin does for a user's names, then queues the message.
#include <mach/message.h>

#include "ipc/ipc_kmsg.h"
#include "ipc/ipc_mqueue.h"
#include "ipc/ipc_port.h"
#include "ipc/ipc_right.h"
#include "lib/string.h"

namespace {

// The kernel's right to `p` as `disposition` becomes a right in transit; returns its transit
// type. Make and copy take new rights; moves hand over the kernel's own (its reference with
// it). A moved receive right leaves the kernel: the port stops being a kernel object.
mach_msg_type_name_t kernel_right_copyin(Port* p, mach_msg_type_name_t disposition) {
  switch (disposition) {
    case MACH_MSG_TYPE_MAKE_SEND:
      port_make_send(p);
      port_reference(p);
      return MACH_MSG_TYPE_PORT_SEND;
    case MACH_MSG_TYPE_COPY_SEND:
      port_copy_send(p);
      port_reference(p);
      return MACH_MSG_TYPE_PORT_SEND;
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
      port_make_send_once(p);
      port_reference(p);
      return MACH_MSG_TYPE_PORT_SEND_ONCE;
    case MACH_MSG_TYPE_MOVE_RECEIVE:
      p->kotype = KObjectType::kNone;
      p->kobject = nullptr;
      p->receiver = nullptr;
      return MACH_MSG_TYPE_PORT_RECEIVE;
    default:  // MOVE_SEND, MOVE_SEND_ONCE (the PORT_* names are the same numbers)
      return disposition;
  }
}

}  // namespace

extern "C" mach_msg_return_t mach_msg_send_from_kernel(mach_msg_header_t* msg,
                                                       mach_msg_size_t size) {
  KMsg* k = kmsg_alloc(size);
  IpcGuard g;
  auto* h = reinterpret_cast<KMsgHeader*>(msg);
  auto* remote = reinterpret_cast<Port*>(h->remote);
  auto* local = reinterpret_cast<Port*>(h->local);
  uint32_t rbits = MACH_MSGH_BITS_REMOTE(h->bits), lbits = MACH_MSGH_BITS_LOCAL(h->bits);
  if (port_valid(remote)) rbits = kernel_right_copyin(remote, rbits);
  if (port_valid(local)) lbits = kernel_right_copyin(local, lbits);
  h->bits = (h->bits & ~MACH_MSGH_BITS_PORTS_MASK) | MACH_MSGH_BITS(rbits, lbits);
  if (h->bits & MACH_MSGH_BITS_COMPLEX) {
    auto* body = reinterpret_cast<uint8_t*>(h + 1);
    kmsg_for_each_item(body, reinterpret_cast<uint8_t*>(msg) + size,
                       [](KMsgType& t, uint8_t* data) {
                         if (!MACH_MSG_TYPE_PORT_ANY(t.name()) || !t.is_inline()) return true;
                         auto** ports = reinterpret_cast<Port**>(data);
                         mach_msg_type_name_t transit = t.name();
                         for (uint32_t i = 0; i < t.number; ++i)
                           if (port_valid(ports[i]))
                             transit = kernel_right_copyin(ports[i], t.name());
                         t.set_name(transit);
                         // KernelUser stubs mark moved receive rights "dealloc" (for Mach
                         // 2.5); the receiver's MIG checks the whole type word without it.
                         t.word &= ~(1u << 31);
                         return true;
                       });
  }
  if (!k) {
    // No memory: the message is lost, as a notification would be, and its rights with it.
    KMsg in_place;
    in_place.big = reinterpret_cast<uint8_t*>(msg);
    kmsg_release_rights(&in_place);
    return MACH_SEND_NO_BUFFER;
  }
  memcpy(k->data(), msg, size);
  ipc_deliver(k);
  return MACH_MSG_SUCCESS;
}
