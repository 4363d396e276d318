// Processor sets (seed 004, 8.2; mach_host.defs). Mica has one, the default set, holding every
// processor, task and thread, as GNU Mach built without MACH_HOST (Debian's): the set's
// calls answer about the whole machine, and creating or destroying a set fails with
// KERN_FAILURE, as there. The set has two ports the kernel holds: its name port (anyone may
// ask about the set) and its control port (listing its tasks and threads), which
// host_processor_set_priv hands to the holder of the host-privileged port.
#include "kern/processor_set.h"

#include <mach/policy.h>
#include <mach/processor_info.h>

#include "ipc/ipc_kmsg.h"
#include "ipc/ipc_right.h"
#include "kern/host.h"
#include "kern/log.h"
#include "kern/sched_pri.h"
#include "kern/task.h"
#include "lib/string.h"
#include "machine/cpu.h"

struct Host;
struct ProcessorSet {};

namespace {

ProcessorSet default_pset;
Port* pset_control_port;
Port* pset_name_port;

// A new send right to `p` (a port the kernel holds), as MIG's outtran gives it.
Port* make_send(Port* p) {
  IpcGuard g;
  port_reference(p);
  port_make_send(p);
  return p;
}

// Send rights to the ports of the tasks (or threads) alive, in an out-of-line array for the
// reply (as task_threads, kern/thread_act.cc). Counted first, then filled under the IPC lock
// with at most that many: one that appears meanwhile is left out.
struct Collect {
  OolPorts* a;
  uint32_t n;
};

template <class T>
void count_one(T* x, void* ctx) {
  if (x->self_port) ++*static_cast<uint32_t*>(ctx);
}

template <class T>
void add_one(T* x, void* ctx) {
  auto* c = static_cast<Collect*>(ctx);
  if (!x->self_port || c->n == c->a->count) return;
  port_reference(x->self_port);
  port_make_send(x->self_port);
  c->a->ports[c->n++] = x->self_port;
}

template <class T>
kern_return_t list_ports(void (*for_each)(void (*)(T*, void*), void*), uint64_t* list,
                         mach_msg_type_number_t* count) {
  uint32_t n = 0;
  {
    IpcGuard g;
    for_each(count_one<T>, &n);
  }
  OolPorts* a = ool_ports_alloc(n);
  if (!a) return KERN_RESOURCE_SHORTAGE;
  Collect c{a, 0};
  {
    IpcGuard g;
    for_each(add_one<T>, &c);
  }
  a->count = c.n;
  *list = reinterpret_cast<uint64_t>(a);
  *count = c.n;
  return KERN_SUCCESS;
}

// Tasks and threads the set's calls see: those with a port (not yet torn down).
uint32_t count_with_ports(bool threads) {
  uint32_t n = 0;
  IpcGuard g;
  if (threads)
    thread_for_each(count_one<Thread>, &n);
  else
    task_for_each(count_one<Task>, &n);
  return n;
}

}  // namespace

void pset_init() {
  IpcGuard g;
  pset_control_port = port_alloc();
  pset_name_port = port_alloc();
  if (!pset_control_port || !pset_name_port) panic("pset_init: no memory");
  pset_control_port->kotype = KObjectType::kProcessorSet;
  pset_name_port->kotype = KObjectType::kProcessorSetName;
  pset_control_port->kobject = pset_name_port->kobject = &default_pset;
}

extern "C" {

// The control port only.
ProcessorSet* convert_port_to_pset(Port* p) {
  return port_valid(p) && p->kotype == KObjectType::kProcessorSet ? &default_pset : nullptr;
}

// The name port, or the control port (which names the set too, as on GNU Mach).
ProcessorSet* convert_port_to_pset_name(Port* p) {
  if (!port_valid(p)) return nullptr;
  if (p->kotype != KObjectType::kProcessorSet && p->kotype != KObjectType::kProcessorSetName)
    return nullptr;
  return &default_pset;
}

void pset_deallocate(ProcessorSet*) {}

Port* convert_pset_to_port(ProcessorSet* s) { return s ? make_send(pset_control_port) : nullptr; }

Port* convert_pset_name_to_port(ProcessorSet* s) { return s ? make_send(pset_name_port) : nullptr; }

kern_return_t processor_set_default(Host* host, ProcessorSet** set) {
  if (!host) return KERN_INVALID_ARGUMENT;
  *set = &default_pset;
  return KERN_SUCCESS;
}

kern_return_t host_processor_sets(Host* host, uint64_t* list, mach_msg_type_number_t* count) {
  if (!host) return KERN_INVALID_ARGUMENT;
  OolPorts* a = ool_ports_alloc(1);
  if (!a) return KERN_RESOURCE_SHORTAGE;
  a->ports[0] = make_send(pset_name_port);
  *list = reinterpret_cast<uint64_t>(a);
  *count = 1;
  return KERN_SUCCESS;
}

kern_return_t host_processor_set_priv(Host* host_priv, ProcessorSet* name, ProcessorSet** set) {
  *set = nullptr;
  if (!host_priv || !name) return KERN_INVALID_ARGUMENT;
  *set = name;
  return KERN_SUCCESS;
}

// Mica has one set (GNU Mach without MACH_HOST: KERN_FAILURE).
kern_return_t processor_set_create(Host*, ProcessorSet**, ProcessorSet**) { return KERN_FAILURE; }
kern_return_t processor_set_destroy(ProcessorSet*) { return KERN_FAILURE; }

kern_return_t processor_set_info(ProcessorSet* set, int flavor, Host** host, integer_t* info,
                                 mach_msg_type_number_t* count) {
  *host = nullptr;
  if (!set) return KERN_INVALID_ARGUMENT;
  if (flavor == PROCESSOR_SET_BASIC_INFO) {
    if (*count < PROCESSOR_SET_BASIC_INFO_COUNT) return KERN_FAILURE;
    processor_set_basic_info_data_t b{};
    b.processor_count = static_cast<integer_t>(arch_cpu_count());
    b.task_count = static_cast<integer_t>(count_with_ports(false));
    b.thread_count = static_cast<integer_t>(count_with_ports(true));
    b.load_average = 0;  // not computed (GNU Mach: a scaled run-queue average)
    b.mach_factor = 0;
    memcpy(info, &b, sizeof b);
    *count = PROCESSOR_SET_BASIC_INFO_COUNT;
  } else if (flavor == PROCESSOR_SET_SCHED_INFO) {
    if (*count < PROCESSOR_SET_SCHED_INFO_COUNT) return KERN_FAILURE;
    processor_set_sched_info_data_t s{};
    s.policies = POLICY_TIMESHARE;
    s.max_priority = kBasePriSystem;
    memcpy(info, &s, sizeof s);
    *count = PROCESSOR_SET_SCHED_INFO_COUNT;
  } else {
    return KERN_INVALID_ARGUMENT;
  }
  *host = host_object();
  return KERN_SUCCESS;
}

kern_return_t processor_set_tasks(ProcessorSet* set, uint64_t* list,
                                  mach_msg_type_number_t* count) {
  if (!set) return KERN_INVALID_ARGUMENT;
  return list_ports<Task>(task_for_each, list, count);
}

kern_return_t processor_set_threads(ProcessorSet* set, uint64_t* list,
                                    mach_msg_type_number_t* count) {
  if (!set) return KERN_INVALID_ARGUMENT;
  return list_ports<Thread>(thread_for_each, list, count);
}

}  // extern "C"
