/* Mica's own host_info flavour: counts of kernel objects, so that tests can check that a
   sequence of calls leaves nothing behind. Programs written for GNU Mach never ask for it
   (GNU Mach answers KERN_INVALID_ARGUMENT). */
#ifndef MICA_HOST_INFO_H
#define MICA_HOST_INFO_H

#include <mach/machine/vm_types.h>

#define MICA_HOST_KERNEL_COUNTERS 100

struct mica_kernel_counters {
  integer_t ports;           /* ports alive */
  integer_t port_sets;       /* port sets alive */
  integer_t kmsgs;           /* messages held by the kernel (queued or in transit) */
  integer_t tasks;           /* tasks alive */
  integer_t threads;         /* threads alive */
  integer_t vm_objects;      /* memory objects alive */
  integer_t vm_map_entries;  /* address map entries alive */
  integer_t vm_maps;         /* address maps alive */
  integer_t vm_copies;       /* map copies alive (out-of-line data in transit) */
  integer_t free_pages;      /* pages on the free lists */
};

#define MICA_HOST_KERNEL_COUNTERS_COUNT \
  (sizeof(struct mica_kernel_counters) / sizeof(integer_t))

#endif
