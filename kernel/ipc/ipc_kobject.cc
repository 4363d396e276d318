#include "ipc/ipc_kobject.h"

#include <mach/mig_errors.h>

#include "device/ds_routines.h"
#include "ipc/ipc_right.h"

extern "C" {
using MigRoutine = void (*)(mach_msg_header_t*, mach_msg_header_t*);
MigRoutine mica_mig_routine(const mach_msg_header_t* request);
}

namespace {
// The largest reply of the interfaces served (thread_get_state's, with 1024 words of state).
constexpr uint32_t kReplyMax = 8192;
}  // namespace

KMsg* ipc_kobject_server(KMsg* request) {
  KMsgHeader* in = request->header();
  KMsg* reply = kmsg_alloc(kReplyMax);
  if (!reply) {
    IpcGuard g;
    kmsg_destroy(request);
    return nullptr;
  }
  KMsgHeader* out = reply->header();
  // The reply header as MIG's servers expect to find it (GNU Mach's ipc_kobject_server does
  // the same): to the request's reply right, id + 100, a bare return code.
  *out = KMsgHeader{MACH_MSGH_BITS(MACH_MSGH_BITS_LOCAL(in->bits), 0),
                    static_cast<uint32_t>(sizeof(mig_reply_header_t)), in->local, 0, 0,
                    in->id + 100};
  auto* rh = reinterpret_cast<mig_reply_header_t*>(out);
  KMsgType ret_type{MACH_MSG_TYPE_INTEGER_32 | (32u << 8) | (1u << 29), 1};
  static_assert(sizeof ret_type == sizeof rh->RetCodeType);
  __builtin_memcpy(&rh->RetCodeType, &ret_type, sizeof ret_type);
  rh->RetCode = MIG_BAD_ID;
  if (MigRoutine r = mica_mig_routine(reinterpret_cast<mach_msg_header_t*>(in)))
    r(reinterpret_cast<mach_msg_header_t*>(in), reinterpret_cast<mach_msg_header_t*>(out));
  kern_return_t kr = rh->RetCode;

  IpcGuard g;
  // The destination right is used up by the call; the reply right moved to the reply.
  right_release_transit(reinterpret_cast<Port*>(in->remote), MACH_MSGH_BITS_REMOTE(in->bits));
  in->remote = in->local = 0;
  in->bits &= ~MACH_MSGH_BITS_PORTS_MASK;
  // On success the routine took the body's rights; otherwise they are still there.
  if (kr == KERN_SUCCESS || kr == MIG_NO_REPLY)
    kmsg_free(request);
  else
    kmsg_destroy(request);
  if (kr == MIG_NO_REPLY || !port_valid(reinterpret_cast<Port*>(out->remote))) {
    kmsg_destroy(reply);
    return nullptr;
  }
  return reply;
}

void ipc_kobject_no_senders(Port* port) {
  if (port->kotype == KObjectType::kDeviceObject) device_no_senders(port);
}

// Conversions for objects Mica does not serve as ports yet: processors (host_processors,
// processor_info...). A null object makes the MIG server answer with the routine's error, or
// MIG's default MIG_EOPNOTSUPP. Processor sets: kern/processor_set.cc.
extern "C" {
void* convert_port_to_processor(Port*) { return nullptr; }
// A receive right inside a message to its own port is refused at copyin already
// (kmsg_copyin_body); longer cycles through ports in transit are not detected yet.
int ipc_port_check_circularity(Port*, Port*) { return 0; }
}
