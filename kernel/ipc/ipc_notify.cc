// Notifications (notify.defs): messages the kernel itself sends on a send-once right that a
// task registered. A notification that cannot be allocated is dropped, releasing the right:
// the kernel never blocks or fails on a notification.
#include <mach/notify.h>

#include "ipc/ipc_mqueue.h"
#include "ipc/ipc_port.h"
#include "lib/string.h"

namespace {

constexpr uint32_t kTypePortName = MACH_MSG_TYPE_PORT_NAME | (32u << 8) | (1u << 29);
constexpr uint32_t kTypeInt32 = MACH_MSG_TYPE_INTEGER_32 | (32u << 8) | (1u << 29);
constexpr uint32_t kTypePortReceive = MACH_MSG_TYPE_PORT_RECEIVE | (64u << 8) | (1u << 29);

struct NotifyBody {
  KMsgType type;
  uint64_t value;  // a name or count in the low 32 bits, or a Port* for a receive right
};

// Sends a notification with `id` and an optional one-item body to `notify`.
void send_notification(Port* notify, mach_msg_id_t id, const KMsgType* type, uint64_t value,
                       bool complex) {
  uint32_t size = sizeof(KMsgHeader) + (type ? sizeof(NotifyBody) : 0);
  KMsg* k = kmsg_alloc(size);
  if (!k) {
    if (complex) port_release_receive(reinterpret_cast<Port*>(value));
    port_release_send_once(notify);
    return;
  }
  KMsgHeader* h = k->header();
  *h = KMsgHeader{MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, 0) |
                      (complex ? MACH_MSGH_BITS_COMPLEX : 0),
                  size, reinterpret_cast<uint64_t>(notify), 0, 0, id};
  if (type) {
    auto* b = reinterpret_cast<NotifyBody*>(h + 1);
    b->type = *type;
    b->value = value;
  }
  ipc_deliver(k);
}

}  // namespace

void notify_dead_name(Port* notify, mach_port_name_t name) {
  KMsgType t{kTypePortName, 1};
  send_notification(notify, MACH_NOTIFY_DEAD_NAME, &t, name, false);
}

void notify_port_deleted(Port* notify, mach_port_name_t name) {
  KMsgType t{kTypePortName, 1};
  send_notification(notify, MACH_NOTIFY_PORT_DELETED, &t, name, false);
}

void notify_no_senders(Port* notify, uint32_t mscount) {
  KMsgType t{kTypeInt32, 1};
  send_notification(notify, MACH_NOTIFY_NO_SENDERS, &t, mscount, false);
}

void notify_send_once(Port* notify) {
  send_notification(notify, MACH_NOTIFY_SEND_ONCE, nullptr, 0, false);
}

void notify_port_destroyed(Port* notify, Port* port) {
  KMsgType t{kTypePortReceive, 1};
  send_notification(notify, MACH_NOTIFY_PORT_DESTROYED, &t, reinterpret_cast<uint64_t>(port),
                    true);
}
