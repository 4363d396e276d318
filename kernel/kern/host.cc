// The host ports and the host calls of mach_host.defs that Mica serves so far.
#include "kern/host.h"

#include <mach/host_info.h>
#include <mach/machine.h>
#include <mach/mach_types.h>
#include <mach/time_value.h>

#include "ipc/ipc_right.h"
#include "kern/task.h"
#include "mica/host_info.h"
#include "vm/vm_resident.h"
#include "kern/log.h"
#include "lib/string.h"
#include "machine/cpu.h"
#include "vm/vm_page.h"

struct Host {};

namespace {
Host the_host;
Port* host_name_port;
Port* host_priv_port;
Port* device_port;
}  // namespace

void host_init() {
  IpcGuard g;
  host_name_port = port_alloc();
  host_priv_port = port_alloc();
  device_port = port_alloc();
  if (!host_name_port || !host_priv_port || !device_port) panic("host_init: no memory");
  host_name_port->kotype = KObjectType::kHost;
  host_priv_port->kotype = KObjectType::kHostPriv;
  device_port->kotype = KObjectType::kDevice;
  host_name_port->kobject = host_priv_port->kobject = device_port->kobject = &the_host;
}

Host* host_object() { return &the_host; }

Port* host_port(bool privileged) { return privileged ? host_priv_port : host_name_port; }
Port* device_master_port() { return device_port; }

extern "C" {

Host* convert_port_to_host(Port* p) {
  if (!port_valid(p) || (p->kotype != KObjectType::kHost && p->kotype != KObjectType::kHostPriv))
    return nullptr;
  return &the_host;
}

Host* convert_port_to_host_priv(Port* p) {
  if (!port_valid(p) || p->kotype != KObjectType::kHostPriv) return nullptr;
  return &the_host;
}

void host_deallocate(Host*) {}

// outtran of host_t: a send right to the host name port.
Port* convert_host_to_port(Host* host) {
  if (!host) return nullptr;
  IpcGuard g;
  port_reference(host_name_port);
  port_make_send(host_name_port);
  return host_name_port;
}

kern_return_t host_info(Host* host, int flavor, integer_t* info, mach_msg_type_number_t* count) {
  if (!host) return KERN_INVALID_HOST;
  switch (flavor) {
    case HOST_BASIC_INFO: {
      if (*count < HOST_BASIC_INFO_COUNT) return KERN_FAILURE;
      host_basic_info_data_t b{};
      b.max_cpus = kMaxCpus;
      b.avail_cpus = static_cast<integer_t>(arch_cpu_count());
      b.memory_size = vm_page_stats().total_pages * kPageSize;
      b.cpu_type = CPU_TYPE_X86_64;
      b.cpu_subtype = 0;  // no x86-64 subtypes in <mach/machine.h>
      memcpy(info, &b, sizeof b);
      *count = HOST_BASIC_INFO_COUNT;
      return KERN_SUCCESS;
    }
    case HOST_SCHED_INFO: {
      if (*count < HOST_SCHED_INFO_COUNT) return KERN_FAILURE;
      host_sched_info_data_t s{10, 50};
      memcpy(info, &s, sizeof s);
      *count = HOST_SCHED_INFO_COUNT;
      return KERN_SUCCESS;
    }
    case MICA_HOST_KERNEL_COUNTERS: {
      if (*count < MICA_HOST_KERNEL_COUNTERS_COUNT) return KERN_FAILURE;
      mica_kernel_counters c{};
      {
        IpcGuard g;
        c.ports = static_cast<integer_t>(port_count());
        c.port_sets = static_cast<integer_t>(pset_count());
        c.kmsgs = static_cast<integer_t>(kmsg_count());
      }
      c.tasks = static_cast<integer_t>(task_count());
      c.threads = static_cast<integer_t>(thread_count());
      VmCounters v = vm_counters();
      c.vm_objects = static_cast<integer_t>(v.objects_alive);
      c.vm_map_entries = static_cast<integer_t>(v.map_entries_alive);
      c.vm_maps = static_cast<integer_t>(v.maps_alive);
      c.vm_copies = static_cast<integer_t>(v.copies_alive);
      c.free_pages = static_cast<integer_t>(vm_page_stats().free_pages);
      memcpy(info, &c, sizeof c);
      *count = MICA_HOST_KERNEL_COUNTERS_COUNT;
      return KERN_SUCCESS;
    }
    default:
      return KERN_INVALID_ARGUMENT;
  }
}

kern_return_t host_get_time(Host* host, time_value_t* t) {
  if (!host) return KERN_INVALID_HOST;
  uint64_t ns = arch_time_ns();
  t->seconds = static_cast<integer_t>(ns / 1'000'000'000);
  t->microseconds = static_cast<integer_t>((ns / 1000) % 1'000'000);
  return KERN_SUCCESS;
}

kern_return_t host_reboot(Host* host, int options) {
  if (!host) return KERN_INVALID_HOST;
  klog("host_reboot(0x%x): the machine stops", options);
  arch_shutdown(0);
}

}  // extern "C"
